"""JSON text read safely: what both APIs and the fake AT parse their bodies with. Knows
nothing of Flask."""
import json


def load_json(data, **options):
    """``json.loads``, with arrays or objects nested deeper than the parser goes refused
    as ``ValueError`` too (it raises RecursionError), like any other body that is not JSON."""
    try:
        return json.loads(data, **options)
    except RecursionError:
        raise ValueError("nested too deeply") from None
