# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure RBAC role assignments at any ARM scope.

REST (Azure/azure-rest-api-specs,
specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleAssignmentsCalls.json
and .../authorization-RoleDefinitionsCalls.json):
- ``GET {scope}/providers/Microsoft.Authorization/roleAssignments?$filter=principalId eq '{id}'``
  lists the principal's assignments at, above and below the scope (paged by ``nextLink``);
- ``PUT {scope}/providers/Microsoft.Authorization/roleAssignments/{new guid}`` with
  ``{properties: {roleDefinitionId, principalId, principalType}}`` → 201; an identical assignment
  answers 409 ``RoleAssignmentExists``; a principal that has not replicated yet answers 400
  ``PrincipalNotFound`` (Microsoft's remedy: send ``principalType``, and retry);
- ``GET {scope}/providers/Microsoft.Authorization/roleDefinitions?$filter=roleName eq '{name}'``.
ARM echoes scopes in varying case (azure.azcollection #1859), so scopes compare case-insensitively.
"""
from __future__ import annotations

import re
import time
import uuid

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import (
    ROLE_ASSIGNMENTS,
    api_version,
    arm_get,
    arm_write,
    check_names,
    collection_path,
    list_all,
    normalize_scope,
    role_assignment_id,
    role_definition_id,
    role_definitions_path,
    same_scope,
    scope_contains,
    storage_scope,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    InvalidInputError,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import GUID_RE, check_text, is_guid

AUTHORIZATION_API_VERSION = api_version(ROLE_ASSIGNMENTS)

# Built-in roles whose ids are fixed in every tenant (Azure built-in roles reference); resolving
# them locally saves a request per task.
BUILTIN_ROLES = {
    "storage blob data contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "storage blob data reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "storage blob data owner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "owner": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
    "contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}
PRINCIPAL_TYPES = ("ServicePrincipal", "User", "Group", "ForeignGroup", "Device")

_ROLE_DEF_ID_RE = re.compile(
    r"^(/subscriptions/[^/\x00-\x1f\x7f]+)?/providers/microsoft\.authorization/roledefinitions/([0-9a-f-]{36})\Z",
    re.IGNORECASE,
)
_SCOPE_RE = re.compile(
    r"^/(subscriptions/(?P<sub>[^/\x00-\x1f\x7f]+)(/[^\x00-\x1f\x7f]*)?|providers/microsoft\.management/managementgroups/[^/\x00-\x1f\x7f]+)\Z",
    re.IGNORECASE,
)


# ---------------------------------------------------------------------------------------------
# pure helpers

def validate_scope(scope, subscription_id, option="scope"):
    """The normalized scope; InvalidInputError (naming `option`) when it cannot be an ARM scope of this task."""
    if scope:
        check_text(scope, option, "the resource id")
    normalized = normalize_scope(scope)
    match = _SCOPE_RE.fullmatch(normalized)
    if not scope or not match:
        raise InvalidInputError(
            "%s %r is not an ARM scope; give a resource id such as /subscriptions/<id>/resourceGroups/"
            "<rg>/providers/Microsoft.Storage/storageAccounts/<account>[/blobServices/default/containers/"
            "<container>]" % (option, scope))
    sub = match.group("sub")
    if sub is not None:
        if not is_guid(sub):
            raise InvalidInputError("%s %r names subscription %r, which is not a GUID" % (option, scope, sub))
        if subscription_id and sub.lower() != subscription_id.lower():
            raise InvalidInputError(
                "%s %s is in subscription %s but this task works in subscription %s; set "
                "subscription_id: %s (or AZURE_SUBSCRIPTION_ID) to manage it"
                % (option, normalized, sub, subscription_id, sub))
    if normalized.count("/") % 2:
        # every ARM scope is type/name pairs: /subscriptions/x/resourceGroups/rg/providers/NS/type/name
        raise InvalidInputError("%s %s is not a complete resource id (a type without a name?)" % (option, normalized))
    return normalized


def role_guid_from_input(role):
    """The role definition GUID when ``role`` is a GUID or a role definition id, else None."""
    role = role or ""  # validate_desired has refused control characters and blanks (check_text)
    if GUID_RE.fullmatch(role):
        return role.lower()
    match = _ROLE_DEF_ID_RE.fullmatch(role)
    if match:
        return match.group(2).lower()
    if role.lower().startswith("/") or "roledefinitions" in role.lower():
        raise InvalidInputError(
            "role %r is neither a role name nor a role definition id (/subscriptions/<id>/providers/"
            "Microsoft.Authorization/roleDefinitions/<guid>) nor a GUID" % role)
    return None


def role_guid_of(definition_id):
    return str(definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def matching_assignments(assignments, scope, role_guid, principal_id):
    """Assignments exactly at ``scope`` (case-insensitive) for this role and principal."""
    found = []
    for item in assignments or ():
        props = item.get("properties") or {}
        if (same_scope(props.get("scope"), scope)
                and role_guid_of(props.get("roleDefinitionId")) == role_guid
                and str(props.get("principalId") or "").lower() == principal_id.lower()):
            found.append(item)
    return found


def inherited_assignments(assignments, scope, role_guid, principal_id):
    """Assignments of the same role for the principal at a scope *above* ``scope``."""
    found = []
    for item in assignments or ():
        props = item.get("properties") or {}
        there = props.get("scope")
        if (not same_scope(there, scope) and scope_contains(there, scope)
                and role_guid_of(props.get("roleDefinitionId")) == role_guid
                and str(props.get("principalId") or "").lower() == principal_id.lower()):
            found.append(item)
    return found


def backoff_delays(budget, first=2.0, cap=30.0):
    """Delays for retrying PrincipalNotFound: 2, 4, 8, … capped, summing to at most ``budget``."""
    delays, total, delay = [], 0.0, first
    while total + delay <= budget:
        delays.append(delay)
        total += delay
        delay = min(delay * 2, cap)
    return delays


def retry_while_principal_missing(call, missing, budget, sleep=time.sleep):
    """call() again, after backoff_delays(budget), while it fails with an error `missing(err)` says
    means "the principal has not replicated yet" (ARM's PrincipalNotFound, Graph's 404 for a new
    service principal); the last error is raised when the budget is spent."""
    delays = backoff_delays(budget)
    attempt = 0
    while True:
        try:
            return call()
        except AzureApiError as err:
            if not missing(err) or attempt >= len(delays):
                raise
            sleep(delays[attempt])
            attempt += 1


def validate_principal_wait(desired):
    wait = desired.get("principal_wait")
    if wait is not None and (isinstance(wait, bool) or not isinstance(wait, int) or wait < 0):
        raise InvalidInputError(
            "principal_wait=%r is not a number of seconds; give 0 (do not wait) or more, e.g. 120 (the default): how "
            "long to wait for a new identity to appear in the directory" % (wait,))


def principal_wait_budget(session, desired):
    """Seconds to wait out PrincipalNotFound: principal_wait, but never past the task's timeout."""
    budget = desired.get("principal_wait", 120)
    deadline = getattr(session, "deadline", None)
    if deadline is not None:
        budget = min(budget, deadline.remaining())
    return max(0, budget)


def summarize(item):
    if not item:
        return None
    props = item.get("properties") or {}
    return {
        "id": item.get("id"),
        "name": item.get("name"),
        "scope": props.get("scope"),
        "role_definition_id": props.get("roleDefinitionId"),
        "principal_id": props.get("principalId"),
        "principal_type": props.get("principalType"),
    }


def validate_desired(desired, subscription_id):
    """Normalize and check options before any request (InvalidInputError)."""
    validate_principal_wait(desired)
    check_names(desired, ("resource_group", "storage_account", "container"))
    principal = desired.get("principal_id")
    if not is_guid(principal or ""):
        raise InvalidInputError(
            "principal_id %r is not a GUID; give the object (principal) id of the identity, e.g. the "
            "principal_id returned by sqlvm.backup.sqlvm_identity" % (principal,))
    if desired.get("scope"):
        if desired.get("storage_account"):
            raise InvalidInputError("give either scope or storage_account, not both")
        scope = desired["scope"]
    elif desired.get("storage_account"):
        if not desired.get("resource_group"):
            raise InvalidInputError("storage_account needs resource_group")
        scope = storage_scope(subscription_id, desired["resource_group"], desired["storage_account"],
                              desired.get("container"))
    else:
        raise InvalidInputError("give scope, or resource_group and storage_account [and container]")
    desired["scope"] = validate_scope(scope, subscription_id)
    role = desired.get("role")
    if not role or not str(role).strip():
        raise InvalidInputError("role is required: a role name such as 'Storage Blob Data Contributor' or its id")
    check_text(role, "role", "a role name such as 'Storage Blob Data Contributor', its GUID or its id")
    desired["role_guid"] = role_guid_from_input(role)
    ptype = desired.get("principal_type") or "ServicePrincipal"
    if ptype not in PRINCIPAL_TYPES:
        raise InvalidInputError("principal_type must be one of %s" % ", ".join(PRINCIPAL_TYPES))
    desired["principal_type"] = ptype
    return desired


# ---------------------------------------------------------------------------------------------
# Azure calls

def resolve_role(session, desired):
    """Role definition GUID for the role option (name lookup only when not a built-in)."""
    if desired.get("role_guid"):
        return desired["role_guid"]
    name = str(desired["role"]).strip()
    known = BUILTIN_ROLES.get(name.lower())
    if known:
        return known
    body = arm_get(session, role_definitions_path(session.subscription_id), AUTHORIZATION_API_VERSION,
                   params={"$filter": "roleName eq '%s'" % name.replace("'", "''")})
    matches = [d for d in (body or {}).get("value") or () if
               str((d.get("properties") or {}).get("roleName", "")).lower() == name.lower()]
    if not matches:
        raise InvalidInputError(
            "role %r does not exist in subscription %s; check the spelling (e.g. 'Storage Blob Data "
            "Contributor') or give the role definition id" % (name, session.subscription_id))
    return role_guid_of(matches[0].get("name") or matches[0].get("id"))


def list_for_principal(session, scope, principal_id):
    """The principal's role assignments at, above and below `scope` (every page)."""
    items = list_all(session, collection_path(scope, ROLE_ASSIGNMENTS), AUTHORIZATION_API_VERSION,
                     params={"$filter": "principalId eq '%s'" % principal_id},
                     operation="list role assignments", resource=scope)
    if items is None:
        raise InvalidInputError(
            "scope %s does not exist; create the resource first or fix the scope" % scope)
    return items


def read(session, desired):
    role_guid = resolve_role(session, desired)
    items = list_for_principal(session, desired["scope"], desired["principal_id"])
    here = matching_assignments(items, desired["scope"], role_guid, desired["principal_id"])
    above = inherited_assignments(items, desired["scope"], role_guid, desired["principal_id"])
    return role_guid, here, above


def ensure(session, desired, check_mode, sleep=time.sleep):
    """The role assignment present or absent (desired["state"], default present) -> Result."""
    if desired.get("state", "present") == "absent":
        return _ensure_absent(session, desired, check_mode)
    return _ensure_present(session, desired, check_mode, sleep)


def _outcome(changed, before, after, **values):
    tracker = DifferenceTracker()
    tracker.add("assignment", before, after, differs=before != after)  # None after = removed, not "don't care"
    # The diff is the assignment itself (None when there is none), not a dict of named values.
    return Result(changed, tracker.before()["assignment"], tracker.after()["assignment"], assignment=after, **values)


def _ensure_present(session, desired, check_mode, sleep):
    validate_desired(desired, session.subscription_id)
    role_guid, here, above = read(session, desired)
    inherited = [summarize(a) for a in above]
    if here:
        before = summarize(here[0])
        return _outcome(False, before, before, inherited=inherited)
    role_id = role_definition_id(session.subscription_id, role_guid)
    name = str(uuid.uuid4())
    predicted = {
        "id": role_assignment_id(desired["scope"], name),
        "name": name,
        "properties": {"scope": desired["scope"], "roleDefinitionId": role_id,
                       "principalId": desired["principal_id"], "principalType": desired["principal_type"]},
    }
    if check_mode:
        return _outcome(True, None, summarize(predicted), inherited=inherited)
    body = {"properties": {"roleDefinitionId": role_id, "principalId": desired["principal_id"],
                           "principalType": desired["principal_type"]}}
    created = _create(session, predicted["id"], body, principal_wait_budget(session, desired), sleep)
    if created is None:  # 409 RoleAssignmentExists: someone else made it meanwhile
        _rg, here, _above = read(session, desired)
        existing = summarize(here[0]) if here else None
        return _outcome(False, existing, existing, inherited=inherited)
    return _outcome(True, None, summarize(created) or summarize(predicted), inherited=inherited)


def _create(session, assignment_id, body, principal_wait, sleep):
    def put():
        try:
            return arm_write(session, "PUT", assignment_id, AUTHORIZATION_API_VERSION, body,
                             operation="create role assignment", long_running=False)
        except AzureApiError as err:
            code = getattr(err, "code", None)
            if code == "RoleAssignmentExists" or getattr(err, "status", None) == 409 and code in (None, "Conflict"):
                return None
            raise

    try:
        return retry_while_principal_missing(put, lambda err: err.code == "PrincipalNotFound", principal_wait, sleep)
    except AzureApiError as err:
        if err.code != "PrincipalNotFound":
            raise
        raise AzureApiError(
            "create role assignment", assignment_id, err.status, err.code,
            "principal %s was not found in the directory after waiting %d s; if it was just "
            "created, raise principal_wait (the task's timeout bounds it too); otherwise check principal_id (an object id, not a "
            "client id)" % (body["properties"]["principalId"], principal_wait)) from None


def _ensure_absent(session, desired, check_mode):
    validate_desired(desired, session.subscription_id)
    _role_guid, here, _above = read(session, desired)
    if not here:
        return _outcome(False, None, None)
    if not check_mode:
        for item in here:
            arm_write(session, "DELETE", item["id"], AUTHORIZATION_API_VERSION, None,
                      operation="delete role assignment", long_running=False)
    return _outcome(True, summarize(here[0]), None, removed=[summarize(i) for i in here])
