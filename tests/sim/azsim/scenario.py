"""Scenario files (YAML) → a checked, normalised dict the World loads; and the fleet generator.

The format is described in tests/sim/README.md; tests/sim/scenarios/default.yml is the reference.
"""
import copy
import os
import re
import uuid

import yaml

from .network import check_vm_network
from .network_security import check_group_network, check_storage_network

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SCENARIO = os.path.join(os.path.dirname(HERE), "scenarios", "default.yml")
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+\.\d+$")

DEFAULT_SETTINGS = {
    "throttling": True,
    # Smaller ARM buckets than Azure's, per kind: {"write": [capacity, refill per second]} (throttle.py).
    "throttle_limits": None,
    # Seconds after an identity is created during which role assignment PUTs without principalType
    # answer 400 PrincipalNotFound (Entra replication delay; Azure docs "Troubleshoot Azure RBAC").
    "principal_not_found_seconds": 30,
    # Retry-After on long-running operations; azure-core accepts fractions (tests may set 0.1).
    "lro_retry_after": 1,
    # Polls that answer InProgress before an operation completes.
    "lro_polls": 1,
    "arm_page_size": 100,
    "graph_page_size": 100,
    "storage_suffix": "core.sim.test",
    # The SQL resource of this cloud: metadata suffixes.sqlServerHostname, and the token audience the world's
    # SQL Servers accept ("https://<suffix>/"). Azure's own value (AzureCloud metadata ".database.windows.net";
    # SQL Server on an Azure VM validates Entra tokens issued for https://database.windows.net/).
    "sql_suffix": "database.windows.net",
    "arm_audience": "https://management.sim.test/",
    # The world simulates the public cloud, so its metadata document names it as Azure's does; a test that needs
    # another cloud sets this (admin settings).
    "cloud_name": "AzureCloud",
}


class ScenarioError(ValueError):
    pass


