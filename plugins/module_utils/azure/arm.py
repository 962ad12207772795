# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure Resource Manager resource ids, scopes and the api-versions we speak. Pure functions.

Resource ids are compared case-insensitively: ARM treats them so, and returns scopes with varying
case (azure.azcollection issue #1859; Azure docs "resource name rules": names are case-insensitive).
"""

from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

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


def normalize_scope(scope):
    """Canonical form for comparisons: no trailing slash, lower case."""
    return "/" + "/".join(segment for segment in (scope or "").split("/") if segment).lower()


def same_scope(left, right):
    return normalize_scope(left) == normalize_scope(right)


def scope_contains(outer, inner):
    """True when `inner` is `outer` or lies below it (role assignments are inherited downwards)."""
    outer_n, inner_n = normalize_scope(outer), normalize_scope(inner)
    return inner_n == outer_n or inner_n.startswith(outer_n.rstrip("/") + "/")


def subscription_of(scope):
    segments = [segment for segment in (scope or "").split("/") if segment]
    if len(segments) >= 2 and segments[0].lower() == "subscriptions":
        return segments[1]
    return None


def resource_url(resource, resource_type=None):
    """Path + api-version query for GET/PUT of a resource id (type taken from the id by default)."""
    parsed = parse_resource_id(str(resource))
    kind = resource_type or parsed.resource_type
    return "%s?api-version=%s" % (str(resource), api_version(kind))
