"""JSON answers, shared by both APIs (``json_text`` reads JSON bodies)."""
import json

from flask import Response

JSON_TYPE = "application/json; charset=utf-8"


def json_response(payload, status=200):
    """A response in the InvoiceXpress style: UTF-8 JSON, keys in the order given. An
    unpaired surrogate (a field's error can echo the key a client sent) is written as its
    JSON escape, ``\\udfff``, as it came: UTF-8 has no bytes for it."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8", "backslashreplace"), status=status,
                    content_type=JSON_TYPE)


def empty_response(status):
    return Response(b"", status=status, content_type=JSON_TYPE)
