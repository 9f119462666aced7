"""The city's document-signing keys (SPEC §7 ``signing_key_rotate``, §8 ``GET /verify/keys``).

Key material. The city receives each issuing key as a 職責証明書 for 佐賀市長 from LGPKI and installs it
as one folder under ``settings.KONBINI_SIGNING_DIR`` (any folder name, e.g. ``2026-12``):
``issuing-key.pem`` (PKCS#8, ECDSA P-256, mode 0600), ``issuing-cert.pem`` and ``chain.pem`` (the CA
certificates from the issuer up to the root, PEM, concatenated). A key is named by its key id, the
first 16 hex digits of the SHA-256 of its public key (SubjectPublicKeyInfo), in groups of four: it
is printed in every 2D code and cannot disagree with the key.

Key state. The published keys and their states are rows of ``SigningKey`` (city data): exactly one
``active`` key signs; ``retired`` keys only verify the documents they signed while they were active;
a ``compromised`` key's documents no longer verify. ``signing_key_rotate`` moves the states; every
issuance reads which key is active (one indexed row), so a rotation takes effect at once in every
process. In production nothing is ever generated here: a missing key stops issuance and fails
``check --deploy``. In development the first key of an empty database is the newest installed one,
and when none is installed the simulators' test chain makes one (``test_key_wanted``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

JST = timezone(timedelta(hours=9), "JST")
KEY_FILE = "issuing-key.pem"
CERT_FILE = "issuing-cert.pem"
CHAIN_FILE = "chain.pem"
KEY_ID_HEX_DIGITS = 16
_P256_BYTES = 32
# A key retired at T may still sign a document whose issuance began just before T (the issuance read
# the active key first), and the servers' clocks differ by a little: a PDF's signing time up to this
# much after the key's retirement is still its own. A forgery dated later is refused.
SIGNING_TIME_TOLERANCE = timedelta(minutes=5)

ACTIVE, RETIRED, COMPROMISED = "active", "retired", "compromised"


class NoActiveSigningKey(ImproperlyConfigured):
    """No key may sign now (none installed, or the active one was revoked): issuance stops."""


def key_id_for(certificate: x509.Certificate) -> str:
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.sha256(spki).hexdigest()[:KEY_ID_HEX_DIGITS]
    # In groups of four ("3f2a-91c0-…"): easy to read out over the telephone, and never a run of
    # twelve digits, which the audit log refuses as a possible My Number.
    return "-".join(digest[i : i + 4] for i in range(0, KEY_ID_HEX_DIGITS, 4))


def _pem_chain(pem: bytes) -> tuple[x509.Certificate, ...]:
    return tuple(x509.load_pem_x509_certificates(pem)) if pem.strip() else ()


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    public_key = issuer.public_key()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            assert certificate.signature_hash_algorithm is not None
            public_key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                ec.ECDSA(certificate.signature_hash_algorithm),
            )
        elif isinstance(public_key, rsa.RSAPublicKey):
            assert certificate.signature_hash_algorithm is not None
            public_key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                padding.PKCS1v15(),
                certificate.signature_hash_algorithm,
            )
        else:
            return False
    except InvalidSignature:
        return False
    return True


def chain_problem(certificate: x509.Certificate, chain: tuple[x509.Certificate, ...]) -> str:
    """ "" when ``chain`` leads from ``certificate`` to a self-signed root, link by link; else why not."""
    if not chain:
        return "chain.pem holds no CA certificate"
    current = certificate
    for issuer in chain:
        if not _issued_by(current, issuer):
            return f"{current.subject.rfc4514_string()} is not signed by the next certificate of chain.pem"
        current = issuer
    if not _issued_by(current, current):
        return "the last certificate of chain.pem is not a self-signed root"
    return ""


@dataclass(frozen=True)
class IssuingKey:
    """An installed issuing key, its certificate and chain (loaded once per process and folder)."""

    key_id: str
    private_key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuer first, root last
    # A MAC key for the short check codes, derived from the signing key with its own label, so
    # that the codes do not depend on SECRET_KEY and need no further secret to manage.
    check_code_key: bytes

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


@lru_cache(maxsize=16)
def issuing_key_load(folder: str) -> IssuingKey:
    """The key installed in ``folder``, checked: P-256, the certificate is its own, the chain holds."""
    path = Path(folder)
    try:
        private_key = serialization.load_pem_private_key((path / KEY_FILE).read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate((path / CERT_FILE).read_bytes())
        chain = _pem_chain((path / CHAIN_FILE).read_bytes())
    except (OSError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"an issuing key must be readable PEM files {KEY_FILE}, {CERT_FILE}, {CHAIN_FILE} in {path}"
        ) from exc
    if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
        raise ImproperlyConfigured(f"the issuing key in {path} must be an ECDSA P-256 key")
    if certificate.public_key() != private_key.public_key():
        raise ImproperlyConfigured(f"{CERT_FILE} in {path} does not belong to its {KEY_FILE}")
    problem = chain_problem(certificate, chain)
    if problem:
        raise ImproperlyConfigured(f"{CHAIN_FILE} in {path}: {problem}")
    scalar = private_key.private_numbers().private_value.to_bytes(_P256_BYTES, "big")
    check_code_key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"saga-konbini/check-code/v1"
    ).derive(scalar)
    return IssuingKey(
        key_id=key_id_for(certificate),
        private_key=private_key,
        certificate=certificate,
        chain=chain,
        check_code_key=check_code_key,
    )


def installed_keys(directory: Path) -> dict[str, Path]:
    """Key id → folder of every key installed in ``directory`` (its certificate read, not its key)."""
    try:
        entries = tuple(
            sorted(
                (entry.name, (Path(entry.path) / CERT_FILE).stat().st_mtime_ns)
                for entry in os.scandir(directory)
                if entry.is_dir() and (Path(entry.path) / CERT_FILE).is_file()
            )
        )
    except OSError:
        return {}
    return dict(_installed_keys_read(str(directory), entries))


@lru_cache(maxsize=8)
def _installed_keys_read(
    directory: str, entries: tuple[tuple[str, int], ...]
) -> tuple[tuple[str, Path], ...]:
    # The folder names and certificate times are the cache key: a key installed (a new folder) is
    # seen at the next issuance without a restart, and certificates are parsed only then.
    found = []
    for name, _ in entries:
        folder = Path(directory) / name
        try:
            certificate = x509.load_pem_x509_certificate((folder / CERT_FILE).read_bytes())
        except (OSError, ValueError):
            continue  # check --deploy names it (certificates/checks.py)
        found.append((key_id_for(certificate), folder))
    return tuple(found)


def active_issuing_key() -> IssuingKey:
    """The key that signs now: the active row's key, loaded from its installed folder."""
    from certificates.models import SigningKey

    # One read of every key's state (a handful of rows over the years): whether none is active
    # because none was ever published or because the active one was revoked is one snapshot.
    states = dict(SigningKey.objects.values_list("key_id", "status"))
    key_id = next((kid for kid, status in states.items() if status == ACTIVE), None)
    directory = Path(settings.KONBINI_SIGNING_DIR)
    if key_id is None:
        if settings.PRODUCTION or states:
            raise NoActiveSigningKey(
                "no issuing key is active: install the city's key under KONBINI_SIGNING_DIR and run "
                "manage.py signing_key_rotate"
            )
        key_id = _development_first_key(directory)
    folder = installed_keys(directory).get(key_id)
    if folder is None:
        raise ImproperlyConfigured(f"the active issuing key {key_id} is not installed in {directory}")
    return issuing_key_load(str(folder))


