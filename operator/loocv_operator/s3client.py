"""The boto3 S3 client every store and dataset reader uses, configured from the environment.

Why its own module: the same settings reach the operator (the chart's ``storage.*`` values
become its environment) and each trainer pod (the operator copies them into the Job), so one
function reads them. Addressing style: ``path`` (``http://host/bucket/key``, the default:
MinIO, Ceph RGW, SeaweedFS and versitygw all serve it, with no DNS per bucket), ``virtual``
(``http://bucket.host/key``: AWS S3's preferred form, and the only one some services accept)
or ``auto`` (botocore chooses: virtual where the bucket name allows it).
"""

from __future__ import annotations

import os
from typing import Any

from .errors import InvalidInput

ADDRESSING_ENV = "LOOCV_S3_ADDRESSING_STYLE"
ADDRESSING_STYLES = ("path", "virtual", "auto")


def addressing_style(value: str | None = None) -> str:
    """The addressing style asked for (argument, else LOOCV_S3_ADDRESSING_STYLE, else path)."""
    style = (value or os.environ.get(ADDRESSING_ENV) or "path").strip().lower()
    if style not in ADDRESSING_STYLES:
        raise InvalidInput(ADDRESSING_ENV, f"{style!r} is not one of path, virtual, auto")
    return style


def s3_client(
    endpoint: str | None = None, region: str | None = None, style: str | None = None
) -> Any:
    """A boto3 S3 client; credentials come from the environment (the Secret, in a pod) or
    botocore's chain (a web-identity token: an IRSA-style service-account role)."""
    import boto3
    from botocore.config import Config

    s3_config: Any = {"addressing_style": addressing_style(style)}  # path | virtual | auto
    config = Config(
        retries={"max_attempts": 4, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        s3=s3_config,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint or os.environ.get("LOOCV_S3_ENDPOINT") or None,
        region_name=region or os.environ.get("AWS_REGION") or "us-east-1",
        config=config,
    )
