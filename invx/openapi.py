"""``GET /openapi.json``: the OpenAPI 3.1 description of both APIs.

Built with apispec from the marshmallow schemas the APIs validate and answer with, so a
limit that validation enforces is in the document too. Each API describes its own half
(``invoicexpress.openapi``, ``sequence_service.openapi``); this module adds what they share
and serves the document, built once.
"""
import functools

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint
from marshmallow import fields, validate

from .http import json_response
from .invoicexpress import openapi as invoicexpress_openapi
from .sequence_service import openapi as sequence_service_openapi

bp = Blueprint("openapi", __name__)
DESCRIPTION = ("InvoiceXpress-compatible sequences, registered with the Portuguese Tax "
               "Authority (AT), and the Sequence Service: gap-free, idempotent, chained and "
               "signed numbers. Each operation lists every answer it can give. Before any "
               "operation, the HTTP server refuses what it cannot read as a request (400, "
               "414 for a request line over 8190 bytes, 431 for more than 100 headers or "
               "one over 8190 bytes, 417, 501), with a JSON {\"code\", \"message\"} body.")


def _object_limits(converter, field, ret, **kwargs):
    """A dict's size limits are minProperties/maxProperties (apispec writes them as string
    lengths), and its keys' own limits are propertyNames."""
    if not isinstance(field, fields.Dict):
        return {}
    limits = {f"{bound}Properties": ret.pop(f"{bound}Length")
              for bound in ("min", "max") if f"{bound}Length" in ret}
    keys = {}
    for validator in getattr(field.key_field, "validators", ()):
        if isinstance(validator, validate.Length):
            keys.update({name: value for name, value in (("minLength", validator.min),
                                                         ("maxLength", validator.max))
                         if value is not None})
    if keys:
        limits["propertyNames"] = keys
    return limits


@functools.cache
def document():
    """The OpenAPI document (a dict)."""
    plugin = MarshmallowPlugin()
    spec = APISpec(title="invx", version="1", openapi_version="3.1.0", plugins=[plugin],
                   info={"description": DESCRIPTION}, servers=[{"url": "/"}])
    plugin.converter.add_attribute_function(_object_limits)
    spec.components.security_scheme("api_key", {"type": "apiKey", "in": "query",
                                                "name": "api_key"})
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer", "description": "The account's API key as the token."})
    invoicexpress_openapi.describe(spec)
    sequence_service_openapi.describe(spec)
    described = spec.to_dict()
    return {"openapi": described.pop("openapi"), **described}  # the version first, as usual


@bp.get("/openapi.json")
def openapi():
    return json_response(document())
