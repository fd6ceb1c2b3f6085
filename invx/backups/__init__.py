"""Copies of invx's data: the embedded database backed up online (``sqlite``), and an
account exported as JSON lines (``export``). Knows nothing of Flask."""
