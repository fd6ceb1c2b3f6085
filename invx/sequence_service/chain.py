"""Walking a series' chain, entry by entry, the way anyone could offline.

Each entry must carry the number after the previous one; point to the entry before it;
carry the code its number gives; and hold a server signature, valid under a published key,
over exactly its id, series, previous id and code. A signed Portuguese document's Hash
must verify over its fields and the previous one's (``pt_chain``). The entries are read in
keyset pages (by number, on the unique index), and the walk yields every few entries:
under gunicorn's gevent worker one verification would otherwise hold every other request
of its worker until it ends (an ES256 check alone is about 75 µs).
"""
import time
from typing import NamedTuple

from sqlalchemy import select

from ..extensions import db
from ..models import Entry
from . import jws, pt_chain
from .series import format_code

PAGE = 200  # entries read at a time
# Entries checked between two pauses: about 1 ms of CPU, so that a request arriving in a
# worker busy with four verifications waits a few ms at each of its own steps.
YIELD_EVERY = 10
# A pause is a timer, not sleep(0): gevent runs the wake-ups of sleep(0) back to back, up to
# 50 of them, before it polls its sockets (GET /keys then took about 100 ms behind four
# verifications, against 20 ms this way); any positive time waits for the loop's next turn,
# which polls first. Without gevent, it lets the other threads have the GIL.
PAUSE_SECONDS = 1e-6


class Counted(NamedTuple):
    """What a verification needs of its series, read once at its start: the entries it
    checks are those the counter counted then (entries issued meanwhile are left to the
    next one)."""

    id: str
    account_id: int
    start: int
    prefix: str
    padding: int
    suffix: str
    last_number: int
    last_entry_id: str | None

    @classmethod
    def of(cls, series):
        return cls(*(getattr(series, name) for name in cls._fields))


class Link(NamedTuple):
    """The entry a walk continues from: its number, id and server JWS (None before the
    first entry, whose number is the series' start - 1)."""

    number: int
    entry_id: str | None
    sig: str | None


class Budget(NamedTuple):
    """At most ``entries`` entries, and no page begun after ``seconds``; None: unbounded."""

    entries: int | None = None
    seconds: float | None = None


class Walk(NamedTuple):
    checked: int              # entries checked, from the one after where the walk began
    last: Link                # the last entry that checked out (or where the walk began)
    broken: dict | None       # {"number", "entry_id", "problem"}: the first broken link
    stopped: bool             # the budget ran out before the target


UNBOUNDED = Budget()
_COLUMNS = (Entry.number, Entry.id, Entry.previous_id, Entry.code, Entry.sig, Entry.pt)


def walk(series, after, target, keys, budget=UNBOUNDED, page=None, progress=None,
         pause=False):
    """Check the entries of ``series`` (a Counted) numbered after ``after`` (a Link)
    through ``target``, in order,
    ``page`` at a time (default PAGE); with ``pause``, pausing every YIELD_EVERY entries
    for the other requests of the worker."""
    page = page or PAGE
    started = time.monotonic()
    checked, last = 0, after
    documents = pt_chain.Keys(series.account_id)
    document_hash = pt_chain.last_hash(series, after.number)
    while last.number < target:
        size = page if budget.entries is None else min(page, budget.entries - checked)
        out_of_time = (budget.seconds is not None and checked
                       and time.monotonic() - started >= budget.seconds)
        if size <= 0 or out_of_time:
            return Walk(checked, last, None, True)
        rows = db.session.execute(
            select(*_COLUMNS).where(of_series(series), Entry.number > last.number,
                                    Entry.number <= target)
            .order_by(Entry.number).limit(size)).all()
        if not rows:
            break
        for index, row in enumerate(rows, 1):
            problem = (entry_problem(series, row, last, keys)
                       or pt_chain.problem(row, document_hash, documents))
            if problem:
                broken = {"number": row.number, "entry_id": row.id, "problem": problem}
                return Walk(checked, last, broken, False)
            last = Link(row.number, row.id, row.sig)
            document_hash = row.pt["hash"] if row.pt else document_hash
            checked += 1
            if pause and index % YIELD_EVERY == 0:
                time.sleep(PAUSE_SECONDS)  # gevent's, under gunicorn's gevent worker
        # Each page in a transaction of its own: on SQLite every transaction holds the
        # write lock (BEGIN IMMEDIATE), and entries could not be issued meanwhile.
        db.session.commit()
        if progress is not None:
            progress(len(rows))
    return Walk(checked, last, None, False)


def of_series(series):
    """The entries of ``series`` (a Counted): its id and account, as the index leads."""
    return (Entry.series_id == series.id) & (Entry.account_id == series.account_id)


def entry_problem(series, entry, previous, keys):
    """What is wrong with ``entry`` (number, id, previous_id, code, sig) coming after
    ``previous`` (a Link), or None."""
    expected = previous.number + 1
    if entry.number != expected:
        kind = "missing" if entry.number > expected else "repeated"
        return f"number {entry.number} where {expected} was expected: numbers are {kind}"
    if entry.previous_id != previous.entry_id:
        return (f"previous_id is {entry.previous_id}, but the entry before it is "
                f"{previous.entry_id}")
    if entry.code != format_code(series, entry.number):
        return f"code {entry.code!r} is not what number {entry.number} gives"
    try:
        payload = jws.verify(entry.sig, keys)
    except jws.InvalidJws as error:
        return f"the server signature does not verify: {error}"
    signed = {"id": payload.get("id"), "cid": payload.get("cid"), "pid": payload.get("pid"),
              "num": payload.get("num")}
    actual = {"id": entry.id, "cid": series.id, "pid": entry.previous_id, "num": entry.code}
    if signed != actual:
        changed = sorted(name for name in signed if signed[name] != actual[name])
        return f"the entry differs from what was signed ({', '.join(changed)})"
    return None
