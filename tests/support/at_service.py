"""The real AT adapter, built for tests: its settings, and a registration to send."""
from datetime import date
from types import SimpleNamespace

from invx.config import Settings
from invx.secret_box import seal
from invx.tax_authority.at_soap import AtSeriesService
from invx.tax_authority.base import SeriesRegistration

from . import at_keys

SECRET = "a-test-secret-key-of-some-length"
PASSWORD = "sub-user pässword"


def adapter(**changes):
    settings = {"endpoint": "test", "username": "555555550/1",
                "public_key_pem": at_keys.public_pem().decode(),
                "password": seal(SECRET, PASSWORD), "software_certificate": 0,
                "series_type": "N", **changes}
    return AtSeriesService(SimpleNamespace(tax_authority_config=settings),
                           Settings(secret_key=SECRET, at_connect_timeout=2, at_read_timeout=3))


def registration(doc_type="FT"):
    return SeriesRegistration(serie="A2025", series_type="N", doc_class="SI", doc_type=doc_type,
                              first_number=1, start_date=date(2025, 1, 2))
