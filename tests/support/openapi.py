"""``/openapi.json`` as the tests read it: the document, and a response checked against it."""
from openapi_schema_validator import OAS31Validator


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


def validate(client, path, method, status, body):
    """``body`` is valid under the document's schema of that response."""
    OAS31Validator(response_schema(document(client), path, method, status)).validate(body)
