"""``invx accounts set-document-key`` and ``document-key``: the key that signs an
account's Portuguese documents (``invx.document_keys``)."""
import sys

import click

from .. import config
from .. import document_keys as keys_domain
from ..models import utcnow
from ..secret_box import SecretKeyMissing
from .accounts import accounts_cli
from .common import echo_json, find_account, needs_database


def _read_key(file):
    """The RSA key of the PEM ``file``; the password of an encrypted one is asked at a
    terminal, or read from standard input, never taken from the command line."""
    pem = file.read()
    try:
        return keys_domain.load_private_key(pem)
    except keys_domain.DocumentKeyError as error:
        if "encrypted" not in str(error):
            raise click.ClickException(f"{file.name}: {error}") from None
    password = (click.prompt(f"Password of {file.name}", hide_input=True) if sys.stdin.isatty()
                else sys.stdin.readline().rstrip("\r\n"))
    try:
        return keys_domain.load_private_key(pem, password.encode("utf-8"))
    except keys_domain.DocumentKeyError as error:
        raise click.ClickException(f"{file.name}: {error}") from None


@accounts_cli.command("set-document-key")
@click.argument("name")
@click.option("--private-key", "private_key", type=click.File("rb"), required=True,
              help="The software producer's RSA private key (PEM, 1024 bits or more).")
@click.option("--certificate-number", required=True,
              help="AT's certificate number of the software (numCertSWFatur), e.g. 1234.")
@needs_database
def set_document_key(name, private_key, certificate_number):
    """Give an account the key that signs its Portuguese documents (the Hash chain).

    The key is stored encrypted with INVX_SECRET_KEY, as a new version (the documents'
    HashControl); documents signed with an older version still verify. The key and the
    certificate number must be a certified producer's: invx certifies nobody.

    Exit status: 0 done, 1 refused (the message says why), 2 no such account.
    """
    account = find_account(name)
    key = _read_key(private_key)
    try:
        version = keys_domain.set_document_key(account, key, certificate_number,
                                               config.current().secret_keys, utcnow())
    except (keys_domain.DocumentKeyError, SecretKeyMissing) as error:
        raise click.ClickException(str(error)) from None
    echo_json({"name": account.name, "hash_control": version,
               "certificate_number": certificate_number.strip(),
               "key_bits": key.key_size})


@accounts_cli.command("document-key")
@click.argument("name")
@needs_database
def document_key(name):
    """Print the public half (PEM) of the key that signs the account's documents now,
    which the producer gives AT for certification.

    Exit status: 0 done, 1 the account has no document key, 2 no such account.
    """
    account = find_account(name)
    if account.document_key_version is None:
        raise click.ClickException(f"account {account.name} has no document key: set one "
                                   f"with invx accounts set-document-key")
    key = keys_domain.versions(account.id)[account.document_key_version]
    click.echo(key.public_key, nl=False)
