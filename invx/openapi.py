"""``GET /openapi.json``: the OpenAPI 3 description of the API."""
from flask import Blueprint

from . import openapi_sequence
from .doctypes import DOC_TYPES
from .errors import (
    AllRegistered,
    AlreadyExists,
    BeingRegistered,
    InvalidCredentials,
    InvalidSequence,
    NameNotAllowed,
    NoOpenActivity,
    UnknownError,
    json_response,
)

bp = Blueprint("openapi", __name__)

_REGISTRATION_ERRORS = (UnknownError, NameNotAllowed, AlreadyExists, InvalidSequence,
                        InvalidCredentials, NoOpenActivity)


def _sequence_schema():
    properties = {
        "id": {"type": "integer", "example": 17},
        "serie": {"type": "string", "example": "2026"},
        "default_sequence": {"type": "integer", "enum": [0, 1]},
    }
    for doc_type in DOC_TYPES:
        codes = "the AT validation code, or N/D when not registered" if doc_type.atcud_relevant \
            else "always N/A: not communicated to AT"
        properties[f"current_{doc_type.name}_number"] = {
            "type": "integer", "minimum": 0,
            "description": "The last number issued in this type's series (0 if none)."}
        properties[f"current_{doc_type.name}_sequence_id"] = {
            "type": "integer",
            "description": f"The id of this type's series: the sequence id + {doc_type.offset}."}
        properties[f"current_{doc_type.name}_validation_code"] = {
            "type": "string",
            "description": f"{codes.capitalize()} (N/A for non-Portuguese accounts)."}
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def _error(error, wrapped=False):
    body = {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "enum": [error.code]},
        "message": {"type": "string", "enum": [error.message]}}}
    if wrapped:
        body = {"type": "object", "required": ["errors"], "properties": {"errors": body}}
    return body


def _errors_response(description, errors, wrapped=False):
    return {"description": description, "content": {"application/json": {
        "schema": {"oneOf": [_error(error, wrapped) for error in errors]}}}}


def _json(schema_ref, description):
    return {"description": description,
            "content": {"application/json": {"schema": schema_ref}}}


_EMPTY = {"description": "Empty body."}
_UNAUTHORIZED = {"description": "The api_key is missing or wrong, or the host names another "
                                "account. Empty body."}
_NOT_FOUND = {"description": "No such sequence in this account. Empty body."}
_UNAVAILABLE = _errors_response(openapi_sequence.UNAVAILABLE, [UnknownError])
_SEQUENCE = {"$ref": "#/components/schemas/Sequence"}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"},
       "description": "The sequence id."}


def document():
    """The OpenAPI document, built from the same tables the API serves."""
    paths = {
        "/sequences.json": {
            "get": {"summary": "List the account's sequences", "operationId": "listSequences",
                    "responses": {
                        "200": _json({"type": "object", "required": ["sequences"], "properties": {
                            "sequences": {"type": "array", "items": _SEQUENCE}}}, "The sequences."),
                        "401": _UNAUTHORIZED}},
            "post": {
                "summary": "Create a sequence and register it with the Tax Authority",
                "operationId": "createSequence",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/SequenceRequest"}}}},
                "responses": {
                    "201": _json({"type": "object", "required": ["sequence"],
                                  "properties": {"sequence": _SEQUENCE}}, "Created."),
                    "401": _UNAUTHORIZED,
                    "409": _errors_response("A registration of this series is in progress.",
                                            [BeingRegistered]),
                    "422": _errors_response("The request or the registration failed.",
                                            _REGISTRATION_ERRORS)}},
        },
        "/sequences/{id}.json": {"get": {
            "summary": "Get one sequence", "operationId": "getSequence", "parameters": [_ID],
            "responses": {"200": _json({"type": "object", "required": ["sequence"],
                                        "properties": {"sequence": _SEQUENCE}}, "The sequence."),
                          "401": _UNAUTHORIZED, "404": _NOT_FOUND}}},
        "/sequences/{id}/set_current.json": {"put": {
            "summary": "Make a sequence the account's default", "operationId": "setCurrent",
            "parameters": [_ID], "description": "A request body, if sent, is ignored.",
            "responses": {"200": _EMPTY, "401": _UNAUTHORIZED, "404": _NOT_FOUND}}},
        "/sequences/{id}/register.json": {"put": {
            "summary": "Register the document types that have no validation code yet",
            "operationId": "registerSequence", "parameters": [_ID],
            "description": "A request body, if sent, is ignored.",
            "responses": {
                "200": _json({"type": "object", "required": ["sequences"], "properties": {
                    "sequences": {"type": "array", "items": _SEQUENCE, "minItems": 1,
                                  "maxItems": 1}}}, "The sequence, in a list of one."),
                "401": _UNAUTHORIZED, "404": _NOT_FOUND,
                "409": _errors_response("Being registered, or nothing left to register.",
                                        [BeingRegistered, AllRegistered], wrapped=True),
                "422": _errors_response("The registration failed.", _REGISTRATION_ERRORS,
                                        wrapped=True)}}},
    }
    for operations in paths.values():  # any of them can find the database down
        for operation in operations.values():
            operation["responses"]["503"] = _UNAVAILABLE
    return {
        "openapi": "3.0.3",
        "info": {"title": "invx", "version": "1",
                 "description": "InvoiceXpress-compatible sequences, registered with the "
                                "Portuguese Tax Authority (AT), and the Sequence Service: "
                                "gap-free, idempotent, chained and signed numbers."},
        "servers": [{"url": "/"}],
        "security": [{"api_key": []}],
        "paths": {**paths, **openapi_sequence.PATHS},
        "components": {
            "securitySchemes": {
                "api_key": {"type": "apiKey", "in": "query", "name": "api_key"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "The account's API key as the token."}},
            "schemas": {
                **openapi_sequence.SCHEMAS,
                "Sequence": _sequence_schema(),
                "SequenceRequest": {"type": "object", "required": ["sequence"], "properties": {
                    "sequence": {"type": "object", "required": ["serie"], "properties": {
                        "serie": {"oneOf": [{"type": "string"}, {"type": "number"}],
                                  "description": "The series name: 1-35 of A-Z a-z 0-9 with "
                                                 "single . _ - between them."},
                        "default_sequence": {
                            "description": '"1" (or 1, or true) makes it the default; other '
                                           "values are ignored."}}}}},
            },
        },
    }


@bp.get("/openapi.json")
def openapi():
    return json_response(document())
