"""The per-app state every view shares: the store, the write lock, the generation counter that
read caches key on, per-app services, and the write-access check."""
from __future__ import annotations

import functools
import hmac
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import current_app, request

from kg.store import Store
from registry.problems import problem


class LRU:
    """A small thread-safe LRU map for cached read answers."""

    def __init__(self, size: int = 256):
        self.size, self._data, self._lock = size, OrderedDict(), threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        return None

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


@dataclass
class Registry:
    """What every view shares: the store, one lock that serialises writes, and a generation
    number bumped by every write so cached reads know when they are stale."""

    store: Store
    config: dict
    write_lock: threading.RLock = field(default_factory=threading.RLock)
    generation: int = 0
    cache: LRU = field(default_factory=lambda: LRU(512))
    services: dict = field(default_factory=dict)  # per-module state (query runner, event bus)

    def changed(self) -> None:
        """Call after every write: invalidates the read caches."""
        self.generation += 1

    def service(self, name: str, make: Callable[[], Any]):
        """The per-app object `name` (query runner, event bus, Thing index), made once on first use."""
        found = self.services.get(name)
        if found is None:
            with self.write_lock:  # double-checked: two first requests must not make two
                found = self.services.get(name)
                if found is None:
                    found = self.services[name] = make()
        return found

    def cached(self, key, compute: Callable[[], Any], max_age: float = 0.0):
        """`compute()` once per store generation (reads are cheap when nothing changed); with
        `max_age`, an answer up to that many seconds old is also good (pages under write load)."""
        generation, now = self.generation, time.monotonic()
        hit = self.cache.get(key)
        if hit is not None and (hit[0] == generation or now - hit[1] < max_age):
            return hit[2]
        value = compute()
        self.cache.put(key, (generation, now, value))
        return value


def registry() -> Registry:
    return current_app.extensions["arachne"]


def require_write_access(view):
    """Writes need `Authorization: Bearer <ARACHNE_TOKEN>` when a token is configured; reads stay open."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = current_app.config.get("ARACHNE_TOKEN")
        if token:
            given = request.headers.get("Authorization", "")
            scheme, _, value = given.partition(" ")
            is_form = request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded")
            if not value and is_form and request.form.get("token"):  # the explorer's upload form
                scheme, value = "bearer", request.form["token"]
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
                return problem(401, "Unauthorized", "this directory is read-only without a valid bearer token",
                               headers={"WWW-Authenticate": 'Bearer realm="arachne"'})
        return view(*args, **kwargs)

    return wrapper
