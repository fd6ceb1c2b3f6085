"""Verifying the Portuguese document chain of a series, as a walk checks its entries
(``chain``): each signed entry's Hash must verify, under the account's document key of its
HashControl, over the message built from its stored fields and the Hash of the signed
entry before it. Changing a stored date, total, number or Hash breaks it there."""
from decimal import InvalidOperation

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from .. import document_keys
from ..extensions import db
from ..models import Entry
from ..portugal import document_hash
from . import pt_documents


class Keys:
    """The account's document keys' public halves, read the first time one is needed."""

    def __init__(self, account_id):
        self.account_id, self._keys = account_id, None

    def get(self, version):
        if self._keys is None:
            self._keys = {number: serialization.load_pem_public_key(key.public_key.encode())
                          for number, key in document_keys.versions(self.account_id).items()}
        return self._keys.get(version)


def last_hash(series, number):
    """The Hash of the last signed entry of ``series`` (a Counted) numbered ``number`` or
    before, where a walk that begins after ``number`` continues the chain from."""
    if number < series.start:
        return None
    signed = db.session.scalar(
        select(Entry.pt).where(Entry.series_id == series.id,
                               Entry.account_id == series.account_id,
                               Entry.number <= number, Entry.pt.is_not(None))
        .order_by(Entry.number.desc()).limit(1))
    return signed["hash"] if signed else None


def problem(entry, previous_hash, keys):
    """What is wrong with ``entry``'s signed document (its ``pt``, or its lack of one after
    signed ones) following ``previous_hash``, or None."""
    signed = entry.pt
    if not signed:
        return (None if previous_hash is None else
                "the document signature chain stops here: the entry has no Hash after "
                "signed ones")
    key = keys.get(signed.get("hash_control"))
    if key is None:
        return f"no document key of version {signed.get('hash_control')!r} signed it"
    try:
        text = pt_documents.signed_text(signed, entry.code, previous_hash)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return "the signed document's stored fields are not readable"
    if not document_hash.verifies(key, text, signed.get("hash") or ""):
        return ("the document Hash does not verify over its fields and the previous "
                "document's Hash")
    return None
