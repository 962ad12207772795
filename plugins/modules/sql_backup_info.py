#!/usr/bin/python
# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: sql_backup_info
short_description: Backup history of SQL Server databases and the restore chain to the latest state or a point in time
version_added: 0.2.0
description:
  - Reads the backups to URL of one or more databases - type (full, differential, log), copy-only, first, last,
    checkpoint and database-backup LSNs, start and finish times and every stripe's blob URL - from the server's
    C(msdb) history (C(backupset) joined with C(backupmediafamily)), or from the blobs themselves with
    C(RESTORE HEADERONLY FROM URL) through the connected server's credential for the container (its managed
    identity), for when the server that took the backups is gone.
  - With O(restore_point), plans the restore chain of each database - the newest full backup that is not copy-only
    and starts a complete chain (a copy-only full only when no other does, as it cannot be the base of a differential),
    the newest differential based on that full before the point, then the log backups whose LSNs continue without a
    gap (the next log's first LSN is at most the LSN restored so far, its last LSN beyond it) up to the first log
    taken after the point, which is restored WITH STOPAT.
  - When no chain reaches the point, RV(chain_problem) says what is missing - the LSN range and the time span of the
    missing log records, or that the point is before the first full backup. This module only reads and does not fail
    for it; M(sqlvm.backup.sql_restore) refuses such a chain before it runs any statement.
  - Times are the source server's local time, as C(msdb) and C(STOPAT) use them (Azure VMs run on UTC unless
    changed).
  - The connecting login needs to read C(msdb.dbo.backupset) and C(msdb.dbo.backupmediafamily) (C(db_datareader)
    in C(msdb), or sysadmin) for O(source=msdb), and C(CREATE DATABASE) permission for C(RESTORE HEADERONLY) with
    O(source=blobs).
author:
  - sqlvm.backup developers (@sqlvm-backup)
options:
  databases:
    description:
      - Names of the databases whose backups to read, as they were named on the server that took the backups.
    type: list
    elements: str
    required: true
  source:
    description:
      - V(msdb) reads the history of the connected server. V(blobs) reads the header of every backup in O(urls)
        through the connected server's credential for their container.
    type: str
    choices: [msdb, blobs]
    default: msdb
  urls:
    description:
      - With O(source=blobs), every blob to read, each stripe of a striped backup included. Blobs named
        C(<name>_<n>of<m>.<ext>), as M(sqlvm.backup.sql_backup) names them, are read together as one striped backup;
        any other blob as a backup of its own.
      - Without a query string; the server's managed identity reads them.
    type: list
    elements: str
  restore_point:
    description:
      - V(latest) or a date and time without a time zone offset, in the source server's local time, for example
        C(2026-11-21T23:30:00). Plans a restore chain per database (RV(chains)).
    type: str
  since:
    description:
      - Return only backups that finished at or after this date and time (source server's local time). The chain is
        still planned from the whole history.
    type: str
  storage_suffix:
    description:
      - Storage endpoint suffix the URLs must use. Defaults to the suffix of O(cloud_environment).
    type: str
extends_documentation_fragment:
  - sqlvm.backup.sql_connection
  - sqlvm.backup.azure_auth
  - sqlvm.backup.attributes.info_module
seealso:
  - module: sqlvm.backup.sql_restore
  - module: sqlvm.backup.sql_backup
"""

EXAMPLES = r"""
- name: Backups of Sales in the last week
  sqlvm.backup.sql_backup_info:
    sql_host: sqlvm1.contoso.internal
    databases: [Sales]
    since: "2026-11-14T00:00:00"
  register: history

- name: The chain that restores Sales as it was at 23:30 (history of the server that took the backups)
  sqlvm.backup.sql_backup_info:
    sql_host: sqlvm1.contoso.internal
    databases: [Sales]
    restore_point: "2026-11-21T23:30:00"
  register: plan

- name: Restore it on another server under a new name
  sqlvm.backup.sql_restore:
    sql_host: sqlvm2.contoso.internal
    chain: "{{ plan.chain }}"
    stopat: "{{ plan.stopat }}"
    database: Sales_2330
  when: plan.chain_problem is none

- name: The source server is gone - plan from the blobs' own headers, read by the target server
  sqlvm.backup.sql_backup_info:
    sql_host: sqlvm2.contoso.internal
    databases: [Sales]
    source: blobs
    urls:
      - https://contosobackups.blob.core.windows.net/sql/sqlvm1/Sales/Sales_FULL_20261121T010000Z_1of2.bak
      - https://contosobackups.blob.core.windows.net/sql/sqlvm1/Sales/Sales_FULL_20261121T010000Z_2of2.bak
      - https://contosobackups.blob.core.windows.net/sql/sqlvm1/Sales/Sales_LOG_20261121T234500Z_1of1.trn
    restore_point: latest
"""

RETURN = r"""
source:
  description: Where the history was read (V(msdb) or V(blobs)).
  returned: always
  type: str
backups:
  description:
    - Per database, its backups to URL (after O(since)), oldest first. The same backup recorded twice in C(msdb)
      (a server records the backups it restores too) is listed once.
    - LSNs are strings (numeric(25,0) values exceed what JSON consumers keep exact); times are the source server's
      local time.
  returned: always
  type: dict
  sample:
    Sales:
      - type: full
        copy_only: false
        first_lsn: "41000000015200037"
        last_lsn: "41000000017600001"
        checkpoint_lsn: "41000000015200037"
        database_backup_lsn: "0"
        start: "2026-11-21T01:00:00"
        finish: "2026-11-21T01:04:12"
        urls: [https://contosobackups.blob.core.windows.net/sql/SQLVM1/Sales/Sales_FULL_20261121T010000Z_1of1.bak]
        database: Sales
        server: SQLVM1
        backup_set_id: 42
chains:
  description:
    - Per database, the restore chain to O(restore_point) - V(chain) (backups in restore order, as in RV(backups)),
      V(stopat) (the point, when the last log is restored WITH STOPAT), V(chain_problem) (what is missing when no
      chain reaches the point, else null), V(restore_sequence) (one line per backup).
  returned: when O(restore_point) is given
  type: dict
chain:
  description: With one database, its chain (as in RV(chains)); empty when no chain reaches the point.
  returned: when O(restore_point) is given for one database
  type: list
  elements: dict
stopat:
  description: With one database, the STOPAT of the last log restore, or null (V(latest), or no log needed).
  returned: when O(restore_point) is given for one database
  type: str
chain_problem:
  description:
    - With one database, null when the chain reaches the point; else what is missing - the LSN range and the time
      span of the missing log records, the point before the first full backup, or no full backup at all.
  returned: when O(restore_point) is given for one database
  type: str
  sample: >-
    the log chain breaks after the log backup finished 2026-11-21 02:00:01 (LSN 1100 to 1200): no log backup holds
    LSN 1200 to 1300 (log records written between 2026-11-21 02:00:01 and 2026-11-21 03:00:00); ...
restore_sequence:
  description: With one database, one line per backup of the chain, in restore order.
  returned: when O(restore_point) is given for one database
  type: list
  elements: str
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup_info
from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec


def main():
    spec = connection_argument_spec()
    spec.update(sql_backup_info.argument_spec())
    module = SqlvmModule(spec, supports_check_mode=True)
    module.run_sql(sql_backup_info)


if __name__ == "__main__":
    main()
