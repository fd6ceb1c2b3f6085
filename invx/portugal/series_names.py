"""AT's rules for a series identifier (the ``serie`` of a sequence)."""
import re

# 1 to 35 characters of A-Z a-z 0-9, separated by single . _ - never at either end.
SERIE_PATTERN = re.compile(r"^(?=.{1,35}$)[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$", re.ASCII)


def is_valid_serie(name):
    """True when ``name`` follows AT's series identifier rules."""
    return isinstance(name, str) and SERIE_PATTERN.fullmatch(name) is not None


def serie_key(name):
    """The form series names are compared in: AT ignores case."""
    return name.lower()
