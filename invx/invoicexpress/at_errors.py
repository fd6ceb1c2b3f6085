"""AT's outcomes as the InvoiceXpress error codes a client is told (004, 005, 002...)."""
from .. import errors
from ..tax_authority.base import (
    AlreadyRegisteredError,
    AuthenticationError,
    InvalidRequestError,
    NoActivityError,
    TaxAuthorityError,
)

_STRUCTURE_ERRORS = (4000, 4002, 4003)  # AT's "the request is malformed" codes


def client_error(error):
    """The InvoiceXpress error a failure to register with the Tax Authority is reported as;
    anything but a TaxAuthorityError (a bug, say) is the generic 000."""
    if not isinstance(error, TaxAuthorityError):
        return errors.UnknownError(f"registration failed: {error.__class__.__name__}")
    detail = f"AT {error.code}: {error.message}" if error.code is not None else error.message
    if isinstance(error, AuthenticationError):
        return errors.InvalidCredentials(detail)
    if isinstance(error, NoActivityError):
        return errors.NoOpenActivity(detail)
    if isinstance(error, AlreadyRegisteredError):
        return errors.AlreadyExists(detail)
    if isinstance(error, InvalidRequestError) and error.code in _STRUCTURE_ERRORS:
        return errors.InvalidSequence(detail)
    return errors.UnknownError(detail)
