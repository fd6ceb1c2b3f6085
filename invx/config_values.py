"""The parsers of ``INVX_*`` values (``config.Settings`` uses them): each turns a variable's
text into its value, or raises ConfigError with one line that names the variable and what
it takes."""
import re
import ssl

from limits import parse_many

PREFIX = "INVX_"


class ConfigError(ValueError):
    """An ``INVX_*`` variable holds a value invx cannot use."""


def number(cast, minimum):
    """A parser of numeric variables: ``cast`` is int or float, refused below ``minimum``."""
    kind = "an integer" if cast is int else "a number"

    def parse(name, value):
        try:
            number = cast(value)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name} must be {kind}, not {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{PREFIX}{name} must be at least {minimum}")
        return number

    return parse


def ca_bundle(name, value):
    """A PEM file of CA certificates, read once here so that a wrong one stops the start."""
    try:
        ssl.create_default_context(cafile=value)
    except OSError as error:  # ssl.SSLError included: a file with no certificate in it
        raise ConfigError(f"{PREFIX}{name}: no CA certificate can be read from {value!r} "
                          f"({error.strerror or error})") from None
    return value


def choice(choices):
    def parse(name, value):
        value = value.lower()
        if value not in choices:
            raise ConfigError(f"{PREFIX}{name} must be one of {', '.join(choices)}, "
                              f"not {value!r}")
        return value

    return parse


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level_name(name, value):
    level = value.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{PREFIX}{name} must be one of {', '.join(LOG_LEVELS)}, "
                          f"not {value!r}")
    return level


def previous_keys(name, value):
    """Old secret keys, separated by commas or spaces (never shown: they are secrets)."""
    return tuple(key for key in re.split(r"[\s,]+", value) if key)


def database_url(url):
    """The SQLAlchemy URL to use: ``postgres://`` and ``postgresql://`` mean psycopg2, and
    libpq's multi-host form (``postgresql://u@h1:5432,h2:5432/invx?target_session_attrs=
    read-write``, a primary and its standbys) becomes SQLAlchemy's (``postgresql+psycopg2:
    //u@/invx?host=h1:5432&host=h2:5432&...``), which hands libpq the same host list."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            url = "postgresql+psycopg2://" + url[len(scheme):]
    if url.startswith("postgresql"):
        url = _multi_host(url)
    return url


def _multi_host(url):
    scheme, rest = url.split("://", 1)
    netloc, _, tail = rest.partition("/")
    user, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return url
    database, _, query = tail.partition("?")
    listed = "&".join("host=" + host for host in hosts.split(",") if host)
    return f"{scheme}://{user}{at}/{database}?{listed}" + ("&" + query if query else "")


def text(name, value):
    return value


def domain_name(name, value):
    domain = value.strip().strip(".").lower()
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+",
                        domain):
        raise ConfigError(f"INVX_{name} must be a domain name such as app.example.com, "
                          f"not {value!r}")
    return domain


MIN_TOKEN_LENGTH = 16


def token(name, value):
    """A bearer token: printable ASCII without spaces, long enough not to be guessed. The
    error never shows it (it is a secret)."""
    if len(value) < MIN_TOKEN_LENGTH or not re.fullmatch(r"[\x21-\x7e]+", value):
        raise ConfigError(f"{PREFIX}{name} must be at least {MIN_TOKEN_LENGTH} printable "
                          "ASCII characters without spaces, such as the output of "
                          "`openssl rand -hex 32`")
    return value


def check_rate_limit(text, what=f"{PREFIX}RATE_LIMIT"):
    """A rate limit in the ``limits`` library's notation (``100/minute``, ``1000 per hour``,
    several joined by ``;``), returned as given; ConfigError otherwise."""
    try:
        parse_many(text)
    except ValueError:
        raise ConfigError(f"{what} must be a rate limit such as 100/minute, not {text!r}") \
            from None
    return text


REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def check_redis_url(text, what=f"{PREFIX}REDIS_URL"):
    if not text.startswith(REDIS_SCHEMES):  # not shown: it may hold Redis's password
        raise ConfigError(f"{what} must be a URL of scheme {', '.join(REDIS_SCHEMES)}, "
                          "such as redis://127.0.0.1:6379/0")
    return text
