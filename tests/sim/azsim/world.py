"""The world state: one tenant, its subscriptions and resources, its Entra directory.

Query API for the SQL Server side (tests/sim/sqlserver; every method is thread-safe). Wherever a
principal is taken, an object id or a principal dict (with "object_id") is accepted.

    world.tenant_id, world.storage_suffix, world.sql_suffix, world.ca_bundle_path
    world.vm_keys()                       -> [vm key]  (the VM name; names are unique in a scenario)
    world.scenario_vms()                  -> {vm key: world.vm(key)} for the VMs with SQL Server
    world.vm(key)                         -> dict: key, name, resource_id, subscription_id, resource_group,
                                             location, os_type ('Windows'|'Linux'), sql (the scenario's
                                             whole `sql:` subtree, untouched, or None), sql_vm_resource_id,
                                             backup {storage_account, container}, vm_id
    world.vm_identities(key)              -> {"system": {"principal_id", "client_id"} | None,
                                              "user_assigned": [{"resource_id", "name", "principal_id",
                                                                 "client_id"}]}
    world.sql_vm_primary_identity(key)    -> {"principal_id", "client_id", "kind": "system"|"user",
                                              "resource_id"} | None   (None: no SQL VM resource, Entra
                                             auth not enabled, or the identity is no longer on the VM
                                             → SQL error 37563)
    world.primary_identity(key)           -> the same as a principal dict (object_id, app_id, display_name,
                                             kind='servicePrincipal', identity_kind, client_id, ...) | None
    world.can_read_directory(principal)   -> bool  (Directory Readers or another directory-read role,
                                             directly or through groups, or the three Graph app roles
                                             User.Read.All + GroupMember.Read.All + Application.Read.All)
    world.blob_network_denial(vm_key, account) -> None | reason the storage account's firewall turns the VM
                                             away (network_security.py)
    world.blob_access_allowed(principal, account, container, write=True) -> bool  (Azure RBAC data
                                             actions of Storage Blob Data Contributor/Owner/Reader, at
                                             container/account/RG/subscription scope, groups included)
    world.directory_lookup(name) == world.entra_lookup(name)
                                          -> [principal dict] matching display name, UPN, object id or
                                             app id (users, groups, service principals). A principal dict:
                                             object_id, kind ('user'|'group'|'servicePrincipal'),
                                             display_name, upn, app_id, service_principal_type, members
    world.directory_object(object_id)     -> principal dict | None
    world.entra_get(object_or_app_id)     -> principal dict | None (service principals also by app id)
    world.group_ids_of(principal)         -> {group object ids containing it, transitively}
    world.group_members(object_id, transitive=True) -> [object ids]
    world.mint_token(principal, audience) -> JWT string (claims as Entra v1 tokens: oid, appid, tid, ...)
    world.verify_token(jwt, audience=None)-> claims, or None when invalid/expired/other audience
    world.blob_endpoint(account)          -> "https://127.0.0.1:<port>/<account>" (Azurite, path-style)
    world.azurite_endpoint(account)       -> (blob_endpoint(account), ca_bundle_path)
    world.blob_url_to_azurite(url)        -> maps https://<account>.blob.<suffix>/<container>[/blob]
                                             to the Azurite URL above
    world.storage_account_key(account)    -> base64 shared key (Azurite accepts it; Bearer tokens from
                                             mint_token(oid, "https://storage.azure.com") work as well)
    world.tls_files()                     -> (cert, key, CA bundle) of the world's loopback certificate
    world.record_request(service="tds", method=..., route=..., kind="read"|"write", status=..., **extra)
    world.fault_for(vm_key, statement)    -> the spec of the next injected TDS fault ({"service": "tds",
                                             "vm", "pattern" (regex), "action", ...} as given to the admin
                                             API) whose pattern matches, or None
    world.take_fault(service, method, path) -> an injected httpd.Fault or None
    world.expected_readiness(key)         -> (ready: bool, reason: str)

Mutations come from the ARM/Graph handlers; every state change happens under world.lock.
"""
import base64
import hashlib
import re
import threading
import time
import uuid

from . import catalog
from .httpd import Faults, RequestLog
from .scenario import GUID_RE, guid_for, parse_version
from .tokens import TokenError

STORAGE_AUDIENCE = "https://storage.azure.com"
MIN_SQL_2022 = (16, 0, 4175, 1)   # SQL Server 2022 CU17 (seed 002, FACTS.md)


def _oid(principal):
    """An object id from an object id or a principal dict (as directory_lookup returns)."""
    if isinstance(principal, dict):
        return str(principal.get("object_id") or principal.get("principal_id") or "").lower()
    return str(principal or "").lower()


def _federated(items):
    return [{"issuer": item.get("issuer"), "subject": item["subject"],
             "audiences": list(item.get("audiences") or ["api://AzureADTokenExchange"])} for item in items]


