"""Blueprint: the Sequence Service API (``/sequence/v1/...``) — thin views."""
import base64
import uuid
from datetime import datetime

from flask import Blueprint, Response, current_app, g, request
from marshmallow import ValidationError

from .. import config, errors, logs, rate_limits, request_body
from ..auth import (
    account_for_key,
    bearer_key,
    key_digest,
    key_gate,
)
from ..http import ascii_integer, json_response
from ..json_text import load_json
from ..portugal import qr_picture
from ..read_replica import lag_tolerant
from . import issuing, series, signing
from .answers import SeriesSchema, entry_json
from .chain import Budget
from .schemas import (
    DEFAULT_LIMIT,
    DEFAULT_SERIES_LIMIT,
    MAX_LIMIT,
    EntryCreateSchema,
    SeriesCreateSchema,
)
from .verification import verify_from_checkpoint

bp = Blueprint("sequence_service", __name__, url_prefix="/sequence/v1")
series_request = SeriesCreateSchema()
entry_request = EntryCreateSchema()
series_answer = SeriesSchema()
PUBLIC = {"sequence_service.keys"}
# Checks the key itself, in the transaction that writes the entry (see issuing).
AUTHENTICATED_BY_VIEW = {"sequence_service.create_entry"}


@bp.before_request
def _before():
    if request.endpoint in PUBLIC:
        return
    # The entry PUT checks its key in its own transaction; a rate limit counts by account,
    # so it is known first then (one more look-up, only with INVX_RATE_LIMIT set).
    if request.endpoint in AUTHENTICATED_BY_VIEW and not rate_limits.enabled(current_app):
        if request_body.has_body(request.environ) and not key_gate.known(
                _request_key(), _request_digest()):
            raise errors.ApiUnauthorized()  # not one byte of a body is read for an unknown key
        return
    _authenticate()
    rate_limits.count(current_app, g.account)


def _request_key():
    return bearer_key(request.headers.get("Authorization"))


def _request_digest():
    """The digest of the request's key (an HMAC: made once per request, then kept)."""
    if "key_digest" not in g:
        g.key_digest = key_digest(_request_key())
    return g.key_digest


def _authenticate():
    key = _request_key()
    account = account_for_key(key) if key_gate.known(key) else None
    if account is None:
        raise errors.ApiUnauthorized()
    g.account = account
    logs.note(account=account.name)


def _body(schema, required):
    data = request_body.read()
    if not data and not required:  # no body at all; whitespace is a body that is not JSON
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
    limit = _limit(request.args.get("limit"), DEFAULT_SERIES_LIMIT)
    after = _series_cursor(request.args.get("cursor"))
    found, next_after = series.list_series(g.account, limit, after)
    return json_response({
        "list": series_answer.dump(found, many=True), "limit": limit,
        "cursor": _make_series_cursor(next_after) if next_after else None})


@bp.put("/series/<series_id>")
def create_series(series_id):
    created = series.create_series(g.account, series_id, _body(series_request, required=True))
    return json_response(series_answer.dump(created))


@bp.get("/series/<series_ref>")
def get_series(series_ref):
    return json_response(series_answer.dump(series.find_series(g.account, series_ref)))


@bp.get("/series/<series_ref>/verify")
@lag_tolerant
def verify(series_ref):
    settings = config.current()
    budget = Budget(settings.verify_max_entries, settings.verify_seconds)
    return json_response(verify_from_checkpoint(series.find_series(g.account, series_ref),
                                                settings.secret_key, budget))


@bp.put("/series/<series_ref>/entries/<entry_id>")
def create_entry(series_ref, entry_id):
    digest = _request_digest()
    if digest is None:
        raise errors.ApiUnauthorized()
    try:
        entry_id = series.canonical_uuid(entry_id)
        body = _body(entry_request, required=False)
    except errors.ApiError:
        _authenticate()  # a bad key is told 401 before what is wrong with the request
        raise
    secret_key = config.current().secret_keys  # and the previous ones: they open the signing key
    try:
        view, entry = issuing.issue_entry(digest, series_ref, entry_id, body["meta"],
                                          body["sig"], secret_key, body["pt"])
    except errors.ApiUnauthorized:
        # The key's keyed digest is unknown: account_for_key converts it if it is stored as
        # it was before migration 0007, and the entry is tried again under the new digest.
        if account_for_key(_request_key()) is None:
            raise
        view, entry = issuing.issue_entry(_request_digest(), series_ref, entry_id, body["meta"],
                                          body["sig"], secret_key, body["pt"])
    logs.note(account=view.account, series=view.id, number=entry.number)
    return json_response(entry_json(view, entry))


