# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Can a principal read Microsoft Entra ID? Directory Readers, a role-assignable group, or Graph app roles.

Microsoft Graph v1.0 (learn.microsoft.com/graph/api/...):
- ``GET /servicePrincipals/{id}/transitiveMemberOf`` — groups and directory roles reached directly
  or through nested groups. The ``/microsoft.graph.directoryRole`` cast answered 500 when the
  principal was in a group (azure-cli issue #26689), so we read the whole list and filter here.
- ``POST /roleManagement/directory/roleAssignments`` ``{principalId, roleDefinitionId, directoryScopeId: '/'}``
  (built-in roles' definition id = their template id); ``GET …?$filter=principalId eq '…'``; ``DELETE …/{id}``.
- ``POST /groups/{id}/members/$ref`` ``{"@odata.id": "<graph>/v1.0/directoryObjects/{id}"}``;
  ``DELETE /groups/{id}/members/{member}/$ref``; ``GET /groups/{id}`` (isAssignableToRole).
- ``GET /servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'`` (Microsoft
  Graph's own service principal and its appRoles); ``GET|POST /servicePrincipals/{id}/appRoleAssignments``;
  ``DELETE /servicePrincipals/{id}/appRoleAssignments/{assignment id}``.
- For a whole fleet at once (sqlvm_fleet_info): ``GET /directoryRoles(roleTemplateId='{id}')`` (404 when the
  role was never activated) and ``GET /directoryRoles/{id}/members``; ``GET /groups/{id}/transitiveMembers``;
  ``GET /servicePrincipals/{id}/appRoleAssignedTo`` (every grant of the resource application's roles).
What SQL Server needs (Microsoft Learn "Enable Microsoft Entra authentication for SQL Server on Azure VMs";
azure-cli ``az sql vm validate-azure-ad-auth``): Directory Readers, or all three of User.Read.All,
GroupMember.Read.All and Application.Read.All.
"""
from __future__ import annotations

import time

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    InvalidInputError,
    PrerequisiteError,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
    USER_ASSIGNED_IDENTITIES,
    VIRTUAL_MACHINES,
    api_version,
    arm_get,
    check_names,
    normalize_user_identity,
    vm_id,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import graph
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.graph import DIRECTORY_READERS_TEMPLATE_ID
from ansible_collections.sqlvm.backup.plugins.module_utils.backends.role_assignment import (
    principal_wait_budget,
    retry_while_principal_missing,
    validate_principal_wait,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import is_guid

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
READ_APP_ROLES = ("User.Read.All", "GroupMember.Read.All", "Application.Read.All")
METHODS = ("directory_role", "group", "graph_app_roles")

_ROLE_TYPE = "#microsoft.graph.directoryRole"
_GROUP_TYPE = "#microsoft.graph.group"


# ---------------------------------------------------------------------------------------------
# pure decisions

def directory_roles(transitive):
    return [o for o in transitive or () if o.get("@odata.type") == _ROLE_TYPE]


def groups(transitive):
    return [o for o in transitive or () if o.get("@odata.type") == _GROUP_TYPE]


def holds_directory_readers(transitive):
    return any(str(r.get("roleTemplateId", "")).lower() == DIRECTORY_READERS_TEMPLATE_ID
               for r in directory_roles(transitive))


def app_role_ids(graph_sp):
    """{'User.Read.All': '<appRoleId>', …} from Microsoft Graph's service principal."""
    ids = {}
    for role in (graph_sp or {}).get("appRoles") or ():
        if role.get("value") in READ_APP_ROLES:
            ids[role["value"]] = role.get("id")
    return ids


def granted_app_roles(assignments, graph_sp_id, role_ids):
    """Which of the three read roles the principal holds on Microsoft Graph."""
    held = {str(a.get("appRoleId", "")).lower() for a in assignments or ()
            if str(a.get("resourceId", "")).lower() == str(graph_sp_id or "").lower()}
    return {name: str(role_ids.get(name, "")).lower() in held for name in READ_APP_ROLES}


def read_verdict(transitive, app_roles=None):
    """(can_read, reason) — what SQL Server's Entra authentication needs of its identity."""
    if holds_directory_readers(transitive):
        via = [g.get("displayName") or g.get("id") for g in groups(transitive)]
        return True, "holds Directory Readers" + (" (possibly through group %s)" % ", ".join(via) if via else "")
    if app_roles and all(app_roles.values()):
        return True, "holds the Microsoft Graph application roles %s" % ", ".join(READ_APP_ROLES)
    missing = [name for name, ok in (app_roles or {}).items() if not ok] or list(READ_APP_ROLES)
    return False, ("holds neither Directory Readers nor all of %s (missing: %s); grant one with "
                   "sqlvm.backup.entra_directory_reader" % (", ".join(READ_APP_ROLES), ", ".join(missing)))


def validate(desired):
    validate_principal_wait(desired)
    check_names(desired, ("resource_group", "vm_name"))
    method = desired.get("method") or "directory_role"
    if method not in METHODS:
        raise InvalidInputError("method must be one of %s" % ", ".join(METHODS))
    desired["method"] = method
    sources = [k for k in ("principal_id", "vm_name", "user_assigned_identity") if desired.get(k)]
    if len(sources) != 1:
        raise InvalidInputError(
            "name the principal exactly one way: principal_id, vm_name (with resource_group, for the VM's "
            "system-assigned identity), or user_assigned_identity")
    if desired.get("principal_id") and not is_guid(desired["principal_id"]):
        raise InvalidInputError(
            "principal_id %r is not a GUID; give the identity's object (principal) id" % desired["principal_id"])
    if (desired.get("vm_name") or (desired.get("user_assigned_identity") and not str(
            desired["user_assigned_identity"]).startswith("/"))) and not desired.get("resource_group"):
        raise InvalidInputError("vm_name and a user_assigned_identity given by name need resource_group")
    if method == "group":
        if not is_guid(desired.get("group_id") or ""):
            raise InvalidInputError(
                "method=group needs group_id, the object id (GUID) of a role-assignable group that holds "
                "Directory Readers")
    elif desired.get("group_id"):
        raise InvalidInputError("group_id is only used with method=group")
    return desired


# ---------------------------------------------------------------------------------------------
# Graph calls (through graph.py: paging, throttling, errors)

# The three grants are Graph POSTs, which azure-core does not replay after a connection error (the
# request may have been applied). Graph refuses a repeated grant instead of duplicating it, with 400
# and a fixed message: "One or more added object references already exist" (group-post-members),
# "Permission being assigned already exists on the object" (serviceprincipal-post-approleassignments),
# "A conflicting object with one or more of the specified property values is present in the directory"
# (rbacapplication-post-roleassignments) - learn.microsoft.com/graph/api/<page>. So the backend
# replays a grant once after a connection error, and such an answer (to the replay, or to a first
# attempt that raced another writer) means the grant is in place.
_ALREADY_GRANTED = ("already exist", "conflicting object")


def already_granted(err):
    """True when Graph refused a grant because it is already there."""
    message = str(getattr(err, "message", "") or "").lower()
    return getattr(err, "status", None) in (400, 409) and any(text in message for text in _ALREADY_GRANTED)


def _grant(session, path, body):
    try:
        graph.post(session.graph, path, body)
        return
    except AzureApiError as err:
        if already_granted(err):
            return
        if getattr(err, "code", None) != "ConnectionError":
            raise
    try:
        graph.post(session.graph, path, body)
    except AzureApiError as err:
        if not already_granted(err):
            raise


def _get(session, path, params=None):
    return graph.get(session.graph, path, params=params, missing_ok=True)


def _list(session, path, params=None):
    return graph.list_all(session.graph, path, params=params)


def resolve_principal(session, desired):
    """Object id of the principal (reads the VM or the user-assigned identity when needed)."""
    if desired.get("principal_id"):
        return desired["principal_id"].lower()
    if desired.get("vm_name"):
        vm = arm_get(session, vm_id(session.subscription_id, desired["resource_group"], desired["vm_name"]),
                     api_version(VIRTUAL_MACHINES))
        if vm is None:
            raise PrerequisiteError("virtual machine %s/%s not found; check vm_name and resource_group"
                                    % (desired["resource_group"], desired["vm_name"]))
        principal = (vm.get("identity") or {}).get("principalId")
        if not principal:
            raise PrerequisiteError(
                "virtual machine %s has no system-assigned managed identity; enable it first "
                "(sqlvm.backup.sqlvm_identity) or name a user_assigned_identity" % desired["vm_name"])
        return principal.lower()
    rid = normalize_user_identity(desired["user_assigned_identity"], session.subscription_id,
                                  desired.get("resource_group"), option="user_assigned_identity")
    uai = arm_get(session, rid, api_version(USER_ASSIGNED_IDENTITIES))
    if uai is None:
        raise PrerequisiteError("user-assigned identity %s not found; create it or fix the name" % rid)
    return str((uai.get("properties") or {}).get("principalId")).lower()


def _principal_not_replicated(err):
    # Graph answers 404 Request_ResourceNotFound for a service principal it does not know (yet).
    return err.status == 404


def transitive_member_of(session, principal_id, wait=0, sleep=time.sleep):
    """The principal's groups and roles; a principal Graph does not know yet (a new identity takes a
    while to replicate) is waited for up to `wait` seconds, as role_assignment waits for ARM."""
    try:
        return retry_while_principal_missing(
            lambda: _list(session, "/servicePrincipals/%s/transitiveMemberOf" % principal_id),
            _principal_not_replicated, wait, sleep)
    except AzureApiError as err:
        if err.status == 404:
            raise PrerequisiteError(
                "no service principal with object id %s in this tenant (waited %d s for a new one to appear)"
                % (principal_id, wait),
                fix="give the managed identity's principal (object) id, not its client id; if the identity was just "
                    "created, raise principal_wait (the task's timeout bounds it too)") from None
        raise


def _require_service_principal(session, principal_id):
    sp = _get(session, "/servicePrincipals/%s" % principal_id, {"$select": "id,displayName,appId"})
    if sp is None:
        raise PrerequisiteError(
            "no service principal with object id %s in this tenant; give the managed identity's "
            "principal (object) id, not its client id" % principal_id)
    return sp


def graph_service_principal(session):
    """Microsoft Graph's own service principal in this tenant (it owns the application roles)."""
    found = _list(session, "/servicePrincipals", {"$filter": "appId eq '%s'" % MICROSOFT_GRAPH_APP_ID})
    if not found:
        raise PrerequisiteError("the Microsoft Graph service principal is missing from this tenant")
    return found[0]


def app_role_assignments(session, principal_id):
    """The application roles granted to the principal (on any resource application)."""
    return _list(session, "/servicePrincipals/%s/appRoleAssignments" % principal_id)


def directory_role_members(session, template_id):
    """Direct members (principals and role-assignable groups) of the directory role with this template id;
    [] when the role is not activated in the tenant (nobody holds it)."""
    role = _get(session, "/directoryRoles(roleTemplateId='%s')" % template_id, {"$select": "id"})
    if role is None:
        return []
    return _list(session, "/directoryRoles/%s/members" % role["id"])


def group_transitive_members(session, group_id):
    return _list(session, "/groups/%s/transitiveMembers" % group_id)


def app_role_assigned_to(session, resource_sp_id):
    """Every application role granted on the resource application's service principal (to anyone)."""
    return _list(session, "/servicePrincipals/%s/appRoleAssignedTo" % resource_sp_id)


def read(session, desired, sleep=time.sleep):
    """Current state for the chosen method (reads only)."""
    principal_id = resolve_principal(session, desired)
    transitive = transitive_member_of(session, principal_id, principal_wait_budget(session, desired), sleep)
    state = {"principal_id": principal_id,
             "directory_roles": sorted({r.get("displayName") or r.get("roleTemplateId") for r in directory_roles(transitive)}),
             "groups": sorted(g.get("id") for g in groups(transitive))}
    app_roles = None
    if desired["method"] == "graph_app_roles":
        graph_sp = graph_service_principal(session)
        role_ids = app_role_ids(graph_sp)
        assignments = app_role_assignments(session, principal_id)
        app_roles = granted_app_roles(assignments, graph_sp.get("id"), role_ids)
        state["app_roles"] = app_roles
        state["_graph_sp"] = graph_sp
        state["_role_ids"] = role_ids
        state["_assignments"] = assignments
    can_read, reason = read_verdict(transitive, app_roles)
    state["can_read_directory"] = can_read
    state["reason"] = reason
    state["_transitive"] = transitive
    return state


def public(state):
    return {k: v for k, v in state.items() if not k.startswith("_")}


def ensure(session, desired, check_mode, sleep=time.sleep):
    """The principal able to read the directory (state present), or this method's grant removed (absent) -> Result."""
    validate(desired)
    state = read(session, desired, sleep)
    before = public(state)
    grant_or_revoke = _revoke if desired.get("state", "present") == "absent" else _grant_missing
    after, changes = grant_or_revoke(session, desired, state, before, check_mode)
    tracker = DifferenceTracker()
    for key in after:  # the same keys as before: after is before with what the grant changes
        tracker.add(key, before.get(key), after[key], differs=before.get(key) != after[key])
    return Result(bool(changes), tracker.before(), tracker.after(), changes=changes, **after)


def _grant_missing(session, desired, state, before, check_mode):
    """(after, changes): what the method grants, added where missing."""
    method, principal_id, changes = desired["method"], state["principal_id"], []
    if method == "directory_role":
        if not holds_directory_readers(state["_transitive"]):
            changes.append("assign Directory Readers")
            if not check_mode:
                _require_service_principal(session, principal_id)
                _grant(session, "/roleManagement/directory/roleAssignments", {
                    "principalId": principal_id, "roleDefinitionId": DIRECTORY_READERS_TEMPLATE_ID,
                    "directoryScopeId": "/"})
    elif method == "group":
        group_id = desired["group_id"].lower()
        if group_id not in {g.lower() for g in state["groups"]}:
            _check_group(session, group_id)
            changes.append("add to group %s" % group_id)
            if not check_mode:
                _grant(session, "/groups/%s/members/$ref" % group_id, {
                    "@odata.id": "%s/v1.0/directoryObjects/%s" % (session.cloud.graph_endpoint.rstrip("/"), principal_id)})
    else:
        missing = [name for name, ok in state["app_roles"].items() if not ok]
        for name in missing:
            if not state["_role_ids"].get(name):
                raise PrerequisiteError("Microsoft Graph does not offer the application role %s in this tenant" % name)
            changes.append("grant %s" % name)
            if not check_mode:
                _grant(session, "/servicePrincipals/%s/appRoleAssignments" % principal_id, {
                    "principalId": principal_id, "resourceId": state["_graph_sp"]["id"],
                    "appRoleId": state["_role_ids"][name]})
    after = dict(before)
    if changes:
        after["can_read_directory"] = True
        after["reason"] = "granted: %s" % "; ".join(changes)
        if method == "graph_app_roles":
            after["app_roles"] = {name: True for name in READ_APP_ROLES}
        if method == "directory_role":
            after["directory_roles"] = sorted(set(before["directory_roles"]) | {"Directory Readers"})
        if method == "group":
            after["groups"] = sorted(set(before["groups"]) | {desired["group_id"].lower()})
    return after, changes


def _check_group(session, group_id):
    group = _get(session, "/groups/%s" % group_id, {"$select": "id,displayName,isAssignableToRole"})
    if group is None:
        raise PrerequisiteError("group %s not found in this tenant; check group_id" % group_id)
    if not group.get("isAssignableToRole"):
        raise PrerequisiteError(
            "group %s (%s) is not role-assignable, so it cannot hold Directory Readers; create a group "
            "with isAssignableToRole=true" % (group_id, group.get("displayName")))
    roles = _list(session, "/roleManagement/directory/roleAssignments", {"$filter": "principalId eq '%s'" % group_id})
    if not any(str(r.get("roleDefinitionId", "")).lower() == DIRECTORY_READERS_TEMPLATE_ID for r in roles):
        raise PrerequisiteError(
            "group %s (%s) does not hold Directory Readers; assign the role to the group first, or use "
            "method=directory_role" % (group_id, group.get("displayName")))
    return group


def _revoke(session, desired, state, before, check_mode):
    """(after, changes): what this method grants directly, removed; grants reached otherwise stay (reported)."""
    method, principal_id, changes = desired["method"], state["principal_id"], []
    if method == "directory_role":
        assignments = _list(session, "/roleManagement/directory/roleAssignments",
                            {"$filter": "principalId eq '%s'" % principal_id})
        for item in assignments:
            if str(item.get("roleDefinitionId", "")).lower() == DIRECTORY_READERS_TEMPLATE_ID:
                changes.append("remove Directory Readers assignment %s" % item.get("id"))
                if not check_mode:
                    graph.delete(session.graph, "/roleManagement/directory/roleAssignments/%s" % item["id"])
    elif method == "group":
        group_id = desired["group_id"].lower()
        if group_id in {g.lower() for g in state["groups"]}:
            members = _list(session, "/groups/%s/members" % group_id, {"$select": "id"})
            if any(str(m.get("id", "")).lower() == principal_id for m in members):
                changes.append("remove from group %s" % group_id)
                if not check_mode:
                    graph.delete(session.graph, "/groups/%s/members/%s/$ref" % (group_id, principal_id))
    else:
        wanted = {str(v).lower() for v in state["_role_ids"].values()}
        for item in state["_assignments"]:
            if (str(item.get("appRoleId", "")).lower() in wanted
                    and str(item.get("resourceId", "")).lower() == str(state["_graph_sp"].get("id")).lower()):
                changes.append("revoke app role %s" % item.get("appRoleId"))
                if not check_mode:
                    graph.delete(session.graph, "/servicePrincipals/%s/appRoleAssignments/%s" % (principal_id, item["id"]))
    after = dict(before)
    if changes:
        after["reason"] = "removed: %s" % "; ".join(changes)
        if method == "graph_app_roles":
            after["app_roles"] = {name: False for name in READ_APP_ROLES}
            after["can_read_directory"] = holds_directory_readers(state["_transitive"])
        elif method == "directory_role" and not state["groups"]:
            after["directory_roles"] = [r for r in before["directory_roles"] if r != "Directory Readers"]
            after["can_read_directory"] = False
        elif state["groups"]:
            after["reason"] += " (it may still read the directory through another group)"
    return after, changes
