"""JSON answers, shared by both APIs (``json_text`` reads JSON bodies)."""
import json

from flask import Response
from werkzeug.routing import IntegerConverter

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


# 18 digits stay below 2**63, the largest integer a database column holds (and far below
# the 4,300 digits past which ``int`` refuses a string).
MAX_DIGITS = 18


def ascii_integer(text, max_digits=MAX_DIGITS):
    """The integer ``text`` writes in ASCII digits (at most ``max_digits``), or None.

    Client input is never read with ``str.isdigit`` and ``int`` alone: ``isdigit`` is true
    of ``²``, ``①`` or ``¹²``, which ``int`` then refuses (a 500), and ``int`` reads
    Arabic-Indic ``\\u0661\\u0662`` as 12."""
    if isinstance(text, str) and 0 < len(text) <= max_digits and text.isascii() \
            and text.isdigit():
        return int(text)
    return None


class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` in URLs, of ASCII digits only: werkzeug's ``\\d+`` matches any
    Unicode decimal digit, so ``/sequences/\\u0661\\u0667.json`` (Arabic-Indic 17)
    would name sequence 17."""

    regex = r"[0-9]+"
