"""The layout docs/architecture.md describes, kept: which room may import which, HTTP at
the edge, one place reading the environment, and small modules and functions."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "invx"

# room -> the rooms (top-level modules or packages of invx) it may import.
# instruments: the metrics every room counts its events in (no Flask, no other room).
SHARED = {"extensions", "models", "secret_box", "portugal", "json_text", "log_safety",
          "instruments", "logs"}
MAY_IMPORT = {
    "portugal": set(),
    "tax_authority": SHARED,
    "registration": SHARED | {"tax_authority"},
    "sequence_service": SHARED | {"errors", "auth", "http", "config", "rate_limits",
                                  "request_body", "read_replica", "document_keys", "countries"},
    "invoicexpress": SHARED | {"errors", "auth", "http", "config", "rate_limits", "request_body",
                               "registration", "tax_authority"},
    "backups": SHARED | {"sequence_service", "tax_authority"},
}
# Flask itself (requests, the app, its config) only at the edge.
FLASK_ALLOWED = {"invx", "invx.config", "invx.http", "invx.errors", "invx.openapi",
                 "invx.extensions", "invx.commands", "invx.request_body", "invx.health",
                 "invx.metrics",  # /metrics and the hooks that count every request
                 "invx.read_replica",  # which engine a view's session reads (flask.g)
                 "invx.migrations.env"}  # Flask-Migrate's Alembic env: the app's db


# Alembic's revisions, shipped in the package as data: Alembic runs them, nothing imports
# them, and each is written once, as Alembic generates it.
MIGRATIONS = PACKAGE / "migrations" / "versions"
# gunicorn reads its settings (PORT, INVX_BIND, INVX_WORKERS...) in its master, before any
# app and its Settings exist, and hands the workers INVX_DB_POOL_SIZE through the environment.
READS_THE_ENVIRONMENT = {"invx.config", "invx.gunicorn_config"}


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if MIGRATIONS in path.parents:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path, ast.parse(path.read_text())


def _imports(name, path, tree):
    """The absolute names of the modules ``tree`` imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


MODULES = list(_modules())


def _room(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "invx" else None


def test_the_import_reader_resolves_relative_imports():
    tree = ast.parse("from ..tax_authority.base import X\nfrom . import leases\nimport flask")
    found = set(_imports("invx.registration.workflow",
                         PACKAGE / "registration" / "workflow.py", tree))
    assert {"invx.tax_authority.base", "invx.registration.leases", "flask"} <= found
    assert {_room(module) for module in found} >= {"tax_authority", "registration"}


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_each_room_imports_only_what_it_may(room):
    allowed = MAY_IMPORT[room] | {room}
    for name, path, tree in MODULES:
        if _room(name) != room:
            continue
        used = {_room(module) for module in _imports(name, path, tree)} - {None}
        assert used <= allowed, f"{name} imports {sorted(used - allowed)}"


def test_views_are_imported_by_the_app_factory_only():
    for name, path, tree in MODULES:
        views = {m for m in _imports(name, path, tree) if m.endswith(".views")}
        assert name == "invx" or not views, f"{name} imports {sorted(views)}"


def test_flask_is_known_only_at_the_edge():
    for name, path, tree in MODULES:
        edge = (name in FLASK_ALLOWED or name.endswith(".views")
                or name.startswith("invx.commands"))
        uses_flask = any(m == "flask" or m.startswith("flask.") for m in _imports(name, path, tree))
        assert edge or not uses_flask, f"{name} imports flask"


def test_only_the_settings_read_the_environment():
    for name, _, tree in MODULES:
        reads = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                 and node.attr in ("environ", "getenv")
                 and not (isinstance(node.value, ast.Name) and node.value.id == "request")]
        assert name in READS_THE_ENVIRONMENT or not reads, f"{name} reads the environment"


def test_nothing_reads_flasks_config_dict():
    for name, _, tree in MODULES:
        reads = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                 and node.attr == "config" and isinstance(node.value, ast.Name)
                 and node.value.id in ("current_app", "app")]
        allowed = {"invx", "invx.extensions"}  # Flask-SQLAlchemy reads its keys there
        assert name in allowed or not reads, f"{name} reads the Flask config"


@pytest.mark.parametrize("root", ["invx", "bench", "tests"])
def test_modules_and_functions_are_small(root):
    """No module over 300 lines, no function over 60 (a function that only returns a data
    literal excepted)."""
    for path in sorted((ROOT / root).rglob("*.py")):
        if MIGRATIONS in path.parents:
            continue
        text = path.read_text()
        assert len(text.splitlines()) <= 300, f"{path.relative_to(ROOT)} is too long"
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            body = [n for n in node.body if not isinstance(n, ast.Expr)]  # docstring
            literal = len(body) == 1 and isinstance(body[0], ast.Return) and isinstance(
                body[0].value, ast.Dict | ast.List | ast.Tuple)
            length = node.end_lineno - node.lineno + 1
            assert literal or length <= 60, (
                f"{path.relative_to(ROOT)}:{node.lineno} {node.name} is {length} lines")
