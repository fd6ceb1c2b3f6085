"""The InvoiceXpress ``sequences`` resource as a client sees it: the spec's tables, written
out independently of invx's, and requests."""

# The spec's table, written out independently of invx.portugal.document_types:
# (type, offset, ATCUD-relevant).
SPEC_TYPES = [
    ("invoice", 0, True), ("invoice_receipt", 2, True), ("simplified_invoice", 1, True),
    ("credit_note", 5, True), ("debit_note", 4, True), ("receipt", 3, True),
    ("shipping", 14, True), ("transport", 16, True), ("devolution", 15, True),
    ("proforma", 12, True), ("quote", 11, True), ("fees_note", 13, False),
    ("vat_moss_invoice", 7, False), ("vat_moss_credit_note", 8, False),
    ("vat_moss_receipt", 9, False),
]
JSON_TYPE = "application/json; charset=utf-8"
# The SEQUENCE object's keys, in the documented order.
SPEC_KEYS = ["id", "serie", "default_sequence"] + [
    f"current_{name}_{field}" for name, _, _ in SPEC_TYPES
    for field in ("number", "sequence_id", "validation_code")]


def create(client, key, serie="2026", path="/sequences.json", **sequence):
    """POST /sequences.json for ``serie``."""
    return client.post(f"{path}?api_key={key}", json={"sequence": {"serie": serie, **sequence}})


def listed(client, key):
    """GET /sequences.json: the account's sequences."""
    response = client.get(f"/sequences.json?api_key={key}")
    assert response.status_code == 200
    return response.get_json()["sequences"]


def defaults(client, key):
    """{serie: default_sequence} of the account's sequences."""
    return {s["serie"]: s["default_sequence"] for s in listed(client, key)}
