"""invx: a self-hostable server for invoice document sequences."""
import logging
import os

from flask import Flask
from sqlalchemy.engine import make_url

from . import config as invx_config


def create_app(test_config=None):
    """Build the app: configuration, extensions, error handlers, blueprints, commands."""
    app = Flask(__name__, instance_path=invx_config.instance_path_override(),
                instance_relative_config=True)
    app.config.from_mapping(invx_config.defaults(app.instance_path))
    app.config.from_mapping(invx_config.from_environment())
    if test_config is not None:
        app.config.from_mapping(test_config)
    _register_logging(app)
    _register_extensions(app)
    _register_errors(app)
    _register_blueprints(app)
    _register_commands(app)
    return app


def _register_logging(app):
    from flask.logging import default_handler

    # One handler, on the root logger (gunicorn's stderr): invx's records go there once.
    app.logger.removeHandler(default_handler)
    logging.getLogger("invx").setLevel(app.config["INVX_LOG_LEVEL"])
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register_extensions(app):
    from . import (
        models,  # noqa: F401  (the tables, for migrations)
        tax_authority,  # noqa: F401  (the sandbox's table)
    )
    from .extensions import configure_sqlite, db, migrate

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    if not _in_memory(app.config["SQLALCHEMY_DATABASE_URI"]):  # one shared connection there
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "pool_size": app.config["INVX_DB_POOL_SIZE"],
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_directory())
    with app.app_context():
        configure_sqlite(db.engine)


def _in_memory(uri):
    url = make_url(uri)
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _migrations_directory():
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def _register_errors(app):
    from .errors import register_error_handlers
    register_error_handlers(app)


def _register_blueprints(app):
    from .invoicexpress import bp as invoicexpress_bp
    from .openapi import bp as openapi_bp
    from .sequence_api import bp as sequence_api_bp
    app.register_blueprint(invoicexpress_bp)
    app.register_blueprint(sequence_api_bp)
    app.register_blueprint(openapi_bp)
    if app.config["INVX_BENCHMARK_ENDPOINTS"]:
        from .bench_api import bp as bench_bp
        app.register_blueprint(bench_bp)


def _register_commands(app):
    from .commands import register_commands
    register_commands(app)
