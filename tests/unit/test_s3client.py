from __future__ import annotations

import pytest

from loocv_operator.errors import InvalidInput
from loocv_operator.s3client import addressing_style, s3_client


def test_path_style_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOCV_S3_ADDRESSING_STYLE", raising=False)
    assert addressing_style() == "path"
    assert s3_client("http://127.0.0.1:9").meta.config.s3["addressing_style"] == "path"


@pytest.mark.parametrize("style", ["virtual", "auto", " Virtual "])
def test_the_environment_chooses_the_style(style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOCV_S3_ADDRESSING_STYLE", style)
    client = s3_client("http://minio.example:9000")
    assert client.meta.config.s3["addressing_style"] == style.strip().lower()


def test_virtual_style_puts_the_bucket_in_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    url = s3_client("http://minio.example:9000", style="virtual").generate_presigned_url(
        "get_object", Params={"Bucket": "loocv", "Key": "a/plan.json"}
    )
    assert url.startswith("http://loocv.minio.example:9000/a/plan.json?")
    path = s3_client("http://minio.example:9000", style="path").generate_presigned_url(
        "get_object", Params={"Bucket": "loocv", "Key": "a/plan.json"}
    )
    assert path.startswith("http://minio.example:9000/loocv/a/plan.json?")


def test_an_unknown_style_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOCV_S3_ADDRESSING_STYLE", "vhost")
    with pytest.raises(InvalidInput, match=r"LOOCV_S3_ADDRESSING_STYLE.*'vhost'"):
        s3_client("http://127.0.0.1:9")
