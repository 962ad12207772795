"""Managed identity endpoints on a plain-http loopback listener, for a chosen VM ("this machine").

* IMDS style (learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token):
  GET {host}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=...[&client_id=|&object_id=
  |&msi_res_id=|&mi_res_id=] with header `Metadata: true`. azure-identity and MSAL read the host from
  AZURE_POD_IDENTITY_AUTHORITY_HOST, so a test sets it to `{SIM_IMDS_URL}/vms/<vm name>`; the bare
  `{SIM_IMDS_URL}` serves the VM chosen by the admin API (`POST /imds/current`).
* App Service style (learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference):
  IDENTITY_ENDPOINT=`{SIM_IMDS_URL}/vms/<vm name>/msi/token`, IDENTITY_HEADER=the world's identity
  header (env.sh: SIM_IDENTITY_HEADER); api-version 2019-08-01, header X-IDENTITY-HEADER.
"""
import time

from .httpd import Response, Router


class ImdsService:
    def __init__(self, world, identity_header):
        self.world = world
        self.identity_header = identity_header
        self.current_vm = None
        r = self.router = Router()
        prefix = r"(?:/vms/(?P<vm>[^/]+))?"
        r.add("GET", prefix + r"/metadata/identity/oauth2/token", self.imds_token,
              "/metadata/identity/oauth2/token", "read")
        r.add("GET", prefix + r"/msi/token", self.app_service_token, "/msi/token", "read")
        r.add("GET", prefix + r"/metadata/instance", self.instance, "/metadata/instance", "read")

    def __call__(self, request):
        handler, params = self.router.match(request)
        if handler is None:
            return Response(404, {"error": "not_found", "error_description": "No such endpoint."})
        return handler(request, **params)

    def _vm(self, name):
        name = name or self.current_vm
        if not name:
            return None
        return self.world.vm_by_name.get(name.lower())

    def _pick_identity(self, vm, query):
        """(object id, client id) or an error text, following IMDS's rules for the selectors."""
        ident = vm["identity"]
        w = self.world
        users = [w.uamis[r] for r in ident.user if r in w.uamis]
        client_id = query.get("client_id")
        object_id = query.get("object_id") or query.get("principal_id")
        res = query.get("msi_res_id") or query.get("mi_res_id")
        if client_id or object_id or res:
            for uami in users:
                if (client_id and uami["client_id"].lower() == client_id.lower()) or \
                        (object_id and uami["principal_id"].lower() == object_id.lower()) or \
                        (res and uami["id"].lower() == res.lower()):
                    return uami["principal_id"], uami["client_id"]
            if ident.system_principal and ((client_id and client_id.lower() == ident.system_client) or
                                           (object_id and object_id.lower() == ident.system_principal)):
                return ident.system_principal, ident.system_client
            return "Identity not found"
        if ident.system_principal:
            return ident.system_principal, ident.system_client
        if len(users) == 1:
            return users[0]["principal_id"], users[0]["client_id"]
        if users:
            return "Multiple user assigned identities exist, please specify the clientId / resourceId of the " \
                   "identity in the token request"
        return "Identity not found"

    def _token(self, request, vm_name, v2019):
        w = self.world
        resource = request.query.get("resource")
        with w.lock:
            vm = self._vm(vm_name)
            if vm is None:
                return Response(404, {"error": "not_found", "error_description":
                                      "No VM selected: use /vms/<vm name> or POST /imds/current on the admin API."})
            if not resource:
                return Response(400, {"error": "invalid_request", "error_description":
                                      "Required query variable 'resource' is missing"})
            picked = self._pick_identity(vm, request.query)
            if isinstance(picked, str):
                return Response(400, {"error": "invalid_request", "error_description": picked})
            object_id, client_id = picked
        audience = resource
        token = w.mint_token(object_id, audience)
        now = int(time.time())
        body = {"access_token": token, "client_id": client_id, "expires_in": "86399",
                "expires_on": str(now + 86399), "ext_expires_in": "86399", "not_before": str(now),
                "resource": resource, "token_type": "Bearer"}
        if v2019:
            body = {"access_token": token, "expires_on": str(now + 86399), "resource": resource,
                    "token_type": "Bearer", "client_id": client_id}
        return Response(200, body)

    def imds_token(self, request, vm=None):
        if request.headers.get("Metadata", "").lower() != "true":
            return Response(400, {"error": "invalid_request",
                                  "error_description": "Required metadata header not specified"})
        if request.query.get("api-version") not in ("2018-02-01", "2019-08-01", "2021-02-01", "2021-12-13",
                                                    "2023-07-01", "2025-04-07"):
            return Response(400, {"error": "invalid_request", "error_description":
                                  "Invalid or missing api-version query parameter"})
        return self._token(request, vm, False)

    def app_service_token(self, request, vm=None):
        if request.headers.get("X-IDENTITY-HEADER") != self.identity_header:
            return Response(401, {"statusCode": 401, "message": "Unauthorized: X-IDENTITY-HEADER missing or wrong."})
        if request.query.get("api-version") != "2019-08-01":
            return Response(400, {"statusCode": 400, "message": "Unsupported api-version."})
        return self._token(request, vm, True)

    def instance(self, request, vm=None):
        if request.headers.get("Metadata", "").lower() != "true":
            return Response(400, {"error": "Bad request. Required metadata header not specified"})
        with self.world.lock:
            machine = self._vm(vm)
            if machine is None:
                return Response(404, {"error": "No VM selected"})
            return Response(200, {"compute": {
                "name": machine["name"], "location": machine["location"], "osType": machine["os_type"],
                "resourceGroupName": machine["resource_group"], "subscriptionId": machine["subscription"],
                "resourceId": machine["id"], "vmId": machine["vm_id"], "vmSize": machine["size"],
                "azEnvironment": "AzureSimCloud"}})
