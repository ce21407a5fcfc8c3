from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from loocv_operator.errors import StoreError
from loocv_operator.store import (
    LocalStore,
    RunLocation,
    S3Store,
    open_store,
    retry_notices,
    retrying,
    s3_client,
)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    bucket = request.getfixturevalue("s3_bucket")
    return open_store(f"{bucket}/prefix/")


def test_same_interface_on_both_backends(store) -> None:
    loc = RunLocation("ns", "run", "uid-1")
    store.put(loc.artifact("s/2.json"), b'{"a": 2}')
    store.put(loc.artifact("s/10.json"), b'{"a": 10}')
    store.put(loc.plan, b"{}")
    assert store.get(loc.artifact("s/2.json")) == b'{"a": 2}'
    assert store.exists(loc.plan) and not store.exists(loc.artifact("s/3.json"))
    assert store.list(loc.artifact("s/")) == [
        "ns/run/uid-1/s/10.json",
        "ns/run/uid-1/s/2.json",
    ]
    with pytest.raises(KeyError):
        store.get(loc.artifact("s/3.json"))
    store.put(loc.artifact("s/2.json"), b"replaced")
    assert store.get(loc.artifact("s/2.json")) == b"replaced"
    assert store.delete_prefix(loc.prefix) == 3
    assert store.list(loc.prefix) == []


def test_s3_listing_pages(s3_bucket: str) -> None:
    store = open_store(s3_bucket)
    assert isinstance(store, S3Store)
    store.page_size = 10
    for i in range(25):
        store.put(f"many/{i}.json", b"x")
    assert len(store.list("many/")) == 25


def test_local_writes_are_atomic(tmp_path: Path) -> None:
    """Readers racing a writer see the old or the new object, never a partial one."""
    store = LocalStore(tmp_path)
    old, new = b"a" * 1_000_000, b"b" * 1_000_000
    store.put("k", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = store.get("k")
            seen.add(data[:1] + data[-1:])

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(30):
        store.put("k", new)
        store.put("k", old)
    stop.set()
    reader.join()
    assert seen <= {b"aa", b"bb"}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_local_store_rejects_escaping_keys(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="escapes"):
        LocalStore(tmp_path / "root").put("../outside", b"x")


def test_unreachable_s3_is_retried_then_reported(s3_env: str) -> None:
    from tests.conftest import free_port

    client = s3_client(f"http://127.0.0.1:{free_port()}")
    store = S3Store("s3://bucket/p", client)
    calls = []

    def attempt() -> None:
        calls.append(1)
        store.client.head_bucket(Bucket="bucket")

    with pytest.raises(StoreError, match="store unreachable"):
        retrying(attempt, "probing", deadline_seconds=1.5)
    assert len(calls) >= 2


def test_retry_recovers_when_store_returns(s3_bucket: str) -> None:
    from botocore.exceptions import EndpointConnectionError

    failures = [
        EndpointConnectionError(endpoint_url="x"),
        EndpointConnectionError(endpoint_url="x"),
    ]

    def flaky() -> str:
        if failures:
            raise failures.pop()
        return "ok"

    assert retrying(flaky, "flaky", deadline_seconds=10) == "ok"


def test_open_store_schemes(tmp_path: Path) -> None:
    assert isinstance(open_store(f"file://{tmp_path}"), LocalStore)
    from loocv_operator.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        open_store("gs://bucket/x")
    assert err.value.where == "spec.storage.uri"


def test_local_keys_are_checked_lexically(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "root")
    for key in ("a/../../outside", "/etc/passwd", "a/b/../../../x"):
        with pytest.raises(ValueError, match="escapes"):
            store.put(key, b"x")
    store.put("a/./b/../c.json", b"y")  # normalised, inside the root
    assert store.get("a/c.json") == b"y" and store.list("") == ["a/c.json"]


def test_local_put_makes_directories_only_when_missing(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("ns/run/uid/folds/0.json", b"0")
    store.put("ns/run/uid/folds/1.json", b"1")
    store.delete_prefix("ns/")
    (tmp_path / "ns" / "run" / "uid" / "folds").rmdir()  # removed under a running writer
    store.put("ns/run/uid/folds/2.json", b"2")
    assert store.list("ns/") == ["ns/run/uid/folds/2.json"]
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_retrying_store_says_so_while_it_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a silent stall: the listener hears at once that the store is being retried."""
    from botocore.exceptions import EndpointConnectionError

    import loocv_operator.store as store_module

    monkeypatch.setattr(store_module.time, "sleep", lambda _: None)
    heard: list[str] = []
    failures = [EndpointConnectionError(endpoint_url="http://s3:9000")] * 3

    def flaky() -> str:
        if failures:
            failures.pop()
            raise EndpointConnectionError(endpoint_url="http://s3:9000")
        return "ok"

    with retry_notices(heard.append):
        assert retrying(flaky, "reading s3://b/k", deadline_seconds=300) == "ok"
    assert len(heard) == 1
    assert heard[0].startswith("store unreachable, retrying for up to 300 s (0 s so far)")
    assert "reading s3://b/k" in heard[0]


def test_unusable_local_directory_is_an_error_in_words(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="a part of the path is a file"):
        LocalStore(blocker / "results").check()
    LocalStore(tmp_path / "fresh" / "results").check()  # created on the way, and writable
    assert list((tmp_path / "fresh" / "results").iterdir()) == []
