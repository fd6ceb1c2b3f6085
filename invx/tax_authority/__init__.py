"""Tax Authority adapters, looked up by name."""
from ..extensions import db
from .at_soap import AtSeriesService
from .audit import AuditedTaxAuthority
from .base import TaxAuthority
from .none import NoTaxAuthority
from .sandbox import SandboxTaxAuthority

ADAPTERS = {adapter.name: adapter
            for adapter in (NoTaxAuthority, SandboxTaxAuthority, AtSeriesService)}


def adapter_names():
    return sorted(ADAPTERS)


def adapter_for(account, config=None) -> TaxAuthority:
    """The adapter configured for ``account``, built with the app's ``config``; its every
    call is recorded in the audit log."""
    inner = ADAPTERS[account.tax_authority](account, config)
    return AuditedTaxAuthority(inner, account.id, db.engine)
