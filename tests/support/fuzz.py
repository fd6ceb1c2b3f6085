"""What the fuzz test (tests/test_fuzz.py) needs besides schemathesis: the credentials a
case is sent with, and resources that exist, so that generated paths reach them too."""

import re

from hypothesis import strategies as st

from .invoicexpress import create
from .sequence_service import API, SALES, put_entry, put_series

UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
# Keys no account holds: well-formed, too short, with a space, and none at all.
MADE_UP_KEYS = ("0123456789abcdef0123456789abcdef01234567", "short", "two words key here!",
                None)


def authorize(case, key):
    """Give ``case`` ``key`` (None: no key) where its API takes it: the query's ``api_key``,
    or a Bearer token. Not to a case that tests a missing or malformed credential."""
    if case.operation.schema.is_security_param_negated(case):
        return
    sequence_service = case.operation.path.startswith(API)
    container = "headers" if sequence_service else "query"
    name = "Authorization" if sequence_service else "api_key"
    values = {k: v for k, v in (getattr(case, container) or {}).items() if k != name}
    if key is not None:
        values[name] = f"Bearer {key}" if sequence_service else key
    setattr(case, container, values)


class Known:
    """Ids that exist in ``acme``'s account: a generated path names one of them a good part
    of the time (random ids alone would almost only ever find 404)."""

    def __init__(self):
        self.ids = {}

    def fill(self, client, key):
        """Create a registered sequence, the ``SALES`` series and an entry of each."""
        auth = {"Authorization": f"Bearer {key}"}
        sequence = create(client, key, "2026").get_json()["sequence"]
        put_series(client, auth)
        entry = put_entry(client, auth).get_json()
        sub_series = str(sequence["current_invoice_sequence_id"])
        sub_entry = put_entry(client, auth, series=sub_series).get_json()
        self.ids = {"sequence": [sequence["id"]], "series": [SALES, sub_series],
                    "entry": [entry["id"], sub_entry["id"]]}

    def clear(self):
        self.ids = {}

    def path_parameters(self, context, path_parameters):
        """The schemathesis hook (``flatmap_path_parameters``). Only a valid value may give
        way to a known one: an invalid one is a negative case's point."""
        path = context.operation.path
        choices = {}
        for name, value in (path_parameters or {}).items():
            kind = self._kind(path, name)
            known = self.ids.get(kind) if self._valid(kind, value) else None
            choices[name] = st.sampled_from([value, *known]) if known else st.just(value)
        return st.fixed_dictionaries(choices)

    @staticmethod
    def _kind(path, name):
        if not path.startswith(API):
            return "sequence"
        return "series" if name == "series_id" or "/entries" not in path else "entry"

    @staticmethod
    def _valid(kind, value):
        if kind == "sequence":
            return isinstance(value, int) and not isinstance(value, bool)
        if kind == "entry":
            return isinstance(value, str) and UUID.fullmatch(value) is not None
        return isinstance(value, str)
