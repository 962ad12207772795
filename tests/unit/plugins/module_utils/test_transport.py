"""The http.client transport: what it trusts, when it goes through a proxy, and how failures map to
azure-core's exception types - against loopback servers, through azure-core's real pipeline."""
import base64
import json
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import ServiceRequestError, ServiceResponseError, ServiceResponseTimeoutError
from azure.core.rest import HttpRequest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import transport as tr
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError


# What it trusts ----------------------------------------------------------------------------------

def test_ca_bundle_follows_requests_variables_in_requests_order(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert tr.ca_location({"REQUESTS_CA_BUNDLE": str(bundle), "CURL_CA_BUNDLE": "/other"}) == ("file", str(bundle))
    assert tr.ca_location({"CURL_CA_BUNDLE": str(bundle)}) == ("file", str(bundle))
    assert tr.ca_location({"REQUESTS_CA_BUNDLE": str(tmp_path)}) == ("dir", str(tmp_path))


def test_default_trust_is_certifi_as_with_requests():
    import certifi
    assert tr.ca_location({}) == ("file", certifi.where())


# Proxies -------------------------------------------------------------------------------------------

URL = "https://management.azure.com/subscriptions?api-version=1"


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128"}, ("proxy.corp", 3128, None)),
    ({"https_proxy": "proxy.corp:8080"}, ("proxy.corp", 8080, None)),
    ({"HTTP_PROXY": "http://proxy.corp:3128"}, None),  # only for http:// URLs
    ({"ALL_PROXY": "http://proxy.corp:3128"}, ("proxy.corp", 3128, None)),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "localhost,.azure.com"}, None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "no_proxy": "management.azure.com"}, None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "*"}, None),
    ({"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": "azure.co"}, ("proxy.corp", 3128, None)),
])
def test_proxy_choice(environ, expected):
    assert tr.proxy_for(URL, environ) == expected


@pytest.mark.parametrize("url, no_proxy, direct", [
    ("https://10.1.2.3/x", "10.0.0.0/8", True),
    ("https://10.1.2.3:8443/x", "192.168.0.0/16,10.1.0.0/16", True),
    ("https://11.1.2.3/x", "10.0.0.0/8", False),
    # requests (and so the sign-in, which goes through requests) knows IPv4 networks only.
    ("https://[fd00::5]/x", "fd00::/8", False),
    ("https://management.azure.com/x", "10.0.0.0/8", False),  # a host name is never inside a network
    ("https://10.1.2.3/x", "10.1.2.3", True),
    ("https://10.1.2.3/x", "not-a-network/8", False),
])
def test_no_proxy_networks_are_bypassed_as_requests_does(url, no_proxy, direct):
    chosen = tr.proxy_for(url, {"HTTPS_PROXY": "http://proxy.corp:3128", "NO_PROXY": no_proxy})
    assert (chosen is None) == direct


def test_proxy_credentials_become_basic_authorization():
    host, port, authorization = tr.proxy_for(URL, {"HTTPS_PROXY": "http://ops%40corp:p%3Ass@proxy:3128"})
    assert (host, port) == ("proxy", 3128)
    assert base64.b64decode(authorization.split()[1]) == b"ops@corp:p:ss"


def test_request_target_quotes_what_requests_quotes():
    parts = urlsplit("https://h/a b/c?$filter=principalId eq 'x'&n=%20&s=a+b")
    assert tr.request_target(parts) == "/a%20b/c?$filter=principalId%20eq%20'x'&n=%20&s=a+b"


# Against loopback servers ----------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script = []
    seen = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Handler.seen.append((self.command, self.path, dict(self.headers), body, self.client_address[1]))
        action = Handler.script.pop(0) if Handler.script else ("json", 200, {"ok": True})
        if action[0] == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            self.close_connection = True
            return
        if action[0] == "slow":
            threading.Event().wait(action[1])
            return
        _kind, status, payload = action[:3]
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if len(action) > 3 and action[3] == "close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST = _answer


