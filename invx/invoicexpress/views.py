"""Blueprint: the InvoiceXpress ``sequences`` resource (``/sequences*.json``)."""
from flask import Blueprint, abort, current_app, g, request
from marshmallow import ValidationError

from .. import config, errors, logs, rate_limits, request_body
from ..auth import authenticate
from ..http import ascii_integer, empty_response, json_response
from . import sequences
from .schemas import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    PaginationSchema,
    SequenceRequestSchema,
    SequenceSchema,
    parse_json,
)

bp = Blueprint("invoicexpress", __name__)
sequence_schema = SequenceSchema()
request_schema = SequenceRequestSchema()
pagination_schema = PaginationSchema()


@bp.before_request
def _authenticate():
    # The Host header as sent: Werkzeug's request.host falls back to the server's own name
    # for a host with a port it cannot read (alpha.app.example.com:99999), which would
    # name no account.
    account = authenticate(request.args.get("api_key"), request.headers.get("Host", ""),
                           config.current().account_domain)
    if account is None:
        abort(401)
    g.account = account
    logs.note(account=account.name)
    rate_limits.count(current_app, account)


def _sequence_body():
    try:
        return request_schema.load(parse_json(request_body.read()))["sequence"]
    except (ValueError, ValidationError):
        raise errors.InvalidSequence("the body is not {\"sequence\": {\"serie\": ...}}") from None


def _page_parameter(name, default):
    """A page parameter: a positive integer, or 404 with an empty body, as InvoiceXpress
    answers a page that cannot be (its lists are will_paginate's, whose invalid page is a
    404)."""
    value = request.args.get(name)
    if value is None:
        return default
    number = ascii_integer(value)
    if number is None or number < 1:
        abort(404)
    return number


@bp.get("/sequences.json")
def list_sequences():
    page = _page_parameter("page", 1)
    per_page = min(_page_parameter("per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
    listed = sequences.list_sequences(g.account, page, per_page)
    return json_response({"sequences": sequence_schema.dump(listed.sequences, many=True),
                          "pagination": pagination_schema.dump(listed)})


@bp.get("/sequences/<int:sequence_id>.json")
def get_sequence(sequence_id):
    sequence = sequences.get_sequence(g.account, sequence_id)
    return json_response({"sequence": sequence_schema.dump(sequence)})


@bp.post("/sequences.json")
def create_sequence():
    body = _sequence_body()
    sequence = sequences.create_sequence(g.account, body["serie"], config.current(),
                                         make_default=body["default_sequence"])
    return json_response({"sequence": sequence_schema.dump(sequence)}, 201)


@bp.put("/sequences/<int:sequence_id>/set_current.json")
def set_current(sequence_id):
    sequences.set_default(g.account, sequence_id)  # a body, if any, is ignored
    return empty_response(200)


@bp.put("/sequences/<int:sequence_id>/register.json")
@errors.errors_wrapped
def register(sequence_id):
    sequence = sequences.register_missing(g.account, sequence_id, config.current())
    return json_response({"sequences": [sequence_schema.dump(sequence)]})
