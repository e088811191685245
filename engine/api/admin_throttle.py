"""Admin token guessing throttle: failed admin authentications are limited per client
address and in total; past the limit, admin requests get 429 without the token being
compared (``engine.api.admin.authorize``).

Rules:
- Pure: time is an argument (``now``, monotonic seconds), so tests step it by hand.
- Token buckets (``engine.domain.limits.TokenBucket``, the rate limit's): each wrong token
  (not a missing one) takes a token from the client's bucket and from the global one; a
  request is refused while either is empty. Successes take nothing, so a correct token is
  never slowed by its own traffic.
- Per client: 10 failures at once, then one every 6 s (10 a minute). Globally: 100 at
  once, then 2 a second, so many addresses guessing together get no more than that; the
  price is that a flood of failures also holds off the real operator for a while, which
  is why the admin API is best bound to a private listener (``NOTIFY_ADMIN_HOST`` /
  ``NOTIFY_ADMIN_PORT``) as well.
- Memory is bounded: at most ``max_clients`` buckets; full (refilled) buckets are
  forgotten first, and while every tracked bucket is still draining, new addresses are
  held by the global bucket alone.
"""

from __future__ import annotations

from engine.domain.limits import TokenBucket


class GuessThrottle:
    def __init__(
        self,
        *,
        per_client: tuple[float, float] = (10, 1 / 6),
        overall: tuple[float, float] = (100, 2.0),
        max_clients: int = 10_000,
        now: float = 0.0,
    ) -> None:
        self._per_client = per_client
        self._overall = TokenBucket.full(*overall, now)
        self._clients: dict[str, TokenBucket] = {}
        self._max_clients = max_clients

    def retry_after(self, client: str, now: float) -> float:
        """0 if ``client`` may try a token now; else seconds until it may."""
        wait = self._overall.seconds_until_token(now)
        bucket = self._clients.get(client)
        if bucket is not None:
            wait = max(wait, bucket.seconds_until_token(now))
        return wait

    def failed(self, client: str, now: float) -> None:
        """Record a failed authentication from ``client``."""
        self._overall.take(now)
        bucket = self._clients.get(client)
        if bucket is None:
            if len(self._clients) >= self._max_clients:
                self._forget_full(now)
            if len(self._clients) >= self._max_clients:
                return  # every tracked client is draining: the global bucket holds this one
            bucket = self._clients[client] = TokenBucket.full(*self._per_client, now)
        bucket.take(now)

    def tracked(self) -> int:
        return len(self._clients)

    def _forget_full(self, now: float) -> None:
        for client in [c for c, b in self._clients.items() if b.level(now) >= b.capacity]:
            del self._clients[client]
