"""The InvoiceXpress half of ``/openapi.json`` against what the API really answers."""
from openapi_schema_validator import OAS31Validator

from ..support.invoicexpress import SPEC_KEYS, create
from ..support.openapi import document, response_schema


def test_the_sequence_schema_lists_every_key_in_order(client):
    schema = document(client)["components"]["schemas"]["Sequence"]
    assert list(schema["properties"]) == SPEC_KEYS
    assert set(schema["required"]) == set(SPEC_KEYS)
    assert schema["additionalProperties"] is False


def test_real_responses_validate_against_the_document(client, key):
    doc = document(client)
    created = create(client, key)
    OAS31Validator(response_schema(doc, "/sequences.json", "post", "201")).validate(
        created.get_json())
    listing = client.get(f"/sequences.json?api_key={key}").get_json()
    OAS31Validator(response_schema(doc, "/sequences.json", "get", "200")).validate(listing)
    error = create(client, key).get_json()  # 002
    OAS31Validator(response_schema(doc, "/sequences.json", "post", "422")).validate(error)
    sequence_id = created.get_json()["sequence"]["id"]
    wrapped = client.put(f"/sequences/{sequence_id}/register.json?api_key={key}").get_json()
    OAS31Validator(
        response_schema(doc, "/sequences/{id}/register.json", "put", "409")).validate(wrapped)
