"""The SQL of a batch on PostgreSQL (``postgres_store`` runs it): each statement prepared
once per connection, and its plain form for a connection that cannot keep prepared
statements (PgBouncer in transaction mode).

Two forms of the lock and the read. A batch for one series (every batch of one client at
a time, and of one hot series) looks it up by its reference and key; a batch for several
finds them all with one statement (``WANTED``), from arrays. The second form costs the
database more (measured on a new database: 0.53 ms for the lock and the read, against
0.22 ms), which a batch of many requests shares, and a batch of one would not.

``account_id + 0``: a series is found by its id (or number_id) index, entries by their
ids' index, never through another index that holds the account: entries' (series_id,
account_id, number), which would read every entry of the table to find a few, or series'
indexes led by the account. A generic plan made while the tables are small (a new
database, not analysed yet) costs them all the same, and PostgreSQL took those (session
12: 0.3 to 0.6 times the throughput on 64 series after six runs of 5 s, the database's
CPU per request growing as the entries did).
(S608: the names are this module's constants; every value is a parameter.)
"""
import hashlib
import re

from ..models import Sequence
from .rows import SERIES_COLUMNS, EntryRow


class Prepared:
    """A statement with parameters $1, $2..., as SQL ``PREPARE`` and ``EXECUTE`` under
    ``name``, and as plain SQL for psycopg2, whose placeholders are ``%(name)s`` for the
    parameters ``names`` (in the order of their numbers) or, without names, ``%s`` in
    order of appearance."""

    def __init__(self, name, sql, names=()):
        def placeholder(number):
            return f"%({names[number - 1]})s" if names else "%s"

        self.prepare = f"PREPARE {name} AS {sql}"
        count = len(set(re.findall(r"\$(\d+)", sql)))
        self.execute = f"EXECUTE {name}(" + ", ".join(
            placeholder(number) for number in range(1, count + 1)) + ")"
        self.plain = re.sub(r"\$(\d+)", lambda match: placeholder(int(match[1])), sql)


def _prepared(statements):
    """{label: Prepared} for {label: (sql, names)}. The names end in a digest of all the
    texts: a server connection that PgBouncer shares with another version of invx never
    runs that version's statement under this one's name, and has all of one version's
    statements (prepared in one message) or none."""
    version = hashlib.sha256(repr(sorted(statements.items())).encode()).hexdigest()[:12]
    return {label: Prepared(f"invx_{label}_{version}", sql, names)
            for label, (sql, names) in statements.items()}


_READ_COLUMNS = (", ".join(f"s.{name}" for name in SERIES_COLUMNS)
                 + ", a.api_key_hash, a.name, a.fiscal_id, a.document_key_version, q.closed_as, "
                 + ", ".join(f"e.{name}" for name in EntryRow._fields) + ", e.account_id")
# The series as it is once the lock is granted (READ COMMITTED: the read is a statement of
# its own, with a new snapshot), its sequence's "closing" included, and the ids already
# used in its account, one row each (an outer join: a series comes back alone when there
# are none). ``{ids}`` is the parameter of the ids, ``{where}`` which series.
_READ = f"""SELECT {_READ_COLUMNS}
  FROM series s
  JOIN accounts a ON a.id = s.account_id
  LEFT JOIN sequences q ON q.pk = s.sequence_pk
  LEFT JOIN entries e ON e.account_id + 0 = s.account_id AND e.id = ANY({{ids}})
 WHERE {{where}}
   AND (s.sequence_pk IS NULL OR q.state = '{Sequence.READY}')"""  # noqa: S608

# The series a batch of several wants: $1 the UUIDs and $2 their keys' digests, $3 the
# InvoiceXpress integer ids and $4 theirs; a series is found only under its account's key.
WANTED = """SELECT s.id, s.account_id
  FROM unnest($1::varchar[], $2::varchar[]) AS w(ref, digest)
  JOIN accounts a ON a.api_key_hash = w.digest
  JOIN series s ON s.id = w.ref AND s.account_id + 0 = a.id
 UNION ALL
SELECT s.id, s.account_id
  FROM unnest($3::bigint[], $4::varchar[]) AS w(ref, digest)
  JOIN accounts a ON a.api_key_hash = w.digest
  JOIN series s ON s.number_id = w.ref AND s.account_id + 0 = a.id"""
WANTS = ("ids", "id_digests", "numbers", "number_digests")
ONE = ("ref", "digest")

