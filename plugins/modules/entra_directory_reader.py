#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: entra_directory_reader
short_description: Let a managed identity read Microsoft Entra ID, as SQL Server's Entra authentication requires
version_added: 0.1.0
description:
  - SQL Server resolves Entra logins (C(CREATE LOGIN ... FROM EXTERNAL PROVIDER)) and group
    memberships through its primary managed identity, which therefore must be able to read the
    directory. This module ensures that a principal can, by one of three methods
    (O(method)) - the B(Directory Readers) role (template C(88d8e3e3-8f55-4a1e-953a-9b9898b8876b)),
    membership in a role-assignable group that holds that role, or the Microsoft Graph application
    roles C(User.Read.All), C(GroupMember.Read.All) and C(Application.Read.All) (what
    C(az sql vm validate-azure-ad-auth) accepts).
  - Membership reached through nested groups counts as present. Membership is read from
    C(transitiveMemberOf) and filtered here, not by Graph, because the server-side cast failed for
    principals in groups (azure-cli issue 26689).
  - The principal is given by object id, or derived from a VM's system-assigned identity or from a
    user-assigned identity.
  - The account running the task needs Privileged Role Administrator (directory roles, groups) or
    C(AppRoleAssignment.ReadWrite.All) (application roles) in Microsoft Entra ID.
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
options:
  principal_id:
    description: Object (principal) id of the service principal, for example RV(sqlvm.backup.sqlvm_identity#module:principal_id).
    type: str
  vm_name:
    description: Use the system-assigned identity of this VM (in O(resource_group)).
    type: str
  user_assigned_identity:
    description: Use this user-assigned identity, by name (in O(resource_group)) or resource id.
    type: str
  resource_group:
    description: Resource group of O(vm_name) or of O(user_assigned_identity) given by name.
    type: str
  method:
    description:
      - V(directory_role) assigns the Directory Readers role to the principal.
      - V(group) adds the principal to O(group_id), a role-assignable group that holds Directory Readers.
      - V(graph_app_roles) grants the three Microsoft Graph application roles.
    type: str
    choices: [directory_role, group, graph_app_roles]
    default: directory_role
  group_id:
    description: Object id of the role-assignable group, with O(method=group).
    type: str
  principal_wait:
    description:
      - Seconds to keep retrying while Microsoft Graph does not know the principal yet (HTTP 404
        C(Request_ResourceNotFound)), as it answers for a few moments after a managed identity was created;
        growing pauses, never past the task's O(timeout). V(0) does not wait.
    type: int
    default: 120
  state:
    description:
      - V(present) ensures the principal can read the directory by O(method).
      - V(absent) removes what O(method) grants directly (the role assignment, the group membership or
        the application roles); access the principal has by other routes stays and is reported.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Directory role changes can take a few minutes to reach SQL Server.
seealso:
  - module: sqlvm.backup.sqlvm_identity
  - module: sqlvm.backup.sqlvm_info
  - name: Directory Readers role
    description: Microsoft Entra built-in roles.
    link: https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference#directory-readers
"""

EXAMPLES = r"""
- name: Let the SQL VM's system-assigned identity read the directory
  sqlvm.backup.entra_directory_reader:
    resource_group: rg-sql
    vm_name: sql01

- name: Same, through a role-assignable group that holds Directory Readers
  sqlvm.backup.entra_directory_reader:
    principal_id: "{{ identity.principal_id }}"
    method: group
    group_id: 5f0c2f43-0b8e-4a4f-8d0e-8a3c57f1c9a2

- name: Least privilege - the three Graph application roles
  sqlvm.backup.entra_directory_reader:
    user_assigned_identity: id-sql-backup
    resource_group: rg-identities
    method: graph_app_roles
"""

RETURN = r"""
principal_id:
  description: Object id of the principal.
  returned: success
  type: str
can_read_directory:
  description: Whether the principal can read the directory after the task (predicted in check mode).
  returned: success
  type: bool
reason:
  description: Why it can or cannot.
  returned: success
  type: str
  sample: holds Directory Readers (possibly through group sql-readers)
directory_roles:
  description: Directory roles the principal holds, directly or through groups.
  returned: success
  type: list
  elements: str
groups:
  description: Object ids of the groups the principal is in, directly or transitively.
  returned: success
  type: list
  elements: str
app_roles:
  description: With O(method=graph_app_roles), which of the three roles the principal holds.
  returned: when method is graph_app_roles
  type: dict
  sample: {"User.Read.All": true, "GroupMember.Read.All": true, "Application.Read.All": true}
changes:
  description: What the task changed (or would change).
  returned: success
  type: list
  elements: str
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

ARGUMENT_SPEC = dict(
    principal_id=dict(type="str"),
    vm_name=dict(type="str"),
    user_assigned_identity=dict(type="str"),
    resource_group=dict(type="str"),
    method=dict(type="str", default="directory_role", choices=["directory_role", "group", "graph_app_roles"]),
    group_id=dict(type="str"),
    principal_wait=dict(type="int", default=120),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = SqlvmModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("principal_id", "vm_name", "user_assigned_identity")],
        required_one_of=[("principal_id", "vm_name", "user_assigned_identity")],
        required_if=[("method", "group", ("group_id",))],
    )
    module.run_azure(backend, {key: module.params[key] for key in ARGUMENT_SPEC})


if __name__ == "__main__":
    main()
