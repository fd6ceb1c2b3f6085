"""``/openapi.json``: a valid OpenAPI 3.1 document, generated from the schemas the APIs
validate with, that describes every endpoint and every limit."""
import re

import jsonschema_rs
import pytest
from marshmallow import fields, validate
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_document

from invx import errors
from invx.config import settings_of
from invx.invoicexpress.schemas import SequenceRequestSchema
from invx.sequence_service.schemas import EntryCreateSchema, SeriesCreateSchema

from .support.openapi import document, response_schema


def test_the_document_is_valid_openapi_3_1(client):
    doc = document(client)
    assert doc["openapi"].startswith("3.1")
    validate_document(doc)


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
        ("/sequence/v1/series/{series_id}/entries/{id}", "get"), ("/sequence/v1/keys", "get"),
        ("/sequence/v1/series/{series_id}/entries/{id}/qr.{kind}", "get")}

    # and the app serves nothing it does not describe (parameter names aside)
    def shape(path):
        return re.sub(r"\{[^}]+\}", "{}", re.sub(r"<(?:\w+:)?\w+>", "{}", path))

    served = {(shape(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    # Not the APIs: the document itself, the health checks (README, "Health") and the
    # metrics (docs/metrics.md).
    served -= {("/openapi.json", "get"), ("/static/{}", "get"), ("/livez", "get"),
               ("/readyz", "get"), ("/metrics", "get")}
    assert served == {(shape(path), method) for path, method in described}


def test_every_invoicexpress_error_code_is_documented(client):
    doc = document(client)
    documented = set()
    for item in doc["paths"].values():
        for operation in item.values():
            for response in operation["responses"].values():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                for body in (schema or {}).get("oneOf", []):
                    body = body["properties"].get("errors", body)
                    documented.add(body["properties"]["code"]["enum"][0])
    codes = {kind.code for kind in vars(errors).values()
             if isinstance(kind, type) and issubclass(kind, errors.InvxError)
             and not kind.empty_body}
    assert codes == {"000", "001", "002", "003", "004", "005", "006", "007"}
    assert documented == codes


def test_every_operation_documents_the_503_of_a_database_down_or_busy(client):
    doc = document(client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            assert "503" in operation["responses"], (path, method)
    OAS31Validator(response_schema(doc, "/sequences.json", "get", "503")).validate(
        {"code": "000", "message": "Unknown error."})
    OAS31Validator(response_schema(doc, "/sequence/v1/keys", "get", "503")).validate(
        {"code": "unavailable", "message": "The database is unreachable or busy."})


def _limits(field):
    """The OpenAPI keywords the validators of a marshmallow ``field`` mean."""
    object_like = isinstance(field, fields.Dict)
    size = ("minProperties", "maxProperties") if object_like else ("minLength", "maxLength")
    expected = {}
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            expected.update({name: value for name, value in zip(
                size, (validator.min, validator.max), strict=True) if value is not None})
        elif isinstance(validator, validate.Range):
            expected.update({name: value for name, value in (
                ("minimum", validator.min), ("maximum", validator.max)) if value is not None})
        elif isinstance(validator, validate.Regexp):
            expected["pattern"] = validator.regex.pattern
        elif isinstance(validator, validate.OneOf):
            expected["enum"] = list(validator.choices)
        else:
            raise AssertionError(f"a validator this test cannot read: {validator!r}")
    if object_like:
        keys = _limits(field.key_field)
        if keys:
            expected["propertyNames"] = keys
        values = _limits(field.value_field)
        if values:
            expected["additionalProperties"] = values
    return expected


@pytest.mark.parametrize("name, schema", [
    ("SeriesCreate", SeriesCreateSchema), ("EntryCreate", EntryCreateSchema),
    ("SequenceIn", SequenceRequestSchema().fields["sequence"].schema)],
    ids=["SeriesCreate", "EntryCreate", "SequenceIn"])
def test_every_limit_that_validation_enforces_is_in_the_document(client, name, schema):
    documented = document(client)["components"]["schemas"][name]["properties"]
    fields_ = schema().fields if isinstance(schema, type) else schema.fields
    assert set(documented) == {field.data_key or key for key, field in fields_.items()}
    for key, field in fields_.items():
        for keyword, value in _limits(field).items():
            if isinstance(value, dict):
                assert value.items() <= documented[key][keyword].items(), (name, key, keyword)
            else:
                assert documented[key].get(keyword) == value, (name, key, keyword)


def test_a_limit_missing_from_the_document_would_be_caught():
    """The check above reads every validator it meets, so a new limit cannot slip by."""
    with_limit = fields.String(validate=validate.Length(max=3))
    assert _limits(with_limit) == {"maxLength": 3}
    with pytest.raises(AssertionError, match="cannot read"):
        _limits(fields.String(validate=validate.Email()))


def test_the_page_size_limits_are_the_apis(client):
    from invx.sequence_service.schemas import DEFAULT_LIMIT, MAX_LIMIT
    operation = document(client)["paths"]["/sequence/v1/series/{series_id}/entries"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, MAX_LIMIT, DEFAULT_LIMIT)


# What any operation can be answered: another method on its path, the rate limit, a failure
# of the server's, the database down or busy; and READS_BODY where the body is read.
ANY_OPERATION = {"405", "429", "500", "503"}
READS_BODY = {"400", "408", "413"}  # unreadable, too slow, too large


def test_every_operation_documents_every_answer_a_request_can_get(client):
    doc = document(client)
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = ANY_OPERATION | (READS_BODY if "requestBody" in operation else set())
            assert expected <= set(responses), (path, method)
            assert responses["405"]["headers"]["Allow"]["required"], (path, method)
            for status in ("429", "503"):
                assert "Retry-After" in responses[status]["headers"], (path, method, status)
            for status in ("500", "503"):
                assert response_schema(doc, path, method, status), (path, method, status)


@pytest.mark.parametrize("path, reads", [
    ("/sequence/v1/series", "invx.sequence_service.series.list_series"),
    ("/sequences.json?api_key={key}", "invx.invoicexpress.sequences.list_sequences")])
def test_a_failure_of_the_servers_is_the_documented_500(client, key, monkeypatch, path,
                                                        reads):
    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(reads, fail)
    response = client.get(path.format(key=key), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 500
    documented = path.split("?")[0]
    OAS31Validator(response_schema(document(client), documented, "get", "500")).validate(
        response.get_json())


def test_another_method_and_a_body_too_large_are_the_documented_405_and_413(client, key,
                                                                              app):
    too_large = settings_of(app).max_body_bytes + 1
    auth = {"Authorization": f"Bearer {key}"}
    doc = document(client)
    path = "/sequence/v1/series/3fa85f64-5717-4562-b3fc-2c963f66afa6"
    response = client.delete(path, headers=auth)
    assert response.status_code == 405 and "PUT" in response.headers["Allow"]
    OAS31Validator(response_schema(doc, "/sequence/v1/series/{id}", "put", "405")).validate(
        response.get_json())
    response = client.put(path, data=b" " * too_large, headers=auth,
                          content_type="application/json")
    assert response.status_code == 413
    OAS31Validator(response_schema(doc, "/sequence/v1/series/{id}", "put", "413")).validate(
        response.get_json())
    response = client.post(f"/sequences.json?api_key={key}", data=b" " * too_large)
    assert response.status_code == 413 and response.data == b""
    assert "content" not in doc["paths"]["/sequences.json"]["post"]["responses"]["413"]


@pytest.mark.parametrize("name", ["EntryCreate", "SeriesCreate"])
def test_a_sig_is_a_compact_jws_in_the_document_as_in_validation(client, name):
    """Read as JSON Schema reads ``pattern`` (ECMA-262: ``$`` is the end), as jsonschema-rs
    does; Python's jsonschema, with ``re.search``, lets ``$`` match before a final newline."""
    schema = {"EntryCreate": EntryCreateSchema, "SeriesCreate": SeriesCreateSchema}[name]()
    documents = document(client)["components"]["schemas"]
    documented = documents[name]["properties"]["sig"]
    validator = jsonschema_rs.validator_for({**documented, "type": "string"})
    for sig, valid in (("eyJhbGciOiJFUzI1NiJ9.e30.c2ln", True), ("eyJ9..", True),
                       ("eyJ9.e30.c2ln\n", False), ("a.b", False), ("a.b.c d", False)):
        assert validator.is_valid(sig) is valid, sig
        assert (not schema.validate({"sig": sig})) is valid, sig
    for answer in ("Entry", "Series"):
        items = documents[answer]["properties"]["sigs"]["items"]
        assert items["pattern"] == documented["pattern"]


def test_the_lists_pages_are_described(client):
    from invx.invoicexpress.schemas import DEFAULT_PER_PAGE
    from invx.sequence_service.schemas import DEFAULT_SERIES_LIMIT, MAX_LIMIT
    paths = document(client)["paths"]
    series = {p["name"]: p["schema"] for p in paths["/sequence/v1/series"]["get"]["parameters"]}
    assert set(series) == {"limit", "cursor"}
    assert (series["limit"]["minimum"], series["limit"]["maximum"],
            series["limit"]["default"]) == (1, MAX_LIMIT, DEFAULT_SERIES_LIMIT)
    sequences = {p["name"]: p["schema"] for p in paths["/sequences.json"]["get"]["parameters"]}
    assert sequences["page"]["default"] == 1
    assert sequences["per_page"]["default"] == DEFAULT_PER_PAGE
    listed = response_schema(document(client), "/sequences.json", "get", "200")
    assert listed["required"] == ["sequences", "pagination"]
    assert set(listed["properties"]["pagination"]["required"]) == {
        "total_entries", "current_page", "total_pages", "per_page"}


def test_the_invoicexpress_429_is_its_000_with_what_happened(client):
    doc = document(client)
    for path, item in doc["paths"].items():
        for method in item:
            if path.startswith("/sequence/"):
                continue
            body = {"code": "000", "message": errors.RATE_LIMITED}
            if path.endswith("/register.json"):
                body = {"errors": body}
            OAS31Validator(response_schema(doc, path, method, "429")).validate(body)
