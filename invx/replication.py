"""Is a failover of this PostgreSQL safe? ``/readyz``'s ``database:replication`` check.

A primary with standbys of which none is synchronous acknowledges a commit before any
standby has it: a failover to one of them can lose entries already answered, and their
numbers would then be issued again (duplicate invoice numbers). ``/readyz`` reports that as
``warn`` (the process can still serve; the set-up is what is unsafe), and the log says why
once per process. No standby at all is a single database, not a replication risk: ``pass``.
See docs/high-availability.md.
"""
import logging

log = logging.getLogger(__name__)

# sync_state is NULL for a role that may not read other sessions' statistics (neither
# superuser nor pg_read_all_stats): then synchronous_standby_names is the evidence.
STATE = """
SELECT count(*) AS standbys,
       count(*) FILTER (WHERE sync_state IN ('sync', 'quorum')) AS synchronous,
       count(*) FILTER (WHERE sync_state IS NULL) AS unseen,
       current_setting('synchronous_standby_names') AS names,
       current_setting('synchronous_commit') AS commit_level
FROM pg_stat_replication
"""
_warned = set()


def replication_check(connection):
    """The check's status and output, from the primary ``connection`` (PostgreSQL)."""
    standbys, synchronous, unseen, names, level = connection.exec_driver_sql(STATE).one()
    if standbys == 0:
        return {"status": "pass", "observedValue": 0, "observedUnit": "standbys"}
    check = {"observedValue": standbys, "observedUnit": "standbys"}
    if level in ("off", "local"):
        problem = (f"synchronous_commit is {level}: commits are acknowledged before a "
                   f"standby has them")
    elif synchronous or (unseen == standbys and names.strip()):
        return {**check, "status": "pass"}
    else:
        problem = (f"{standbys} standby(s), none synchronous (synchronous_standby_names is "
                   f"{names.strip() or 'empty'!r})")
    output = (f"{problem}: a failover can lose acknowledged numbers; make a standby "
              f"synchronous (docs/high-availability.md)")
    if output not in _warned:
        _warned.add(output)
        log.warning("unsafe replication: %s", output)
    return {**check, "status": "warn", "output": output}
