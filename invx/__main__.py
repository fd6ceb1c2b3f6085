"""``python -m invx``: the ``invx`` command (``invx --help``)."""
from .commands import main

if __name__ == "__main__":
    main()
