"""Error types of the domain and the one place that turns errors into HTTP responses."""
import json
import logging

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

JSON_TYPE = "application/json; charset=utf-8"


class InvxError(Exception):
    """A domain error the client is told about: an InvoiceXpress code, message and status."""

    code = "000"
    message = "Unknown error."
    status = 422
    empty_body = False

    def __init__(self, detail=None):
        # ``detail`` is for logs and audit only; clients get the documented message.
        super().__init__(detail or self.message)
        self.detail = detail


class UnknownError(InvxError):
    code, message = "000", "Unknown error."


class NameNotAllowed(InvxError):
    code, message = "001", "Sequence name not allowed."


class AlreadyExists(InvxError):
    code, message = "002", "Sequence already exists."


class InvalidSequence(InvxError):
    code, message = "003", "Invalid sequence."


class InvalidCredentials(InvxError):
    code, message = "004", "Invalid Tax Authority credentials."


class NoOpenActivity(InvxError):
    code, message = "005", "Account fiscal ID doesn't have open activity in Tax Authority."


class BeingRegistered(InvxError):
    code, message, status = "006", "The sequence is already being registered.", 409


class AllRegistered(InvxError):
    code, message, status = "007", "All Sequences are registered in AT.", 409


class SequenceNotFound(InvxError):
    """No such sequence for this account (another account's ids are unknown too)."""

    status, empty_body = 404, True


def json_response(payload, status=200):
    """A response in the InvoiceXpress style: UTF-8 JSON, keys in the order given."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status=status, content_type=JSON_TYPE)


def empty_response(status):
    return Response(b"", status=status, content_type=JSON_TYPE)


def errors_wrapped(view):
    """Mark a view whose error bodies are wrapped as ``{"errors": {...}}`` (register.json)."""
    view.wrap_errors = True
    return view


def _handle_invx_error(error):
    if error.empty_body:
        return empty_response(error.status)
    if error.detail:
        log.info("%s %s answered %s %s: %s", request.method, request.path, error.status,
                 error.code, error.detail)
    body = {"code": error.code, "message": error.message}
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "wrap_errors", False):
        body = {"errors": body}
    return json_response(body, error.status)


def _handle_http_error(error):
    # 401, 404, 405, 413...: InvoiceXpress answers these with an empty body.
    response = empty_response(error.code)
    for name, value in error.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    return response


def _handle_unexpected(error):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return json_response({"code": UnknownError.code, "message": UnknownError.message}, 500)


def register_error_handlers(app):
    app.register_error_handler(InvxError, _handle_invx_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
