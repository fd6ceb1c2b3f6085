"""Checking a whole series the way anyone could offline: numbers, chain, signatures.

Every entry must carry the number after the previous one, starting at the series' start;
point to the entry before it; carry the code its number gives; and hold a server signature,
valid under a published key, over exactly its id, series, previous id and code. The series'
counter must end where the entries end. The first broken link is reported precisely.
"""
from sqlalchemy import select

from ..extensions import db
from ..models import Entry
from . import jws, signing
from .series import format_code


def verify_series(series, public_keys=None):
    """``{"valid": True, ...}``, or ``{"valid": False, "broken_at": {...}}`` at the first
    entry that breaks the chain."""
    keys = signing.public_keys() if public_keys is None else public_keys
    expected, previous, checked = series.start, None, 0
    entries = db.session.scalars(select(Entry).where(Entry.series_id == series.id,
                                                    Entry.account_id == series.account_id)
                                 .order_by(Entry.number).execution_options(yield_per=1000))
    for entry in entries:
        problem = _problem(series, entry, expected, previous, keys)
        if problem:
            return _broken(series, checked, entry.number, entry.id, problem)
        expected, previous, checked = entry.number + 1, entry, checked + 1
    last_id = previous.id if previous else None
    if series.last_number != expected - 1 or series.last_entry_id != last_id:
        return _broken(series, checked, expected, None,
                       f"the series says its last number is {series.last_number} (entry "
                       f"{series.last_entry_id}), but its entries end at {expected - 1} "
                       f"(entry {last_id}): entries are missing at the end")
    return {"series_id": series.id, "valid": True, "entries": checked,
            "first_number": series.start if checked else None,
            "last_number": expected - 1 if checked else None}


def _problem(series, entry, expected, previous, keys):
    if entry.number != expected:
        kind = "missing" if entry.number > expected else "repeated"
        return f"number {entry.number} where {expected} was expected: numbers are {kind}"
    previous_id = previous.id if previous else None
    if entry.previous_id != previous_id:
        return (f"previous_id is {entry.previous_id}, but the entry before it is "
                f"{previous_id}")
    if entry.code != format_code(series, entry.number):
        return f"code {entry.code!r} is not what number {entry.number} gives"
    try:
        payload = jws.verify(entry.sig, keys)
    except jws.InvalidJws as error:
        return f"the server signature does not verify: {error}"
    signed = {"id": payload.get("id"), "cid": payload.get("cid"), "pid": payload.get("pid"),
              "num": payload.get("num")}
    actual = {"id": entry.id, "cid": entry.series_id, "pid": entry.previous_id,
              "num": entry.code}
    if signed != actual:
        changed = sorted(name for name in signed if signed[name] != actual[name])
        return f"the entry differs from what was signed ({', '.join(changed)})"
    return None


def _broken(series, checked, number, entry_id, problem):
    return {"series_id": series.id, "valid": False, "entries": checked,
            "broken_at": {"number": number, "entry_id": entry_id, "problem": problem}}
