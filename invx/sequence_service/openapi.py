"""The Sequence Service's half of ``/openapi.json``: the paths under /sequence/v1.

Every request and response schema is generated from the marshmallow schemas of
``schemas`` and ``answers``; what is written here is the paths, their parameters and
which errors each can answer.
"""
from .answers import (
    ApiErrorSchema,
    EntryPageSchema,
    EntrySchema,
    JwksSchema,
    SeriesListSchema,
    SeriesSchema,
    VerificationSchema,
)
from .schemas import (
    DEFAULT_LIMIT,
    DEFAULT_SERIES_LIMIT,
    MAX_LIMIT,
    EntryCreateSchema,
    SeriesCreateSchema,
)

UNAVAILABLE = "The database is down or too busy (see Retry-After); nothing was changed."
_BEARER = [{"bearer": []}]
_WORDS = {400: "The body is not JSON, not a JSON object, or could not be read whole.",
          401: "No valid Bearer token.",
          404: "No such series or entry in this account.",
          405: "The path does not take this method; the Allow header lists those it takes.",
          408: "The body did not arrive within INVX_BODY_TIMEOUT.",
          409: "The id is taken with another definition.",
          413: "The body is larger than INVX_MAX_BODY_BYTES.",
          422: "Invalid fields (each named in fields), or a series that may not issue now.",
          429: "Too many requests from this account; retry after Retry-After seconds.",
          500: "A failure on the server's side (logged); the request may be retried.",
          503: UNAVAILABLE}
# What every operation can answer: another method on its path, the rate limit, a failure
# of the server's, the database down or too busy.
_ALWAYS = (405, 429, 500, 503)
_READS_BODY = (400, 408, 413)  # what an operation that reads a body can answer too


def header(description, schema=None, required=True):
    return {"description": description, "required": required,
            "schema": schema or {"type": "integer", "minimum": 0}}


RETRY_AFTER = "Seconds to wait before retrying."
ALLOW = header("The methods the path takes.", {"type": "string"})


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(status, signs):
    response = _json(ApiErrorSchema, _WORDS[status])
    if status == 401:
        response["headers"] = {"WWW-Authenticate": header("Bearer realm=\"invx\"",
                                                          {"type": "string"})}
    elif status == 405:
        response["headers"] = {"Allow": ALLOW}
    elif status in (429, 503):
        # An operation that signs also answers 503 when the server cannot sign: that one
        # has no Retry-After (it lasts until INVX_SECRET_KEY is set).
        response["headers"] = {"Retry-After": header(RETRY_AFTER,
                                                     required=status == 429 or not signs)}
        if status == 503 and signs:
            response["description"] += " Or the server cannot sign (INVX_SECRET_KEY)."
    return response


def _errors(*statuses, signs=False):
    """The error responses of an operation: ``statuses``, and those that every operation
    can answer (``_ALWAYS``), each with the error body."""
    return {str(status): _error(status, signs) for status in sorted({*statuses, *_ALWAYS})}


_STRING = {"type": "string"}
_SERIES_REF = {"name": "series_id", "in": "path", "required": True, "schema": _STRING,
               "description": "A series UUID, or an InvoiceXpress sub-series' integer id."}
_ENTRY_ID = {"name": "id", "in": "path", "required": True,
             "schema": {"type": "string", "format": "uuid"},
             "description": "The client's UUID (any version) of the entry."}


def _page(default):
    return [{"name": "limit", "in": "query", "schema": {
                "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": default}},
            {"name": "cursor", "in": "query", "schema": _STRING,
             "description": "The cursor of the previous page (opaque)."}]


_VERIFY = (
    "Starts from the series' verification checkpoint: the server's signed statement that "
    "every entry from the start through some number was checked in full. The checkpoint's "
    "signature, its last entry (id and server signature) and the count of the entries up "
    "to it are checked; the entries after it are checked in full, at most "
    "INVX_VERIFY_MAX_ENTRIES of them and for about INVX_VERIFY_SECONDS; the checkpoint then "
    "moves to the last entry that checked out. `valid` is null when the budget ran out "
    "first (`remaining` entries unchecked; ask again). Entries before the checkpoint are "
    "not re-checked: `invx verify` checks every entry.")


