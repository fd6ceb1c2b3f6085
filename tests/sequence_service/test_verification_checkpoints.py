"""GET .../verify starts from the series' signed checkpoint, within a budget; `invx verify`
checks every entry, and is what catches an entry altered before the checkpoint."""
import sqlite3

import pytest
from sqlalchemy import delete, select, update

from invx.extensions import db
from invx.models import Entry, Series, VerificationCheckpoint
from invx.sequence_service import checkpoints, jws
from invx.sequence_service.chain import Budget
from invx.sequence_service.verification import verify_from_checkpoint, verify_series

from ..support.openapi import validate
from ..support.sequence_service import API, SALES, put_entry, tamper


def verify(client, auth):
    response = client.get(f"{API}/series/{SALES}/verify", headers=auth)
    assert response.status_code == 200
    validate(client, "/sequence/v1/series/{id}/verify", "get", "200", response.get_json())
    return response.get_json()


def sales():
    """The SALES series (in an app context)."""
    return db.session.scalars(select(Series).where(Series.id == SALES)).one()


def stored_checkpoint(app):
    with app.app_context():
        return db.session.scalars(select(VerificationCheckpoint)
                                  .where(VerificationCheckpoint.series_id == SALES)).first()


def more_entries(client, auth, count):
    return [put_entry(client, auth).get_json() for _ in range(count)]


def forged_sig(chain, index, **changes):
    """A well-formed server JWS for chain[index], signed with a key that is not the server's."""
    kid = jws.header_and_payload(chain[0]["sigs"][0])[0]["kid"]
    payload = {**jws.header_and_payload(chain[index]["sigs"][0])[1], **changes}
    return jws.sign(jws.new_private_key(), kid, payload)


def test_the_next_verification_starts_from_the_checkpoint_the_first_set(app, client, auth,
                                                                          chain):
    first = verify(client, auth)
    assert first["checkpoint"] is None and first["entries"] == 5
    assert stored_checkpoint(app).number == 5
    added = more_entries(client, auth, 2)
    second = verify(client, auth)
    assert second["checkpoint"]["number"] == 5
    assert second["checkpoint"]["entry_id"] == chain[4]["id"]
    assert (second["valid"], second["entries"], second["first_number"],
            second["last_number"], second["verified_through"]) == (True, 2, 6, 7, 7)
    assert stored_checkpoint(app).entry_id == added[1]["id"]
    nothing_new = verify(client, auth)
    assert (nothing_new["valid"], nothing_new["entries"], nothing_new["first_number"],
            nothing_new["verified_through"]) == (True, 0, None, 7)


def test_tampering_after_the_checkpoint_is_caught(app, client, auth, chain):
    verify(client, auth)
    added = more_entries(client, auth, 2)
    tamper(app, update(Entry).where(Entry.id == added[1]["id"]).values(code="INV-99999-F1"))
    report = verify(client, auth)
    assert report["valid"] is False and report["broken_at"]["number"] == 7
    assert report["verified_through"] == 6 and stored_checkpoint(app).number == 6
    assert verify(client, auth)["broken_at"]["number"] == 7  # and on, from there


def test_a_replaced_checkpoint_entry_is_caught(app, client, auth, chain):
    verify(client, auth)
    tamper(app, update(Entry).where(Entry.id == chain[4]["id"])
           .values(sig=forged_sig(chain, 4)))
    report = verify(client, auth)
    assert report["valid"] is False and report["verified_through"] is None
    assert report["broken_at"]["number"] == 5
    assert "not the one verified" in report["broken_at"]["problem"]


