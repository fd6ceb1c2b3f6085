"""``wsgi:app`` of a checkout, kept for commands that name it: the package's ``invx.wsgi``."""
from invx.wsgi import app

__all__ = ["app"]
