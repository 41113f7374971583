"""Per-client token buckets: how the server keeps one client from flooding it.

Each client (by IP address) has a bucket of `burst` tokens that refills at `rate` tokens
a second; a request takes one token, and a request that finds the bucket empty is
refused (HTTP 429) with the number of seconds until a token is back. A person clicking
and the page polling for the agent's reply use a few requests a second at most, so the
defaults never get in a person's way but stop a script from hammering the server.

The table of buckets is bounded: clients idle long enough to have refilled completely
are the same as new clients, so they are dropped when the table grows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """`allow(client)` -> seconds to wait (0.0 = go ahead, and a token was taken)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, not {rate}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, not {burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> float:
        """Take a token for `client`; returns 0.0 if one was there, else the wait in seconds."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                if len(self._buckets) >= self.max_clients:
                    self._prune(now)
                bucket = self._buckets[client] = _Bucket(float(self.burst), now)
            else:
                elapsed = max(0.0, now - bucket.updated)
                bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        """Drop buckets that would be full by now (indistinguishable from new clients)."""
        full_after = self.burst / self.rate
        stale = [c for c, b in self._buckets.items() if now - b.updated >= full_after]
        for client in stale:
            del self._buckets[client]
        if len(self._buckets) >= self.max_clients:
            # Still full of active clients: forget the least recently seen half.
            by_age = sorted(self._buckets, key=lambda c: self._buckets[c].updated)
            for client in by_age[: len(by_age) // 2]:
                del self._buckets[client]

    def __len__(self) -> int:
        return len(self._buckets)
