"""Start-up checks: the server (gunicorn's master, before it forks a worker) and every
``invx`` command refuse to start, with one line that names the cause and the fix, rather
than start and then fail request by request, or stop with a traceback.

Refused: a setting invx cannot use; a database it cannot reach, or one not migrated (the
server); sealed secrets (``sealed``) while INVX_SECRET_KEY is unset, or that neither it nor
INVX_SECRET_KEY_PREVIOUS opens. Without INVX_SECRET_KEY and nothing sealed yet, the server
starts with a warning: it cannot sign entries nor use AT until the key is set.
"""
import os
import re
import sys

from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from . import config, sealed
from .extensions import db
from .log_safety import escape_controls, redact
from .secret_box import MIN_SECRET_LENGTH

KEYLESS_WARNING = (
    "INVX_SECRET_KEY is not set: entries will be refused (503 signing_unavailable) and AT "
    "cannot be used until it is set (docs/secrets.md)")
_GENERATE = "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"


class Refusal(Exception):
    """Why invx will not start: one line, the cause and the fix."""


def settings():
    """The settings of the ``INVX_*`` variables, or a Refusal naming the bad one."""
    try:
        found = config.Settings.from_environment()
    except config.ConfigError as error:
        raise Refusal(f"{error}") from None
    for name, key in [("INVX_SECRET_KEY", found.secret_key)] + [
            ("INVX_SECRET_KEY_PREVIOUS", key) for key in found.secret_key_previous]:
        if key is not None and len(key) < MIN_SECRET_LENGTH:
            raise Refusal(f"{name} must be at least {MIN_SECRET_LENGTH} characters (a long "
                          f"random string, e.g. from {_GENERATE})")
    return found


def check_database(app, migrated=True):
    """``app``'s database answers (and, with ``migrated``, is at the migrations' head);
    a Refusal otherwise. Inside an app context."""
    url = db.engine.url.render_as_string(hide_password=True)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            stored = set(context.get_current_heads())
            if migrated:
                with Operations.context(context):  # migrations that use op.f() at import
                    heads = set(ScriptDirectory.from_config(
                        app.extensions["migrate"].migrate.get_config()).get_heads())
    except DBAPIError as error:
        raise Refusal(_unreachable(url, error)) from None
    except SQLAlchemyError as error:
        raise Refusal(f"cannot use the database {url}: {error.__class__.__name__}; "
                      "check INVX_DATABASE_URL") from None
    if migrated and stored != heads:
        now = ", ".join(sorted(stored)) or "none"
        raise Refusal(f"the database {url} is not migrated (at revision {now}, this invx "
                      f"needs {', '.join(sorted(heads))}): run `invx db upgrade`")


# libpq's reasons, and what to do about each.
_FIXES = (
    (re.compile(r'role "([^"]+)" does not exist'),
     "create it (as PostgreSQL's superuser: `createuser {0}`), or name another role in "
     "INVX_DATABASE_URL"),
    (re.compile(r'database "([^"]+)" does not exist'),
     "create it (`createdb -O OWNER {0}`), or name another database in INVX_DATABASE_URL"),
    (re.compile(r"password authentication failed|no password supplied"),
     "check the user and password in INVX_DATABASE_URL"),
    (re.compile(r"Connection refused|could not translate host name|timeout expired|"
                r"No route to host|No such file or directory", re.IGNORECASE),
     "start PostgreSQL, or correct the host and port in INVX_DATABASE_URL"),
    (re.compile(r"unable to open database file", re.IGNORECASE),
     "make the database's folder exist and writable, or set INVX_DATABASE_URL"),
)


def _unreachable(url, error):
    """One line: the URL without its password, libpq's (or SQLite's) reason, the fix."""
    reason = _reason(error)
    fix = "check INVX_DATABASE_URL"
    for pattern, advice in _FIXES:
        found = pattern.search(reason)
        if found:
            fix = advice.format(*found.groups())
            break
    return f"cannot connect to the database {url}: {reason}; {fix}"


def _reason(error):
    """libpq's reason, without the "connection to server at ... failed:" before it."""
    lines = [line.strip() for line in str(error.orig).splitlines() if line.strip()]
    reason = lines[0] if lines else error.orig.__class__.__name__
    reason = re.sub(r"^connection to server .*? failed:\s*", "", reason)
    reason = re.sub(r"^(FATAL|ERROR):\s*", "", reason)
    return escape_controls(redact(reason))


def check_secrets(settings, instance_path=None):
    """None when the sealed secrets open, the warning to log when there is no key and
    nothing sealed; a Refusal otherwise. Inside an app context."""
    hint = _instance_key_hint(instance_path)
    if not settings.secret_key:
        count = sealed.count()
        if count:
            raise Refusal(f"INVX_SECRET_KEY is not set, and the database holds {count} "
                          "sealed secrets (signing keys, AT credentials): set it "
                          f"to the key that sealed them{hint}")
        return KEYLESS_WARNING
    where = sealed.unreadable(settings.secret_keys)
    if where is not None:
        raise Refusal(
            f"INVX_SECRET_KEY cannot open the secrets in the database ({where} was sealed "
            "with another key): set the old key back as INVX_SECRET_KEY, or put it in "
            f"INVX_SECRET_KEY_PREVIOUS and run `invx secrets rotate`{hint}")
    return None


def _instance_key_hint(instance_path):
    path = os.path.join(instance_path or "", "secret-key")
    if instance_path and os.path.exists(path):
        return f" (`make run` keeps the key it made in {path})"
    return ""


def _checked(app, migrated, secrets):
    """check_database, then check_secrets; the connections they used closed (none of
    gunicorn's master may reach a forked worker)."""
    with app.app_context():
        try:
            check_database(app, migrated)
            return check_secrets(config.settings_of(app), app.instance_path) if secrets else None
        finally:
            db.session.remove()
            db.engine.dispose()


def _check_this_server():
    """``python -m invx.startup`` (``serving.check_server`` runs it from gunicorn's master):
    the server's checks; a refusal on stdout and status 1,
    a warning on stdout and status 0."""
    from . import create_app
    try:
        warning = _checked(create_app(settings()), migrated=True, secrets=True)
    except Refusal as refusal:
        print(refusal)
        sys.exit(1)
    if warning:
        print(warning)


# What each ``invx`` command needs before it runs (any other: everything the server needs).
_DATABASE_ONLY = {"db"}  # migrating is how a database gets migrated, with or without a key
_OWN_SECRET_CHECKS = {"secrets"}  # ``invx secrets rotate`` checks the keys its own way
_NOTHING = {"fake-at"}  # the local AT server: neither the database nor a secret


def check_command(app, name):
    """A Refusal when the ``invx`` command ``name`` should not run."""
    if name in _NOTHING:
        return
    _checked(app, migrated=name not in _DATABASE_ONLY,
             secrets=name not in _DATABASE_ONLY | _OWN_SECRET_CHECKS)


if __name__ == "__main__":
    _check_this_server()
