"""``python -m invx``: the ``invx`` command (``invx --help``)."""
from .commands import main

main()
