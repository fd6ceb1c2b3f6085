"""Verification checkpoints: how far a series was verified, signed by the server.

A checkpoint says every entry of a series from its start through ``number`` was checked in
full, the last of them being ``entry_id`` with a server JWS hashing to ``sig_sha256``. It
is signed with HMAC-SHA256 under a key derived (HKDF) from INVX_SECRET_KEY, so one written
or changed in the database by anyone without the key is told apart and ignored. Without a
secret key there are no checkpoints: every verification starts from the series' start.
"""
import hashlib
import hmac
from typing import NamedTuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import VerificationCheckpoint, utcnow

_TABLE = VerificationCheckpoint.__table__


class Checkpoint(NamedTuple):
    series_id: str
    account_id: int
    number: int
    entry_id: str
    sig_sha256: str
    verified_at: object  # a naive UTC datetime
    mac: str


def sig_sha256(sig):
    return hashlib.sha256(sig.encode("utf-8")).hexdigest()


def _mac_key(secret_key):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"invx verification checkpoints v1").derive(secret_key.encode("utf-8"))


def _mac(key, series_id, account_id, number, entry_id, sha256, verified_at):
    message = "\n".join((series_id, str(account_id), str(number), entry_id, sha256,
                         verified_at.isoformat(timespec="microseconds")))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _of(series):
    """The rows of ``series`` (anything with its ``id`` and ``account_id``)."""
    return (_TABLE.c.series_id == series.id) & (_TABLE.c.account_id == series.account_id)


def load(series, secret_key):
    """(the series' checkpoint, None), or (None, why the stored one is ignored), or
    (None, None) when there is none (or no secret key to check one with)."""
    row = db.session.execute(select(*(_TABLE.c[name] for name in Checkpoint._fields))
                             .where(_of(series))).first()
    if row is None or not secret_key:
        return None, None
    checkpoint = Checkpoint(*row)
    expected = _mac(_mac_key(secret_key), *checkpoint[:6])
    if not hmac.compare_digest(expected, checkpoint.mac or ""):
        return None, (f"the stored checkpoint (number {checkpoint.number}) does not carry the "
                      f"server's signature: it was changed, or written with another "
                      f"INVX_SECRET_KEY; it was ignored")
    return checkpoint, None


def advance(series, number, entry_id, sig, secret_key, replacing=None):
    """Store the checkpoint "verified through ``number`` (``entry_id``, ``sig``)", and
    commit. ``replacing`` is the checkpoint the verification started from: it is replaced
    only if it is still the one stored (a concurrent verification may have moved it since,
    after finding a break). A verification that started from the series' start replaces
    whatever is stored: what it says is true now."""
    if not secret_key:
        return
    verified_at = utcnow()
    values = {"series_id": series.id, "account_id": series.account_id, "number": number,
              "entry_id": entry_id,
              "sig_sha256": sig_sha256(sig), "verified_at": verified_at}
    values["mac"] = _mac(_mac_key(secret_key), *values.values())
    try:
        if replacing is not None:
            db.session.execute(update(_TABLE).values(values).where(
                _of(series), _TABLE.c.mac == replacing.mac))
        else:
            db.session.execute(delete(_TABLE).where(_of(series)))
            db.session.execute(insert(_TABLE).values(values))
        db.session.commit()
    except IntegrityError:  # another verification stored one meanwhile: it is true too
        db.session.rollback()


def forget(series):
    """No checkpoint for the series (a full verification broke before any entry)."""
    db.session.execute(delete(_TABLE).where(_of(series)))
    db.session.commit()


def resign(secret_key, previous, batch=500):
    """Sign again with ``secret_key`` every checkpoint signed with a key of ``previous``
    (``invx secrets rotate``); returns how many. One signed with no key of these stays
    ignored, as it was."""
    current_key = _mac_key(secret_key)
    previous_keys = [_mac_key(key) for key in previous]
    resigned, after = 0, ("", -1)
    while True:
        rows = db.session.execute(
            select(*(_TABLE.c[name] for name in Checkpoint._fields))
            .where((_TABLE.c.series_id > after[0]) |
                   ((_TABLE.c.series_id == after[0]) & (_TABLE.c.account_id > after[1])))
            .order_by(_TABLE.c.series_id, _TABLE.c.account_id).limit(batch)).all()
        if not rows:
            return resigned
        for checkpoint in map(Checkpoint._make, rows):
            if any(hmac.compare_digest(_mac(key, *checkpoint[:6]), checkpoint.mac or "")
                   for key in previous_keys):
                db.session.execute(update(_TABLE).values(mac=_mac(current_key, *checkpoint[:6]))
                                   .where(_TABLE.c.series_id == checkpoint.series_id,
                                          _TABLE.c.account_id == checkpoint.account_id,
                                          _TABLE.c.mac == checkpoint.mac))
                resigned += 1
        db.session.commit()
        after = (rows[-1].series_id, rows[-1].account_id)