@bp.get("/series/<series_ref>/entries/<entry_id>")
def get_entry(series_ref, entry_id):
    found, entry = series.get_entry(g.account, series_ref, entry_id)
    return json_response(entry_json(found, entry))


@bp.get("/series/<series_ref>/entries/<entry_id>/qr.<kind>")
def entry_qr_code(series_ref, entry_id, kind):
    """The entry's ATCUD QR code, drawn (SVG or PNG)."""
    if kind not in qr_picture.KINDS:
        raise errors.ApiNotFound("A QR code is drawn as qr.svg or qr.png.")
    _, entry = series.get_entry(g.account, series_ref, entry_id)
    text = (entry.pt or {}).get("qr_code")
    if text is None:
        raise errors.ApiNotFound("This entry has no QR code: its request gave no QR fields.")
    response = Response(qr_picture.draw(text, kind), content_type=qr_picture.KINDS[kind])
    response.headers["Cache-Control"] = "private, max-age=86400"  # a document never changes
    return response


@bp.get("/series/<series_ref>/entries")
@lag_tolerant
def list_entries(series_ref):
    limit = _limit(request.args.get("limit"))
    before = _cursor(request.args.get("cursor"))
    found, entries, next_before = series.list_entries(g.account, series_ref, limit, before)
    return json_response({
        "series_id": found.id, "list": [entry_json(found, e) for e in entries],
        "limit": limit, "cursor": _make_cursor(next_before) if next_before else None})


@bp.get("/keys")
@lag_tolerant
def keys():
    return json_response(signing.jwks())


def _limit(value, default=DEFAULT_LIMIT):
    """The page size a ``limit`` parameter asks for; given, even empty, it must be one."""
    if value is None:
        return default
    limit = ascii_integer(value)
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise errors.ApiInvalid(fields={"limit": f"an integer from 1 to {MAX_LIMIT}"})
    return limit


# Cursors are opaque to clients: "<kind>:<position>", base64url without padding.

def _make_cursor(before, kind="before"):
    return base64.urlsafe_b64encode(f"{kind}:{before}".encode()).decode().rstrip("=")


def _cursor_position(value, kind):
    """What a cursor of ``kind`` holds, or None for no cursor (an empty one is 422); 422
    for another."""
    if value is None:
        return None
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("ascii")
    except ValueError:  # not base64, not ASCII (UnicodeDecodeError included)
        text = ""
    found, _, position = text.partition(":")
    if found != kind:
        raise errors.ApiInvalid(fields={"cursor": "not a cursor this API gave"})
    return position


def _cursor(value):
    """The number a page of entries starts below."""
    position = _cursor_position(value, "before")
    if position is None:
        return None
    number = ascii_integer(position)
    if number is None:
        raise errors.ApiInvalid(fields={"cursor": "not a cursor this API gave"})
    return number


def _make_series_cursor(after):
    created_at, series_id = after
    return _make_cursor(f"{created_at.isoformat()}/{series_id}", kind="after")


def _series_cursor(value):
    """The (created_at, id) of the series a page of series starts after."""
    position = _cursor_position(value, "after")
    if position is None:
        return None
    moment, _, series_id = position.partition("/")
    try:
        created_at, series_id = datetime.fromisoformat(moment), str(uuid.UUID(series_id))
    except ValueError:
        created_at = None
    if created_at is None or created_at.tzinfo is not None:  # invx's times are naive UTC
        raise errors.ApiInvalid(fields={"cursor": "not a cursor this API gave"})
    return created_at, series_id
