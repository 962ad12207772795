# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An azure-core HttpTransport on the standard library's http.client, for ARM and Graph.

azure-core's default RequestsTransport costs about 50-60 ms per task to import (requests, urllib3,
charset_normalizer, idna), and Ansible starts a new process for every task. Everything above the
transport stays azure-core's: the pipeline, RetryPolicy, BearerTokenCredentialPolicy, ARMPolling and
the exception types. This transport behaves as RequestsTransport does where it matters:

- certificates are verified against REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi's bundle
  (requests' own default), else the system store; one SSL context per process;
- HTTPS_PROXY / https_proxy and NO_PROXY / no_proxy are honoured (CONNECT tunnel, credentials in the
  proxy URL sent as Proxy-Authorization);
- no redirects, connections kept alive per host and reopened when the server closed them;
- failures map to azure-core's types as RequestsTransport maps them, so RetryPolicy decides as it
  does with requests: nothing sent (cannot connect, TLS handshake) -> ServiceRequestError; sent but
  no complete answer (reset, timeout) -> ServiceResponseError (+ the Timeout variants). RetryPolicy
  replays either only for methods it may replay (GET, PUT, DELETE, ... and ARM's PATCH, http.py).

Streaming and multipart are not supported: ARM and Graph answers here are small JSON documents.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import time
from urllib.parse import quote, unquote, urlsplit

_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_SSL_CONTEXTS = {}
_CLASS = None


def ca_location(environ=None):
    """('file' | 'dir', path) of the CA certificates to trust, or None for the system store."""
    environ = os.environ if environ is None else environ
    for name in _CA_BUNDLE_VARIABLES:
        if environ.get(name):
            path = environ[name]
            return ("dir" if os.path.isdir(path) else "file", path)
    try:
        import certifi
    except ImportError:
        return None
    return ("file", certifi.where())


def ssl_context(environ=None, whole_bundle=False):
    """A client SSL context trusting ca_location(environ); one per location and process.

    A bundle file is trusted through its hashed directory (ca_directory.py), which OpenSSL reads
    lazily - loading the file itself costs 25-90 ms per process; `whole_bundle` loads the file, the
    fallback when the directory is missing or did not verify a server."""
    import ssl
    location = ca_location(environ)
    key = (location, whole_bundle)
    context = _SSL_CONTEXTS.get(key)
    if context is None:
        if location is None:
            context = ssl.create_default_context()
        elif location[0] == "dir":
            context = ssl.create_default_context(capath=location[1])
        else:
            directory = None
            if not whole_bundle:
                from ansible_collections.sqlvm.backup.plugins.module_utils.azure.ca_directory import hashed_directory
                from ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files import default_root
                directory = hashed_directory(location[1], os.path.join(default_root(), "ca"))
            if directory is None:
                context = ssl.create_default_context(cafile=location[1])
                _SSL_CONTEXTS[(location, True)] = context
            else:
                context = ssl.create_default_context(capath=directory)
        _SSL_CONTEXTS[key] = context
    return context


def _proxy_variable(environ, scheme):
    for name in ("%s_proxy" % scheme, "%s_PROXY" % scheme.upper(), "all_proxy", "ALL_PROXY"):
        if environ.get(name):
            return environ[name]
    return None


def _in_network(host, entry):
    """Whether `host` is an IP address inside the network `entry` (a NO_PROXY CIDR such as 10.0.0.0/8),
    as requests decides for its own NO_PROXY handling."""
    import ipaddress
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def _bypassed(host, environ):
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY") or ""
    host = host.lower().strip("[]")
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            if _in_network(host, entry):
                return True
            continue
        entry = entry.split(":", 1)[0] if entry.count(":") == 1 else entry
        entry = entry.lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def proxy_for(url, environ=None):
    """(host, port, Proxy-Authorization header or None) for `url`, or None to connect directly."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    proxy = _proxy_variable(environ, parts.scheme)
    if not proxy or _bypassed(parts.hostname or "", environ):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    proxy_parts = urlsplit(proxy)
    authorization = None
    if proxy_parts.username is not None:
        user_pass = "%s:%s" % (unquote(proxy_parts.username), unquote(proxy_parts.password or ""))
        authorization = "Basic " + base64.b64encode(user_pass.encode("utf-8")).decode("ascii")
    return proxy_parts.hostname, proxy_parts.port or (443 if proxy_parts.scheme == "https" else 80), authorization


def _content(request):
    data = getattr(request, "content", None)
    if data is None:
        data = getattr(request, "data", None)
    if isinstance(data, str):
        return data.encode("utf-8")
    if data is not None and not isinstance(data, (bytes, bytearray)):
        raise TypeError("this transport sends str or bytes bodies only, not %s" % type(data).__name__)
    return data


# What requests' requote_uri leaves alone: reserved characters and existing %-escapes.
_URI_SAFE = "!#$%&'()*+,/:;=?@[]~"


def request_target(parts):
    """Path and query of a split URL, with what may not appear raw in a request line (spaces in an
    OData $filter, non-ASCII) percent-encoded as requests does."""
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return quote(target, safe=_URI_SAFE)


def _dropped(connection):
    """True when the server closed an idle kept-alive connection (readable means EOF or garbage)."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _w, _x = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def stdlib_transport(connection_timeout=10, read_timeout=120, environ=None):
    """A new StdlibTransport (the class is built on first use, so importing this module costs
    nothing until a module talks to Azure)."""
    global _CLASS  # pylint: disable=global-statement
    if _CLASS is None:
        _CLASS = _build_class()
    return _CLASS(connection_timeout, read_timeout, environ)


def _build_class():
    import http.client
    import ssl

    from azure.core.exceptions import (
        ServiceRequestError,
        ServiceRequestTimeoutError,
        ServiceResponseError,
        ServiceResponseTimeoutError,
    )
    from azure.core.pipeline.transport import HttpTransport
    from azure.core.rest._http_response_impl import RestHttpClientTransportResponse

    class StdlibTransport(HttpTransport):
        """azure-core HttpTransport over http.client (see the module docstring)."""

        def __init__(self, connection_timeout, read_timeout, environ):
            self.connection_timeout = connection_timeout
            self.read_timeout = read_timeout
            self._environ = os.environ if environ is None else environ
            self._connections = {}
            self._whole_bundle = False

        def __enter__(self):
            return self

        def __exit__(self, *args):
            self.close()

        def open(self):
            pass

        def close(self):
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()

        def _new_connection(self, scheme, host, port, proxy, timeout):
            target = (proxy[0], proxy[1]) if proxy else (host, port)
            if scheme == "https":
                connection = http.client.HTTPSConnection(
                    *target, timeout=timeout, context=ssl_context(self._environ, whole_bundle=self._whole_bundle))
            else:
                connection = http.client.HTTPConnection(*target, timeout=timeout)
            if proxy:
                connection.set_tunnel(host, port, headers={"Proxy-Authorization": proxy[2]} if proxy[2] else None)
            return connection

        def _connection(self, url, timeout):
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme not in ("https", "http"):
                raise ServiceRequestError("unsupported URL scheme in %s" % url)
            port = parts.port or (443 if scheme == "https" else 80)
            proxy = proxy_for(url, self._environ)
            key = (scheme, parts.hostname, port, proxy)
            connection = self._connections.get(key)
            if connection is not None and _dropped(connection):
                connection.close()
                connection = None
            if connection is None:
                connection = self._new_connection(scheme, parts.hostname, port, proxy, timeout)
                self._connections[key] = connection
            return key, connection

        def _forget(self, key):
            connection = self._connections.pop(key, None)
            if connection is not None:
                connection.close()

        def _failed(self, key, error, on_timeout, otherwise):
            """The azure-core error for an exchange that failed; its connection is dropped (state unknown)."""
            self._forget(key)
            kind = on_timeout if isinstance(error, socket.timeout) else otherwise
            return kind(error, error=error)

        def send(self, request, **kwargs):  # pylint: disable=arguments-differ
            connection_timeout = kwargs.pop("connection_timeout", self.connection_timeout)
            read_timeout = kwargs.pop("read_timeout", self.read_timeout)
            if kwargs.get("stream"):
                raise ValueError("this transport does not stream responses")
            parts = urlsplit(request.url)
            target = request_target(parts)
            body = _content(request)
            headers = dict(request.headers)
            key, connection = self._connection(request.url, connection_timeout)
            try:
                if connection.sock is None:
                    try:
                        connection.connect()
                    except ssl.SSLCertVerificationError:
                        if self._whole_bundle or parts.scheme.lower() != "https":
                            raise
                        # The hashed directory did not verify the server: ask the bundle file itself.
                        self._whole_bundle = True
                        self._forget(key)
                        key, connection = self._connection(request.url, connection_timeout)
                        connection.connect()
                connection.sock.settimeout(read_timeout)
                connection.request(request.method, target, body=body, headers=headers)
            except (OSError, http.client.HTTPException) as error:  # socket.timeout is an OSError
                raise self._failed(key, error, ServiceRequestTimeoutError, ServiceRequestError) from error
            try:
                response = connection.getresponse()
                content = response.read()
            except (OSError, http.client.HTTPException) as error:
                raise self._failed(key, error, ServiceResponseTimeoutError, ServiceResponseError) from error
            if response.will_close:
                self._forget(key)
            result = RestHttpClientTransportResponse(request=request, internal_response=response)
            result._content = content  # pylint: disable=protected-access
            return result

        def sleep(self, duration):
            time.sleep(duration)

    return StdlibTransport