def test_an_entry_removed_before_the_checkpoint_is_caught(app, client, auth, chain):
    verify(client, auth)
    tamper(app, delete(Entry).where(Entry.id == chain[1]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False and "removed or added" in report["broken_at"]["problem"]


def test_an_entry_altered_before_the_checkpoint_is_caught_by_the_full_verification(
        app, client, auth, chain):
    verify(client, auth)
    tamper(app, update(Entry).where(Entry.id == chain[1]["id"])
           .values(sig=forged_sig(chain, 1)))
    # What HTTP /verify does not re-check: the entries the checkpoint vouches for.
    assert verify(client, auth)["valid"] is True
    result = app.test_cli_runner().invoke(args=["verify", "acme", SALES, "--no-progress"])
    assert result.exit_code == 1 and '"number": 2' in result.stdout
    # The full verification moved the checkpoint back to where the chain holds.
    assert stored_checkpoint(app).number == 1
    assert verify(client, auth)["broken_at"]["number"] == 2


def test_a_tampered_checkpoint_is_ignored_and_reported(app, client, auth, chain):
    verify(client, auth)
    added = more_entries(client, auth, 2)
    tamper(app, update(Entry).where(Entry.id == added[1]["id"]).values(code="INV-99999-F1"))
    # Moved on past the altered entry, by someone without the server's secret key.
    tamper(app, update(VerificationCheckpoint).values(
        number=7, entry_id=added[1]["id"], sig_sha256=checkpoints.sig_sha256(added[1]["sigs"][0])))
    report = verify(client, auth)
    assert report["checkpoint"] is None and "ignored" in report["checkpoint_rejected"]
    assert report["valid"] is False and report["broken_at"]["number"] == 7
    assert report["entries"] == 6  # from the start
    with app.app_context():  # a checkpoint of the server's again
        assert checkpoints.load(sales(), app.extensions["invx"].secret_key)[0].number == 6


def test_a_checkpoint_of_another_secret_key_is_ignored(app, client, auth, chain):
    with app.app_context():  # as a server with another INVX_SECRET_KEY would have left it
        checkpoints.advance(sales(), 5, chain[4]["id"], chain[4]["sigs"][0],
                            "another-secret-key-0123456789")
    report = verify(client, auth)
    assert "checkpoint_rejected" in report and report["entries"] == 5 and report["valid"]


def test_without_a_secret_key_every_verification_starts_from_the_start(app, chain):
    # In the domain: without the secret key, the API's keys would not verify either.
    with app.app_context():
        for _ in range(2):
            report = verify_from_checkpoint(sales(), None, Budget(10, 1.0))
            assert report["checkpoint"] is None and report["entries"] == 5 and report["valid"]
    assert stored_checkpoint(app) is None


def test_the_budget_bounds_what_one_verification_checks(app, client, auth, chain, settings):
    settings(verify_max_entries=2)
    first = verify(client, auth)
    assert (first["valid"], first["entries"], first["verified_through"],
            first["remaining"]) == (None, 2, 2, 3)
    second = verify(client, auth)
    assert second["checkpoint"]["number"] == 2
    assert (second["valid"], second["first_number"], second["last_number"],
            second["remaining"]) == (None, 3, 4, 1)
    third = verify(client, auth)
    assert (third["valid"], third["entries"], third["remaining"]) == (True, 1, 0)


def test_the_time_budget_ends_a_verification_after_its_first_page(
        client, auth, chain, settings, monkeypatch):
    monkeypatch.setattr("invx.sequence_service.chain.PAGE", 2)
    settings(verify_seconds=0)
    report = verify(client, auth)
    assert (report["valid"], report["entries"], report["remaining"]) == (None, 2, 3)


def test_a_concurrent_verification_keeps_the_checkpoint_it_moved(app, client, auth, chain):
    verify(client, auth)
    secret = app.extensions["invx"].secret_key
    with app.app_context():
        started_from, _ = checkpoints.load(sales(), secret)
        checkpoints.advance(sales(), 2, chain[1]["id"], chain[1]["sigs"][0], secret)  # a break
        checkpoints.advance(sales(), 5, chain[4]["id"], chain[4]["sigs"][0], secret,
                            replacing=started_from)
        assert checkpoints.load(sales(), secret)[0].number == 2


def test_an_entry_beyond_the_counter_is_caught(app, client, auth, chain):
    with app.app_context():
        last = db.session.scalars(select(Entry).where(Entry.id == chain[4]["id"])).one()
        db.session.add(Entry(id="0b7f6c55-8d45-4a3b-9d7c-1d2f1c0e9a11", series_id=SALES,
                             account_id=last.account_id, number=6, code="INV-00006-F1",
                             previous_id=last.id, sig=last.sig, request_hash=last.request_hash))
        db.session.commit()
    report = verify(client, auth)
    assert report["valid"] is False and "beyond the series' counter" in \
        report["broken_at"]["problem"]


def test_a_counter_below_the_checkpoint_is_caught(app, client, auth, chain):
    verify(client, auth)
    tamper(app, delete(Entry).where(Entry.id == chain[4]["id"]))
    tamper(app, update(Series).where(Series.id == SALES)
           .values(last_number=4, last_entry_id=chain[3]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False and "counter now ends at 4" in report["broken_at"]["problem"]


def test_a_full_verification_broken_at_the_first_entry_drops_the_checkpoint(
        app, client, auth, chain):
    verify(client, auth)
    tamper(app, update(Entry).where(Entry.id == chain[0]["id"])
           .values(sig=forged_sig(chain, 0)))
    result = app.test_cli_runner().invoke(args=["verify", "acme", SALES, "--no-progress"])
    assert result.exit_code == 1 and stored_checkpoint(app) is None
    report = verify(client, auth)
    assert report["checkpoint"] is None and report["broken_at"]["number"] == 1


def test_a_verification_leaves_sqlites_write_lock_free_between_pages(app, chain, monkeypatch):
    monkeypatch.setattr("invx.sequence_service.verification.FULL_PAGE", 2)
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's write lock (every transaction is BEGIN IMMEDIATE)")
        path, pages = db.engine.url.database, []

        def try_to_write(entries):
            other = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")  # "database is locked" if still held
                other.execute("ROLLBACK")
            finally:
                other.close()
            pages.append(entries)

        series = sales()
        assert verify_series(series, progress=try_to_write)["valid"] is True
    assert pages == [2, 2, 1]


def test_entries_issued_during_a_verification_are_left_to_the_next(
        app, client, auth, chain, monkeypatch):
    monkeypatch.setattr("invx.sequence_service.verification.FULL_PAGE", 2)
    issued = []

    def issue_two_once(entries):  # after a page, when the verification holds no lock
        if not issued:
            issued.extend(more_entries(client, auth, 2))

    with app.app_context():
        report = verify_series(sales(), progress=issue_two_once)
    assert len(issued) == 2
    assert (report["valid"], report["entries"], report["verified_through"]) == (True, 5, 5)
    assert verify(client, auth)["verified_through"] == 7
