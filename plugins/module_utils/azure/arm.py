# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure Resource Manager resource ids, scopes and the api-versions we speak. Pure functions.

Resource ids are compared case-insensitively: ARM treats them so, and returns scopes with varying
case (azure.azcollection issue #1859; Azure docs "resource name rules": names are case-insensitive).
Every resource id, collection path and scope comparison of the collection is built here, and the ARM
calls (arm_get, arm_write, list_all) go through here.
"""

from __future__ import annotations

import re

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError, InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import check_text

# api-version per resource type, each from the stable spec file in Azure/azure-rest-api-specs that
# defines it (paths under specification/).
API_VERSIONS = {
    # sqlvirtualmachine/resource-manager/Microsoft.SqlVirtualMachine/stable/2023-10-01/sqlvm.json
    "Microsoft.SqlVirtualMachine/sqlVirtualMachines": "2023-10-01",
    # compute/resource-manager/Microsoft.Compute/ComputeRP/stable/2024-07-01/virtualMachine.json
    "Microsoft.Compute/virtualMachines": "2024-07-01",
    # msi/resource-manager/Microsoft.ManagedIdentity/stable/2023-01-31/ManagedIdentity.json
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    # authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/
    #   authorization-RoleAssignmentsCalls.json and authorization-RoleDefinitionsCalls.json
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
    "Microsoft.Authorization/roleDefinitions": "2022-04-01",
    # recoveryservices/resource-manager/Microsoft.RecoveryServices/stable/2023-04-01/vaults.json
    "Microsoft.RecoveryServices/vaults": "2023-04-01",
    # dataprotection/resource-manager/Microsoft.DataProtection/stable/2024-04-01/dataprotection.json
    "Microsoft.DataProtection/backupVaults": "2024-04-01",
    # storage/resource-manager/Microsoft.Storage/stable/2023-05-01/storage.json
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    # resources/resource-manager/Microsoft.Resources/stable/2022-12-01/subscriptions.json
    "Microsoft.Resources/subscriptions": "2022-12-01",
    # network/resource-manager/Microsoft.Network/stable/2024-05-01/networkInterface.json, virtualNetwork.json,
    #   networkSecurityGroup.json, privateEndpoint.json, publicIpAddress.json
    "Microsoft.Network/networkInterfaces": "2024-05-01",
    "Microsoft.Network/virtualNetworks": "2024-05-01",
    "Microsoft.Network/networkSecurityGroups": "2024-05-01",
    "Microsoft.Network/privateEndpoints": "2024-05-01",
    "Microsoft.Network/publicIPAddresses": "2024-05-01",
}


def api_version(resource_type):
    """The api-version for a provider/type such as 'Microsoft.Compute/virtualMachines'.

    Child types use their parent's entry ('Microsoft.Storage/storageAccounts/blobServices/containers'
    -> the storage accounts api-version), as they are defined in the same spec file."""
    wanted = resource_type.lower().split("/")
    while len(wanted) >= 2:
        for known, version in API_VERSIONS.items():
            if known.lower() == "/".join(wanted):
                return version
        wanted.pop()
    raise KeyError(resource_type)


class ResourceId:
    """A parsed ARM id. `parts` are the (type, name) pairs after the provider, in order."""

    __slots__ = ("subscription_id", "resource_group", "namespace", "parts")

    def __init__(self, subscription_id, resource_group=None, namespace=None, parts=()):
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.namespace = namespace
        self.parts = tuple(parts)

    @property
    def name(self):
        if self.parts:
            return self.parts[-1][1]
        return self.resource_group or self.subscription_id

    @property
    def resource_type(self):
        """'Microsoft.Storage/storageAccounts/blobServices/containers' style type, or None."""
        if not self.namespace:
            return None
        return "/".join([self.namespace] + [kind for kind, _name in self.parts])

    def __str__(self):
        return resource_id(self.subscription_id, self.resource_group, self.namespace, *self.parts)

    def __repr__(self):
        return "ResourceId(%r)" % str(self)


def resource_id(subscription_id, resource_group=None, namespace=None, *parts):
    """Build an id: resource_id(sub, rg, 'Microsoft.Compute', ('virtualMachines', 'vm1'))."""
    text = "/subscriptions/%s" % subscription_id
    if resource_group:
        text += "/resourceGroups/%s" % resource_group
    if namespace:
        text += "/providers/%s" % namespace
        for kind, name in parts:
            text += "/%s/%s" % (kind, name)
    return text


def parse_resource_id(value):
    """Parse a subscription, resource group or resource id. Raises InvalidInputError when malformed."""
    text = (value or "").strip()
    segments = [segment for segment in text.split("/") if segment != ""]
    bad = InvalidInputError(
        "%r is not an Azure resource id." % value,
        fix="use the form /subscriptions/<guid>/resourceGroups/<group>/providers/<Namespace>/<type>/<name> "
            "(az resource show --query id).")
    if not text.startswith("/") or len(segments) < 2 or segments[0].lower() != "subscriptions":
        raise bad
    subscription_id = segments[1]
    rest = segments[2:]
    resource_group = namespace = None
    if rest and rest[0].lower() == "resourcegroups":
        if len(rest) < 2:
            raise bad
        resource_group, rest = rest[1], rest[2:]
    parts = []
    if rest:
        if rest[0].lower() != "providers" or len(rest) < 4 or len(rest[2:]) % 2:
            raise bad
        namespace = rest[1]
        tail = rest[2:]
        parts = [(tail[index], tail[index + 1]) for index in range(0, len(tail), 2)]
    return ResourceId(subscription_id, resource_group, namespace, parts)


# ---------------------------------------------------------------------------------------------
# The resource ids this collection reads and writes (the only place that spells ARM paths out)

SUBSCRIPTIONS_PATH = "/subscriptions"
SQL_VIRTUAL_MACHINES = "Microsoft.SqlVirtualMachine/sqlVirtualMachines"
VIRTUAL_MACHINES = "Microsoft.Compute/virtualMachines"
USER_ASSIGNED_IDENTITIES = "Microsoft.ManagedIdentity/userAssignedIdentities"
STORAGE_ACCOUNTS = "Microsoft.Storage/storageAccounts"
ROLE_ASSIGNMENTS = "Microsoft.Authorization/roleAssignments"
ROLE_DEFINITIONS = "Microsoft.Authorization/roleDefinitions"


def typed_resource_id(subscription_id, resource_group, resource_type, name):
    """Id of a top-level resource: typed_resource_id(sub, rg, 'Microsoft.Compute/virtualMachines', 'vm1')."""
    namespace, kind = resource_type.split("/", 1)
    return resource_id(subscription_id, resource_group, namespace, (kind, name))


def sqlvm_id(subscription_id, resource_group, name):
    return typed_resource_id(subscription_id, resource_group, SQL_VIRTUAL_MACHINES, name)


def vm_id(subscription_id, resource_group, name):
    return typed_resource_id(subscription_id, resource_group, VIRTUAL_MACHINES, name)


def user_identity_id(subscription_id, resource_group, name):
    return typed_resource_id(subscription_id, resource_group, USER_ASSIGNED_IDENTITIES, name)


def storage_scope(subscription_id, resource_group, account, container=None):
    """A storage account, or one of its blob containers, as a role assignment scope."""
    parts = [("storageAccounts", account)]
    if container:
        parts += [("blobServices", "default"), ("containers", container)]
    return resource_id(subscription_id, resource_group, "Microsoft.Storage", *parts)


def storage_account_of(scope):
    """The storage account id a storage scope (the account or one of its containers) lies in, or None."""
    parsed = parse_resource_id(scope)
    if (parsed.namespace or "").lower() != "microsoft.storage" or not parsed.parts \
            or parsed.parts[0][0].lower() != "storageaccounts":
        return None
    return resource_id(parsed.subscription_id, parsed.resource_group, parsed.namespace, parsed.parts[0])


def virtual_network_of(subnet_id):
    """'…/virtualNetworks/{vnet}/subnets/{subnet}' -> '…/virtualNetworks/{vnet}' (None when not a subnet id)."""
    try:
        parsed = parse_resource_id(subnet_id)
    except InvalidInputError:
        return None
    kinds = [kind.lower() for kind, _name in parsed.parts]
    if (parsed.namespace or "").lower() != "microsoft.network" or kinds != ["virtualnetworks", "subnets"]:
        return None
    return resource_id(parsed.subscription_id, parsed.resource_group, parsed.namespace, parsed.parts[0])


def network_resource_type(resource):
    """'Microsoft.Network/networkSecurityGroups' for an NSG id, for picking its api-version (None otherwise)."""
    try:
        parsed = parse_resource_id(resource)
    except InvalidInputError:
        return None
    if (parsed.namespace or "").lower() != "microsoft.network" or not parsed.parts:
        return None
    return "%s/%s" % (parsed.namespace, parsed.parts[0][0])


def management_policy_id(subscription_id, resource_group, account):
    """A storage account's lifecycle management policy: one per account, always named 'default'
    (Storage REST API reference, "Management Policies - Create Or Update": managementPolicyName)."""
    return resource_id(subscription_id, resource_group, "Microsoft.Storage", ("storageAccounts", account),
                       ("managementPolicies", "default"))


def role_definition_id(subscription_id, guid):
    return resource_id(subscription_id, None, "Microsoft.Authorization", ("roleDefinitions", guid))


def role_definitions_path(subscription_id):
    """The subscription's role definitions (a collection: list, filter by roleName)."""
    return collection_path(resource_id(subscription_id), ROLE_DEFINITIONS)


