"""Configuration: defaults in code, overridden by ``INVX_*`` environment variables.

This is the only module that reads ``os.environ`` for the application.
"""
import os
import ssl

PREFIX = "INVX_"


class ConfigError(ValueError):
    """An ``INVX_*`` variable holds a value invx cannot use."""


def _number(cast, minimum):
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


def _ca_bundle(name, value):
    """A PEM file of CA certificates, read once here so that a wrong one stops the start."""
    try:
        ssl.create_default_context(cafile=value)
    except OSError as error:  # ssl.SSLError included: a file with no certificate in it
        raise ConfigError(f"{PREFIX}{name}: no CA certificate can be read from {value!r} "
                          f"({error.strerror or error})") from None
    return value


def database_url(url):
    """The SQLAlchemy URL to use: ``postgres://`` and ``postgresql://`` mean psycopg2."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme):]
    return url


# name -> (Flask config key, parser). Only these variables are read.
_VARIABLES = {
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", lambda n, v: database_url(v)),
    "LOG_LEVEL": ("INVX_LOG_LEVEL", lambda n, v: v.upper()),
    "REGISTRATION_LEASE_SECONDS": ("INVX_REGISTRATION_LEASE_SECONDS", _number(int, 5)),
    "SANDBOX_LATENCY": ("INVX_SANDBOX_LATENCY", _number(float, 0)),
    "MAX_BODY_BYTES": ("MAX_CONTENT_LENGTH", _number(int, 1024)),
    "SECRET_KEY": ("INVX_SECRET_KEY", lambda n, v: v),
    "AT_CONNECT_TIMEOUT": ("INVX_AT_CONNECT_TIMEOUT", _number(float, 0.1)),
    "AT_READ_TIMEOUT": ("INVX_AT_READ_TIMEOUT", _number(float, 0.1)),
    "AT_CONCURRENCY": ("INVX_AT_CONCURRENCY", _number(int, 1)),
    "AT_CA_BUNDLE": ("INVX_AT_CA_BUNDLE", _ca_bundle),
    "DB_POOL_SIZE": ("INVX_DB_POOL_SIZE", _number(int, 1)),
    "BENCHMARK_ENDPOINTS": ("INVX_BENCHMARK_ENDPOINTS", lambda n, v: v.lower() in ("1", "true")),
}


def defaults(instance_path):
    """The configuration invx runs with when no variable is set."""
    return {
        "SQLALCHEMY_DATABASE_URI": "sqlite:///" + os.path.join(instance_path, "invx.sqlite3"),
        # hide_parameters: a logged database error never shows the values it was given.
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True, "hide_parameters": True},
        "INVX_LOG_LEVEL": "INFO",
        # How long a registration may hold a sequence before another worker may take it over.
        "INVX_REGISTRATION_LEASE_SECONDS": 120,
        # Simulated round-trip time of the sandbox Tax Authority, in seconds.
        "INVX_SANDBOX_LATENCY": 0.0,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        # Seals AT passwords and client keys at rest; unset, invx refuses to store them.
        "INVX_SECRET_KEY": None,
        "INVX_AT_CONNECT_TIMEOUT": 5.0,
        "INVX_AT_READ_TIMEOUT": 30.0,
        # How many document types of one series are registered with AT at the same time.
        "INVX_AT_CONCURRENCY": 6,
        # The CAs AT's server certificate is checked against (a PEM file); unset,
        # certifi's copy of Mozilla's list, which requests uses by default.
        "INVX_AT_CA_BUNDLE": None,
        # Database connections each process keeps (plus up to 10 more for a burst):
        # gunicorn.conf.py sets it to the threads of a worker, so no thread waits for one.
        "INVX_DB_POOL_SIZE": 32,
        # The references of `make bench` (/bench/v1/...): off unless benchmarking.
        "INVX_BENCHMARK_ENDPOINTS": False,
    }


def from_environment(environ=None):
    """The Flask config keys set by ``INVX_*`` variables in ``environ``."""
    environ = os.environ if environ is None else environ
    settings = {}
    for name, (key, parse) in _VARIABLES.items():
        value = environ.get(PREFIX + name)
        if value is not None and value != "":
            settings[key] = parse(name, value)
    return settings


def instance_path_override(environ=None):
    """``INVX_INSTANCE_PATH``, where the embedded database and demo key live, if set."""
    environ = os.environ if environ is None else environ
    return environ.get(PREFIX + "INSTANCE_PATH") or None
