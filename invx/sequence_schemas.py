"""The Sequence Service's bodies: marshmallow schemas in, plain JSON shapes out."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .numbering import atcud

MAX_INDEX = 10**15


class StrictInteger(fields.Integer):
    """A JSON integer: not a string of digits, not a boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class Text(fields.String):
    """A string that can be stored and signed: no NUL (PostgreSQL refuses it in text) and no
    unpaired surrogate (JSON's ``"\\ud800"`` escape, which is not Unicode text)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL (U+0000).")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("Must not contain an unpaired surrogate.") from None
        return text


def _text(length, default=None):
    return Text(load_default=default, allow_none=default is None,
                validate=validate.Length(max=length))


JWS_SHAPE = validate.Regexp(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$",
                            error="Not a compact JWS.")


class SeriesCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = _text(255)
    description = _text(4000)
    code = _text(64)
    prefix = _text(64, "")
    padding = StrictInteger(load_default=0, validate=validate.Range(0, 32))
    suffix = _text(64, "")
    start = StrictInteger(load_default=None, validate=validate.Range(0, MAX_INDEX))
    last_index = StrictInteger(load_default=None, validate=validate.Range(0, MAX_INDEX - 1))
    sig = fields.String(load_default=None, allow_none=True,
                        validate=[validate.Length(max=8192), JWS_SHAPE])

    @validates_schema
    def _start_and_last_index_agree(self, data, **kwargs):
        start, last_index = data.get("start"), data.get("last_index")
        if start is not None and last_index is not None and last_index != start - 1:
            raise ValidationError("last_index must be start - 1 when both are given.",
                                  "last_index")

    def load(self, data, **kwargs):
        loaded = super().load(data, **kwargs)
        last_index = loaded.pop("last_index")
        if loaded["start"] is None:
            loaded["start"] = 1 if last_index is None else last_index + 1
        for name in ("prefix", "suffix"):
            loaded[name] = loaded[name] or ""
        return loaded


class EntryCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    meta = fields.Dict(keys=Text(validate=validate.Length(1, 128)),
                       values=Text(validate=validate.Length(max=4096)),
                       load_default=None, allow_none=True,
                       validate=validate.Length(max=64, error="At most 64 meta keys."))
    sig = fields.String(load_default=None, allow_none=True,
                        validate=[validate.Length(max=8192), JWS_SHAPE])


def timestamp(moment):
    return moment.isoformat(timespec="milliseconds") + "Z"


def series_json(series):
    body = {"id": series.id, "name": series.name, "description": series.description,
            "code": series.code, "prefix": series.prefix, "padding": series.padding,
            "suffix": series.suffix, "start": series.start, "last_index": series.last_number,
            "last_entry_id": series.last_entry_id,
            "sigs": [series.client_sig] if series.client_sig else [],
            "created_at": timestamp(series.created_at), "updated_at": timestamp(series.updated_at)}
    if series.is_invoicexpress:
        body.update(sequence_id=series.number_id, document_type=series.doc_type,
                    validation_code=series.display_code)
    return body


def entry_json(series, entry):
    body = {"id": entry.id, "series_id": entry.series_id, "code": entry.code,
            "meta": entry.meta or {}}
    if entry.previous_id:
        body["previous_id"] = entry.previous_id
    body.update(sigs=entry.sigs, created_at=timestamp(entry.created_at),
                updated_at=timestamp(entry.updated_at))
    if series.is_invoicexpress:
        body.update(number=entry.number, atcud=atcud(series, entry))
    return body
