"""The Sequence Service: series and their gap-free, idempotent, chained and signed entries.

Thin views (``/sequence/v1``), the bodies' schemas and its half of the OpenAPI document;
then the domain: ``series`` (create, find, read), ``issuing`` (the next entry, in the
transaction that writes it), ``group_commit`` (concurrent requests for one series share
that transaction), ``store`` and ``postgres_store`` (its statements), ``rows`` (what crosses
them), ``signing`` and ``jws`` (the server's ES256 keys and signatures), ``verification``.
"""
