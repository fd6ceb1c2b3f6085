"""Verifying a series: in full (``invx verify``), or from its checkpoint on (HTTP).

``verify_series`` checks every entry from the series' start (``chain``), then that the
series' counter ends where its entries end; it is what proves a whole series. A series of
a million entries takes minutes that way (an ES256 check is about 75 µs), so
``verify_from_checkpoint`` (``GET .../verify``) starts from the series' verification
checkpoint (``checkpoints``): the stored, signed statement that every entry through some
number was checked in full. It checks the checkpoint's signature, that the entry it names
is still the same one (id and signature) and that the entries up to it are still
contiguous (a count on the index), then walks the entries after it within a budget. Each
verification that gets further moves the checkpoint on, so regular verification keeps
what is left to check small, and one that runs out of budget says how far it got: it
never says ``valid`` of entries nobody checked.
"""
from sqlalchemy import func, select

from ..extensions import db
from ..models import Entry, Series
from . import checkpoints, signing
from .answers import timestamp
from .chain import Counted, Link, of_series, walk

FULL_PAGE = 1000  # a full verification has no one to yield to but is read in pages too


def verify_series(series, secret_key=None, public_keys=None, progress=None):
    """Every entry of ``series``, from its start. ``progress(n)`` is called after each page
    of ``n`` entries. With ``secret_key``, the checkpoint is set where the chain holds."""
    series = Counted.of(series)
    keys = signing.public_keys() if public_keys is None else public_keys
    _, rejected = checkpoints.load(series, secret_key)
    start = Link(series.start - 1, None, None)
    result = walk(series, start, series.last_number, keys, page=FULL_PAGE,
                  progress=progress)
    report = _conclude(series, result, None, rejected)
    if result.last.number >= series.start:
        checkpoints.advance(series, *result.last, secret_key)
    elif secret_key:
        checkpoints.forget(series)
    return report


def verify_from_checkpoint(series, secret_key, budget, public_keys=None):
    """``series`` from its checkpoint on, within ``budget`` (a chain.Budget)."""
    series = Counted.of(series)
    keys = signing.public_keys() if public_keys is None else public_keys
    checkpoint, rejected = checkpoints.load(series, secret_key)
    start = Link(series.start - 1, None, None)
    if checkpoint is not None:
        broken = _checkpoint_problem(series, checkpoint)
        if broken:
            return _report(series, 0, start, checkpoint, rejected, broken=broken)
        start = Link(checkpoint.number, checkpoint.entry_id, _sig_of(series, checkpoint.number))
    result = walk(series, start, series.last_number, keys, budget, pause=True)
    report = _conclude(series, result, checkpoint, rejected)
    if result.last.number > start.number:
        checkpoints.advance(series, *result.last, secret_key, replacing=checkpoint)
    return report


def _conclude(series, result, checkpoint, rejected):
    if result.broken or result.stopped:
        return _report(series, result.checked, result.last, checkpoint, rejected,
                       broken=result.broken, remaining=series.last_number - result.last.number
                       if result.stopped else 0)
    return _report(series, result.checked, result.last, checkpoint, rejected,
                   broken=_end_problem(series, result.last))


def _end_problem(series, last):
    """Whether the series' counter ends where its entries end, and no entry lies outside."""
    if last.number != series.last_number or last.entry_id != series.last_entry_id:
        return _broken(last.number + 1, None,
                       f"the series says its last number is {series.last_number} (entry "
                       f"{series.last_entry_id}), but its entries end at {last.number} "
                       f"(entry {last.entry_id}): entries are missing at the end")
    lowest, highest = db.session.execute(
        select(func.min(Entry.number), func.max(Entry.number)).where(of_series(series))).one()
    if lowest is not None and lowest < series.start:
        return _broken(lowest, None, f"an entry is numbered {lowest}, below the series' "
                                     f"start {series.start}")
    # Read after the entries: an entry committed meanwhile was committed with its counter.
    counter = db.session.scalar(select(Series.last_number).where(
        Series.id == series.id, Series.account_id == series.account_id))
    if highest is not None and highest > counter:
        return _broken(highest, None, f"an entry is numbered {highest}, beyond the series' "
                                      f"counter ({counter})")
    return None


def _checkpoint_problem(series, checkpoint):
    """Whether what the checkpoint vouches for still stands: the entry it ends at, and as
    many entries before it, numbered from the start, as it verified."""
    when = timestamp(checkpoint.verified_at)
    if checkpoint.number > series.last_number:
        return _broken(checkpoint.number, checkpoint.entry_id,
                       f"entries through {checkpoint.number} were verified at {when}, but "
                       f"the series' counter now ends at {series.last_number}")
    entry = db.session.execute(select(Entry.id, Entry.sig).where(
        of_series(series), Entry.number == checkpoint.number)).first()
    if (entry is None or entry.id != checkpoint.entry_id
            or checkpoints.sig_sha256(entry.sig) != checkpoint.sig_sha256):
        return _broken(checkpoint.number, entry.id if entry else None,
                       f"entry {checkpoint.number} is not the one verified at {when} "
                       f"({checkpoint.entry_id}, with the same server signature)")
    count, lowest = db.session.execute(
        select(func.count(), func.min(Entry.number))
        .where(of_series(series), Entry.number <= checkpoint.number)).one()
    if count != checkpoint.number - series.start + 1 or lowest != series.start:
        return _broken(checkpoint.number, None,
                       f"entries {series.start} to {checkpoint.number} were verified at "
                       f"{when}, but {count} entries are now numbered from {lowest} to "
                       f"{checkpoint.number}: some were removed or added since (`invx "
                       f"verify` finds which)")
    return None


def _sig_of(series, number):
    return db.session.scalar(select(Entry.sig).where(of_series(series), Entry.number == number))


def _broken(number, entry_id, problem):
    return {"number": number, "entry_id": entry_id, "problem": problem}


def _report(series, checked, last, checkpoint, rejected, broken=None, remaining=0):
    """The answer (answers.VerificationSchema): ``valid`` is true only when every entry of
    the series is vouched for, null when the budget ran out first."""
    through = last.number if last.number >= series.start else None
    report = {"series_id": series.id,
              "valid": False if broken else None if remaining else True,
              "entries": checked,
              "first_number": last.number - checked + 1 if checked else None,
              "last_number": last.number if checked else None,
              "verified_through": through,
              "remaining": remaining,
              "checkpoint": None if checkpoint is None else {
                  "number": checkpoint.number, "entry_id": checkpoint.entry_id,
                  "verified_at": timestamp(checkpoint.verified_at)}}
    if rejected:
        report["checkpoint_rejected"] = rejected
    if broken:
        report["broken_at"] = broken
    return report
