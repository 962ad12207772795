"""HTTP(S) listeners on 127.0.0.1 (OS-chosen ports) and the request pipeline every service shares:
fault injection, request log, JSON helpers."""
import fnmatch
import http.server
import json
import re
import socket
import ssl
import struct
import threading
import time
import urllib.parse
import uuid


class Request:
    def __init__(self, handler, service):
        self.service = service
        self.method = handler.command
        split = urllib.parse.urlsplit(handler.path)
        self.path = urllib.parse.unquote(split.path)
        self.raw_path = split.path
        self.query_string = split.query
        self.query = {}
        for key, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
            self.query[key] = value
        # Lower-cased keys for lookups that are case-insensitive in Azure (api-version, $filter).
        self.query_ci = {key.lower(): value for key, value in self.query.items()}
        self.headers = handler.headers
        length = int(handler.headers.get("Content-Length") or 0)
        self.body = handler.rfile.read(length) if length else b""
        self.host = handler.headers.get("Host", "")
        self.base_url = handler.server.base_url
        self.url = self.base_url + handler.path
        self.route = None     # the route pattern, set by the router
        self.kind = "read" if self.method in ("GET", "HEAD", "OPTIONS") else "write"
        self.principal = None  # token claims once authenticated

    def json(self):
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))

    def form(self):
        return dict(urllib.parse.parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))


class Response:
    def __init__(self, status=200, body=None, headers=None, content_type="application/json; charset=utf-8"):
        self.status = status
        self.headers = dict(headers or {})
        if body is None:
            self.raw = b""
        elif isinstance(body, (bytes, bytearray)):
            self.raw = bytes(body)
        elif isinstance(body, str):
            self.raw = body.encode("utf-8")
        else:
            self.raw = json.dumps(body).encode("utf-8")
        if self.raw or body is not None:
            self.headers.setdefault("Content-Type", content_type)
        self.reset = False
        self.delay = 0.0


class Fault:
    """One injected fault: for the next `count` requests matching service/method/path."""

    def __init__(self, spec):
        self.id = spec.get("id") or str(uuid.uuid4())
        self.service = spec.get("service")
        self.method = (spec.get("method") or "*").upper()
        self.path = spec.get("path") or "*"
        self.path_regex = re.compile(spec["path_regex"], re.I) if spec.get("path_regex") else None
        self.count = int(spec.get("count", 1))
        self.status = spec.get("status")
        self.body = spec.get("body")
        self.headers = spec.get("headers") or {}
        self.latency = float(spec.get("latency", 0))
        self.retry_after = spec.get("retry_after")
        self.reset = bool(spec.get("reset", False))
        self.lro_status = spec.get("lro_status")   # Failed | Canceled: the next LRO started ends so
        self.spec = dict(spec, id=self.id)

    def matches(self, service, method, path):
        if self.service and self.service != service:
            return False
        if self.method != "*" and self.method != method:
            return False
        if self.path_regex is not None:
            return bool(self.path_regex.search(path))
        return fnmatch.fnmatch(path.lower(), self.path.lower())


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def add(self, spec):
        fault = Fault(spec)
        with self._lock:
            self._faults.append(fault)
        return fault.spec

    def clear(self):
        with self._lock:
            self._faults = []

    def list(self):
        with self._lock:
            return [dict(f.spec, remaining=f.count) for f in self._faults]

    def take_tds(self, vm_key, statement):
        with self._lock:
            for fault in self._faults:
                spec = fault.spec
                if spec.get("service") != "tds" or spec.get("vm") not in (None, vm_key):
                    continue
                if not re.search(spec.get("pattern") or "", statement or "", re.I | re.S):
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return dict(spec)
        return None

    def take(self, service, method, path, want_lro=False):
        """The first matching fault (its count decremented), or None."""
        with self._lock:
            for fault in self._faults:
                if fault.service == "tds" and service != "tds":
                    continue
                if (fault.lro_status is not None) != want_lro:
                    continue
                if fault.matches(service, method, path):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class RequestLog:
    def __init__(self):
        self._lock = threading.Lock()
        self._entries = []
        self._seq = 0

    def record(self, service, method, route, kind, status, path=None, principal=None, **extra):
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, "time": time.time(), "service": service, "method": method,
                     "route": route, "kind": kind, "status": status, "path": path, "principal": principal}
            for key, value in extra.items():
                entry.setdefault(key, value)
            self._entries.append(entry)

    def entries(self, since=None):
        with self._lock:
            if since is None:
                return list(self._entries)
            return [e for e in self._entries if e["seq"] > since]

    def clear(self):
        with self._lock:
            self._entries = []

    def counts(self):
        result = {"total": 0, "read": 0, "write": 0, "by_service": {}, "by_route": {}, "by_status": {}}
        for entry in self.entries():
            result["total"] += 1
            result[entry["kind"]] = result.get(entry["kind"], 0) + 1
            service = result["by_service"].setdefault(entry["service"], {"read": 0, "write": 0})
            service[entry["kind"]] = service.get(entry["kind"], 0) + 1
            key = "%s %s %s" % (entry["service"], entry["method"], entry["route"])
            result["by_route"][key] = result["by_route"].get(key, 0) + 1
            status = str(entry["status"])
            result["by_status"][status] = result["by_status"].get(status, 0) + 1
        return result


