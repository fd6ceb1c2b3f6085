"""invx: a self-hostable server for invoice document sequences."""
from flask import Flask

from . import config, logs, metrics

RESUME_CHECK = "invx.resume"  # the app's PeriodicCheck in ``app.extensions``, when on


def create_app(settings=None, **flask_config):
    """Build the app: settings, logging, extensions, error handlers, blueprints, commands.

    ``settings`` defaults to the ``INVX_*`` variables' (``config.Settings``); ``flask_config``
    sets Flask's own keys (``TESTING=True``).
    """
    settings = config.Settings.from_environment() if settings is None else settings
    config.check_flask_config(flask_config)
    app = Flask(__name__, instance_path=settings.instance_path, instance_relative_config=True)
    app.extensions[config.EXTENSION] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config.from_mapping(flask_config)
    _register_logging(app, settings)
    _register_extensions(app, settings)
    _register_errors(app)
    logs.register_request_ids(app)  # outermost: every answer, errors included, has its id
    metrics.register(app)  # first of the request hooks: it times what the others do
    _register_blueprints(app)
    _register_commands(app)
    _register_resume_check(app, settings)
    return app


def _register_logging(app, settings):
    from flask.logging import default_handler

    # One handler, on the root logger (gunicorn's stderr): invx's records go there once,
    # as JSON lines (or text), with no secret in any (invx.logs).
    app.logger.removeHandler(default_handler)
    logs.configure(settings.log_format, settings.log_level)


def _register_extensions(app, settings):
    from . import (
        models,  # noqa: F401  (the tables, for migrations)
        rate_limits,
        tax_authority,  # noqa: F401  (the sandbox's table)
    )
    from .extensions import init_extensions
    from .tax_authority import transaction_guard

    engine = init_extensions(app, settings)
    app.extensions[rate_limits.EXTENSION] = rate_limits.from_settings(settings)
    if settings.at_transaction_guard != "off":
        transaction_guard.watch(engine)


def _register_errors(app):
    from .errors import register_error_handlers
    register_error_handlers(app)


def _register_blueprints(app):
    from . import request_body
    from .http import AsciiIntegerConverter

    # A path with "//" is not found (JSON 404), not redirected with Werkzeug's HTML 308.
    app.url_map.merge_slashes = False
    from .health import bp as health_bp
    from .invoicexpress.views import bp as invoicexpress_bp
    from .openapi import bp as openapi_bp
    from .sequence_service.views import bp as sequence_service_bp
    app.url_map.converters["int"] = AsciiIntegerConverter  # before any rule uses it
    app.register_blueprint(invoicexpress_bp)
    app.register_blueprint(sequence_service_bp)
    app.register_blueprint(openapi_bp)
    app.register_blueprint(health_bp)
    app.before_request(request_body.refuse_too_large)
    app.after_request(request_body.close_unread)
    app.after_request(_options_in_json)


def _register_resume_check(app, settings):
    """Each request may start, every INVX_RESUME_CHECK_SECONDS at most, a thread that
    resumes the registrations a dead worker left (``registration.resume``)."""
    if not settings.resume_check_seconds:
        return
    from .registration.resume import PeriodicCheck, resume_all

    def resume_interrupted():
        with app.app_context():
            for result in resume_all(config.settings_of(app)):
                app.logger.info("%s %s (sequence %s): %s: %s", result.account, result.serie,
                                result.sequence_id, result.status, result.detail)

    check = PeriodicCheck(settings.resume_check_seconds, resume_interrupted)
    app.extensions[RESUME_CHECK] = check
    app.before_request(check.poke)


def _options_in_json(response):
    """Flask's automatic answer to OPTIONS (the Allow header, no body) is typed text/html:
    every answer of invx is JSON."""
    from flask import request

    from .http import JSON_TYPE
    if request.method == "OPTIONS":
        response.content_type = JSON_TYPE
    return response


def _register_commands(app):
    from .commands import register_commands
    register_commands(app)
