# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only backup-readiness report of one SQL VM: the steps Microsoft Learn "Backup and restore to URL
using managed identities" lists before a backup (an eligible SQL VM, a primary managed identity for
Microsoft Entra authentication, directory read for it, a blob data role on the storage); see docs/design.md.

Each check is ``{"ready": bool, "reason": str, ...facts}``; the report's ``ready`` is their AND.
The read path is: SQL VM (``$expand=*``), its VM, then — only when asked — Graph for directory
read and ARM role assignments at the storage scope for the primary identity's principal.
`evaluate` builds the report from what was read; sqlvm_fleet_info calls it too, with the same inputs
read in bulk for many VMs, so both modules report a VM alike.
"""
from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import check_names, normalize_scope, scope_contains
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.managed_identity import summarize_identity
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_identity as sqlvm
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError, InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

STORAGE_ROLES = {  # roles that let the identity write backup blobs (Azure built-in roles)
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
}


def check(ready, reason, **facts):
    facts.update(ready=bool(ready), reason=reason)
    return facts


# ---------------------------------------------------------------------------------------------
# pure verdicts

def platform_check(sqlvm_resource, vm, sql_version=None, failover_cluster_instance=None):
    problems = sqlvm.prerequisite_problems(sqlvm_resource, vm, sql_version, failover_cluster_instance)
    props = (sqlvm_resource or {}).get("properties") or {}
    facts = {"os_type": props.get("osType"), "sql_image_offer": props.get("sqlImageOffer"),
             "sql_version": sql_version, "build_checked": bool(sql_version)}
    if problems:
        return check(False, "; ".join(problems), **facts)
    if sql_version:
        return check(True, "Windows, SQL Server %s supports managed identities" % sql_version, **facts)
    return check(True, "Windows and a supported image offer; the exact build (2022 CU17+ needed) is "
                       "not visible in Azure — pass sql_version to check it", **facts)


def primary_identity(vm, sqlvm_resource):
    """(identity check, principal_id or None) from the VM identities and the SQL VM's clientId."""
    identity = (vm or {}).get("identity")
    summary = summarize_identity(identity)
    client_id = sqlvm.current_primary_client_id(sqlvm_resource)
    if not summary["system_assigned"] and not summary["user_assigned"]:
        return check(False, "the VM has no managed identity; run sqlvm.backup.sqlvm_identity",
                     vm_identity=summary), check(False, "Entra authentication cannot be enabled without an identity",
                                                 enabled=False, primary_client_id=None), None
    ident = check(True, "the VM has %s" % summary["type"], vm_identity=summary)
    if client_id is None:
        return ident, check(False, "Entra authentication is not enabled on the SQL VM (no primary identity; "
                                   "backups fail with error 37563); run sqlvm.backup.sqlvm_identity",
                            enabled=False, primary_client_id=None), None
    if client_id == "":
        if not summary["system_assigned"]:
            return ident, check(False, "the primary identity is the system-assigned one, but the VM has none; "
                                       "run sqlvm.backup.sqlvm_identity", enabled=True, primary_client_id=""), None
        return ident, check(True, "primary identity: system-assigned (%s)" % summary["principal_id"],
                            enabled=True, primary_client_id="", primary_principal_id=summary["principal_id"]), \
            summary["principal_id"]
    for entry in summary["user_assigned"]:
        if str(entry.get("client_id") or "").lower() == client_id.lower():
            return ident, check(True, "primary identity: user-assigned %s" % entry["id"], enabled=True,
                                primary_client_id=client_id, primary_principal_id=entry["principal_id"]), \
                entry["principal_id"]
    return ident, check(False, "the primary identity (client id %s) is not attached to the VM; attach it "
                               "or choose another with sqlvm.backup.sqlvm_identity" % client_id,
                        enabled=True, primary_client_id=client_id), None


def storage_check(assignments, scope, principal_id):
    """Does the principal hold a blob-writing role at ``scope`` or above it?"""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.role_assignment import role_guid_of
    holding = []
    for item in assignments or ():
        props = item.get("properties") or {}
        role = role_guid_of(props.get("roleDefinitionId"))
        # An assignment at the root scope '/' is not counted here (role_assignment counts it as inherited).
        if (role in STORAGE_ROLES and str(props.get("principalId", "")).lower() == principal_id.lower()
                and normalize_scope(props.get("scope")) != "/" and scope_contains(props.get("scope"), scope)):
            holding.append({"role": STORAGE_ROLES[role], "scope": props.get("scope")})
    if holding:
        return check(True, "%s at %s" % (holding[0]["role"], holding[0]["scope"]), assignments=holding)
    return check(False, "the primary identity has no Storage Blob Data Contributor at %s or above (backups "
                        "fail with 3201 access denied); grant it with sqlvm.backup.role_assignment" % scope,
                 assignments=[])


# ---------------------------------------------------------------------------------------------
# reads

def read(session, desired):
    """The readiness report -> Result (never changed)."""
    return Result(False, **_report(session, desired))


