"""Result stores, opened once per (uri, endpoint, region) and shared by every run."""

from __future__ import annotations

import threading

from ..store import Store, open_store


class StoreCache:
    def __init__(self) -> None:
        self._stores: dict[tuple[str, str | None, str | None], Store] = {}
        self._lock = threading.Lock()

    def open(self, uri: str, endpoint: str | None, region: str | None) -> Store:
        key = (uri, endpoint, region)
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = open_store(uri, endpoint, region)
            return store
