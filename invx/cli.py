"""``invx.cli:main``: where the ``invx`` console script pointed before the commands moved to
``invx.commands``; a script installed then still imports it (reinstalling writes the new
entry point)."""
from .commands import main

__all__ = ["main"]
