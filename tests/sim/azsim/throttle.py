"""ARM throttling as Azure documents it (learn.microsoft.com/azure/azure-resource-manager/management/
request-limits-and-throttling, "Subscription and tenant limits", token bucket algorithm): per
principal and subscription, reads: bucket 250 refilled 25/s; writes: 200, 10/s; deletes: 200, 10/s.
An empty bucket answers 429 with Retry-After (seconds until a token is back)."""
import math
import threading
import time

LIMITS = {"read": (250, 25.0), "write": (200, 10.0), "delete": (200, 10.0)}


class Throttle:
    def __init__(self, limits=None):
        self.limits = dict(limits or LIMITS)
        self._lock = threading.Lock()
        self._buckets = {}

    def reset(self):
        with self._lock:
            self._buckets = {}

    def _limits(self, kind, overrides):
        """(capacity, refill per second) of `kind`; `overrides` (the world's throttle_limits setting, e.g.
        {"write": [3, 2]}) shrinks buckets so tests meet throttling without thousands of requests."""
        capacity, rate = (overrides or {}).get(kind) or self.limits[kind]
        return int(capacity), float(rate)

    def take(self, principal, subscription, kind, overrides=None):
        """0 when the request may proceed, else the Retry-After in whole seconds."""
        capacity, rate = self._limits(kind, overrides)
        key = (principal, (subscription or "").lower(), kind)
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(capacity), now))
            tokens = min(float(capacity), tokens + (now - stamp) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / rate))

    def remaining(self, principal, subscription, kind, overrides=None):
        capacity, rate = self._limits(kind, overrides)
        key = (principal, (subscription or "").lower(), kind)
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(capacity), time.monotonic()))
            return int(min(float(capacity), tokens + (time.monotonic() - stamp) * rate))