def _operations():
    return {
        "/sequence/v1/series": {"get": {
            "summary": "List the account's series, oldest first, by page",
            "operationId": "listSeries", "parameters": _page(DEFAULT_SERIES_LIMIT),
            "responses": {"200": _json(SeriesListSchema, "A page of the series."),
                          **_errors(401, 422)}}},
        "/sequence/v1/series/{id}": {
            "put": {"summary": "Create a series idempotently under the client's UUID",
                    "operationId": "createSeries",
                    "parameters": [{**_ENTRY_ID, "description": "The series UUID."}],
                    "requestBody": {"required": True, "content": {
                        "application/json": {"schema": SeriesCreateSchema}}},
                    "responses": {"200": _json(SeriesSchema, "The series (new, or the same)."),
                                  **_errors(*_READS_BODY, 401, 409, 422)}},
            "get": {"summary": "Get a series", "operationId": "getSeries",
                    "parameters": [{**_SERIES_REF, "name": "id"}],
                    "responses": {"200": _json(SeriesSchema, "The series."),
                                  **_errors(401, 404)}},
        },
        "/sequence/v1/series/{id}/verify": {"get": {
            "summary": "Verify a series (numbers, chain, signatures) from its checkpoint on",
            "description": _VERIFY,
            "operationId": "verifySeries", "parameters": [{**_SERIES_REF, "name": "id"}],
            "responses": {"200": _json(VerificationSchema, "The verdict."),
                          **_errors(401, 404)}}},
        "/sequence/v1/series/{series_id}/entries": {"get": {
            "summary": "List entries, newest first", "operationId": "listEntries",
            "parameters": [_SERIES_REF, *_page(DEFAULT_LIMIT)],
            "responses": {"200": _json(EntryPageSchema, "A page of entries."),
                          **_errors(401, 404, 422)}}},
        "/sequence/v1/series/{series_id}/entries/{id}": {
            "put": {"summary": "Create the next entry, idempotently under the client's UUID",
                    "operationId": "createEntry", "parameters": [_SERIES_REF, _ENTRY_ID],
                    "requestBody": {"required": False, "content": {
                        "application/json": {"schema": EntryCreateSchema}}},
                    "responses": {"200": _json(EntrySchema, "The entry (new, or the same)."),
                                  **_errors(*_READS_BODY, 401, 404, 409, 422, signs=True)}},
            "get": {"summary": "Get an entry", "operationId": "getEntry",
                    "parameters": [_SERIES_REF, _ENTRY_ID],
                    "responses": {"200": _json(EntrySchema, "The entry."),
                                  **_errors(401, 404, 422)}},
        },
        "/sequence/v1/series/{series_id}/entries/{id}/qr.{kind}": {"get": {
            "summary": "An entry's ATCUD QR code, drawn (error correction M)",
            "operationId": "getEntryQrCode",
            "parameters": [_SERIES_REF, _ENTRY_ID, {
                "name": "kind", "in": "path", "required": True,
                "schema": {"type": "string", "enum": ["svg", "png"]}}],
            "responses": {"200": {"description": "The picture.", "content": {
                "image/svg+xml": {"schema": {"type": "string"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}}}},
                **_errors(401, 404, 422)}}},
        "/sequence/v1/keys": {"get": {
            "summary": "The server's public signing keys (JWKS)", "operationId": "keys",
            "security": [], "responses": {"200": _json(JwksSchema, "Every key that signed."),
                                          **_errors()}}},
    }


def describe(spec):
    """Add the Sequence Service to ``spec`` (an apispec APISpec)."""
    for name, schema in (("ApiError", ApiErrorSchema), ("SeriesCreate", SeriesCreateSchema),
                         ("Series", SeriesSchema), ("EntryCreate", EntryCreateSchema),
                         ("Entry", EntrySchema), ("Verification", VerificationSchema),
                         ("Jwks", JwksSchema)):
        spec.components.schema(name, schema=schema)
    for path, operations in _operations().items():
        for operation in operations.values():
            operation.setdefault("security", _BEARER)
        spec.path(path=path, operations=operations)
