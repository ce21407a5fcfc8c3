"""FoldWriter: every queued object is written, the backlog is bounded, failures surface."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from loocv_operator.errors import StoreError
from loocv_operator.store import LocalStore
from loocv_operator.writer import FoldWriter


class SlowStore(LocalStore):
    """A store whose PUTs block until released, counting how many run at once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = self.peak = 0

    def put(self, key: str, data: bytes) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        self.release.wait(10)
        super().put(key, data)
        with self.lock:
            self.running -= 1


def test_every_object_is_written_by_close(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with FoldWriter(store, in_flight=4) as writer:
        for i in range(50):
            writer.put(f"folds/{i}.json", b"{}")
    assert sorted(store.list("folds/")) == sorted(f"folds/{i}.json" for i in range(50))
    assert writer.written == 50


def test_writes_overlap_and_the_backlog_is_bounded(tmp_path: Path) -> None:
    store = SlowStore(tmp_path)
    writer = FoldWriter(store, in_flight=3)
    queued = threading.Event()

    def produce() -> None:
        for i in range(20):
            writer.put(f"folds/{i}.json", b"{}")
        queued.set()

    producer = threading.Thread(target=produce)
    producer.start()
    assert not queued.wait(0.5)  # the producer blocks: at most 2 x 3 writes wait
    assert store.peak == 3
    store.release.set()
    producer.join(10)
    writer.close()
    assert len(store.list("folds/")) == 20


class FailingStore(LocalStore):
    def put(self, key: str, data: bytes) -> None:
        if key.endswith("/3.json"):
            raise StoreError("s3 is down")
        super().put(key, data)


def test_a_failed_write_is_raised(tmp_path: Path) -> None:
    writer = FoldWriter(FailingStore(tmp_path), in_flight=2)
    with pytest.raises(StoreError, match="s3 is down"):
        for i in range(10):
            writer.put(f"folds/{i}.json", b"{}")
        writer.close()


def test_only_a_network_store_writes_in_the_background(
    tmp_path: Path, s3_bucket: str, s3_env: str
) -> None:
    from loocv_operator.store import open_store
    from loocv_operator.writer import DEFAULT_IN_FLIGHT, writes_in_flight

    assert writes_in_flight(LocalStore(tmp_path)) == 0  # inline: Ctrl-C loses no finished fold
    s3 = open_store(f"{s3_bucket}/results")
    assert writes_in_flight(s3) == DEFAULT_IN_FLIGHT
    with FoldWriter(s3, writes_in_flight(s3)) as writer:
        for i in range(30):
            writer.put(f"folds/{i}.json", b"{}")
    assert len(s3.list("folds/")) == 30
