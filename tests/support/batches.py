"""Batches of entry requests, written straight through ``issuing`` (not over HTTP), for the
tests of group commit and of the store's statements."""
import uuid

from invx.auth import hash_api_key
from invx.sequence_service import group_commit, issuing
from invx.sequence_service.series import request_hash

from .sequence_service import SALES
from .settings import TEST_SECRET


def ticket(entry_id=None, meta=None, group=None):
    """One request in the queue, for ``entry_id`` (a fresh UUID by default) in ``group``
    (its key's digest and series lookup; ``write`` sets it if it is None)."""
    entry_id = entry_id or str(uuid.uuid4())
    return group_commit.Ticket(group, entry_id,
                               request_hash({"meta": meta or {}, "sig": None}), meta, None)


def group(key, series_id=SALES):
    """The group of the requests for ``series_id`` with ``key`` (in an app context)."""
    return (hash_api_key(key), ("id", series_id))


def write(app, key, tickets, series_id=SALES):
    """Write ``tickets`` as one batch, as the leader of the queue does; those without a
    group are for ``series_id`` with ``key``."""
    with app.app_context():
        for each in tickets:
            if each.group is None:
                each.group = group(key, series_id)
        issuing.write_batch(group_commit.Batch(tickets=tickets), TEST_SECRET)
