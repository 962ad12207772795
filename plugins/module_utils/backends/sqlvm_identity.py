# Copyright (c) sqlvm.backup developers
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

Limits (Microsoft Learn "Backup and restore to URL using managed identities"): Windows only, SQL Server
2022 CU17 (16.0.4175.1) or later / 2025, no failover cluster instance, SQL IaaS Agent registration.
ARM does not expose the exact SQL Server build or whether an instance is clustered: the image offer
gives the major version; the exact build and FCI come from SQL Server itself (SERVERPROPERTY), which
callers pass in as facts. The resource provider enforces the same rule on PUT; its refusal is
translated into the same message.
"""
from __future__ import annotations

import re

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
    SQL_VIRTUAL_MACHINES,
    USER_ASSIGNED_IDENTITIES,
    VIRTUAL_MACHINES,
    api_version,
    arm_get,
    arm_write,
    check_names,
    normalize_user_identity,
    sqlvm_id,
    vm_id,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.managed_identity import (
    SYSTEM,
    find_user_identity,
    plan_identity,
    predict_identity,
    summarize_identity,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    InvalidInputError,
    PrerequisiteError,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

SQLVM_API_VERSION = api_version(SQL_VIRTUAL_MACHINES)
COMPUTE_API_VERSION = api_version(VIRTUAL_MACHINES)
MSI_API_VERSION = api_version(USER_ASSIGNED_IDENTITIES)

# SQL Server 2022 CU17, the first 2022 build that backs up to URL with a managed identity (Microsoft
# Learn "Backup and restore to URL using managed identities"; its build number as Microsoft's list of
# SQL Server 2022 cumulative updates gives it).
MIN_SQL2022_BUILD = (16, 0, 4175, 1)
_MAJOR_BY_YEAR = {2008: 10, 2012: 11, 2014: 12, 2016: 13, 2017: 14, 2019: 15, 2022: 16, 2025: 17}
_YEAR_BY_MAJOR = {v: k for k, v in _MAJOR_BY_YEAR.items()}


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

def validate(desired):
    """Raise InvalidInputError for options that cannot work, before any request."""
    if desired.get("system_assigned") is None:
        # Not given: a system-assigned identity unless user-assigned ones are listed.
        desired["system_assigned"] = not desired.get("user_assigned")
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

def read_sqlvm(session, resource_group, name):
    # $expand=* returns serverConfigurationsManagementSettings (azure-cli `az sql vm show --expand *`).
    return arm_get(session, sqlvm_id(session.subscription_id, resource_group, name),
                   SQLVM_API_VERSION, params={"$expand": "*"})


def read_vm(session, vm_id):
    return arm_get(session, vm_id, COMPUTE_API_VERSION)


def virtual_machine_id(session, sqlvm, desired):
    """The VM behind a SQL VM resource: as it names it, else vm_name in resource_group."""
    return (sqlvm.get("properties") or {}).get("virtualMachineResourceId") or vm_id(
        session.subscription_id, desired["resource_group"], desired["vm_name"])


def read_state(session, desired):
    """(sqlvm, vm) as they are; PrerequisiteError when either is missing."""
    rg, name = desired["resource_group"], desired.get("sql_vm_name") or desired["vm_name"]
    sqlvm = read_sqlvm(session, rg, name)
    if sqlvm is None:
        raise PrerequisiteError(
            "SQL virtual machine resource %s/%s not found: the VM is not registered with the SQL "
            "IaaS Agent extension; register it (az sql vm create -g %s -n %s --license-type PAYG) "
            "and run again" % (rg, name, rg, name))
    vm_resource_id = virtual_machine_id(session, sqlvm, desired)
    vm = read_vm(session, vm_resource_id)
    if vm is None:
        raise PrerequisiteError(
            "virtual machine %s (referenced by SQL VM %s) not found; check vm_name/resource_group"
            % (vm_resource_id, name))
    return sqlvm, vm


def _read_uai(session, rid):
    uai = arm_get(session, rid, MSI_API_VERSION)
    if uai is None:
        raise InvalidInputError(
            "user-assigned identity %s does not exist; create it (az identity create) or fix the "
            "name/resource group" % rid)
    return uai


def ensure(session, desired, check_mode):
    """Attach identities to the VM and make the chosen one primary for Entra authentication -> Result."""
    validate(desired)
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
                arm_write(session, "PUT", sqlvm["id"], SQLVM_API_VERSION, sqlvm_put_body(sqlvm, want_client_id),
                          operation="set the primary managed identity on SQL VM %s" % sqlvm.get("name"))
            except AzureApiError as err:
                raise _explain_sqlvm_refusal(err, sqlvm)

    tracker = DifferenceTracker()
    for name, before, after in (
            ("vm_identity", summarize_identity(current_identity), summarize_identity(after_identity)),
            ("entra_authentication", _entra_view(have_client_id), _entra_view(want_client_id))):
        tracker.add(name, before, after, differs=before != after)
    values = _primary_view(after_identity, primary_rid)
    values.update(changes=changes, identity=summarize_identity(after_identity), primary=describe_primary(want_client_id))
    return Result(bool(changes), tracker.before(), tracker.after(), **values)


def _explain_sqlvm_refusal(err, sqlvm):
    text = "%s %s" % (getattr(err, "code", "") or "", getattr(err, "message", "") or "")
    if "version" in text.lower() or "cluster" in text.lower() or "linux" in text.lower():
        return PrerequisiteError(
            "Azure refused to enable Entra authentication on SQL VM %s (%s); it needs Windows, SQL "
            "Server 2022 CU17 (16.0.4175.1) or later or 2025, and no failover cluster instance — "
            "pass sql_version (SERVERPROPERTY('ProductVersion')) to have this checked before any change"
            % (sqlvm.get("name"), text.strip()))
    return err


def _entra_view(client_id):
    return {"enabled": client_id is not None, "primary_client_id": client_id, "primary": describe_primary(client_id)}


def _primary_view(identity, primary_rid):
    if primary_rid:
        entry = find_user_identity(identity, primary_rid) or {}
        return {"principal_id": entry.get("principalId"), "client_id": entry.get("clientId"),
                "tenant_id": (identity or {}).get("tenantId"), "primary_identity_id": primary_rid}
    return {"principal_id": (identity or {}).get("principalId"), "client_id": None,
            "tenant_id": (identity or {}).get("tenantId"), "primary_identity_id": None}
