"""No Tax Authority: for accounts outside Portugal, which never talk to AT."""
from .base import AuthenticationError, TaxAuthority

_MESSAGE = "No Tax Authority credentials are configured for this account."


class NoTaxAuthority(TaxAuthority):
    """Refuses every operation: a Portuguese account on ``none`` has no AT credentials."""

    name = "none"
    has_credentials = False

    def __init__(self, account, settings):
        self.account = account

    def register_series(self, registration):
        raise AuthenticationError(_MESSAGE)

    def query_series(self, serie=None, doc_class=None, doc_type=None):
        raise AuthenticationError(_MESSAGE)

    def annul_series(self, serie, doc_class, doc_type, validation_code, reason="ER"):
        raise AuthenticationError(_MESSAGE)

    def finish_series(self, serie, doc_class, doc_type, validation_code, last_number,
                      justification=None):
        raise AuthenticationError(_MESSAGE)
