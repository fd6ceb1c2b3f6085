"""The WSGI entry point: ``gunicorn -c gunicorn.conf.py`` serves ``wsgi:app``."""
from invx import create_app

app = create_app()
