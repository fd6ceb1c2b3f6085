"""``make docs-check``: the README's shell examples, run in order against a fresh instance.

It starts invx as ``make run`` does (``invx db upgrade``, ``invx demo``, gunicorn with
``gunicorn.conf.py`` and the instance's secret key), in a temporary instance folder, on the
embedded SQLite database and a free loopback port. Then it runs every ``sh`` and ``bash``
block of README.md, in order, in one bash session (``set -euo pipefail``), from a folder laid
out as a checkout is (``.venv``, ``instance/``), so the examples run as a newcomer types
them. It fails when a block fails, stops the server and removes the folder.

- A block preceded by ``<!-- docs-check: skip (why) -->`` is not run: ``make run`` itself,
  the test suite, what needs the real AT.
- ``127.0.0.1:8000`` in a block is the server the README speaks of: it becomes the address
  of the one started here.
- No ``INVX_*`` variable of the caller's reaches the server or the examples: only the
  temporary instance folder is set.

Run it with ``make docs-check``, or ``.venv/bin/python -m tests.docs.readme_check``.
"""
import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
VENV = ROOT / ".venv"
SHELLS = ("sh", "bash")
SKIP_MARKER = "<!-- docs-check: skip"
README_ADDRESS = "127.0.0.1:8000"
START_SECONDS = 60
SESSION_SECONDS = 240


class CodeBlock(NamedTuple):
    """A fenced block of a Markdown file: where it starts (1-based), its language, its text,
    and why it is not run (None: it is, if it is a shell block)."""

    line: int
    language: str
    code: str
    skip: str | None

    @property
    def is_shell(self):
        return self.language in SHELLS


def code_blocks(markdown):
    """Every fenced block of ``markdown``, with the skip marker that precedes it, if any."""
    tokens = MarkdownIt("commonmark").parse(markdown)
    blocks = []
    for index, token in enumerate(tokens):
        if token.type != "fence":
            continue
        before = tokens[index - 1] if index else None
        skip = None
        if before is not None and before.type == "html_block" \
                and before.content.strip().startswith(SKIP_MARKER):
            skip = before.content.strip()[len(SKIP_MARKER):].removesuffix("-->").strip()
        language = token.info.split()[0] if token.info.strip() else ""
        blocks.append(CodeBlock(token.map[0] + 1, language, token.content, skip))
    return blocks


def session_script(blocks, address, source="README.md"):
    """One bash script running the shell blocks not marked, in order; when one fails, it
    says which, by its line in ``source``."""
    lines = ["set -euo pipefail",
             "DOCS_CHECK_LINE=0",
             "trap 'status=$?; [ $status -eq 0 ] || echo \"docs-check: the block at "
             f"{source} line $DOCS_CHECK_LINE failed (exit $status)\" >&2' EXIT"]
    for block in blocks:
        if not block.is_shell or block.skip is not None:
            continue
        lines += [f"DOCS_CHECK_LINE={block.line}",
                  f"echo '== {source} line {block.line}' >&2",
                  block.code.replace(README_ADDRESS, address)]
    return "\n".join(lines) + "\n"


def clean_environment(instance):
    """The caller's environment without any INVX_* setting (nor PORT), and the instance."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("INVX_") and name != "PORT"}
    env["INVX_INSTANCE_PATH"] = str(instance)
    return env


def run_session(script, cwd, env, timeout=SESSION_SECONDS):
    """Run ``script`` in bash, in its own process group (what a block left running in the
    background goes with it); returns its exit status, 124 when it ran out of time."""
    path = Path(cwd) / "docs-check.sh"
    path.write_text(script)
    process = subprocess.Popen(["bash", str(path)], cwd=cwd, env=env,
                               start_new_session=True)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"docs-check: the examples took more than {timeout} s", file=sys.stderr)
        return 124
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing left behind
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _invx(env, cwd, *args):
    subprocess.run([str(VENV / "bin" / "invx"), *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, timeout=START_SECONDS)


@contextlib.contextmanager
def served_instance(workdir, port):
    """``make run``'s steps on a fresh instance in ``workdir``; yields the examples'
    environment while gunicorn serves, and stops it after."""
    instance = Path(workdir) / "instance"
    instance.mkdir()
    (Path(workdir) / ".venv").symlink_to(VENV)
    env = clean_environment(instance)
    _invx(env, workdir, "db", "upgrade")
    _invx(env, workdir, "demo", "--port", str(port))
    secret = (instance / "secret-key").read_text().strip()
    log_path = Path(workdir) / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [str(VENV / "bin" / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT,
            env={**env, "INVX_SECRET_KEY": secret, "PORT": str(port)},
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_until_live(server, port, log_path)
            yield env
        finally:
            _stop(server)


def _wait_until_live(server, port, log_path):
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited:\n" + log_path.read_text()[-2000:])
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/livez", timeout=2):
                return
        except (urllib.error.URLError, OSError):  # not listening yet
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {START_SECONDS} s")


def _stop(server):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def check(readme=README, timeout=SESSION_SECONDS):
    """Run the README's examples against a fresh instance; returns the exit status."""
    blocks = code_blocks(Path(readme).read_text())
    run = [b for b in blocks if b.is_shell and b.skip is None]
    print(f"docs-check: {len(run)} shell blocks to run, "
          f"{sum(b.is_shell for b in blocks) - len(run)} marked to skip", file=sys.stderr)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="invx-docs-check-") as workdir:
        try:
            with served_instance(workdir, port) as env:
                script = session_script(blocks, f"127.0.0.1:{port}", Path(readme).name)
                status = run_session(script, workdir, env, timeout)
        except (RuntimeError, subprocess.SubprocessError, OSError) as error:
            print(f"docs-check: could not start invx as make run does: {error}",
                  file=sys.stderr)
            return 2
        if status:
            log = Path(workdir) / "gunicorn.log"
            print("docs-check: the server's last log lines:\n"
                  + "\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
    print("docs-check: " + ("failed" if status else "every example ran"), file=sys.stderr)
    return 1 if status else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", default=str(README), help="the Markdown file to check")
    parser.add_argument("--timeout", type=float, default=SESSION_SECONDS,
                        help="seconds the examples may take, together")
    args = parser.parse_args(argv)
    return check(args.readme, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