def _development_first_key(directory: Path) -> str:
    """Development only: publish the newest installed key, creating a test chain if none is installed."""
    from django.db import IntegrityError, transaction

    from certificates.models import SigningKey

    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a", encoding="ascii") as lock:
        # Two processes starting together must not install two first keys.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed_keys(directory):
            test_key_create(directory, rotation=False)
    key = _newest(directory)
    try:
        with transaction.atomic():
            SigningKey.objects.create(
                key_id=key.key_id,
                certificate_pem=key.certificate_pem.decode("ascii"),
                chain_pem=key.chain_pem.decode("ascii"),
                status=ACTIVE,
                # The first key of a development database has no predecessor: it vouches for every
                # date its certificate covers (tests issue with dates in the past).
                activated_at=key.certificate.not_valid_before_utc,
            )
    except IntegrityError:
        pass  # another process published it first: the active row decides
    active = SigningKey.objects.filter(status=ACTIVE).values_list("key_id", flat=True).first()
    return active or key.key_id


# Sent with ``directory`` (a Path) and ``rotation`` (bool) when development needs a key and none is
# installed. A development app (the simulators: their test LGPKI chain) answers by installing a test
# key there and returning its folder. Production installs no such app, so nothing is ever generated.
test_key_wanted = Signal()


