"""The benchmark's WSGI entry point: invx, plus the references it is measured against
(``references``), under ``/bench/v1``. ``make bench`` serves it with the production
gunicorn configuration: ``gunicorn -c gunicorn.conf.py bench.wsgi:app``."""
from invx import create_app

from .references import bp

app = create_app()
app.register_blueprint(bp)
