"""What the Sequence Service answers: each shape as a marshmallow schema (the OpenAPI
document's response schemas are generated from them, unknown keys refused), and how a
series and an entry are written out.

A series is dumped with its schema. An entry is built by ``entry_json``, by hand: it is on
the path of every entry request, where marshmallow's dump cost 22 µs more per entry
(measured against it, session 11); the tests check every shape of its answer against the
document. The verification report and the key set are built by ``verification`` and
``signing``, and checked the same way.
"""
from marshmallow import Schema, fields, post_dump, validate

from ..portugal import document_hash
from .schemas import JWS_PATTERN, MAX_META_KEY, MAX_META_KEYS, MAX_META_VALUE
from .series import atcud_of

UUID = {"format": "uuid"}


class Timestamp(fields.DateTime):
    """UTC, to the millisecond, with a ``Z``: ``2026-01-02T10:00:00.000Z``."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else timestamp(value)


def timestamp(moment):
    return moment.isoformat(timespec="milliseconds") + "Z"


def _signatures(**metadata):
    return fields.List(fields.String(metadata={"description": "A compact JWS.",
                                               "pattern": JWS_PATTERN}),
                       required=True, metadata=metadata)


class SeriesSchema(Schema):
    """A series; an InvoiceXpress sub-series also has its sequence id, type and AT code."""

    id = fields.String(required=True, metadata=UUID)
    name = fields.String(required=True, allow_none=True)
    description = fields.String(required=True, allow_none=True)
    code = fields.String(required=True, allow_none=True, metadata={"example": "SALES-2020"})
    prefix = fields.String(required=True)
    padding = fields.Integer(required=True)
    suffix = fields.String(required=True)
    start = fields.Integer(required=True)
    last_index = fields.Integer(attribute="last_number", required=True,
                                metadata={"description": "The last index used."})
    last_entry_id = fields.String(required=True, allow_none=True, metadata=UUID)
    sigs = _signatures(maxItems=1,
                       description="The client's signature of the series, if it sent one.")
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    sequence_id = fields.Integer(attribute="number_id", metadata={
        "description": "InvoiceXpress sub-series: current_<type>_sequence_id"})
    document_type = fields.String(attribute="doc_type",
                                  metadata={"description": "InvoiceXpress sub-series"})
    validation_code = fields.String(attribute="display_code",
                                    metadata={"description": "AT code, N/D or N/A"})
    pt_signed = fields.Boolean(metadata={
        "description": "A Sequence Service series that signs Portuguese documents (shown "
                       "when true)"})

    @post_dump(pass_original=True)
    def _only_sub_series_name_their_sequence(self, data, series, **kwargs):
        if not series.is_invoicexpress:
            for name in ("sequence_id", "document_type", "validation_code"):
                data.pop(name, None)
        if not data.get("pt_signed"):
            data.pop("pt_signed", None)
        return data


class SignedDocumentSchema(Schema):
    """A signed Portuguese document's identity (Portaria 363/2010 and 195/2020)."""

    invoice_date = fields.String(required=True, metadata={"example": "2026-01-02"})
    system_entry_date = fields.String(required=True, metadata={"example": "2026-01-02T09:15:00"})
    gross_total = fields.String(required=True, metadata={"example": "12.30"})
    hash = fields.String(required=True, metadata={
        "description": "RSA-SHA1 over InvoiceDate;SystemEntryDate;InvoiceNo;GrossTotal;"
                       "<the previous document's Hash>, base64"})
    hash_control = fields.Integer(required=True, metadata={
        "description": "The version of the account's document key that signed"})
    hash_excerpt = fields.String(required=True, metadata={
        "example": "nHPW", "description": "The Hash's characters 1, 11, 21 and 31"})
    certification = fields.String(required=True, metadata={
        "example": "nHPW-Processado por programa certificado n.º 1234/AT"})
    atcud = fields.String(required=True, metadata={"example": "ATCUD:ABCD1234-15"})
    qr_code = fields.String(metadata={"description": "The ATCUD QR code's text, when the "
                                                     "request gave its fields"})


class EntrySchema(Schema):
    """An entry; in an InvoiceXpress sub-series, also its number and ATCUD."""

    id = fields.String(required=True, metadata=UUID)
    series_id = fields.String(required=True, metadata=UUID)
    code = fields.String(required=True, metadata={"example": "INV-00001-F1"})
    # The limits are the request's (they are documented, not checked, on the way out).
    meta = fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_META_KEY)),
                       values=fields.String(validate=validate.Length(max=MAX_META_VALUE)),
                       validate=validate.Length(max=MAX_META_KEYS), required=True)
    previous_id = fields.String(metadata={**UUID, "description": "The entry before it."})
    sigs = _signatures(minItems=1, maxItems=2,
                       description="The server's signature, then the client's.")
    created_at = Timestamp(required=True)
    updated_at = Timestamp(required=True)
    number = fields.Integer(metadata={"description": "InvoiceXpress sub-series"})
    atcud = fields.String(allow_none=True, metadata={
        "example": "ABCD1234-15",
        "description": "InvoiceXpress sub-series of an ATCUD-relevant type"})
    pt = fields.Nested(SignedDocumentSchema, metadata={
        "description": "A series that signs Portuguese documents"})


