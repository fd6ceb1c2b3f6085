"""Pure unit tests of the Portuguese rules, the document-type table and the country codes."""
import pytest

from invx import countries
from invx.portugal import atcud, document_types
from invx.portugal.document_types import is_valid_class_and_type
from invx.portugal.nif import is_valid_nif
from invx.portugal.series_names import is_valid_serie, serie_key

# --- series identifiers ---------------------------------------------------------------

VALID_SERIES = [
    pytest.param("2023", id="year"),
    pytest.param("A", id="one-letter"),
    pytest.param("7", id="one-digit"),
    pytest.param("FT-2023", id="dash"),
    pytest.param("a.b_c-d", id="all-separators"),
    pytest.param("A" * 35, id="35-chars"),
    pytest.param("Ab12.x" + "y" * 29, id="35-chars-mixed"),
    pytest.param("aBc", id="mixed-case"),
]

INVALID_SERIES = [
    pytest.param("", id="empty"),
    pytest.param("A" * 36, id="36-chars"),
    pytest.param("a b", id="space"),
    pytest.param(" A", id="leading-space"),
    pytest.param("A ", id="trailing-space"),
    pytest.param("2023/1", id="slash"),
    pytest.param("Série", id="accented"),
    pytest.param("ÇA", id="cedilla"),
    pytest.param("\uff12\uff10\uff12\uff13", id="fullwidth-digits"),
    pytest.param("-a", id="leading-dash"),
    pytest.param(".a", id="leading-dot"),
    pytest.param("_a", id="leading-underscore"),
    pytest.param("a-", id="trailing-dash"),
    pytest.param("a.", id="trailing-dot"),
    pytest.param("a_", id="trailing-underscore"),
    pytest.param("a--b", id="double-dash"),
    pytest.param("a._b", id="dot-underscore"),
    pytest.param("-", id="only-separator"),
    pytest.param("a+b", id="plus"),
    pytest.param("a\tb", id="tab"),
    pytest.param("A\n", id="trailing-newline"),
    pytest.param("A" * 35 + "\n", id="35-chars-trailing-newline"),
    pytest.param(None, id="none"),
    pytest.param(2023, id="int"),
    pytest.param(b"2023", id="bytes"),
]


@pytest.mark.parametrize("name", VALID_SERIES)
def test_valid_serie(name):
    assert is_valid_serie(name) is True


@pytest.mark.parametrize("name", INVALID_SERIES)
def test_invalid_serie(name):
    assert is_valid_serie(name) is False


def test_serie_length_boundary():
    assert len("A" * 35) == 35
    assert is_valid_serie("A" * 35)
    assert not is_valid_serie("A" * 36)


@pytest.mark.parametrize(("left", "right"), [
    ("AB", "ab"), ("AB", "Ab"), ("AB", "aB"), ("ft-2023", "FT-2023"), ("x.Y_z", "X.y_Z"),
], ids=["upper-lower", "upper-title", "upper-camel", "dashed", "separators"])
def test_serie_key_ignores_case(left, right):
    assert serie_key(left) == serie_key(right)


def test_serie_key_keeps_distinct_names_distinct():
    assert serie_key("AB") != serie_key("ABC")
    assert serie_key("a-b") != serie_key("a_b")


# --- NIF ------------------------------------------------------------------------------

# Checked by hand, weights 9..2 over the first 8 digits:
# 123456789: 9+16+21+24+25+24+21+16 = 156, 156 % 11 = 2, check 11-2 = 9.
# 555555550: 5*44 = 220, 220 % 11 = 0, check 0.
# 500000000: 45, 45 % 11 = 1, check 0 (remainder < 2).
# 999999990: 9*44 = 396, 396 % 11 = 0, check 0.
# 100000010: 1*9 + 1*2 = 11, 11 % 11 = 0, check 0.
@pytest.mark.parametrize("nif", ["123456789", "555555550", "500000000", "999999990",
                                 "100000010"])
def test_valid_nif(nif):
    assert is_valid_nif(nif) is True


@pytest.mark.parametrize("nif", [
    pytest.param("123456780", id="wrong-check-0"),
    pytest.param("123456788", id="wrong-check-8"),
    pytest.param("555555551", id="wrong-check-1"),
    pytest.param("500000001", id="remainder-1-needs-0"),
    pytest.param("12345678", id="8-digits"),
    pytest.param("1234567890", id="10-digits"),
    pytest.param("", id="empty"),
    pytest.param("12345678A", id="letter"),
    pytest.param("ABCDEFGHI", id="letters"),
    pytest.param(" 123456789", id="leading-space"),
    pytest.param("123456789\n", id="trailing-newline"),
    pytest.param("١٢٣٤٥٦٧٨٩", id="arabic-indic-digits"),
    pytest.param(None, id="none"),
    pytest.param(123456789, id="int"),
])
def test_invalid_nif(nif):
    assert is_valid_nif(nif) is False


def test_every_check_digit_but_one_is_refused():
    valid = [d for d in "0123456789" if is_valid_nif("12345678" + d)]
    assert valid == ["9"]


# --- AT document classes and types ----------------------------------------------------

SPEC_CLASSES = {
    "SI": ["FT", "FS", "FR", "ND", "NC"],
    "MG": ["GR", "GT", "GA", "GC", "GD"],
    "WD": ["CM", "CC", "FC", "FO", "NE", "OU", "OR", "PF", "RP", "RE", "CS", "LD", "RA"],
    "PY": ["RC", "RG"],
}
SPEC_PAIRS = [(c, t) for c, types in SPEC_CLASSES.items() for t in types]


