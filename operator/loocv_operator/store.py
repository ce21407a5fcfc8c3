"""The result store: one interface, a local directory or S3, the same layout (design §5).

Writes are atomic (a reader never sees half an object): a local file is written beside its
target and renamed over it; an S3 PUT appears whole. Transient S3 failures (endpoint down,
timeouts, 5xx) are retried with backoff until a deadline, so a store outage stalls a run
instead of losing it, and says so while it waits (``retry_notices``). Everything else — no
credentials, no such bucket, access denied, a directory that cannot be written — is an
error in words at once, naming the store and what to do.
"""

from __future__ import annotations

import contextvars
import errno
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

from .errors import InvalidInput, StoreError
from .s3client import s3_client

T = TypeVar("T")
RETRY_SECONDS = float(os.environ.get("LOOCV_STORE_RETRY_SECONDS", "300"))
CHECK_SECONDS = 5.0  # a store that cannot be reached at the start is reported this fast
NOTICE_EVERY = 30.0  # seconds between "still retrying" notices
log = logging.getLogger("loocv.store")

RetryListener = Callable[[str], None]
_listener: contextvars.ContextVar[RetryListener | None] = contextvars.ContextVar(
    "loocv_store_retry_listener", default=None
)


@contextmanager
def retry_notices(listener: RetryListener) -> Iterator[None]:
    """Within this block, a store call that starts retrying tells ``listener`` (the
    terminal, a run's Events) instead of going silent: at once, then every 30 s."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def _notify(message: str) -> None:
    listener = _listener.get()
    if listener is None:
        log.warning("%s", message)
    else:
        listener(message)


class Store(Protocol):
    """Keys are relative, '/'-separated paths below the store's root."""

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...  # KeyError when absent
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete_prefix(self, prefix: str) -> int: ...
    def uri(self, key: str = "") -> str: ...
    def check(self) -> None: ...  # StoreError (or InvalidInput) now, in words, if unusable


def _discard(path: Path) -> None:
    with suppress(OSError):  # the path may not even be a possible one (a file as a parent)
        path.unlink()