def now_iso(ts=None):
    ts = time.time() if ts is None else ts
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%07dZ" % int((ts % 1) * 1e7)


def sub_prefix(sub):
    return "/subscriptions/%s" % sub


def rg_id(sub, rg):
    return "/subscriptions/%s/resourceGroups/%s" % (sub, rg)


def res_id(sub, rg, provider_type, name):
    return "%s/providers/%s/%s" % (rg_id(sub, rg), provider_type, name)


def scope_covers(scope, target):
    """True when an assignment at `scope` applies to `target` (both ARM ids, case-insensitive)."""
    scope = scope.lower().rstrip("/")
    target = target.lower().rstrip("/")
    return scope == "" or target == scope or target.startswith(scope + "/")


def action_matches(pattern, action):
    regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*") + "$"
    return re.match(regex, action.lower()) is not None


class Identity:
    """Managed identities of one resource (VM or vault): system-assigned and user-assigned."""

    def __init__(self):
        self.system_principal = None
        self.system_client = None
        self.user = {}  # lower resource id -> resource id as given

    def type_string(self):
        if self.system_principal and self.user:
            return "SystemAssigned, UserAssigned"
        if self.system_principal:
            return "SystemAssigned"
        if self.user:
            return "UserAssigned"
        return "None"


class World:
    def __init__(self, scenario, signer_factory=None):
        self.lock = threading.RLock()
        self.log = RequestLog()
        self.faults = Faults()
        self.scenario = scenario
        self.urls = {}
        self.azurite = None
        self.signer = None
        self.ca_bundle_path = None
        self._signer_factory = signer_factory
        self.load(scenario)

    # ------------------------------------------------------------------ loading
    def load(self, scenario):
        with self.lock:
            self.tenant_id = scenario["tenant"]["id"]
            self.domain = scenario["tenant"]["domain"]
            self.seed = scenario["tenant"]["seed"]
            self.settings = dict(scenario["settings"])
            self.storage_suffix = self.settings["storage_suffix"]
            self.sql_suffix = self.settings["sql_suffix"]
            self.subscriptions = {}
            self.resource_groups = {}
            self.vms, self.uamis, self.sqlvm_resources, self.storage = {}, {}, {}, {}
            self.vaults, self.backup_vaults = {}, {}
            self.vm_by_name = {}
            self.objects = {}          # Entra directory objects by object id
            self.sp_by_app = {}
            self.role_assignments = {}  # lower id -> assignment
            self.dir_role_assignments = {}
            self.app_role_assignments = {}
            self.activated_roles = set(catalog.DIRECTORY_ROLES)
            self.operations = {}        # async operation id -> state
            self._load_directory_builtins(scenario)
            for sub in scenario["subscriptions"]:
                self.subscriptions[sub["id"]] = {"id": sub["id"], "name": sub["name"]}
                for rg in sub["resource_groups"]:
                    self._load_rg(sub["id"], rg)
            self.default_subscription = scenario["subscriptions"][0]["id"]
            self._load_directory(scenario["directory"])
            auto = scenario["automation"]
            for role in auto["roles"]:
                self._scenario_role_assignment({"principal": "automation", "role": role["role"],
                                                "scope": role.get("scope", "subscription")})
            for role in auto["directory_roles"]:
                self._scenario_dir_role({"principal": "automation", "role": role})
            for role in auto["app_roles"]:
                self._scenario_app_role({"principal": "automation", "app_role": role})
            for item in scenario["role_assignments"]:
                self._scenario_role_assignment(item)

    def _new_sp(self, object_id, display_name, app_id, sp_type="Application", alternative_names=None,
                created=0.0, secret=None):
        sp = {"id": object_id, "kind": "servicePrincipal", "displayName": display_name, "appId": app_id,
              "servicePrincipalType": sp_type, "alternativeNames": alternative_names or [],
              "created": created, "secret": secret, "appRoles": [], "accountEnabled": True,
              "servicePrincipalNames": [app_id] + (alternative_names[1:] if alternative_names else []),
              "appOwnerOrganizationId": self.tenant_id if sp_type == "Application" else None,
              "appDisplayName": display_name if sp_type == "Application" else None}
        self.objects[object_id] = sp
        self.sp_by_app[app_id.lower()] = object_id
        return sp

    def _load_directory_builtins(self, scenario):
        graph = self._new_sp(guid_for(self.seed, "sp", "microsoft-graph"), "Microsoft Graph",
                             catalog.GRAPH_APP_ID)
        graph["appOwnerOrganizationId"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
        graph["appDisplayName"] = "Microsoft Graph"
        graph["servicePrincipalNames"] = [catalog.GRAPH_APP_ID, "https://graph.microsoft.com",
                                          "https://graph.microsoft.com/"]
        graph["appRoles"] = [{"allowedMemberTypes": ["Application"], "description": "Allows the app to " + value,
                              "displayName": value, "id": role_id, "isEnabled": True, "origin": "Application",
                              "value": value} for value, role_id in catalog.GRAPH_APP_ROLES.items()]
        self.graph_sp_id = graph["id"]
        auto = scenario["automation"]
        sp = self._new_sp(auto["object_id"], auto["display_name"], auto["app_id"], secret=auto["secret"])
        sp["federated_credentials"] = _federated(auto["federated_credentials"])
        self.automation_id = sp["id"]

    def _load_rg(self, sub, rg):
        key = (sub, rg["name"].lower())
        self.resource_groups[key] = {"name": rg["name"], "location": rg["location"], "subscription": sub}
        for u in rg["user_assigned_identities"]:
            rid = res_id(sub, rg["name"], "Microsoft.ManagedIdentity/userAssignedIdentities", u["name"])
            self.uamis[rid.lower()] = {"id": rid, "name": u["name"], "subscription": sub,
                                       "resource_group": rg["name"], "location": u["location"],
                                       "principal_id": u["principal_id"], "client_id": u["client_id"],
                                       "tags": {}}
            self._new_sp(u["principal_id"], u["name"], u["client_id"], "ManagedIdentity",
                         ["isExplicit=True", rid])
        for a in rg["storage_accounts"]:
            rid = res_id(sub, rg["name"], "Microsoft.Storage/storageAccounts", a["name"])
            key_bytes = hashlib.sha512(("%s/%s" % (self.seed, a["name"])).encode()).digest()
            self.storage[a["name"]] = {"id": rid, "name": a["name"], "subscription": sub,
                                       "resource_group": rg["name"], "location": a["location"],
                                       "containers": {c: {"created": time.time()} for c in a["containers"]},
                                       "network": a.get("network") or {},
                                       "key": base64.b64encode(key_bytes).decode()}
        for kind, store, rtype in (("recovery_services_vaults", self.vaults, "Microsoft.RecoveryServices/vaults"),
                                   ("backup_vaults", self.backup_vaults, "Microsoft.DataProtection/backupVaults")):
            for v in rg[kind]:
                rid = res_id(sub, rg["name"], rtype, v["name"])
                vault = {"id": rid, "name": v["name"], "subscription": sub, "resource_group": rg["name"],
                         "location": v["location"], "identity": Identity(), "tags": {}, "type": rtype}
                store[rid.lower()] = vault
                self._apply_scenario_identity(vault, v["identity"], sub, rg["name"],
                                              guid_for(self.seed, "vault-principal", rid.lower()),
                                              guid_for(self.seed, "vault-client", rid.lower()))
        for v in rg["vms"]:
            rid = res_id(sub, rg["name"], "Microsoft.Compute/virtualMachines", v["name"])
            vm = {"id": rid, "name": v["name"], "subscription": sub, "resource_group": rg["name"],
                  "location": v["location"], "os_type": "Windows" if v["os"] == "windows" else "Linux",
                  "size": v["size"], "vm_id": v["vm_id"], "identity": Identity(), "sql": v["sql"],
                  "power_state": v.get("power_state", "running"),
                  "backup": v["backup"], "expect": v["expect"], "tags": dict(v["tags"])}
            self.vms[rid.lower()] = vm
            self.vm_by_name[v["name"].lower()] = vm
            self._apply_scenario_identity(vm, v["identity"], sub, rg["name"], v["system_principal_id"],
                                          v["system_client_id"])
            if v["sql_vm"]:
                self._load_sql_vm(vm, v["sql_vm"])

    def _apply_scenario_identity(self, resource, spec, sub, rg, principal_id, client_id):
        ident = resource["identity"]
        if spec["system"]:
            ident.system_principal, ident.system_client = principal_id, client_id
            self._new_sp(principal_id, resource["name"], client_id, "ManagedIdentity",
                         ["isExplicit=False", resource["id"]])
        for ref in spec["user_assigned"]:
            uami = self._uami_ref(ref, sub, rg)
            ident.user[uami["id"].lower()] = uami["id"]

    def _uami_ref(self, ref, sub, rg):
        rid = ref if ref.startswith("/") else res_id(sub, rg, "Microsoft.ManagedIdentity/userAssignedIdentities", ref)
        uami = self.uamis.get(rid.lower())
        if uami is None:
            found = [u for u in self.uamis.values() if u["name"].lower() == ref.lower()]
            if len(found) != 1:
                raise ValueError("scenario: unknown user-assigned identity %r" % ref)
            uami = found[0]
        return uami

    def _load_sql_vm(self, vm, spec):
        rid = res_id(vm["subscription"], vm["resource_group"], "Microsoft.SqlVirtualMachine/sqlVirtualMachines",
                     spec["name"])
        version = (vm["sql"] or {}).get("version", "16.0.4175.1")
        major = version.split(".")[0]
        offer = {"15": "SQL2019-WS2022", "16": "SQL2022-WS2022", "17": "SQL2025-WS2025"}.get(major, "SQL2022-WS2022")
        if vm["os_type"] == "Linux":
            offer = {"15": "SQL2019-ubuntu2004", "16": "sql2022-ubuntu2004"}.get(major, "sql2022-ubuntu2004")
        props = {
            "virtualMachineResourceId": vm["id"], "provisioningState": "Succeeded",
            "sqlImageOffer": offer, "sqlServerLicenseType": "PAYG", "sqlManagement": "Full",
            "leastPrivilegeMode": "Enabled", "sqlImageSku": "Enterprise",
            "serverConfigurationsManagementSettings": {
                "sqlConnectivityUpdateSettings": {"connectivityType": "PRIVATE", "port": 1433},
                "sqlInstanceSettings": {"maxDop": 0, "isOptimizeForAdHocWorkloadsEnabled": False,
                                        "isLpimEnabled": False, "isIfiEnabled": False},
            },
            "enableAutomaticUpgrade": True,
        }
        entra = spec.get("entra_auth", "none")
        if entra not in ("none", None):
            if entra == "system":
                client_id = ""
            else:
                uami = self._uami_ref(entra, vm["subscription"], vm["resource_group"])
                client_id = uami["client_id"]
            props["serverConfigurationsManagementSettings"]["azureAdAuthenticationSettings"] = {"clientId": client_id}
        self.sqlvm_resources[rid.lower()] = {
            "id": rid, "name": spec["name"], "subscription": vm["subscription"], "resource_group": vm["resource_group"],
            "location": vm["location"], "properties": props, "tags": {}, "vm": vm}
        vm["sql_vm_id"] = rid

    def _load_directory(self, directory):
        for user in directory["users"]:
            oid = user.get("object_id") or guid_for(self.seed, "user", user["upn"].lower())
            self.objects[oid] = {"id": oid, "kind": "user", "displayName": user.get("display_name", user["upn"]),
                                 "userPrincipalName": user["upn"], "mail": user.get("mail", user["upn"]),
                                 "password": user.get("password"), "accountEnabled": True, "created": 0.0}
        for sp in directory["service_principals"]:
            name = sp["display_name"]
            created = self._new_sp(sp.get("object_id") or guid_for(self.seed, "sp", name.lower()), name,
                                   sp.get("app_id") or guid_for(self.seed, "app", name.lower()),
                                   secret=sp.get("secret"))
            created["federated_credentials"] = _federated(sp.get("federated_credentials") or [])
        groups = []
        for group in directory["groups"]:
            name = group["display_name"]
            oid = group.get("object_id") or guid_for(self.seed, "group", name.lower())
            self.objects[oid] = {"id": oid, "kind": "group", "displayName": name,
                                 "isAssignableToRole": bool(group.get("role_assignable", False)),
                                 "securityEnabled": True, "mailEnabled": False,
                                 "mailNickname": re.sub(r"[^A-Za-z0-9]", "", name) or "group",
                                 "members": [], "created": 0.0, "description": group.get("description")}
            groups.append((oid, group))
        for oid, group in groups:
            self.objects[oid]["members"] = [self.principal_ref(m) for m in group.get("members") or []]
        for item in directory["directory_role_assignments"]:
            self._scenario_dir_role(item)
        for item in directory["app_role_assignments"]:
            self._scenario_app_role(item)

    def principal_ref(self, ref):
        """Scenario principal references → object id: automation, vm:<name>, uami:<name>,
        user:<upn>, group:<display name>, sp:<display name>, or an object id."""
        if ref == "automation":
            return self.automation_id
        if GUID_RE.match(ref):
            return ref.lower()
        kind, _sep, name = ref.partition(":")
        lname = name.lower()
        if kind == "vm":
            vm = self.vm_by_name.get(lname)
            if vm is None or not vm["identity"].system_principal:
                raise ValueError("scenario: %r is not a VM with a system-assigned identity" % ref)
            return vm["identity"].system_principal
        if kind == "uami":
            return self._uami_ref(name, self.default_subscription, "")["principal_id"]
        for obj in self.objects.values():
            if kind == "user" and obj["kind"] == "user" and obj["userPrincipalName"].lower() == lname:
                return obj["id"]
            if kind in ("group", "sp") and obj["kind"] == {"group": "group", "sp": "servicePrincipal"}[kind] \
                    and obj["displayName"].lower() == lname:
                return obj["id"]
        raise ValueError("scenario: unknown principal %r" % ref)

    def scope_ref(self, ref):
        """subscription | rg:<name> | storage:<account> | container:<account>/<container> | an ARM id."""
        if ref.startswith("/"):
            return ref
        if ref == "subscription":
            return sub_prefix(self.default_subscription)
        kind, _sep, name = ref.partition(":")
        if kind == "rg":
            for (sub, rg), value in self.resource_groups.items():
                if rg == name.lower():
                    return rg_id(sub, value["name"])
        if kind == "storage" and name in self.storage:
            return self.storage[name]["id"]
        if kind == "container":
            account, _sep, container = name.partition("/")
            if account in self.storage:
                return self.storage[account]["id"] + "/blobServices/default/containers/" + container
        raise ValueError("scenario: unknown scope %r" % ref)

    def _scenario_role_assignment(self, item):
        role = catalog.AZURE_ROLE_BY_NAME.get(item["role"].lower())
        if role is None:
            raise ValueError("scenario: unknown Azure role %r" % item["role"])
        scope = self.scope_ref(item["scope"])
        principal = self.principal_ref(item["principal"])
        name = guid_for(self.seed, "ra", scope.lower(), role, principal)
        obj = self.objects.get(principal, {})
        ptype = {"user": "User", "group": "Group"}.get(obj.get("kind"), "ServicePrincipal")
        self.add_role_assignment(scope, name, role, principal, ptype, created=0.0)

    def _scenario_dir_role(self, item):
        template = catalog.DIRECTORY_ROLE_BY_NAME.get(item["role"].lower())
        if template is None:
            raise ValueError("scenario: unknown directory role %r" % item["role"])
        principal = self.principal_ref(item["principal"])
        obj = self.objects[principal]
        if obj["kind"] == "group" and not obj.get("isAssignableToRole"):
            raise ValueError("scenario: group %r is not role-assignable" % obj["displayName"])
        aid = guid_for(self.seed, "dra", template, principal)
        self.dir_role_assignments[aid] = {"id": aid, "principalId": principal, "roleDefinitionId": template,
                                          "directoryScopeId": "/"}

    def _scenario_app_role(self, item):
        role_id = catalog.GRAPH_APP_ROLES.get(item["app_role"])
        if role_id is None:
            raise ValueError("scenario: unknown Graph app role %r" % item["app_role"])
        principal = self.principal_ref(item["principal"])
        self.add_app_role_assignment(principal, self.graph_sp_id, role_id,
                                     guid_for(self.seed, "ara", role_id, principal), created=0.0)

    # ------------------------------------------------------------------ mutations used by services
    def add_role_assignment(self, scope, name, role_guid, principal, ptype, created=None, description=None,
                            created_by=None):
        scope_norm = scope.rstrip("/") if scope != "/" else ""
        rid = "%s/providers/Microsoft.Authorization/roleAssignments/%s" % (scope_norm, name)
        ts = now_iso(created if created else time.time())
        self.role_assignments[rid.lower()] = {
            "id": rid, "name": name, "scope": scope_norm or "/", "roleDefinitionId": role_guid,
            "principalId": principal, "principalType": ptype, "description": description,
            "createdOn": ts, "updatedOn": ts, "createdBy": created_by, "updatedBy": created_by}
        return self.role_assignments[rid.lower()]

    def add_app_role_assignment(self, principal, resource, app_role_id, aid=None, created=None):
        aid = aid or base64.urlsafe_b64encode(uuid.uuid4().bytes + uuid.uuid4().bytes[:8]).decode().rstrip("=")
        obj = self.objects[principal]
        res = self.objects[resource]
        self.app_role_assignments[aid] = {
            "id": aid, "appRoleId": app_role_id, "principalId": principal,
            "principalType": {"user": "User", "group": "Group"}.get(obj["kind"], "ServicePrincipal"),
            "principalDisplayName": obj["displayName"], "resourceId": resource,
            "resourceDisplayName": res["displayName"], "createdDateTime": now_iso(created or time.time())[:19] + "Z",
            "deletedDateTime": None}
        return self.app_role_assignments[aid]

    def enable_system_identity(self, resource):
        ident = resource["identity"]
        if ident.system_principal:
            return
        ident.system_principal, ident.system_client = str(uuid.uuid4()), str(uuid.uuid4())
        self._new_sp(ident.system_principal, resource["name"], ident.system_client, "ManagedIdentity",
                     ["isExplicit=False", resource["id"]], created=time.time())

    def disable_system_identity(self, resource):
        ident = resource["identity"]
        if ident.system_principal:
            sp = self.objects.pop(ident.system_principal, None)
            if sp:
                self.sp_by_app.pop(sp["appId"].lower(), None)
            # Azure leaves role assignments of deleted identities behind ("Identity not found").
            for assignment in list(self.app_role_assignments.values()):
                if assignment["principalId"] == ident.system_principal:
                    del self.app_role_assignments[assignment["id"]]
        ident.system_principal = ident.system_client = None

    def create_uami(self, sub, rg, name, location, tags=None):
        rid = res_id(sub, rg, "Microsoft.ManagedIdentity/userAssignedIdentities", name)
        principal, client = str(uuid.uuid4()), str(uuid.uuid4())
        uami = {"id": rid, "name": name, "subscription": sub, "resource_group": rg, "location": location,
                "principal_id": principal, "client_id": client, "tags": tags or {}}
        self.uamis[rid.lower()] = uami
        self._new_sp(principal, name, client, "ManagedIdentity", ["isExplicit=True", rid], created=time.time())
        return uami

    # ------------------------------------------------------------------ directory queries
    def group_ids_of(self, object_id):
        """Every group that contains object_id, transitively."""
        result, frontier = set(), {_oid(object_id)}
        groups = [o for o in self.objects.values() if o["kind"] == "group"]
        while frontier:
            found = {g["id"] for g in groups if frontier & set(g["members"])} - result
            result |= found
            frontier = found
        return result

    def group_members(self, object_id, transitive=True):
        with self.lock:
            group = self.objects.get(object_id)
            if not group or group["kind"] != "group":
                return []
            if not transitive:
                return list(group["members"])
            seen, stack = [], list(group["members"])
            while stack:
                member = stack.pop(0)
                if member in seen:
                    continue
                seen.append(member)
                child = self.objects.get(member)
                if child and child["kind"] == "group":
                    stack.extend(child["members"])
            return seen

    def directory_roles_of(self, object_id, transitive=True):
        with self.lock:
            ids = {object_id} | (self.group_ids_of(object_id) if transitive else set())
            return {a["roleDefinitionId"] for a in self.dir_role_assignments.values() if a["principalId"] in ids}

    def graph_app_roles_of(self, object_id):
        with self.lock:
            by_id = {v: k for k, v in catalog.GRAPH_APP_ROLES.items()}
            return {by_id[a["appRoleId"]] for a in self.app_role_assignments.values()
                    if a["principalId"] == object_id and a["resourceId"] == self.graph_sp_id
                    and a["appRoleId"] in by_id}

    def can_read_directory(self, object_id):
        object_id = _oid(object_id)
        with self.lock:
            if self.directory_roles_of(object_id) & catalog.DIRECTORY_READ_ROLES:
                return True
            roles = self.graph_app_roles_of(object_id)
            return "Directory.Read.All" in roles or catalog.DIRECTORY_READ_APP_ROLES <= roles

    def principal_view(self, obj):
        return {"object_id": obj["id"], "kind": obj["kind"], "display_name": obj["displayName"],
                "upn": obj.get("userPrincipalName"), "app_id": obj.get("appId"),
                "service_principal_type": obj.get("servicePrincipalType"),
                "members": list(obj.get("members", []))}

    def directory_object(self, object_id):
        with self.lock:
            obj = self.objects.get(str(object_id).lower())
            return self.principal_view(obj) if obj else None

    def directory_lookup(self, name):
        lname = str(name).lower()
        with self.lock:
            found = []
            for obj in self.objects.values():
                if lname in (obj["id"], obj["displayName"].lower(), (obj.get("userPrincipalName") or "").lower(),
                             (obj.get("appId") or "").lower()):
                    found.append(self.principal_view(obj))
            return found

    # ------------------------------------------------------------------ Azure RBAC
    def assignments_for(self, object_id):
        ids = {object_id} | self.group_ids_of(object_id)
        return [a for a in self.role_assignments.values() if a["principalId"] in ids]

    def is_permitted(self, object_id, action, scope, data=False):
        with self.lock:
            for assignment in self.assignments_for(object_id):
                if not scope_covers(assignment["scope"], scope):
                    continue
                role = catalog.AZURE_ROLES.get(assignment["roleDefinitionId"])
                if role is None:
                    continue
                allowed, denied = (role[4], role[5]) if data else (role[2], role[3])
                if any(action_matches(p, action) for p in allowed) and \
                        not any(action_matches(p, action) for p in denied):
                    return True
            return False

    def blob_access_allowed(self, object_id, account, container, write=True):
        object_id = _oid(object_id)
        with self.lock:
            acct = self.storage.get(account)
            if acct is None:
                return False
            scope = acct["id"] + "/blobServices/default/containers/" + container
            action = catalog.BLOB + "/blobs/" + ("write" if write else "read")
            return self.is_permitted(object_id, action, scope, data=True)

    def blob_network_denial(self, vm_key, account):
        """None when the storage account's firewall lets blob requests from the VM through, else why not
        (network_security.py: public network access, virtual network rules, IP rules, private endpoints)."""
        from .network_security import model_of  # network_security -> network -> httpd; loaded on first use
        with self.lock:
            network = (self.storage.get(account) or {}).get("network") or {}
            if network.get("public_network_access", "Enabled") == "Enabled" and network.get("default_action", "Allow") == "Allow":
                return None  # open to all networks (the default): no need to build the network model
            return model_of(self).storage_denial(vm_key, account)

    # ------------------------------------------------------------------ VMs for the SQL side
    def vm_keys(self):
        with self.lock:
            return [vm["name"] for vm in self.vms.values()]

    def vm(self, key):
        with self.lock:
            vm = self.vm_by_name.get(key.lower())
            if vm is None:
                raise KeyError(key)
            return {"key": vm["name"], "name": vm["name"], "resource_id": vm["id"],
                    "subscription_id": vm["subscription"], "resource_group": vm["resource_group"],
                    "location": vm["location"], "os_type": vm["os_type"], "sql": vm["sql"],
                    "sql_vm_resource_id": vm.get("sql_vm_id"), "backup": dict(vm["backup"]),
                    "vm_id": vm["vm_id"]}

    def vm_identities(self, key):
        with self.lock:
            vm = self.vm_by_name[key.lower()]
            ident = vm["identity"]
            system = None
            if ident.system_principal:
                system = {"principal_id": ident.system_principal, "client_id": ident.system_client}
            users = []
            for rid_lower, rid in ident.user.items():
                uami = self.uamis.get(rid_lower)
                if uami:
                    users.append({"resource_id": uami["id"], "name": uami["name"],
                                  "principal_id": uami["principal_id"], "client_id": uami["client_id"]})
            return {"system": system, "user_assigned": users}

    def sql_vm_for(self, vm):
        rid = vm.get("sql_vm_id")
        return self.sqlvm_resources.get(rid.lower()) if rid else None

    def sql_vm_primary_identity(self, key):
        with self.lock:
            vm = self.vm_by_name[key.lower()]
            sql_vm = self.sql_vm_for(vm)
            if sql_vm is None:
                return None
            settings = sql_vm["properties"]["serverConfigurationsManagementSettings"]
            aad = settings.get("azureAdAuthenticationSettings")
            if aad is None or aad.get("clientId") is None:
                return None
            ident = vm["identity"]
            if aad["clientId"] == "":
                if not ident.system_principal:
                    return None
                return {"kind": "system", "principal_id": ident.system_principal, "client_id": ident.system_client,
                        "resource_id": vm["id"]}
            for rid_lower in ident.user:
                uami = self.uamis.get(rid_lower)
                if uami and uami["client_id"].lower() == aad["clientId"].lower():
                    return {"kind": "user", "principal_id": uami["principal_id"], "client_id": uami["client_id"],
                            "resource_id": uami["id"]}
            return None

    def expected_readiness(self, key):
        """(ready, reason) for backup to URL with a managed identity, from the current state."""
        with self.lock:
            vm = self.vm_by_name[key.lower()]
            sql = vm["sql"] or {}
            if not sql:
                return False, "no_sql_server"
            if vm["os_type"] != "Windows":
                return False, "os_not_supported"
            version = parse_version(sql["version"])
            if version[0] < 16:
                return False, "sql_version_unsupported"
            if version[0] == 16 and version < MIN_SQL_2022:
                return False, "sql_build_too_old"
            if sql.get("clustered"):
                return False, "fci_not_supported"
            if self.sql_vm_for(vm) is None:
                return False, "not_registered"
            ident = vm["identity"]
            if not ident.system_principal and not ident.user:
                return False, "no_identity"
            primary = self.sql_vm_primary_identity(key)
            if primary is None:
                return False, "entra_auth_disabled"
            if not self.can_read_directory(primary["principal_id"]):
                return False, "no_directory_read"
            backup = vm["backup"]
            if backup.get("storage_account") and not self.blob_access_allowed(
                    primary["principal_id"], backup["storage_account"], backup.get("container") or ""):
                return False, "no_storage_role"
            if backup.get("storage_account") and self.blob_network_denial(key, backup["storage_account"]):
                return False, "storage_firewall"
            return True, "ready"

    # ------------------------------------------------------------------ tokens
    def mint_token(self, object_id, audience, extra=None):
        object_id = _oid(object_id)
        with self.lock:
            obj = self.objects.get(object_id)
            if obj is None:
                raise KeyError("no directory object %s" % object_id)
            claims = {"oid": obj["id"], "sub": obj["id"], "idp": self.signer.issuer, "rh": "0.sim."}
            if obj["kind"] == "servicePrincipal":
                claims.update({"appid": obj["appId"], "appidacr": "2" if obj["servicePrincipalType"] ==
                               "ManagedIdentity" else "1", "idtyp": "app"})
                if obj["servicePrincipalType"] == "ManagedIdentity":
                    claims["xms_mirid"] = obj["alternativeNames"][1]
                roles = self._token_roles(obj["id"], audience)
                if roles:
                    claims["roles"] = roles
            else:
                claims.update({"upn": obj.get("userPrincipalName"), "unique_name": obj.get("userPrincipalName"),
                               "name": obj["displayName"], "scp": "user_impersonation", "idtyp": "user",
                               "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46", "appidacr": "0"})
                wids = sorted(self.directory_roles_of(obj["id"], transitive=False))
                if wids:
                    claims["wids"] = wids
            claims.update(extra or {})
            token, _claims = self.signer.mint(claims, audience)
            return token

    def _token_roles(self, object_id, audience):
        graph_audiences = {self.graph_audience.rstrip("/"), "https://graph.microsoft.com"}
        if audience.rstrip("/") in graph_audiences:
            return sorted(self.graph_app_roles_of(object_id))
        return []

    def verify_token(self, token, audience=None):
        """Claims of a valid token minted by this world (for `audience`: a string or a collection;
        a trailing slash does not matter), else None."""
        if isinstance(audience, str):
            audience = {audience, audience.rstrip("/"), audience.rstrip("/") + "/"}
        try:
            return self.signer.verify(token, audience)
        except TokenError:
            return None

    # ------------------------------------------------------------------ URLs and Azurite
    @property
    def graph_audience(self):
        return self.urls.get("graph", "https://graph.invalid") + "/"

    def blob_endpoint(self, account):
        if self.azurite is None:
            raise RuntimeError("Azurite is not running")
        return "%s/%s" % (self.azurite.url, account)

    def blob_url_to_azurite(self, url):
        match = re.match(r"^https://([a-z0-9]+)\.blob\.%s(/.*)?$" % re.escape(self.storage_suffix), url, re.I)
        if not match:
            raise ValueError("%s is not a blob URL of this world (suffix %s)" % (url, self.storage_suffix))
        return self.blob_endpoint(match.group(1).lower()) + (match.group(2) or "")

    def storage_account_key(self, account):
        return self.storage[account]["key"]

    def container_url(self, account, container):
        return "https://%s.blob.%s/%s" % (account, self.storage_suffix, container)

    # ------------------------------------------------------------------ request log hooks
    def record_request(self, service="tds", method="", route="", kind="read", status=0, path=None,
                       principal=None, **extra):
        self.log.record(service, method, route, kind, status, path, principal, **extra)

    def take_fault(self, service, method, path):
        return self.faults.take(service, method, path)

    def fault_for(self, vm_key, statement):
        """The next injected TDS fault for this VM whose `pattern` (regex) matches the statement: the
        spec as given to the admin API ({"service": "tds", "vm", "pattern", "action", ...}), or None."""
        return self.faults.take_tds(vm_key, statement)

    # ------------------------------------------------------------------ names the SQL side's adapter uses
    def scenario_vms(self):
        """{vm key: {"name", "sql", "os_type", "resource_id", ...}} for every VM with SQL Server."""
        with self.lock:
            return {vm["name"]: self.vm(vm["name"]) for vm in self.vms.values() if vm["sql"]}

    def entra_lookup(self, name):
        return self.directory_lookup(name)

    def entra_get(self, object_or_app_id):
        """A principal by object id, or a service principal by app (client) id."""
        key = str(object_or_app_id).lower()
        with self.lock:
            obj = self.objects.get(key) or self.objects.get(self.sp_by_app.get(key, ""))
            return self.principal_view(obj) if obj else None

    def sql_audiences(self):
        """Token audiences the world's SQL Servers accept: the SQL resource of this cloud (settings sql_suffix,
        published as suffixes.sqlServerHostname), with and without the trailing slash."""
        audience = "https://%s/" % self.sql_suffix.strip(".")
        return (audience, audience.rstrip("/"))

    def primary_identity(self, vm_key):
        """sql_vm_primary_identity as a principal dict (object_id, app_id, display_name, kind =
        'servicePrincipal') plus identity_kind ('system'|'user'), client_id, principal_id, resource_id."""
        with self.lock:
            primary = self.sql_vm_primary_identity(vm_key)
            if primary is None:
                return None
            obj = self.objects.get(primary["principal_id"])
            if obj is None:
                return None
            view = self.principal_view(obj)
            view.update({"identity_kind": primary["kind"], "client_id": primary["client_id"],
                         "principal_id": primary["principal_id"], "resource_id": primary["resource_id"]})
            return view

    def azurite_endpoint(self, account):
        """(https://127.0.0.1:<port>/<account>, CA bundle path) — Azurite, path-style."""
        return self.blob_endpoint(account), self.ca_bundle_path

    def tls_files(self):
        """(certificate, key, CA bundle) of the world's loopback server certificate, or None."""
        return getattr(self, "_tls_files", None)