@pytest.mark.parametrize(("doc_class", "doc_type"), SPEC_PAIRS,
                         ids=[f"{c}-{t}" for c, t in SPEC_PAIRS])
def test_valid_class_and_type(doc_class, doc_type):
    assert is_valid_class_and_type(doc_class, doc_type) is True


@pytest.mark.parametrize(("doc_class", "doc_type"), [
    ("SI", "GR"), ("XX", "FT"), ("MG", "FT"), ("PY", "FT"), ("WD", "RG"), ("SI", "RC"),
    ("si", "FT"), ("SI", "ft"), ("", ""), ("SI", ""), (None, "FT"), ("SI", None),
], ids=["SI-GR", "XX-FT", "MG-FT", "PY-FT", "WD-RG", "SI-RC", "lower-class", "lower-type",
        "empty", "empty-type", "none-class", "none-type"])
def test_invalid_class_and_type(doc_class, doc_type):
    assert is_valid_class_and_type(doc_class, doc_type) is False


def test_at_classes_match_the_spec_exactly():
    assert {c: set(t) for c, t in SPEC_CLASSES.items()} == document_types.AT_CLASSES


def test_validation_code_alphabet_has_no_vowels_nor_0_or_1():
    alphabet = atcud.VALIDATION_CODE_ALPHABET
    assert len(set(alphabet)) == len(alphabet)
    assert not set(alphabet) & set("AEIOUaeiou01")
    assert set(alphabet) == set("BCDFGHJKLMNPQRSTVWXYZ23456789")


# --- document types -------------------------------------------------------------------

# (name, offset, ATCUD relevant), in the order of invoicexpress-sequences.md.
SPEC_DOC_TYPES = [
    ("invoice", 0, True),
    ("invoice_receipt", 2, True),
    ("simplified_invoice", 1, True),
    ("credit_note", 5, True),
    ("debit_note", 4, True),
    ("receipt", 3, True),
    ("shipping", 14, True),
    ("transport", 16, True),
    ("devolution", 15, True),
    ("proforma", 12, True),
    ("quote", 11, True),
    ("fees_note", 13, False),
    ("vat_moss_invoice", 7, False),
    ("vat_moss_credit_note", 8, False),
    ("vat_moss_receipt", 9, False),
]

# InvoiceXpress name -> (AT class, AT type), from portugal-fiscal-rules.md.
SPEC_AT_MAPPING = {
    "invoice": ("SI", "FT"),
    "invoice_receipt": ("SI", "FR"),
    "simplified_invoice": ("SI", "FS"),
    "credit_note": ("SI", "NC"),
    "debit_note": ("SI", "ND"),
    "receipt": ("PY", "RG"),
    "shipping": ("MG", "GR"),
    "transport": ("MG", "GT"),
    "devolution": ("MG", "GD"),
    "proforma": ("WD", "PF"),
    "quote": ("WD", "OR"),
}


def test_there_are_exactly_15_doc_types():
    assert len(document_types.DOC_TYPES) == 15


def test_doc_types_names_offsets_and_order_match_the_spec():
    actual = [(t.name, t.offset, t.atcud_relevant) for t in document_types.DOC_TYPES]
    assert actual == SPEC_DOC_TYPES


def test_offsets_are_unique_within_0_to_16_and_skip_6_and_10():
    offsets = [t.offset for t in document_types.DOC_TYPES]
    assert len(set(offsets)) == len(offsets)
    assert all(0 <= o <= 16 for o in offsets)
    assert set(range(17)) - set(offsets) == {6, 10}
    assert document_types.ID_SPACING == 17


def test_lookup_tables():
    assert set(document_types.BY_NAME) == {name for name, _, _ in SPEC_DOC_TYPES}
    assert {o: t.name for o, t in document_types.BY_OFFSET.items()} == {
        offset: name for name, offset, _ in SPEC_DOC_TYPES}


def test_eleven_atcud_relevant_types():
    relevant = [t.name for t in document_types.ATCUD_RELEVANT]
    assert relevant == [name for name, _, rel in SPEC_DOC_TYPES if rel]
    assert len(relevant) == 11


@pytest.mark.parametrize("name", list(SPEC_AT_MAPPING))
def test_relevant_type_maps_to_at_class_and_type(name):
    doc_type = document_types.BY_NAME[name]
    assert (doc_type.at_class, doc_type.at_type) == SPEC_AT_MAPPING[name]
    assert doc_type.atcud_relevant
    assert is_valid_class_and_type(doc_type.at_class, doc_type.at_type)


@pytest.mark.parametrize("name", ["fees_note", "vat_moss_invoice", "vat_moss_credit_note",
                                  "vat_moss_receipt"])
def test_irrelevant_type_is_not_communicated(name):
    doc_type = document_types.BY_NAME[name]
    assert doc_type.at_class is None
    assert doc_type.at_type is None
    assert not doc_type.atcud_relevant


# --- countries ------------------------------------------------------------------------

def test_exactly_249_country_codes():
    assert len(countries.COUNTRY_CODES) == 249
    assert all(len(c) == 2 and c.isascii() and c.isupper() for c in countries.COUNTRY_CODES)


@pytest.mark.parametrize("code", ["PT", "ES", "GB", "US", "AX", "ZW"])
def test_known_country_codes(code):
    assert countries.is_country_code(code) is True


@pytest.mark.parametrize("code", ["UK", "EU", "pt", "Pt", "", "PRT", "XK", None])
def test_unknown_country_codes(code):
    assert countries.is_country_code(code) is False