def guid_for(seed, *parts):
    """A stable GUID so a scenario always yields the same ids (reset returns the same world)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "sqlvm-sim:%s:%s" % (seed, "/".join(parts))))


def _err(where, message):
    raise ScenarioError("scenario %s: %s" % (where, message))


def _as_list(value, where):
    if value is None:
        return []
    if not isinstance(value, list):
        _err(where, "must be a list")
    return value


def _guid(value, where):
    if value is not None and not GUID_RE.match(str(value)):
        _err(where, "%r is not a GUID" % (value,))
    return str(value).lower() if value is not None else None


def load_file(path):
    with open(path, encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return normalise(raw, source=path)


def parse_version(text):
    return tuple(int(p) for p in text.split("."))


def normalise(raw, source="<scenario>"):
    """Checks the scenario and fills in defaults and ids; returns a new dict."""
    if not isinstance(raw, dict):
        _err(source, "must be a mapping")
    raw = copy.deepcopy(raw)
    known = {"tenant", "settings", "automation", "subscriptions", "role_assignments", "directory"}
    stray = [k for k in raw if k not in known and not str(k).startswith("x-")]
    if stray:
        _err(source, "unknown top-level keys %s (YAML anchors may live under keys starting with x-)" % stray)
    tenant = raw.get("tenant") or {}
    domain = tenant.get("domain", "contoso.onmicrosoft.com")
    seed = tenant.get("seed", domain)
    tenant_id = _guid(tenant.get("id"), "tenant.id") or guid_for(seed, "tenant")
    settings = dict(DEFAULT_SETTINGS)
    settings.update(raw.get("settings") or {})
    unknown = set(settings) - set(DEFAULT_SETTINGS)
    if unknown:
        _err("settings", "unknown keys %s" % sorted(unknown))
    out = {"tenant": {"id": tenant_id, "domain": domain, "name": tenant.get("name", domain.split(".")[0]),
                      "seed": seed},
           "settings": settings}

    auto = raw.get("automation") or {}
    out["automation"] = {
        "display_name": auto.get("display_name", "sqlvm-automation"),
        "app_id": _guid(auto.get("app_id"), "automation.app_id") or guid_for(seed, "app", "automation"),
        "object_id": _guid(auto.get("object_id"), "automation.object_id") or guid_for(seed, "sp", "automation"),
        "secret": str(auto.get("secret", "sim-automation-secret-" + tenant_id[:8])),
        "roles": _as_list(auto.get("roles", [{"role": "Owner", "scope": "subscription"}]), "automation.roles"),
        "directory_roles": _as_list(auto.get("directory_roles", ["Privileged Role Administrator"]),
                                    "automation.directory_roles"),
        "app_roles": _as_list(auto.get("app_roles"), "automation.app_roles"),
        # Workload identity federation (learn.microsoft.com/entra/workload-id/workload-identity-federation):
        # an issuer of None means the world's own issuer (SIM_FEDERATION_ISSUER).
        "federated_credentials": _as_list(auto.get("federated_credentials", [
            {"subject": "system:serviceaccount:sqlvm:automation"}]), "automation.federated_credentials"),
    }

    subs = _as_list(raw.get("subscriptions"), "subscriptions")
    if not subs:
        _err("subscriptions", "at least one subscription is needed")
    vm_names, storage_names = set(), set()
    out["subscriptions"] = []
    for si, sub in enumerate(subs):
        where = "subscriptions[%d]" % si
        sub_id = _guid(sub.get("id"), where + ".id") or guid_for(seed, "subscription", str(si))
        nsub = {"id": sub_id, "name": sub.get("name", "sim-subscription-%d" % si), "resource_groups": []}
        for gi, rg in enumerate(_as_list(sub.get("resource_groups"), where + ".resource_groups")):
            gwhere = "%s.resource_groups[%d]" % (where, gi)
            if not rg.get("name"):
                _err(gwhere, "name is required")
            location = rg.get("location", "westeurope")
            nrg = {"name": rg["name"], "location": location, "vms": [], "user_assigned_identities": [],
                   "storage_accounts": [], "recovery_services_vaults": [], "backup_vaults": []}
            # virtual_networks, network_security_groups, private_endpoints (network_security.py)
            nrg.update(check_group_network(rg, gwhere, _err))
            for ui, uami in enumerate(_as_list(rg.get("user_assigned_identities"), gwhere + ".uami")):
                if isinstance(uami, str):
                    uami = {"name": uami}
                nrg["user_assigned_identities"].append({
                    "name": uami["name"], "location": uami.get("location", location),
                    "principal_id": _guid(uami.get("principal_id"), gwhere) or
                    guid_for(seed, "uami-principal", sub_id, rg["name"].lower(), uami["name"].lower()),
                    "client_id": _guid(uami.get("client_id"), gwhere) or
                    guid_for(seed, "uami-client", sub_id, rg["name"].lower(), uami["name"].lower())})
            for ai, account in enumerate(_as_list(rg.get("storage_accounts"), gwhere + ".storage_accounts")):
                awhere = "%s.storage_accounts[%d]" % (gwhere, ai)
                if isinstance(account, str):
                    account = {"name": account}
                name = account.get("name", "")
                if not re.match(r"^[a-z0-9]{3,24}$", name):
                    _err(awhere, "storage account name %r must be 3-24 lowercase letters and digits" % name)
                if name in storage_names:
                    _err(awhere, "storage account name %r is used twice (names are global)" % name)
                storage_names.add(name)
                containers = [str(c) for c in _as_list(account.get("containers", ["backups"]), awhere)]
                for container in containers:
                    if not re.match(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$", container):
                        _err(awhere, "container name %r is not valid" % container)
                nrg["storage_accounts"].append({"name": name, "location": account.get("location", location),
                                                "containers": containers,
                                                "network": check_storage_network(account, awhere, _err)})
            for key in ("recovery_services_vaults", "backup_vaults"):
                for vault in _as_list(rg.get(key), gwhere + "." + key):
                    if isinstance(vault, str):
                        vault = {"name": vault}
                    nrg[key].append({"name": vault["name"], "location": vault.get("location", location),
                                     "identity": _identity(vault.get("identity"), gwhere + "." + key)})
            for vi, vm in enumerate(_as_list(rg.get("vms"), gwhere + ".vms")):
                vwhere = "%s.vms[%d]" % (gwhere, vi)
                nrg["vms"].append(_vm(vm, vwhere, location, seed, sub_id, rg["name"], vm_names))
            nsub["resource_groups"].append(nrg)
        out["subscriptions"].append(nsub)

    out["role_assignments"] = _as_list(raw.get("role_assignments"), "role_assignments")
    directory = raw.get("directory") or {}
    out["directory"] = {key: _as_list(directory.get(key), "directory." + key) for key in (
        "users", "groups", "service_principals", "directory_role_assignments", "app_role_assignments")}
    return out


def _identity(value, where):
    """none | system | {system: bool, user_assigned: [names or resource ids]}"""
    if value in (None, "none", "None", False):
        return {"system": False, "user_assigned": []}
    if value in ("system", "SystemAssigned"):
        return {"system": True, "user_assigned": []}
    if isinstance(value, dict):
        return {"system": bool(value.get("system", False)),
                "user_assigned": [str(x) for x in _as_list(value.get("user_assigned"), where)]}
    _err(where, "identity must be none, system or {system:, user_assigned: [...]}, not %r" % (value,))


# PowerState/<state> codes a VM's instance view reports (learn.microsoft.com/azure/virtual-machines/states-billing);
# the world models the three steady ones a scenario can set.
POWER_STATES = ("running", "stopped", "deallocated")


def _vm(vm, where, location, seed, sub_id, rg_name, vm_names):
    name = vm.get("name")
    if not name or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name):
        _err(where, "VM name %r is not valid" % (name,))
    if name.lower() in vm_names:
        _err(where, "VM name %r is used twice (the world keys VMs by name)" % name)
    vm_names.add(name.lower())
    os_type = str(vm.get("os", "windows")).lower()
    if os_type not in ("windows", "linux"):
        _err(where, "os must be windows or linux")
    power_state = str(vm.get("power_state", "running")).lower()
    if power_state not in POWER_STATES:
        _err(where + ".power_state", "must be one of %s" % ", ".join(POWER_STATES))
    sql = vm.get("sql")
    if sql is not None:
        if not isinstance(sql, dict):
            _err(where + ".sql", "must be a mapping")
        version = str(sql.get("version", ""))
        if not VERSION_RE.match(version):
            _err(where + ".sql.version", "must be a build number such as 16.0.4175.1, not %r" % version)
        if not isinstance(sql.get("clustered", False), bool):
            _err(where + ".sql.clustered", "must be true or false")
        ag = sql.get("availability_group")
        if ag is not None:
            # the SQL side's availability-group key (tests/sim/sqlserver/README.md, "Availability groups")
            if not isinstance(ag, dict) or not ag.get("name"):
                _err(where + ".sql.availability_group", "must be a mapping with a name")
            if str(ag.get("role", "secondary")).lower() not in ("primary", "secondary"):
                _err(where + ".sql.availability_group.role", "must be primary or secondary")
            priority = ag.get("backup_priority", 50)
            if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 100:
                _err(where + ".sql.availability_group.backup_priority", "must be an integer from 0 to 100")
            if str(ag.get("automated_backup_preference", "secondary")).lower() not in (
                    "primary", "secondary_only", "secondary", "none"):
                _err(where + ".sql.availability_group.automated_backup_preference",
                     "must be primary, secondary_only, secondary or none")
    sql_vm = vm.get("sql_vm", {} if sql is not None else False)
    if sql_vm is not False:
        sql_vm = dict(sql_vm or {})
        sql_vm.setdefault("registered", True)
        entra = sql_vm.get("entra_auth", "none")
        if entra not in ("none", "system", None) and not isinstance(entra, str):
            _err(where + ".sql_vm.entra_auth", "must be none, system or a user-assigned identity name")
        sql_vm["entra_auth"] = entra or "none"
        sql_vm.setdefault("name", name)
        if not sql_vm["registered"]:
            sql_vm = False
    backup = vm.get("backup") or {}
    return {
        "name": name, "os": os_type, "location": vm.get("location", location), "power_state": power_state,
        "size": vm.get("size", "Standard_E4ds_v5"),
        "identity": _identity(vm.get("identity"), where + ".identity"),
        "system_principal_id": _guid(vm.get("system_principal_id"), where) or
        guid_for(seed, "vm-principal", sub_id, rg_name.lower(), name.lower()),
        "system_client_id": guid_for(seed, "vm-client", sub_id, rg_name.lower(), name.lower()),
        "vm_id": guid_for(seed, "vm-id", sub_id, rg_name.lower(), name.lower()),
        "sql": sql, "sql_vm": sql_vm,
        "backup": {"storage_account": backup.get("storage_account"), "container": backup.get("container")},
        "expect": vm.get("expect"), "tags": vm.get("tags") or {},
        # Its network interface (network.py): private_ip, subnet, public_ip.
        "network": check_vm_network(vm, where, _err),
    }


# The fleet generator: N VMs cycling through the same cases as the default scenario, 9 of 10 of
# them eligible (so a convergence run has real work), one of 10 failing for a documented reason.
_FLEET_CASES = [
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4185.3", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4215.2", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "17.0.4006.2", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4175.1", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4205.1", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4195.2", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4185.3", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4215.2", "clustered": False}}),
    ("fresh", {"os": "windows", "sql": {"version": "16.0.4175.1", "clustered": False}}),
    ("cu16", {"os": "windows", "sql": {"version": "16.0.4165.4", "clustered": False}}),
]


def generate(count, per_rg=250):
    """A scenario dict (not yet normalised) with `count` SQL VMs."""
    groups = []
    for start in range(0, count, per_rg):
        index = start // per_rg
        account = "stfleet%04d" % index
        vms = []
        for i in range(start, min(count, start + per_rg)):
            case, spec = _FLEET_CASES[i % len(_FLEET_CASES)]
            vm = {"name": "sqlvm-%04d" % i, "os": spec["os"], "sql": dict(spec["sql"], instance="MSSQLSERVER"),
                  "sql_vm": {"registered": True, "entra_auth": "none"},
                  "backup": {"storage_account": account, "container": "backups"}}
            vms.append(vm)
        groups.append({"name": "rg-fleet-%02d" % index, "location": "westeurope", "vms": vms,
                       "storage_accounts": [{"name": account, "containers": ["backups"]}]})
    return {
        "tenant": {"domain": "fleet.onmicrosoft.com"},
        "subscriptions": [{"name": "fleet", "resource_groups": groups}],
        "directory": {"users": [{"upn": "dba1@fleet.onmicrosoft.com", "display_name": "DBA One"}],
                      "groups": [{"display_name": "SQL DBAs", "members": ["user:dba1@fleet.onmicrosoft.com"]}]},
    }
