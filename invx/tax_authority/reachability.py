"""What this process last saw of each Tax Authority it called: reachable or not.

``/readyz`` shows it as a ``warn`` check, never as not ready (numbering does not need AT),
and it costs no call: it is what the last real call found. A call AT answered, even with a
refusal, found it reachable; one that timed out, could not connect or got no readable
answer (``UnavailableError``) did not.
"""
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

_lock = threading.Lock()
_seen = {}  # adapter name -> Seen


@dataclass(frozen=True)
class Seen:
    adapter: str
    reachable: bool
    at: datetime
    operation: str
    detail: str | None = None


def note(adapter, operation, reachable, detail=None):
    with _lock:
        _seen[adapter] = Seen(adapter, reachable, datetime.now(UTC), operation, detail)


def last_seen():
    """The latest ``Seen`` of each adapter this process called, by adapter name."""
    with _lock:
        return dict(_seen)


def forget():
    """For tests: nothing seen yet."""
    with _lock:
        _seen.clear()