class LocalStore:
    """A directory; the same layout as S3 so `loocv report` works on either.

    A put is write-to-a-temporary-file then rename, with no fsync: the rename alone makes
    an object appear whole to every reader and survive the writer being killed (Ctrl-C, an
    OOM kill), which is what resuming needs. Only a power cut could leave a renamed fold
    empty, and an unparseable fold is recomputed, never trusted; an fsync per fold would
    cost more than a small model's fit.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self._prefix = os.path.join(str(self.root), "")

    def _path(self, key: str) -> Path:
        # Lexical, so no system call per fold (resolve() stats every component): keys are
        # the store's own paths, and '..' in one could only come from a bug.
        path = os.path.normpath(os.path.join(self._prefix, key))
        if path != str(self.root) and not path.startswith(self._prefix):
            raise ValueError(f"key {key!r} escapes the store root")
        return Path(path)

    def _unusable(self, path: Path, exc: OSError, doing: str) -> StoreError:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOTDIR:
            reason = "a part of the path is a file, not a directory"
        return StoreError(
            f"cannot {doing} {path}: {reason}; choose a writable directory "
            "(--out, or spec.storage.uri)"
        )

    def check(self) -> None:
        """Fail now, in words, if the root cannot be created or written (not after a fit)."""
        probe = f".loocv-write-check.{os.getpid()}"
        self.put(probe, b"")
        (self.root / probe).unlink(missing_ok=True)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{random.getrandbits(32):08x}.tmp")
        try:
            try:
                handle = open(tmp, "wb")  # noqa: SIM115  (closed below; mkdir only on a miss)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = open(tmp, "wb")  # noqa: SIM115
            with handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            _discard(tmp)
            raise self._unusable(path, exc, "write") from None
        except BaseException:
            _discard(tmp)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(key) from None
        except OSError as exc:
            raise self._unusable(path, exc, "read") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        if not base.is_dir():
            return []
        keys = [
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")
        ]
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for key in keys:
            self._path(key).unlink(missing_ok=True)
        return len(keys)

    def uri(self, key: str = "") -> str:
        return str(self.root / key) if key else str(self.root)


def _is_transient(exc: BaseException) -> bool:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(
        exc,
        EndpointConnectionError | ConnectionClosedError | ConnectTimeoutError | ReadTimeoutError,
    ):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        return int(status) >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling")
    return False


# The codes servers use for "these credentials may not do this": AWS's, and versitygw's for
# an access key it does not know (without its IAM service).
ACCESS_DENIED = (
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "XAdminUserNotFound",
)


def _status(exc: Any) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _explained(exc: BaseException, what: str, where: str) -> Exception | None:
    """A permanent S3 failure in words, naming the store and what to do (None: not ours)."""
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return StoreError(
            f"{what}: no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(on a cluster: spec.storage.secretRef, or the operator's service-account role)"
        )
    if not isinstance(exc, ClientError):
        return None
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchBucket",):
        bucket = where.removeprefix("s3://").split("/", 1)[0]
        return InvalidInput(
            where, f"no such bucket {bucket!r}: create it, or fix spec.storage.uri (or --out)"
        )
    if code in ACCESS_DENIED or _status(exc) == 403:
        return StoreError(
            f"{what}: access denied ({code}): check the credentials and that they may "
            "read and write this bucket and prefix"
        )
    return None


def retrying(
    action: Callable[[], T],
    what: str,
    deadline_seconds: float = RETRY_SECONDS,
    where: str = "",
) -> T:
    """Run ``action``, retrying transient store errors with capped exponential backoff, and
    saying so (``retry_notices``) while it retries."""
    start = time.monotonic()
    delay = 0.2
    noticed = float("-inf")
    while True:
        try:
            return action()
        except Exception as exc:
            if not _is_transient(exc):
                explained = _explained(exc, what, where or what)
                if explained is not None:
                    raise explained from None
                raise
            waited = time.monotonic() - start
            if waited + delay > deadline_seconds:
                raise StoreError(
                    f"{what}: store unreachable for {deadline_seconds:.0f} s: {exc}"
                ) from exc
            if deadline_seconds > CHECK_SECONDS and waited - noticed >= NOTICE_EVERY:
                noticed = waited
                _notify(
                    f"store unreachable, retrying for up to {deadline_seconds:.0f} s "
                    f"({waited:.0f} s so far): {what}: {exc}"
                )
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 10.0)


def split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidInput(uri, "expected s3://bucket/prefix")
    return parsed.netloc, parsed.path.lstrip("/")


class S3Store:
    """S3 (or any S3-compatible server) below s3://bucket/prefix/."""

    def __init__(self, uri: str, client: Any) -> None:
        self.bucket, prefix = split_s3_uri(uri)
        self.prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        self.client = client
        self.page_size = 1000

    def _key(self, key: str) -> str:
        return self.prefix + key.lstrip("/")

    def check(self) -> None:
        """Reach the bucket now (a few seconds at most), so a wrong endpoint, missing
        credentials or an unknown bucket are reported before any work, in words."""
        from botocore.exceptions import ClientError

        def head() -> None:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _status(exc) not in (403, 404):
                    raise
                # A HEAD answer has no body, so a bare 404/403 names no cause (versitygw
                # answers an unknown access key with 404): a one-key listing says which.
                self.client.list_objects_v2(Bucket=self.bucket, MaxKeys=1)

        try:
            retrying(head, f"reaching {self.uri()}", CHECK_SECONDS, self.uri())
        except StoreError as exc:
            if exc.__cause__ is None:  # not unreachable: already said in words
                raise
            endpoint = getattr(self.client.meta, "endpoint_url", "")
            raise StoreError(
                f"cannot reach the store {self.uri()} at {endpoint}: {exc.__cause__ or exc}; "
                "check spec.storage.endpoint (or LOOCV_S3_ENDPOINT) and that the server is up"
            ) from None

    def put(self, key: str, data: bytes) -> None:
        retrying(
            lambda: self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data),
            f"writing {self.uri(key)}",
            where=self.uri(),
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        def read() -> bytes:
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                    raise KeyError(key) from None
                raise
            body: bytes = response["Body"].read()
            return body

        return retrying(read, f"reading {self.uri(key)}", where=self.uri())

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        def head() -> bool:
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
                return True
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise

        return retrying(head, f"checking {self.uri(key)}", where=self.uri())

    def _pages(self, prefix: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            args: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": self._key(prefix),
                "MaxKeys": self.page_size,
            }
            if token:
                args["ContinuationToken"] = token
            page: dict[str, Any] = retrying(
                lambda args=args: self.client.list_objects_v2(**args),  # type: ignore[misc]
                f"listing {self.uri(prefix)}",
                where=self.uri(),
            )
            yield page
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def list(self, prefix: str) -> list[str]:
        keys = [
            obj["Key"][len(self.prefix) :]
            for page in self._pages(prefix)
            for obj in page.get("Contents", [])
        ]
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            chunk = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            retrying(
                lambda chunk=chunk: self.client.delete_objects(  # type: ignore[misc]
                    Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True}
                ),
                f"deleting below {self.uri(prefix)}",
            )
        return len(keys)

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"


def check_store_uri(uri: str) -> None:
    """Refuse a store address no store here can open (no I/O: `loocv validate` uses it)."""
    if uri.startswith("s3://"):
        split_s3_uri(uri)
    elif "://" in uri and not uri.startswith("file://"):
        raise InvalidInput(
            "spec.storage.uri", f"unsupported scheme in {uri!r}; use s3:// or a path"
        )


def open_store(uri: str, endpoint: str | None = None, region: str | None = None) -> Store:
    """The store for a URI: s3://… or a local directory (plain path or file://)."""
    check_store_uri(uri)
    if uri.startswith("s3://"):
        return S3Store(uri, s3_client(endpoint, region))
    if uri.startswith("file://"):
        uri = urlparse(uri).path
    return LocalStore(uri)


def read_uri(uri: str, endpoint: str | None = None, region: str | None = None) -> bytes:
    """Read one whole object or file (datasets): s3://bucket/key or a local path."""
    if uri.startswith("s3://"):
        bucket, key = split_s3_uri(uri)
        parent, _, name = key.rpartition("/")
        store = S3Store(f"s3://{bucket}/{parent}", s3_client(endpoint, region))
        try:
            return store.get(name)
        except KeyError:
            raise InvalidInput(uri, "no such object in the store") from None
    path = urlparse(uri).path if uri.startswith("file://") else uri
    try:
        return Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        raise InvalidInput(uri, "no such file") from None
    except OSError as exc:
        raise InvalidInput(uri, f"cannot read: {exc.strerror}") from None


@dataclass(frozen=True)
class RunLocation:
    """Where one run's objects live inside a store: <namespace>/<run>/<run-uid>/."""

    namespace: str
    name: str
    uid: str

    @property
    def prefix(self) -> str:
        return f"{self.namespace}/{self.name}/{self.uid}/"

    @property
    def plan(self) -> str:
        return self.prefix + "plan.json"

    def artifact(self, name: str) -> str:
        return self.prefix + name
