"""The ``pt`` object of an entry request: what a Portuguese document's signature and QR
code need besides its number (``pt_documents`` signs it). Loaded into plain JSON values
(dates and amounts as the law writes them), which are also what the request's digest
covers, so an idempotent retry is recognised by them."""
import re
from datetime import date, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ..countries import is_country_code
from ..portugal.qr_code import MAX_REGIONS, STATUSES, TAX_REGIONS, UNKNOWN_COUNTRY
from .schemas import Text, WholeMatch

AMOUNT = WholeMatch(r"^[0-9]{1,13}\.[0-9]{2}$",
                    error="An amount in euros with two decimals and a point, as a string: "
                          "\"1234.50\".")
QR_FIELDS = ("customer_nif", "customer_country", "status", "tax_regions", "not_subject",
             "stamp_duty", "taxes_total", "withholding", "other_information")


def _amount(description):
    return fields.String(load_default=None, validate=AMOUNT,
                         metadata={"description": description, "example": "12.30"})


class _Written(fields.String):
    """A date or time as the law writes it, kept as that text once it is checked real."""

    PATTERN, PARSE, ERROR = None, None, None

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": self.PATTERN.pattern, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if not self.PATTERN.fullmatch(text):
                raise ValueError(text)
            type(self).PARSE(text)
        except ValueError:
            raise ValidationError(self.ERROR) from None
        return text


class Day(_Written):
    """``YYYY-MM-DD``."""

    PATTERN, PARSE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"), date.fromisoformat
    ERROR = "A date, YYYY-MM-DD."


class Moment(_Written):
    """``YYYY-MM-DDThh:mm:ss``, Lisbon's wall clock, no fraction, no time zone."""

    PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
    PARSE = datetime.fromisoformat
    ERROR = "A time, YYYY-MM-DDThh:mm:ss (Lisbon's, no fraction, no time zone)."


class Country(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text != UNKNOWN_COUNTRY and not is_country_code(text):
            raise ValidationError(f"An ISO 3166-1 alpha-2 code, or {UNKNOWN_COUNTRY}.")
        return text


class TaxRegionSchema(Schema):
    """One tax region's VAT lines (the QR code's I, J or K block)."""

    class Meta:
        unknown = EXCLUDE

    region = fields.String(required=True, validate=validate.OneOf(TAX_REGIONS))
    exempt_base = _amount("The base exempt from VAT (I2).")
    reduced_base = _amount("The base at the reduced rate (I3).")
    reduced_vat = _amount("Its VAT (I4).")
    intermediate_base = _amount("The base at the intermediate rate (I5).")
    intermediate_vat = _amount("Its VAT (I6).")
    normal_base = _amount("The base at the normal rate (I7).")
    normal_vat = _amount("Its VAT (I8).")


class PtSchema(Schema):
    """A Portuguese document's own fields; ``taxes_total`` with any of the QR fields makes
    the QR code."""

    class Meta:
        unknown = EXCLUDE

    invoice_date = Day(required=True, metadata={
        "example": "2026-01-02",
        "description": "The document's date: never before the series' previous one."})
    gross_total = fields.String(required=True, validate=AMOUNT, metadata={"example": "12.30"})
    system_entry_date = Moment(load_default=None, metadata={
        "example": "2026-01-02T09:15:00",
        "description": "When the document was recorded (Lisbon time); default: when the "
                       "entry is written."})
    customer_nif = Text(load_default=None, validate=validate.Length(1, 30), metadata={
        "description": "The customer's NIF; default 999999990, a final consumer."})
    customer_country = Country(load_default=None, validate=validate.Length(2, 12))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    tax_regions = fields.List(fields.Nested(TaxRegionSchema), load_default=None,
                              validate=validate.Length(1, MAX_REGIONS))
    not_subject = _amount("Not subject to, or not liable for, VAT (L).")
    stamp_duty = _amount("Stamp duty (M).")
    taxes_total = _amount("The total of taxes (N): with it, the answer has the QR code.")
    withholding = _amount("Withholding tax (P).")
    other_information = Text(load_default=None, validate=validate.Length(1, 65))

    @validates_schema
    def _qr_needs_taxes_total(self, data, **kwargs):
        given = [name for name in QR_FIELDS if data.get(name) is not None]
        if given and data.get("taxes_total") is None:
            raise ValidationError(f"Needed for the QR code ({given[0]} was given).",
                                  "taxes_total")

    def load(self, data, **kwargs):
        loaded = super().load(data, **kwargs)
        if loaded.get("tax_regions"):
            loaded["tax_regions"] = [{name: value for name, value in region.items()
                                      if value is not None} for region in loaded["tax_regions"]]
        return {name: value for name, value in loaded.items() if value is not None}
