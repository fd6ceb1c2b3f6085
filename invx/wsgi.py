"""The WSGI application for gunicorn: ``invx.wsgi:app`` (``invx.gunicorn_config`` serves it)."""
from . import create_app

app = create_app()
