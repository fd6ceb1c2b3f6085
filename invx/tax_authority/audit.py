"""Every call to a Tax Authority, recorded: operation, series, result, AT's message, time.

The record is written twice, each time on a connection of its own and committed at once,
so it survives whatever happens to the caller's transaction: ``pending`` before the call
(no call is made that could not be recorded), then completed with its outcome and duration
when the call returns. A record a killed worker left pending stays pending: ``invx at-log``
shows it as interrupted once its registration's lease has run out. Credentials never reach
it.
"""
import logging
import time

from sqlalchemy import update

from .. import instruments
from ..models import AtCall, utcnow
from . import reachability, transaction_guard
from .base import SUCCESS_CODES, SeriesInfo, TaxAuthority, TaxAuthorityError, UnavailableError

log = logging.getLogger(__name__)

PENDING = "pending"          # written before the call: no answer recorded yet
INTERRUPTED = "interrupted"  # the calling thread was stopped before an answer was seen


def shown_outcome(call, now, lease):
    """The outcome ``invx at-log`` shows: a record still pending after ``lease`` (no call
    outlives its registration's lease) was left by a worker that died during the call."""
    if call.outcome == PENDING and call.created_at + lease < now:
        return INTERRUPTED
    return call.outcome


class AuditedTaxAuthority(TaxAuthority):
    """Wraps an adapter; each call is checked against ``transaction_guard`` (``guard`` is its
    mode), recorded in ``at_calls`` before it is made, then timed and completed."""

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
        row = {"operation": operation, "serie": serie, "doc_class": doc_class,
               "doc_type": doc_type}
        call_id = self._begin(row)
        started = time.monotonic()
        try:
            result = call()
        except TaxAuthorityError as error:
            outcome = "refused" if error.code and 4000 <= error.code < 5000 else "error"
            reachability.note(self.name, operation, not isinstance(error, UnavailableError),
                              error.message[:200])
            row.update(outcome=outcome, result_code=error.code, message=error.message[:2000])
            raise
        except Exception as error:
            row.update(outcome="error", message=f"invx: {error.__class__.__name__}")
            raise
        else:
            reachability.note(self.name, operation, True)
            row.update(outcome="ok", result_code=SUCCESS_CODES[operation],
                       validation_code=_code_of(result))
            return result
        finally:
            row.setdefault("outcome", INTERRUPTED)  # stopped (BaseException): no answer seen
            seconds = time.monotonic() - started
            row["duration_ms"] = int(seconds * 1000)
            instruments.at_call(self.inner.name, operation, row["outcome"], seconds)
            self._complete(call_id, row)

    def _begin(self, row):
        """The pending record, committed before the call; if it cannot be written, the call
        is not made (AT is left untouched, as a refusal that registered nothing)."""
        try:
            with self.engine.begin() as connection:
                result = connection.execute(AtCall.__table__.insert().values(
                    account_id=self.account_id, adapter=self.inner.name, created_at=utcnow(),
                    outcome=PENDING, duration_ms=0, **row))
                return result.inserted_primary_key[0]
        except Exception:
            log.exception("could not record an AT call in the audit log: not making it")
            raise UnavailableError("the call could not be recorded in the audit log, so it "
                                   "was not made") from None

    def _complete(self, call_id, row):
        log.info("AT %s %s %s/%s: %s %s (%d ms)", row["operation"], row["serie"],
                 row["doc_class"], row["doc_type"], row["outcome"], row.get("result_code"),
                 row["duration_ms"])
        values = {key: row.get(key) for key in ("outcome", "result_code", "message",
                                                "validation_code", "duration_ms")}
        try:
            with self.engine.begin() as connection:
                connection.execute(update(AtCall.__table__)
                                   .where(AtCall.__table__.c.id == call_id).values(**values))
        except Exception:
            # The call itself happened; losing its outcome must not undo its result. The
            # record stays pending, and is shown as interrupted.
            log.exception("could not complete the audit record of an AT call")

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


def _code_of(result):
    """The validation code an answer carries: registarSerie's, or consultarSeries' when it
    found the one series asked for (a resumed registration adopts that code)."""
    if isinstance(result, SeriesInfo):
        return result.validation_code
    if isinstance(result, list) and len(result) == 1:
        return result[0].validation_code
    return None
