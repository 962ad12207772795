#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_restore
short_description: Restore a SQL Server database from Azure Blob Storage (RESTORE ... FROM URL)
version_added: 0.1.0
description:
  - Runs C(RESTORE DATABASE) or C(RESTORE LOG) C(FROM URL) for a stripe set of blobs, or the read-only forms
    C(RESTORE HEADERONLY), C(FILELISTONLY) and C(VERIFYONLY).
  - Restores a whole chain too - O(chain) as M(sqlvm.backup.sql_backup_info) returns it, or O(restore_point) with
    O(source_database), planned here from the connected server's C(msdb) history or from the blobs' headers
    (O(history_source)) - the full and differential backups C(WITH NORECOVERY), the log backups C(WITH NORECOVERY)
    and the last one C(WITH STOPAT) when the point is inside it, which ends C(WITH RECOVERY) (or C(NORECOVERY) with
    O(recovery=false), C(STANDBY) with O(standby_file)). A chain with a gap, or a point no chain reaches, is refused
    naming the missing LSN range and time span before any statement that writes.
  - Check mode and diff list the backups that would be restored (RV(restore_sequence)) and the statements, and run
    no statement that writes.
  - File locations are computed from C(RESTORE FILELISTONLY) into the instance's default data and log paths (or
    O(data_path) / O(log_path) / O(file_moves)) and named after the target database, so a backup can be restored under
    a new name next to the database it came from (no error 1834 / 3156).
  - An existing database is never overwritten unless O(replace=true). When the existing database was last restored
    from exactly these URLs (for a chain, from one of the chain's backups), the task reports no change - a restored
    database is not restored again unless O(replace=true).
  - Before a restore through a managed-identity credential the instance is checked as in sqlvm.backup.sql_backup.
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  timeout:
    description:
      - The most the whole task may take, in seconds. One deadline, started with the task, covers sign-in to
        Microsoft Entra ID (O(sql_auth=entra)), the SQL Server login and every statement, the RESTORE statements
        included; when it runs out the task fails naming the step, and SQL Server cancels and rolls back the
        statement.
      - The default is a day because RESTORE of a large database takes hours; lower it to fail early, raise it for
        larger databases. V(0) and negative values are refused.
    type: int
    default: 86400
  urls:
    description:
      - Every blob URL of the backup's stripe set (RV(sqlvm.backup.sql_backup#module:backups[].urls)). All in one
        container, whose credential must exist.
      - Exactly one of O(urls), O(chain) and O(restore_point) is required.
    type: list
    elements: str
  chain:
    description:
      - A restore chain as RV(sqlvm.backup.sql_backup_info#module:chain) returns it (read from the server that took the
        backups, so the restore may run on another server), in restore order. Each item needs C(type) (V(full),
        V(differential), V(log)), C(urls), C(first_lsn), C(last_lsn); differentials C(database_backup_lsn) and the full
        C(checkpoint_lsn). It is checked - one full first, a differential of that full, logs without a gap - before
        any statement.
      - Give O(stopat) as sql_backup_info returned it.
    type: list
    version_added: 0.2.0
    elements: dict
  restore_point:
    description:
      - V(latest) or a date and time without offset in the source server's local time (for example
        C(2026-11-21T23:30:00)) - the module plans the chain itself from O(history_source) for O(source_database).
    type: str
    version_added: 0.2.0
  source_database:
    description:
      - With O(restore_point), the name of the database whose backups to restore, as the history knows it.
    type: str
    version_added: 0.2.0
  history_source:
    description:
      - With O(restore_point), where the history is read. V(msdb) - the connected server's own history (a restore on
        the server that took the backups). V(blobs) - C(RESTORE HEADERONLY) of O(history_urls) through the connected
        server's credential, for when the source server is gone. For another server's history use
        M(sqlvm.backup.sql_backup_info) against it and pass O(chain).
    type: str
    version_added: 0.2.0
    choices: [msdb, blobs]
    default: msdb
  history_urls:
    description:
      - With O(history_source=blobs), every blob of the backups to consider (each stripe), as in
        M(sqlvm.backup.sql_backup_info)'s O(sqlvm.backup.sql_backup_info#module:urls).
    type: list
    version_added: 0.2.0
    elements: str
  standby_file:
    description:
      - For a chain, end it C(WITH STANDBY) with this undo file (absolute path on the SQL Server host); the database is
        read-only and further log backups can still be restored.
    type: str
    version_added: 0.2.0
  database:
    description:
      - Name to restore the database as. Required for O(mode=restore).
      - The restored files are named after it, so it may not hold path separators (C(/ \\ :)), C(..), characters
        file names cannot hold, control characters, or leading / trailing blanks (SQL Server ignores trailing blanks
        when it compares names, so C(msdb ) would be C(msdb)).
    type: str
  mode:
    description:
      - V(restore) restores; V(verify_only), V(header_only) and V(filelist_only) only read the backup and change nothing.
    type: str
    choices: [restore, verify_only, header_only, filelist_only]
    default: restore
  restore_type:
    description:
      - V(database) for full and differential backups, V(log) for log backups (onto a database left RESTORING).
    type: str
    choices: [database, log]
    default: database
  data_path:
    description:
      - Directory for data files. Defaults to the instance's default data path.
    type: str
  log_path:
    description:
      - Directory for log files. Defaults to the instance's default log path.
    type: str
  file_moves:
    description:
      - Explicit target paths by logical file name; they take precedence over O(data_path) and O(log_path).
    type: dict
  replace:
    description:
      - Overwrite an existing database of the same name (C(WITH REPLACE)). Its data is lost.
    type: bool
    default: false
  recovery:
    description:
      - V(true) brings the database online (C(RECOVERY)); V(false) leaves it RESTORING for further differential or log
        restores (C(NORECOVERY)).
    type: bool
    default: true
  stopat:
    description:
      - Point in time to stop at (C(STOPAT)), for example C(2026-11-21T23:30:00). With O(chain), on its last log
        backup; O(restore_point) sets it itself.
    type: str
  checksum:
    description:
      - C(WITH CHECKSUM) - fail when the backup has no checksums or they do not match.
    type: bool
    default: false
  storage_suffix:
    description:
      - Storage endpoint suffix the URLs must use. Defaults to the suffix of O(cloud_environment).
    type: str
  allow_unsupported_instance:
    description:
      - As in sqlvm.backup.sql_backup - run on an instance where managed-identity restores are unsupported, at your own
        risk. Builds below SQL Server 2022 CU15 are refused in any case.
    type: bool
    default: false
