#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: blob_retention
short_description: Delete old backup blobs with an Azure Storage lifecycle management rule
version_added: 0.2.0
description:
  - Ensures one rule of a storage account's lifecycle management policy (ARM C(managementPolicies/default))
    that deletes the block blobs under O(container) (and O(prefix)) O(days) days after they were last
    modified, so a backup container does not grow forever.
  - Only the rule named O(rule_name) is managed; every other rule of the account's policy is kept as it is.
    When the last rule is removed (O(state=absent)), the policy itself is deleted, as Azure requires at least
    one rule in a policy.
  - Azure runs lifecycle policies about once a day; blobs are deleted some time after they become old enough,
    not at the minute.
  - Warns when another enabled rule of the account deletes the same blobs sooner.
author:
  - sqlvm.backup developers (@sqlvm-backup)
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
options:
  resource_group:
    description: Resource group of the storage account.
    type: str
    required: true
  storage_account:
    description: Name of the storage account that holds the backups.
    type: str
    required: true
  container:
    description: Blob container of the backups.
    type: str
    required: true
  prefix:
    description:
      - Only blobs whose names (inside O(container)) start with this prefix, for example C(sqlvm01/) for one
        server's backups.
      - Without it, every block blob of the container.
    type: str
  days:
    description:
      - Delete a backup blob this many days after it was last modified.
      - Required when O(state=present).
      - Keep it longer than the interval between full backups plus the point-in-time window you need, so at
        least one full backup older than the oldest log backup you may restore always remains.
    type: int
  cool_after_days:
    description:
      - Move backup blobs to the Cool access tier this many days after they were last modified (less than O(days)).
      - Blobs in the Cool tier can still be restored from directly; the Archive tier is never used, as SQL Server
        cannot read archived blobs.
    type: int
  delete_versions:
    description:
      - Also delete previous blob versions O(days) days after they were created. Needed when blob versioning is on,
        because a deleted blob otherwise lives on (and is billed) as a previous version.
    type: bool
    default: false
  enabled:
    description: Whether the rule is enabled. A disabled rule stays in the policy but deletes nothing.
    type: bool
    default: true
  rule_name:
    description:
      - Name of the lifecycle rule (1-256 letters and digits, case-sensitive).
      - Default C(sqlvmbackup) followed by the container and prefix without their other characters.
    type: str
  state:
    description: V(present) ensures the rule, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs C(Microsoft.Storage/storageAccounts/managementPolicies/write) (for example Storage Account Contributor)
    on the storage account, and read access to it.
  - A restore needs the whole chain, a full backup, its differential and every log backup after them. With a
    weekly full backup and a retention of O(days=14), a point in time up to about a week back can be restored.
seealso:
  - name: Azure Blob Storage lifecycle management overview
    description: Rules, filters, actions and how often policies run.
    link: https://learn.microsoft.com/azure/storage/blobs/lifecycle-management-overview
  - module: sqlvm.backup.sql_backup
"""

EXAMPLES = r"""
- name: Delete backups 35 days after they were written
  sqlvm.backup.blob_retention:
    resource_group: rg-storage
    storage_account: stsqlbackup01
    container: backups
    days: 35

- name: Keep one server's backups longer, and move them to Cool after a week
  sqlvm.backup.blob_retention:
    resource_group: rg-storage
    storage_account: stsqlbackup01
    container: backups
    prefix: sqlvm-finance/
    days: 400
    cool_after_days: 7
    rule_name: financeBackups

- name: Stop deleting backups of the container
  sqlvm.backup.blob_retention:
    resource_group: rg-storage
    storage_account: stsqlbackup01
    container: backups
    state: absent
"""

RETURN = r"""
rule:
  description: The lifecycle rule as sent to Azure (null when absent).
  returned: success
  type: dict
  sample:
    enabled: true
    name: sqlvmbackupbackups
    type: Lifecycle
    definition:
      filters: {blobTypes: [blockBlob], prefixMatch: [backups/]}
      actions: {baseBlob: {delete: {daysAfterModificationGreaterThan: 35}}}
rule_name:
  description: Name of the managed rule.
  returned: success
  type: str
  sample: sqlvmbackupbackups
policy_id:
  description: Resource id of the account's lifecycle management policy.
  returned: success
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-st/providers/Microsoft.Storage/storageAccounts/st01/managementPolicies/default
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import blob_retention as backend
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule

ARGUMENT_SPEC = dict(
    resource_group=dict(type="str", required=True),
    storage_account=dict(type="str", required=True),
    container=dict(type="str", required=True),
    prefix=dict(type="str"),
    days=dict(type="int"),
    cool_after_days=dict(type="int"),
    delete_versions=dict(type="bool", default=False),
    enabled=dict(type="bool", default=True),
    rule_name=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def main():
    module = SqlvmModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                         required_if=[("state", "present", ("days",))])
    module.run_azure(backend, {key: module.params[key] for key in ARGUMENT_SPEC})


if __name__ == "__main__":
    main()