def role_assignment_id(scope, name):
    return "%s/%s" % (collection_path(scope, ROLE_ASSIGNMENTS), name)


def collection_path(scope, resource_type):
    """'{scope}/providers/{Namespace}/{type}': an extension resource collection at any scope."""
    return "%s/providers/%s" % (scope, resource_type)


# ---------------------------------------------------------------------------------------------
# Resource names as given by a user (checked before any request)

# An Azure resource name as the portal shows it (Azure REST API reference, "Naming rules and
# restrictions for Azure resources": the rules common to the types this collection names).
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.()-]{0,127}\Z")
USER_IDENTITY_ID_RE = re.compile(
    r"^/subscriptions/[^/\x00-\x1f\x7f]+/resourcegroups/[^/\x00-\x1f\x7f]+/providers/microsoft\.managedidentity/"
    r"userassignedidentities/[A-Za-z0-9][A-Za-z0-9_-]{0,127}\Z",
    re.IGNORECASE,
)


def normalize_user_identity(value, subscription_id, resource_group, option="user_assigned"):
    """A user-assigned identity given by resource id or by name (in ``resource_group``)."""
    check_text(value or "", option, "the identity's name or resource id")
    if value.startswith("/"):
        if not USER_IDENTITY_ID_RE.fullmatch(value):
            raise InvalidInputError(
                "user-assigned identity %r is not a Microsoft.ManagedIdentity/userAssignedIdentities "
                "resource id; give '/subscriptions/<id>/resourceGroups/<rg>/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/<name>' or just the name" % value)
        return value
    if not NAME_RE.fullmatch(value):
        raise InvalidInputError(
            "user-assigned identity name %r is not valid; give the identity's name or resource id"
            % value)
    return user_identity_id(subscription_id, resource_group, value)


