"""Reading the deployment files (deploy/) as their programs would, for the tests."""
import ast
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
NGINX_SITE = DEPLOY / "nginx" / "invx.conf"
CONTAINER = DEPLOY / "container"
GUNICORN_CONFIG = ROOT / "invx" / "gunicorn_config.py"
WSGI = ROOT / "invx" / "wsgi.py"


def unit(name):
    """A systemd unit file as {section: {key: [values]}} (a key may repeat)."""
    sections, current = {}, None
    for line in (SYSTEMD / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def env_file(path):
    """The variables an EnvironmentFile= (or compose env_file) sets, and those it only
    shows in comments (``#NAME=``)."""
    set_, shown = {}, set()
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"(#?)([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match and match[1]:
            shown.add(match[2])
        elif match:
            set_[match[2]] = match[3]
    return set_, shown


def nginx_directives(name, text=None):
    """The arguments of every ``name`` directive in the nginx site, comments left out."""
    text = NGINX_SITE.read_text() if text is None else text
    text = re.sub(r"#.*$", "", text, flags=re.MULTILINE)  # the site has no '#' in quotes
    found = re.findall(rf"(?:^|[;{{}}\s]){re.escape(name)}\s+([^;{{]*?)\s*(?:;|{{)", text,
                       flags=re.MULTILINE)
    return [" ".join(found_one.split()) for found_one in found]


def nginx_log_formats():
    """{name: the format's text}, its quoted pieces joined."""
    text = NGINX_SITE.read_text()
    formats = {}
    for match in re.finditer(r"^\s*log_format\s+(\S+)\s+(?:escape=\S+\s+)?((?:'[^']*'\s*)+);",
                             text, flags=re.MULTILINE):
        formats[match[1]] = "".join(re.findall(r"'([^']*)'", match[2]))
    return formats


def dockerfile():
    """The Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    text = (CONTAINER / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
    return instructions


def final_stage(instructions):
    """The instructions after the last FROM: what the image is made of."""
    last = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last + 1:]


def module_constants(path):
    """The literal top-level assignments of a Python module (read, not run: importing
    the gunicorn settings changes the environment)."""
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} comes with the packaging branch (issue 19, "
                    "shared names); merged with it, this test runs")
    constants = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def command_words(command):
    return shlex.split(command)


def nginx_block(opening):
    """The text inside the first block that opens with ``opening`` (``location = /x``)."""
    text = NGINX_SITE.read_text()
    start = text.index(opening)
    depth, begin = 0, text.index("{", start)
    for index in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[begin + 1:index]
    raise ValueError(f"{opening} has no closing brace")
