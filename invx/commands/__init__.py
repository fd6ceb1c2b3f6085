"""The ``invx`` command's groups, added to the app's CLI by ``create_app``."""
from ..tax_authority.fake_at import fake_at_command
from .accounts import accounts_cli
from .demo import demo
from .numbering import keys_cli, verify
from .sequences import at_log, sequences_cli


def register_commands(app):
    app.cli.add_command(accounts_cli)
    app.cli.add_command(sequences_cli)
    app.cli.add_command(at_log)
    app.cli.add_command(fake_at_command)
    app.cli.add_command(keys_cli)
    app.cli.add_command(verify)
    app.cli.add_command(demo)
