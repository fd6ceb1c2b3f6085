"""``invx db``: the migrations an operator runs (upgrade, downgrade, current, history).

Flask-Migrate's own ``db`` group, with the authoring commands (``revision``, ``migrate``,
``edit``, ``init``...), stays on the app's CLI for developers: ``flask --app invx db ...``
(``make migration``, docs/development.md). Its commands are used here as they are."""
import click
from flask import g
from flask.cli import AppGroup, with_appcontext
from flask_migrate import cli as migrate_cli

OPERATOR_COMMANDS = ("upgrade", "downgrade", "current", "history")


@click.group("db", cls=AppGroup)
@with_appcontext
def db_cli():
    """The database's schema: apply, undo and inspect the migrations (they ship with invx).
    Run `invx db upgrade` after every install or upgrade.

    Exit status: 0 done, 1 the database or a migration failed, 2 a usage error.
    """
    # What Flask-Migrate's group sets for its commands: the migrations the app was given
    # (inside the package), and no argument for env.py.
    g.directory = None
    g.x_arg = ()


for _name in OPERATOR_COMMANDS:
    db_cli.add_command(migrate_cli.db.commands[_name])
