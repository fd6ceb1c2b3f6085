"""Group commit: the concurrent entry requests of one process share a transaction, whatever
their series.

Within one process, requests queue up in one queue (per database); one of them (a
leader) takes the queued requests and writes them in one transaction (``issuing``: every
entry with its own number, chain link and signature, one commit, one disk flush), the
series' row locks taken in one fixed order. Once the locks are granted it takes the queue
again, but only the requests for series it holds, so those that came while it waited
(another process's batch holds a lock until its flush) join its batch instead of waiting
for the next one. Each request is answered only after that commit. Then the lead passes to
the first request that queued meanwhile.

A series belongs to one leader at a time, from its first request taken until that
leader's commit; the others leave its requests in the queue. Most of the time one leader
writes at once, and the lead passes to the first request queued when it is done: the
fewer the transactions, the more each one gathers (session 15, ``bench.compare``, 64
clients over 64 series: up to four leaders at once, each started as soon as a request
found one free, did 0.80 x the single leader's requests/s). But a batch that waits on a
row lock that another transaction holds must not stall the requests of other series
behind it: a request that has waited ``LEAD_AFTER`` seconds for its batch while its
series is not held leads a batch of its own, if fewer than ``MAX_LEADERS`` are writing.

Many series with a few requests each were the slow case when each series had a queue of
its own: every request paid a transaction, a flush and the round trips of its own
(session 14, ``make bench``: 64 clients over 64 series at about half the throughput of
the one-number-per-transaction design). Across processes the row locks still serialize
the batches of one series, so correctness never depends on the coalescing.
"""
import threading
from dataclasses import dataclass, field

MAX_BATCH = 256
MAX_LEADERS = 4
LEAD_AFTER = 0.02  # seconds; a batch takes a few milliseconds when nothing holds it up

_registry_lock = threading.Lock()
_batchers = {}  # a process's queue per database (its engine) -> _Batcher


@dataclass(eq=False)
class Ticket:
    """One request waiting in the queue: ``group`` is its series, as the request names it
    (the API key's digest and the series' lookup): the requests of one group are numbered
    together, in the order they were taken."""

    group: tuple
    entry_id: str
    digest: str
    meta: dict | None
    client_sig: str | None
    pt: dict | None = None  # a Portuguese document's fields (pt_schema), to sign
    leader: bool = False
    taken: bool = False
    result: object = None
    error: BaseException | None = None
    wakeup: threading.Event = field(default_factory=threading.Event)

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class Batch:
    """The requests one leader writes in one transaction: ``take()`` adds those queued
    since it was last called (up to MAX_BATCH in all) whose series no other leader holds,
    and returns them; with ``groups``, only those of these groups, which it already holds
    (the others stay queued for the next batch). ``tickets`` holds every one taken."""

    def __init__(self, batcher=None, tickets=(), leader=None):
        self._batcher, self.tickets, self._leader = batcher, list(tickets), leader

    def take(self, groups=None):
        if self._batcher is None:
            return []
        batcher = self._batcher
        with batcher.lock:
            room, taken, left = MAX_BATCH - len(self.tickets), [], []
            # the leader's own request first: it may have queued behind others' series
            for ticket in sorted(batcher.queue, key=lambda t: t is not self._leader):
                owner = batcher.held.get(ticket.group)
                wanted = (owner is self._leader if groups is not None and ticket.group in groups
                          else groups is None and owner in (None, self._leader))
                if wanted and len(taken) < room:
                    batcher.held[ticket.group] = self._leader
                    ticket.taken = True
                    taken.append(ticket)
                else:
                    left.append(ticket)
            batcher.queue = left
        self.tickets += taken
        return taken


class _Batcher:
    def __init__(self):
        self.lock = threading.Lock()
        self.queue = []
        self.held = {}  # group -> the leader (its ticket) whose batch holds it
        self.leaders = 0

    def elect(self, ticket):
        """Under ``lock``: make ``ticket`` a leader, if its series is free and there is
        room for one more leader; returns whether it is one."""
        if ticket.leader or ticket.taken or ticket.group in self.held:
            return ticket.leader
        if self.leaders >= MAX_LEADERS:
            return False
        ticket.leader = True
        self.held[ticket.group] = ticket
        self.leaders += 1
        return True

    def release(self, leader):
        """Under ``lock``: ``leader``'s batch is over; its series are free again."""
        self.leaders -= 1
        for group in [g for g, owner in self.held.items() if owner is leader]:
            del self.held[group]


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
    """Queue ``ticket`` in the queue ``key`` (one per database); returns its result once
    its batch is committed. ``write_batch(batch)`` runs in the leader's thread: it takes
    the queued requests with ``batch.take()`` (the leader's first), as often as it can use
    more, and sets a result or an error on each of ``batch.tickets``."""
    batcher = _batcher(key)
    with batcher.lock:
        batcher.queue.append(ticket)
        if not batcher.leaders:
            batcher.elect(ticket)
    # a result, or the lead: passed on by a leader, or taken after LEAD_AFTER
    while not ticket.leader and not ticket.wakeup.wait(LEAD_AFTER):
        with batcher.lock:
            batcher.elect(ticket)
    if not ticket.leader:
        return ticket.outcome()
    batch = Batch(batcher, leader=ticket)
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
            batcher.release(ticket)
            # The lead passes on when this was the only leader (then no series is held, and
            # the first queued request leads); otherwise a request that waits long enough
            # takes it.
            after = None
            if batcher.queue and not batcher.leaders and batcher.elect(batcher.queue[0]):
                after = batcher.queue[0]
            if not batcher.queue and not batcher.leaders:
                _forget(key, batcher)
        for waiting in [after] * (after is not None) + [t for t in batch.tickets
                                                        if t is not ticket]:
            waiting.wakeup.set()
    return ticket.outcome()
