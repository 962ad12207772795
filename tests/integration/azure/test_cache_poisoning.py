"""The cache-poisoning attack against a real task: another user who can write the cache root plants
an OpenID configuration whose token_endpoint is their own HTTPS listener. The client secret must
never reach it; the task signs in at the real authority and says which cache it ignored."""
import glob
import json
import os
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TASK = {"sqlvm.backup.sqlvm_info": {"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "check_directory": False}}
NO_TOKEN_CACHE = {"SQLVM_BACKUP_TOKEN_CACHE": "false"}  # every task signs in, so discovery is read


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = None

    def log_message(self, *args):
        pass

    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append((self.command, self.path, self.rfile.read(length).decode("utf-8", "replace")))
        body = b'{"error": "invalid_client"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _record  # noqa: N815 - http.server's naming


@pytest.fixture
def attacker(world):
    """An HTTPS listener the world's CA bundle trusts (it has the world's loopback certificate)."""
    state_dir = world.state_dir
    cert = glob.glob(os.path.join(str(state_dir), "**", "server.pem"), recursive=True)[0]
    key = os.path.join(os.path.dirname(cert), "server-key.pem")
    received = []
    handler = type("Recorder", (_Recorder,), {"received": received})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "https://127.0.0.1:%d" % httpd.server_address[1], received
    finally:
        httpd.shutdown()
        httpd.server_close()


def _sign_ins(az):
    return [e for e in az.admin.requests() if e["service"] == "login" and e["method"] == "POST"]


@pytest.mark.parametrize("attack", ["world-writable root", "symlinked root"])
def test_a_planted_openid_document_never_gets_the_secret(az, tmp_path, attacker, attack):
    listener, received = attacker
    az.runner.cache_dir = tmp_path / "cache"
    root = os.path.join(str(az.runner.cache_dir), "sqlvm.backup")
    first, _writes = az.run([TASK], env=NO_TOKEN_CACHE)
    assert not first.tasks[0].failed, first.output[-3000:]
    documents = glob.glob(os.path.join(root, "openid-*.json"))
    assert documents, os.listdir(root)
    # The attacker rewrites the cached discovery documents: the token endpoint is now theirs.
    for path in documents:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        document["token_endpoint"] = listener + "/tenant/oauth2/v2.0/token"
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
    if attack == "world-writable root":
        os.chmod(root, 0o777)
    else:
        shared = str(tmp_path / "shared")
        os.rename(root, shared)
        os.chmod(shared, 0o777)
        os.symlink(shared, root)

    second, _writes = az.run([TASK], env=NO_TOKEN_CACHE)

    assert received == [], "the planted token endpoint received %r" % received
    assert not second.tasks[0].failed, second.output[-3000:]
    assert len(_sign_ins(az)) == 1  # signed in at the world's authority instead
    warnings = " ".join(second.tasks[0].get("warnings") or [])
    assert "Ignored the cache" in warnings and root in warnings, second.tasks[0]
    assert az.env["AZURE_SECRET"] not in second.output