def fault_response(fault, service):
    """The response an injected fault produces (None when the fault only adds latency)."""
    if fault.reset:
        response = Response(0)
        response.reset = True
        return response
    if fault.status is None:
        return None
    headers = dict(fault.headers)
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    body = fault.body
    if body is None and int(fault.status) >= 400:
        body = default_error_body(service, int(fault.status))
    return Response(int(fault.status), body, headers)


def default_error_body(service, status):
    codes = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable",
             502: "BadGateway", 504: "GatewayTimeout", 409: "Conflict", 404: "NotFound", 403: "Forbidden",
             401: "Unauthorized", 400: "BadRequest"}
    code = codes.get(status, "Error%d" % status)
    if service == "graph":
        return {"error": {"code": code, "message": "Injected fault.", "innerError": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4())}}}
    if service in ("login", "imds"):
        return {"error": code.lower(), "error_description": "Injected fault."}
    return {"error": {"code": code, "message": "Injected fault."}}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # header and body go out in separate writes
    server_version = "sqlvm-backup-sim/1.0"
    sys_version = ""

    def log_message(self, *args):  # the request log replaces stderr noise
        pass

    def _serve(self):
        server = self.server
        request = Request(self, server.service)
        fault = server.world.faults.take(server.service, request.method, request.path)
        response = None
        if fault is not None:
            if fault.latency:
                time.sleep(fault.latency)
            response = fault_response(fault, server.service)
        if response is None:
            try:
                response = server.app(request)
            except Exception as exc:  # a world bug: answer 500 and keep serving
                import traceback
                traceback.print_exc()
                response = Response(500, {"error": {"code": "InternalServerError", "message": repr(exc)}})
        if response.delay:
            time.sleep(response.delay)
        principal = (request.principal or {}).get("oid") if request.principal else None
        if server.service != "admin":
            server.world.log.record(request.service, request.method, request.route or request.path,
                                    request.kind, response.status if not response.reset else "reset",
                                    request.path, principal)
        if response.reset:
            # RST instead of FIN: the client sees "connection reset by peer".
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(response.raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.raw)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, service, app, world, ssl_context):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.service = service
        self.app = app
        self.world = world
        self.port = self.server_address[1]
        scheme = "https" if ssl_context else "http"
        self.base_url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self._ssl_context = ssl_context

    def get_request(self):
        sock, addr = super().get_request()
        if self._ssl_context is not None:
            # The handshake happens in the handler thread (do_handshake_on_connect on first read).
            sock = self._ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        pass  # clients dropping connections are normal (e.g. probes)


class Listener:
    def __init__(self, service, app, world, ssl_context=None):
        self.server = _Server(service, app, world, ssl_context)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2},
                                       name="listener-" + service, daemon=True)

    @property
    def url(self):
        return self.server.base_url

    @property
    def port(self):
        return self.server.port

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def server_ssl_context(cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


class Router:
    """Routes: (method, compiled regex over the path, route pattern for the log, kind, handler)."""

    def __init__(self):
        self.routes = []

    def add(self, methods, pattern, handler, route=None, kind=None):
        regex = re.compile("^" + pattern + "$", re.I)
        for method in methods.split():
            self.routes.append((method, regex, route or pattern, kind, handler))

    def match(self, request):
        path_matched = False
        for method, regex, route, kind, handler in self.routes:
            found = regex.match(request.path)
            if not found:
                continue
            path_matched = True
            if method != request.method:
                continue
            request.route = route
            if kind:
                request.kind = kind
            return handler, found.groupdict()
        return None, path_matched


def json_response(body, status=200, headers=None):
    return Response(status, body, headers)
