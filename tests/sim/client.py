"""SimAdmin: a small client of the world's admin API (SIM_ADMIN_URL) for tests.

    admin = SimAdmin(os.environ["SIM_ADMIN_URL"])
    admin.reset()                       # back to the scenario, log cleared, containers emptied
    admin.clear_log(); ...; admin.writes()   # log entries with kind == "write"
    admin.inject(method="PUT", path="*/roleAssignments/*", status=409, count=1)
    admin.inject(path="*/sqlVirtualMachines/*", method="PUT", lro_status="Failed")
"""
import json
import os
import urllib.error
import urllib.parse
import urllib.request


class SimAdmin:
    def __init__(self, admin_url=None):
        self.url = (admin_url or os.environ["SIM_ADMIN_URL"]).rstrip("/")

    def _call(self, method, path, body=None, query=None):
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise RuntimeError("admin %s %s: %s %s" % (method, path, exc.code, exc.read()[:500])) from None

    def reset(self):
        return self._call("POST", "/reset")

    def requests(self, since=None, service=None):
        """Log entries: seq, service (arm|graph|login|imds|metadata|tds), method, route, kind
        (read|write), status, path, principal."""
        return self._call("GET", "/requests", query={"since": since, "service": service})

    def writes(self, since=None, service=None):
        return [e for e in self.requests(since, service) if e["kind"] == "write"]

    def counts(self):
        return self._call("GET", "/counts")

    def clear_log(self):
        return self._call("DELETE", "/requests")

    def inject(self, path="*", method="*", count=1, status=None, body=None, headers=None, latency=0,
               retry_after=None, reset=False, lro_status=None, service=None, path_regex=None):
        """A fault for the next `count` requests matching method and path (a case-insensitive glob
        over the URL path, or path_regex). status/body/headers/retry_after: the answer; latency:
        seconds to wait first (alone: a slow but normal answer); reset: drop the connection (RST);
        lro_status Failed|Canceled: the next long-running operation started on that path ends so."""
        spec = {"path": path, "method": method, "count": count, "status": status, "body": body,
                "headers": headers, "latency": latency, "retry_after": retry_after, "reset": reset,
                "lro_status": lro_status, "service": service, "path_regex": path_regex}
        return self._call("POST", "/faults", {k: v for k, v in spec.items() if v is not None})

    def faults(self):
        return self._call("GET", "/faults")

    def clear_faults(self):
        return self._call("DELETE", "/faults")

    def state(self):
        return self._call("GET", "/state")

    def settings(self, **changes):
        if changes:
            return self._call("PATCH", "/settings", changes)
        return self._call("GET", "/settings")

    def set_current_vm(self, vm_name):
        """The VM the bare IMDS URL answers for."""
        return self._call("POST", "/imds/current", {"vm": vm_name})

    def blob_access_allowed(self, principal, account, container, write=True):
        return self._call("GET", "/blob-access", query={"principal": principal, "account": account,
                                                        "container": container,
                                                        "write": "true" if write else "false"})["allowed"]

    def federated_token(self, subject="system:serviceaccount:sqlvm:automation",
                        audience="api://AzureADTokenExchange", issuer=None, lifetime=3600):
        """A workload token for AZURE_FEDERATED_TOKEN_FILE (workload identity federation); the
        automation principal trusts the default subject."""
        body = {"subject": subject, "audience": audience, "lifetime": lifetime}
        if issuer:
            body["issuer"] = issuer
        return self._call("POST", "/federated-token", body)["token"]

    def readiness(self):
        return self._call("GET", "/readiness")

    def env(self):
        return self._call("GET", "/env")
