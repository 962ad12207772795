#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_vault_identity
short_description: Enable managed identities on Recovery Services vaults and Data Protection backup vaults
version_added: 0.1.0
description:
  - Ensures a Recovery Services vault (C(Microsoft.RecoveryServices/vaults)) or a Backup vault
    (C(Microsoft.DataProtection/backupVaults)) has its system-assigned identity and/or the given
    user-assigned identities, so Azure Backup can reach storage, disks and keys without secrets.
  - Both kinds may be enabled together. The system-assigned identity can only be enabled after the
    vault exists; it is deleted with the vault. User-assigned identities can be shared by vaults.
  - Returns the principal ids to grant roles to with M(sqlvm.backup.role_assignment).
  - Identities already on the vault are kept unless O(exclusive=true).
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
options:
  resource_group:
    description: Resource group of the vault.
    type: str
    required: true
  name:
    description: Name of the vault.
    type: str
    required: true
  vault_type:
    description: V(recovery_services) for a Recovery Services vault, V(backup_vault) for a Data Protection Backup vault.
    type: str
    choices: [recovery_services, backup_vault]
    default: recovery_services
  system_assigned:
    description: Ensure the vault's system-assigned identity is on.
    type: bool
    default: false
  user_assigned:
    description: User-assigned identities to attach, by name (in O(resource_group)) or resource id.
    type: list
    elements: str
    default: []
  exclusive:
    description: Detach identities not listed (the system-assigned one too unless O(system_assigned=true)).
    type: bool
    default: false
notes:
  - Needs Backup Contributor (or C(Microsoft.RecoveryServices/vaults/write) / C(Microsoft.DataProtection/backupVaults/write))
    and, for user-assigned identities, Managed Identity Operator.
seealso:
  - module: sqlvm.backup.role_assignment
  - name: Managed identities for Azure Backup vaults
    description: Azure Backup documentation.
    link: https://learn.microsoft.com/azure/backup/backup-managed-identity
"""

EXAMPLES = r"""
- name: System-assigned identity on a Recovery Services vault
  sqlvm.backup.backup_vault_identity:
    resource_group: rg-backup
    name: rsv-sql
    system_assigned: true
  register: vault

- name: Let it read the storage account
  sqlvm.backup.role_assignment:
    principal_id: "{{ vault.principal_id }}"
    role: Storage Blob Data Reader
    resource_group: rg-storage
    storage_account: backupsacct

- name: A shared user-assigned identity on a Backup vault
  sqlvm.backup.backup_vault_identity:
    resource_group: rg-backup
    name: bv-disks
    vault_type: backup_vault
    user_assigned:
      - id-backup
"""

RETURN = r"""
principal_id:
  description: Principal id of the system-assigned identity (null when off, or not yet known in check mode).
  returned: success
  type: str
principal_ids:
  description: Principal id per identity - key C(system), and each user-assigned identity's resource id.
  returned: success
  type: dict
  sample: {"system": "6a6c3a5e-9e3f-4b38-9f1f-0cf1a3c1d2e4"}
identity:
  description: The vault's identities after the task (predicted in check mode).
  returned: success
  type: dict
changes:
  description: What changed (or would change).
  returned: success
  type: list
  elements: dict
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_vault_identity as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

ARGUMENT_SPEC = dict(
    resource_group=dict(type="str", required=True),
    name=dict(type="str", required=True),
    vault_type=dict(type="str", default="recovery_services", choices=["recovery_services", "backup_vault"]),
    system_assigned=dict(type="bool", default=False),
    user_assigned=dict(type="list", elements="str", default=[]),
    exclusive=dict(type="bool", default=False),
)


def main():
    module = SqlvmModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.run_azure(backend, {key: module.params[key] for key in ARGUMENT_SPEC})


if __name__ == "__main__":
    main()
