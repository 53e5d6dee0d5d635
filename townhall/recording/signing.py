"""The deployment's signing identity: an ECDSA P-256 key with its X.509 certificate chain.

Sans-IO: builds, parses and uses keys and certificates given as PEM bytes; never reads or
writes files (`townhall/recording/identity_files.py` does that). Why P-256: C2PA's ES256,
WebCrypto in every browser and `openssl` all speak it (Ed25519 is missing from Safari's
WebCrypto and from older C2PA validators). Signatures are IEEE P1363 (r || s, 64 bytes),
base64url without padding: what WebCrypto's `verify` takes, unlike OpenSSL's DER.

The self-made chain is a small CA (pathlen 0) and a leaf with digitalSignature key usage, the
emailProtection EKU and both key identifiers: the shape the C2PA SDK accepts as a signer
(it refuses a leaf without SubjectKeyIdentifier/AuthorityKeyIdentifier). An operator with a
certificate from a C2PA-trusted CA passes its key and chain instead.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ALGORITHM = "ECDSA-P256-SHA256"  # the name published with the key (JOSE: ES256)
COORD = 32  # bytes of one P-256 coordinate / signature half


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise ValueError("not base64url") from None


def spki(public: ec.EllipticCurvePublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(public: ec.EllipticCurvePublicKey) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo, hex: what `openssl pkey -pubin -outform DER
    | sha256sum` prints, and what the browser computes from the published SPKI."""
    return hashlib.sha256(spki(public)).hexdigest()


def public_key_from_spki(data: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("the key is not an ECDSA P-256 public key")
    return key


def verify(public: ec.EllipticCurvePublicKey, payload: bytes, signature: str) -> bool:
    """True when `signature` (P1363, base64url) signs `payload` with `public`."""
    try:
        raw = unb64url(signature)
    except ValueError:
        return False
    if len(raw) != 2 * COORD:
        return False
    der = encode_dss_signature(int.from_bytes(raw[:COORD], "big"),
                               int.from_bytes(raw[COORD:], "big"))
    try:
        public.verify(der, payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True)
class SigningIdentity:
    key: ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...]  # leaf first

    @classmethod
    def from_pem(cls, key_pem: bytes, chain_pem: bytes) -> SigningIdentity:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError("the signing key must be an ECDSA P-256 private key (PEM)")
        chain = tuple(x509.load_pem_x509_certificates(chain_pem))
        if not chain:
            raise ValueError("the certificate chain has no certificate")
        if spki(chain[0].public_key()) != spki(key.public_key()):  # type: ignore[arg-type]
            raise ValueError("the first certificate of the chain is not the signing key's")
        return cls(key, chain)

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.key.public_key()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, payload: bytes) -> str:
        r, s = decode_dss_signature(self.key.sign(payload, ec.ECDSA(hashes.SHA256())))
        return b64url(r.to_bytes(COORD, "big") + s.to_bytes(COORD, "big"))

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def public_document(self, url: str) -> dict[str, object]:
        """The published key: /.well-known/townhall-signing.json."""
        pub = self.public.public_numbers()
        return {
            "algorithm": ALGORITHM,
            "fingerprint": self.fingerprint,
            "spki": b64url(spki(self.public)),
            "jwk": {"kty": "EC", "crv": "P-256", "x": b64url(pub.x.to_bytes(COORD, "big")),
                    "y": b64url(pub.y.to_bytes(COORD, "big"))},
            "certificate_chain": self.chain_pem().decode(),
            "url": url,
        }


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "townhall"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def create_identity(name: str, now: dt.datetime, years: int = 10) -> SigningIdentity:
    """A new key and a self-made CA + leaf chain for it (`now` is timezone-aware)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=365 * years)
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(_name(f"{name} root"))
          .issuer_name(_name(f"{name} root")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start)
          .not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                       False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                         False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return SigningIdentity(leaf_key, (leaf, ca))
