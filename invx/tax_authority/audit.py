"""Every call to a Tax Authority, recorded: operation, series, result, AT's message, time.

The record is written on a connection of its own and committed at once, so it survives
whatever happens to the caller's transaction. Credentials never reach it.
"""
import logging
import time

from ..models import AtCall, utcnow
from . import transaction_guard
from .base import SUCCESS_CODES, SeriesInfo, TaxAuthority, TaxAuthorityError

log = logging.getLogger(__name__)

class AuditedTaxAuthority(TaxAuthority):
    """Wraps an adapter; each call is checked against ``transaction_guard`` (``guard`` is its
    mode), timed and recorded in ``at_calls``."""

    def __init__(self, inner, account_id, engine, guard):
        self.inner, self.account_id, self.engine, self.guard = inner, account_id, engine, guard
        self.name = inner.name
        self.has_credentials = inner.has_credentials
        self.software_certificate = inner.software_certificate
        self.series_type = inner.series_type

    def close(self):
        self.inner.close()

    def _audited(self, operation, serie, doc_class, doc_type, call):
        transaction_guard.check(operation, self.guard)
        started = time.monotonic()
        row = {"operation": operation, "serie": serie, "doc_class": doc_class,
               "doc_type": doc_type}
        try:
            result = call()
        except TaxAuthorityError as error:
            outcome = "refused" if error.code and 4000 <= error.code < 5000 else "error"
            row.update(outcome=outcome, result_code=error.code, message=error.message[:2000])
            raise
        except Exception as error:
            row.update(outcome="error", message=f"invx: {error.__class__.__name__}")
            raise
        else:
            code = result.validation_code if isinstance(result, SeriesInfo) else None
            row.update(outcome="ok", result_code=SUCCESS_CODES[operation], validation_code=code)
            return result
        finally:
            row.setdefault("outcome", "error")  # interrupted: no answer was seen
            row["duration_ms"] = int((time.monotonic() - started) * 1000)
            self._record(row)

    def _record(self, row):
        log.info("AT %s %s %s/%s: %s %s (%d ms)", row["operation"], row["serie"],
                 row["doc_class"], row["doc_type"], row["outcome"], row.get("result_code"),
                 row["duration_ms"])
        try:
            with self.engine.begin() as connection:
                connection.execute(AtCall.__table__.insert().values(
                    account_id=self.account_id, adapter=self.inner.name, created_at=utcnow(),
                    **row))
        except Exception:
            # The call itself happened; losing its audit row must not undo its result.
            log.exception("could not record an AT call in the audit log")

    def register_series(self, registration):
        return self._audited("registarSerie", registration.serie, registration.doc_class,
                             registration.doc_type,
                             lambda: self.inner.register_series(registration))

    def query_series(self, serie=None, doc_class=None, doc_type=None):
        return self._audited("consultarSeries", serie, doc_class, doc_type,
                             lambda: self.inner.query_series(serie, doc_class, doc_type))

    def annul_series(self, serie, doc_class, doc_type, validation_code, reason="ER"):
        return self._audited("anularSerie", serie, doc_class, doc_type,
                             lambda: self.inner.annul_series(serie, doc_class, doc_type,
                                                             validation_code, reason))

    def finish_series(self, serie, doc_class, doc_type, validation_code, last_number,
                      justification=None):
        return self._audited("finalizarSerie", serie, doc_class, doc_type,
                             lambda: self.inner.finish_series(serie, doc_class, doc_type,
                                                              validation_code, last_number,
                                                              justification))
