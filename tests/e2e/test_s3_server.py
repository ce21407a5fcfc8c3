"""Our store code against a real S3 server (versitygw, POSIX backend), in both addressing styles.

Why: the unit and integration tiers run against moto, which tolerates what real servers do
not. Each test here pins one behaviour the operator, the trainers and ``loocv report`` rely
on, as a real server shows it: missing keys, listing pages and order, a missing bucket and
bad credentials in words, a whole run through the engine, an outage ridden out. No cluster:
only the server (built once into the e2e cache, ~2 min).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cluster.s3server import S3Server
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from loocv_operator.datasets import load_dataset
from loocv_operator.errors import InvalidInput, StoreError
from loocv_operator.estimators import DEFAULT_ALLOWLIST, build_estimator
from loocv_operator.ledger import load_results
from loocv_operator.s3client import s3_client
from loocv_operator.spec import parse_run
from loocv_operator.store import RunLocation, S3Store, open_store

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LOOCV = Path(sys.executable).parent / "loocv"
DOMAIN = "s3.loocv.test"  # virtual-host style: <bucket>.s3.loocv.test, resolved below only


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    s3 = S3Server(tmp_path_factory.mktemp("s3"), virtual_domain=DOMAIN).start()
    yield s3
    s3.stop()


@pytest.fixture(autouse=True)
def credentials(server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**server.credentials, "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def resolve_domain(monkeypatch: pytest.MonkeyPatch) -> None:
    """``*.s3.loocv.test`` → 127.0.0.1 in this process (no DNS here, and none is needed)."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def bucket_for(server: S3Server, request: pytest.FixtureRequest) -> str:
    name = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40]
    return server.create_bucket(f"{name.strip('-')}-{uuid.uuid4().hex[:8]}")


