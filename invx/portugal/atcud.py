"""Validation codes and the ATCUD, the document's unique code: ``<validation code>-<n>``."""

# Validation codes are made of these: no vowels, no 0 or 1.
VALIDATION_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXYZ23456789"


def atcud(validation_code, number):
    """The ATCUD of document ``number`` of a series registered under ``validation_code``."""
    return f"{validation_code}-{number}"
