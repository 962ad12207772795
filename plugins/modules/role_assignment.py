#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: role_assignment
short_description: Ensure an Azure role assignment for a principal at a scope (storage account, container, any ARM scope)
version_added: 0.1.0
description:
  - Ensures that a principal holds an Azure RBAC role at a scope - typically
    C(Storage Blob Data Contributor) on the storage account or container that receives SQL Server
    backups, for the SQL VM's primary managed identity.
  - The principal's assignments at the scope are listed (one request, filtered by principal) and
    compared case-insensitively, because Azure returns scopes in varying case.
  - New assignments are created with C(principalType), which Microsoft documents as the remedy for
    C(PrincipalNotFound) right after an identity is created; a remaining C(PrincipalNotFound) is
    retried with growing pauses for up to O(principal_wait) seconds. A C(409 RoleAssignmentExists)
    answer means the assignment is there and the task reports no change.
  - V(absent) removes only the assignment of this role, principal and exact scope; assignments
    inherited from above the scope are left alone and reported.
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
options:
  principal_id:
    description: Object (principal) id of the user, group or service principal (managed identity).
    type: str
    required: true
  principal_type:
    description: Kind of principal. Managed identities are V(ServicePrincipal).
    type: str
    choices: [ServicePrincipal, User, Group, ForeignGroup, Device]
    default: ServicePrincipal
  role:
    description:
      - Role name (for example V(Storage Blob Data Contributor)), role definition GUID, or role definition resource id.
      - Names of common built-in roles are resolved without a request; others are looked up in the subscription.
    type: str
    required: true
  scope:
    description:
      - The ARM scope - any resource id, resource group or subscription, for example
        C(/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.Storage/storageAccounts/<account>/blobServices/default/containers/<container>).
      - Must be in the task's subscription. Mutually exclusive with O(storage_account).
    type: str
  resource_group:
    description: Resource group of O(storage_account).
    type: str
  storage_account:
    description: Storage account name, as a shorthand for O(scope).
    type: str
  container:
    description: Blob container in O(storage_account), to scope the role to one container.
    type: str
  principal_wait:
    description:
      - Seconds to keep retrying while Azure answers C(PrincipalNotFound) for a new identity, never past the task's
        O(timeout). V(0) does not wait; a negative value is refused.
    type: int
    default: 120
  state:
    description: Whether the assignment should exist.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs C(Microsoft.Authorization/roleAssignments/write) and C(/delete) at the scope (Owner, User Access
    Administrator, or Role Based Access Control Administrator).
seealso:
  - module: sqlvm.backup.sqlvm_identity
  - module: sqlvm.backup.backup_vault_identity
  - name: Assign Azure roles using the REST API
    description: Microsoft documentation, including PrincipalNotFound and principalType.
    link: https://learn.microsoft.com/azure/role-based-access-control/role-assignments-rest
"""

EXAMPLES = r"""
- name: Let the SQL VM's identity write backups to one container
  sqlvm.backup.role_assignment:
    principal_id: "{{ identity.principal_id }}"
    role: Storage Blob Data Contributor
    resource_group: rg-storage
    storage_account: backupsacct
    container: sql01

- name: Same, with a full scope and the role's id
  sqlvm.backup.role_assignment:
    principal_id: "{{ identity.principal_id }}"
    role: ba92f5b4-2d11-453d-a403-e96b0029c9fe
    scope: /subscriptions/{{ subscription_id }}/resourceGroups/rg-storage/providers/Microsoft.Storage/storageAccounts/backupsacct

- name: Remove it again
  sqlvm.backup.role_assignment:
    principal_id: "{{ identity.principal_id }}"
    role: Storage Blob Data Contributor
    resource_group: rg-storage
    storage_account: backupsacct
    container: sql01
    state: absent
"""

RETURN = r"""
assignment:
  description: The assignment after the task (predicted in check mode); null when absent.
  returned: success
  type: dict
  contains:
    id:
      description: Resource id of the assignment.
      type: str
    name:
      description: Its GUID name.
      type: str
    scope:
      description: The scope.
      type: str
    role_definition_id:
      description: Role definition resource id.
      type: str
    principal_id:
      description: The principal.
      type: str
    principal_type:
      description: The principal type.
      type: str
inherited:
  description: Assignments of the same role to the same principal at scopes above O(scope).
  returned: when state is present
  type: list
  elements: dict
removed:
  description: Assignments removed.
  returned: when state is absent and something was removed
  type: list
  elements: dict
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import role_assignment as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

ARGUMENT_SPEC = dict(
    principal_id=dict(type="str", required=True),
    principal_type=dict(type="str", default="ServicePrincipal",
                        choices=["ServicePrincipal", "User", "Group", "ForeignGroup", "Device"]),
    role=dict(type="str", required=True),
    scope=dict(type="str"),
    resource_group=dict(type="str"),
    storage_account=dict(type="str"),
    container=dict(type="str"),
    principal_wait=dict(type="int", default=120),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = SqlvmModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("scope", "storage_account")],
        required_one_of=[("scope", "storage_account")],
        required_by={"storage_account": ("resource_group",), "container": ("storage_account",)},
    )
    module.run_azure(backend, {key: module.params[key] for key in ARGUMENT_SPEC})


if __name__ == "__main__":
    main()
