"""Azure modules through a forward proxy bound to 127.0.0.1, as on a controller behind a corporate proxy:
an http:// proxy (CONNECT in clear, then TLS to the server) and an https:// proxy (TLS to the proxy with a
certificate of the world's CA, CONNECT, then TLS to the server inside it - as requests does it). The proxy
records each tunnel it opens and the Proxy-Authorization it was given; NO_PROXY sends a host direct."""
import base64
import os
import select
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

INFO = {"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "token_cache": False}


def _relay(client, upstream):
    """Bytes both ways until one side closes; a TLS client socket may hold decrypted bytes select cannot see."""
    sockets = [client, upstream]
    while True:
        ready = [client] if isinstance(client, ssl.SSLSocket) and client.pending() else []
        if not ready:
            ready, _w, _x = select.select(sockets, [], [], 30)
            if not ready:
                return
        for sock in ready:
            try:
                data = sock.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            (upstream if sock is client else client).sendall(data)


class ConnectProxy:
    """A CONNECT-only forward proxy on 127.0.0.1; with `tls` (cert, key) its own listening socket speaks TLS."""

    def __init__(self, tls=None):
        self.tunnels = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_CONNECT(self):  # noqa: N802 - http.server's naming
                proxy.tunnels.append((self.path, self.headers.get("Proxy-Authorization")))
                host, _colon, port = self.path.rpartition(":")
                try:
                    upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
                except OSError:
                    self.send_error(502)
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                try:
                    _relay(self.connection, upstream)
                finally:
                    upstream.close()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, user=None, password=None):
        credentials = "%s:%s@" % (user, password) if user else ""
        return "%s://%s127.0.0.1:%d" % (self.scheme, credentials, self.server.server_address[1])

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _no_proxy_env(**extra):
    # Whatever the host's own proxy settings, only the test's apply.
    env = {name: None for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}
    env.update(no_proxy="", NO_PROXY="")
    env.update(extra)
    return env


@pytest.mark.parametrize("tls", [False, True], ids=["http-proxy", "https-proxy"])
def test_modules_reach_azure_through_a_proxy_with_credentials(az, tls):
    state = az.env["SIM_STATE_DIR"]
    arm = urlsplit(az.env["SIM_ARM_URL"])
    login = urlsplit(az.env["SIM_LOGIN_URL"])
    certificate = (os.path.join(state, "server.pem"), os.path.join(state, "server-key.pem")) if tls else None
    with ConnectProxy(certificate) as proxy:
        task, _writes = az.task("sqlvm_info", INFO, env=_no_proxy_env(HTTPS_PROXY=proxy.url("ops", "pr%40xy")))
    assert task.status == "ok", task
    targets = {path for path, _authorization in proxy.tunnels}
    assert "%s:%d" % (arm.hostname, arm.port) in targets, proxy.tunnels
    assert "%s:%d" % (login.hostname, login.port) in targets, proxy.tunnels  # azure-identity's sign-in too
    expected = "Basic " + base64.b64encode(b"ops:pr@xy").decode()
    assert {authorization for _path, authorization in proxy.tunnels} == {expected}


def test_no_proxy_sends_the_world_direct(az):
    # The world's endpoints all live on 127.0.0.1. (An entry with a port, 127.0.0.1:<port>, would not match:
    # requests compares an IP address without its port, and so does the transport.)
    state = az.env["SIM_STATE_DIR"]
    with ConnectProxy((os.path.join(state, "server.pem"), os.path.join(state, "server-key.pem"))) as proxy:
        task, _writes = az.task("sqlvm_info", INFO, env=_no_proxy_env(HTTPS_PROXY=proxy.url(), NO_PROXY="localhost,127.0.0.1"))
    assert task.status == "ok", task
    assert proxy.tunnels == []
