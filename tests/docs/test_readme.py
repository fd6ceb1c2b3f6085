"""The README for a newcomer: its quick start, its links, and ``make docs-check``, which
runs its shell examples (that run is CI's, ``make docs-check``: about a minute; these
tests check what it relies on, in a second)."""
import re
from pathlib import Path

import pytest

from .readme_check import README, ROOT, code_blocks, run_session, session_script

MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _blocks(markdown):
    return code_blocks(markdown)


def _run(markdown, tmp_path):
    script = session_script(_blocks(markdown), "127.0.0.1:9")
    return run_session(script, tmp_path, {"PATH": "/usr/bin:/bin"}, timeout=20)


def test_every_shell_block_of_the_readme_is_run_or_marked_with_a_reason():
    blocks = _blocks(README.read_text())
    assert all(block.language for block in blocks), "a code block without a language"
    unknown = [b.line for b in blocks if not b.is_shell and b.language not in ("json", "text")]
    assert not unknown, f"code blocks that are neither shell nor data, at lines {unknown}"
    skipped = [block for block in blocks if block.skip is not None]
    assert all(block.is_shell for block in skipped)
    assert all(re.fullmatch(r"\(.+\)", block.skip) for block in skipped), \
        "a skip marker says why: <!-- docs-check: skip (why) -->"
    assert sum(block.is_shell and block.skip is None for block in blocks) >= 15


def test_every_skip_marker_of_the_readme_is_right_before_a_shell_block():
    markers = sum(line.startswith("<!-- docs-check: skip")
                  for line in README.read_text().splitlines())
    assert markers == sum(block.skip is not None for block in _blocks(README.read_text()))


def test_the_quick_start_is_at_the_top_and_at_most_40_lines():
    lines = README.read_text().splitlines()
    start = lines.index("## Quick start")
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("## "))
    assert start < 10
    assert end <= 40, f"the title and quick start take {end} lines"


def _anchor(heading):
    """GitHub's anchor for a heading: lowercase, punctuation gone, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path):
    return {_anchor(line.lstrip("#")) for line in path.read_text().splitlines()
            if re.match(r"#{1,6} ", line)}


@pytest.mark.parametrize("document", ["README.md", "docs/at.md", "docs/performance.md",
                                      "docs/architecture.md"])
def test_the_links_of_the_readme_and_the_docs_it_moved_lead_somewhere(document):
    path = ROOT / document
    # Files other engineers write now; the lead merges them with this README.
    pending = {"metrics.md", "logging.md", "secrets.md", "backups.md", "deployment.md",
               "installing.md"}
    broken = []
    for target in MARKDOWN_LINK.findall(path.read_text()):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if file_part and Path(file_part).name in pending:
            continue
        if not linked.exists() or (anchor and anchor not in _anchors(linked)):
            broken.append(target)
    assert not broken


def test_the_blocks_run_in_order_in_one_session(tmp_path):
    markdown = ("```sh\nA=1\n```\n\ntext\n\n```bash\n"
                "[ \"$A\" = 1 ] && echo 127.0.0.1:8000 > out\n```\n")
    assert _run(markdown, tmp_path) == 0
    assert (tmp_path / "out").read_text() == "127.0.0.1:9\n"  # the server started, not 8000


def test_a_failing_block_fails_the_check_and_says_which(tmp_path, capfd):
    markdown = "```sh\ntrue\n```\n\n```sh\nfalse\necho not reached > out\n```\n"
    assert _run(markdown, tmp_path) != 0
    assert not (tmp_path / "out").exists()
    assert "the block at README.md line 5 failed" in capfd.readouterr().err


@pytest.mark.parametrize("code", ["echo $UNSET_VARIABLE", "false | cat"])
def test_an_unset_variable_or_a_failing_pipe_fails_the_check(tmp_path, code):
    assert _run(f"```sh\n{code}\n```\n", tmp_path) != 0


def test_a_marked_block_is_not_run_and_other_languages_are_not_shell(tmp_path):
    markdown = ("<!-- docs-check: skip (it serves forever) -->\n```sh\nexit 7\n```\n\n"
                "```json\n{\"not\": \"run\"}\n```\n\n```sh\ntrue\n```\n")
    blocks = _blocks(markdown)
    assert [(b.language, b.skip) for b in blocks] == [
        ("sh", "(it serves forever)"), ("json", None), ("sh", None)]
    assert _run(markdown, tmp_path) == 0


def test_a_block_left_running_is_stopped_when_the_time_is_up(tmp_path):
    script = session_script(_blocks("```sh\nsleep 60 &\nsleep 60\n```\n"), "127.0.0.1:9")
    assert run_session(script, tmp_path, {"PATH": "/usr/bin:/bin"}, timeout=1) == 124
