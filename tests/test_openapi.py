"""``/openapi.json``: a valid OpenAPI 3 document that matches what the API answers."""
import json

from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from .test_sequences_api import SPEC_KEYS, create


def document(client):
    return client.get("/openapi.json").get_json()


def resolve(doc, schema):
    """Inline the document's ``$ref``s, for the plain JSON-schema validator."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return resolve(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
        return {k: resolve(doc, v) for k, v in schema.items()}
    if isinstance(schema, list):
        return [resolve(doc, item) for item in schema]
    return schema


def response_schema(doc, path, method, status):
    content = doc["paths"][path][method]["responses"][status]["content"]
    return resolve(doc, content["application/json"]["schema"])


def test_the_document_is_valid_openapi_3(client):
    validate(document(client))


def test_it_describes_every_endpoint(client, app):
    paths = document(client)["paths"]
    described = {(path, method) for path, item in paths.items() for method in item}
    assert described == {
        ("/sequences.json", "get"), ("/sequences.json", "post"), ("/sequences/{id}.json", "get"),
        ("/sequences/{id}/set_current.json", "put"), ("/sequences/{id}/register.json", "put"),
        ("/sequence/v1/series", "get"), ("/sequence/v1/series/{id}", "put"),
        ("/sequence/v1/series/{id}", "get"), ("/sequence/v1/series/{id}/verify", "get"),
        ("/sequence/v1/series/{series_id}/entries", "get"),
        ("/sequence/v1/series/{series_id}/entries/{id}", "put"),
        ("/sequence/v1/series/{series_id}/entries/{id}", "get"), ("/sequence/v1/keys", "get")}
    # and the app serves nothing it does not describe (parameter names aside)
    import re

    def shape(path):
        return re.sub(r"\{[^}]+\}", "{}", re.sub(r"<(?:\w+:)?\w+>", "{}", path))

    served = {(shape(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    served -= {("/openapi.json", "get"), ("/static/{}", "get")}
    assert served == {(shape(path), method) for path, method in described}


def test_the_sequence_schema_lists_every_key_in_order(client):
    schema = document(client)["components"]["schemas"]["Sequence"]
    assert list(schema["properties"]) == SPEC_KEYS


def test_real_responses_validate_against_the_document(client, key):
    doc = document(client)
    created = create(client, key)
    OAS30Validator(response_schema(doc, "/sequences.json", "post", "201")).validate(
        created.get_json())
    listing = client.get(f"/sequences.json?api_key={key}").get_json()
    OAS30Validator(response_schema(doc, "/sequences.json", "get", "200")).validate(listing)
    error = create(client, key).get_json()  # 002
    OAS30Validator(response_schema(doc, "/sequences.json", "post", "422")).validate(error)
    sequence_id = created.get_json()["sequence"]["id"]
    wrapped = client.put(f"/sequences/{sequence_id}/register.json?api_key={key}").get_json()
    OAS30Validator(
        response_schema(doc, "/sequences/{id}/register.json", "put", "409")).validate(wrapped)


def test_every_documented_error_code_is_in_the_document(client):
    text = json.dumps(document(client))
    for code in ("000", "001", "002", "003", "004", "005", "006", "007"):
        assert f'"{code}"' in text


def test_every_operation_documents_the_503_of_a_database_down_or_busy(client):
    doc = document(client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert "503" in operation["responses"], (path, method)
    OAS30Validator(response_schema(doc, "/sequences.json", "get", "503")).validate(
        {"code": "000", "message": "Unknown error."})
    OAS30Validator(response_schema(doc, "/sequence/v1/keys", "get", "503")).validate(
        {"code": "unavailable", "message": "The database is unreachable or busy."})
