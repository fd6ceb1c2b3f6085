"""A Tax Authority whose failures a test scripts, per AT document type (the sandbox
underneath), and the calls it was made."""
import time

from invx.tax_authority.base import UnavailableError
from invx.tax_authority.sandbox import SandboxTaxAuthority


class Crash(BaseException):
    """Stands for a worker dying mid-registration: nothing in invx catches it."""


class ScriptedTaxAuthority(SandboxTaxAuthority):
    """The sandbox AT, with failures scripted per AT document type."""

    name = "scripted"
    failures = {}          # AT tipoDoc -> exception raised instead of registering
    annul_failures = set()  # AT tipoDoc whose annulment fails
    lost_answers = set()    # AT tipoDoc registered at AT, but the answer never arrives
    query_failures = set()  # AT tipoDoc whose consultarSeries fails
    gate = None            # a threading.Event register_series waits on, if set
    on_register = None     # a callable run before each registration
    calls = []

    def register_series(self, registration):
        ScriptedTaxAuthority.calls.append(("register", registration.doc_type))
        if ScriptedTaxAuthority.on_register:  # through the class: a plain function
            ScriptedTaxAuthority.on_register(registration)
        if self.gate is not None:
            assert self.gate.wait(10)
        if registration.doc_type in self.failures:
            raise self.failures[registration.doc_type]
        info = super().register_series(registration)
        if registration.doc_type in self.lost_answers:
            raise UnavailableError("no answer from AT (ConnectionError)", outcome_unknown=True)
        return info

    def query_series(self, serie=None, doc_class=None, doc_type=None):
        ScriptedTaxAuthority.calls.append(("query", doc_type))
        if doc_type in self.query_failures:
            raise UnavailableError("AT did not answer in time", outcome_unknown=True)
        return super().query_series(serie, doc_class, doc_type)

    def annul_series(self, serie, doc_class, doc_type, validation_code, reason="ER"):
        ScriptedTaxAuthority.calls.append(("annul", doc_type))
        if doc_type in self.annul_failures:
            raise UnavailableError("Erro Técnico Inespecífico", 5000)
        return super().annul_series(serie, doc_class, doc_type, validation_code, reason)


def registrations(doc_type=None):
    """The registarSerie calls made (of ``doc_type``, if given)."""
    return [c for c in ScriptedTaxAuthority.calls
            if c[0] == "register" and (doc_type is None or c[1] == doc_type)]


def wait_for_call():
    """Until the scripted adapter has been called (10 s at most)."""
    deadline = time.monotonic() + 10
    while not ScriptedTaxAuthority.calls:
        assert time.monotonic() < deadline, "the registration never reached the adapter"
        time.sleep(0.01)
