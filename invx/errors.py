"""Error types of the domain and the one place that turns errors into HTTP responses."""
import json
import logging
import sys

from flask import current_app, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from . import instruments
from .http import JSON_TYPE, empty_response, json_response
from .log_safety import TracebackThrottle, one_line

log = logging.getLogger(__name__)
# One line per failed request; a cause's traceback at most once a minute (a database
# outage fails every request the same way: one traceback says it all).
tracebacks = TracebackThrottle(period=60.0)


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


class ApiError(Exception):
    """A Sequence Service error: ``{"code": word, "message": sentence, "fields": {...}}``."""

    status, code, message = 400, "bad_request", "The request is not valid."

    def __init__(self, message=None, fields=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.fields = fields


class ApiUnauthorized(ApiError):
    status, code, message = 401, "unauthorized", "A valid API key is needed as Bearer token."


class MetricsUnauthorized(ApiError):
    status, code = 401, "unauthorized"
    message = "GET /metrics needs INVX_METRICS_TOKEN as Bearer token."


class ApiNotFound(ApiError):
    status, code, message = 404, "not_found", "Not found."


class ApiConflict(ApiError):
    status, code = 409, "conflict"


class ApiInvalid(ApiError):
    status, code, message = 422, "invalid", "Some fields are not valid."


class SeriesClosed(ApiError):
    status, code = 422, "series_closed"


class SeriesNotRegistered(ApiError):
    status, code = 422, "series_not_registered"


class SigningUnavailable(ApiError):
    status, code = 503, "signing_unavailable"


class TooManyRequests(Exception):
    """The account has used up ``INVX_RATE_LIMIT``: 429, with ``Retry-After`` (seconds),
    in the error shape of the API it called."""

    status = 429

    def __init__(self, retry_after):
        super().__init__(f"rate limited for {retry_after} s")
        self.retry_after = retry_after


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
    return _invoicexpress_error(error.code, error.message, error.status)


def _invoicexpress_error(code, message, status):
    body = {"code": code, "message": message}
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "wrap_errors", False):
        body = {"errors": body}
    return json_response(body, status)


def _handle_api_error(error):
    body = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = error.fields
    response = json_response(body, error.status)
    if error.status == 503:
        instruments.unavailable(error.code)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="invx"'
    return response


_HTTP_WORDS = {400: ("bad_request", "The request is not valid."),
               404: ("not_found", "Not found."),
               405: ("method_not_allowed", "That method is not allowed here."),
               408: ("timeout", "The request body did not arrive in time."),
               413: ("too_large", "The request body is too large.")}


def _is_sequence_api():
    return request.path.startswith("/sequence/")


def _handle_http_error(error):
    if _is_sequence_api():  # the Sequence Service answers every error in JSON
        code, message = _HTTP_WORDS.get(error.code, ("error", "The request failed."))
        response = json_response({"code": code, "message": message}, error.code)
    else:  # 401, 404, 405, 413...: InvoiceXpress answers these with an empty body
        response = empty_response(error.code)
    for name, value in error.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
    return response


def _server_failure(status, code, message):
    """A failure on invx's side: the Sequence Service says which (``code``, ``message``);
    the InvoiceXpress API answers its generic 000, as InvoiceXpress does."""
    if _is_sequence_api():
        return json_response({"code": code, "message": message}, status)
    return json_response({"code": UnknownError.code, "message": UnknownError.message}, status)


def _handle_unexpected(error):
    log.error("unhandled error on %s %s: %s", request.method, request.path, one_line(error),
              exc_info=tracebacks.exc_info(error))
    return _server_failure(500, "internal", "Something went wrong.")


# The database could not serve the request now: unreachable, every pooled connection busy
# for the pool's whole timeout, or locked (SQLite), a deadlock, a serialization failure. The
# request changed nothing (its transaction is rolled back), so the client may simply retry.
DATABASE_UNAVAILABLE = (OperationalError, PoolTimeout)
RETRY_AFTER_SECONDS = "1"
DATABASE_UNAVAILABLE_MESSAGE = "The database is unreachable or busy. Retry in a moment."


def database_unavailable(error):
    """Whether ``error`` says the database cannot serve now (not that invx asked wrong): one
    of those above, or any driver error on a connection found dead ("connection already
    closed", which psycopg2 raises once the server has dropped it)."""
    return isinstance(error, DATABASE_UNAVAILABLE) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def _handle_database_error(error):
    if database_unavailable(error):
        return _handle_database_unavailable(error)
    return _handle_unexpected(error)


def _handle_database_unavailable(error):
    instruments.unavailable("database")
    log.error("database unavailable on %s %s: %s", request.method, request.path,
              one_line(error), exc_info=tracebacks.exc_info(error))
    response = _server_failure(503, "unavailable",
                               DATABASE_UNAVAILABLE_MESSAGE)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


class LastResort:
    """WSGI middleware around the app: an exception that escapes Flask (a teardown that
    fails on a dead connection, say) is answered in JSON like every other failure, and
    logged as one line, instead of the server's HTML page and traceback."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        try:
            return self.wsgi_app(environ, start_response)
        except Exception as error:  # the last place anything can be caught
            path = environ.get("PATH_INFO", "")
            log.error("error escaping the app on %s %s: %s", environ.get("REQUEST_METHOD"),
                      path, one_line(error), exc_info=tracebacks.exc_info(error))
            status, headers, body = _last_resort_answer(path, error)
            start_response(status, headers, sys.exc_info())
            return [body]


def _last_resort_answer(path, error):
    if database_unavailable(error):
        instruments.unavailable("database")
        status, code, message = ("503 Service Unavailable", "unavailable",
                                 DATABASE_UNAVAILABLE_MESSAGE)
    else:
        status, code, message = "500 Internal Server Error", "internal", "Something went wrong."
    if not path.startswith("/sequence/"):
        code, message = UnknownError.code, UnknownError.message
    body = json.dumps({"code": code, "message": message}).encode()
    headers = [("Content-Type", JSON_TYPE), ("Content-Length", str(len(body)))]
    if status.startswith("503"):
        headers.append(("Retry-After", RETRY_AFTER_SECONDS))
    return status, headers, body


RATE_LIMITED = "Too many requests for this account: retry after Retry-After seconds."


def _handle_too_many_requests(error):
    # InvoiceXpress has no code of its own for it: its generic 000, with a message that
    # says what happened (clients act on the status, 429, and Retry-After).
    instruments.rate_limited("sequence_service" if _is_sequence_api() else "invoicexpress")
    if _is_sequence_api():
        response = json_response({"code": "too_many_requests", "message": RATE_LIMITED},
                                 error.status)
    else:
        response = _invoicexpress_error(UnknownError.code, RATE_LIMITED, error.status)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def register_error_handlers(app):
    app.register_error_handler(InvxError, _handle_invx_error)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(TooManyRequests, _handle_too_many_requests)
    app.register_error_handler(HTTPException, _handle_http_error)
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, _handle_database_unavailable)
    app.register_error_handler(DBAPIError, _handle_database_error)
    app.register_error_handler(Exception, _handle_unexpected)
    app.wsgi_app = LastResort(app.wsgi_app)
