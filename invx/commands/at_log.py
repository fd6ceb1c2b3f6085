"""``invx at-log``: an account's calls to the Tax Authority, from the audit log.

A call still pending once its registration's lease has run out was made by a worker that
died before AT answered: it is shown as ``interrupted`` (``invx registrations resume``
asks AT what became of it)."""
import click
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import config
from ..extensions import db
from ..models import AtCall, utcnow
from ..tax_authority.audit import shown_outcome
from .common import echo_json, echo_table, find_account, needs_database

COLUMNS = (("AT", 24), ("OPERATION", 15), ("SERIE", 12), ("TYPE", 6), ("OUTCOME", 11),
           ("CODE", 5), ("MS", 7), ("MESSAGE", 0))


@click.command("at-log")
@click.argument("account")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
@needs_database
def at_log(account, limit, as_json):
    """The account's calls to the Tax Authority, newest first (never with credentials):
    a table, or with --json one object per line (none for an empty log).

    Exit status: 0 shown, 1 the database cannot be used, 2 no such account (or a usage
    error).
    """
    account_id = find_account(account).id
    calls = db.session.scalars(select(AtCall).where(AtCall.account_id == account_id)
                               .order_by(AtCall.id.desc()).limit(limit))
    now, lease = utcnow(), config.current().registration_lease
    rows = [_row(call, shown_outcome(call, now, lease)) for call in calls]
    if as_json:
        for row in rows:
            echo_json(row)
        return
    echo_table(COLUMNS, [(row["at"], row["operation"], row["serie"] or "",
                          f"{row['doc_class'] or ''}/{row['doc_type'] or ''}", row["outcome"],
                          str(row["result_code"] or ""), str(row["duration_ms"]),
                          row["message"] or row["validation_code"] or "") for row in rows],
               empty=f"no calls to the Tax Authority recorded for account {account}")


def _row(call, outcome):
    return {"at": call.created_at.isoformat(timespec="milliseconds") + "Z",
            "adapter": call.adapter, "operation": call.operation, "serie": call.serie,
            "doc_class": call.doc_class, "doc_type": call.doc_type, "outcome": outcome,
            "result_code": call.result_code, "validation_code": call.validation_code,
            "duration_ms": call.duration_ms, "message": call.message}
