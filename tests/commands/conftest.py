"""Fixtures of the ``invx`` command's tests."""
import pytest

from ..support.cli import set_at


@pytest.fixture
def invx(app):
    runner = app.test_cli_runner()

    def run(*args, input=None):
        return runner.invoke(args=list(args), input=input)

    return run


@pytest.fixture
def key_file(tmp_path, fake_at):
    path = tmp_path / "at-public.pem"
    path.write_text(fake_at.public_key_pem)
    return path


@pytest.fixture
def at_sequence(app, client, invx, make_account, key_file, fake_at):
    key = make_account(tax_authority="none")
    set_at(invx, key_file, fake=fake_at)
    response = client.post(f"/sequences.json?api_key={key}", json={"sequence": {"serie": "2026"}})
    assert response.status_code == 201
    return response.get_json()["sequence"]
