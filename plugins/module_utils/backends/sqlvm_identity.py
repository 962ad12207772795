# -*- coding: utf-8 -*-
# Copyright: sqlvm.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""SQL virtual machine backend: VM managed identities and the primary identity for Entra auth.

REST shapes (Azure/azure-rest-api-specs):
- Microsoft.Compute virtualMachines, ``identity`` (VirtualMachineIdentity: type, principalId,
  tenantId, userAssignedIdentities{id: {principalId, clientId}}); PATCH is long-running and a
  user-assigned entry set to ``null`` detaches it —
  specification/compute/resource-manager/Microsoft.Compute/ComputeRP/stable/*/virtualMachine.json.
- Microsoft.SqlVirtualMachine sqlVirtualMachines 2023-10-01: GET takes ``$expand`` (child settings),
  PUT is long-running (final state via Azure-AsyncOperation), PATCH only updates tags;
  ``properties.serverConfigurationsManagementSettings.azureAdAuthenticationSettings.clientId`` is
  the primary identity ('' = system-assigned); ``properties.osType`` and ``sqlImageOffer`` are
  read-only facts —
  specification/sqlvirtualmachine/resource-manager/Microsoft.SqlVirtualMachine/stable/2023-10-01/sqlvm.json.
- Microsoft.ManagedIdentity userAssignedIdentities (principalId, clientId, tenantId) —
  specification/msi/resource-manager/Microsoft.ManagedIdentity/stable/2023-01-31/ManagedIdentity.json.

Limits (seed 002 "Backup and restore to URL using managed identities"): Windows only, SQL Server
2022 CU17 (16.0.4175.1) or later / 2025, no failover cluster instance, SQL IaaS Agent registration.
ARM does not expose the exact SQL Server build or whether an instance is clustered: the image offer
gives the major version; the exact build and FCI come from SQL Server itself (SERVERPROPERTY), which
callers pass in as facts. The resource provider enforces the same rule on PUT; its refusal is
translated into the same message.
"""
from __future__ import annotations

import re

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import api_version
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    InvalidInputError,
    PrerequisiteError,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import check_text

SQLVM_API_VERSION = api_version("Microsoft.SqlVirtualMachine/sqlVirtualMachines")
COMPUTE_API_VERSION = api_version("Microsoft.Compute/virtualMachines")
MSI_API_VERSION = api_version("Microsoft.ManagedIdentity/userAssignedIdentities")

MIN_SQL2022_BUILD = (16, 0, 4175, 1)  # SQL Server 2022 CU17 (FACTS.md, CU build table)
_MAJOR_BY_YEAR = {2008: 10, 2012: 11, 2014: 12, 2016: 13, 2017: 14, 2019: 15, 2022: 16, 2025: 17}
_YEAR_BY_MAJOR = {v: k for k, v in _MAJOR_BY_YEAR.items()}

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_UAI_ID_RE = re.compile(
    r"^/subscriptions/[^/\x00-\x1f\x7f]+/resourcegroups/[^/\x00-\x1f\x7f]+/providers/microsoft\.managedidentity/"
    r"userassignedidentities/[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z",
    re.IGNORECASE,
)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.()-]{0,127}\Z")

SYSTEM = "system"


def is_guid(value):
    return isinstance(value, str) and bool(GUID_RE.fullmatch(value))


# ---------------------------------------------------------------------------------------------
# ARM calls through the collection's one HTTP pipeline (http.py: retries, LROs, error messages).
# Sibling backends (vault_identity, role_assignments, readiness) use these two as well.

def arm_get(session, path, api_version, params=None):
    """GET an ARM resource by path; None when it does not exist (404)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import send_json

    query = dict(params or {})
    query["api-version"] = api_version
    response = send_json(session.arm, "GET", path, expected=(200, 404), params=query,
                         operation="read", resource=path)
    return None if response.status == 404 else response.body


def arm_write(session, method, path, api_version, body, operation, long_running=True):
    """PUT/PATCH/DELETE; long-running ones are polled to the end. Returns the final body."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import send_json, wait_for_lro

    query = {"api-version": api_version}
    if not long_running:
        return send_json(session.arm, method, path, body=body, expected=(200, 201, 204), params=query,
                         operation=operation, resource=path).body
    return wait_for_lro(session.arm, method, path, body=body, deadline=session.deadline, params=query,
                        operation=operation, resource=path)


# ---------------------------------------------------------------------------------------------
# SQL Server version and platform eligibility (pure)

def parse_build(text):
    """'16.0.4175.1' -> (16, 0, 4175, 1); raises ValueError on anything else."""
    parts = str(text).strip().split(".")
    if len(parts) < 2 or len(parts) > 4 or not all(p.isdigit() for p in parts):
        raise ValueError("not a SQL Server build number: %r" % (text,))
    numbers = tuple(int(p) for p in parts)
    return numbers + (0,) * (4 - len(numbers))


def format_build(build):
    return ".".join(str(n) for n in build)


def release_name(major):
    year = _YEAR_BY_MAJOR.get(major)
    return "SQL Server %s" % year if year else "SQL Server (major version %d)" % major


def image_offer_major(offer):
    """Major version from a SQL image offer such as 'SQL2022-WS2022' (None when not telling)."""
    match = re.match(r"^sql(\d{4})", str(offer or ""), re.IGNORECASE)
    if not match:
        return None
    return _MAJOR_BY_YEAR.get(int(match.group(1)))


def build_problem(build):
    """Why this build cannot back up with a managed identity, or None when it can."""
    fix = ("upgrade to SQL Server 2022 CU17 (16.0.4175.1) or later, or SQL Server 2025, "
           "then run again")
    if build[0] >= 17:
        return None
    if build[0] == 16:
        if build >= MIN_SQL2022_BUILD:
            return None
        return ("SQL Server 2022 build %s is older than CU17 (16.0.4175.1), the first build that "
                "supports managed identities for backup to URL; %s" % (format_build(build), fix))
    return ("%s (build %s) does not support managed identities for backup to URL; %s"
            % (release_name(build[0]), format_build(build), fix))


def prerequisite_problems(sqlvm, vm, sql_version=None, failover_cluster_instance=None):
    """Every documented reason this SQL VM cannot use a managed identity; [] when eligible.

    ``sqlvm``/``vm`` are ARM GET bodies; ``sql_version`` (SERVERPROPERTY('ProductVersion')) and
    ``failover_cluster_instance`` (SERVERPROPERTY('IsClustered')) are facts from SQL Server.
    """
    problems = []
    props = (sqlvm or {}).get("properties") or {}
    vm_props = (vm or {}).get("properties") or {}
    os_type = props.get("osType") or ((vm_props.get("storageProfile") or {}).get("osDisk") or {}).get("osType")
    if os_type and str(os_type).lower() != "windows":
        problems.append(
            "the VM runs %s; SQL Server managed identities (Entra authentication, backup to URL) "
            "are supported on Windows only — use a Windows SQL Server VM" % os_type)
    if sql_version:
        problem = build_problem(parse_build(sql_version))
        if problem:
            problems.append(problem)
    else:
        major = image_offer_major(props.get("sqlImageOffer"))
        if major is not None and major < 16:
            problems.append(
                "the SQL VM image offer %s is %s, which does not support managed identities for "
                "backup to URL; upgrade to SQL Server 2022 CU17 (16.0.4175.1) or later, or 2025"
                % (props.get("sqlImageOffer"), release_name(major)))
    if failover_cluster_instance:
        problems.append(
            "SQL Server runs as a failover cluster instance, and managed identities are not "
            "supported on FCIs; use a standalone instance (an availability group replica is fine)")
    return problems


# ---------------------------------------------------------------------------------------------
# identity maps (pure) — shared with vault_identity: every ARM resource uses the same shape

def identity_types(identity):
    """(has_system, {lowercased uai id: (original id, entry)}) from an ARM identity object."""
    identity = identity or {}
    kinds = {k.strip().lower() for k in str(identity.get("type") or "None").split(",")}
    uais = {}
    for key, entry in (identity.get("userAssignedIdentities") or {}).items():
        if entry is None:
            continue
        uais[key.lower()] = (key, entry or {})
    return "systemassigned" in kinds, uais


def identity_type_string(system, user, both="SystemAssigned, UserAssigned"):
    if system and user:
        return both
    if system:
        return "SystemAssigned"
    if user:
        return "UserAssigned"
    return "None"


def plan_identity(current, want_system, want_user_ids, exclusive=False, both="SystemAssigned, UserAssigned"):
    """Decide the identity PATCH body that adds (and with ``exclusive`` removes) identities.

    Returns ``(patch_identity or None, added, removed)`` where ``added``/``removed`` name what
    changes: ``'system'`` or user-assigned resource ids. Ids compare case-insensitively because
    ARM echoes resource-group segments in varying case.
    """
    has_system, uais = identity_types(current)
    wanted = {}
    for rid in want_user_ids or ():
        wanted.setdefault(rid.lower(), rid)
    added, removed = [], []
    new_system = has_system
    if want_system and not has_system:
        new_system = True
        added.append(SYSTEM)
    elif exclusive and has_system and not want_system:
        new_system = False
        removed.append(SYSTEM)
    for key, rid in wanted.items():
        if key not in uais:
            added.append(rid)
    if exclusive:
        for key, (rid, _entry) in uais.items():
            if key not in wanted:
                removed.append(rid)
    if not added and not removed:
        return None, [], []
    keep = {k for k in uais if k in wanted or not exclusive}
    final_user = bool(keep or wanted)
    patch = {"type": identity_type_string(new_system, final_user, both)}
    user_map = {}
    for key in wanted:
        if key not in uais:
            user_map[wanted[key]] = {}
    for rid in removed:
        if rid != SYSTEM and final_user:
            user_map[rid] = None  # null detaches it (Compute VirtualMachineIdentity docs)
    if user_map:
        patch["userAssignedIdentities"] = user_map
    return patch, added, removed


def predict_identity(current, patch, uai_details):
    """The identity ARM will report after ``patch`` (principal ids of new ones unknown)."""
    if patch is None:
        return current or {"type": "None"}
    has_system, uais = identity_types(current)
    kinds = {k.strip().lower() for k in patch["type"].split(",")}
    result = {"type": patch["type"]}
    if "systemassigned" in kinds:
        if has_system:
            result["principalId"] = (current or {}).get("principalId")
            result["tenantId"] = (current or {}).get("tenantId")
        else:
            result["principalId"] = None
    user = {}
    if "userassigned" in kinds:
        for key, (rid, entry) in uais.items():
            if (patch.get("userAssignedIdentities") or {}).get(rid, {}) is not None:
                user[rid] = entry
        for rid, value in (patch.get("userAssignedIdentities") or {}).items():
            if value is not None and rid.lower() not in uais:
                details = uai_details.get(rid.lower()) or {}
                props = details.get("properties") or {}
                user[rid] = {"principalId": props.get("principalId"), "clientId": props.get("clientId")}
        result["userAssignedIdentities"] = user
    return result


def find_user_identity(identity, rid):
    _system, uais = identity_types(identity)
    found = uais.get(rid.lower())
    return found[1] if found else None


def summarize_identity(identity):
    """Snake-case summary for results and diffs."""
    has_system, uais = identity_types(identity)
    return {
        "type": (identity or {}).get("type") or "None",
        "system_assigned": has_system,
        "principal_id": (identity or {}).get("principalId") if has_system else None,
        "tenant_id": (identity or {}).get("tenantId"),
        "user_assigned": sorted(
            ({"id": rid, "principal_id": entry.get("principalId"), "client_id": entry.get("clientId")}
             for rid, entry in uais.values()),
            key=lambda e: e["id"].lower()),
    }


def current_primary_client_id(sqlvm):
    """clientId of the primary identity: None = Entra auth not enabled, '' = system-assigned."""
    props = (sqlvm or {}).get("properties") or {}
    settings = (props.get("serverConfigurationsManagementSettings") or {}).get("azureAdAuthenticationSettings")
    if not settings or "clientId" not in settings or settings.get("clientId") is None:
        return None
    return settings.get("clientId")


def same_client_id(left, right):
    """Client ids are GUIDs: compare without case; None (Entra auth off) equals only None."""
    if left is None or right is None:
        return left is right
    return left.lower() == right.lower()


def describe_primary(client_id):
    if client_id is None:
        return "not set (Entra authentication disabled)"
    if client_id == "":
        return "system-assigned identity"
    return "user-assigned identity with client id %s" % client_id


_READ_ONLY_SQLVM = ("id", "name", "type", "systemData")
_READ_ONLY_SQLVM_PROPS = ("provisioningState", "additionalVmPatch", "osType", "troubleshootingStatus")


def sqlvm_put_body(sqlvm, client_id):
    """PUT body: the resource as read, minus read-only fields, with the primary identity set.

    Sending what was read (as ``az sql vm enable-azure-ad-auth`` does through the SDK model) keeps
    every other setting as it is — PUT replaces the resource.
    """
    body = {k: v for k, v in sqlvm.items() if k not in _READ_ONLY_SQLVM}
    props = {k: v for k, v in (sqlvm.get("properties") or {}).items() if k not in _READ_ONLY_SQLVM_PROPS}
    settings = dict(props.get("serverConfigurationsManagementSettings") or {})
    settings["azureAdAuthenticationSettings"] = {"clientId": client_id}
    props["serverConfigurationsManagementSettings"] = settings
    body["properties"] = props
    return body


# ---------------------------------------------------------------------------------------------
# input validation (pure)

def normalize_user_identity(value, subscription_id, resource_group, option="user_assigned"):
    """A user-assigned identity given by resource id or by name (in ``resource_group``)."""
    check_text(value or "", option, "the identity's name or resource id")
    if value.startswith("/"):
        if not _UAI_ID_RE.fullmatch(value):
            raise InvalidInputError(
                "user-assigned identity %r is not a Microsoft.ManagedIdentity/userAssignedIdentities "
                "resource id; give '/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/<name>' or just the name" % value)
        return value
    if not _NAME_RE.fullmatch(value):
        raise InvalidInputError(
            "user-assigned identity name %r is not valid; give the identity's name or resource id"
            % value)
    return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ManagedIdentity/"
            "userAssignedIdentities/%s" % (subscription_id, resource_group, value))


def check_names(desired, keys, required=()):
    """InvalidInputError, before any request, for each of `keys` that is set (or in `required`) but is not
    an Azure resource name: a blank, a line break or a control character never reaches ARM or Graph."""
    for key in keys:
        value = desired.get(key)
        if value in (None, "") and key not in required:
            continue
        if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
            raise InvalidInputError(
                "%s %r is not a valid Azure resource name; give the name as the portal shows it: letters, "
                "digits, '-', '_', '.', '(' or ')', starting with a letter or digit, without spaces or line "
                "breaks" % (key, value))


def validate_desired(desired):
    """Raise InvalidInputError for options that cannot work, before any request."""
    check_names(desired, ("resource_group", "vm_name", "sql_vm_name"), required=("resource_group", "vm_name"))
    if desired.get("sql_version"):
        try:
            parse_build(desired["sql_version"])
        except ValueError:
            raise InvalidInputError(
                "sql_version %r is not a SQL Server build number; give what "
                "SERVERPROPERTY('ProductVersion') returns, e.g. 16.0.4175.1" % desired["sql_version"])
    users = desired.get("user_assigned") or []
    primary = desired.get("primary")
    if not desired.get("system_assigned") and not users:
        raise InvalidInputError(
            "nothing to make primary: set system_assigned=true or list user_assigned identities")
    if primary in (None, ""):
        if desired.get("system_assigned"):
            desired["primary"] = SYSTEM
        elif len(users) == 1:
            desired["primary"] = users[0]
        else:
            raise InvalidInputError(
                "several user-assigned identities and no system-assigned one: say which is primary "
                "with primary=<name or resource id>")
    elif primary != SYSTEM:
        if primary.lower() not in {u.lower() for u in users}:
            raise InvalidInputError(
                "primary %r is not among user_assigned; list it there too, or use primary=system"
                % primary)
    elif not desired.get("system_assigned"):
        raise InvalidInputError("primary=system needs system_assigned=true")
    return desired


# ---------------------------------------------------------------------------------------------
# Azure calls

def sqlvm_path(subscription_id, resource_group, name):
    return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.SqlVirtualMachine/"
            "sqlVirtualMachines/%s" % (subscription_id, resource_group, name))


def vm_path(subscription_id, resource_group, name):
    return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines/%s"
            % (subscription_id, resource_group, name))


def read_sqlvm(session, resource_group, name):
    # $expand=* returns serverConfigurationsManagementSettings (azure-cli `az sql vm show --expand *`).
    return arm_get(session, sqlvm_path(session.subscription_id, resource_group, name),
                   SQLVM_API_VERSION, params={"$expand": "*"})


def read_vm(session, vm_id):
    return arm_get(session, vm_id, COMPUTE_API_VERSION)


def read_state(session, desired):
    """(sqlvm, vm) as they are; PrerequisiteError when either is missing."""
    rg, name = desired["resource_group"], desired.get("sql_vm_name") or desired["vm_name"]
    sqlvm = read_sqlvm(session, rg, name)
    if sqlvm is None:
        raise PrerequisiteError(
            "SQL virtual machine resource %s/%s not found: the VM is not registered with the SQL "
            "IaaS Agent extension; register it (az sql vm create -g %s -n %s --license-type PAYG) "
            "and run again" % (rg, name, rg, name))
    vm_id = (sqlvm.get("properties") or {}).get("virtualMachineResourceId") or vm_path(
        session.subscription_id, rg, desired["vm_name"])
    vm = read_vm(session, vm_id)
    if vm is None:
        raise PrerequisiteError(
            "virtual machine %s (referenced by SQL VM %s) not found; check vm_name/resource_group"
            % (vm_id, name))
    return sqlvm, vm


def _read_uai(session, rid):
    uai = arm_get(session, rid, MSI_API_VERSION)
    if uai is None:
        raise InvalidInputError(
            "user-assigned identity %s does not exist; create it (az identity create) or fix the "
            "name/resource group" % rid)
    return uai


def ensure_present(session, desired, check_mode):
    """Attach identities to the VM and make the chosen one primary for Entra authentication."""
    validate_desired(desired)
    sub = session.subscription_id
    users = [normalize_user_identity(u, sub, desired["resource_group"]) for u in desired.get("user_assigned") or []]
    primary = desired["primary"]
    primary_rid = None if primary == SYSTEM else normalize_user_identity(primary, sub, desired["resource_group"])

    sqlvm, vm = read_state(session, desired)
    problems = prerequisite_problems(sqlvm, vm, desired.get("sql_version"), desired.get("failover_cluster_instance"))
    if problems:
        raise PrerequisiteError("SQL VM %s cannot use a managed identity: %s" % (sqlvm.get("name"), "; ".join(problems)))

    current_identity = vm.get("identity") or {"type": "None"}
    patch, added, removed = plan_identity(current_identity, desired.get("system_assigned"), users, desired.get("exclusive"))
    uai_details = {}
    for rid in added:
        if rid != SYSTEM:
            uai_details[rid.lower()] = _read_uai(session, rid)
    predicted = predict_identity(current_identity, patch, uai_details)

    if primary_rid:
        entry = find_user_identity(predicted, primary_rid) or {}
        want_client_id = entry.get("clientId")
    else:
        want_client_id = ""
    have_client_id = current_primary_client_id(sqlvm)
    primary_changes = not same_client_id(have_client_id, want_client_id)

    changes = []
    if added:
        changes.append({"action": "attach", "identities": added})
    if removed:
        changes.append({"action": "detach", "identities": removed})
    if primary_changes:
        changes.append({"action": "set_primary", "from": describe_primary(have_client_id),
                        "to": describe_primary(want_client_id)})

    after_identity = predicted
    after_sqlvm = sqlvm
    if not check_mode:
        if patch is not None:
            updated = arm_write(session, "PATCH", vm["id"], COMPUTE_API_VERSION, {"identity": patch},
                                operation="attach managed identities to VM %s" % vm.get("name"))
            if not updated or "identity" not in updated:
                updated = read_vm(session, vm["id"])
            after_identity = updated.get("identity") or predicted
            if primary_rid:
                want_client_id = (find_user_identity(after_identity, primary_rid) or {}).get("clientId", want_client_id)
        if primary_changes or not same_client_id(have_client_id, want_client_id):
            try:
                after_sqlvm = arm_write(
                    session, "PUT", sqlvm["id"], SQLVM_API_VERSION, sqlvm_put_body(sqlvm, want_client_id),
                    operation="set the primary managed identity on SQL VM %s" % sqlvm.get("name"))
            except AzureApiError as err:
                raise _explain_sqlvm_refusal(err, sqlvm)
            if not after_sqlvm or current_primary_client_id(after_sqlvm) is None:
                after_sqlvm = sqlvm_put_body(sqlvm, want_client_id)
    else:
        after_sqlvm = sqlvm_put_body(sqlvm, want_client_id) if primary_changes else sqlvm

    before = _state_view(sqlvm, current_identity, have_client_id)
    after = _state_view(after_sqlvm, after_identity, want_client_id)
    result = _primary_view(after_identity, primary_rid)
    result["changes"] = changes
    result["identity"] = summarize_identity(after_identity)
    result["primary"] = describe_primary(want_client_id)
    return bool(changes), before, after, result


def _explain_sqlvm_refusal(err, sqlvm):
    text = "%s %s" % (getattr(err, "code", "") or "", getattr(err, "message", "") or "")
    if "version" in text.lower() or "cluster" in text.lower() or "linux" in text.lower():
        return PrerequisiteError(
            "Azure refused to enable Entra authentication on SQL VM %s (%s); it needs Windows, SQL "
            "Server 2022 CU17 (16.0.4175.1) or later or 2025, and no failover cluster instance — "
            "pass sql_version (SERVERPROPERTY('ProductVersion')) to have this checked before any change"
            % (sqlvm.get("name"), text.strip()))
    return err


def _state_view(sqlvm, identity, client_id):
    return {
        "vm_identity": summarize_identity(identity),
        "entra_authentication": {
            "enabled": client_id is not None,
            "primary_client_id": client_id,
            "primary": describe_primary(client_id),
        },
    }


def _primary_view(identity, primary_rid):
    if primary_rid:
        entry = find_user_identity(identity, primary_rid) or {}
        return {"principal_id": entry.get("principalId"), "client_id": entry.get("clientId"),
                "tenant_id": (identity or {}).get("tenantId"), "primary_identity_id": primary_rid}
    return {"principal_id": (identity or {}).get("principalId"), "client_id": None,
            "tenant_id": (identity or {}).get("tenantId"), "primary_identity_id": None}
