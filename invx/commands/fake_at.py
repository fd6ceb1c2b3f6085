"""``invx fake-at``: run the local imitation of AT's series web service."""
import os

import click
from flask import current_app
from flask.cli import with_appcontext

from ..tax_authority.fake_at import (
    DEFAULT_USERS,
    FakeAT,
    FakeATServer,
    load_or_create_key,
    server_tls_context,
)
from ..tax_authority.fake_at.rules import USERNAME_PATTERN


def _parse_users(ctx, param, values):
    """``NIF/N:PASSWORD`` options as {username: password}; the password may hold ":"."""
    users = {}
    for value in values:
        username, sep, password = value.partition(":")
        if not sep or not password or not USERNAME_PATTERN.fullmatch(username):
            # Never echo the value: it holds a password.
            raise click.BadParameter("expected NIF/N:PASSWORD (e.g. 123456789/1:secret)")
        users[username] = password
    return users


def _tls(cert, key, client_ca):
    """The server's TLS context for --tls-cert, --tls-key and --client-ca, or None."""
    if not cert and not (key or client_ca):
        return None
    if not (cert and key):
        raise click.UsageError("--tls-cert and --tls-key go together (and --client-ca with them)")
    try:
        return server_tls_context(cert, key, client_ca)
    except (OSError, ValueError) as error:  # ssl.SSLError is an OSError
        raise click.ClickException(f"cannot use the TLS files: {error}") from None


@click.command("fake-at")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8722, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--key-file", type=click.Path(dir_okay=False),
              help="The service's RSA private key (PEM), created if missing. "
                   "[default: fake-at-key.pem in the instance folder]")
@click.option("--public-key-out", type=click.Path(dir_okay=False),
              help="Where to write the public key clients encrypt with. "
                   "[default: fake-at-public.pem in the instance folder]")
@click.option("--user", "users", multiple=True, metavar="NIF/N:PASSWORD", callback=_parse_users,
              help="A sub-user the service accepts (repeatable). "
                   "[default: 123456789/1 with password fake-at-password]")
@click.option("--no-activity", multiple=True, metavar="NIF",
              help="A NIF with no open activity: its registrations get 4043 (repeatable).")
@click.option("--latency", default=0.0, type=click.FloatRange(min=0), show_default=True,
              help="Seconds added to every request.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="Serve HTTPS with this server certificate (PEM), as AT does.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="The server certificate's private key (PEM).")
@click.option("--client-ca", type=click.Path(exists=True, dir_okay=False),
              help="With --tls-cert: require a client certificate issued by one of these CAs "
                   "(PEM), as AT requires the one it issued (mutual TLS).")
@click.option("--quiet", is_flag=True, help="No access log on stderr.")
@with_appcontext
def fake_at_command(host, port, key_file, public_key_out, users, no_activity, latency, tls_cert,
                    tls_key, client_ca, quiet):
    """Run a local imitation of AT's series web service (HTTP, or HTTPS with --tls-cert)
    until Ctrl-C.

    Exit status: 0 stopped with Ctrl-C, 1 it cannot listen or read its key or TLS files,
    2 a usage error.
    """
    instance = current_app.instance_path
    os.makedirs(instance, exist_ok=True)
    key_file = key_file or os.path.join(instance, "fake-at-key.pem")
    public_key_out = public_key_out or os.path.join(instance, "fake-at-public.pem")
    try:
        key = load_or_create_key(key_file, public_key_out)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    tls = _tls(tls_cert, tls_key, client_ca)
    accounts = users or dict(DEFAULT_USERS)
    fake = FakeAT(key, accounts, no_activity=no_activity, latency=latency)
    try:
        server = FakeATServer((host, port), fake, quiet=quiet, tls=tls)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    click.echo(f"Fake AT SeriesWS listening on {server.url}")
    if client_ca:
        click.echo(f"Client certificates required, issued by a CA in {client_ca}")
    click.echo(f"Public key (PEM) written to {os.path.abspath(public_key_out)}")
    click.echo(f"Users: {', '.join(sorted(accounts))}")
    if no_activity:
        click.echo(f"NIFs without activity (4043): {', '.join(no_activity)}")
    click.echo(f"Control endpoints: {server.base_url}/_fake/ "
               "(calls, series, behaviour, configure, reset, public-key)")
    click.echo("Press Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()
