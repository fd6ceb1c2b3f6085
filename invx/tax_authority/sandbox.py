"""A stand-in for AT that follows AT's rules, so the whole flow can be tried offline.

Its state lives in the database, in a table of its own and in transactions of its own (AT's
state does not roll back with ours), so every gunicorn worker sees the same "AT". Codes are
drawn from AT's alphabet and start with ``SBX``: they were never issued by AT and must never
be printed on a real document.
"""
import secrets
import time
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Date, String, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from ..models import BigKey
from ..portugal.atcud import VALIDATION_CODE_ALPHABET
from ..portugal.document_types import is_valid_class_and_type
from ..portugal.lisbon import today_in_portugal
from ..portugal.series_names import is_valid_serie, serie_key
from .base import (
    AlreadyRegisteredError,
    InvalidRequestError,
    OperationRefusedError,
    SeriesInfo,
    TaxAuthority,
)

CODE_PREFIX = "SBX"
CODE_LENGTH = 10


class SandboxSeries(db.Model):
    """A series as the sandbox AT holds it, per taxpayer (NIF), like AT does."""

    __tablename__ = "sandbox_series"
    __table_args__ = (UniqueConstraint("nif", "serie_key", "doc_class", "doc_type"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    nif: Mapped[str] = mapped_column(String(32))
    serie: Mapped[str] = mapped_column(String(35))
    serie_key: Mapped[str] = mapped_column(String(35))
    series_type: Mapped[str] = mapped_column(String(1))
    doc_class: Mapped[str] = mapped_column(String(2))
    doc_type: Mapped[str] = mapped_column(String(2))
    first_number: Mapped[int] = mapped_column(BigInteger)
    start_date: Mapped[datetime] = mapped_column(Date)
    software_certificate: Mapped[int]
    processing: Mapped[str] = mapped_column(String(2))
    validation_code: Mapped[str] = mapped_column(String(16), unique=True)
    registered_on: Mapped[datetime] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(1))
    state_at: Mapped[datetime]
    state_reason: Mapped[str | None] = mapped_column(String(2))
    justification: Mapped[str | None] = mapped_column(String(4000))
    last_number: Mapped[int | None] = mapped_column(BigInteger)

    def info(self):
        return SeriesInfo(
            serie=self.serie, series_type=self.series_type, doc_class=self.doc_class,
            doc_type=self.doc_type, first_number=self.first_number, start_date=self.start_date,
            validation_code=self.validation_code, registered_on=self.registered_on,
            state=self.state, state_at=self.state_at, communicated_by=self.nif,
            software_certificate=self.software_certificate, processing=self.processing,
            last_number=self.last_number, state_reason=self.state_reason,
            justification=self.justification)


def new_code():
    """A fresh sandbox validation code: ``SBX`` and 7 characters of AT's alphabet."""
    tail = "".join(secrets.choice(VALIDATION_CODE_ALPHABET) for _ in range(CODE_LENGTH - 3))
    return CODE_PREFIX + tail


def is_sandbox_code(code):
    return bool(code) and code.startswith(CODE_PREFIX)


def forget_codes(nif, codes):
    """Forget the sandbox's registrations of ``nif`` whose code is among ``codes`` (a
    select of validation codes), in the caller's transaction.

    An account leaving the sandbox turns its made-up codes back into N/D; the sandbox must
    forget them too, or, once the account is back on it, every one of those types is
    refused as already registered (4001, so 002) and stays N/D for good.
    """
    return db.session.execute(
        delete(SandboxSeries).where(SandboxSeries.nif == nif,
                                    SandboxSeries.validation_code.in_(codes))
        .execution_options(synchronize_session=False)).rowcount


def _now():
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _check_registration(reg, today):
    if not is_valid_serie(reg.serie):
        raise InvalidRequestError("Campos com erros: serie.", 4003)
    if reg.series_type not in ("N", "F", "R"):
        raise InvalidRequestError("Campos com erros: tipoSerie.", 4003)
    if reg.doc_class not in ("SI", "MG", "WD", "PY"):
        raise InvalidRequestError("Classe de documento inválida.", 4045)
    if not is_valid_class_and_type(reg.doc_class, reg.doc_type):
        raise InvalidRequestError("O tipo de documento não pertence à classe indicada.", 4046)
    if reg.first_number < 1 or not 0 <= reg.software_certificate <= 9999:
        raise InvalidRequestError("Campos com erros: numInicialSeq ou numCertSWFatur.", 4003)
    if reg.processing not in ("PI", "PF", "OM"):
        raise InvalidRequestError("Campos com erros: meioProcessamento.", 4003)
    if reg.start_date < today:
        raise InvalidRequestError(
            "A data prevista de início de utilização é anterior a hoje.", 4049)


class SandboxTaxAuthority(TaxAuthority):
    """AT's series rules, enforced locally for one taxpayer."""

    name = "sandbox"

    def __init__(self, account, settings):
        self.nif = account.fiscal_id
        self.engine = db.engine  # taken now: calls may come from worker threads
        self.latency = settings.sandbox_latency

    def _round_trip(self):
        if self.latency:
            time.sleep(self.latency)

    def _find(self, session, serie, doc_class, doc_type):
        return session.scalar(select(SandboxSeries).where(
            SandboxSeries.nif == self.nif, SandboxSeries.serie_key == serie_key(serie),
            SandboxSeries.doc_class == doc_class, SandboxSeries.doc_type == doc_type))

    def register_series(self, registration):
        self._round_trip()
        _check_registration(registration, today_in_portugal())
        now = _now()
        with Session(self.engine) as session:
            reg = registration
            if self._find(session, reg.serie, reg.doc_class, reg.doc_type):
                raise AlreadyRegisteredError(
                    "A série já se encontra registada para este tipo de documento.", 4001)
            row = SandboxSeries(
                nif=self.nif, serie=registration.serie, serie_key=serie_key(registration.serie),
                series_type=registration.series_type, doc_class=registration.doc_class,
                doc_type=registration.doc_type, first_number=registration.first_number,
                start_date=registration.start_date,
                software_certificate=registration.software_certificate,
                processing=registration.processing, validation_code=new_code(),
                registered_on=today_in_portugal(), state="A", state_at=now)
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                # Another registration of the same series won the race (or, once in 17
                # billion, the code was drawn twice): AT would answer 4001 to the former.
                session.rollback()
                raise AlreadyRegisteredError(
                    "A série já se encontra registada para este tipo de documento.", 4001) from None
            return row.info()

    def query_series(self, serie=None, doc_class=None, doc_type=None):
        self._round_trip()
        query = select(SandboxSeries).where(SandboxSeries.nif == self.nif)
        if serie is not None:
            query = query.where(SandboxSeries.serie_key == serie_key(serie))
        if doc_class is not None:
            query = query.where(SandboxSeries.doc_class == doc_class)
        if doc_type is not None:
            query = query.where(SandboxSeries.doc_type == doc_type)
        with Session(self.engine) as session:
            return [row.info() for row in session.scalars(query.order_by(SandboxSeries.id))]

    def annul_series(self, serie, doc_class, doc_type, validation_code, reason="ER"):
        self._round_trip()
        if reason != "ER":
            raise OperationRefusedError("Motivo de anulação inválido.", 4051)
        with Session(self.engine) as session:
            row = self._find(session, serie, doc_class, doc_type)
            if row is None or row.validation_code != validation_code or row.state != "A":
                raise OperationRefusedError("Não é possível anular a série indicada.",
                                            4004)
            row.state, row.state_reason, row.state_at = "N", reason, _now()
            session.commit()
            return row.info()

    def finish_series(self, serie, doc_class, doc_type, validation_code, last_number,
                      justification=None):
        self._round_trip()
        with Session(self.engine) as session:
            row = self._find(session, serie, doc_class, doc_type)
            if row is None or row.validation_code != validation_code or row.state != "A":
                raise OperationRefusedError("Não é possível finalizar a série indicada.",
                                            4005)
            if last_number <= row.first_number:
                raise OperationRefusedError(
                    "O número do último documento emitido tem de ser superior ao número inicial.",
                    4047)
            row.state, row.last_number, row.state_at = "F", last_number, _now()
            row.justification = justification
            session.commit()
            return row.info()
