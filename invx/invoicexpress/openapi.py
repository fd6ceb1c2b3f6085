"""The InvoiceXpress half of ``/openapi.json``: the ``sequences`` resource.

Its request and SEQUENCE schemas are generated from the marshmallow schemas. The errors are
written here: InvoiceXpress answers each with a fixed ``{"code", "message"}`` pair (some
wrapped in ``{"errors": ...}``, 429 included), and 400, 401, 404, 405, 408 and 413 with an
empty body.
"""
from types import SimpleNamespace

from .. import errors
from .schemas import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    PaginationSchema,
    SequenceRequestSchema,
    SequenceSchema,
)

_REGISTRATION_ERRORS = (errors.UnknownError, errors.NameNotAllowed, errors.AlreadyExists,
                        errors.InvalidSequence, errors.InvalidCredentials,
                        errors.NoOpenActivity)
_UNAVAILABLE = "The database is down or too busy (see Retry-After); nothing was changed."
_SECONDS = {"type": "integer", "minimum": 0}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                "required": True, "schema": _SECONDS}}
_RATE_LIMITED = SimpleNamespace(code=errors.UnknownError.code, message=errors.RATE_LIMITED)


def _error(error, wrapped=False):
    body = {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": [error.code]},
        "message": {"type": "string", "enum": [error.message]}},
        "additionalProperties": False}
    if wrapped:
        body = {"type": "object", "required": ["errors"], "properties": {"errors": body},
                "additionalProperties": False}
    return body


def _errors(description, kinds, wrapped=False):
    return {"description": description, "content": {"application/json": {
        "schema": {"oneOf": [_error(kind, wrapped) for kind in kinds]}}}}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(**properties):
    return {"type": "object", "required": list(properties), "properties": properties,
            "additionalProperties": False}


_SEQUENCE = SequenceSchema
_UNAUTHORIZED = {"description": "The api_key is missing or wrong, or the host names another "
                                "account. Empty body."}
_NOT_FOUND = {"description": "No such sequence in this account. Empty body."}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"},
       "description": "The sequence id."}
_IGNORED_BODY = "A request body, if sent, is ignored."
_PAGE = [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                    "default": 1},
          "description": "The page; past the last one, the list is empty."},
         {"name": "per_page", "in": "query",
          "schema": {"type": "integer", "minimum": 1, "default": DEFAULT_PER_PAGE},
          "description": f"Sequences per page; more than {MAX_PER_PAGE} give "
                         f"{MAX_PER_PAGE}."}]


def _operations():
    one = _object(sequence=_SEQUENCE)
    return {
        "/sequences.json": {
            "get": {"summary": "List the account's sequences, oldest first, by page",
                    "operationId": "listSequences", "parameters": _PAGE,
                    "responses": {"200": _json(_object(sequences={
                        "type": "array", "items": _SEQUENCE}, pagination=PaginationSchema),
                        "A page of the sequences."),
                        "401": _UNAUTHORIZED,
                        "404": {"description": "page or per_page is not a positive integer "
                                               "(at most 18 digits). Empty body."}}},
            "post": {
                "summary": "Create a sequence and register it with the Tax Authority",
                "operationId": "createSequence",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": SequenceRequestSchema}}},
                "responses": {
                    "201": _json(one, "Created."), "401": _UNAUTHORIZED,
                    "409": _errors("A registration of this series is in progress.",
                                   [errors.BeingRegistered]),
                    "422": _errors("The request or the registration failed.",
                                   _REGISTRATION_ERRORS)}},
        },
        "/sequences/{id}.json": {"get": {
            "summary": "Get one sequence", "operationId": "getSequence", "parameters": [_ID],
            "responses": {"200": _json(one, "The sequence."), "401": _UNAUTHORIZED,
                          "404": _NOT_FOUND}}},
        "/sequences/{id}/set_current.json": {"put": {
            "summary": "Make a sequence the account's default", "operationId": "setCurrent",
            "parameters": [_ID], "description": _IGNORED_BODY,
            "responses": {"200": {"description": "Empty body."}, "401": _UNAUTHORIZED,
                          "404": _NOT_FOUND}}},
        "/sequences/{id}/register.json": {"put": {
            "summary": "Register the document types that have no validation code yet",
            "operationId": "registerSequence", "parameters": [_ID],
            "description": _IGNORED_BODY,
            "responses": {
                "200": _json(_object(sequences={"type": "array", "items": _SEQUENCE,
                                                "minItems": 1, "maxItems": 1}),
                             "The sequence, in a list of one."),
                "401": _UNAUTHORIZED, "404": _NOT_FOUND,
                "409": _errors("Being registered, or nothing left to register.",
                               [errors.BeingRegistered, errors.AllRegistered], wrapped=True),
                "422": _errors("The registration failed.", _REGISTRATION_ERRORS,
                               wrapped=True)}}},
    }


def _always(reads_body):
    """What every operation can answer, with InvoiceXpress's bodies: empty, or its generic
    000 (unwrapped, register.json's too) for a failure on the server's side."""
    answers = {
        "405": {"description": "The path does not take this method (see Allow). Empty body.",
                "headers": {"Allow": {"description": "The methods the path takes.",
                                      "required": True, "schema": {"type": "string"}}}},
        "429": {"description": "Too many requests from this account (see Retry-After). "
                               "Empty body.", "headers": _RETRY_AFTER},
        "500": _errors("A failure on the server's side (logged).", [errors.UnknownError]),
        "503": {**_errors(_UNAVAILABLE, [errors.UnknownError]), "headers": _RETRY_AFTER}}
    if reads_body:
        answers.update({
            "400": {"description": "The body could not be read whole (a broken chunk, a "
                                   "short body). Empty body."},
            "408": {"description": "The body did not arrive within INVX_BODY_TIMEOUT. "
                                   "Empty body."},
            "413": {"description": "The body is larger than INVX_MAX_BODY_BYTES. "
                                   "Empty body."}})
    return answers


def describe(spec):
    """Add the InvoiceXpress resource to ``spec`` (an apispec APISpec)."""
    spec.components.schema("Sequence", schema=SequenceSchema)
    spec.components.schema("SequenceRequest", schema=SequenceRequestSchema)
    spec.components.schema("Pagination", schema=PaginationSchema)
    for path, operations in _operations().items():
        for operation in operations.values():
            responses = {**operation["responses"], **_always("requestBody" in operation)}
            operation["responses"] = dict(sorted(responses.items()))
            # An account over INVX_RATE_LIMIT: the generic 000 with what happened, in
            # register.json wrapped as its other errors are (errors.TooManyRequests).
            operation["responses"]["429"] = {
                **_errors("The account has made more requests than INVX_RATE_LIMIT allows.",
                          [_RATE_LIMITED], path.endswith("/register.json")),
                "headers": _RETRY_AFTER}
            operation["security"] = [{"api_key": []}]
        spec.path(path=path, operations=operations)
