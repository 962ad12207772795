# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An azure-core HttpTransport on the standard library's http.client, for ARM and Graph.

azure-core's default RequestsTransport costs about 50-60 ms per task to import (requests, urllib3,
charset_normalizer, idna), and Ansible starts a new process for every task. Everything above the
transport stays azure-core's: the pipeline, RetryPolicy, BearerTokenCredentialPolicy, ARMPolling and
the exception types. This transport behaves as RequestsTransport does where it matters:

- certificates are verified against REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi's bundle
  (requests' own default), else the system store; one SSL context per process;
- the *_proxy and NO_PROXY / no_proxy variables decide as they do for requests (proxy_url_for; the unit
  tests compare with requests' own decision): an http:// proxy gets a CONNECT tunnel (credentials in the
  proxy URL sent as Proxy-Authorization); an https:// proxy - TLS to the proxy, then CONNECT and TLS to
  the server inside it - is left to azure-core's RequestsTransport (urllib3 does TLS in TLS), so it
  costs the requests import only where such a proxy is configured;
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


def environ_proxies(environ):
    """{scheme: proxy URL} from the *_proxy variables, as urllib (and so requests) reads them: any
    `<scheme>_proxy` in any case, the lower-case spelling winning - even when empty, which unsets it; under
    CGI (REQUEST_METHOD set) HTTP_PROXY is ignored, as it may come from a request header."""
    proxies = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy") and not (name == "HTTP_PROXY" and "REQUEST_METHOD" in environ):
            proxies[name.lower()[:-6]] = value
    for name, value in environ.items():
        if name[-6:] == "_proxy":
            if value:
                proxies[name[:-6]] = value
            else:
                proxies.pop(name[:-6], None)
    return proxies


def _is_ipv4(host):
    import socket as _socket
    try:
        _socket.inet_aton(host)
    except OSError:
        return False
    return True


def _in_network(host, entry):
    """Whether the IPv4 address `host` is inside `entry`, a NO_PROXY network in CIDR form (10.0.0.0/8),
    as requests decides (utils.is_valid_cidr / address_in_network): a mask of 1 to 32 bits."""
    import ipaddress
    address, _slash, mask = entry.partition("/")
    if not mask.isdigit() or not 1 <= int(mask) <= 32 or not _is_ipv4(address):
        return None  # not a network entry
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return False


def _split_port(host):
    # urllib's _splitport: the text after the last ':' when it is all digits.
    head, colon, tail = host.rpartition(":")
    return (head, tail) if colon and tail.isdigit() else (host, None)


def _bypassed(parts, environ):
    """Whether NO_PROXY sends the URL (split) direct, deciding as requests does: its own pass
    (utils.should_bypass_proxies: IPv4 networks and addresses, host names with and without the port, on
    dot boundaries), then urllib's (proxy_bypass_environment: `*`, case-insensitive host names)."""
    hostname = parts.hostname
    if hostname is None:
        return True
    no_proxy = environ.get("no_proxy") or environ.get("NO_PROXY")
    if no_proxy:
        entries = [entry for entry in no_proxy.replace(" ", "").split(",") if entry]
        if _is_ipv4(hostname):
            for entry in entries:
                inside = _in_network(hostname, entry)
                if inside or (inside is None and hostname == entry):
                    return True
        else:
            with_port = hostname + (":%d" % parts.port if parts.port else "")
            for entry in entries:
                entry = entry.lstrip(".")
                if entry in (hostname, with_port) or hostname.endswith("." + entry) or with_port.endswith("." + entry):
                    return True
    # urllib's pass reads the variable as urllib does (lower case first, even when empty).
    urllib_no_proxy = environ_proxies(environ).get("no")
    if not urllib_no_proxy:
        return False
    if urllib_no_proxy == "*":
        return True
    host = hostname.lower()
    host_only, _port = _split_port(host)
    for name in urllib_no_proxy.split(","):
        name = name.strip().lstrip(".").lower()
        if not name:
            continue
        if name in (host_only, host) or host_only.endswith("." + name) or host.endswith("." + name):
            return True
    return False


def proxy_url_for(url, environ=None):
    """The proxy URL requests would use for `url` under `environ` (the *_proxy and NO_PROXY variables),
    with a scheme (http:// when it has none), or None to connect directly."""
    environ = os.environ if environ is None else environ
    parts = urlsplit(url)
    if _bypassed(parts, environ):
        return None
    proxies = environ_proxies(environ)
    scheme = parts.scheme.lower()
    host = parts.hostname
    for key in ("%s://%s" % (scheme, host), scheme, "all://%s" % host, "all"):
        if proxies.get(key):
            proxy = proxies[key]
            return proxy if "://" in proxy else "http://" + proxy
    return None


def proxy_for(url, environ=None):
    """(host, port, Proxy-Authorization header or None) for `url`, or None to connect directly."""
    proxy = proxy_url_for(url, environ)
    if proxy is None:
        return None
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
            self._requests = None

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
            if self._requests is not None:
                self._requests.close()
                self._requests = None

        def _send_through_https_proxy(self, request, proxy_url, connection_timeout, read_timeout):
            """The exchange through an https:// proxy, by azure-core's RequestsTransport: the proxy and the
            server are verified against the same CA certificates as every other connection."""
            if self._requests is None:
                from azure.core.pipeline.transport import RequestsTransport
                self._requests = RequestsTransport(connection_timeout=connection_timeout, read_timeout=read_timeout)
            location = ca_location(self._environ)
            return self._requests.send(
                request, proxies={urlsplit(request.url).scheme.lower(): proxy_url},
                connection_verify=location[1] if location else True,
                connection_timeout=connection_timeout, read_timeout=read_timeout)

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
            proxy_url = proxy_url_for(request.url, self._environ)
            if proxy_url is not None and proxy_url.lower().startswith("https://"):
                return self._send_through_https_proxy(request, proxy_url, connection_timeout, read_timeout)
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
