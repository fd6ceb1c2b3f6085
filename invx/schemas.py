"""Marshmallow schemas: the InvoiceXpress request body in, the SEQUENCE object out."""
import json

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from .doctypes import DOC_TYPES


class NumberText(str):
    """A JSON number kept as the text it was written as (``2017`` stays ``"2017"``)."""


def parse_json(data):
    """Parse a request body; JSON numbers that are not integers keep their literal text.

    Raises ``ValueError`` for anything that is not JSON.
    """
    return load_json(data.decode("utf-8"), parse_float=NumberText, parse_int=NumberText,
                     parse_constant=_reject_constant)


def load_json(data, **options):
    """``json.loads``, with arrays or objects nested deeper than the parser goes refused
    as ``ValueError`` too (it raises RecursionError), like any other body that is not JSON."""
    try:
        return json.loads(data, **options)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


class SerieField(fields.Field):
    """``serie`` as clients send it: a string, or a JSON number (stored as its text)."""

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

    serie = SerieField(required=True, allow_none=False)
    default_sequence = DefaultFlagField(load_default=False, allow_none=True)


class SequenceRequestSchema(Schema):
    """``{"sequence": {"serie": ..., "default_sequence": ...}}``."""

    class Meta:
        unknown = EXCLUDE

    sequence = fields.Nested(SequenceInSchema, required=True, allow_none=False)


def _sequence_out_fields():
    out = {
        "id": fields.Integer(),
        "serie": fields.String(),
        "default_sequence": fields.Function(lambda sequence: int(sequence.is_default)),
    }
    for doc_type in DOC_TYPES:
        def series(sequence, doc_type=doc_type):
            return sequence.series_for(doc_type)
        out[f"current_{doc_type.name}_number"] = fields.Function(
            lambda seq, series=series: series(seq).last_number)
        out[f"current_{doc_type.name}_sequence_id"] = fields.Function(
            lambda seq, series=series: series(seq).number_id)
        out[f"current_{doc_type.name}_validation_code"] = fields.Function(
            lambda seq, series=series: series(seq).display_code)
    return out


# The SEQUENCE object, keys in the order the InvoiceXpress documentation shows them.
SequenceSchema = Schema.from_dict(_sequence_out_fields(), name="SequenceSchema")
