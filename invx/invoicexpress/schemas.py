"""Marshmallow schemas: the InvoiceXpress request body in, the SEQUENCE object out. The
OpenAPI document's schemas of both are generated from them."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from ..json_text import load_json
from ..portugal.document_types import DOC_TYPES


class NumberText(str):
    """A JSON number kept as the text it was written as (``2017`` stays ``"2017"``)."""


def parse_json(data):
    """Parse a request body; JSON numbers that are not integers keep their literal text.

    Raises ``ValueError`` for anything that is not JSON.
    """
    return load_json(data.decode("utf-8"), parse_float=NumberText, parse_int=NumberText,
                     parse_constant=_reject_constant)


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class SerieField(fields.Field):
    """``serie`` as clients send it: a string, or a JSON number (stored as its text). Its
    rules are AT's, checked by the domain (001), not here (003)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):  # NumberText is a str too
            return str(value)
        raise ValidationError("serie must be a string or a number")


class DefaultFlagField(fields.Field):
    """``default_sequence``: "1", 1 or true ask for the default; other values are ignored."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True:
            return True
        return isinstance(value, str) and value.strip() == "1"


class SequenceInSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    serie = SerieField(required=True, allow_none=False, metadata={
        "type": ["string", "number"], "example": "2026",
        "description": "The series name: 1-35 of A-Z a-z 0-9 with single . _ - between "
                       "them (else 001)."})
    default_sequence = DefaultFlagField(load_default=False, allow_none=True, metadata={
        "description": '"1" (or 1, or true) makes it the default; other values are ignored.'})


class SequenceRequestSchema(Schema):
    """``{"sequence": {"serie": ..., "default_sequence": ...}}``."""

    class Meta:
        unknown = EXCLUDE

    sequence = fields.Nested(SequenceInSchema, required=True, allow_none=False)


def _sub_series_fields(doc_type):
    """The three keys of one document type's sub-series."""
    def series(sequence):
        return sequence.series_for(doc_type)

    codes = ("the AT validation code, or N/D when not registered" if doc_type.atcud_relevant
             else "always N/A: not communicated to AT")
    return {
        f"current_{doc_type.name}_number": fields.Function(
            lambda sequence: series(sequence).last_number, required=True, metadata={
                "type": "integer", "minimum": 0,
                "description": "The last number issued in this type's series (0 if none)."}),
        f"current_{doc_type.name}_sequence_id": fields.Function(
            lambda sequence: series(sequence).number_id, required=True, metadata={
                "type": "integer",
                "description": f"The id of this type's series: the sequence id + "
                               f"{doc_type.offset}."}),
        f"current_{doc_type.name}_validation_code": fields.Function(
            lambda sequence: series(sequence).display_code, required=True, metadata={
                "type": "string",
                "description": f"{codes.capitalize()} (N/A for non-Portuguese accounts)."}),
    }


def _sequence_out_fields():
    out = {
        "id": fields.Integer(required=True, metadata={"example": 17}),
        "serie": fields.String(required=True, metadata={"example": "2026"}),
        "default_sequence": fields.Function(
            lambda sequence: int(sequence.is_default), required=True,
            metadata={"type": "integer", "enum": [0, 1]}),
    }
    for doc_type in DOC_TYPES:
        out.update(_sub_series_fields(doc_type))
    return out


# The SEQUENCE object, keys in the order the InvoiceXpress documentation shows them.
SequenceSchema = Schema.from_dict(_sequence_out_fields(), name="SequenceSchema")


# A page of GET /sequences.json: 30 sequences by default (InvoiceXpress's lists' default, and
# decades of yearly series: a client written before the list had pages sees them all), at
# most 100.
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100


class PaginationSchema(Schema):
    """The ``pagination`` object of InvoiceXpress's lists."""

    total_entries = fields.Integer(required=True, metadata={"minimum": 0})
    current_page = fields.Integer(required=True, metadata={"minimum": 1})
    total_pages = fields.Integer(required=True, metadata={"minimum": 0})
    per_page = fields.Integer(required=True, metadata={"minimum": 1,
                                                       "maximum": MAX_PER_PAGE})
