"""The entry body's quick check (``schemas._plain_entry``) loads exactly what marshmallow
would, and leaves everything else to it."""
from hypothesis import example, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from invx.sequence_service.schemas import MAX_META_KEYS, EntryCreateSchema

SCHEMA = EntryCreateSchema()
TEXT = st.text(max_size=12) | st.sampled_from(["", "a\x00b", "\ud800", "x" * 129, "é"])
VALUES = TEXT | st.integers() | st.none() | st.booleans() | st.lists(st.integers(), max_size=2)
META = (st.dictionaries(TEXT, VALUES, max_size=4) | st.none() | VALUES
        | st.just({f"k{n}": "v" for n in range(MAX_META_KEYS + 1)}))
PT = st.none() | VALUES | st.just({"invoice_date": "2026-01-02", "gross_total": "1.00"})
BODIES = st.fixed_dictionaries({}, optional={"meta": META, "sig": st.none() | TEXT,
                                             "pt": PT, "other": VALUES})


def _marshmallow(body):
    """What marshmallow itself makes of ``body``: the load, or its error messages."""
    try:
        return Schema.load(SCHEMA, body)
    except ValidationError as error:
        return error.messages


@settings(max_examples=400, deadline=None)
@given(BODIES)
@example({"meta": {"x" * 128: "v" * 4096}})  # at each limit
@example({"meta": {"x" * 129: "v"}})  # just past them
@example({"meta": {"k": "v" * 4097}})
@example({"meta": {"": "v"}})
@example({"meta": {"k\x00": "v"}})
@example({"meta": {"k": "\ud800"}})
@example({"meta": {f"k{n}": "v" for n in range(MAX_META_KEYS)}})
def test_the_quick_check_loads_what_marshmallow_loads(body):
    try:
        loaded = SCHEMA.load(body)
    except ValidationError as error:
        loaded = error.messages
    assert loaded == _marshmallow(body)


def test_a_plain_body_takes_the_quick_path(monkeypatch):
    def not_called(*args, **kwargs):
        raise AssertionError("marshmallow was called")

    monkeypatch.setattr(Schema, "load", not_called)
    assert SCHEMA.load({}) == {"meta": None, "sig": None, "pt": None}
    assert SCHEMA.load({"meta": {"client": "7"}, "extra": 1}) == {"meta": {"client": "7"},
                                                                  "sig": None, "pt": None}
