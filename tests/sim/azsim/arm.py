"""Azure Resource Manager subset, as the REST specifications describe it (Azure/azure-rest-api-specs):

* /metadata/endpoints — cloud metadata (Azure Stack Hub "metadata endpoints"; azure-cli
  src/azure-cli-core/azure/cli/core/cloud.py `_arm_to_cli_mapper` reads the 2022-09-01 shape).
* Microsoft.Compute virtualMachines — specification/compute/resource-manager/Microsoft.Compute/
  ComputeRP/stable/*/virtualMachine.json (identity: VirtualMachineIdentity, userAssignedIdentities map;
  GET …/instanceView and GET ?$expand=instanceView: VirtualMachineInstanceView, InstanceViewStatus of
  computeRPCommon.json, example VirtualMachine_Get_InstanceView.json).
* Microsoft.ManagedIdentity userAssignedIdentities — specification/msi/.../ManagedIdentity.json.
* Microsoft.SqlVirtualMachine sqlVirtualMachines — specification/sqlvirtualmachine/resource-manager/
  Microsoft.SqlVirtualMachine/stable/2023-10-01/sqlvm.json (PUT long-running, PATCH = tags only:
  SqlVirtualMachineUpdate has only `tags`; AADAuthenticationSettings.clientId).
* Microsoft.Authorization roleDefinitions / roleAssignments — specification/authorization/
  resource-manager/Microsoft.Authorization/stable/2022-04-01/{authorization-RoleDefinitionsCalls,
  authorization-RoleAssignmentsCalls}.json; error behaviour from learn.microsoft.com/azure/
  role-based-access-control/troubleshooting (RoleAssignmentExists, PrincipalNotFound + principalType).
* Microsoft.Storage storageAccounts (+ blobServices/default/containers) — specification/storage/.../storage.json, blob.json.
* Microsoft.RecoveryServices vaults — specification/recoveryservices/.../vaults.json (PATCH identity,
  example PatchVault_WithCMK2.json); Microsoft.DataProtection backupVaults — specification/dataprotection/.../dataprotection.json.
* Errors: {"error": {"code", "message"}} (ARM RPC "Error response content"); long-running operations
  with Azure-AsyncOperation + Retry-After (ARM RPC "Asynchronous operations").
"""
import copy
import re
import time
import urllib.parse
import uuid

from . import catalog, lifecycle, network, network_security
from .httpd import Response, Router
from .scenario import GUID_RE, parse_version
from .tokens import TokenError
from .world import MIN_SQL_2022, now_iso, rg_id, scope_covers

# Accepted api-versions per resource type: the stable (and recent preview) versions in
# azure-rest-api-specs, plus the defaults of the SDKs in tests/requirements.txt.
API_VERSIONS = {
    "compute": {"2019-03-01", "2019-07-01", "2019-12-01", "2020-06-01", "2020-12-01", "2021-03-01",
                "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01", "2022-08-01", "2022-11-01",
                "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01", "2024-11-01",
                "2025-04-01", "2025-11-01", "2026-03-02", "2026-03-03", "2026-04-01"},
    "msi": {"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31",
            "2023-07-31-preview", "2024-11-30", "2025-01-31-preview"},
    "sqlvm": {"2017-03-01-preview", "2021-11-01-preview", "2022-02-01", "2022-02-01-preview",
              "2022-07-01-preview", "2022-08-01-preview", "2023-01-01-preview", "2023-10-01"},
    "authorization": {"2015-07-01", "2018-01-01-preview", "2018-09-01-preview", "2020-03-01-preview",
                      "2020-04-01-preview", "2020-08-01-preview", "2020-10-01-preview", "2021-04-01-preview",
                      "2022-01-01-preview", "2022-04-01", "2022-05-01-preview"},
    "storage": {"2019-06-01", "2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01", "2021-08-01",
                "2021-09-01", "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01", "2023-05-01",
                "2024-01-01", "2025-01-01", "2025-06-01", "2026-09-01"},
    "recoveryservices": {"2016-06-01", "2020-02-02", "2021-01-01", "2021-03-01", "2021-06-01", "2021-08-01",
                         "2022-01-01", "2022-04-01", "2022-08-01", "2022-10-01", "2023-01-01", "2023-02-01",
                         "2023-04-01", "2023-06-01", "2023-08-01", "2024-01-01", "2024-02-01", "2024-04-01",
                         "2024-09-30-preview", "2024-10-01", "2025-01-01", "2025-02-01", "2025-08-01",
                         "2026-11-01"},
    "dataprotection": {"2021-01-01", "2021-07-01", "2022-03-01", "2022-04-01", "2022-05-01", "2022-12-01",
                       "2023-01-01", "2023-05-01", "2023-11-01", "2024-03-01", "2024-04-01", "2025-01-01",
                       "2025-07-01", "2026-06-01"},
    "resources": {"2019-10-01", "2020-01-01", "2020-06-01", "2021-01-01", "2021-04-01", "2022-01-01",
                  "2022-09-01", "2022-12-01", "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01",
                  "2025-01-01", "2025-03-01", "2025-04-01"},
    "network": network.API_VERSIONS,
    "metadata": {"2015-01-01", "2019-05-01", "2020-06-01", "2022-09-01"},
}
LOCATIONS = "westeurope,northeurope,eastus,eastus2,westus2,uksouth,germanywestcentral,swedencentral"


def arm_error(status, code, message, headers=None, details=None):
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return Response(status, body, headers)


def not_found(rtype, name, rg):
    return arm_error(404, "ResourceNotFound", "The Resource '%s/%s' under resource group '%s' was not found. For "
                     "more details please go to https://aka.ms/ARMResourceNotFoundFix" % (rtype, name, rg))


class ArmError(Exception):
    def __init__(self, response):
        super().__init__(response.status)
        self.response = response


def _status(code, display, level="Info", message=None, time=None):
    """InstanceViewStatus (computeRPCommon.json): code, level (Info|Warning|Error), displayStatus, message, time."""
    out = {"code": code, "level": level, "displayStatus": display}
    if message:
        out["message"] = message
    if time:
        out["time"] = time
    return out


def _fail(status, code, message):
    raise ArmError(arm_error(status, code, message))


def _norm_identity_type(value):
    if value is None:
        return None
    text = re.sub(r"\s+", "", str(value)).lower()
    return {"none": "None", "systemassigned": "SystemAssigned", "userassigned": "UserAssigned",
            "systemassigned,userassigned": "SystemAssigned, UserAssigned"}.get(text, False)


