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


def adapter_for(account, settings) -> TaxAuthority:
    """The adapter configured for ``account``, built with the app's ``settings``; its every
    call is recorded in the audit log, and made only outside a database transaction."""
    inner = ADAPTERS[account.tax_authority](account, settings)
    return AuditedTaxAuthority(inner, account.id, db.engine, settings.at_transaction_guard)
