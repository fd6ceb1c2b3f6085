"""invx's settings: one typed, frozen ``Settings``, read once from ``INVX_*`` variables.

This is the only module that reads ``os.environ`` for the application, and the only place
a setting's default is written. ``create_app`` keeps the app's ``Settings`` in
``app.extensions``; domain code is handed the settings it needs, never the Flask config.

A dataclass of the standard library, not pydantic-settings: a few values, each with a
parser whose error names the variable and what it takes (one line, as a person reads it),
and checks of their own (the CA bundle is opened at start), for no compiled dependency.
"""
import dataclasses
import os
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy.engine import make_url

from .config_values import (  # noqa: F401  (ConfigError, database_url: named from here too)
    LOG_LEVELS,
    MIN_TOKEN_LENGTH,
    PREFIX,
    REDIS_SCHEMES,
    ConfigError,
    ca_bundle,
    check_rate_limit,
    check_redis_url,
    choice,
    database_url,
    domain_name,
    log_level_name,
    number,
    previous_keys,
    text,
    token,
)
from .logs import FORMATS

EXTENSION = "invx"  # the key of the app's Settings in ``app.extensions``
GUARD_MODES = ("raise", "log", "off")
LOG_FORMATS = FORMATS  # invx.logs renders each


def _setting(default, variable, parse=text):
    """A field of ``Settings``, read from ``INVX_<variable>`` with ``parse``."""
    return field(default=default, metadata={"variable": variable, "parse": parse})


