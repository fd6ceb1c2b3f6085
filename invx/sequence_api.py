"""Blueprint: the Sequence Service API (``/sequence/v1/...``) — thin views."""
import base64

from flask import Blueprint, current_app, g, request
from marshmallow import ValidationError

from . import errors, issuing, numbering, signing
from .auth import account_for_bearer, bearer_key, key_digest
from .schemas import load_json
from .sequence_schemas import EntryCreateSchema, SeriesCreateSchema, entry_json, series_json
from .verification import verify_series

bp = Blueprint("sequence_api", __name__, url_prefix="/sequence/v1")
series_schema = SeriesCreateSchema()
entry_schema = EntryCreateSchema()
DEFAULT_LIMIT, MAX_LIMIT = 20, 100
PUBLIC = {"sequence_api.keys"}
# Checks the key itself, in the transaction that writes the entry (see issuing).
AUTHENTICATED_BY_VIEW = {"sequence_api.create_entry"}
NOT_AUTHENTICATED_BEFORE = PUBLIC | AUTHENTICATED_BY_VIEW


@bp.before_request
def _before():
    if request.endpoint not in NOT_AUTHENTICATED_BEFORE:
        _authenticate()


def _authenticate():
    account = account_for_bearer(request.headers.get("Authorization"))
    if account is None:
        raise errors.ApiUnauthorized()
    g.account = account


def _body(schema, required):
    data = request.get_data()
    if not data.strip() and not required:
        payload = {}
    else:
        try:
            payload = load_json(data)  # UTF-8, -16 or -32, as RFC 8259 allows
        except ValueError:  # not JSON, not text, or nested too deeply
            raise errors.ApiError("The body is not JSON.") from None
    if not isinstance(payload, dict):
        raise errors.ApiError("The body must be a JSON object.")
    try:
        return schema.load(payload)
    except ValidationError as error:
        raise errors.ApiInvalid(fields=error.messages) from None


@bp.get("/series")
def list_series():
    return errors.json_response(
        {"list": [series_json(s) for s in numbering.list_series(g.account)]})


@bp.put("/series/<series_id>")
def create_series(series_id):
    series = numbering.create_series(g.account, series_id, _body(series_schema, required=True))
    return errors.json_response(series_json(series))


@bp.get("/series/<series_ref>")
def get_series(series_ref):
    return errors.json_response(series_json(numbering.find_series(g.account, series_ref)))


@bp.get("/series/<series_ref>/verify")
def verify(series_ref):
    return errors.json_response(verify_series(numbering.find_series(g.account, series_ref)))


@bp.put("/series/<series_ref>/entries/<entry_id>")
def create_entry(series_ref, entry_id):
    digest = key_digest(bearer_key(request.headers.get("Authorization")))
    if digest is None:
        raise errors.ApiUnauthorized()
    try:
        entry_id = numbering.canonical_uuid(entry_id)
        body = _body(entry_schema, required=False)
    except errors.ApiError:
        _authenticate()  # a bad key is told 401 before what is wrong with the request
        raise
    series, entry = issuing.issue_entry(digest, series_ref, entry_id, body["meta"], body["sig"],
                                        current_app.config["INVX_SECRET_KEY"])
    return errors.json_response(entry_json(series, entry))


@bp.get("/series/<series_ref>/entries/<entry_id>")
def get_entry(series_ref, entry_id):
    series, entry = numbering.get_entry(g.account, series_ref, entry_id)
    return errors.json_response(entry_json(series, entry))


@bp.get("/series/<series_ref>/entries")
def list_entries(series_ref):
    limit = _limit(request.args.get("limit"))
    before = _cursor(request.args.get("cursor"))
    series, entries, next_before = numbering.list_entries(g.account, series_ref, limit, before)
    return errors.json_response({
        "series_id": series.id, "list": [entry_json(series, e) for e in entries],
        "limit": limit, "cursor": _make_cursor(next_before) if next_before else None})


@bp.get("/keys")
def keys():
    return errors.json_response(signing.jwks())


def _limit(value):
    if value is None or value == "":
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise errors.ApiInvalid(fields={"limit": f"an integer from 1 to {MAX_LIMIT}"})
    return int(value)


def _make_cursor(before):
    return base64.urlsafe_b64encode(f"before:{before}".encode()).decode().rstrip("=")


def _cursor(value):
    """The number a page starts below; the cursor is opaque to clients."""
    if not value:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
        kind, _, number = text.partition(":")
        if kind == "before" and number.isdigit():
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise errors.ApiInvalid(fields={"cursor": "not a cursor this API gave"})
