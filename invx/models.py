"""Persistent state: accounts, InvoiceXpress sequences and their per-type series."""
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .portugal.document_types import BY_NAME, ID_SPACING
from .portugal.nif import PORTUGAL

# 64-bit keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigKey = BigInteger().with_variant(Integer, "sqlite")


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)


class Account(db.Model):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    country: Mapped[str] = mapped_column(String(2))
    fiscal_id: Mapped[str] = mapped_column(String(32))
    tax_authority: Mapped[str] = mapped_column(String(16), default="none")
    # The adapter's settings (endpoint, username, keys...); secrets in it are sealed.
    tax_authority_config: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # The API key's keyed digest (auth.py): the key itself is never stored.
    api_key_hash: Mapped[str] = mapped_column(String(80), unique=True)
    default_sequence_pk: Mapped[int | None] = mapped_column(
        BigKey, ForeignKey("sequences.pk", use_alter=True, ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    key_rotated_at: Mapped[datetime | None]
    # The version of its document key that signs now (document_keys); None: it signs none.
    document_key_version: Mapped[int | None]

    @property
    def is_portuguese(self):
        return self.country == PORTUGAL


class Sequence(db.Model):
    """An InvoiceXpress sequence: one series name, one sub-series per document type.

    Its public ``id`` is ``pk * 17`` so that every sub-series id (``id + offset``, offsets
    0 to 16) is unique across all sequences, as InvoiceXpress ids are.
    """

    __tablename__ = "sequences"
    __table_args__ = (UniqueConstraint("account_id", "serie_key"),)

    CREATING = "creating"  # POST in progress: not visible to clients yet
    READY = "ready"
    # Its registration failed and was undone, but AT keeps the annulled types and never
    # accepts the name again for them: not visible, kept so a new POST answers 002 from here.
    FAILED = "failed"

    pk: Mapped[int] = mapped_column(BigKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    serie: Mapped[str] = mapped_column(String(35))
    serie_key: Mapped[str] = mapped_column(String(35))
    state: Mapped[str] = mapped_column(String(16), default=CREATING)
    # The registration lease: while it runs, other registrations of this sequence get 409 006.
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_expires_at: Mapped[datetime | None]
    # Set when the series was finished or annulled at AT: no more documents on it.
    closed_as: Mapped[str | None] = mapped_column(String(16))
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    account: Mapped[Account] = relationship(foreign_keys=[account_id])
    series: Mapped[list["Series"]] = relationship(
        back_populates="sequence", cascade="all, delete-orphan", order_by="Series.number_id")

    @property
    def id(self):
        return self.pk * ID_SPACING

    @staticmethod
    def pk_for_id(public_id):
        """The primary key behind a public id, or None when no sequence can have it."""
        if public_id <= 0 or public_id % ID_SPACING or public_id > 2**62:
            return None
        return public_id // ID_SPACING

    @property
    def is_default(self):
        return self.account.default_sequence_pk == self.pk

    def series_for(self, doc_type):
        return next(s for s in self.series if s.doc_type == doc_type.name)


class Series(db.Model):
    """A numbering series (Sequence Service): either created by a client under its own UUID,
    or one document type's series within an InvoiceXpress sequence, with its AT registration.
    """

    __tablename__ = "series"
    # The primary key is (id, account): each account has its own space of series ids (what
    # entries refer to, so an entry's account is its series' account).
    __table_args__ = (PrimaryKeyConstraint("id", "account_id"),
                      UniqueConstraint("sequence_pk", "doc_type"),
                      # A page of an account's series, in (created_at, id) order: the ties of
                      # a creation time are sorted, as they come (an incremental sort). Not
                      # (account_id, created_at, id): with the id in it, PostgreSQL's plans
                      # for "this account's series of this id" (the foreign key's check at
                      # each entry written, made once per connection, often while the table
                      # is small) took it over the primary key, and read every series of
                      # the account to find one (session 12).
                      Index("ix_series_account_id_created_at", "account_id", "created_at"))

    NOT_APPLICABLE = "not_applicable"  # not communicated to AT: code shown as N/A
    UNREGISTERED = "unregistered"      # relevant but without a code: N/D
    REGISTERED = "registered"          # AT state A
    FINISHED = "finished"              # AT state F
    ANNULLED = "annulled"              # AT state N

    id: Mapped[str] = mapped_column(String(36))  # a UUID
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    # InvoiceXpress sub-series only: their sequence, document type and integer id (the
    # sequence id plus the type's offset).
    sequence_pk: Mapped[int | None] = mapped_column(
        ForeignKey("sequences.pk", ondelete="CASCADE"))
    doc_type: Mapped[str | None] = mapped_column(String(32))
    number_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # The counter: the last index handed out (start - 1 before the first entry).
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)
    last_entry_id: Mapped[str | None] = mapped_column(String(36))
    start: Mapped[int] = mapped_column(BigInteger, default=1)
    prefix: Mapped[str] = mapped_column(String(64), default="")
    padding: Mapped[int] = mapped_column(default=0)
    suffix: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(64))
    client_sig: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the create request, for idempotent PUTs (same body: same series).
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    at_status: Mapped[str] = mapped_column(String(16), default="not_applicable")
    validation_code: Mapped[str | None] = mapped_column(String(64))
    registered_at: Mapped[datetime | None]
    # The adapter that issued the code ("sandbox" codes are not real).
    registered_by: Mapped[str | None] = mapped_column(String(16))
    # Set before registarSerie is sent: if no code came back, AT may still have it, so the
    # next attempt asks AT (consultarSeries) before sending again.
    register_sent_at: Mapped[datetime | None]
    # Portuguese document signatures: a Sequence Service series' opt-in (an InvoiceXpress
    # sub-series of an ATCUD type signs once its account has a document key), and the Hash
    # and date of its last signed document, which the next one signs over.
    pt_signed: Mapped[bool] = mapped_column(default=False, server_default=false())
    last_pt_hash: Mapped[str | None] = mapped_column(Text)
    last_pt_invoice_date: Mapped[date | None]

    sequence: Mapped[Sequence] = relationship(back_populates="series")

    @property
    def offset(self):
        return BY_NAME[self.doc_type].offset

    @property
    def is_invoicexpress(self):
        return self.sequence_pk is not None

    @property
    def display_code(self):
        """The ``current_<type>_validation_code`` value: a code, ``N/D`` or ``N/A``."""
        if self.at_status == self.NOT_APPLICABLE:
            return "N/A"
        if self.at_status in (self.REGISTERED, self.FINISHED) and self.validation_code:
            return self.validation_code
        return "N/D"

    @property
    def needs_registration(self):
        return self.at_status == self.UNREGISTERED

    @property
    def sigs(self):
        """The client's signature of the series, if it sent one."""
        return [self.client_sig] if self.client_sig else []


class Entry(db.Model):
    """One number handed out in a series, under the client's UUID, chained and signed."""

    __tablename__ = "entries"
    # An id is used once in an account, so once in a series too: the foreign key to
    # (series, account) makes an entry's account its series' account, and the account is
    # the series' (so no foreign key of its own to accounts, which would cost a check per
    # row). The unique (id, account) leads with the id: a batch looks up its ids in the
    # account, and PostgreSQL can then only probe the index by id, never walk all of an
    # account's entries (migration 0005 says why).
    __table_args__ = (UniqueConstraint("series_id", "account_id", "number"),
                      UniqueConstraint("id", "account_id"),
                      ForeignKeyConstraint(["series_id", "account_id"],
                                           ["series.id", "series.account_id"],
                                           ondelete="CASCADE"))

    pk: Mapped[int] = mapped_column(BigKey, primary_key=True)
    id: Mapped[str] = mapped_column(String(36))  # the client's UUID
    series_id: Mapped[str] = mapped_column(String(36))
    account_id: Mapped[int] = mapped_column(BigKey)
    number: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(255))
    meta: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    previous_id: Mapped[str | None] = mapped_column(String(36))
    sig: Mapped[str] = mapped_column(Text)  # the server's JWS
    client_sig: Mapped[str | None] = mapped_column(Text)
    request_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A signed Portuguese document's fields, Hash and QR text (document_signatures).
    pt: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))

    @property
    def sigs(self):
        return [self.sig] + ([self.client_sig] if self.client_sig else [])


