"""The Portuguese documents of a batch: which series sign, what each entry must carry, and
its Hash, made in the batch that numbers it (``numbering``), over the Hash of the entry
numbered just before it in its series. The series' row lock is what makes that chain
right under any concurrency: the last Hash is read with it, and moved with the counter.

A series signs when its account has a document key (``document_keys``) and it is an
InvoiceXpress sub-series of a type that has an ATCUD, or a Sequence Service series that
opted in (``pt_signed``). There every entry must carry ``pt``; elsewhere ``pt`` is refused.
The law's message, excerpt and QR text are ``portugal.document_hash`` and ``qr_code``.
"""
from datetime import UTC, date, datetime
from decimal import Decimal

from .. import document_keys, errors
from ..portugal import document_hash, qr_code
from ..portugal.document_types import BY_NAME
from ..portugal.lisbon import LISBON
from .series import atcud_for


def signs(series):
    """Whether ``series`` (a LockedSeries) signs its entries as Portuguese documents."""
    if series.document_key_version is None:
        return False
    if series.sequence_pk is not None:
        doc_type = BY_NAME.get(series.doc_type)
        return doc_type is not None and doc_type.atcud_relevant
    return bool(series.pt_signed)


def signer_for(connection, series, secret_keys):
    """The Signer of ``series``' documents (read on the batch's ``connection``), or None."""
    if not signs(series):
        return None
    return document_keys.signer(connection, series.account_id, series.document_key_version,
                                secret_keys)


class Chain:
    """A series' last signed document while a batch numbers it: its Hash and date."""

    def __init__(self, series):
        self.hash = series.last_pt_hash
        last = series.last_pt_invoice_date
        self.date = last.isoformat() if isinstance(last, date) else last


def refusal(signer, ticket, chain):
    """Why ``ticket`` may not be numbered in its series (an ApiInvalid), or None."""
    if signer is None:
        if ticket.pt is not None:
            return errors.ApiInvalid(fields={"pt": [
                "This series signs no Portuguese documents: its account has no document key "
                "(invx accounts set-document-key), or it is not of a type with an ATCUD."]})
        return None
    if ticket.pt is None:
        return errors.ApiInvalid("This series signs Portuguese documents: every entry "
                                 "needs its pt.", fields={"pt": ["Missing data for required "
                                                                 "field."]})
    if chain.date is not None and ticket.pt["invoice_date"] < chain.date:
        return errors.ApiInvalid(fields={"pt": {"invoice_date": [
            f"Earlier than the previous document's ({chain.date}): a series' documents are "
            f"dated in the order they are issued."]}})
    return None


def sign(series, signer, ticket, code, number, chain, now):
    """The entry's ``pt`` record: what was signed, its Hash and HashControl, and the QR
    text when the request gave its fields; ``chain`` moves to it."""
    given = ticket.pt
    record = {"invoice_date": given["invoice_date"],
              "system_entry_date": given.get("system_entry_date") or lisbon_moment(now),
              "gross_total": given["gross_total"]}
    signature = document_hash.sign(signer.private_key, signed_text(record, code, chain.hash))
    record.update(hash=signature, hash_control=signer.version,
                  certificate_number=signer.certificate_number)
    if given.get("taxes_total") is not None:
        record["qr_code"] = qr_code.qr_text(_document(series, signer, record, code, number),
                                            _qr_fields(given))
    chain.hash, chain.date = signature, given["invoice_date"]
    return record


def signed_text(record, invoice_no, previous_hash):
    """The message a document's Hash signs, from its fields as they are written in a
    request and stored (``invoice_date``, ``system_entry_date``, ``gross_total``): what is
    signed here, and checked again by ``pt_chain``."""
    return document_hash.message(date.fromisoformat(record["invoice_date"]),
                                 datetime.fromisoformat(record["system_entry_date"]),
                                 invoice_no, Decimal(record["gross_total"]), previous_hash)


def lisbon_moment(now):
    """``now`` (naive UTC) as Lisbon's wall clock, to the second, as the law writes it."""
    local = now.replace(tzinfo=UTC).astimezone(LISBON).replace(tzinfo=None, microsecond=0)
    return local.isoformat(timespec="seconds")


def _document(series, signer, record, code, number):
    doc_type = BY_NAME.get(series.doc_type)
    return {"issuer_nif": series.account_fiscal_id,
            "document_type": doc_type.at_type if doc_type and doc_type.at_type
            else code.split(" ", 1)[0],
            "invoice_date": date.fromisoformat(record["invoice_date"]), "invoice_no": code,
            "atcud": atcud_for(series, number) or "0",
            "gross_total": Decimal(record["gross_total"]),
            "hash_excerpt": document_hash.excerpt(record["hash"]),
            "certificate_number": signer.certificate_number}


def _qr_fields(given):
    """The request's QR fields, amounts as Decimals."""
    fields = {name: given[name] for name in ("customer_nif", "customer_country", "status",
                                             "other_information") if name in given}
    for name in ("not_subject", "stamp_duty", "taxes_total", "withholding"):
        if name in given:
            fields[name] = Decimal(given[name])
    fields["tax_regions"] = [{name: value if name == "region" else Decimal(value)
                              for name, value in region.items()}
                             for region in given.get("tax_regions", [])]
    return fields
