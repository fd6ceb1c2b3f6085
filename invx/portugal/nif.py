"""Portugal as an account's country, and the Portuguese fiscal number (NIF)."""
import re

PORTUGAL = "PT"  # ISO 3166-1 alpha-2
_NIF = re.compile(r"[0-9]{9}", re.ASCII)


def is_valid_nif(nif):
    """True for a 9-digit Portuguese fiscal number whose check digit is right."""
    if not isinstance(nif, str) or not _NIF.fullmatch(nif):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(nif[:8], range(9, 1, -1), strict=True))
    remainder = total % 11
    check = 0 if remainder < 2 else 11 - remainder
    return check == int(nif[8])
