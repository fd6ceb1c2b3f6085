"""Per-account rate limits (``INVX_RATE_LIMIT``): counted in Redis when ``INVX_REDIS_URL``
is set, so that every worker and machine shares one count, in the process otherwise.

The counting is the ``limits`` library's (fixed windows: one atomic INCR-and-EXPIRE in
Redis per request), without Flask-Limiter, which is built on it: Flask-Limiter checks in
the app's own ``before_request``, before either API has authenticated the request (each
does it in its blueprint, the entry PUT in the transaction that writes the entry), so it
would have to authenticate every request a second time to count by account. Counting here,
after authentication, leaves 401s uncounted and the public JWKS and ``/openapi.json`` out;
the 429's body is each API's own (``errors``), and an unreachable Redis is one warning a
minute, not a traceback per request.
"""
import logging
import math
import threading
import time

from limits import parse_many
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

from .errors import TooManyRequests

log = logging.getLogger(__name__)

EXTENSION = "invx.rate_limits"  # the app's AccountLimits in ``app.extensions``
# Seconds to connect to Redis or wait for its answer: a request that cannot be counted
# is served, so it must not wait long for the count.
REDIS_TIMEOUT = 0.5
# After Redis failed, requests are served uncounted for this long before it is tried
# again, so that an unreachable Redis does not cost every request its timeout.
REDIS_RETRY_SECONDS = 1.0
WARNING_SECONDS = 60  # at most one warning a minute that Redis cannot be reached


class AccountLimits:
    """The requests of each account, counted against the rate limits of ``rate_limit``."""

    def __init__(self, rate_limit, redis_url=None, key_prefix="invx", clock=time.monotonic):
        self.items = parse_many(rate_limit)
        self._clock = clock
        if redis_url:
            self.storage = RedisStorage(redis_url, key_prefix=key_prefix,
                                        socket_connect_timeout=REDIS_TIMEOUT,
                                        socket_timeout=REDIS_TIMEOUT)
        else:
            self.storage = MemoryStorage()
            log.warning("INVX_RATE_LIMIT %s is counted by each process on its own (no "
                        "INVX_REDIS_URL): with N workers or machines, an account may make "
                        "N times as many requests", rate_limit)
        self._limiter = FixedWindowRateLimiter(self.storage)
        self._lock = threading.Lock()
        self._skip_until = None  # Redis failed: not tried again before then
        self._warned_at = None

    def hit(self, account_id):
        """Count one request of the account; TooManyRequests beyond a limit. When the
        count cannot be kept (Redis unreachable), the request is served."""
        if self._skip_until is not None and self._clock() < self._skip_until:
            return
        identifier = str(account_id)
        try:
            # Every limit counts the request, as each of them would on its own.
            refused = [item for item in self.items
                       if not self._limiter.hit(item, identifier)]
            retry_after = max((self._seconds_left(item, identifier) for item in refused),
                              default=None)
        except self.storage.base_exceptions as error:
            self._unreachable(error)
            return
        self._skip_until = None
        if retry_after is not None:
            raise TooManyRequests(retry_after)

    def _seconds_left(self, item, identifier):
        reset_at = self._limiter.get_window_stats(item, identifier).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def _unreachable(self, error):
        now = self._clock()
        with self._lock:
            self._skip_until = now + REDIS_RETRY_SECONDS
            if self._warned_at is not None and now - self._warned_at < WARNING_SECONDS:
                return
            self._warned_at = now
        log.warning("Redis cannot be reached to count requests (%s): requests are served "
                    "without rate limit until it can", error)


def from_settings(settings):
    """The app's AccountLimits, or None when ``INVX_RATE_LIMIT`` is not set."""
    if settings.rate_limit is None:
        return None
    return AccountLimits(settings.rate_limit, settings.redis_url, settings.redis_key_prefix)


def enabled(app):
    return app.extensions.get(EXTENSION) is not None


def count(app, account):
    """Count a request of ``account`` (authenticated) against the app's rate limits."""
    limits = app.extensions.get(EXTENSION)
    if limits is not None:
        limits.hit(account.id)
