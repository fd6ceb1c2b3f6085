"""The machine's Redis, for the tests of a rate limit shared across apps: they skip, saying
why, when it cannot be reached, and keep to a key prefix of their own."""
import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_or_skip():
    """A client of the machine's Redis, or the test skipped (no Redis there)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.skip(f"no Redis at {REDIS_URL} ({error}): the count shared through Redis is "
                    "not tested")
    return client
