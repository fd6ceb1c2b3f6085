"""Tax Authority adapters, looked up by name."""
from .base import TaxAuthority
from .none import NoTaxAuthority
from .sandbox import SandboxTaxAuthority

ADAPTERS = {adapter.name: adapter for adapter in (NoTaxAuthority, SandboxTaxAuthority)}


def adapter_names():
    return sorted(ADAPTERS)


def adapter_for(account, config=None) -> TaxAuthority:
    """The adapter configured for ``account``, built with the app's ``config``."""
    return ADAPTERS[account.tax_authority](account, config)
