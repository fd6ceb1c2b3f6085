"""A throwaway PostgreSQL primary and its synchronous streaming standby, on loopback ports
under a temporary directory, for the failover test: build, kill the primary, promote the
standby, remove it all.

Self-contained rather than built on bench/cluster.py: that cluster listens on a socket only
and has no replication settings, and bench/ is a package of its own."""
import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .live import free_port

STANDBY_NAME = "standby1"
DATABASE = "invx"
COMMAND_TIMEOUT = 60  # seconds any one PostgreSQL tool may take before the test fails
# What initdb --auth=trust writes, and pg_basebackup needs.
REPLICATION_ALLOWED = re.compile(r"^host\s+replication\s+all\s+127\.0\.0\.1/32\s+trust",
                                 re.MULTILINE)


def server_binaries():
    """The directory of initdb, pg_ctl and pg_basebackup, or None if they are not here."""
    try:
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True,
                               check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    binaries = Path(found)
    tools = ("initdb", "pg_ctl", "pg_basebackup", "psql")
    return binaries if all((binaries / tool).exists() for tool in tools) else None


def as_postgres(*command):
    """Run a PostgreSQL tool as the postgres user: the server refuses to run as root."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *map(str, command)], check=True, capture_output=True,
                          text=True, timeout=COMMAND_TIMEOUT)


class Node:
    """One PostgreSQL server of the pair: its data directory, port and log."""

    def __init__(self, root, name, binaries):
        self.name, self.binaries = name, binaries
        self.data, self.log = root / name, root / f"{name}.log"
        self.port = free_port()

    def start(self):
        # Both servers get the same options (a standby needs max_connections at least the
        # primary's); the synchronous standby's name is set on the primary alone, later,
        # so that the standby, once promoted, does not wait for a standby of its own.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.data.parent} -c max_connections=200 "
                   "-c wal_level=replica -c max_wal_senders=5 -c synchronous_commit=on")
        self.pg_ctl("-o", options, "-l", self.log, "start")

    def pg_ctl(self, *arguments):
        return as_postgres(self.binaries / "pg_ctl", "-D", self.data, "-w", "-t", "30",
                           *arguments)

    def psql(self, sql, database="postgres"):
        """Run ``sql`` and return its output, unaligned, without headers."""
        return as_postgres(self.binaries / "psql", "-h", "127.0.0.1", "-p", self.port,
                           "-U", "postgres", "-d", database, "-X", "-A", "-t",
                           "-v", "ON_ERROR_STOP=1", "-c", sql).stdout.strip()

    def stop(self, mode="fast"):
        with contextlib.suppress(subprocess.SubprocessError):  # already stopped
            self.pg_ctl("-m", mode, "stop")


class ReplicatedPair:
    """A primary and a synchronous standby (``standby1``) of it, both on 127.0.0.1.

    ``prepare(url)`` runs once the primary has its database and before the standby is
    made, so that what it writes (the schema, an account) needs no standby to commit."""

    def __init__(self, binaries):
        self.root = Path(tempfile.mkdtemp(prefix="invx-failover-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self.primary = Node(self.root, "primary", binaries)
        self.standby = Node(self.root, "standby", binaries)

    @property
    def url(self):
        """libpq's multi-host URL: whichever of the two accepts writes."""
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},"
                f"127.0.0.1:{self.standby.port}/{DATABASE}?target_session_attrs=read-write")

    def url_of(self, node):
        return f"postgresql://postgres@127.0.0.1:{node.port}/{DATABASE}"

    def build(self, prepare):
        as_postgres(self.primary.binaries / "initdb", "-D", self.primary.data, "-U",
                    "postgres", "--auth=trust", "--no-sync")
        hba = (self.primary.data / "pg_hba.conf").read_text()
        if not REPLICATION_ALLOWED.search(hba):
            raise RuntimeError(f"initdb's pg_hba.conf allows no replication from 127.0.0.1:"
                               f"\n{hba}")
        self.primary.start()
        self.primary.psql(f"CREATE DATABASE {DATABASE}")
        prepare(self.url_of(self.primary))
        self._make_standby()
        self.primary.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
        self.primary.psql("SELECT pg_reload_conf()")
        self.wait_until_synchronous()

    def _make_standby(self):
        as_postgres(self.standby.binaries / "pg_basebackup", "-h", "127.0.0.1", "-p",
                    self.primary.port, "-U", "postgres", "-D", self.standby.data, "-R",
                    "-X", "stream", "-c", "fast", "--no-sync")
        # -R wrote a primary_conninfo without an application_name (the primary would know
        # it as "walreceiver"): a later line of the same file wins.
        with open(self.standby.data / "postgresql.auto.conf", "a") as conf:
            conf.write(f"primary_conninfo = 'host=127.0.0.1 port={self.primary.port} "
                       f"user=postgres application_name={STANDBY_NAME}'\n")
        self.standby.start()

    def wait_until_synchronous(self, timeout=30):
        deadline = time.monotonic() + timeout
        query = ("SELECT sync_state FROM pg_stat_replication "
                 f"WHERE application_name = '{STANDBY_NAME}'")
        while time.monotonic() < deadline:
            if self.primary.psql(query) == "sync":
                return
            time.sleep(0.1)
        raise RuntimeError(f"{STANDBY_NAME} did not become a synchronous standby in time")

    def kill_primary(self):
        """Stop the primary at once, as a crash would: no checkpoint, clients cut off."""
        self.primary.pg_ctl("-m", "immediate", "stop")

    def promote_standby(self):
        self.standby.pg_ctl("promote")

    def remove(self):
        self.primary.stop("immediate")
        self.standby.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
