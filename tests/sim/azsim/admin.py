"""The admin API (plain http on loopback; SIM_ADMIN_URL). tests/sim/client.py wraps it."""
from .httpd import Response, Router


class AdminService:
    def __init__(self, sim):
        self.sim = sim
        self.world = sim.world
        r = self.router = Router()
        r.add("GET", "/health", lambda req: Response(200, {"status": "ok"}), "/health")
        r.add("POST", "/reset", self.reset, "/reset")
        r.add("GET", "/requests", self.requests, "/requests")
        r.add("DELETE", "/requests", self.clear_log, "/requests")
        r.add("GET", "/counts", lambda req: Response(200, self.world.log.counts()), "/counts")
        r.add("GET", "/faults", lambda req: Response(200, self.world.faults.list()), "/faults")
        r.add("POST", "/faults", self.add_fault, "/faults")
        r.add("DELETE", "/faults", self.clear_faults, "/faults")
        r.add("GET", "/state", self.state, "/state")
        r.add("GET", "/settings", lambda req: Response(200, self.world.settings), "/settings")
        r.add("PATCH POST", "/settings", self.settings, "/settings")
        r.add("POST", "/imds/current", self.imds_current, "/imds/current")
        r.add("GET", "/blob-access", self.blob_access, "/blob-access")
        r.add("GET", "/readiness", self.readiness, "/readiness")
        r.add("GET", "/env", lambda req: Response(200, self.sim.env), "/env")
        r.add("POST", "/federated-token", self.federated_token, "/federated-token")

    def __call__(self, request):
        handler, params = self.router.match(request)
        if handler is None:
            return Response(404, {"error": "no such admin route %s %s" % (request.method, request.path)})
        return handler(request, **params)

    def federated_token(self, request):
        """A workload token (as a Kubernetes service account token) signed by the world's issuer."""
        body = request.json() or {}
        claims = {"iss": body.get("issuer") or self.world.urls["login"] + "/federation",
                  "sub": body.get("subject", "system:serviceaccount:sqlvm:automation"),
                  "aud": body.get("audience", "api://AzureADTokenExchange")}
        return Response(200, {"token": self.world.signer.mint_raw(claims, int(body.get("lifetime", 3600)))})

    def reset(self, request):
        self.sim.reset()
        return Response(200, {"status": "reset"})

    def requests(self, request):
        since = request.query.get("since")
        entries = self.world.log.entries(int(since) if since else None)
        service = request.query.get("service")
        if service:
            entries = [e for e in entries if e["service"] == service]
        return Response(200, entries)

    def clear_log(self, request):
        self.world.log.clear()
        return Response(200, {"status": "cleared"})

    def add_fault(self, request):
        spec = request.json() or {}
        try:
            return Response(201, self.world.faults.add(spec))
        except (KeyError, ValueError, TypeError) as exc:
            return Response(400, {"error": "bad fault spec: %s" % exc})

    def clear_faults(self, request):
        self.world.faults.clear()
        return Response(200, {"status": "cleared"})

    def settings(self, request):
        changes = request.json() or {}
        unknown = set(changes) - set(self.world.settings)
        if unknown:
            return Response(400, {"error": "unknown settings %s" % sorted(unknown)})
        with self.world.lock:
            self.world.settings.update(changes)
        self.sim.throttle.reset()
        return Response(200, self.world.settings)

    def imds_current(self, request):
        body = request.json() or {}
        name = body.get("vm")
        if name is not None and name.lower() not in self.world.vm_by_name:
            return Response(404, {"error": "no VM named %s" % name})
        self.sim.imds.current_vm = name
        return Response(200, {"vm": name})

    def blob_access(self, request):
        q = request.query
        allowed = self.world.blob_access_allowed(q.get("principal", ""), q.get("account", ""),
                                                 q.get("container", ""), q.get("write", "true") != "false")
        return Response(200, {"allowed": allowed})

    def readiness(self, request):
        w = self.world
        return Response(200, {key: dict(zip(("ready", "reason"), w.expected_readiness(key)))
                              for key in w.vm_keys()})

    def state(self, request):
        w = self.world
        with w.lock:
            return Response(200, {
                "tenant_id": w.tenant_id, "subscriptions": list(w.subscriptions.values()),
                "automation_object_id": w.automation_id,
                "vms": {vm["name"]: dict(w.vm(vm["name"]), identities=w.vm_identities(vm["name"]),
                                         primary_identity=w.sql_vm_primary_identity(vm["name"]))
                        for vm in w.vms.values()},
                "user_assigned_identities": {u["id"]: {k: u[k] for k in ("name", "principal_id", "client_id")}
                                             for u in w.uamis.values()},
                "sql_virtual_machines": {s["id"]: s["properties"] for s in w.sqlvm_resources.values()},
                "storage_accounts": {a["name"]: {"id": a["id"], "containers": sorted(a["containers"]),
                                                 "management_policy": a.get("management_policy")}
                                     for a in w.storage.values()},
                "role_assignments": list(w.role_assignments.values()),
                "directory_role_assignments": list(w.dir_role_assignments.values()),
                "app_role_assignments": list(w.app_role_assignments.values()),
                "directory": [w.principal_view(o) for o in w.objects.values()],
                "vaults": {v["id"]: {"identity": v["identity"].type_string(),
                                     "principal_id": v["identity"].system_principal,
                                     "user_assigned": sorted(v["identity"].user.values())}
                           for v in list(w.vaults.values()) + list(w.backup_vaults.values())},
                "settings": w.settings, "urls": w.urls,
            })
