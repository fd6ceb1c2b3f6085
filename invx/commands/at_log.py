"""``invx at-log``: an account's calls to the Tax Authority, from the audit log.

A call still pending once its registration's lease has run out was made by a worker that
died before AT answered: it is shown as ``interrupted`` (``invx registrations resume``
asks AT what became of it)."""
import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import accounts as accounts_domain
from .. import config
from ..extensions import db
from ..models import AtCall, utcnow
from ..tax_authority.audit import shown_outcome
from .common import echo_json, needs_database


@click.command("at-log")
@click.argument("account")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
@needs_database
def at_log(account, limit, as_json):
    """The account's calls to the Tax Authority, newest first (never with credentials)."""
    try:
        account_id = accounts_domain.find_account(account).id
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    calls = db.session.scalars(select(AtCall).where(AtCall.account_id == account_id)
                               .order_by(AtCall.id.desc()).limit(limit))
    now, lease = utcnow(), config.current().registration_lease
    for call in calls:
        outcome = shown_outcome(call, now, lease)
        row = {"at": call.created_at.isoformat(timespec="milliseconds") + "Z",
               "adapter": call.adapter, "operation": call.operation, "serie": call.serie,
               "doc_class": call.doc_class, "doc_type": call.doc_type, "outcome": outcome,
               "result_code": call.result_code, "validation_code": call.validation_code,
               "duration_ms": call.duration_ms, "message": call.message}
        if as_json:
            echo_json(row)
        else:
            kind = f"{call.doc_class or ''}/{call.doc_type or ''}"
            click.echo(f"{row['at']}  {call.operation:<15} {call.serie or '':<12} {kind:<6} "
                       f"{outcome:<11} {call.result_code or '':<5} {call.duration_ms:>6}ms  "
                       f"{call.message or call.validation_code or ''}")
