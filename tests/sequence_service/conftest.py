"""Fixtures of the Sequence Service's tests: a client's credentials, series, a chain."""
import pytest

from ..support.sequence_service import SALES, put_entry, put_series


@pytest.fixture
def auth(key):
    """The headers of ``acme``'s requests: its API key as Bearer token."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def series(client, auth):
    """``SALES``, created; returns its id."""
    put_series(client, auth)
    return SALES


@pytest.fixture
def chain(client, auth):
    """``SALES`` with five entries; returns their bodies."""
    put_series(client, auth)
    return [put_entry(client, auth).get_json() for _ in range(5)]


@pytest.fixture
def sequence(client, key):
    """An InvoiceXpress sequence of ``acme`` (serie 2023); returns its SEQUENCE object."""
    return client.post(f"/sequences.json?api_key={key}",
                       json={"sequence": {"serie": "2023"}}).get_json()["sequence"]
