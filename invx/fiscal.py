"""Portuguese fiscal rules: series identifiers, NIFs, AT document classes, codes."""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

PORTUGAL = "PT"
LISBON = ZoneInfo("Europe/Lisbon")

# 1 to 35 characters of A-Z a-z 0-9, separated by single . _ - never at either end.
SERIE_PATTERN = re.compile(r"^(?=.{1,35}$)[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$", re.ASCII)

# Every AT document class and the types that belong to it.
AT_CLASSES = {
    "SI": {"FT", "FS", "FR", "ND", "NC"},
    "MG": {"GR", "GT", "GA", "GC", "GD"},
    "WD": {"CM", "CC", "FC", "FO", "NE", "OU", "OR", "PF", "RP", "RE", "CS", "LD", "RA"},
    "PY": {"RC", "RG"},
}

# Validation codes are made of these: no vowels, no 0 or 1.
VALIDATION_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXYZ23456789"


def is_valid_serie(name):
    """True when ``name`` follows AT's series identifier rules."""
    return isinstance(name, str) and SERIE_PATTERN.fullmatch(name) is not None


def serie_key(name):
    """The form series names are compared in: AT ignores case."""
    return name.lower()


def is_valid_nif(nif):
    """True for a 9-digit Portuguese fiscal number whose check digit is right."""
    if not isinstance(nif, str) or not re.fullmatch(r"[0-9]{9}", nif):
        return False
    total = sum(int(digit) * weight for digit, weight in zip(nif[:8], range(9, 1, -1), strict=True))
    remainder = total % 11
    check = 0 if remainder < 2 else 11 - remainder
    return check == int(nif[8])


def is_valid_class_and_type(doc_class, doc_type):
    return doc_type in AT_CLASSES.get(doc_class, ())


def today_in_portugal():
    """AT's calendar day: start dates are checked against it."""
    return datetime.now(LISBON).date()
