#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlvm_identity
short_description: Give a SQL Server VM a managed identity and make it primary for Microsoft Entra authentication
version_added: 0.1.0
description:
  - Ensures the Azure virtual machine has a system-assigned managed identity and/or the given
    user-assigned identities, then sets the chosen one as the B(primary) identity of the SQL virtual
    machine resource (C(azureAdAuthenticationSettings.clientId); an empty client id means the
    system-assigned identity). This enables Microsoft Entra authentication on the SQL VM, which
    C(BACKUP TO URL) with C(WITH IDENTITY = 'Managed Identity') needs (otherwise error 37563).
  - Identities already on the VM are kept unless O(exclusive=true).
  - Before anything changes, the documented prerequisites are checked and the task fails without
    any write when one does not hold - the SQL VM resource exists (the VM is registered with the
    SQL IaaS Agent extension), the VM runs Windows, SQL Server is 2022 CU17 (16.0.4175.1) or later
    or 2025, and it is not a failover cluster instance.
  - Azure does not show the exact SQL Server build or whether the instance is clustered. The major
    version comes from the SQL VM's image offer; give O(sql_version) and
    O(failover_cluster_instance) (from M(sqlvm.backup.sql_info) or C(SERVERPROPERTY)) to have the
    cumulative update and the FCI rule checked before any change as well. Without them, a build
    older than CU17 is refused by Azure when the primary identity is set (reported with the same
    explanation), after identities may already have been attached to the VM.
  - Entra authentication cannot be turned off again once enabled (Microsoft documentation), so this
    module has no O(ignore:state=absent).
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
options:
  resource_group:
    description: Resource group of the virtual machine and of its SQL virtual machine resource.
    type: str
    required: true
  vm_name:
    description: Name of the Azure virtual machine.
    type: str
    required: true
  sql_vm_name:
    description:
      - Name of the SQL virtual machine resource (C(Microsoft.SqlVirtualMachine/sqlVirtualMachines)).
      - Azure gives it the VM's name when the VM is registered, which is the default.
    type: str
  system_assigned:
    description:
      - Ensure the VM has its system-assigned identity.
      - Defaults to V(true) when O(user_assigned) is empty.
    type: bool
  user_assigned:
    description:
      - User-assigned identities to attach, by name (in O(resource_group)) or by resource id.
    type: list
    elements: str
    default: []
  primary:
    description:
      - The identity to make primary for Entra authentication - V(system), or one of O(user_assigned).
      - Defaults to V(system) when O(system_assigned=true), else to the only entry of O(user_assigned).
    type: str
  exclusive:
    description:
      - Detach every identity not listed here (the system-assigned one included, unless
        O(system_assigned=true)). Other workloads on the VM may depend on them.
    type: bool
    default: false
  sql_version:
    description:
      - The SQL Server build, as C(SERVERPROPERTY('ProductVersion')) returns it, for example V(16.0.4175.1).
      - When given, builds older than 2022 CU17 fail before any change.
    type: str
  failover_cluster_instance:
    description:
      - Whether SQL Server runs as a failover cluster instance (C(SERVERPROPERTY('IsClustered'))).
        V(true) fails before any change - managed identities are not supported on FCIs.
    type: bool
notes:
  - Needs C(Microsoft.Compute/virtualMachines/write), C(Microsoft.ManagedIdentity/userAssignedIdentities/assign/action)
    and C(Microsoft.SqlVirtualMachine/sqlVirtualMachines/write) (e.g. Virtual Machine Contributor,
    Managed Identity Operator and SQL Virtual Machine Contributor).
  - The identity must also be able to read Microsoft Entra ID (M(sqlvm.backup.entra_directory_reader))
    and write blobs (M(sqlvm.backup.role_assignment)).
seealso:
  - module: sqlvm.backup.entra_directory_reader
  - module: sqlvm.backup.role_assignment
  - module: sqlvm.backup.sqlvm_info
  - name: Backup and restore to URL using managed identities
    description: SQL Server on Azure VM documentation.
    link: https://learn.microsoft.com/azure/azure-sql/virtual-machines/windows/backup-restore-to-url-using-managed-identities
"""

EXAMPLES = r"""
- name: Use the VM's system-assigned identity as primary
  sqlvm.backup.sqlvm_identity:
    resource_group: rg-sql
    vm_name: sql01
  register: identity

- name: Read the build and FCI status from SQL Server itself
  sqlvm.backup.sql_info:
    sql_host: sql01.contoso.internal
    sql_auth: sql
    login_user: dba
    login_password: "{{ vault_sql_password }}"
  register: sql

- name: Use a shared user-assigned identity, with the build and FCI rules checked before any change
  sqlvm.backup.sqlvm_identity:
    resource_group: rg-sql
    vm_name: sql01
    user_assigned:
      - id-sql-backup
    sql_version: "{{ sql.instance.product_version }}"
    failover_cluster_instance: "{{ sql.instance.is_clustered }}"

- name: Grant the primary identity blob access
  sqlvm.backup.role_assignment:
    principal_id: "{{ identity.principal_id }}"
    role: Storage Blob Data Contributor
    resource_group: rg-storage
    storage_account: backupsacct
"""

RETURN = r"""
principal_id:
  description: Object (principal) id of the primary identity. Unknown (null) in check mode for an identity not created yet.
  returned: success
  type: str
  sample: 6a6c3a5e-9e3f-4b38-9f1f-0cf1a3c1d2e4
client_id:
  description: Client id of the primary identity when it is user-assigned; null for the system-assigned one (Azure does not return it).
  returned: success
  type: str
  sample: 0f2e6d6c-4d4f-4a0b-8d2b-3a5e2c6b7a11
tenant_id:
  description: Microsoft Entra tenant of the identity.
  returned: success
  type: str
primary_identity_id:
  description: Resource id of the primary user-assigned identity; null when the system-assigned identity is primary.
  returned: success
  type: str
primary:
  description: Human-readable primary identity.
  returned: success
  type: str
  sample: system-assigned identity
identity:
  description: The VM's identities after the task (predicted in check mode).
  returned: success
  type: dict
  contains:
    type:
      description: ARM identity type.
      type: str
      sample: SystemAssigned, UserAssigned
    system_assigned:
      description: Whether the system-assigned identity is on.
      type: bool
    principal_id:
      description: Principal id of the system-assigned identity.
      type: str
    tenant_id:
      description: Tenant of the identities.
      type: str
    user_assigned:
      description: Attached user-assigned identities.
      type: list
      elements: dict
changes:
  description: What the task changed (or would change in check mode).
  returned: success
  type: list
  elements: dict
  sample:
    - {"action": "attach", "identities": ["system"]}
    - {"action": "set_primary", "from": "not set (Entra authentication disabled)", "to": "system-assigned identity"}
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_identity as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

ARGUMENT_SPEC = dict(
    resource_group=dict(type="str", required=True),
    vm_name=dict(type="str", required=True),
    sql_vm_name=dict(type="str"),
    system_assigned=dict(type="bool"),
    user_assigned=dict(type="list", elements="str", default=[]),
    primary=dict(type="str"),
    exclusive=dict(type="bool", default=False),
    sql_version=dict(type="str"),
    failover_cluster_instance=dict(type="bool"),
)

_OPTIONS = tuple(ARGUMENT_SPEC)


def main():
    module = SqlvmModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run_azure(backend, {key: module.params[key] for key in _OPTIONS})


if __name__ == "__main__":
    main()
