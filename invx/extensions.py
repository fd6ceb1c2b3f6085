"""Extension instances, bound to the app in ``create_app``."""
import contextlib
import logging
import os

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData, event
from sqlalchemy.engine import make_url

from .log_safety import one_line
from .read_replica import RoutingSession, init_read_replica

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# The Alembic scripts ship inside the package (package data), so an installed invx finds
# them wherever it runs from.
MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")

# An execution option of a connection that only reads: on SQLite its transaction begins with
# a plain (deferred) BEGIN, a snapshot that takes no write lock, instead of BEGIN IMMEDIATE
# (``invx export`` reads a whole account so, while the server goes on writing).
READ_ONLY = "invx_read_only"

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION),
                session_options={"class_": RoutingSession})
migrate = Migrate(render_as_batch=True, compare_type=True)
log = logging.getLogger(__name__)


def init_extensions(app, settings):
    """Bind the database and the migrations to ``app``; returns the database's engine."""
    uri = settings.database_uri(app.instance_path)
    if uri.startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    app.config["SQLALCHEMY_DATABASE_URI"] = uri
    # hide_parameters: a logged database error never shows the values it was given.
    options = {"pool_pre_ping": True, "hide_parameters": True}
    if not _in_memory(uri):  # an in-memory database is one shared connection
        options["pool_size"] = settings.db_pool_size
    if make_url(uri).get_backend_name() == "postgresql":
        # libpq ignores connect_timeout on a connection made without blocking, as psycopg2
        # makes them under gevent (psycogreen): a host that answers no SYN (a dead machine,
        # a lost network) then held each new connection for the kernel's two minutes of
        # retries before libpq tried the next host (the standby). tcp_user_timeout bounds
        # that per host in both modes, and drops a connection whose data goes unanswered.
        options["connect_args"] = {"connect_timeout": settings.db_connect_timeout,
                                   "tcp_user_timeout": settings.db_connect_timeout * 1000}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **options, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    db.init_app(app)
    init_read_replica(app, settings.read_database_url, app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    app.teardown_appcontext_funcs[:] = [
        remove_session if function == db._teardown_session else function
        for function in app.teardown_appcontext_funcs]
    migrate.init_app(app, db, directory=MIGRATIONS)
    with app.app_context():
        configure_sqlite(db.engine)
        configure_postgresql(db.engine)
        return db.engine


READ_ONLY_SERVER = "25006"  # read_only_sql_transaction


def configure_postgresql(engine):
    """A connection to a server that has become read-only (an old primary fenced, demoted
    to a standby, or a host list without ``target_session_attrs=read-write``) is treated as
    lost: the pool drops it, the request is the 503 of a database unavailable, and the next
    connection goes looking for the primary again. Kept, it would have failed every write
    it served, as a 500."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "handle_error")
    def _read_only_is_lost(context):
        if getattr(context.original_exception, "pgcode", None) == READ_ONLY_SERVER:
            context.is_disconnect = True


def remove_session(_error=None):
    """End the request's session, as Flask-SQLAlchemy does, but never fail the request for
    it: the rollback that ends it fails when the database went away meanwhile (a restart),
    and the answer already made (often the 503 that says so) must still reach the client.
    The session's connection is then discarded, not returned to the pool."""
    try:
        db.session.remove()
    except Exception as error:  # whatever the driver raised; logged
        log.warning("the request's database session could not be closed (%s); its "
                    "connection is discarded", one_line(error))
        with contextlib.suppress(Exception):  # the connection is already gone
            db.session.invalidate()
        db.session.registry.clear()


def _in_memory(uri):
    url = make_url(uri)
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def configure_sqlite(engine):
    """Make the embedded database safe for several gunicorn workers.

    WAL lets readers run beside a writer; ``BEGIN IMMEDIATE`` takes the write lock at the
    start of every transaction, so a read-then-write never fails half-way with "database is
    locked" and the counters of later issues are written atomically; the busy timeout makes
    a second writer wait instead of failing. A connection given the ``READ_ONLY`` execution
    option begins its transactions with a plain BEGIN: a read snapshot, no write lock.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        read_only = connection.get_execution_options().get(READ_ONLY)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