class ArmService:
    def __init__(self, sim):
        self.sim = sim
        self.world = sim.world
        r = self.router = Router()
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        rg = sub + r"/resourceGroups/(?P<rg>[^/]+)"
        P = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
        r.add("GET", r"/metadata/endpoints", self.metadata, "/metadata/endpoints")
        r.add("GET", r"/subscriptions", self.list_subscriptions, "/subscriptions")
        r.add("GET", sub, self.get_subscription, "/subscriptions/{subscriptionId}")
        r.add("GET", rg, self.get_resource_group, "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}")
        r.add("GET", sub + r"/providers/(?P<ns>[^/]+)/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
              self.get_operation, "/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}/operations/{operationId}")
        vm = rg + r"/providers/Microsoft\.Compute/virtualMachines"
        r.add("GET", vm, self.list_vms, P + "Microsoft.Compute/virtualMachines")
        r.add("GET", sub + r"/providers/Microsoft\.Compute/virtualMachines", self.list_vms,
              "/subscriptions/{subscriptionId}/providers/Microsoft.Compute/virtualMachines")
        r.add("GET", vm + r"/(?P<name>[^/]+)/instanceView", self.get_vm_instance_view,
              P + "Microsoft.Compute/virtualMachines/{vmName}/instanceView")
        r.add("GET", vm + r"/(?P<name>[^/]+)", self.get_vm, P + "Microsoft.Compute/virtualMachines/{vmName}")
        r.add("PUT PATCH", vm + r"/(?P<name>[^/]+)", self.update_vm, P + "Microsoft.Compute/virtualMachines/{vmName}")
        mi = rg + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities"
        r.add("GET", mi, self.list_uamis, P + "Microsoft.ManagedIdentity/userAssignedIdentities")
        r.add("GET", sub + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities", self.list_uamis,
              "/subscriptions/{subscriptionId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities")
        r.add("GET", mi + r"/(?P<name>[^/]+)", self.get_uami, P + "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}")
        r.add("PUT PATCH", mi + r"/(?P<name>[^/]+)", self.put_uami, P + "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}")
        r.add("DELETE", mi + r"/(?P<name>[^/]+)", self.delete_uami, P + "Microsoft.ManagedIdentity/userAssignedIdentities/{resourceName}")
        sq = rg + r"/providers/Microsoft\.SqlVirtualMachine/sqlVirtualMachines"
        r.add("GET", sq, self.list_sql_vms, P + "Microsoft.SqlVirtualMachine/sqlVirtualMachines")
        r.add("GET", sub + r"/providers/Microsoft\.SqlVirtualMachine/sqlVirtualMachines", self.list_sql_vms,
              "/subscriptions/{subscriptionId}/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines")
        r.add("GET", sq + r"/(?P<name>[^/]+)", self.get_sql_vm, P + "Microsoft.SqlVirtualMachine/sqlVirtualMachines/{sqlVirtualMachineName}")
        r.add("PUT", sq + r"/(?P<name>[^/]+)", self.put_sql_vm, P + "Microsoft.SqlVirtualMachine/sqlVirtualMachines/{sqlVirtualMachineName}")
        r.add("PATCH", sq + r"/(?P<name>[^/]+)", self.patch_sql_vm, P + "Microsoft.SqlVirtualMachine/sqlVirtualMachines/{sqlVirtualMachineName}")
        st = rg + r"/providers/Microsoft\.Storage/storageAccounts"
        r.add("GET", st, self.list_storage, P + "Microsoft.Storage/storageAccounts")
        r.add("GET", sub + r"/providers/Microsoft\.Storage/storageAccounts", self.list_storage,
              "/subscriptions/{subscriptionId}/providers/Microsoft.Storage/storageAccounts")
        r.add("GET", st + r"/(?P<name>[^/]+)", self.get_storage, P + "Microsoft.Storage/storageAccounts/{accountName}")
        r.add("GET", st + r"/(?P<name>[^/]+)/blobServices/default/containers", self.list_containers,
              P + "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers")
        r.add("GET", st + r"/(?P<name>[^/]+)/blobServices/default/containers/(?P<container>[^/]+)", self.get_container,
              P + "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{containerName}")
        policy = st + r"/(?P<name>[^/]+)/managementPolicies/(?P<policy>[^/]+)"
        r.add("GET", policy, self.get_management_policy,
              P + "Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{managementPolicyName}")
        r.add("PUT", policy, self.put_management_policy,
              P + "Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{managementPolicyName}")
        r.add("DELETE", policy, self.delete_management_policy,
              P + "Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{managementPolicyName}", "write")
        for kind, ns, typ in (("rsv", "Microsoft\\.RecoveryServices", "vaults"),
                              ("bv", "Microsoft\\.DataProtection", "backupVaults")):
            route = P + ns.replace("\\", "") + "/" + typ + "/{vaultName}"
            base = rg + r"/providers/%s/%s" % (ns, typ)
            r.add("GET", base, self._bind(self.list_vaults, kind), route.rsplit("/", 1)[0])
            r.add("GET", base + r"/(?P<name>[^/]+)", self._bind(self.get_vault, kind), route)
            r.add("PATCH", base + r"/(?P<name>[^/]+)", self._bind(self.patch_vault, kind), route)
        network.Network(self).add_routes(r, sub, rg, P)
        self.network_security = network_security.NetworkSecurity(self)
        self.network_security.add_routes(r, sub, rg, P)
        auth = r"(?P<scope>(?:/.*?)?)/providers/Microsoft\.Authorization"
        r.add("GET", auth + r"/roleDefinitions", self.list_role_definitions,
              "/{scope}/providers/Microsoft.Authorization/roleDefinitions")
        r.add("GET", auth + r"/roleDefinitions/(?P<role>[^/]+)", self.get_role_definition,
              "/{scope}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionId}")
        r.add("GET", auth + r"/roleAssignments", self.list_role_assignments,
              "/{scope}/providers/Microsoft.Authorization/roleAssignments")
        r.add("GET", auth + r"/roleAssignments/(?P<name>[^/]+)", self.get_role_assignment,
              "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}")
        r.add("PUT", auth + r"/roleAssignments/(?P<name>[^/]+)", self.put_role_assignment,
              "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}")
        r.add("DELETE", auth + r"/roleAssignments/(?P<name>[^/]+)", self.delete_role_assignment,
              "/{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}", "write")

    @staticmethod
    def _bind(fn, kind):
        def bound(request, **params):
            return fn(request, kind, **params)
        return bound

    # ------------------------------------------------------------------ pipeline
    def __call__(self, request):
        if request.path.lower().startswith("/metadata/"):
            request.service = "metadata"
        handler, params = self.router.match(request)
        if handler is None:
            if params:  # the path exists with another method
                return arm_error(405, "MethodNotAllowed", "The requested resource does not support http method "
                                 "'%s'." % request.method)
            return arm_error(404, "InvalidResourceType", "The resource type could not be found in the namespace "
                             "for the path '%s'." % request.path)
        if request.method == "DELETE":
            request.kind = "write"
        if request.service == "metadata":
            return handler(request, **params)
        try:
            self._authenticate(request)
            self._check_subscription(request, params)
            self._check_api_version(request)
            throttled = self._throttle(request, params)
            if throttled is not None:
                return throttled
            response = handler(request, **params)
        except ArmError as exc:
            response = exc.response
        if request.principal is not None and self.world.settings.get("throttling"):
            kind = "delete" if request.method == "DELETE" else request.kind
            remaining = self.sim.throttle.remaining(request.principal["oid"],
                                                    getattr(request, "subscription", None) or "tenant", kind,
                                                    self.world.settings.get("throttle_limits"))
            response.headers.setdefault("x-ms-ratelimit-remaining-subscription-%ss" % kind, str(remaining))
        return response

    def _authenticate(self, request):
        header = request.headers.get("Authorization") or ""
        www = 'Bearer authorization_uri="%s/%s", error="invalid_token", error_description="%%s"' % (
            self.world.urls["login"], self.world.tenant_id)
        if not header:
            raise ArmError(arm_error(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' "
                                     "header is missing.", {"WWW-Authenticate": www % "The authentication failed "
                                                            "because of missing 'Authorization' header."}))
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ArmError(arm_error(401, "AuthenticationFailedInvalidHeader", "Authentication failed. The "
                                     "'Authorization' header is provided in an invalid format."))
        arm = self.world.urls["arm"]
        audiences = {self.world.settings["arm_audience"], self.world.settings["arm_audience"].rstrip("/"),
                     arm, arm + "/"}
        try:
            request.principal = self.world.signer.verify(token, audiences)
        except TokenError as exc:
            raise ArmError(arm_error(401, exc.code, exc.message, {"WWW-Authenticate": www % exc.message}))
        with self.world.lock:
            if request.principal["oid"] not in self.world.objects:
                raise ArmError(arm_error(401, "InvalidAuthenticationToken", "The principal of the access token "
                                         "no longer exists."))

    def _check_subscription(self, request, params):
        sub = params.get("sub")
        if sub is None:
            scope = params.get("scope") or ""
            found = re.match(r"^/subscriptions/([^/]+)", scope, re.I)
            sub = found.group(1) if found else None
        if sub is None:
            return
        if not GUID_RE.match(sub):
            _fail(400, "InvalidSubscriptionId", "The provided subscription identifier '%s' is malformed or "
                  "invalid." % sub)
        if sub.lower() not in self.world.subscriptions:
            _fail(404, "SubscriptionNotFound", "The subscription '%s' could not be found." % sub)
        request.subscription = sub.lower()

    def _api_family(self, request):
        path = request.path.lower()
        for marker, family in (("/microsoft.authorization/", "authorization"), ("/microsoft.compute/", "compute"),
                               ("/microsoft.managedidentity/", "msi"), ("/microsoft.sqlvirtualmachine/", "sqlvm"),
                               ("/microsoft.storage/", "storage"), ("/microsoft.recoveryservices/", "recoveryservices"),
                               ("/microsoft.dataprotection/", "dataprotection"), ("/microsoft.network/", "network")):
            if marker in path:
                return family
        return "resources"

    def _check_api_version(self, request):
        version = request.query_ci.get("api-version")
        if not version:
            _fail(400, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required "
                  "for all requests.")
        if "/operations/" in request.path.lower():
            return
        family = self._api_family(request)
        if version not in API_VERSIONS[family]:
            if not re.match(r"^\d{4}-\d{2}-\d{2}(-preview)?$", version):
                _fail(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions "
                      "are '%s'." % (version, ",".join(sorted(API_VERSIONS[family]))))
            match = re.search(r"/providers/([^/]+)/([^/]+)", request.path)
            rtype = match.group(2) if match else "resourceGroups"
            _fail(400, "NoRegisteredProviderFound", "No registered resource provider found for location "
                  "'westeurope' and API version '%s' for type '%s'. The supported api-versions are '%s'. The "
                  "supported locations are '%s'." % (version, rtype, ", ".join(sorted(API_VERSIONS[family])),
                                                     LOCATIONS.replace(",", ", ")))

    def _throttle(self, request, params):
        if not self.world.settings.get("throttling"):
            return None
        sub = getattr(request, "subscription", None) or "tenant"
        kind = "delete" if request.method == "DELETE" else request.kind
        wait = self.sim.throttle.take(request.principal["oid"], sub, kind, self.world.settings.get("throttle_limits"))
        if wait:
            return arm_error(429, "TooManyRequests", "The request is being throttled as the limit has been "
                             "reached for operation type - %s. For more information, refer to - "
                             "https://aka.ms/armthrottling" % {"read": "Read", "write": "Write",
                                                               "delete": "Delete"}[kind],
                             {"Retry-After": str(wait), "x-ms-ratelimit-remaining-subscription-%ss" % kind: "0"})
        return None

    def _authorize(self, request, action, scope, linked=None):
        """403 AuthorizationFailed unless the caller may perform `action` at `scope` (Azure RBAC)."""
        oid = request.principal["oid"]
        if not self.world.is_permitted(oid, action, scope):
            _fail(403, "AuthorizationFailed", "The client '%s' with object id '%s' does not have authorization to "
                  "perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, "
                  "please refresh your credentials." % (oid, oid, action, scope))
        for linked_action, linked_scope in linked or []:
            if not self.world.is_permitted(oid, linked_action, linked_scope):
                _fail(403, "LinkedAuthorizationFailed", "The client '%s' with object id '%s' has permission to "
                      "perform action '%s' on scope '%s'; however, it does not have permission to perform "
                      "action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are "
                      "invalid." % (oid, oid, action, scope, linked_action, linked_scope))

    def _rg(self, sub, rg):
        group = self.world.resource_groups.get((sub.lower(), rg.lower()))
        if group is None:
            _fail(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)
        return group

    def _body(self, request, required=True):
        try:
            body = request.json()
        except ValueError as exc:
            _fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                  "'%s'." % exc)
        if body is None and required:
            _fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                  "'The request body is empty.'.")
        if body is not None and not isinstance(body, dict):
            _fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                  "'Expected an object.'.")
        return body or {}

    def _page(self, request, items):
        size = int(self.world.settings.get("arm_page_size") or 100)
        skip = int(request.query_ci.get("$skiptoken") or 0)
        page = items[skip:skip + size]
        body = {"value": page}
        if skip + size < len(items):
            query = dict(request.query)
            for key in list(query):
                if key.lower() == "$skiptoken":
                    del query[key]
            query["$skipToken"] = str(skip + size)
            body["nextLink"] = "%s%s?%s" % (request.base_url, urllib.parse.quote(request.path),
                                            urllib.parse.urlencode(query))
        return Response(200, body)

    # ------------------------------------------------------------------ long-running operations
    def _start_operation(self, request, namespace, location, apply):
        """Creates an async operation; `apply()` runs now unless a fault says the LRO fails."""
        w = self.world
        fault = w.faults.take(request.service, request.method, request.path, want_lro=True)
        op_id = str(uuid.uuid4())
        final = fault.lro_status if fault else "Succeeded"
        error = None
        if final == "Failed":
            error = (fault.body or {}).get("error") if isinstance(fault.body, dict) else None
            error = error or {"code": "InternalServerError", "message": "The operation failed (injected)."}
        elif final == "Succeeded":
            apply()
        w.operations[op_id] = {"id": op_id, "final": final, "error": error, "start": time.time(),
                               "polls": int(w.settings.get("lro_polls", 1))}
        url = "%s/subscriptions/%s/providers/%s/locations/%s/operations/%s?api-version=%s" % (
            request.base_url, request.subscription, namespace, location, op_id, request.query_ci.get("api-version"))
        return {"Azure-AsyncOperation": url, "Retry-After": str(w.settings.get("lro_retry_after", 1))}

    def get_operation(self, request, sub, ns, loc, op):
        with self.world.lock:
            operation = self.world.operations.get(op)
            if operation is None:
                return arm_error(404, "OperationNotFound", "The operation '%s' was not found." % op)
            body = {"id": request.path, "name": op, "startTime": now_iso(operation["start"])}
            if operation["polls"] > 0:
                operation["polls"] -= 1
                body["status"] = "InProgress"
                return Response(200, body, {"Retry-After": str(self.world.settings.get("lro_retry_after", 1))})
            body["status"] = operation["final"]
            body["endTime"] = now_iso()
            if operation["error"]:
                body["error"] = operation["error"]
            return Response(200, body)

    # ------------------------------------------------------------------ metadata
    def metadata(self, request):
        version = request.query_ci.get("api-version")
        w = self.world
        arm, login, graph = w.urls["arm"], w.urls["login"], w.urls["graph"]
        audience = w.settings["arm_audience"]
        if version not in API_VERSIONS["metadata"]:
            return arm_error(400, "InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported "
                             "versions are '%s'." % (version, ",".join(sorted(API_VERSIONS["metadata"]))))
        if version == "2015-01-01":
            return Response(200, {"galleryEndpoint": "https://gallery.sim.test/", "graphEndpoint": graph + "/",
                                  "portalEndpoint": "https://portal.sim.test/",
                                  "authentication": {"loginEndpoint": login + "/", "audiences": [audience, arm + "/"]}})
        suffix = w.storage_suffix
        cloud = {
            "portal": "https://portal.sim.test", "name": w.settings["cloud_name"],
            "authentication": {"loginEndpoint": login + "/", "audiences": [audience, arm + "/"],
                               "tenant": "common", "identityProvider": "AAD"},
            "media": "https://rest.media.sim.test", "graphAudience": graph + "/", "graph": graph + "/",
            "suffixes": {"azureDataLakeStoreFileSystem": "azuredatalakestore.sim.test",
                         "acrLoginServer": "azurecr.sim.test", "sqlServerHostname": w.sql_suffix,
                         "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.sim.test",
                         "keyVaultDns": "vault.sim.test", "storage": suffix,
                         "azureFrontDoorEndpointSuffix": "azurefd.sim.test",
                         "storageSyncEndpointSuffix": "afs.sim.test", "mhsmDns": "managedhsm.sim.test",
                         "mysqlServerEndpoint": "mysql.database.sim.test",
                         "postgresqlServerEndpoint": "postgres.database.sim.test",
                         "synapseAnalytics": "dev.azuresynapse.sim.test",
                         "attestationEndpoint": "attest.sim.test"},
            "batch": "https://batch.core.sim.test/", "resourceManager": arm + "/",
            "vmImageAliasDoc": arm + "/metadata/vmImageAliasDoc.json", "activeDirectoryDataLake": "https://datalake.sim.test/",
            "sqlManagement": "https://management.core.sim.test:8443/", "gallery": "https://gallery.sim.test/",
            "microsoftGraphResourceId": graph + "/", "appInsightsResourceId": "https://api.applicationinsights.sim.test",
            "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.sim.test/v2/track",
            "attestationResourceId": "https://attest.sim.test", "synapseAnalyticsResourceId": "https://dev.azuresynapse.sim.test",
            "logAnalyticsResourceId": "https://api.loganalytics.sim.test", "ossrDbmsResourceId": "https://ossrdbms-aad.database.sim.test",
        }
        if version == "2022-09-01":
            return Response(200, cloud)
        return Response(200, [cloud])

    # ------------------------------------------------------------------ subscriptions / groups
    def list_subscriptions(self, request):
        w = self.world
        oid = request.principal["oid"]
        subs = [self._subscription_body(s) for s in w.subscriptions.values()
                if any(scope_covers(a["scope"], "/subscriptions/" + s["id"]) or
                       scope_covers("/subscriptions/" + s["id"], a["scope"]) for a in w.assignments_for(oid))]
        return self._page(request, subs)

    def _subscription_body(self, s):
        return {"id": "/subscriptions/" + s["id"], "authorizationSource": "RoleBased", "managedByTenants": [],
                "subscriptionId": s["id"], "tenantId": self.world.tenant_id, "displayName": s["name"],
                "state": "Enabled", "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                    "spendingLimit": "Off"}}

    def get_subscription(self, request, sub):
        self._authorize(request, "Microsoft.Resources/subscriptions/read", "/subscriptions/" + sub)
        return Response(200, self._subscription_body(self.world.subscriptions[sub.lower()]))

    def get_resource_group(self, request, sub, rg):
        group = self._rg(sub, rg)
        rid = rg_id(sub.lower(), group["name"])
        self._authorize(request, "Microsoft.Resources/subscriptions/resourceGroups/read", rid)
        return Response(200, {"id": rid, "name": group["name"], "type": "Microsoft.Resources/resourceGroups",
                              "location": group["location"], "properties": {"provisioningState": "Succeeded"}})

    # ------------------------------------------------------------------ identities (shared)
    def _identity_body(self, ident, compact_type=False):
        w = self.world
        kind = ident.type_string()
        if kind == "None":
            return None
        if compact_type:
            kind = kind.replace(", ", ",")
        body = {"type": kind}
        if ident.system_principal:
            body["principalId"] = ident.system_principal
            body["tenantId"] = w.tenant_id
        if ident.user:
            users = {}
            for rid_lower, rid in ident.user.items():
                uami = w.uamis.get(rid_lower)
                users[rid] = {"principalId": uami["principal_id"], "clientId": uami["client_id"]} if uami else {}
            body["userAssignedIdentities"] = users
        return body

    def _plan_identity(self, request, resource, spec, is_put):
        """Validates an identity in a request body; returns (apply(), linked checks)."""
        w = self.world
        if not isinstance(spec, dict):
            _fail(400, "InvalidParameter", "The value of parameter identity is invalid.")
        kind = _norm_identity_type(spec.get("type"))
        if kind is False or kind is None:
            _fail(400, "InvalidIdentityType" if kind is False else "InvalidParameter",
                  "The identity type '%s' is invalid. Allowed values are 'SystemAssigned', 'UserAssigned', "
                  "'SystemAssigned, UserAssigned' and 'None'." % spec.get("type"))
        ident = resource["identity"]
        users = spec.get("userAssignedIdentities")
        if users is not None and not isinstance(users, dict):
            _fail(400, "InvalidParameter", "The value of parameter identity.userAssignedIdentities is invalid.")
        wants_user = "UserAssigned" in kind
        if users and not wants_user:
            _fail(400, "InvalidParameter", "The identity type '%s' does not allow userAssignedIdentities; use "
                  "'UserAssigned' or 'SystemAssigned, UserAssigned'." % kind)
        new_users = dict(ident.user) if (wants_user and not is_put) else {}
        linked = []
        for rid, value in (users or {}).items():
            if not re.match(r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/"
                            r"userAssignedIdentities/[^/]+$", rid, re.I):
                _fail(400, "InvalidIdentityValues", "Invalid value for the identities '%s'. The "
                      "'UserAssignedIdentities' property keys should only be empty json objects, null or the "
                      "resource exisiting property." % rid)
            if value is None:
                new_users.pop(rid.lower(), None)
                continue
            uami = w.uamis.get(rid.lower())
            if uami is None:
                _fail(400, "FailedIdentityOperation", "Identity operation for resource '%s' failed with error "
                      "'Failed to perform resource identity operation. Status: 'NotFound'. Response: "
                      "'{\"error\":{\"code\":\"ResourceNotFound\",\"message\":\"The Resource "
                      "'Microsoft.ManagedIdentity/userAssignedIdentities/%s' was not found.\"}}'.'." % (
                          resource["id"], rid.rsplit("/", 1)[-1]))
            if rid.lower() not in ident.user:
                linked.append(("Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", uami["id"]))
            new_users[rid.lower()] = uami["id"]
        if wants_user and not new_users:
            _fail(400, "InvalidParameter", "The identity type '%s' requires at least one user-assigned identity "
                  "in 'userAssignedIdentities'." % kind)

        def apply():
            if "SystemAssigned" in kind:
                w.enable_system_identity(resource)
            else:
                w.disable_system_identity(resource)
            ident.user = new_users if wants_user else {}
        return apply, linked

    # ------------------------------------------------------------------ virtual machines
    def _vm_or_404(self, sub, rg, name):
        self._rg(sub, rg)
        vm = self.world.vms.get(("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/"
                                 "virtualMachines/%s" % (sub, rg, name)).lower())
        if vm is None:
            raise ArmError(not_found("Microsoft.Compute/virtualMachines", name, rg))
        return vm

    def _vm_body(self, vm):
        windows = vm["os_type"] == "Windows"
        sql = vm["sql"] or {}
        major = (sql.get("version") or "16").split(".")[0]
        offer = {"15": "sql2019-ws2022", "16": "sql2022-ws2022", "17": "sql2025-ws2025"}.get(major, "sql2022-ws2022")
        if not windows:
            offer = "sql2022-ubuntupro2004"
        prefix = vm["id"].rsplit("/providers/", 1)[0]
        body = {
            "name": vm["name"], "id": vm["id"], "type": "Microsoft.Compute/virtualMachines",
            "location": vm["location"], "tags": vm["tags"],
            "properties": {
                "vmId": vm["vm_id"], "hardwareProfile": {"vmSize": vm["size"]},
                "storageProfile": {
                    "imageReference": {"publisher": "MicrosoftSQLServer" if sql else "MicrosoftWindowsServer",
                                       "offer": offer if sql else "WindowsServer",
                                       "sku": "enterprise-gen2" if sql else "2022-datacenter-azure-edition",
                                       "version": "latest", "exactVersion": "16.0.250101"},
                    "osDisk": {"osType": vm["os_type"], "name": vm["name"] + "_OsDisk_1", "createOption": "FromImage",
                               "caching": "ReadWrite", "deleteOption": "Delete", "diskSizeGB": 127,
                               "managedDisk": {"storageAccountType": "Premium_LRS",
                                               "id": prefix + "/providers/Microsoft.Compute/disks/" + vm["name"] + "_OsDisk_1"}},
                    "dataDisks": []},
                "osProfile": dict({"computerName": vm["name"][:15], "adminUsername": "azureadmin", "secrets": [],
                                   "allowExtensionOperations": True, "requireGuestProvisionSignal": True},
                                  **({"windowsConfiguration": {"provisionVMAgent": True, "enableAutomaticUpdates": True,
                                                               "patchSettings": {"patchMode": "AutomaticByOS",
                                                                                 "assessmentMode": "ImageDefault"}}}
                                     if windows else
                                     {"linuxConfiguration": {"disablePasswordAuthentication": True,
                                                             "provisionVMAgent": True}})),
                "networkProfile": {"networkInterfaces": [
                    {"id": prefix + "/providers/Microsoft.Network/networkInterfaces/" + vm["name"] + "-nic"}]},
                "provisioningState": vm.get("provisioning", "Succeeded"),
                "timeCreated": "2025-01-15T10:00:00.0000000+00:00",
            },
        }
        identity = self._identity_body(vm["identity"])
        if identity:
            body["identity"] = identity
        return body

    def list_vms(self, request, sub, rg=None):
        w = self.world
        scope = rg_id(sub, rg) if rg else "/subscriptions/" + sub
        if rg:
            self._rg(sub, rg)
        self._authorize(request, "Microsoft.Compute/virtualMachines/read", scope)
        with w.lock:
            items = [self._vm_body(vm) for vm in w.vms.values() if scope_covers(scope, vm["id"])]
        return self._page(request, items)

    def get_vm(self, request, sub, rg, name):
        vm = self._vm_or_404(sub, rg, name)
        self._authorize(request, "Microsoft.Compute/virtualMachines/read", vm["id"])
        expand = (request.query_ci.get("$expand") or "").strip()
        if expand and expand.lower() not in ("instanceview", "userdata", "resiliencypolicy"):
            # InstanceViewTypes of the spec: instanceView | userData | resiliencyPolicy
            _fail(400, "InvalidParameter", "The value '%s' of parameter '$expand' is not valid. Allowed values are "
                  "'instanceView', 'userData', 'resiliencyPolicy'." % expand)
        with self.world.lock:
            body = self._vm_body(vm)
            if expand.lower() == "instanceview":
                body["properties"]["instanceView"] = self._vm_instance_view(vm)
            return Response(200, body)

    def get_vm_instance_view(self, request, sub, rg, name):
        vm = self._vm_or_404(sub, rg, name)
        self._authorize(request, "Microsoft.Compute/virtualMachines/read", vm["id"])
        with self.world.lock:
            return Response(200, self._vm_instance_view(vm))

    def _vm_instance_view(self, vm):
        """VirtualMachineInstanceView (virtualMachine.json; example VirtualMachine_Get_InstanceView.json):
        statuses = ProvisioningState/<state> + PowerState/<running|stopped|deallocated>. What the guest agent
        reports (computerName, osName, osVersion, vmAgent) is there while the VM runs; a stopped VM keeps an
        unresponsive agent, a deallocated one reports none of it."""
        windows = vm["os_type"] == "Windows"
        power = vm.get("power_state", "running")
        provisioning = vm.get("provisioning", "Succeeded")
        view = {
            "hyperVGeneration": "V2",
            "disks": [{"name": vm["name"] + "_OsDisk_1", "statuses": [_status(
                "ProvisioningState/succeeded", "Provisioning succeeded", time="2025-01-15T10:00:41.9876543+00:00")]}],
            "isVMInStandbyPool": False,
            "statuses": [
                _status("ProvisioningState/" + provisioning.lower(), "Provisioning " + provisioning.lower(),
                        time="2025-01-15T10:04:12.1234567+00:00"),
                _status("PowerState/" + power, "VM " + power),
            ],
        }
        if power == "deallocated":
            return view
        major = ((vm["sql"] or {}).get("version") or "16").split(".")[0]
        if windows:
            os_name, os_version = (("Windows Server 2025 Datacenter", "Microsoft Windows NT 10.0.26100.0")
                                   if major == "17" else
                                   ("Windows Server 2022 Datacenter", "Microsoft Windows NT 10.0.20348.0"))
            agent_version = "2.7.41491.1130"
        else:
            os_name, os_version, agent_version = "ubuntu", "20.04", "2.11.1.12"
        handlers = []
        if vm.get("sql_vm_id"):
            # the SQL IaaS Agent extension that registration with the SQL IaaS Agent installs
            handlers.append({"type": "Microsoft.SqlServer.Management.SqlIaaSAgent" if windows else
                             "Microsoft.SqlServer.Management.SqlIaaSAgentLinux", "typeHandlerVersion": "2.0",
                             "status": _status("ProvisioningState/succeeded", "Ready")})
        if power == "running":
            agent_status = _status("ProvisioningState/succeeded", "Ready",
                                   message="GuestAgent is running and processing the extensions.",
                                   time="2025-01-15T10:06:30+00:00")
        else:
            agent_status = _status("ProvisioningState/Unavailable", "Not Ready", level="Warning",
                                   message="VM Agent is unresponsive.", time="2025-01-15T10:06:30+00:00")
        view.update({"platformUpdateDomain": 0, "platformFaultDomain": 0, "computerName": vm["name"][:15], "osName": os_name, "osVersion": os_version,
                     "vmAgent": {"vmAgentVersion": agent_version, "statuses": [agent_status],
                                 "extensionHandlers": handlers}})
        return view

    def update_vm(self, request, sub, rg, name):
        w = self.world
        vm = self._vm_or_404(sub, rg, name)
        body = self._body(request)
        is_put = request.method == "PUT"
        if is_put and not body.get("location"):
            _fail(400, "LocationRequired", "The location property is required for this definition.")
        if is_put and body["location"].replace(" ", "").lower() != vm["location"].lower():
            _fail(400, "InvalidParameter", "The location '%s' of the resource does not match the existing "
                  "location '%s'." % (body["location"], vm["location"]))
        with w.lock:
            apply_identity, linked = (None, [])
            if "identity" in body and body["identity"] is not None:
                apply_identity, linked = self._plan_identity(request, vm, body["identity"], is_put)
            self._authorize(request, "Microsoft.Compute/virtualMachines/write", vm["id"], linked)
            props = body.get("properties") or {}
            size = (props.get("hardwareProfile") or {}).get("vmSize")

            def apply():
                if apply_identity:
                    apply_identity()
                if size:
                    vm["size"] = size
                if "tags" in body and isinstance(body["tags"], dict):
                    vm["tags"] = dict(body["tags"])
            headers = self._start_operation(request, "Microsoft.Compute", vm["location"], apply)
            result = self._vm_body(vm)
            result["properties"]["provisioningState"] = "Updating"
        return Response(200, result, headers)

    # ------------------------------------------------------------------ user-assigned identities
    def _uami_body(self, uami):
        return {"id": uami["id"], "name": uami["name"], "type": "Microsoft.ManagedIdentity/userAssignedIdentities",
                "location": uami["location"], "tags": uami["tags"],
                "properties": {"tenantId": self.world.tenant_id, "principalId": uami["principal_id"],
                               "clientId": uami["client_id"], "isolationScope": "None"}}

    def list_uamis(self, request, sub, rg=None):
        w = self.world
        scope = rg_id(sub, rg) if rg else "/subscriptions/" + sub
        if rg:
            self._rg(sub, rg)
        self._authorize(request, "Microsoft.ManagedIdentity/userAssignedIdentities/read", scope)
        with w.lock:
            items = [self._uami_body(u) for u in w.uamis.values() if scope_covers(scope, u["id"])]
        return self._page(request, items)

    def _uami_id(self, sub, rg, name):
        return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/userAssignedIdentities/%s"
                % (sub, rg, name))

    def get_uami(self, request, sub, rg, name):
        self._rg(sub, rg)
        uami = self.world.uamis.get(self._uami_id(sub, rg, name).lower())
        if uami is None:
            return not_found("Microsoft.ManagedIdentity/userAssignedIdentities", name, rg)
        self._authorize(request, "Microsoft.ManagedIdentity/userAssignedIdentities/read", uami["id"])
        return Response(200, self._uami_body(uami))

    def put_uami(self, request, sub, rg, name):
        w = self.world
        group = self._rg(sub, rg)
        body = self._body(request)
        rid = self._uami_id(sub.lower(), group["name"], name)
        self._authorize(request, "Microsoft.ManagedIdentity/userAssignedIdentities/write", rid)
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$", name):
            _fail(400, "InvalidResourceName", "Resource name %s is invalid. The name can be 3-128 characters "
                  "long, start with a letter or number, and contain letters, numbers, hyphens and underscores." % name)
        with w.lock:
            uami = w.uamis.get(rid.lower())
            if uami is None:
                if request.method == "PATCH":
                    return not_found("Microsoft.ManagedIdentity/userAssignedIdentities", name, rg)
                if not body.get("location"):
                    _fail(400, "LocationRequired", "The location property is required for this definition.")
                uami = w.create_uami(sub.lower(), group["name"], name, body["location"], body.get("tags"))
                return Response(201, self._uami_body(uami))
            if isinstance(body.get("tags"), dict):
                uami["tags"] = dict(body["tags"])
            return Response(200, self._uami_body(uami))

    def delete_uami(self, request, sub, rg, name):
        w = self.world
        self._rg(sub, rg)
        rid = self._uami_id(sub, rg, name)
        self._authorize(request, "Microsoft.ManagedIdentity/userAssignedIdentities/delete", rid)
        with w.lock:
            uami = w.uamis.pop(rid.lower(), None)
            if uami is None:
                return Response(204)
            w.objects.pop(uami["principal_id"], None)
            w.sp_by_app.pop(uami["client_id"], None)
            return Response(200)

    # ------------------------------------------------------------------ SQL virtual machines
    def _sql_vm_id(self, sub, rg, name):
        return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines/%s"
                % (sub, rg, name))

    # The SQL IaaS settings a SQL VM resource returns only when a GET asks for them with $expand (azure-cli
    # `az sql vm show --expand`, whose choices are these, src/azure-cli/azure/cli/command_modules/sqlvm/_params.py;
    # the spec's GET takes $expand, "the child resources to include in the response", and its example without
    # it, GetSqlVirtualMachine.json, has none of them). The list operations take no $expand and never return them
    # (ListSubscriptionSqlVirtualMachine.json, ListByResourceGroupSqlVirtualMachine.json).
    EXPAND_ONLY_SETTINGS = ("autoBackupSettings", "autoPatchingSettings", "keyVaultCredentialSettings",
                            "serverConfigurationsManagementSettings", "assessmentSettings")

    def _expanded_settings(self, request):
        """The expand-only settings a GET asked for: $expand=* for all, else a comma-separated list of names."""
        wanted = {part.strip().lower() for part in (request.query_ci.get("$expand") or "").split(",") if part.strip()}
        if "*" in wanted:
            return set(self.EXPAND_ONLY_SETTINGS)
        return {name for name in self.EXPAND_ONLY_SETTINGS if name.lower() in wanted}

    def _sql_vm_body(self, sql_vm, expanded=EXPAND_ONLY_SETTINGS):
        props = copy.deepcopy(sql_vm["properties"])
        for name in self.EXPAND_ONLY_SETTINGS:
            if name not in expanded:
                props.pop(name, None)
        props["provisioningState"] = sql_vm.get("provisioning", "Succeeded")
        return {"id": sql_vm["id"], "name": sql_vm["name"], "type": "Microsoft.SqlVirtualMachine/sqlVirtualMachines",
                "location": sql_vm["location"], "tags": sql_vm["tags"], "properties": props,
                "systemData": {"createdBy": "sim", "createdByType": "Application",
                               "createdAt": "2025-01-15T10:00:00Z", "lastModifiedAt": now_iso()}}

    def list_sql_vms(self, request, sub, rg=None):
        w = self.world
        scope = rg_id(sub, rg) if rg else "/subscriptions/" + sub
        if rg:
            self._rg(sub, rg)
        self._authorize(request, "Microsoft.SqlVirtualMachine/sqlVirtualMachines/read", scope)
        with w.lock:
            items = [self._sql_vm_body(s, expanded=()) for s in w.sqlvm_resources.values()
                     if scope_covers(scope, s["id"])]
        return self._page(request, items)

    def get_sql_vm(self, request, sub, rg, name):
        self._rg(sub, rg)
        sql_vm = self.world.sqlvm_resources.get(self._sql_vm_id(sub, rg, name).lower())
        if sql_vm is None:
            return not_found("Microsoft.SqlVirtualMachine/sqlVirtualMachines", name, rg)
        self._authorize(request, "Microsoft.SqlVirtualMachine/sqlVirtualMachines/read", sql_vm["id"])
        with self.world.lock:
            return Response(200, self._sql_vm_body(sql_vm, expanded=self._expanded_settings(request)))

    def put_sql_vm(self, request, sub, rg, name):
        w = self.world
        group = self._rg(sub, rg)
        body = self._body(request)
        rid = self._sql_vm_id(sub.lower(), group["name"], name)
        self._authorize(request, "Microsoft.SqlVirtualMachine/sqlVirtualMachines/write", rid)
        if not body.get("location"):
            _fail(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties")
        if not isinstance(props, dict):
            _fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                  "'Required property 'properties' not found in JSON.'.")
        with w.lock:
            sql_vm = w.sqlvm_resources.get(rid.lower())
            vm_rid = props.get("virtualMachineResourceId") or (sql_vm or {}).get("properties", {}).get(
                "virtualMachineResourceId")
            if not vm_rid:
                _fail(400, "VmResourceIdMissing", "The virtualMachineResourceId property is required.")
            vm = w.vms.get(vm_rid.lower())
            if vm is None or vm["name"].lower() != name.lower():
                _fail(400, "VmNotFound" if vm is None else "SqlVmNameMismatch",
                      "The virtual machine '%s' was not found, or its name differs from the SQL virtual machine "
                      "name '%s'." % (vm_rid, name))
            if not vm["sql"]:
                _fail(400, "SqlServerNotInstalled", "SQL Server was not found on virtual machine '%s'. Install "
                      "SQL Server before registering with the SQL IaaS Agent extension." % vm["name"])
            if sql_vm is not None and body["location"].replace(" ", "").lower() != sql_vm["location"].lower():
                _fail(400, "InvalidParameter", "The location '%s' does not match the existing location '%s'." % (
                    body["location"], sql_vm["location"]))
            current_props = copy.deepcopy(sql_vm["properties"]) if sql_vm else None
            new_settings = props.get("serverConfigurationsManagementSettings") or {}
            current_settings = (current_props or {}).get("serverConfigurationsManagementSettings") or {}
            aad_current = current_settings.get("azureAdAuthenticationSettings")
            aad_requested = new_settings.get("azureAdAuthenticationSettings", "absent") \
                if isinstance(new_settings, dict) else "absent"
            aad_new = aad_current
            if aad_requested != "absent":
                aad_new = self._check_entra_auth(vm, aad_current, aad_requested)

            def apply():
                target = w.sqlvm_resources.get(rid.lower())
                if target is None:
                    w._load_sql_vm(vm, {"name": vm["name"], "entra_auth": "none"})
                    target = w.sqlvm_resources[rid.lower()]
                    target["location"] = body["location"]
                tprops = target["properties"]
                for key in ("sqlServerLicenseType", "sqlManagement", "leastPrivilegeMode", "sqlImageSku",
                            "enableAutomaticUpgrade"):
                    if key in props:
                        tprops[key] = props[key]
                settings = tprops.setdefault("serverConfigurationsManagementSettings", {})
                for key, value in new_settings.items():
                    if key != "azureAdAuthenticationSettings" and isinstance(value, dict):
                        settings[key] = value
                if aad_new is not None:
                    settings["azureAdAuthenticationSettings"] = aad_new
                if isinstance(body.get("tags"), dict):
                    target["tags"] = dict(body["tags"])
            created = sql_vm is None
            headers = self._start_operation(request, "Microsoft.SqlVirtualMachine", vm["location"], apply)
            target = w.sqlvm_resources.get(rid.lower())
            if target is not None:
                result = self._sql_vm_body(target)
            else:  # the operation failed before anything was created
                result = {"id": rid, "name": name, "type": "Microsoft.SqlVirtualMachine/sqlVirtualMachines",
                          "location": body["location"], "properties": dict(props)}
            result["properties"]["provisioningState"] = "Creating" if created else "Updating"
        return Response(201 if created else 200, result, headers)

    def _check_entra_auth(self, vm, current, requested):
        """The SQL IaaS Agent resource provider's rules for Microsoft Entra authentication
        (learn.microsoft.com/azure/azure-sql/virtual-machines/windows/configure-azure-ad-authentication-for-sql-vm):
        Windows only, SQL Server 2022 CU17+ or later (seed 002), not a failover cluster instance, the
        identity must be on the VM, and once enabled it cannot be disabled."""
        enabled = current is not None and current.get("clientId") is not None
        if requested is None or not isinstance(requested, dict) or requested.get("clientId") is None:
            if enabled:
                _fail(400, "AzureAdAuthenticationCannotBeDisabled", "Microsoft Entra authentication is enabled "
                      "on SQL virtual machine '%s' and cannot be disabled." % vm["name"])
            return current
        client_id = requested["clientId"]
        if client_id != "" and not GUID_RE.match(str(client_id)):
            _fail(400, "InvalidAzureAdAuthenticationClientId", "The clientId '%s' is not valid: use an empty "
                  "string for the system-assigned identity or the client id of a user-assigned identity." % client_id)
        if vm["os_type"] != "Windows":
            _fail(400, "AzureAdAuthenticationNotSupportedOnLinux", "Microsoft Entra authentication for SQL Server "
                  "on Azure VMs is supported on Windows only.")
        version = parse_version(vm["sql"]["version"])
        if version[0] < 16 or (version[0] == 16 and version < MIN_SQL_2022):
            _fail(400, "AzureAdAuthenticationNotSupportedForSqlVersion", "Microsoft Entra authentication requires "
                  "SQL Server 2022 CU17 (16.0.4175.1) or later; the installed version is %s." % vm["sql"]["version"])
        if vm["sql"].get("clustered"):
            _fail(400, "AzureAdAuthenticationNotSupportedForFci", "Microsoft Entra authentication is not "
                  "supported for failover cluster instances.")
        ident = vm["identity"]
        if client_id == "":
            if not ident.system_principal:
                _fail(400, "SystemAssignedIdentityNotEnabled", "The virtual machine '%s' has no system-assigned "
                      "managed identity. Enable it, or pass the client id of a user-assigned identity attached "
                      "to the VM." % vm["name"])
        else:
            attached = [self.world.uamis[r]["client_id"].lower() for r in ident.user if r in self.world.uamis]
            if client_id.lower() not in attached:
                _fail(400, "UserAssignedIdentityNotAttached", "The managed identity with client id '%s' is not "
                      "assigned to virtual machine '%s'." % (client_id, vm["name"]))
        return {"clientId": client_id}

    def patch_sql_vm(self, request, sub, rg, name):
        # SqlVirtualMachineUpdate carries only tags; any other property in a PATCH body is ignored.
        w = self.world
        self._rg(sub, rg)
        body = self._body(request)
        with w.lock:
            sql_vm = w.sqlvm_resources.get(self._sql_vm_id(sub, rg, name).lower())
            if sql_vm is None:
                return not_found("Microsoft.SqlVirtualMachine/sqlVirtualMachines", name, rg)
            self._authorize(request, "Microsoft.SqlVirtualMachine/sqlVirtualMachines/write", sql_vm["id"])

            def apply():
                if isinstance(body.get("tags"), dict):
                    sql_vm["tags"] = dict(body["tags"])
            headers = self._start_operation(request, "Microsoft.SqlVirtualMachine", sql_vm["location"], apply)
            result = self._sql_vm_body(sql_vm)
            result["properties"]["provisioningState"] = "Updating"
        return Response(200, result, headers)

    # ------------------------------------------------------------------ storage
    def _storage_body(self, account):
        suffix = self.world.storage_suffix
        endpoints = {kind: "https://%s.%s.%s/" % (account["name"], kind, suffix)
                     for kind in ("blob", "queue", "table", "file", "dfs", "web")}
        body = {"sku": {"name": "Standard_LRS", "tier": "Standard"}, "kind": "StorageV2", "id": account["id"],
                "name": account["name"], "type": "Microsoft.Storage/storageAccounts", "location": account["location"],
                "tags": {}, "properties": {
                    "provisioningState": "Succeeded", "primaryEndpoints": endpoints,
                    "primaryLocation": account["location"], "statusOfPrimary": "available",
                    "creationTime": "2025-01-15T10:00:00.0000000Z", "allowBlobPublicAccess": False,
                    "allowSharedKeyAccess": True, "minimumTlsVersion": "TLS1_2", "supportsHttpsTrafficOnly": True,
                    "accessTier": "Hot", "networkAcls": {
                        "bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"},
                    "encryption": {"services": {"blob": {"keyType": "Account", "enabled": True},
                                                "file": {"keyType": "Account", "enabled": True}},
                                   "keySource": "Microsoft.Storage", "requireInfrastructureEncryption": False}}}
        # networkAcls, publicNetworkAccess, privateEndpointConnections from the scenario (network_security.py)
        body["properties"].update(self.network_security.model().storage_properties(account["name"]))
        return body

    def _account(self, sub, rg, name):
        self._rg(sub, rg)
        account = self.world.storage.get(name)
        if account is None or account["resource_group"].lower() != rg.lower() or \
                account["subscription"] != sub.lower():
            raise ArmError(not_found("Microsoft.Storage/storageAccounts", name, rg))
        return account

    def list_storage(self, request, sub, rg=None):
        w = self.world
        scope = rg_id(sub, rg) if rg else "/subscriptions/" + sub
        if rg:
            self._rg(sub, rg)
        self._authorize(request, "Microsoft.Storage/storageAccounts/read", scope)
        items = [self._storage_body(a) for a in w.storage.values() if scope_covers(scope, a["id"])]
        return self._page(request, items)

    def get_storage(self, request, sub, rg, name):
        account = self._account(sub, rg, name)
        self._authorize(request, "Microsoft.Storage/storageAccounts/read", account["id"])
        return Response(200, self._storage_body(account))

    def _container_body(self, account, name, info):
        return {"id": account["id"] + "/blobServices/default/containers/" + name, "name": name,
                "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
                "etag": '"0x8DC%012X"' % (abs(hash(name)) % (1 << 48)),
                "properties": {"publicAccess": "None", "leaseStatus": "Unlocked", "leaseState": "Available",
                               "lastModifiedTime": now_iso(info["created"]), "hasImmutabilityPolicy": False,
                               "hasLegalHold": False, "deleted": False, "remainingRetentionDays": 0,
                               "defaultEncryptionScope": "$account-encryption-key",
                               "denyEncryptionScopeOverride": False}}

    def list_containers(self, request, sub, rg, name):
        account = self._account(sub, rg, name)
        self._authorize(request, catalog.BLOB + "/read", account["id"])
        items = [self._container_body(account, c, info) for c, info in sorted(account["containers"].items())]
        return self._page(request, items)

    def get_container(self, request, sub, rg, name, container):
        account = self._account(sub, rg, name)
        cid = account["id"] + "/blobServices/default/containers/" + container
        self._authorize(request, catalog.BLOB + "/read", cid)
        info = account["containers"].get(container)
        if info is None:
            return arm_error(404, "ContainerNotFound", "The specified container does not exist.")
        return Response(200, self._container_body(account, container, info))

    # ------------------------------------------------------------------ lifecycle management policies
    def _policy_account(self, request, sub, rg, name, policy, action):
        account = self._account(sub, rg, name)
        if policy != "default":
            _fail(400, "InvalidManagementPolicyName", "The management policy name '%s' is invalid; it must be "
                  "'default'." % policy)
        self._authorize(request, "Microsoft.Storage/storageAccounts/managementPolicies/" + action, account["id"])
        return account

    def get_management_policy(self, request, sub, rg, name, policy):
        account = self._policy_account(request, sub, rg, name, policy, "read")
        with self.world.lock:
            if not account.get("management_policy"):
                return arm_error(404, "ManagementPolicyNotFound", "No ManagementPolicy found for account %s."
                                 % account["name"])
            return Response(200, lifecycle.policy_body(account))

    def put_management_policy(self, request, sub, rg, name, policy):
        account = self._policy_account(request, sub, rg, name, policy, "write")
        body = self._body(request)
        problem = lifecycle.policy_problem(body)
        if problem:
            _fail(400, "InvalidManagementPolicy", problem)
        with self.world.lock:
            lifecycle.store(account, body)
            return Response(200, lifecycle.policy_body(account))

    def delete_management_policy(self, request, sub, rg, name, policy):
        account = self._policy_account(request, sub, rg, name, policy, "delete")
        with self.world.lock:
            existed = bool(account.pop("management_policy", None))
        return Response(200 if existed else 204, None)

    # ------------------------------------------------------------------ vaults
    def _vault_store(self, kind):
        return self.world.vaults if kind == "rsv" else self.world.backup_vaults

    def _vault_body(self, kind, vault):
        identity = self._identity_body(vault["identity"], compact_type=(kind == "bv"))
        if kind == "rsv":
            body = {"location": vault["location"], "name": vault["name"], "id": vault["id"],
                    "type": "Microsoft.RecoveryServices/vaults", "tags": vault["tags"], "etag": 'W/"datetime\'1\'"',
                    "sku": {"name": "Standard"},
                    "properties": {"provisioningState": "Succeeded", "privateEndpointStateForBackup": "None",
                                   "privateEndpointStateForSiteRecovery": "None", "publicNetworkAccess": "Enabled",
                                   "redundancySettings": {"standardTierStorageRedundancy": "GeoRedundant",
                                                          "crossRegionRestore": "Disabled"},
                                   "secureScore": "None", "bcdrSecurityLevel": "Poor",
                                   "securitySettings": {"softDeleteSettings": {"softDeleteRetentionPeriodInDays": 14,
                                                                               "softDeleteState": "Enabled",
                                                                               "enhancedSecurityState": "Enabled"}}}}
        else:
            body = {"id": vault["id"], "name": vault["name"], "type": "Microsoft.DataProtection/backupVaults",
                    "location": vault["location"], "tags": vault["tags"], "eTag": str(uuid.uuid5(uuid.NAMESPACE_URL, vault["id"])),
                    "properties": {"provisioningState": "Succeeded", "resourceMoveState": "Unknown",
                                   "storageSettings": [{"datastoreType": "VaultStore", "type": "LocallyRedundant"}],
                                   "isVaultProtectedByResourceGuard": False, "secureScore": "None",
                                   "bcdrSecurityLevel": "Poor",
                                   "securitySettings": {"softDeleteSettings": {"state": "On",
                                                                               "retentionDurationInDays": 14.0}},
                                   "featureSettings": {"crossSubscriptionRestoreSettings": {"state": "Enabled"}},
                                   "replicatedRegions": []}}
        body["identity"] = identity or {"type": "None"}
        return body

    def _vault(self, kind, sub, rg, name):
        self._rg(sub, rg)
        rtype = "Microsoft.RecoveryServices/vaults" if kind == "rsv" else "Microsoft.DataProtection/backupVaults"
        vault = self._vault_store(kind).get(("/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (
            sub, rg, rtype, name)).lower())
        if vault is None:
            raise ArmError(not_found(rtype, name, rg))
        return vault

    def list_vaults(self, request, kind, sub, rg):
        self._rg(sub, rg)
        scope = rg_id(sub, rg)
        rtype = "Microsoft.RecoveryServices/vaults" if kind == "rsv" else "Microsoft.DataProtection/backupVaults"
        self._authorize(request, rtype + "/read", scope)
        items = [self._vault_body(kind, v) for v in self._vault_store(kind).values() if scope_covers(scope, v["id"])]
        return self._page(request, items)

    def get_vault(self, request, kind, sub, rg, name):
        vault = self._vault(kind, sub, rg, name)
        self._authorize(request, vault["type"] + "/read", vault["id"])
        with self.world.lock:
            return Response(200, self._vault_body(kind, vault))

    def patch_vault(self, request, kind, sub, rg, name):
        w = self.world
        vault = self._vault(kind, sub, rg, name)
        body = self._body(request)
        with w.lock:
            apply_identity, linked = (None, [])
            if body.get("identity") is not None:
                apply_identity, linked = self._plan_identity(request, vault, body["identity"], False)
            self._authorize(request, vault["type"] + "/write", vault["id"], linked)

            def apply():
                if apply_identity:
                    apply_identity()
                if isinstance(body.get("tags"), dict):
                    vault["tags"] = dict(body["tags"])
            ns = vault["type"].split("/")[0]
            headers = self._start_operation(request, ns, vault["location"], apply)
            if kind == "bv":
                headers["Location"] = headers["Azure-AsyncOperation"]
                return Response(202, None, headers)
            return Response(200, self._vault_body(kind, vault), headers)

    # ------------------------------------------------------------------ role definitions
    def _role_definition_body(self, scope, role_id):
        name, description, actions, not_actions, data_actions, not_data = catalog.AZURE_ROLES[role_id]
        return {"properties": {"roleName": name, "type": "BuiltInRole", "description": description,
                               "assignableScopes": ["/"],
                               "permissions": [{"actions": actions, "notActions": not_actions,
                                                "dataActions": data_actions, "notDataActions": not_data}],
                               "createdOn": "2015-02-02T21:55:09.8806423Z", "updatedOn": "2024-04-10T15:34:22.6400000Z",
                               "createdBy": None, "updatedBy": None},
                "id": "%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (scope.rstrip("/"), role_id),
                "type": "Microsoft.Authorization/roleDefinitions", "name": role_id}

    def _check_scope_exists(self, scope):
        w = self.world
        if scope in ("", "/"):
            return
        m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?(/providers/.*)?$", scope, re.I)
        if not m:
            _fail(400, "InvalidScope", "The scope '%s' is not valid." % scope)
        if m.group(2):
            self._rg(m.group(1), m.group(2))
        if m.group(3):
            target = scope.lower()
            known = [r["id"] for store in (w.vms, w.uamis, w.sqlvm_resources, w.vaults, w.backup_vaults) for r in store.values()]
            known += [a["id"] for a in w.storage.values()]
            known += [a["id"] + "/blobServices/default/containers/" + c for a in w.storage.values() for c in a["containers"]]
            if not any(k.lower() == target for k in known):
                parts = scope.rsplit("/", 2)
                _fail(404, "ResourceNotFound", "The Resource '%s' under resource group '%s' was not found. For more "
                      "details please go to https://aka.ms/ARMResourceNotFoundFix" % (
                          "/".join(parts[-2:]), m.group(2) or ""))

    def list_role_definitions(self, request, scope):
        self._check_scope_exists(scope)
        flt = request.query_ci.get("$filter")
        roles = list(catalog.AZURE_ROLES)
        if flt:
            m = re.match(r"^\s*roleName\s+eq\s+'(.*)'\s*$", flt, re.I)
            t = re.match(r"^\s*type\s+eq\s+'(.*)'\s*$", flt, re.I)
            if m:
                roles = [r for r in roles if catalog.AZURE_ROLES[r][0].lower() == m.group(1).replace("''", "'").lower()]
            elif t:
                roles = roles if t.group(1).lower() == "builtinrole" else []
            else:
                _fail(400, "UnsupportedQuery", "The filter '%s' is not supported. Supported filters are "
                      "roleName eq '{value}' and type eq 'BuiltInRole|CustomRole'." % flt)
        return self._page(request, [self._role_definition_body(scope, r) for r in roles])

    def get_role_definition(self, request, scope, role):
        self._check_scope_exists(scope)
        if not GUID_RE.match(role) or role.lower() not in catalog.AZURE_ROLES:
            return arm_error(404, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does "
                             "not exist." % role)
        return Response(200, self._role_definition_body(scope, role.lower()))

    # ------------------------------------------------------------------ role assignments
    def _assignment_body(self, a, request_scope=None):
        sub = re.match(r"^/subscriptions/([^/]+)", a["scope"], re.I)
        role_def = ("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (sub.group(1), a["roleDefinitionId"])
                    if sub else "/providers/Microsoft.Authorization/roleDefinitions/%s" % a["roleDefinitionId"])
        return {"properties": {"roleDefinitionId": role_def, "principalId": a["principalId"],
                               "principalType": a["principalType"], "scope": a["scope"], "condition": None,
                               "conditionVersion": None, "createdOn": a["createdOn"], "updatedOn": a["updatedOn"],
                               "createdBy": a["createdBy"], "updatedBy": a["updatedBy"],
                               "delegatedManagedIdentityResourceId": None, "description": a["description"]},
                "id": a["id"], "type": "Microsoft.Authorization/roleAssignments", "name": a["name"]}

    def list_role_assignments(self, request, scope):
        w = self.world
        self._check_scope_exists(scope)
        self._authorize(request, "Microsoft.Authorization/roleAssignments/read", scope or "/")
        flt = (request.query_ci.get("$filter") or "").strip()
        at_scope, principal, assigned_to = False, None, None
        for clause in [c.strip() for c in re.split(r"\s+and\s+", flt, flags=re.I) if c.strip()]:
            if clause.lower() == "atscope()":
                at_scope = True
                continue
            m = re.match(r"^principalId\s+eq\s+'([^']*)'$", clause, re.I)
            if m:
                principal = m.group(1).lower()
                continue
            m = re.match(r"^assignedTo\('([^']*)'\)$", clause, re.I)
            if m:
                assigned_to = m.group(1).lower()
                continue
            _fail(400, "UnsupportedQuery", "The filter '%s' is not supported. Supported filters are atScope(), "
                  "principalId eq '{value}' and assignedTo('{value}')." % flt)
        with w.lock:
            principals = None
            if principal:
                principals = {principal}
            if assigned_to:
                principals = {assigned_to} | w.group_ids_of(assigned_to)
            items = []
            for a in w.role_assignments.values():
                above = scope_covers(a["scope"], scope or "/")
                below = scope_covers(scope or "/", a["scope"])
                if at_scope and not above:
                    continue
                if not (above or below):
                    continue
                if principals is not None and a["principalId"] not in principals:
                    continue
                items.append(self._assignment_body(a))
        items.sort(key=lambda item: item["id"].lower())
        return self._page(request, items)

    def _find_assignment(self, scope, name):
        rid = "%s/providers/Microsoft.Authorization/roleAssignments/%s" % (scope.rstrip("/"), name)
        return self.world.role_assignments.get(rid.lower())

    def get_role_assignment(self, request, scope, name):
        self._check_scope_exists(scope)
        self._authorize(request, "Microsoft.Authorization/roleAssignments/read", scope or "/")
        a = self._find_assignment(scope, name)
        if a is None:
            return arm_error(404, "RoleAssignmentNotFound", "The role assignment '%s' is not found." % name)
        return Response(200, self._assignment_body(a))

    def put_role_assignment(self, request, scope, name):
        w = self.world
        if not GUID_RE.match(name):
            _fail(400, "InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID "
                  "must be a GUID." % name)
        self._check_scope_exists(scope)
        body = self._body(request)
        props = body.get("properties")
        if not isinstance(props, dict):
            _fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                  "'Required property 'properties' not found in JSON. Path '', line 1, position 2.'.")
        for field in ("roleDefinitionId", "principalId"):
            if not props.get(field):
                _fail(400, "InvalidRequestContent", "The request content was invalid and could not be "
                      "deserialized: 'Required property '%s' not found in JSON. Path 'properties'.'." % field)
        self._authorize(request, "Microsoft.Authorization/roleAssignments/write", scope or "/")
        role_match = re.match(r"^(?:/subscriptions/[^/]+)?/providers/Microsoft\.Authorization/roleDefinitions/"
                              r"([0-9a-fA-F-]{36})$", props["roleDefinitionId"], re.I)
        role = role_match.group(1).lower() if role_match else None
        if role not in catalog.AZURE_ROLES:
            _fail(400, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist." %
                  props["roleDefinitionId"].rsplit("/", 1)[-1])
        principal = str(props["principalId"]).lower()
        if not GUID_RE.match(principal):
            _fail(400, "InvalidPrincipalId", "A valid principal ID must be provided for role assignment.")
        ptype = props.get("principalType")
        if ptype is not None and ptype not in ("User", "Group", "ServicePrincipal", "ForeignGroup", "Device"):
            _fail(400, "InvalidRequestContent", "The request content was invalid and could not be deserialized: "
                  "'Error converting value \"%s\" to type 'PrincipalType'.'." % ptype)
        with w.lock:
            obj = w.objects.get(principal)
            window = float(w.settings.get("principal_not_found_seconds") or 0)
            replicating = obj is not None and obj.get("created", 0) and time.time() - obj["created"] < window
            if obj is None or (replicating and ptype is None):
                _fail(400, "PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you "
                      "have the correct principal ID. If you are creating this principal and then immediately "
                      "assigning a role, this error might be related to a replication delay. In this case, set "
                      "the role assignment principalType property to a value, such as ServicePrincipal, User, or "
                      "Group.  See https://aka.ms/docs-principaltype" % (principal.replace("-", ""), w.tenant_id))
            actual = {"user": "User", "group": "Group"}.get(obj["kind"], "ServicePrincipal")
            if ptype is not None and ptype != actual:
                _fail(400, "UnmatchedPrincipalType", "The PrincipalId '%s' has type '%s' , which is different from "
                      "specified PrincipalType '%s'." % (principal.replace("-", ""), actual, ptype))
            existing = self._find_assignment(scope or "", name)
            if existing is not None:
                if existing["principalId"] == principal and existing["roleDefinitionId"] == role:
                    return Response(201, self._assignment_body(existing))
                _fail(400, "RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope "
                      "are not allowed to be updated.")
            for a in w.role_assignments.values():
                if a["principalId"] == principal and a["roleDefinitionId"] == role and \
                        a["scope"].lower().rstrip("/") == (scope or "/").lower().rstrip("/"):
                    _fail(409, "RoleAssignmentExists", "The role assignment already exists. The ID of the existing "
                          "role assignment is %s." % a["name"].replace("-", ""))
            created = w.add_role_assignment(scope or "/", name.lower(), role, principal, actual,
                                            description=props.get("description"),
                                            created_by=request.principal["oid"])
            return Response(201, self._assignment_body(created))

    def delete_role_assignment(self, request, scope, name):
        w = self.world
        self._check_scope_exists(scope)
        self._authorize(request, "Microsoft.Authorization/roleAssignments/delete", scope or "/")
        with w.lock:
            a = self._find_assignment(scope, name)
            if a is None:
                return Response(204)
            del w.role_assignments[a["id"].lower()]
            return Response(200, self._assignment_body(a))
