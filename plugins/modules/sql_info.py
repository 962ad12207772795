#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_info
short_description: Report a SQL Server instance's readiness for backup to URL with a managed identity
version_added: 0.1.0
description:
  - Reads, and never changes - version and update level, host platform, clustering, server credentials (names and
    identities, never secrets), Microsoft Entra logins and sysadmin members, trace flags, and the last backup to URL of
    each database.
  - Reports Always On availability group membership - RV(is_hadr_enabled), the groups this instance is a replica of
    with this replica's role and the group's automated backup preference (RV(availability_groups)) and, per
    availability database, whether this replica is its preferred backup replica
    (C(sys.fn_hadr_backup_is_preferred_replica), RV(availability_databases)). The groups are read only when
    C(SERVERPROPERTY('IsHadrEnabled')) is 1. The replica states need C(VIEW SERVER STATE)
    (C(sys.dm_hadr_availability_replica_states)); without it RV(availability_groups) is empty, with a warning, and
    RV(availability_databases) is still complete. An instance without groups returns V(false) and empty values.
  - Returns RV(managed_identity_backup_supported) (SQL Server 2022 CU17 or later, or 2025; Windows; not a failover
    cluster instance) and a readiness verdict RV(ready) with the RV(reasons) when not ready.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  container_url:
    description:
      - When given, readiness also needs a managed-identity credential named exactly by this container URL.
    type: str
  storage_suffix:
    description:
      - Storage endpoint suffix O(container_url) must use. Defaults to the suffix of O(cloud_environment).
    type: str
extends_documentation_fragment:
  - sqlvm.backup.sql_connection
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes.info_module
seealso:
  - module: sqlvm.backup.sqlvm_info
"""

EXAMPLES = r"""
- name: Is the instance ready for managed-identity backups to this container?
  sqlvm.backup.sql_info:
    sql_host: sqlvm1.contoso.internal
    container_url: https://contosobackups.blob.core.windows.net/sql
  register: info

- name: Which availability databases does this replica back up?
  ansible.builtin.debug:
    msg: "{{ info.availability_databases | dict2items | selectattr('value.is_preferred_backup_replica')
             | map(attribute='key') | list }}"

- name: Stop with the reasons when it is not
  ansible.builtin.assert:
    that: info.ready
    fail_msg: "{{ info.reasons | join('; ') }}"
"""

RETURN = r"""
instance:
  description: Server properties.
  returned: always
  type: dict
  contains:
    product_version:
      description: C(SERVERPROPERTY('ProductVersion')), for example C(16.0.4175.1).
      type: str
    release:
      description: SQL Server release, for example C(2022).
      type: str
    product_update_level:
      description: Cumulative update, for example C(CU17).
      type: str
    edition:
      description: Edition.
      type: str
    host_platform:
      description: C(Windows) or C(Linux).
      type: str
    is_clustered:
      description: Whether the instance is a failover cluster instance.
      type: bool
    default_data_path:
      description: Default directory of data files.
      type: str
    default_log_path:
      description: Default directory of log files.
      type: str
    server_name:
      description: C(@@SERVERNAME).
      type: str
managed_identity_backup_supported:
  description: SQL Server 2022 CU17+ or 2025, on Windows, not a failover cluster instance.
  returned: always
  type: bool
credentials:
  description: Server credentials - name, identity and dates. Secrets are never readable.
  returned: always
  type: list
  elements: dict
entra_logins:
  description: Microsoft Entra logins (users, applications, groups) and whether they are enabled.
  returned: always
  type: list
  elements: dict
sysadmin_members:
  description: Members of the sysadmin role with their principal type.
  returned: always
  type: list
  elements: dict
entra_sysadmins:
  description: Names of the Entra principals in sysadmin.
  returned: always
  type: list
  elements: str
trace_flags:
  description: Trace flags that are on, by number, with their status and whether they are global.
  returned: always
  type: dict
last_url_backups:
  description: Finish time of the last backup to URL per database and type (full, differential, log).
  returned: always
  type: dict
  sample: {Sales: {full: "2026-11-22T01:00:03", log: "2026-11-22T03:15:01"}}
is_hadr_enabled:
  description: C(SERVERPROPERTY('IsHadrEnabled')) - whether Always On availability groups are enabled on the instance.
  returned: always
  type: bool
availability_groups:
  description:
    - The availability groups this instance is a replica of; empty when it is in none.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name of the group.
      type: str
    role:
      description: This replica's role, C(PRIMARY) or C(SECONDARY) (C(RESOLVING) during a failover).
      type: str
    synchronization_health:
      description: This replica's synchronization health, C(HEALTHY), C(PARTIALLY_HEALTHY) or C(NOT_HEALTHY).
      type: str
    automated_backup_preference:
      description: The group's automated backup preference, C(PRIMARY), C(SECONDARY_ONLY), C(SECONDARY) or C(NONE).
      type: str
    replica_server_name:
      description: This replica's server name in the group.
      type: str
    backup_priority:
      description: This replica's backup priority (0 - never backs up, 1 to 100).
      type: int
    databases:
      description: The group's databases on this instance.
      type: list
      elements: str
  sample:
    - {name: ag-sql, role: SECONDARY, synchronization_health: HEALTHY, automated_backup_preference: SECONDARY,
       replica_server_name: SQLVM2, backup_priority: 50, databases: [Sales]}
availability_databases:
  description:
    - Per database in an availability group, its group and whether this replica is its primary and its preferred
      backup replica (C(sys.fn_hadr_backup_is_preferred_replica)), which M(sqlvm.backup.sql_backup) follows. Empty
      when the instance is in no group.
  returned: always
  type: dict
  sample:
    Sales: {availability_group: ag-sql, automated_backup_preference: SECONDARY, is_primary_replica: false,
            is_preferred_backup_replica: true}
ready:
  description: Whether backups to URL with a managed identity can run.
  returned: always
  type: bool
reasons:
  description: Why the instance is not ready, each with what to do.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_info
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(sql_info.argument_spec())
    module = SqlvmModule(spec, supports_check_mode=True)
    module.run_sql(sql_info)


if __name__ == "__main__":
    main()
