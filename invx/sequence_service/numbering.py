"""What a batch decides for each series it holds, once the series' row is locked: whether
the series may number at all (``refusal``), and each request's entry: a new one with its
number, chain link and signature, the one its id already has, or a conflict (``number``).
No database and no HTTP here: ``issuing`` reads and writes, this decides."""
import hmac
import time

from .. import errors
from ..models import Series
from . import jws, pt_documents
from .rows import EntryRow
from .series import format_code

UNKNOWN = object()  # no such series for this key: 404 or 401, once the key is looked up


def refusal(key_digest, series):
    """Why the requests for ``series`` get no entries (an ApiError, or UNKNOWN), or None."""
    if series is None or not hmac.compare_digest(series.api_key_hash, key_digest):
        return UNKNOWN
    if series.sequence_pk is None:
        return None
    # An InvoiceXpress sub-series numbers only while its sequence may issue documents.
    if series.closed_as or series.at_status in (Series.FINISHED, Series.ANNULLED):
        return errors.SeriesClosed(f"Series {series.code} was finished or annulled at AT: it "
                                   "issues no more documents.")
    if series.at_status == Series.UNREGISTERED:
        return errors.SeriesNotRegistered(
            f"Series {series.code} is not registered with AT (its validation code is N/D): "
            "register it (PUT /sequences/:id/register.json) before issuing documents.")
    return None


def number(series, existing, tickets, signer, now, document_signer=None):
    """The series' new entries (EntryRows), each with its number, chain link and
    signature, and each ticket's answer: its entry, the one its id already has, or a
    conflict. ``existing`` is {(account id, entry id): EntryRow} of the ids used in the
    batch's accounts; the new entries are added to it. ``signer`` is (kid, private key);
    ``document_signer`` signs the series' Portuguese documents, if it does (pt_documents)."""
    kid, private_key = signer
    timestamp = int(time.time())
    last, previous_id = series.last_number, series.last_entry_id
    chain = pt_documents.Chain(series)
    entries, answers = [], []
    for ticket in tickets:
        earlier = existing.get((series.account_id, ticket.entry_id))
        if earlier is not None:
            answers.append((ticket, _replay(earlier, series.id, ticket)))
            continue
        refused = pt_documents.refusal(document_signer, ticket, chain)
        if refused is not None:  # no number used
            answers.append((ticket, refused))
            continue
        last += 1
        code = format_code(series, last)
        payload = {"id": ticket.entry_id, "cid": series.id}
        if previous_id:
            payload["pid"] = previous_id
        payload.update(num=code, ts=timestamp)
        existing[series.account_id, ticket.entry_id] = entry = EntryRow(
            id=ticket.entry_id, series_id=series.id, number=last, code=code,
            meta=ticket.meta or None, previous_id=previous_id,
            sig=jws.sign(private_key, kid, payload), client_sig=ticket.client_sig,
            created_at=now, updated_at=now, request_hash=ticket.digest,
            pt=document_signer and pt_documents.sign(series, document_signer, ticket, code,
                                                     last, chain, now))
        entries.append(entry)
        answers.append((ticket, entry))
        previous_id = ticket.entry_id
    return entries, answers


def _replay(earlier, series_id, ticket):
    """The answer to a request whose id was used before: that entry, or a conflict."""
    if earlier.series_id != series_id:
        return errors.ApiConflict("This entry id is used in another series.")
    if earlier.request_hash != ticket.digest:
        return errors.ApiConflict("This entry id was used with another body.")
    return earlier
