"""The ``invx`` command: Flask's CLI for the invx app, with one module per group."""
from flask.cli import FlaskGroup

from .accounts import accounts_cli
from .at_log import at_log
from .backup import backup, export
from .demo import demo
from .fake_at import fake_at_command
from .keys import keys_cli
from .registrations import registrations_cli
from .sequences import sequences_cli
from .verify import verify


def register_commands(app):
    """Add invx's commands to ``app.cli`` (create_app does)."""
    for command in (accounts_cli, sequences_cli, registrations_cli, at_log, fake_at_command,
                    keys_cli, verify, demo, backup, export):
        app.cli.add_command(command)


def _create_app():
    from .. import create_app
    return create_app()


main = FlaskGroup(create_app=_create_app, add_version_option=True,
                  help="invx: InvoiceXpress-compatible sequences, registered with AT.")
