"""The 15 InvoiceXpress document types of a sequence, and what AT calls them.

Order is the order of the keys in the SEQUENCE object; ``offset`` gives each type's
sub-series id (``sequence id + offset``), as real InvoiceXpress data shows.
"""
from dataclasses import dataclass

ID_SPACING = 17  # offsets run 0..16, so consecutive sequence ids are 17 apart

# Every AT document class and the types that belong to it.
AT_CLASSES = {
    "SI": {"FT", "FS", "FR", "ND", "NC"},
    "MG": {"GR", "GT", "GA", "GC", "GD"},
    "WD": {"CM", "CC", "FC", "FO", "NE", "OU", "OR", "PF", "RP", "RE", "CS", "LD", "RA"},
    "PY": {"RC", "RG"},
}


def is_valid_class_and_type(doc_class, doc_type):
    return doc_type in AT_CLASSES.get(doc_class, ())


@dataclass(frozen=True)
class DocType:
    name: str
    offset: int
    at_class: str | None = None  # AT classeDoc; None when not communicated to AT
    at_type: str | None = None   # AT tipoDoc, also the printed document number's prefix

    @property
    def atcud_relevant(self):
        return self.at_class is not None


DOC_TYPES = (
    DocType("invoice", 0, "SI", "FT"),
    DocType("invoice_receipt", 2, "SI", "FR"),
    DocType("simplified_invoice", 1, "SI", "FS"),
    DocType("credit_note", 5, "SI", "NC"),
    DocType("debit_note", 4, "SI", "ND"),
    DocType("receipt", 3, "PY", "RG"),
    DocType("shipping", 14, "MG", "GR"),
    DocType("transport", 16, "MG", "GT"),
    DocType("devolution", 15, "MG", "GD"),
    DocType("proforma", 12, "WD", "PF"),
    DocType("quote", 11, "WD", "OR"),
    DocType("fees_note", 13),
    DocType("vat_moss_invoice", 7),
    DocType("vat_moss_credit_note", 8),
    DocType("vat_moss_receipt", 9),
)

BY_NAME = {doc_type.name: doc_type for doc_type in DOC_TYPES}
BY_OFFSET = {doc_type.offset: doc_type for doc_type in DOC_TYPES}
ATCUD_RELEVANT = tuple(doc_type for doc_type in DOC_TYPES if doc_type.atcud_relevant)


def series_format(serie, doc_type):
    """How an InvoiceXpress sub-series names itself and numbers its documents: the
    Portuguese document number ``"<AT type> <serie>/<n>"`` (``"<serie>/<n>"`` for the types
    AT does not know)."""
    code = f"{doc_type.at_type} {serie}" if doc_type.at_type else serie
    return {"name": f"{serie} {doc_type.name}", "code": code, "prefix": f"{code}/",
            "padding": 0, "suffix": "", "start": 1}
