"""The ``invx`` command: Flask's CLI for the invx app, with one module per group."""
import click
from flask.cli import FlaskGroup, NoAppException, ScriptInfo

from . import document_keys as _document_keys  # noqa: F401 (its commands join accounts_cli)
from .accounts import accounts_cli
from .at_log import at_log
from .backup import backup, export
from .database import db_cli
from .demo import demo
from .fake_at import fake_at_command
from .keys import keys_cli
from .registrations import registrations_cli
from .secrets import secrets_cli
from .sequences import sequences_cli
from .verify import verify

# Flask's options that make no sense for one fixed app: which app (--app), its debug mode,
# and an env file (invx reads no .env: its configuration is the environment).
_FLASK_OPTIONS = ("env_file", "app", "debug")


def register_commands(app):
    """Add invx's commands to ``app.cli`` (create_app does)."""
    for command in (accounts_cli, sequences_cli, registrations_cli, at_log, fake_at_command,
                    keys_cli, verify, demo, backup, export, secrets_cli):
        app.cli.add_command(command)


def _create_app():
    from .. import create_app, startup
    try:
        return create_app(startup.settings())
    except startup.Refusal as refusal:
        # Flask shows a NoAppException in one line (and `invx --help` still lists the
        # commands); InvxGroup turns it into the command's refusal.
        raise NoAppException(str(refusal)) from None


class InvxGroup(FlaskGroup):
    """Flask's CLI group (the app made once per command, an app context pushed) without
    what belongs to Flask's ``flask`` command: its options, ``.env`` files, ``run``,
    ``shell`` and ``routes``, and Flask-Migrate's authoring commands (the ``db`` here is
    invx's, found before the app's). Its commands refuse to start, in one line, when invx
    could not work (``invx.startup``); ``--help`` and ``--version`` always work."""

    def __init__(self, **extra):
        super().__init__(create_app=_create_app, add_default_commands=False,
                         add_version_option=False, load_dotenv=False, set_debug_flag=False,
                         **extra)
        self.params = [param for param in self.params if param.name not in _FLASK_OPTIONS]
        self.add_command(db_cli)

    def parse_args(self, ctx, args):
        # FlaskGroup's would read --env-file and --app (or FLASK_ENV_FILE, FLASK_APP) first.
        return click.Group.parse_args(self, ctx, args)

    def resolve_command(self, ctx, args):
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except NoAppException as error:  # a bad setting
            raise click.ClickException(error.message) from None
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["invx.asks_for_help"] = "--help" in rest
        return name, command, rest


def _start_up_checks():
    from .. import startup
    ctx = click.get_current_context()
    if ctx.meta.get("invx.asks_for_help") or ctx.invoked_subcommand is None:
        return
    try:
        startup.check_command(ctx.ensure_object(ScriptInfo).load_app(), ctx.invoked_subcommand)
    except startup.Refusal as refusal:
        raise click.ClickException(str(refusal)) from None


main = click.version_option(package_name="invx", prog_name="invx",
                            message="%(prog)s %(version)s")(InvxGroup(
    callback=_start_up_checks,
    help="invx: InvoiceXpress-compatible sequences, registered with AT.\n\n"
         "Configured by the environment (INVX_* variables; no .env file is read)."))
