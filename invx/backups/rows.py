"""Each kind of row as ``invx export`` writes it: one JSON object, with its ``type``.

Never a secret: the account's API key digest, the sealed AT password and client key, and
the server's private signing keys are left out; of the Tax Authority settings only the
ones named in ``PUBLIC_AT_SETTINGS`` are written (a setting added later stays out until it
is named there). Internal bookkeeping (leases, request digests) is left out too.
"""
from ..sequence_service.answers import timestamp
from ..sequence_service.series import atcud_of

# Of an account's tax_authority_config: what is not secret (the rest is, or may be).
PUBLIC_AT_SETTINGS = ("endpoint", "username", "software_certificate", "series_type")


def _time(moment):
    return None if moment is None else timestamp(moment)


def account_row(account):
    stored = account.tax_authority_config or {}
    return {"type": "account", "name": account.name, "country": account.country,
            "fiscal_id": account.fiscal_id, "tax_authority": account.tax_authority,
            "tax_authority_settings": {name: stored[name] for name in PUBLIC_AT_SETTINGS
                                       if name in stored},
            "client_certificate": "client_cert_pem" in stored,
            "created_at": _time(account.created_at),
            "key_rotated_at": _time(account.key_rotated_at)}


def sequence_row(sequence, default_pk):
    return {"type": "sequence", "id": sequence.id, "serie": sequence.serie,
            "state": sequence.state, "default": sequence.pk == default_pk,
            "closed_as": sequence.closed_as, "closed_at": _time(sequence.closed_at),
            "created_at": _time(sequence.created_at), "updated_at": _time(sequence.updated_at)}


def series_row(series, sequence_id):
    """A series; ``sequence_id`` is its InvoiceXpress sequence's id (None: a Sequence
    Service series)."""
    return {"type": "series", "id": series.id, "sequence_id": sequence_id,
            "document_type": series.doc_type, "number_id": series.number_id,
            "name": series.name, "description": series.description, "code": series.code,
            "prefix": series.prefix, "padding": series.padding, "suffix": series.suffix,
            "start": series.start, "last_number": series.last_number,
            "last_entry_id": series.last_entry_id, "sigs": series.sigs,
            "at_status": series.at_status, "validation_code": series.validation_code,
            "registered_by": series.registered_by,
            "registered_at": _time(series.registered_at),
            "created_at": _time(series.created_at), "updated_at": _time(series.updated_at)}


def entry_row(series, entry):
    """An entry of ``series`` (an Entry, or a row of its table): the one place an entry
    becomes JSON in an export. A signed Portuguese document also has ``saft``: its fields
    as SAF-T(PT) names them."""
    sigs = [entry.sig] + ([entry.client_sig] if entry.client_sig else [])
    atcud = atcud_of(series, entry)
    row = {"type": "entry", "id": entry.id, "series_id": entry.series_id,
           "number": entry.number, "code": entry.code, "atcud": atcud,
           "previous_id": entry.previous_id, "meta": entry.meta or {}, "sigs": sigs,
           "created_at": _time(entry.created_at), "updated_at": _time(entry.updated_at)}
    if entry.pt:
        signed = entry.pt
        row["saft"] = {"InvoiceNo": entry.code, "ATCUD": atcud or "0",
                       "Hash": signed["hash"], "HashControl": str(signed["hash_control"]),
                       "InvoiceDate": signed["invoice_date"],
                       "SystemEntryDate": signed["system_entry_date"],
                       "GrossTotal": signed["gross_total"]}
    return row


def at_call_row(call, outcome):
    """A call to the Tax Authority, with the outcome ``invx at-log`` shows."""
    return {"type": "at_call", "id": call.id, "at": _time(call.created_at),
            "adapter": call.adapter, "operation": call.operation, "serie": call.serie,
            "doc_class": call.doc_class, "doc_type": call.doc_type, "outcome": outcome,
            "result_code": call.result_code, "validation_code": call.validation_code,
            "duration_ms": call.duration_ms, "message": call.message}


def document_key_row(key):
    """A version of the account's document key: its public half, which verifies the Hash
    of the documents whose HashControl it is (its private half is never written)."""
    return {"type": "document_key", "hash_control": key.version,
            "public_key": key.public_key, "certificate_number": key.certificate_number,
            "created_at": _time(key.created_at)}


def signing_key_row(key):
    """A public key that signs entries (its private half is never written)."""
    return {"type": "signing_key", "id": key.id, "public_jwk": key.public_jwk,
            "created_at": _time(key.created_at)}
