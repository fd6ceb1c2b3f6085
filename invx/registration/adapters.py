"""The Tax Authority adapter an account's registrations and closings go through."""
import logging

from ..tax_authority import adapter_for
from ..tax_authority.base import AuthenticationError, TaxAuthorityError

log = logging.getLogger(__name__)


def open_adapter(account, settings):
    """The account's adapter, or None for an account outside Portugal (it registers
    nothing). Raises a TaxAuthorityError when no call can succeed: settings that cannot be
    used (no call was made), or no credentials at all (AuthenticationError)."""
    if not account.is_portuguese:
        return None
    try:
        adapter = adapter_for(account, settings)
    except TaxAuthorityError as error:
        log.error("the Tax Authority settings of %s cannot be used: %s", account.name,
                  error.message)
        raise
    if not adapter.has_credentials:
        raise AuthenticationError(f"account {account.name} has no Tax Authority configured")
    return adapter
