"""The Sequence Service's request bodies, as marshmallow schemas: they validate what comes
in, and the OpenAPI document's request schemas are generated from them (``answers`` holds
what goes out)."""
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

MAX_INDEX = 10**15
DEFAULT_LIMIT, MAX_LIMIT = 20, 100  # entries in a page of GET .../entries
MAX_META_KEYS, MAX_META_KEY, MAX_META_VALUE = 64, 128, 4096  # an entry's meta
# Series in a page of GET /series: by default as many as a page may hold, so that a client
# written before the list had pages still sees every series of a usual account.
DEFAULT_SERIES_LIMIT = MAX_LIMIT


class StrictInteger(fields.Integer):
    """A JSON integer: not a string of digits, not a boolean."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("Not a valid integer.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """A JSON boolean: not 0 or 1, not "true"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


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


def _text(length, default=None, example=None):
    return Text(load_default=default, allow_none=default is None,
                validate=validate.Length(max=length),
                metadata={"example": example} if example else {})


class WholeMatch(validate.Regexp):
    """A regular expression the whole value matches, as JSON Schema's ``pattern`` with ``^``
    and ``$`` means: Python's ``$`` also matches before a final newline."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# RFC 7515's compact serialization: three base64url parts (the payload may be detached,
# and an unsecured JWS has no signature).
JWS_PATTERN = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$"
JWS_SHAPE = WholeMatch(JWS_PATTERN, error="Not a compact JWS.")


class SeriesCreateSchema(Schema):
    """``PUT /sequence/v1/series/{uuid}``: unknown keys are ignored."""

    class Meta:
        unknown = EXCLUDE

    name = _text(255)
    description = _text(4000)
    code = _text(64, example="SALES-2020")
    prefix = _text(64, "", example="INV-")
    padding = StrictInteger(load_default=0, validate=validate.Range(0, 32),
                            metadata={"example": 5})
    suffix = _text(64, "", example="-F1")
    start = StrictInteger(load_default=None, validate=validate.Range(0, MAX_INDEX),
                          metadata={"default": 1, "description": "The first index; 1, or "
                                                               "last_index + 1, if not given."})
    last_index = StrictInteger(load_default=None, validate=validate.Range(0, MAX_INDEX - 1),
                               metadata={"description": "start - 1, the other way to say it."})
    sig = fields.String(load_default=None, allow_none=True,
                        validate=[validate.Length(max=8192), JWS_SHAPE],
                        metadata={"description": "The client's compact JWS over the series."})
    pt_signed = StrictBoolean(load_default=False, metadata={
        "description": "Sign each entry as a Portuguese document (its request then carries "
                       "pt), with the account's document key. The codes should then be "
                       "InvoiceNo's: \"FT 2026/\" as prefix."})

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
        if not loaded["pt_signed"]:  # kept out of the request's digest, as before it was
            del loaded["pt_signed"]
        return loaded


class EntryCreateSchema(Schema):
    """``PUT .../entries/{uuid}``: optional, as is its body; unknown keys are ignored."""

    class Meta:
        unknown = EXCLUDE

    meta = fields.Dict(keys=Text(validate=validate.Length(1, MAX_META_KEY)),
                       values=Text(validate=validate.Length(max=MAX_META_VALUE)),
                       load_default=None, allow_none=True,
                       validate=validate.Length(max=MAX_META_KEYS,
                                                error=f"At most {MAX_META_KEYS} meta keys."),
                       metadata={"description": "The client's own fields, kept with the "
                                                "entry (strings)."})
    sig = fields.String(load_default=None, allow_none=True,
                        validate=[validate.Length(max=8192), JWS_SHAPE],
                        metadata={"description": "The client's compact JWS over the entry."})
    pt = fields.Nested("PtSchema", load_default=None, allow_none=True, metadata={
        "description": "A Portuguese document's own fields: required in a series that signs "
                       "documents (an InvoiceXpress series of an ATCUD type, once its "
                       "account has a document key), refused elsewhere."})

    def load(self, data, **kwargs):
        """The common body (none, or a meta of a few plain strings, and no ``sig``) is
        checked here, by the same rules: marshmallow took 87 µs for it, a third of what an
        entry request costs invx before its batch (session 14). Any other body, and any
        body that breaks a rule, goes through marshmallow, which names what is wrong."""
        if not kwargs and type(data) is dict:
            plain = _plain_entry(data)
            if plain is not None:
                return plain
        return super().load(data, **kwargs)


def _plain_entry(data):
    """What ``EntryCreateSchema`` loads from ``data`` if it has no ``sig`` and a ``meta``
    that surely passes (or none); else None."""
    if data.get("sig") is not None or data.get("pt") is not None:
        return None
    meta = data.get("meta")
    if meta is not None:
        if type(meta) is not dict or len(meta) > MAX_META_KEYS:
            return None
        for name, value in meta.items():
            if not (type(name) is str and type(value) is str
                    and 1 <= len(name) <= MAX_META_KEY and len(value) <= MAX_META_VALUE
                    and _plain_text(name) and _plain_text(value)):
                return None
        meta = dict(meta)
    return {"meta": meta, "sig": None, "pt": None}


def _plain_text(text):
    """What ``Text`` lets through: no NUL, no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


from .pt_schema import PtSchema  # noqa: E402, F401 (the entry's "pt", named above)
