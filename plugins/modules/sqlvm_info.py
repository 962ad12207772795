#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlvm_info
short_description: Report whether a SQL Server VM is ready to back up to Azure Blob Storage with a managed identity
version_added: 0.1.0
description:
  - Reads, without changing anything, the SQL virtual machine resource, the VM's managed identities,
    the primary identity for Microsoft Entra authentication, whether that identity can read the
    directory, and its role assignments on a storage scope.
  - Every check comes with a readiness verdict and, when not ready, the reason and the module that fixes it.
  - Use it in C(--check) compliance runs or before M(sqlvm.backup.sql_backup).
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes.info_module
options:
  resource_group:
    description: Resource group of the VM and its SQL virtual machine resource.
    type: str
    required: true
  vm_name:
    description: Name of the virtual machine.
    type: str
    required: true
  sql_vm_name:
    description: Name of the SQL virtual machine resource; defaults to O(vm_name).
    type: str
  storage_scope:
    description:
      - Storage account or container resource id on which the primary identity needs
        C(Storage Blob Data Contributor). Without it, storage access is not checked.
    type: str
  check_directory:
    description: Check through Microsoft Graph whether the primary identity can read the directory.
    type: bool
    default: true
  check_network:
    description:
      - Check the network paths backup to URL and Microsoft Entra authentication need - the storage account's firewall
        (public network access, virtual network rules, private endpoints, IP rules) against the VM's subnet, and the
        VM's network security groups for outbound TCP 443 to the C(Storage) and C(AzureActiveDirectory) service tags.
      - Reads the VM's network interface, virtual network and network security groups, and the storage account.
    type: bool
    default: true
  sql_version:
    description: SQL Server build (C(SERVERPROPERTY('ProductVersion'))) to check against 2022 CU17; Azure does not show it.
    type: str
  failover_cluster_instance:
    description: Whether SQL Server is a failover cluster instance (C(SERVERPROPERTY('IsClustered'))).
    type: bool
notes:
  - Reading Graph needs C(Directory.Read.All) (or Directory Readers) for the account running the task;
    without it the directory check reports the missing permission instead of failing the task.
  - The network checks need read access to the VM's network resources and the storage account (Reader); without it
    they report that they cannot tell (C(ready) null) and which access to grant, instead of failing the task.
seealso:
  - module: sqlvm.backup.sqlvm_identity
  - module: sqlvm.backup.entra_directory_reader
  - module: sqlvm.backup.role_assignment
"""

EXAMPLES = r"""
- name: Is sql01 ready?
  sqlvm.backup.sqlvm_info:
    resource_group: rg-sql
    vm_name: sql01
    storage_scope: /subscriptions/{{ subscription_id }}/resourceGroups/rg-storage/providers/Microsoft.Storage/storageAccounts/backupsacct
  register: readiness

- name: Fail with the reasons when not
  ansible.builtin.assert:
    that: readiness.ready
    fail_msg: "{{ readiness.not_ready | map('extract', readiness.checks) | map(attribute='reason') | list }}"
"""

RETURN = r"""
ready:
  description: Whether every check passed.
  returned: always
  type: bool
not_ready:
  description:
    - Names of the checks that did not pass; their reasons are in RV(checks).
    - V([sql_vm_resource]) when the VM is not registered with the SQL IaaS Agent extension.
  returned: always
  type: list
  elements: str
  sample: [directory_read, storage_access]
primary_principal_id:
  description: Principal id of the primary identity, when there is one.
  returned: when the SQL VM resource exists
  type: str
checks:
  description:
    - One entry per check, each with C(ready) (bool), C(reason) (str) and the facts behind it.
    - C(sql_vm_resource) - registered with the SQL IaaS Agent extension.
    - C(platform) - Windows, supported SQL Server version, not an FCI.
    - C(vm_identity) - the VM has a managed identity (C(vm_identity) holds them).
    - C(entra_authentication) - Entra authentication enabled with a primary identity attached to the VM.
    - C(directory_read) - the primary identity can read Microsoft Entra ID.
    - C(storage_access) - Storage Blob Data Contributor (or Owner) at O(storage_scope) or above.
    - C(storage_network) - the storage account's firewall lets the VM in (with O(storage_scope) and O(check_network)).
    - C(outbound_storage), C(outbound_entra) - the VM's network security groups allow outbound TCP 443 to Azure
      Storage and Microsoft Entra ID (with O(check_network)). Network checks also have C(fix); their C(ready) is
      null when it cannot be told (see C(reason)).
  returned: always
  type: dict
  sample: {"entra_authentication": {"ready": false, "reason": "Entra authentication is not enabled ...", "enabled": false}}
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_info as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

ARGUMENT_SPEC = dict(
    resource_group=dict(type="str", required=True),
    vm_name=dict(type="str", required=True),
    sql_vm_name=dict(type="str"),
    storage_scope=dict(type="str"),
    check_directory=dict(type="bool", default=True),
    check_network=dict(type="bool", default=True),
    sql_version=dict(type="str"),
    failover_cluster_instance=dict(type="bool"),
)


def main():
    module = SqlvmModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run_azure(backend, {key: module.params[key] for key in ARGUMENT_SPEC})


if __name__ == "__main__":
    main()