def check_names(desired, keys, required=()):
    """InvalidInputError, before any request, for each of `keys` that is set (or in `required`) but is not
    an Azure resource name: a blank, a line break or a control character never reaches ARM or Graph."""
    for key in keys:
        value = desired.get(key)
        if value in (None, "") and key not in required:
            continue
        if not isinstance(value, str) or not NAME_RE.fullmatch(value):
            raise InvalidInputError(
                "%s %r is not a valid Azure resource name; give the name as the portal shows it: letters, "
                "digits, '-', '_', '.', '(' or ')', starting with a letter or digit, without spaces or line "
                "breaks" % (key, value))


# ---------------------------------------------------------------------------------------------
# Scopes. ARM compares resource ids without case (Azure REST API reference, "Resource naming
# rules": resource ids and names are case-insensitive) and echoes them in varying case, so they are
# compared folded; the text given is kept for paths and results.

def normalize_scope(scope):
    """'/Subscriptions/x//resourceGroups/rg/ ' -> '/Subscriptions/x/resourceGroups/rg' (case kept)."""
    return "/" + "/".join(segment for segment in str(scope or "").strip().split("/") if segment)


def scope_key(scope):
    """The form two scopes are compared in."""
    return normalize_scope(scope).lower()


def same_scope(left, right):
    return scope_key(left) == scope_key(right)


def scope_contains(outer, inner):
    """True when `inner` is `outer` or lies below it (role assignments are inherited downwards)."""
    outer_n, inner_n = scope_key(outer), scope_key(inner)
    return inner_n == outer_n or inner_n.startswith(outer_n.rstrip("/") + "/")


# ---------------------------------------------------------------------------------------------
# Calls, through the collection's one HTTP pipeline (pipeline.py: retries, long-running operations,
# error messages). The pipeline is imported on the first call, not when this file loads.

def arm_get(session, path, version, params=None):
    """GET an ARM resource by path; None when it does not exist (404)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import send_json

    query = dict(params or {})
    query["api-version"] = version
    response = send_json(session.arm, "GET", path, expected=(200, 404), params=query,
                         operation="read", resource=path)
    return None if response.status == 404 else response.body


def arm_write(session, method, path, version, body, operation, long_running=True):
    """PUT/PATCH/DELETE; long-running ones are polled to the end. Returns the final body."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import send_json, wait_for_lro

    query = {"api-version": version}
    if not long_running:
        return send_json(session.arm, method, path, body=body, expected=(200, 201, 204), params=query,
                         operation=operation, resource=path).body
    return wait_for_lro(session.arm, method, path, body=body, deadline=session.deadline, params=query,
                        operation=operation, resource=path)


def list_all(session, path, version, params=None, operation=None, resource=None, max_pages=1000):
    """Every item of an ARM collection ('value'), following nextLink; None when `path` does not exist.

    The first page is read like arm_get; the next ones (whose nextLink carries the query) are named
    `operation` on `resource` in error messages."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import send_json

    page = arm_get(session, path, version, params)
    if page is None:
        return None
    items = list(page.get("value") or ())
    next_link = page.get("nextLink")
    for _page in range(max_pages):
        if not next_link:
            return items
        page = send_json(session.arm, "GET", next_link, operation=operation or "list", resource=resource or path).body or {}
        items.extend(page.get("value") or ())
        next_link = page.get("nextLink")
    raise AzureApiError(operation or "list", resource or path, None, "TooManyPages", "more than %d pages" % max_pages,
                        fix="narrow the query.")
