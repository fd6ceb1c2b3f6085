"""gunicorn's settings for a checkout (``make run``): the package's, ``invx.gunicorn_config``."""
from invx.gunicorn_config import *  # noqa: F403
