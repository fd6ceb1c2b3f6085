"""Batches of entry requests, written straight through ``issuing`` (not over HTTP), for the
tests of group commit and of the store's statements."""
import uuid

from invx.auth import hash_api_key
from invx.sequence_service import group_commit, issuing
from invx.sequence_service.series import request_hash

from .sequence_service import SALES
from .settings import TEST_SECRET


def ticket(entry_id=None, meta=None):
    """One request in a series' queue, for ``entry_id`` (a fresh UUID by default)."""
    entry_id = entry_id or str(uuid.uuid4())
    return group_commit.Ticket(entry_id, request_hash({"meta": meta or {}, "sig": None}),
                               meta, None)


def write(app, key, tickets, series_id=SALES):
    """Write ``tickets`` as one batch, as the leader of a series' queue does."""
    with app.app_context():
        issuing._write_batch(hash_api_key(key), ("id", series_id),
                             group_commit.Batch(tickets=tickets), TEST_SECRET)