@dataclass(frozen=True)
class Settings:
    """Everything invx can be configured with; each field names its ``INVX_*`` variable."""

    # The database; None: the embedded SQLite database in the instance folder.
    database_url: str | None = _setting(None, "DATABASE_URL", lambda n, v: database_url(v))
    # A replica (a PostgreSQL standby) for the reads that tolerate a little lag: the
    # Sequence Service's entries list, /verify, /keys, and `invx export`. None: the primary.
    read_database_url: str | None = _setting(None, "READ_DATABASE_URL",
                                             lambda n, v: database_url(v))
    # Where the embedded database and the demo's keys live; None: Flask's instance folder.
    instance_path: str | None = _setting(None, "INSTANCE_PATH")
    log_level: str = _setting("INFO", "LOG_LEVEL", log_level_name)
    # Log lines as one JSON object each ("json"), or as text for a person ("text").
    log_format: str = _setting("json", "LOG_FORMAT", choice(LOG_FORMATS))
    # Seals AT passwords, client keys and signing keys at rest; unset, invx refuses to
    # store them.
    secret_key: str | None = _setting(None, "SECRET_KEY")
    # Keys INVX_SECRET_KEY had before (commas or spaces between them): what they sealed
    # still opens, until `invx secrets rotate` reseals it with INVX_SECRET_KEY.
    secret_key_previous: tuple[str, ...] = _setting((), "SECRET_KEY_PREVIOUS", previous_keys)
    max_body_bytes: int = _setting(1024 * 1024, "MAX_BODY_BYTES", number(int, 1024))
    # The longest a client may take to send a request's body, in seconds (then 408).
    body_timeout: float = _setting(10.0, "BODY_TIMEOUT", number(float, 0.1))
    # The domain under which a host names an account (ACCOUNT.app.invoicexpress.com); a
    # host under it that names another account than the key's is refused. None: the Host
    # header names no account.
    account_domain: str | None = _setting(None, "ACCOUNT_DOMAIN", domain_name)
    # Database connections each process keeps (plus up to 10 more for a burst):
    # gunicorn.conf.py sets it to the threads of a worker, so no thread waits for one.
    db_pool_size: int = _setting(32, "DB_POOL_SIZE", number(int, 1))
    # Seconds a new PostgreSQL connection may take to be made (libpq's connect_timeout, and
    # its tcp_user_timeout, which gevent's non-blocking connections also obey): a database
    # host that is down but silent fails requests and /readyz this fast.
    db_connect_timeout: int = _setting(5, "DB_CONNECT_TIMEOUT", number(int, 1))
    # How long a registration may hold a sequence before another worker may take it over.
    registration_lease_seconds: int = _setting(120, "REGISTRATION_LEASE_SECONDS",
                                               number(int, 5))
    # How often (seconds) a worker serving requests looks for registrations whose worker
    # died (their lease ran out) and resumes them; 0: never (``invx registrations resume``
    # on a timer instead).
    resume_check_seconds: int = _setting(30, "RESUME_CHECK_SECONDS", number(int, 0))
    # Simulated round-trip time of the sandbox Tax Authority, in seconds.
    sandbox_latency: float = _setting(0.0, "SANDBOX_LATENCY", number(float, 0))
    at_connect_timeout: float = _setting(5.0, "AT_CONNECT_TIMEOUT", number(float, 0.1))
    at_read_timeout: float = _setting(30.0, "AT_READ_TIMEOUT", number(float, 0.1))
    # How many document types of one series are registered with AT at the same time.
    at_concurrency: int = _setting(6, "AT_CONCURRENCY", number(int, 1))
    # The CAs AT's server certificate is checked against (a PEM file); unset, certifi's
    # copy of Mozilla's list, which requests uses by default.
    at_ca_bundle: str | None = _setting(None, "AT_CA_BUNDLE", ca_bundle)
    # A call to a Tax Authority made while the calling thread has a database transaction
    # open: "raise" (the test suite), "log" an error, or "off" (not even watched).
    at_transaction_guard: str = _setting("log", "AT_TRANSACTION_GUARD", choice(GUARD_MODES))
    # What one GET .../verify checks at most after the series' checkpoint: this many
    # entries, and no page of them begun after this many seconds (an entry is ~0.1 ms).
    verify_max_entries: int = _setting(10000, "VERIFY_MAX_ENTRIES", number(int, 1))
    verify_seconds: float = _setting(1.0, "VERIFY_SECONDS", number(float, 0))
    # Requests each account may make (``100/minute``, InvoiceXpress's own limit); None: no
    # limit. Beyond it, 429 with Retry-After.
    rate_limit: str | None = _setting(None, "RATE_LIMIT", lambda n, v: check_rate_limit(v))
    # Where every worker and machine counts those requests together; None: each process
    # counts its own.
    redis_url: str | None = _setting(None, "REDIS_URL", lambda n, v: check_redis_url(v))
    # The prefix of invx's keys in Redis, for deployments that share one Redis.
    redis_key_prefix: str = _setting("invx", "REDIS_KEY_PREFIX")
    # The bearer token GET /metrics asks for; None: /metrics is off (404).
    metrics_token: str | None = _setting(None, "METRICS_TOKEN", token)
    # Where gunicorn's workers keep their metrics (emptied at start); None: a private
    # temporary folder, removed at exit.
    metrics_dir: str | None = _setting(None, "METRICS_DIR")

    def __post_init__(self):
        # Values given in code (tests, tools) follow the variables' rules too.
        if self.at_transaction_guard not in GUARD_MODES:
            raise ConfigError(f"at_transaction_guard must be one of {', '.join(GUARD_MODES)}, "
                              f"not {self.at_transaction_guard!r}")
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}, "
                              f"not {self.log_format!r}")
        if self.rate_limit is not None:
            check_rate_limit(self.rate_limit, "rate_limit")
        if self.redis_url is not None:
            check_redis_url(self.redis_url, "redis_url")
        if isinstance(self.secret_key_previous, str):
            object.__setattr__(self, "secret_key_previous",
                               previous_keys("SECRET_KEY_PREVIOUS", self.secret_key_previous))
        for url in ("database_url", "read_database_url"):
            if getattr(self, url) is not None:
                object.__setattr__(self, url, database_url(getattr(self, url)))
        if self.metrics_token is not None:
            token("METRICS_TOKEN", self.metrics_token)
        if self.account_domain is not None:
            object.__setattr__(self, "account_domain",
                               domain_name("ACCOUNT_DOMAIN", self.account_domain))

    def __repr__(self):
        """Without the secret key, and the URLs without their passwords: settings
        may reach a traceback, a log line or a debugger's view of the stack."""
        shown = {setting.name: getattr(self, setting.name) for setting in dataclasses.fields(self)}
        if shown["secret_key"] is not None:
            shown["secret_key"] = "***"  # noqa: S105 (a mask, not a password)
        if shown["metrics_token"] is not None:
            shown["metrics_token"] = "***"  # noqa: S105 (a mask, not a token)
        shown["secret_key_previous"] = tuple("***" for _ in shown["secret_key_previous"])
        for url in ("database_url", "read_database_url", "redis_url"):
            if shown[url] is not None:
                shown[url] = make_url(shown[url]).render_as_string(hide_password=True)
        return f"Settings({', '.join(f'{name}={value!r}' for name, value in shown.items())})"

    @classmethod
    def from_environment(cls, environ=None, **overrides):
        """The settings ``INVX_*`` variables in ``environ`` (default ``os.environ``) give,
        then ``overrides`` (field names); raises ConfigError for a value invx cannot use."""
        environ = os.environ if environ is None else environ
        values = {}
        for setting in dataclasses.fields(cls):
            value = environ.get(PREFIX + setting.metadata["variable"])
            if value is not None and value != "":
                values[setting.name] = setting.metadata["parse"](
                    setting.metadata["variable"], value)
        return cls(**{**values, **overrides})

    @classmethod
    def one_from_environment(cls, name, environ=None):
        """The setting ``name`` (a field) as its ``INVX_*`` variable gives it, without
        reading the others (gunicorn's logger, before the app); ConfigError if bad."""
        environ = os.environ if environ is None else environ
        setting = next(s for s in dataclasses.fields(cls) if s.name == name)
        value = environ.get(PREFIX + setting.metadata["variable"])
        if value is None or value == "":
            return setting.default
        return setting.metadata["parse"](setting.metadata["variable"], value)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    @property
    def secret_keys(self):
        """INVX_SECRET_KEY and the previous ones, as ``secret_box`` takes them."""
        from .secret_box import Keys
        return Keys(self.secret_key, self.secret_key_previous)

    @property
    def registration_lease(self):
        return timedelta(seconds=self.registration_lease_seconds)

    @property
    def at_timeout(self):
        """(connect, read) seconds, as ``requests`` takes them."""
        return (self.at_connect_timeout, self.at_read_timeout)

    def database_uri(self, instance_path):
        """The SQLAlchemy URL of the database, the embedded one by default."""
        return self.database_url or "sqlite:///" + os.path.join(instance_path, "invx.sqlite3")


# Flask keys that the settings own: given as Flask config they would be silently replaced.
_OWNED_FLASK_KEYS = ("SQLALCHEMY_DATABASE_URI", "MAX_CONTENT_LENGTH")


def check_flask_config(flask_config):
    """Refuse Flask config that the Settings own (give them as Settings instead)."""
    owned = sorted(key for key in flask_config
                   if key in _OWNED_FLASK_KEYS or key.startswith(PREFIX))
    if owned:
        raise ConfigError(f"{', '.join(owned)}: set these through Settings, not Flask's config")


def current():
    """The settings of the app handling this request or command."""
    return settings_of(current_app)


def settings_of(app):
    return app.extensions[EXTENSION]


# Where each gunicorn worker writes its metrics (prometheus_client's multiprocess mode), set
# by the master before any worker forks (``metrics.on_starting``); None: one process.
METRICS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def metrics_directory():
    return os.environ.get(METRICS_DIRECTORY_VARIABLE) or None


def set_metrics_directory(path):
    if path is None:
        os.environ.pop(METRICS_DIRECTORY_VARIABLE, None)
    else:
        os.environ[METRICS_DIRECTORY_VARIABLE] = path