def validate(desired, subscription_id=None, prefix=""):
    """Check the options of one VM before any request (InvalidInputError naming ``prefix`` + the option);
    returns the normalized storage scope or None. ``subscription_id``: the one the storage scope must be
    in, when known."""
    if not desired.get("resource_group") or not desired.get("vm_name"):
        raise InvalidInputError("%sresource_group and %svm_name are required" % (prefix, prefix))
    check_names({prefix + k: desired.get(k) for k in ("resource_group", "vm_name", "sql_vm_name")},
                [prefix + k for k in ("resource_group", "vm_name", "sql_vm_name")])
    if desired.get("sql_version"):
        try:
            sqlvm.parse_build(desired["sql_version"])
        except ValueError:
            raise InvalidInputError("%ssql_version %r is not a build number such as 16.0.4175.1; give what "
                                    "SERVERPROPERTY('ProductVersion') returns (sqlvm.backup.sql_info: "
                                    "instance.product_version)" % (prefix, desired["sql_version"]))
    if not desired.get("storage_scope"):
        return None
    # role_assignment is compiled only for the checks that need it (paid per task).
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.role_assignment import validate_scope
    return validate_scope(desired["storage_scope"], subscription_id, option=prefix + "storage_scope")


def evaluate(desired, sqlvm_resource, vm, scope=None, directory_verdict=None, storage_assignments=None):
    """The readiness report of one VM from what was read - the one place the report is built, for
    sqlvm_info (one VM, read per VM) and sqlvm_fleet_info (many, read in bulk) alike.

    ``sqlvm_resource``: the SQL VM resource read with ``$expand=*`` (None: not registered); ``vm``: the VM
    it names ({} when unknown); ``scope``: the normalized storage scope or None; ``directory_verdict(principal)``
    -> (can_read, reason), called only when ``check_directory`` is on and there is a primary identity, may
    raise AzureApiError (reported in the check); ``storage_assignments(principal)`` -> the role assignments
    at or above ``scope`` (other ones are ignored), called only with a scope and a primary identity.
    """
    report = {"checks": {}}
    checks = report["checks"]
    if sqlvm_resource is None:
        checks["sql_vm_resource"] = check(False, "no SQL virtual machine resource: register the VM with the SQL IaaS "
                                                 "Agent extension (az sql vm create)")
        report["ready"] = False
        report["not_ready"] = ["sql_vm_resource"]
        return report
    checks["sql_vm_resource"] = check(True, "registered with the SQL IaaS Agent extension", id=sqlvm_resource.get("id"))
    checks["platform"] = platform_check(sqlvm_resource, vm, desired.get("sql_version"),
                                        desired.get("failover_cluster_instance"))
    checks["vm_identity"], checks["entra_authentication"], principal = primary_identity(vm, sqlvm_resource)
    report["primary_principal_id"] = principal
    if desired.get("check_directory", True):
        if principal:
            try:
                ok, reason = directory_verdict(principal)
                checks["directory_read"] = check(ok, "the primary identity " + reason)
            except AzureApiError as err:
                checks["directory_read"] = check(False, "could not read Microsoft Graph (%s); the automation "
                                                        "principal needs Directory.Read.All to check this" % err)
        else:
            checks["directory_read"] = check(False, "no primary identity to check")
    if scope:
        if principal:
            checks["storage_access"] = storage_check(storage_assignments(principal), scope, principal)
        else:
            checks["storage_access"] = check(False, "no primary identity to check", assignments=[])
    report["ready"] = all(c["ready"] for c in checks.values())
    report["not_ready"] = sorted(name for name, c in checks.items() if not c["ready"])
    return report


def _report(session, desired):
    scope = validate(desired)
    if scope:  # now also against the task's subscription (which may take a request to learn)
        scope = validate(desired, session.subscription_id)
    sqlvm_resource = sqlvm.read_sqlvm(session, desired["resource_group"], desired.get("sql_vm_name") or desired["vm_name"])
    vm = None
    if sqlvm_resource is not None:
        vm = sqlvm.read_vm(session, sqlvm.virtual_machine_id(session, sqlvm_resource, desired)) or {}
    return evaluate(desired, sqlvm_resource, vm, scope,
                    directory_verdict=lambda principal: _directory_verdict(session, principal),
                    storage_assignments=lambda principal: _storage_assignments(session, scope, principal))


def _directory_verdict(session, principal):
    """(can_read, reason) for one principal: its transitive memberships, then - only when they do not give
    Directory Readers - its Graph application roles."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as directory
    transitive = directory.transitive_member_of(session, principal)
    ok, reason = directory.read_verdict(transitive)
    if not ok:
        graph_sp = directory.graph_service_principal(session)
        assignments = directory.app_role_assignments(session, principal)
        ok, reason = directory.read_verdict(transitive, directory.granted_app_roles(
            assignments, graph_sp.get("id"), directory.app_role_ids(graph_sp)))
    return ok, reason


def _storage_assignments(session, scope, principal):
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.role_assignment import list_for_principal
    return list_for_principal(session, scope, principal)