def test_key_create(directory: Path, *, rotation: bool) -> Path:
    """Development only: a test key installed under ``directory`` by whichever app answers."""
    if not settings.PRODUCTION:
        for _receiver, folder in test_key_wanted.send(sender=None, directory=directory, rotation=rotation):
            if folder is not None:
                return Path(folder)
    raise NoActiveSigningKey(
        f"no document-signing key is installed in {settings.KONBINI_SIGNING_DIR}: install the city's "
        "key and run manage.py signing_key_rotate"
    )


def _newest(directory: Path) -> IssuingKey:
    keys = [issuing_key_load(str(folder)) for folder in installed_keys(directory).values()]
    return max(keys, key=lambda k: (k.certificate.not_valid_before_utc, k.key_id))


# --- published keys: what verification trusts --------------------------------------------------


@dataclass(frozen=True)
class PublishedKey:
    """A key as ``GET /verify/keys`` publishes it (SPEC §8).

    ``not_before`` / ``not_after`` are the period in which the key signed documents: from its
    activation to its retirement (while active: until its certificate expires). A document is the
    key's only if it was issued within that period.
    """

    key_id: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    status: str
    not_before: datetime
    not_after: datetime
    compromised_at: datetime | None = None

    @property
    def root(self) -> x509.Certificate:
        return self.chain[-1] if self.chain else self.certificate

    @classmethod
    def from_row(cls, row: Any) -> PublishedKey:
        certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))
        end = row.retired_at or row.compromised_at or certificate.not_valid_after_utc
        return cls(
            key_id=row.key_id,
            certificate=certificate,
            chain=_pem_chain(row.chain_pem.encode("ascii")),
            status=row.status,
            not_before=row.activated_at,
            not_after=end,
            compromised_at=row.compromised_at,
        )

    def as_json(self) -> dict[str, Any]:
        pem = serialization.Encoding.PEM
        return {
            "key_id": self.key_id,
            "certificate": self.certificate.public_bytes(pem).decode("ascii"),
            "chain": [c.public_bytes(pem).decode("ascii") for c in self.chain],
            "status": self.status,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> PublishedKey:
        """One entry of a saved ``/verify/keys`` answer; raises ValueError when malformed."""
        try:
            certificate = x509.load_pem_x509_certificate(str(item["certificate"]).encode("ascii"))
            chain = tuple(x509.load_pem_x509_certificate(str(p).encode("ascii")) for p in item["chain"])
            status = str(item["status"])
            not_before = datetime.fromisoformat(str(item["not_before"]))
            not_after = datetime.fromisoformat(str(item["not_after"]))
        except (KeyError, TypeError) as exc:
            raise ValueError("not a /verify/keys entry") from exc
        if status not in (ACTIVE, RETIRED, COMPROMISED) or key_id_for(certificate) != item.get("key_id"):
            raise ValueError("not a /verify/keys entry")
        return cls(
            key_id=key_id_for(certificate), certificate=certificate, chain=chain, status=status,
            not_before=not_before, not_after=not_after,
        )  # fmt: skip

    def refusal(self, *, issued_on: date | None = None, signed_at: datetime | None = None) -> str:
        """ "" when a document of ``issued_on`` (its printed issue date) signed at ``signed_at`` is this
        key's; otherwise why not, in Japanese, with what to do."""
        if self.status == COMPROMISED:
            when = _jst_date(self.compromised_at or self.not_after)
            return (
                f"この証明書に署名した佐賀市の発行用鍵(鍵ID {self.key_id})は、{when}に漏えいのおそれにより"
                "失効しました。この鍵の署名では本物と偽造を見分けられないため、証明書は無効です。"
                "お手数ですが証明書を取り直してください(提出先の方は、新しい証明書の提出を求めてください)。"
            )
        first, last = _jst_date(self.not_before), _jst_date(self.not_after)
        earliest, latest = self.not_before - SIGNING_TIME_TOLERANCE, self.not_after + SIGNING_TIME_TOLERANCE
        outside = (issued_on is not None and not first <= issued_on <= last) or (
            signed_at is not None and not earliest <= signed_at <= latest
        )
        if outside:
            return (
                f"署名した佐賀市の発行用鍵(鍵ID {self.key_id})の使用期間({first}〜{last})の外に"
                "交付・署名されています。使用を終えた鍵による偽造のおそれがあるため、証明書は無効です。"
            )
        return ""


def _jst_date(moment: datetime) -> date:
    return moment.astimezone(JST).date()


def published_keys() -> dict[str, PublishedKey]:
    """Every published key by key id, oldest first (one query)."""
    from certificates.models import SigningKey

    rows = SigningKey.objects.order_by("activated_at", "pk")
    return {row.key_id: PublishedKey.from_row(row) for row in rows}
