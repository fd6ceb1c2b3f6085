"""The signature chain of Portuguese documents (Portaria 363/2010, art. 6): the ``Hash``.

Each document of a series is signed with the software producer's RSA key (PKCS#1 v1.5,
SHA-1) over ``InvoiceDate;SystemEntryDate;InvoiceNo;GrossTotal;<the previous document's
Hash>`` (empty for the first), and the base64 of the signature is its Hash. What is
printed is four characters of it and the software's certificate number.
See ../shared/spec/portugal-document-signature.md.
"""
import base64
import binascii
from datetime import date, datetime
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MIN_KEY_BITS = 1024
EXCERPT_POSITIONS = (1, 11, 21, 31)  # 1-based, as the law counts
CERTIFIED = "Processado por programa certificado n.º {number}/AT"


def invoice_no(doc_type_code, series_name, number):
    """``InvoiceNo``: the type's code, a space, the series, ``/``, the number:
    ``FT 2026/15``."""
    return f"{doc_type_code} {series_name}/{number}"


def amount(value):
    """An amount as the law writes it: two decimals and a point (``Decimal`` in)."""
    return f"{Decimal(value).quantize(Decimal('0.01')):f}"


def message(invoice_date, system_entry_date, number, gross_total, previous_hash):
    """The signed text. ``invoice_date`` a date, ``system_entry_date`` a naive datetime
    (Lisbon's wall clock, to the second), ``number`` the ``InvoiceNo``, ``gross_total`` a
    Decimal, ``previous_hash`` the Hash of the document before (None or "" for the
    first)."""
    return ";".join((_day(invoice_date), _moment(system_entry_date), number,
                     amount(gross_total), previous_hash or ""))


def sign(private_key, text):
    """The Hash of ``text``: RSA PKCS#1 v1.5 over SHA-1, base64 on one line."""
    signature = private_key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 (the law's algorithm)
    return base64.b64encode(signature).decode("ascii")


def verifies(public_key, text, document_hash):
    """Whether ``document_hash`` is the signature of ``text`` under ``public_key``."""
    try:
        signature = base64.b64decode(document_hash, validate=True)
        public_key.verify(signature, text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def excerpt(document_hash):
    """The four characters of the Hash that are printed (positions 1, 11, 21, 31)."""
    return "".join(document_hash[position - 1] for position in EXCERPT_POSITIONS)


def certification(document_hash, certificate_number):
    """``Ab3x-Processado por programa certificado n.º NNNN/AT``."""
    return f"{excerpt(document_hash)}-{CERTIFIED.format(number=certificate_number)}"


def check_private_key(key):
    """The reason ``key`` cannot sign documents, or None: an RSA key of 1024 bits or more."""
    if not isinstance(key, rsa.RSAPrivateKey):
        return "the document key must be an RSA private key"
    if key.key_size < MIN_KEY_BITS:
        return (f"the document key has {key.key_size} bits; the law's signatures need "
                f"{MIN_KEY_BITS} or more")
    return None


def _day(value):
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError("InvoiceDate is a date")
    return value.isoformat()


def _moment(value):
    if not isinstance(value, datetime) or value.tzinfo is not None:
        raise TypeError("SystemEntryDate is a naive datetime (Lisbon's wall clock)")
    return value.replace(microsecond=0).isoformat(timespec="seconds")