def entry_json(series, entry):
    """The answer for ``entry`` of ``series`` (a SeriesView or a Series), as EntrySchema."""
    body = {"id": entry.id, "series_id": entry.series_id, "code": entry.code,
            "meta": entry.meta or {}}
    if entry.previous_id:
        body["previous_id"] = entry.previous_id
    body.update(sigs=entry.sigs, created_at=timestamp(entry.created_at),
                updated_at=timestamp(entry.updated_at))
    if series.is_invoicexpress:
        body.update(number=entry.number, atcud=atcud_of(series, entry))
    if entry.pt:
        body["pt"] = pt_json(series, entry)
    return body


def pt_json(series, entry):
    """A signed Portuguese document's ``pt`` answer."""
    signed = entry.pt
    answer = {"invoice_date": signed["invoice_date"],
              "system_entry_date": signed["system_entry_date"],
              "gross_total": signed["gross_total"], "hash": signed["hash"],
              "hash_control": signed["hash_control"],
              "hash_excerpt": document_hash.excerpt(signed["hash"]),
              "certification": document_hash.certification(signed["hash"],
                                                            signed["certificate_number"]),
              "atcud": "ATCUD:" + (atcud_of(series, entry) or "0")}
    if "qr_code" in signed:
        answer["qr_code"] = signed["qr_code"]
    return answer


class EntryPageSchema(Schema):
    series_id = fields.String(required=True, metadata=UUID)
    list = fields.List(fields.Nested(EntrySchema), required=True)
    limit = fields.Integer(required=True)
    cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "The next page's cursor (opaque), or null on the last page."})


class SeriesListSchema(Schema):
    list = fields.List(fields.Nested(SeriesSchema), required=True)
    limit = fields.Integer(required=True)
    cursor = fields.String(required=True, allow_none=True, metadata={
        "description": "The next page's cursor (opaque), or null on the last page."})


class BrokenLinkSchema(Schema):
    number = fields.Integer(required=True)
    entry_id = fields.String(required=True, allow_none=True, metadata=UUID)
    problem = fields.String(required=True)


class CheckpointSchema(Schema):
    """Every entry from the series' start through ``number`` was checked in full (each
    when a verification reached it, the last at ``verified_at``)."""

    number = fields.Integer(required=True)
    entry_id = fields.String(required=True, metadata=UUID)
    verified_at = Timestamp(required=True)


class VerificationSchema(Schema):
    """The verdict, what this verification checked, and what it built on."""

    series_id = fields.String(required=True, metadata=UUID)
    valid = fields.Boolean(required=True, allow_none=True, metadata={"description": (
        "true: every entry of the series is vouched for (by this verification, from the "
        "checkpoint on); false: a link is broken (broken_at); null: no break found, but the "
        "budget ran out with `remaining` entries unchecked (ask again: it goes on from "
        "where this one stopped).")})
    entries = fields.Integer(required=True, metadata={
        "description": "Entries this verification checked in full."})
    first_number = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The first entry checked now (null if none)."})
    last_number = fields.Integer(required=True, allow_none=True, metadata={
        "description": "The last entry checked now (null if none)."})
    verified_through = fields.Integer(required=True, allow_none=True, metadata={
        "description": "Every entry from the start through this number checks out "
                       "(null: none does, or the checkpoint is contradicted)."})
    remaining = fields.Integer(required=True, metadata={
        "description": "Entries after verified_through left unchecked for want of budget."})
    checkpoint = fields.Nested(CheckpointSchema, required=True, allow_none=True, metadata={
        "description": "The checkpoint this verification started from (null: it started "
                       "from the series' start)."})
    checkpoint_rejected = fields.String(metadata={
        "description": "Why the stored checkpoint was ignored (its signature fails)."})
    broken_at = fields.Nested(BrokenLinkSchema)


class JwkSchema(Schema):
    """A public key (P-256), as RFC 7517 writes it."""

    kty = fields.String(required=True)
    crv = fields.String(required=True)
    alg = fields.String(required=True)
    use = fields.String(required=True)
    kid = fields.String(required=True, metadata=UUID)
    x = fields.String(required=True)
    y = fields.String(required=True)


class JwksSchema(Schema):
    keys = fields.List(fields.Nested(JwkSchema), required=True)


class ApiErrorSchema(Schema):
    code = fields.String(required=True, metadata={"example": "conflict"})
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields", metadata={
        "description": "What is wrong with each field (422)."})
