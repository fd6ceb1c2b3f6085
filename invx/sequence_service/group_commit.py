"""Group commit per series: concurrent entry requests for one series share a transaction.

Within one process, requests for the same series queue up; one of them (the leader) takes
the whole queue and writes it in one transaction (``issuing``: every entry with its own
number, chain link and signature, one commit, one disk flush). Once the series' row lock
is granted it takes the queue again, so the requests that came while it waited for the
lock (another process's batch holds it until its flush) join its batch instead of waiting
for the next one. Each request is answered only after that commit. Then the leader hands
over to the first request that queued meanwhile.
Across processes the series' row lock still serializes batches, so correctness never
depends on the coalescing. Requests for different series never wait for each other.
"""
import threading
from dataclasses import dataclass, field

MAX_BATCH = 256

_registry_lock = threading.Lock()
_batchers = {}  # (engine, API key digest, series reference) -> _Batcher


@dataclass(eq=False)
class Ticket:
    """One request waiting in a series' queue."""

    entry_id: str
    digest: str
    meta: dict | None
    client_sig: str | None
    leader: bool = False
    result: object = None
    error: BaseException | None = None
    wakeup: threading.Event = field(default_factory=threading.Event)

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class Batch:
    """The requests one leader writes in one transaction: ``take()`` adds those queued
    since it was last called (up to MAX_BATCH in all) and returns them; ``tickets`` holds
    every one taken."""

    def __init__(self, batcher=None, tickets=()):
        self._batcher, self.tickets = batcher, list(tickets)

    def take(self):
        if self._batcher is None:
            return []
        with self._batcher.lock:
            room = MAX_BATCH - len(self.tickets)
            taken, self._batcher.queue = self._batcher.queue[:room], self._batcher.queue[room:]
        self.tickets += taken
        return taken


class _Batcher:
    def __init__(self):
        self.lock = threading.Lock()
        self.queue = []
        self.busy = False


def _batcher(key):
    with _registry_lock:
        batcher = _batchers.get(key)
        if batcher is None:
            batcher = _batchers[key] = _Batcher()
        return batcher


def _forget(key, batcher):
    """Drop an idle batcher, so the registry does not grow with every series ever numbered.
    A request that already holds it just leads its own batch: the row lock keeps that
    correct."""
    with _registry_lock:
        if _batchers.get(key) is batcher:
            del _batchers[key]


def submit(key, ticket, write_batch):
    """Queue ``ticket`` for the series ``key``; returns its result once its batch is
    committed. ``write_batch(batch)`` runs in the leader's thread: it takes the queued
    requests with ``batch.take()`` (the leader's first), as often as it can use more, and
    sets a result or an error on each of ``batch.tickets``."""
    batcher = _batcher(key)
    with batcher.lock:
        batcher.queue.append(ticket)
        if not batcher.busy:
            batcher.busy = ticket.leader = True
    if not ticket.leader:
        ticket.wakeup.wait()  # a result, or the lead
        if not ticket.leader:
            return ticket.outcome()
    batch = Batch(batcher)
    try:
        write_batch(batch)
    except BaseException as error:  # the whole batch failed: every request learns it
        if not batch.tickets:  # before it took any: the leader's own request only
            with batcher.lock:
                batcher.queue.remove(ticket)
            batch.tickets.append(ticket)
        for waiting in batch.tickets:
            if waiting.result is None and waiting.error is None:
                waiting.error = error
    finally:
        with batcher.lock:
            if batcher.queue:
                batcher.queue[0].leader = True
                batcher.queue[0].wakeup.set()
            else:
                batcher.busy = False
                _forget(key, batcher)
        for waiting in batch.tickets:
            if waiting is not ticket:
                waiting.leader = False
                waiting.wakeup.set()
    return ticket.outcome()
