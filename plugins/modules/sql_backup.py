#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_backup
short_description: Back up SQL Server databases to Azure Blob Storage (BACKUP ... TO URL)
version_added: 0.1.0
description:
  - Runs C(BACKUP DATABASE) (full or differential) or C(BACKUP LOG) C(TO URL) for one, several or all user databases,
    as block blobs in the container whose server credential exists (sqlvm.backup.sql_credential).
  - Stripes are given or computed from the allocated size of the database so that no blob passes the block-blob limit
    of 50,000 blocks x O(max_transfer_size) (about 195 GiB per blob at 4 MiB); at most 64.
  - Before any backup through a managed-identity credential the instance is checked - below SQL Server 2022 CU15 such
    a backup can leave the instance unresponsive (KB5043526) and is always refused; below CU17, on Linux and on a
    failover cluster instance it is unsupported and refused unless O(allow_unsupported_instance=true).
  - An existing blob is never overwritten unless O(overwrite=true) (C(WITH FORMAT)). Blob names from
    O(blob_name_template) carry a timestamp by default, so every run writes new blobs.
  - In an Always On availability group the job is meant to run on every replica and back up on one - the one
    C(sys.fn_hadr_backup_is_preferred_replica) prefers (the group's automated backup preference and the replicas'
    backup priorities; "Configure backups on secondary replicas of an availability group"). On any other replica a
    database of the group is skipped, with C(changed=false) and the reason in RV(skipped_reason) and
    RV(skipped_databases), unless O(backup_on_any_replica=true).
  - On a secondary replica SQL Server supports only C(COPY_ONLY) full backups and regular log backups ("Offload
    supported backups to secondary replicas of an availability group"). A full backup there is made C(COPY_ONLY)
    (RV(backups[].copy_only), with the reason in RV(backups[].copy_only_reason) and a warning); a differential
    backup, or a C(COPY_ONLY) log backup, is refused before any statement. Log backups taken on any replica form one
    log chain; each replica records only its own backups in its C(msdb).
  - In check mode the module reads the server and returns the statements it would run, without running them.
  - Full, differential and log backups taken on schedules form restore chains; M(sqlvm.backup.sql_backup_info) plans
    them from the server's history and M(sqlvm.backup.sql_restore) restores them.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  timeout:
    description:
      - The most the whole task may take, in seconds. One deadline, started with the task, covers sign-in to
        Microsoft Entra ID (O(sql_auth=entra)), the SQL Server login and every statement, the BACKUP statements
        included; when it runs out the task fails naming the step, and SQL Server cancels and rolls back the
        statement.
      - The default is a day because BACKUP of a large database takes hours; lower it to fail early, raise it for
        larger databases. V(0) and negative values are refused.
    type: int
    default: 86400
  databases:
    description:
      - Names of the databases to back up. Mutually exclusive with O(all_user_databases).
      - Each name is resolved as SQL Server resolves it (C(DB_ID), the server's collation - case-insensitive by
        default), as in sqlvm.backup.sql_restore; results and blob names use the server's spelling of the name.
    type: list
    elements: str
  all_user_databases:
    description:
      - Back up every user database. Databases that are not ONLINE (and, for log backups, those in SIMPLE recovery)
        are skipped and listed in RV(skipped_databases) with the reason; system databases are never included.
    type: bool
    default: false
  exclude_databases:
    description:
      - Databases left out when O(all_user_databases=true).
    type: list
    elements: str
    default: []
  type:
    description:
      - V(full), V(differential) (changes since the last full backup) or V(log).
    type: str
    choices: [full, differential, log]
    default: full
  container_url:
    description:
      - The container URL, which is also the name of the server credential, for example
        C(https://contosobackups.blob.core.windows.net/sql).
      - Without a query string or user information - a shared access signature belongs in the credential
        (sqlvm.backup.sql_credential O(sqlvm.backup.sql_credential#module:sas_token)); such a URL is refused and shown
        redacted.
    type: str
    required: true
  storage_suffix:
    description:
      - Storage endpoint suffix the URL must use. Defaults to the suffix of O(cloud_environment).
    type: str
  blob_name_template:
    description:
      - Blob name below the container. Placeholders - C({server}) (server name, C(\) replaced by C($)),
        C({database}), C({type}) (FULL, DIFF, LOG), C({timestamp}) (UTC, C(20261122T031500Z)), C({stripe}) and
        C({stripes}) (stripe n of N), C({ext}) (C(bak) or C(trn)).
      - Must contain C({stripe}) when there are several stripes and C({database}) when several databases are backed up.
      - A blob name may be at most 1,024 characters in at most 254 path segments (Azure Blob Storage naming rules); a
        template whose names would be longer is refused before anything is written.
    type: str
    default: "{server}/{database}/{database}_{type}_{timestamp}_{stripe}of{stripes}.{ext}"
  stripes:
    description:
      - Number of blobs (1 to 64). Computed from the database size when omitted; a number too small for the size is
        refused.
    type: int
  max_transfer_size:
    description:
      - C(MAXTRANSFERSIZE) in bytes, a multiple of 65536 up to 4194304. Each block of a blob holds one transfer.
    type: int
    default: 4194304
  block_size:
    description:
      - C(BLOCKSIZE) in bytes; 65536 keeps restores aligned (error 3284 otherwise).
    type: int
    default: 65536
  compression:
    description:
      - V(auto) compresses where the edition allows it (not Express or Web).
    type: str
    choices: [auto, 'on', 'off']
    default: auto
  checksum:
    description:
      - C(WITH CHECKSUM).
    type: bool
    default: true
  copy_only:
    description:
      - C(COPY_ONLY) - a backup that does not disturb the differential base or the log chain.
    type: bool
    default: false
  overwrite:
    description:
      - Allow replacing existing blobs (C(WITH FORMAT)). Without it an existing blob makes the task fail.
    type: bool
    default: false
  verify:
    description:
      - Run C(RESTORE VERIFYONLY) on the new backup.
    type: bool
    default: false
  skip_if_backed_up_within:
    description:
      - Skip a database whose last backup of this O(type) finished less than this many minutes ago (from msdb), so a
        playbook can run often and back up only when due. Skipped databases make no change.
    type: int
  allow_unsupported_instance:
    description:
      - Run even when the instance is below SQL Server 2022 CU17, on Linux or a failover cluster instance, where
        Microsoft does not support managed-identity backups. At your own risk. Builds below 2022 CU15 are refused in
        any case, because the backup can leave the instance unresponsive.
    type: bool
    default: false
  backup_on_any_replica:
    description:
      - For a database in an availability group, back up on this replica even when it is not the preferred backup
        replica (C(sys.fn_hadr_backup_is_preferred_replica) is 0). Off by default, so the same task run on every
        replica backs each database up once.
      - What a secondary replica cannot do stays refused - a differential backup, a C(COPY_ONLY) log backup - and a
        full backup there is C(COPY_ONLY).
      - O(skip_if_backed_up_within) reads this replica's C(msdb) only, which does not hold the other replicas' backups.
    type: bool
    default: false
extends_documentation_fragment:
  - sqlvm.backup.sql_connection
  - sqlvm.backup.azure_auth
attributes:
  check_mode:
    description: Reads the server and returns the statements it would run; runs no backup.
    support: full
  diff_mode:
    description: Backups are actions; no diff is returned.
    support: none
  idempotent:
    description: Each run writes new backups, unless O(skip_if_backed_up_within) finds a recent one.
    support: partial
  action_group:
    description: Use C(group/sqlvm.backup.azure) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - sqlvm.backup.azure
seealso:
  - module: sqlvm.backup.sql_credential
  - module: sqlvm.backup.sql_restore
  - module: sqlvm.backup.sql_backup_info
"""

EXAMPLES = r"""
- name: Nightly full backup of every user database, verified
  sqlvm.backup.sql_backup:
    sql_host: sqlvm1.contoso.internal
    container_url: https://contosobackups.blob.core.windows.net/sql
    all_user_databases: true
    verify: true

- name: Log backups every 15 minutes, only when due
  sqlvm.backup.sql_backup:
    sql_host: sqlvm1.contoso.internal
    container_url: https://contosobackups.blob.core.windows.net/sql
    all_user_databases: true
    type: log
    skip_if_backed_up_within: 14

- name: Run on every replica of an availability group - only the preferred backup replica backs up
  sqlvm.backup.sql_backup:
    sql_host: "{{ inventory_hostname }}"
    container_url: https://contosobackups.blob.core.windows.net/sql
    databases: [Sales]
    type: log
  register: ag_backup

- name: Say why a replica did not back up
  ansible.builtin.debug:
    msg: "{{ ag_backup.skipped_reason }}"
  when: ag_backup.skipped_reason

- name: Copy-only backup of one database in 8 stripes, to a fixed name, replacing the previous one
  sqlvm.backup.sql_backup:
    sql_host: sqlvm1.contoso.internal
    container_url: https://contosobackups.blob.core.windows.net/sql
    databases: [Sales]
    copy_only: true
    stripes: 8
    blob_name_template: "refresh/{database}_{stripe}of{stripes}.bak"
    overwrite: true
"""

RETURN = r"""
statements_done:
  description:
    - When the task failed after some of its write statements ran, those statements (secrets not shown). The task then
      reports C(changed=true); run it again after fixing the cause and it continues from the current state.
  returned: on failure after a write
  type: list
  elements: str
statements_in_doubt:
  description:
    - When the connection to SQL Server was lost while a write statement was running, that statement - it may or may not
      have run.
  returned: on failure after a write
  type: list
  elements: str
backups:
  description: One entry per database backed up (in check mode, per database that would be).
  returned: always
  type: list
  elements: dict
  contains:
    database:
      description: Database name.
      type: str
    type:
      description: Backup type.
      type: str
    urls:
      description: The blob URLs of the stripe set, in order - pass them to sqlvm.backup.sql_restore.
      type: list
      elements: str
    stripes:
      description: Number of blobs.
      type: int
    estimated_bytes:
      description: Allocated size the stripe count was computed from.
      type: int
    copy_only:
      description:
        - Whether the backup is C(COPY_ONLY) - asked for with O(copy_only), or a full backup on a secondary replica of
          an availability group, which SQL Server takes only as C(COPY_ONLY).
      type: bool
    copy_only_reason:
      description: Why a full backup was made C(COPY_ONLY) although O(copy_only) was not set.
      type: str
      returned: when a full backup runs on a secondary replica without O(copy_only)
    availability_group:
      description: The availability group of the database.
      type: str
      returned: for a database in an availability group
    replica_role:
      description: This replica's role for the database, C(PRIMARY) or C(SECONDARY).
      type: str
      returned: for a database in an availability group
    is_copy_only:
      description: C(is_copy_only) of the backup set SQL Server recorded (msdb.dbo.backupset).
      type: bool
      returned: when run
    backup_size:
      description: Bytes backed up (msdb.dbo.backupset).
      type: int
      returned: when run
    compressed_backup_size:
      description: Bytes written (msdb.dbo.backupset).
      type: int
      returned: when run
    first_lsn:
      description: First LSN of the backup.
      type: str
      returned: when run
    last_lsn:
      description: Last LSN of the backup.
      type: str
      returned: when run
    database_backup_lsn:
      description: LSN of the full backup this backup is based on.
      type: str
      returned: when run
    backup_start_date:
      description: Start time recorded by SQL Server.
      type: str
      returned: when run
    backup_finish_date:
      description: Finish time recorded by SQL Server.
      type: str
      returned: when run
    duration_seconds:
      description: Wall time of the BACKUP statement.
      type: float
      returned: when run
    messages:
      description: Progress and completion messages of SQL Server.
      type: list
      elements: str
      returned: when run
    verified:
      description: RESTORE VERIFYONLY succeeded.
      type: bool
      returned: when O(verify=true)
skipped_databases:
  description: Databases not backed up, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{database: tempdb, reason: tempdb cannot be backed up}]
  contains:
    database:
      description: Database name.
      type: str
    reason:
      description: Why it was not backed up.
      type: str
    availability_group:
      description: The availability group, when the database was skipped because this is not its preferred backup replica.
      type: str
      returned: when skipped for that reason
skipped_reason:
  description:
    - When nothing was backed up because this replica is not the preferred backup replica of the databases'
      availability group, why (one sentence per database); otherwise V(null).
  returned: always
  type: str
  sample: >-
    this replica (SQLVM1) is not the preferred backup replica of 'Sales' in availability group ag-sql (automated
    backup preference SECONDARY) (sys.fn_hadr_backup_is_preferred_replica is 0): the preferred replica backs it up.
    Set backup_on_any_replica: true to back up here anyway.
statements:
  description: The BACKUP (and RESTORE VERIFYONLY) statements run or, in check mode, that would run.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(sql_backup.argument_spec())
    module = SqlvmModule(spec, supports_check_mode=True)
    module.run_sql(sql_backup)


if __name__ == "__main__":
    main()