def styled_store(
    server: S3Server, bucket: str, style: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[S3Store, list[str]]:
    """Our own client (``s3_client``), the style from LOOCV_S3_ADDRESSING_STYLE, and the
    URLs it sent (so the test sees which style went over the wire)."""
    monkeypatch.setenv("LOOCV_S3_ADDRESSING_STYLE", style)
    host = DOMAIN if style == "virtual" else "127.0.0.1"
    client = s3_client(f"http://{host}:{server.port}")
    urls: list[str] = []
    client.meta.events.register("before-send.s3", lambda request, **_: urls.append(request.url))
    store = open_store(f"s3://{bucket}/results/")
    assert isinstance(store, S3Store)
    store.client = client
    return store, urls


@pytest.mark.parametrize("style", ["path", "virtual"])
def test_the_store_interface_in_both_addressing_styles(
    server: S3Server,
    style: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    resolve_domain: None,
) -> None:
    bucket = bucket_for(server, request)
    store, urls = styled_store(server, bucket, style, monkeypatch)
    store.page_size = 3  # listing goes through continuation tokens, as at 1,000+ segments
    store.check()
    keys = [f"ns/run/uid/segments/{b:06d}-000-{s:06d}-w.json" for b in (10, 2) for s in (1, 0)]
    keys += ["ns/run/uid/plan.json", "ns/run/uid/report.json", "ns/run/uid/segments+x/a.json"]
    for i, key in enumerate(keys):
        store.put(key, f"{i}".encode())
    assert store.get(keys[0]) == b"0"
    assert store.exists("ns/run/uid/plan.json")
    # Missing keys: GetObject says NoSuchKey, HeadObject a bare 404; both mean "absent".
    assert not store.exists("ns/run/uid/segments/missing.json")
    with pytest.raises(KeyError):
        store.get("ns/run/uid/segments/missing.json")
    # A key that is only a prefix of others is no object (the POSIX backend has a directory
    # there): absent too, not an error.
    with pytest.raises(KeyError):
        store.get("ns/run/uid/segments")
    assert not store.exists("ns/run/uid")
    listed = store.list("ns/run/uid/segments/")
    assert listed == sorted(k for k in keys if "/segments/" in k)  # 4 keys: 2 pages
    assert store.list("ns/run/nothing-here/") == []
    assert store.delete_prefix("ns/run/uid/") == len(keys)
    assert store.list("ns/") == []
    assert store.exists("ns/run/uid/plan.json") is False
    wire = (
        f"http://{bucket}.{DOMAIN}:{server.port}/"
        if style == "virtual"
        else (f"http://127.0.0.1:{server.port}/{bucket}")
    )
    assert urls and all(u.startswith(wire) for u in urls), urls[:3]


def test_a_missing_bucket_and_bad_keys_are_errors_in_words(
    server: S3Server, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """versitygw answers HeadBucket with an unknown access key by a bare 404 (moto: 403), so
    ``check()`` must not call that "no such bucket": a one-key listing names the cause."""
    with pytest.raises(InvalidInput, match="no such bucket 'never-created'"):
        open_store("s3://never-created/results/", server.endpoint).check()
    bucket = bucket_for(server, request)
    for key, secret, code in (
        ("e2e", "not-the-secret", "SignatureDoesNotMatch"),
        ("nobody", "x", "(InvalidAccessKeyId|XAdminUserNotFound)"),
    ):
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        boto3.setup_default_session()  # botocore caches the credentials it resolved
        with pytest.raises(StoreError, match=rf"access denied \({code}\)"):
            open_store(f"s3://{bucket}/", server.endpoint).check()
        with pytest.raises(StoreError, match=rf"access denied \({code}\)"):
            open_store(f"s3://{bucket}/", server.endpoint).put("x.json", b"{}")
    boto3.setup_default_session()


def test_addressing_style_setting_is_checked() -> None:
    with pytest.raises(InvalidInput, match="LOOCV_S3_ADDRESSING_STYLE"):
        s3_client("http://127.0.0.1:1", style="vhost")


def test_a_whole_run_through_the_real_server_matches_the_oracle(
    server: S3Server, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """``loocv run --local`` with its store on the real server: plan, checkpointed segments,
    the ledger reading them back, the report; predictions equal sklearn's LOO."""
    bucket = bucket_for(server, request)
    document = {
        "apiVersion": "loocv.dev/v1alpha1",
        "kind": "LOOCVRun",
        "metadata": {"name": "wine-tree"},
        "spec": {
            "dataset": {"builtin": "wine"},
            "model": {"estimator": "sklearn.tree.DecisionTreeClassifier",
                      "params": {"max_depth": 3, "random_state": 0}},
            "execution": {"foldsPerJob": 40},
            "storage": {"uri": f"s3://{bucket}/results/", "endpoint": server.endpoint},
        },
    }  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(document))
    done = subprocess.run(
        [str(LOOCV), "run", str(path), "--local", "--workers", "2"],
        capture_output=True, text=True, timeout=240, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    store = open_store(f"s3://{bucket}/results/", server.endpoint)
    stored = store.list("")
    [plan_key] = [k for k in stored if k.endswith("/plan.json")]
    namespace, name, uid = plan_key.split("/")[:3]
    results = load_results(store, RunLocation(namespace, name, uid))
    assert [r.index for r in results] == list(range(178))
    run = parse_run(document)
    data = load_dataset(run.spec.dataset, None)
    estimator = build_estimator(run.spec.model, DEFAULT_ALLOWLIST, run.spec.execution.seed)
    expected = cross_val_predict(estimator, data.X, data.y, cv=LeaveOneOut())
    assert {s.row: s.y_pred for r in results for s in r.samples} == {
        i: int(v) for i, v in enumerate(expected)
    }
    assert {"report.json", "predictions.csv", "report.html"} <= {
        k.rsplit("/", 1)[1] for k in stored
    }
    # The POSIX backend keeps each key as a file: a key may never be the "directory" of
    # another (it refuses with 409 ObjectParentIsFile / ExistingObjectIsDirectory).
    assert not [a for a in stored for b in stored if b.startswith(a + "/")]


def test_a_read_waits_out_an_outage(server: S3Server, request: pytest.FixtureRequest) -> None:
    """The server stops (connection refused) and comes back on the same port: the read
    retries until then and returns the object, which survived on disk."""
    bucket = bucket_for(server, request)
    store = open_store(f"s3://{bucket}/", server.endpoint)
    store.put("plan.json", b"{}")
    server.stop()
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(store.get("plan.json")))
    reader.start()
    time.sleep(3)
    assert got == [] and reader.is_alive()
    server.start()
    reader.join(timeout=60)
    assert got == [b"{}"]
