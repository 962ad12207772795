"""Certificates and keys the world generates at start: a CA, a TLS server certificate for loopback,
and the RSA key that signs the world's JWTs (published as JWKS by the token service)."""
import base64
import datetime
import hashlib
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Debian's bundle; certifi's is the fallback so the world also starts on other systems.
SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _write(path, data, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class Pki:
    """Writes ca.pem, server.pem, server-key.pem and ca-bundle.pem into state_dir."""

    def __init__(self, state_dir):
        now = datetime.datetime.now(datetime.timezone.utc)
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
        # EC keys: generating RSA keys would cost ~100 ms each at every world start.
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sqlvm.backup test world CA")])
        ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(server_key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_path = os.path.join(state_dir, "ca.pem")
        self.cert_path = os.path.join(state_dir, "server.pem")
        self.key_path = os.path.join(state_dir, "server-key.pem")
        self.bundle_path = os.path.join(state_dir, "ca-bundle.pem")
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
        _write(self.ca_path, ca_pem, 0o644)
        _write(self.cert_path, server_cert.public_bytes(serialization.Encoding.PEM), 0o644)
        _write(self.key_path, server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        _write(self.bundle_path, _system_bundle() + b"\n" + ca_pem, 0o644)
        self.ca_pem = ca_pem

        # The token-signing key: RS256 as Entra uses.
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = self.signing_key.public_key()
        numbers = public.public_numbers()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha1(der).digest())
        self.jwks = {"keys": [{
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes(3, "big")),
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
        }]}


def _system_bundle():
    for path in SYSTEM_BUNDLES:
        if os.path.exists(path):
            with open(path, "rb") as handle:
                return handle.read()
    try:
        import certifi
        with open(certifi.where(), "rb") as handle:
            return handle.read()
    except ImportError:
        return b""