@pytest.fixture
def server():
    Handler.script, Handler.seen = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def send(transport, method, url, content=None):
    return transport.send(HttpRequest(method, url, content=content, headers={"X-Test": "1"}))


def test_answers_and_keeps_the_connection_alive(server):
    transport = tr.stdlib_transport(environ={})
    first = send(transport, "GET", server + "/a?x=1")
    second = send(transport, "PUT", server + "/b", content=json.dumps({"k": "v"}))
    assert first.status_code == 200 and first.json() == {"ok": True} and first.headers["Content-Type"]
    assert second.status_code == 200
    (m1, p1, h1, _b1, port1), (m2, p2, _h2, b2, port2) = Handler.seen
    assert (m1, p1, h1["X-Test"], m2, p2, b2) == ("GET", "/a?x=1", "1", "PUT", "/b", b'{"k": "v"}')
    assert port1 == port2  # one connection
    transport.close()


def test_a_connection_the_server_closed_is_reopened(server):
    transport = tr.stdlib_transport(environ={})
    Handler.script = [("json", 200, {"n": 1}, "close")]
    assert send(transport, "GET", server + "/a").json() == {"n": 1}
    assert send(transport, "GET", server + "/a").json() == {"ok": True}
    assert Handler.seen[0][4] != Handler.seen[1][4]


def test_nothing_listening_is_a_request_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ServiceRequestError):
        send(tr.stdlib_transport(connection_timeout=2, environ={}), "GET", "http://127.0.0.1:%d/" % port)


def test_a_reset_after_the_request_is_a_response_error(server):
    Handler.script = [("reset",)]
    with pytest.raises(ServiceResponseError):
        send(tr.stdlib_transport(environ={}), "GET", server + "/a")


def test_no_answer_within_the_read_timeout_is_a_response_timeout(server):
    Handler.script = [("slow", 3)]
    transport = tr.stdlib_transport(read_timeout=0.3, environ={})
    with pytest.raises(ServiceResponseTimeoutError):
        send(transport, "GET", server + "/a")


def test_retry_policy_replays_a_get_but_not_a_post_after_a_reset(server):
    # Through azure-core's pipeline and our bounded RetryPolicy, as the modules use it.
    client = http.pipeline_client(server + "/", http.Deadline(30), transport=tr.stdlib_transport(environ={}))
    Handler.script = [("reset",)]
    assert http.send_json(client, "GET", "/a").status == 200
    assert len(Handler.seen) == 2
    Handler.script, Handler.seen = [("reset",)], []
    with pytest.raises(AzureApiError) as caught:
        http.send_json(client, "POST", "/job", body={})
    assert caught.value.code == "ConnectionError" and len(Handler.seen) == 1


def _relay(client, upstream, idle=2.0):
    """Copy bytes both ways until one side closes or both are quiet for `idle` seconds."""
    sockets = [client, upstream]
    while True:
        readable, _w, _x = select.select(sockets, [], [], idle)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (upstream if sock is client else client).sendall(data)


def test_goes_through_a_proxy_tunnel_with_credentials(server):
    seen = []

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_CONNECT(self):  # noqa: N802 - http.server's naming
            seen.append((self.path, self.headers.get("Proxy-Authorization")))
            upstream = socket.create_connection(("127.0.0.1", int(urlsplit(server).port)))
            self.send_response(200)
            self.end_headers()
            _relay(self.connection, upstream)
            upstream.close()

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        environ = {"http_proxy": "http://ops:pw@127.0.0.1:%d" % proxy.server_address[1]}
        response = send(tr.stdlib_transport(environ=environ), "GET", "http://backend.invalid:8080/x")
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert response.json() == {"ok": True}
    assert seen == [("backend.invalid:8080", "Basic " + base64.b64encode(b"ops:pw").decode())]
