"""``/openapi.json``: a valid OpenAPI 3.1 document, generated from the schemas the APIs
validate with, that describes every endpoint and every limit."""
import re

import pytest
from marshmallow import fields, validate
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_document

from invx import errors
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
        ("/sequence/v1/series/{series_id}/entries/{id}", "get"), ("/sequence/v1/keys", "get")}

    # and the app serves nothing it does not describe (parameter names aside)
    def shape(path):
        return re.sub(r"\{[^}]+\}", "{}", re.sub(r"<(?:\w+:)?\w+>", "{}", path))

    served = {(shape(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    served -= {("/openapi.json", "get"), ("/static/{}", "get")}
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