extends_documentation_fragment:
  - sqlvm.backup.sql_connection
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes
seealso:
  - module: sqlvm.backup.sql_backup
"""

EXAMPLES = r"""
- name: Back up Sales and restore it next to itself as Sales_check
  block:
    - name: Back up
      sqlvm.backup.sql_backup:
        sql_host: sqlvm1.contoso.internal
        container_url: https://contosobackups.blob.core.windows.net/sql
        databases: [Sales]
      register: backup

    - name: Restore under a new name
      sqlvm.backup.sql_restore:
        sql_host: sqlvm1.contoso.internal
        urls: "{{ backup.backups[0].urls }}"
        database: Sales_check

- name: Restore Sales as it was at 23:30, planned from this server's backup history, under a new name
  sqlvm.backup.sql_restore:
    sql_host: sqlvm1.contoso.internal
    source_database: Sales
    restore_point: "2026-11-21T23:30:00"
    database: Sales_2330

- name: Plan from the source server, restore on another one
  block:
    - name: The chain, from the server that took the backups
      sqlvm.backup.sql_backup_info:
        sql_host: sqlvm1.contoso.internal
        databases: [Sales]
        restore_point: latest
      register: plan

    - name: Restore it on the target (whose managed identity reads the container)
      sqlvm.backup.sql_restore:
        sql_host: sqlvm2.contoso.internal
        chain: "{{ plan.chain }}"
        stopat: "{{ plan.stopat }}"
        database: Sales
      when: plan.chain_problem is none

- name: What is in this backup?
  sqlvm.backup.sql_restore:
    sql_host: sqlvm1.contoso.internal
    urls: [https://contosobackups.blob.core.windows.net/sql/sqlvm1/Sales/Sales_FULL_20261122T031500Z_1of1.bak]
    mode: header_only
  register: header
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
database:
  description: The database restored.
  returned: when O(mode=restore)
  type: str
files:
  description: Where each file of the backup goes (C(MOVE)).
  returned: when O(mode=restore)
  type: list
  elements: dict
  sample: [{logical: Sales, physical: "F:\\data\\Sales_check.mdf"}]
statements:
  description: The RESTORE statements run or, in check mode, that would run (one per backup of a chain).
  returned: when O(mode=restore)
  type: list
  elements: str
headers:
  description: Rows of C(RESTORE HEADERONLY).
  returned: when O(mode=header_only)
  type: list
  elements: dict
verified:
  description: C(RESTORE VERIFYONLY) succeeded.
  returned: when O(mode=verify_only)
  type: bool
messages:
  description: Progress and completion messages of SQL Server.
  returned: when a statement ran
  type: list
  elements: str
backups:
  description: For a chain, the backups restored (or, in check mode, to restore), in order, as sql_backup_info returns them.
  returned: when a chain is restored
  type: list
  elements: dict
restore_sequence:
  description: For a chain, one line per backup - type, finish time, first URL, stripes, STOPAT on the last log.
  returned: when a chain is restored
  type: list
  elements: str
  sample: ["full finished 2026-11-21 01:04:12: https://contosobackups.blob.core.windows.net/sql/SQLVM1/Sales/Sales_FULL_20261121T010000Z_1of1.bak"]
stopat:
  description: For a chain, the STOPAT of its last log backup, or null.
  returned: when a chain is restored
  type: str
duration_seconds:
  description: Wall time of the RESTORE statement.
  returned: when a restore ran
  type: float
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_restore
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(sql_restore.argument_spec())
    module = SqlvmModule(spec, supports_check_mode=True)
    module.run_sql(sql_restore)


if __name__ == "__main__":
    main()
