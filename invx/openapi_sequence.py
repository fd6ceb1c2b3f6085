"""The Sequence Service's part of ``/openapi.json``: paths and schemas under /sequence/v1."""

_STRING = {"type": "string"}
_NULLABLE_STRING = {"type": "string", "nullable": True}
_UUID = {"type": "string", "format": "uuid"}
_TIME = {"type": "string", "format": "date-time"}
_JWS = {"type": "string", "description": "Compact JWS"}

SCHEMAS = {
    "ApiError": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string", "example": "conflict"}, "message": _STRING,
        "fields": {"type": "object", "description": "What is wrong with each field (422)."}}},
    "SeriesCreate": {"type": "object", "properties": {
        "name": _NULLABLE_STRING, "description": _NULLABLE_STRING,
        "code": {**_NULLABLE_STRING, "example": "SALES-2020"},
        "prefix": {"type": "string", "example": "INV-"},
        "padding": {"type": "integer", "minimum": 0, "maximum": 32, "example": 5},
        "suffix": {"type": "string", "example": "-F1"},
        "start": {"type": "integer", "minimum": 0, "default": 1},
        "last_index": {"type": "integer", "minimum": 0, "description": "start - 1"},
        "sig": _JWS}},
    "Series": {"type": "object", "required": [
        "id", "prefix", "padding", "suffix", "start", "last_index", "sigs", "created_at",
        "updated_at"], "properties": {
        "id": _UUID, "name": _NULLABLE_STRING, "description": _NULLABLE_STRING,
        "code": _NULLABLE_STRING, "prefix": _STRING, "padding": {"type": "integer"},
        "suffix": _STRING, "start": {"type": "integer"},
        "last_index": {"type": "integer", "description": "The last index used."},
        "last_entry_id": {**_UUID, "nullable": True},
        "sigs": {"type": "array", "items": _JWS}, "created_at": _TIME, "updated_at": _TIME,
        "sequence_id": {"type": "integer",
                        "description": "InvoiceXpress sub-series: current_<type>_sequence_id"},
        "document_type": {"type": "string", "description": "InvoiceXpress sub-series"},
        "validation_code": {"type": "string", "description": "AT code, N/D or N/A"}}},
    "EntryCreate": {"type": "object", "properties": {
        "meta": {"type": "object", "additionalProperties": {"type": "string"}}, "sig": _JWS}},
    "Entry": {"type": "object", "required": [
        "id", "series_id", "code", "meta", "sigs", "created_at", "updated_at"], "properties": {
        "id": _UUID, "series_id": _UUID, "code": {"type": "string", "example": "INV-00001-F1"},
        "meta": {"type": "object", "additionalProperties": {"type": "string"}},
        "previous_id": _UUID, "sigs": {"type": "array", "items": _JWS, "minItems": 1},
        "created_at": _TIME, "updated_at": _TIME,
        "number": {"type": "integer", "description": "InvoiceXpress sub-series"},
        "atcud": {**_NULLABLE_STRING, "example": "ABCD1234-15",
                  "description": "InvoiceXpress sub-series of an ATCUD-relevant type"}}},
    "Verification": {"type": "object", "required": ["series_id", "valid", "entries"],
                     "properties": {
        "series_id": _UUID, "valid": {"type": "boolean"}, "entries": {"type": "integer"},
        "first_number": {"type": "integer", "nullable": True},
        "last_number": {"type": "integer", "nullable": True},
        "broken_at": {"type": "object", "properties": {
            "number": {"type": "integer"}, "entry_id": {**_UUID, "nullable": True},
            "problem": _STRING}}}},
    "Jwks": {"type": "object", "required": ["keys"], "properties": {"keys": {
        "type": "array", "items": {"type": "object", "properties": {
            "kty": _STRING, "crv": _STRING, "alg": _STRING, "use": _STRING, "kid": _UUID,
            "x": _STRING, "y": _STRING}}}}},
}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


UNAVAILABLE = "The database is down or too busy (see Retry-After); nothing was changed."


