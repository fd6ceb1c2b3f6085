"""Registration as a client and as AT see it: the requests, and the sandbox's rows."""
from sqlalchemy import delete, select, update

from invx.extensions import db
from invx.models import Series
from invx.portugal.document_types import BY_NAME
from invx.tax_authority.sandbox import SandboxSeries

# The 11 ATCUD-relevant types, as AT names them, in the documented order.
AT_TYPES = ("FT", "FR", "FS", "NC", "ND", "RG", "GR", "GT", "GD", "PF", "OR")


def register(client, key, sequence_id):
    return client.put(f"/sequences/{sequence_id}/register.json?api_key={key}")


def sandbox_rows(app):
    with app.app_context():
        rows = db.session.scalars(select(SandboxSeries)).all()
        db.session.expunge_all()
        return rows


def sandbox_states(app):
    return {row.doc_type: row.state for row in sandbox_rows(app)}


def unregister(app, sequence_id, *doc_types):
    """Make some types of a sequence N/D, as if they had never reached AT."""
    with app.app_context():
        db.session.execute(update(Series).where(
            Series.sequence_pk == sequence_id // 17, Series.doc_type.in_(doc_types))
            .values(at_status=Series.UNREGISTERED, validation_code=None, register_sent_at=None))
        db.session.execute(delete(SandboxSeries).where(
            SandboxSeries.doc_type.in_([BY_NAME[name].at_type for name in doc_types])))
        db.session.commit()