STATEMENTS = _prepared({
    # One series: $1 its reference (a UUID or an integer id), $2 the key's digest, $3 the
    # ids.
    **{f"lock_{column}": (f"""SELECT 1 FROM series
 WHERE {column} = $1
   AND account_id + 0 = (SELECT id FROM accounts WHERE api_key_hash = $2)
   FOR UPDATE""", ONE) for column in ("id", "number_id")},  # noqa: S608
    **{f"read_{column}": (_READ.format(
        ids="$3", where=f"s.{column} = $1 AND a.api_key_hash = $2"), (*ONE, "entry_ids"))
       for column in ("id", "number_id")},
    # Several: the locks taken in one order, the series' primary key's, whatever the batch
    # holds, so that two batches that want some of the same series never wait for each
    # other (no deadlock across processes). $5 the ids.
    "lock": (f"""SELECT 1 FROM series
 WHERE (id, account_id) IN ({WANTED})
 ORDER BY account_id, id
   FOR UPDATE""", WANTS),  # noqa: S608
    "read": (_READ.format(ids="$5::varchar[]", where=f"(s.id, s.account_id) IN ({WANTED})"),
             (*WANTS, "entry_ids")),
    # The ids of the requests taken once the locks were granted: $1 the ids, $2 the
    # batch's accounts.
    "used": (f"SELECT {', '.join(EntryRow._fields)}, account_id FROM entries "  # noqa: S608
             "WHERE id = ANY($1::varchar[]) AND account_id + 0 = ANY($2::bigint[])",
             ("entry_ids", "accounts")),
    # One series' counter: $1 its last number, $2 its last entry, $3 its last signed
    # document's Hash, $4 that document's date, $5 the time, $6 its id, $7 its account.
    "counter": ("UPDATE series SET last_number = $1, last_entry_id = $2, last_pt_hash = $3, "
                "last_pt_invoice_date = $4::date, updated_at = $5 "
                "WHERE id = $6 AND account_id + 0 = $7", ()),
    # Several: $1 the time, then each series' id, account, and Counter.
    "counters": ("""UPDATE series s
   SET last_number = u.last_number, last_entry_id = u.last_entry_id,
       last_pt_hash = u.last_pt_hash, last_pt_invoice_date = u.last_pt_invoice_date,
       updated_at = $1
  FROM unnest($2::varchar[], $3::bigint[], $4::bigint[], $5::varchar[], $6::text[],
              $7::date[])
       AS u(id, account_id, last_number, last_entry_id, last_pt_hash, last_pt_invoice_date)
 WHERE s.id = u.id AND s.account_id + 0 = u.account_id""", ()),
})
PREPARE = "; ".join(statement.prepare for statement in STATEMENTS.values())
# The transaction begins with sequential scans ruled out, so that every plan of these
# statements is made with them ruled out: PostgreSQL keeps a prepared statement's plan (a
# generic one from its sixth execution) for the connection's life, and a plan made while a
# table was small would scan all of it at every batch once it is large (seen: the
# database's CPU per request growing from 0.25 to 1.1 ms over six runs of 5 s on one hot
# series). Each statement finds its rows through a unique index, which is the right plan at
# any size. And with generic plans only: a custom plan of the statements for several
# series took 0.7 ms to make, at every batch (PostgreSQL kept making them, their estimated
# cost being below the generic plan's). SET LOCAL ends with the transaction.
BEGIN = "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL plan_cache_mode = force_generic_plan"
INSERT = f"INSERT INTO entries ({', '.join(EntryRow._fields)}, account_id) VALUES "  # noqa: S608
ROW = "(" + ", ".join(["%s"] * (len(EntryRow._fields) + 1)) + ")"


def parameters(groups, ids):
    """The lock's and the read's labels (their suffix: ``_id`` for ``lock_id`` and
    ``read_id``...; none for the statements of several series) and parameters, for
    ``groups`` [(API key digest, (column, reference))] and the entry ``ids``."""
    if len(groups) == 1:
        (digest, (column, ref)), = groups
        return f"_{column}", {"ref": ref, "digest": digest, "entry_ids": ids}
    return "", {**wanted(groups), "entry_ids": ids}


def wanted(groups):
    """The parameters of ``WANTED`` for ``groups``."""
    arrays = {name: [] for name in WANTS}
    for digest, (column, ref) in groups:
        refs, digests = (("ids", "id_digests") if column == "id" else
                         ("numbers", "number_digests"))
        arrays[refs].append(ref)
        arrays[digests].append(digest)
    return arrays
