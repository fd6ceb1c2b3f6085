"""The InvoiceXpress ``sequences`` resource: thin views (``/sequences*.json``), the request
and SEQUENCE schemas, its half of the OpenAPI document, and the sequences themselves (the
domain). Registration with AT is ``registration``'s; this package turns its failures into
InvoiceXpress's error codes."""
