"""A throwaway PostgreSQL cluster for one benchmark run, optionally on a slow disk."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
HERE = Path(__file__).resolve().parent


def build_slow_fsync():
    """Compile the LD_PRELOAD shim that adds 1 ms to every fsync/fdatasync."""
    out = Path(tempfile.gettempdir()) / "invx-bench-slowfsync.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(out),
                    str(HERE / "slowfsync.c"), "-ldl"], check=True)
    out.chmod(0o755)
    return out


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command, env=None):
    """PostgreSQL refuses to run as root: run its tools as the postgres user."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, env=env, capture_output=True,
                          text=True)


class Cluster:
    """initdb, start (with ``preload`` as LD_PRELOAD), a database URL, stop and remove."""

    def __init__(self, name, preload=None):
        self.name, self.preload = name, preload
        self.root = Path(tempfile.mkdtemp(prefix=f"invx-bench-{name}-"))
        self.data, self.socket_dir = self.root / "data", self.root / "sock"
        self.port = _free_port()

    def start(self):
        self.socket_dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket_dir, "postgres")
        _as_postgres(str(BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                     "--auth=trust", "--no-sync")
        env = dict(os.environ)
        if self.preload:
            env["LD_PRELOAD"] = str(self.preload)
        options = (f"-p {self.port} -k {self.socket_dir} -c listen_addresses='' "
                   "-c max_connections=300 -c shared_buffers=256MB "
                   "-c fsync=on -c synchronous_commit=on")
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-w", "-o", options,
                     "-l", str(self.root / "postgres.log"), "start", env=env)
        _as_postgres(str(BIN / "createdb"), "-h", str(self.socket_dir), "-p", str(self.port),
                     "-U", "postgres", "bench")
        return self

    @property
    def postmaster_pid(self):
        return int((self.data / "postmaster.pid").read_text().split()[0])

    @property
    def url(self):
        return (f"postgresql://postgres@/bench?host={self.socket_dir}&port={self.port}")

    def stop(self):
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        time.sleep(0.2)