class VerificationCheckpoint(db.Model):
    """How far a series has been verified: every entry from its start through ``number``
    was checked in full (numbers, chain, code, signature), the last being ``entry_id``,
    whose server JWS hashes to ``sig_sha256``. ``mac`` (HMAC-SHA256 with a key derived
    from INVX_SECRET_KEY) makes a checkpoint changed in the database detectable."""

    __tablename__ = "verification_checkpoints"
    # A series is (id, account): what entries refer to (and, once series ids are per
    # account, the series' primary key).
    __table_args__ = (ForeignKeyConstraint(["series_id", "account_id"],
                                           ["series.id", "series.account_id"],
                                           ondelete="CASCADE"),)

    series_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    entry_id: Mapped[str] = mapped_column(String(36))
    sig_sha256: Mapped[str] = mapped_column(String(64))
    verified_at: Mapped[datetime]
    mac: Mapped[str] = mapped_column(String(64))


class SigningKey(db.Model):
    """A server key that signs entries (ES256). The newest is used; all stay published."""

    __tablename__ = "signing_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the JWS "kid"
    public_jwk: Mapped[dict] = mapped_column(JSON)
    private_key: Mapped[str] = mapped_column(Text)  # sealed PEM
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AtCall(db.Model):
    """The audit record of one call to a Tax Authority (never with credentials)."""

    __tablename__ = "at_calls"
    __table_args__ = (Index("ix_at_calls_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    adapter: Mapped[str] = mapped_column(String(16))
    operation: Mapped[str] = mapped_column(String(32))
    serie: Mapped[str | None] = mapped_column(String(35))
    doc_class: Mapped[str | None] = mapped_column(String(2))
    doc_type: Mapped[str | None] = mapped_column(String(2))
    # ok, refused, error; pending until the call returns (a dead worker's stays pending),
    # interrupted when the calling thread was stopped mid-call.
    outcome: Mapped[str] = mapped_column(String(16))
    result_code: Mapped[int | None]
    message: Mapped[str | None] = mapped_column(Text)
    validation_code: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[int]  # 0 while pending
    created_at: Mapped[datetime] = mapped_column(default=utcnow)




# Defined beside their feature, registered with the metadata here (migrations compare it).
from .document_keys import DocumentKey  # noqa: E402, F401