def _errors(*statuses, signs=False):
    """The error responses an operation documents, and 503, which any of them can answer
    (the database down or too busy; or, for an operation that ``signs``, no signing key)."""
    words = {400: "The body is not JSON.", 401: "No valid Bearer token.",
             404: "No such series or entry in this account.",
             409: "The id is taken with another definition.",
             422: "Invalid fields, or a series that may not issue now.",
             503: f"{UNAVAILABLE} Or the server cannot sign (INVX_SECRET_KEY)." if signs
             else UNAVAILABLE}
    return {str(status): _json(_ref("ApiError"), words[status])
            for status in sorted({*statuses, 503})}


_SERIES_REF = {"name": "series_id", "in": "path", "required": True, "schema": _STRING,
               "description": "A series UUID, or an InvoiceXpress sub-series' integer id."}
_ENTRY_ID = {"name": "id", "in": "path", "required": True, "schema": _UUID,
             "description": "The client's UUID (any version) of the entry."}

PATHS = {
    "/sequence/v1/series": {"get": {
        "summary": "List the account's series", "operationId": "listSeries",
        "security": [{"bearer": []}], "responses": {
            "200": _json({"type": "object", "required": ["list"], "properties": {
                "list": {"type": "array", "items": _ref("Series")}}}, "The series."),
            **_errors(401)}}},
    "/sequence/v1/series/{id}": {
        "put": {"summary": "Create a series idempotently under the client's UUID",
                "operationId": "createSeries", "security": [{"bearer": []}],
                "parameters": [{**_ENTRY_ID, "description": "The series UUID."}],
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": _ref("SeriesCreate")}}},
                "responses": {"200": _json(_ref("Series"), "The series (new, or the same)."),
                              **_errors(400, 401, 409, 422)}},
        "get": {"summary": "Get a series", "operationId": "getSeries",
                "security": [{"bearer": []}],
                "parameters": [{**_SERIES_REF, "name": "id"}],
                "responses": {"200": _json(_ref("Series"), "The series."), **_errors(401, 404)}},
    },
    "/sequence/v1/series/{id}/verify": {"get": {
        "summary": "Check a whole series: numbers, chain and signatures",
        "operationId": "verifySeries", "security": [{"bearer": []}],
        "parameters": [{**_SERIES_REF, "name": "id"}],
        "responses": {"200": _json(_ref("Verification"), "The verdict."),
                      **_errors(401, 404)}}},
    "/sequence/v1/series/{series_id}/entries": {"get": {
        "summary": "List entries, newest first", "operationId": "listEntries",
        "security": [{"bearer": []}], "parameters": [
            _SERIES_REF,
            {"name": "limit", "in": "query", "schema": {
                "type": "integer", "minimum": 1, "maximum": 100, "default": 20}},
            {"name": "cursor", "in": "query", "schema": _STRING,
             "description": "The cursor of the previous page (opaque)."}],
        "responses": {"200": _json({"type": "object", "required": ["series_id", "list", "limit"],
                                    "properties": {
            "series_id": _UUID, "list": {"type": "array", "items": _ref("Entry")},
            "limit": {"type": "integer"}, "cursor": _NULLABLE_STRING}}, "A page of entries."),
            **_errors(401, 404, 422)}}},
    "/sequence/v1/series/{series_id}/entries/{id}": {
        "put": {"summary": "Create the next entry, idempotently under the client's UUID",
                "operationId": "createEntry", "security": [{"bearer": []}],
                "parameters": [_SERIES_REF, _ENTRY_ID],
                "requestBody": {"required": False, "content": {
                    "application/json": {"schema": _ref("EntryCreate")}}},
                "responses": {"200": _json(_ref("Entry"), "The entry (new, or the same)."),
                              **_errors(400, 401, 404, 409, 422, signs=True)}},
        "get": {"summary": "Get an entry", "operationId": "getEntry",
                "security": [{"bearer": []}], "parameters": [_SERIES_REF, _ENTRY_ID],
                "responses": {"200": _json(_ref("Entry"), "The entry."),
                              **_errors(401, 404, 422)}},
    },
    "/sequence/v1/keys": {"get": {
        "summary": "The server's public signing keys (JWKS)", "operationId": "keys",
        "security": [], "responses": {"200": _json(_ref("Jwks"), "Every key that signed."),
                                      **_errors()}}},
}
