"""Verifying a series catches every kind of tampering."""
import json
import sys
import uuid

from sqlalchemy import delete, update

from invx.models import Entry, Series
from invx.sequence_service import jws

from ..support.openapi import validate
from ..support.sequence_service import API, SALES, tamper


def verify(client, auth):
    response = client.get(f"{API}/series/{SALES}/verify", headers=auth)
    validate(client, "/sequence/v1/series/{id}/verify", "get", "200", response.get_json())
    return response.get_json()


def test_an_intact_series_verifies(client, auth, chain):
    assert verify(client, auth) == {"series_id": SALES, "valid": True, "entries": 5,
                                    "first_number": 1, "last_number": 5,
                                    "verified_through": 5, "remaining": 0, "checkpoint": None}


def test_a_removed_entry_is_caught(app, client, auth, chain):
    tamper(app, delete(Entry).where(Entry.id == chain[2]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False
    assert report["broken_at"]["number"] == 4
    assert "missing" in report["broken_at"]["problem"]


def test_a_removed_last_entry_is_caught(app, client, auth, chain):
    tamper(app, delete(Entry).where(Entry.id == chain[4]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False and "missing at the end" in report["broken_at"]["problem"]


def test_an_altered_code_is_caught(app, client, auth, chain):
    tamper(app, update(Entry).where(Entry.id == chain[1]["id"]).values(code="INV-99999-F1"))
    report = verify(client, auth)
    assert report["broken_at"]["number"] == 2 and report["valid"] is False


def test_a_renumbered_entry_with_a_matching_code_is_caught(app, client, auth, chain):
    tamper(app, delete(Entry).where(Entry.id == chain[4]["id"]))
    tamper(app, update(Entry).where(Entry.id == chain[3]["id"])
           .values(number=5, code="INV-00005-F1"))
    tamper(app, update(Series).where(Series.id == SALES)
           .values(last_number=5, last_entry_id=chain[3]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False
    assert report["broken_at"]["number"] == 5


def test_a_relinked_chain_is_caught(app, client, auth, chain):
    tamper(app, update(Entry).where(Entry.id == chain[3]["id"])
           .values(previous_id=chain[1]["id"]))
    report = verify(client, auth)
    assert report["broken_at"]["entry_id"] == chain[3]["id"]
    assert "previous_id" in report["broken_at"]["problem"]


def test_a_forged_signature_is_caught(app, client, auth, chain):
    forged = jws.sign(jws.new_private_key(), jws.header_and_payload(chain[0]["sigs"][0])[0]["kid"],
                      {"id": chain[2]["id"], "cid": SALES, "pid": chain[1]["id"],
                       "num": "INV-00003-F1", "ts": 0})
    tamper(app, update(Entry).where(Entry.id == chain[2]["id"]).values(sig=forged))
    report = verify(client, auth)
    assert report["broken_at"]["number"] == 3
    assert "signature" in report["broken_at"]["problem"]


def test_the_verify_command_exits_non_zero_on_tampering(app, client, auth, chain):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify", "acme", SALES])
    assert result.exit_code == 0 and '"valid": true' in result.output
    tamper(app, delete(Entry).where(Entry.id == chain[2]["id"]))
    result = runner.invoke(args=["verify", "acme", SALES])
    assert result.exit_code == 1 and '"valid": false' in result.output
    # A series (or an account) it cannot find is 2, as a usage error: not a broken one.
    assert runner.invoke(args=["verify", "acme", str(uuid.uuid4())]).exit_code == 2
    assert runner.invoke(args=["verify", "nobody", SALES]).exit_code == 2


def test_the_verify_command_shows_progress_lines_when_not_on_a_terminal(app, chain,
                                                                        monkeypatch):
    monkeypatch.setattr("invx.sequence_service.verification.FULL_PAGE", 2)
    result = app.test_cli_runner().invoke(args=["verify", "acme", SALES])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == ["verified 2 of 5 entries (40%)",
                                          "verified 4 of 5 entries (80%)",
                                          "verified 5 of 5 entries (100%)"]
    assert json.loads(result.stdout)["verified_through"] == 5


def test_the_verify_command_shows_a_bar_on_a_terminal(app, chain, monkeypatch):
    command_module = sys.modules["invx.commands.verify"]  # the package's name is the command
    monkeypatch.setattr(command_module, "on_a_terminal", lambda: True)
    result = app.test_cli_runner().invoke(args=["verify", "acme", SALES])
    assert result.exit_code == 0 and "verifying" in result.stderr


def test_the_verify_command_can_be_quiet(app, chain):
    result = app.test_cli_runner().invoke(args=["verify", "acme", SALES, "--no-progress"])
    assert result.exit_code == 0 and result.stderr == ""
    assert json.loads(result.stdout)["valid"] is True
