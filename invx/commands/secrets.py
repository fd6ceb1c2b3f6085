"""``invx secrets rotate``: reseal every stored secret with the current INVX_SECRET_KEY."""
import contextlib
import sys

import click
from flask.cli import AppGroup

from .. import auth, config, sealed
from ..sequence_service import checkpoints
from .common import echo_json, needs_database

secrets_cli = AppGroup("secrets", help="The secrets invx keeps sealed with INVX_SECRET_KEY.")


@secrets_cli.command("rotate")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show a progress bar on standard error when it is a terminal.")
@needs_database
def rotate(progress):
    """Reseal with INVX_SECRET_KEY what a key in INVX_SECRET_KEY_PREVIOUS sealed.

    Idempotent: run it again at will. Prints how many secrets it resealed and how many
    were already current, and how many API keys still wait for their next use to move
    to the current key's digest (keep INVX_SECRET_KEY_PREVIOUS until that is 0).
    """
    settings = config.current()
    if not settings.secret_key:
        raise click.ClickException(
            "INVX_SECRET_KEY is not set: set it to the new key, and the old one in "
            "INVX_SECRET_KEY_PREVIOUS, then run `invx secrets rotate` again")
    keys = settings.secret_keys
    where = sealed.unreadable(keys)
    if where is not None:
        raise click.ClickException(
            f"{where} opens with neither INVX_SECRET_KEY nor INVX_SECRET_KEY_PREVIOUS: add "
            "the key that sealed it to INVX_SECRET_KEY_PREVIOUS (nothing was changed)")
    with _progress(sealed.rows_to_rotate() if progress else 0) as advance:
        done = sealed.rotate(keys, progress=advance)
    resigned = checkpoints.resign(settings.secret_key, settings.secret_key_previous)
    waiting = auth.keys_not_current(settings.secret_key)
    echo_json({"resealed": done.resealed, "already_current": done.current,
               "checkpoints_resigned": resigned, "api_keys_not_current": waiting})
    if waiting:
        click.echo(f"{waiting} API keys are stored under a previous key's digest, or one "
                   "that names no key: each moves to INVX_SECRET_KEY's on its next use. "
                   "Keep INVX_SECRET_KEY_PREVIOUS until this says 0, or give those accounts "
                   "new keys (`invx accounts rotate-key`).", err=True)


def on_a_terminal():
    return sys.stderr.isatty()


@contextlib.contextmanager
def _progress(total):
    if not total or not on_a_terminal():
        yield None
    else:
        with click.progressbar(length=total, label="resealing", file=sys.stderr,
                               show_pos=True) as bar:
            yield bar.update
