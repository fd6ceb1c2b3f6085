"""An account's document key: the certified software producer's RSA key that signs its
Portuguese documents (the Hash chain, ``portugal.document_hash``), and AT's certificate
number of that software. Used by ``invx accounts set-document-key`` and ``document-key``,
and by the batches that sign (``sequence_service.pt_documents``).

Each new key is a new version, kept with every document it signs as its ``HashControl``;
the old versions stay, so that documents signed before still verify. The private key is
sealed with INVX_SECRET_KEY, like every other secret (``secret_box``).
"""
import re
import threading
from datetime import datetime
from typing import NamedTuple

from cryptography.hazmat.primitives import serialization
from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .portugal.document_hash import check_private_key
from .secret_box import SecretKeyMissing, seal, unseal

CERTIFICATE_NUMBER = re.compile(r"[0-9]{1,4}")


class DocumentKey(db.Model):
    """A version of an account's document key, its public half (PEM), and the software's
    certificate number. ``version`` is the documents' HashControl."""

    __tablename__ = "document_keys"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    private_key: Mapped[str] = mapped_column(Text)  # sealed PEM
    public_key: Mapped[str] = mapped_column(Text)
    certificate_number: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime]


class DocumentKeyError(ValueError):
    """A document key invx refuses; the message says why."""


class Signer(NamedTuple):
    """What signs an account's documents now."""

    version: int
    private_key: object
    certificate_number: str


def load_private_key(pem, password=None):
    """The RSA private key of ``pem`` (bytes), opened with ``password`` if it is
    encrypted; DocumentKeyError names what is wrong."""
    try:
        key = serialization.load_pem_private_key(pem, password=password)
    except TypeError:
        raise DocumentKeyError("the private key is encrypted: give its password") from None
    except ValueError:
        raise DocumentKeyError("not a PEM private key, or the password is wrong") from None
    problem = check_private_key(key)
    if problem:
        raise DocumentKeyError(problem)
    return key


def set_document_key(account, key, certificate_number, secret_keys, now):
    """Store ``key`` as the account's next version and make it the one that signs;
    returns its version. Commits."""
    certificate_number = str(certificate_number).strip()
    if not CERTIFICATE_NUMBER.fullmatch(certificate_number):
        raise DocumentKeyError("the certificate number is AT's number of the software: 1 to "
                               "4 digits")
    if not secret_keys.current:
        raise SecretKeyMissing("INVX_SECRET_KEY is not set: invx cannot store a document key")
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    version = (db.session.scalar(select(func.max(DocumentKey.version)).where(
        DocumentKey.account_id == account.id)) or 0) + 1
    db.session.add(DocumentKey(account_id=account.id, version=version,
                               private_key=seal(secret_keys, pem),
                               public_key=public_pem(key), certificate_number=certificate_number,
                               created_at=now))
    account.document_key_version = version
    db.session.commit()
    return version


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def versions(account_id):
    """{version: DocumentKey} of the account (public halves for verification)."""
    query = select(DocumentKey).where(DocumentKey.account_id == account_id)
    return {key.version: key for key in db.session.scalars(query)}


_signers = {}  # (account id, version) -> Signer: unsealed once per process
_signers_lock = threading.Lock()


def forget():
    """Drop the keys this process unsealed (the tests' accounts come and go)."""
    with _signers_lock:
        _signers.clear()


def signer(connection, account_id, version, secret_keys):
    """The Signer of the account's key ``version``, read on ``connection`` (a batch's) the
    first time this process needs it."""
    cached = _signers.get((account_id, version))
    if cached is not None:
        return cached
    row = connection.execute(
        select(DocumentKey.private_key, DocumentKey.certificate_number).where(
            DocumentKey.account_id == account_id, DocumentKey.version == version)).one()
    key = serialization.load_pem_private_key(unseal(secret_keys, row.private_key), None)
    made = Signer(version, key, row.certificate_number)
    with _signers_lock:
        _signers[account_id, version] = made
    return made
