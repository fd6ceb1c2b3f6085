"""The interface every Tax Authority adapter implements, and the errors it raises.

The operations are AT's SeriesWS ones, one series of one document type at a time, so the
real SOAP client plugs in beside the sandbox without the registration module changing.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import date, datetime

# AT's result code of each operation's success.
SUCCESS_CODES = {"registarSerie": 2001, "consultarSeries": 2002, "anularSerie": 2003,
                 "finalizarSerie": 2004}


class ConfigurationError(ValueError):
    """Adapter settings invx cannot use; the message says which and why."""


@dataclass(frozen=True)
class SeriesRegistration:
    """What ``registarSerie`` sends: the fields of AT's schema, in its order."""

    serie: str
    series_type: str     # tipoSerie: N normal, F training, R recovery
    doc_class: str       # classeDoc
    doc_type: str        # tipoDoc
    first_number: int    # numInicialSeq
    start_date: date     # dataInicioPrevUtiliz
    software_certificate: int = 0  # numCertSWFatur, 0 when not applicable
    processing: str = "PI"         # meioProcessamento: PI certified invoicing program


@dataclass(frozen=True)
class SeriesInfo:
    """AT's ``infoSerie``: a series as AT holds it."""

    serie: str
    series_type: str
    doc_class: str
    doc_type: str
    first_number: int
    start_date: date
    validation_code: str
    registered_on: date
    state: str  # A active, N annulled, F finished
    state_at: datetime
    communicated_by: str
    software_certificate: int = 0
    processing: str = "PI"
    last_number: int | None = None
    final_number: int | None = None
    state_reason: str | None = None
    justification: str | None = None


@dataclass(frozen=True)
class Result:
    """AT's ``infoResultOper``."""

    code: int
    message: str


class TaxAuthorityError(Exception):
    """AT refused or could not answer. ``code`` is AT's result code when it gave one.

    ``outcome_unknown`` is true when the request may have been carried out all the same
    (a timeout after sending, a dropped connection, an unreadable answer): AT must be asked
    before the request is sent again.
    """

    def __init__(self, message, code=None, outcome_unknown=False):
        super().__init__(message)
        self.message = message
        self.code = code
        self.outcome_unknown = outcome_unknown


class AuthenticationError(TaxAuthorityError):
    """The credentials are missing or AT refuses them."""


class AlreadyRegisteredError(TaxAuthorityError):
    """4001: the series is already registered for this document type, in any state."""


class NoActivityError(TaxAuthorityError):
    """4043: the taxpayer's NIF has no open activity."""


class InvalidRequestError(TaxAuthorityError):
    """4000, 4002, 4003, 4045, 4046, 4049, ...: AT rejects the request's content."""


class OperationRefusedError(TaxAuthorityError):
    """4004, 4005, 4047, 4051: the series is not in a state that allows the operation."""


class UnavailableError(TaxAuthorityError):
    """5000, a fault, a timeout, a dropped connection, an answer that cannot be read."""


class TaxAuthority(ABC):
    """A Tax Authority that registers series of documents for one taxpayer (NIF)."""

    name = ""
    has_credentials = True  # False where no call can succeed (the ``none`` adapter)
    software_certificate = 0  # numCertSWFatur to declare
    series_type = "N"  # tipoSerie: N normal, F training, R recovery
    # The keys of stored_settings sealed with INVX_SECRET_KEY (``invx secrets rotate``).
    sealed_settings = ()

    @classmethod
    def stored_settings(cls, account, secret_key, **options):
        """The settings ``account`` keeps for this adapter, checked, its secrets sealed
        with ``secret_key``: None for an adapter that takes none. ``options`` are those of
        ``invx accounts set-tax-authority``; raises ConfigurationError."""
        if any(value is not None for value in options.values()):
            raise ConfigurationError("those settings are for --adapter at only")
        return None

    def close(self):  # noqa: B027 (optional hook: most adapters hold nothing)
        """Release what the adapter holds (connections)."""

    @abstractmethod
    def register_series(self, registration: SeriesRegistration) -> SeriesInfo:
        """``registarSerie``: register one series for one document type."""

    @abstractmethod
    def query_series(self, serie=None, doc_class=None, doc_type=None) -> list[SeriesInfo]:
        """``consultarSeries``: the series AT holds that match (empty list if none)."""

    @abstractmethod
    def annul_series(self, serie, doc_class, doc_type, validation_code, reason="ER") -> SeriesInfo:
        """``anularSerie``: annul a series communicated by mistake and never used."""

    @abstractmethod
    def finish_series(self, serie, doc_class, doc_type, validation_code, last_number,
                      justification=None) -> SeriesInfo:
        """``finalizarSerie``: close a series after its last document."""
