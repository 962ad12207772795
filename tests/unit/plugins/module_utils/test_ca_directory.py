"""The CA bundle as an OpenSSL hashed directory: the same hashes as OpenSSL, private files, and a
transport that falls back to the bundle file when the directory does not verify a server."""
import datetime
import os
import shutil
import ssl
import stat
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import certifi
import pytest
from azure.core.exceptions import ServiceRequestError
from azure.core.rest import HttpRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import ca_directory

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import transport as tr


def _name(*parts):
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _certificate(subject, issuer, key, issuer_key, ca, san=None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA (with an odd-cased, spaced name, to exercise canonicalisation) and a localhost server cert."""
    base = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name((NameOID.COUNTRY_NAME, "US"), (NameOID.ORGANIZATION_NAME, "  Contoso   Test  CA "),
                    (NameOID.COMMON_NAME, "Sim ROOT"))
    ca = _certificate(ca_name, ca_name, ca_key, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(_name((NameOID.COMMON_NAME, "localhost")), ca_name, server_key, ca_key, ca=False,
                          san="localhost")
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = _name((NameOID.COMMON_NAME, "Someone Else"))
    other = _certificate(other_name, other_name, other_key, other_key, ca=True)
    (base / "server.pem").write_bytes(_pem(server) + server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (base / "bundle.pem").write_bytes(_pem(other) + _pem(ca))
    (base / "other.pem").write_bytes(_pem(other))
    return base, ca


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.filterwarnings("ignore:Parsed a serial number")
def test_subject_hashes_are_openssls_for_every_certifi_root_and_odd_names(pki):
    _base, ca = pki
    with open(certifi.where(), "rb") as handle:
        roots = x509.load_pem_x509_certificates(handle.read())
    for certificate in roots[:60] + [ca]:
        expected = subprocess.run(["openssl", "x509", "-noout", "-subject_hash"], input=_pem(certificate),
                                  capture_output=True, check=True).stdout.decode().strip()
        assert ca_directory.subject_hash(certificate.subject.public_bytes()) == expected, certificate.subject


def test_canonical_text_follows_openssl():
    assert ca_directory._canonical_text("  Contoso \t  Test\nCA  ") == "contoso test ca"  # pylint: disable=protected-access
    assert ca_directory._canonical_text("ÉCOLE Ä") == "École Ä"  # pylint: disable=protected-access


def test_directory_is_private_holds_the_bundle_and_is_built_once(pki, tmp_path):
    base, _ca = pki
    cache = tmp_path / "ca"
    directory = ca_directory.hashed_directory(str(base / "bundle.pem"), str(cache))
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700 and stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    files = sorted(os.listdir(directory))
    assert len(files) == 2 and all(name.endswith(".0") for name in files)
    assert all(stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600 for name in files)
    mtime = os.stat(directory).st_mtime_ns
    assert ca_directory.hashed_directory(str(base / "bundle.pem"), str(cache)) == directory
    assert os.stat(directory).st_mtime_ns == mtime
    # Another bundle content, another directory; a missing bundle, none.
    assert ca_directory.hashed_directory(str(base / "other.pem"), str(cache)) != directory
    assert ca_directory.hashed_directory(str(base / "missing.pem"), str(cache)) is None


def test_a_cache_directory_others_can_open_is_not_used(pki, tmp_path):
    base, _ca = pki
    cache = tmp_path / "ca"
    cache.mkdir(mode=0o755)
    os.chmod(cache, 0o755)
    assert ca_directory.hashed_directory(str(base / "bundle.pem"), str(cache)) is None


class _Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def tls_server(pki):
    base, _ca = pki
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(base / "server.pem"))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "https://localhost:%d/" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fresh_contexts(monkeypatch, tmp_path):
    monkeypatch.setattr(tr, "_SSL_CONTEXTS", {})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "sqlvm.backup" / "ca"


def test_https_is_verified_through_the_hashed_directory(pki, tls_server, fresh_contexts):
    base, _ca = pki
    transport = tr.stdlib_transport(environ={"REQUESTS_CA_BUNDLE": str(base / "bundle.pem")})
    assert transport.send(HttpRequest("GET", tls_server)).status_code == 200
    assert len(os.listdir(fresh_contexts)) == 1
    assert transport._whole_bundle is False  # pylint: disable=protected-access


def test_a_directory_that_does_not_verify_falls_back_to_the_bundle_file(pki, tls_server, fresh_contexts):
    base, _ca = pki
    environ = {"REQUESTS_CA_BUNDLE": str(base / "bundle.pem")}
    directory = ca_directory.hashed_directory(environ["REQUESTS_CA_BUNDLE"], str(fresh_contexts))
    for name in os.listdir(directory):  # as if our hash were wrong: OpenSSL finds no issuer there
        os.rename(os.path.join(directory, name), os.path.join(directory, "0" + name))
    transport = tr.stdlib_transport(environ=environ)
    assert transport.send(HttpRequest("GET", tls_server)).status_code == 200
    assert transport._whole_bundle is True  # pylint: disable=protected-access


def test_a_server_the_bundle_does_not_trust_is_refused(pki, tls_server, fresh_contexts):
    base, _ca = pki
    transport = tr.stdlib_transport(environ={"REQUESTS_CA_BUNDLE": str(base / "other.pem")})
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        transport.send(HttpRequest("GET", tls_server))
