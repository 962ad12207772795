"""Restore chains as SQL Server documents them ("RESTORE Statements (Transact-SQL)", "Log Sequence Numbers and
Restore Planning", "Restore a SQL Server Database to a Point in Time (Full Recovery Model)", "Differential
Backups", "Copy-only backups"), driven through pyodbc with the statements a DBA types."""
import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver.fixtures import azurite, blob_world, bworld  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import MI, SA_PASSWORD, connect  # noqa: E402

pyodbc = pytest.importorskip("pyodbc")
CONTAINER = "https://backupacct.blob.core.windows.net/backups"
CREATE_CRED = f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'"
HEADERONLY_COLUMNS = [
    "BackupName", "BackupDescription", "BackupType", "ExpirationDate", "Compressed", "Position", "DeviceType",
    "UserName", "ServerName", "DatabaseName", "DatabaseVersion", "DatabaseCreationDate", "BackupSize", "FirstLSN",
    "LastLSN", "CheckpointLSN", "DatabaseBackupLSN", "BackupStartDate", "BackupFinishDate", "SortOrder", "CodePage",
    "UnicodeLocaleId", "UnicodeComparisonStyle", "CompatibilityLevel", "SoftwareVendorId", "SoftwareVersionMajor",
    "SoftwareVersionMinor", "SoftwareVersionBuild", "MachineName", "Flags", "BindingID", "RecoveryForkID",
    "Collation", "FamilyGUID", "HasBulkLoggedData", "IsSnapshot", "IsReadOnly", "IsSingleUser", "HasBackupChecksums",
    "IsDamaged", "BeginsLogChain", "HasIncompleteMetaData", "IsForceOffline", "IsCopyOnly", "FirstRecoveryForkID",
    "ForkPointLSN", "RecoveryModel", "DifferentialBaseLSN", "DifferentialBaseGUID", "BackupTypeDescription",
    "BackupSetGUID", "CompressedBackupSize", "containment", "KeyAlgorithm", "EncryptorThumbprint", "EncryptorType",
    "LastValidRestoreTime", "TimeZone", "CompressionAlgorithm"]


def sa(handle, vm="vm-ready"):
    return connect("msodbc18", handle.ports[vm], "sa", SA_PASSWORD).cursor()


def run(cur, sql, *params):
    cur.execute(sql, *params)
    while cur.nextset():
        pass


def url(name):
    return f"{CONTAINER}/chain/{name}"


def move(to):
    return f"MOVE 'appdb' TO 'F:\\data\\{to}.mdf', MOVE 'appdb_log' TO 'G:\\log\\{to}.ldf'"


def ids(cur, db):
    return [r[0] for r in cur.execute(f"SELECT id FROM {db}.dbo.items ORDER BY id")]


def state(cur, db):
    return cur.execute("SELECT state_desc FROM sys.databases WHERE name = ?", db).fetchone()[0]


def insert(cur, *row_ids):
    for i in row_ids:
        assert cur.execute("INSERT INTO appdb.dbo.items (id, label) VALUES (?, ?)", i, f"row {i}").rowcount == 1


def server_time_after(cur, moment):
    """The server clock once it is past `moment` by more than datetime's rounding (1/300 s): a point strictly
    between two commits, as a DBA reads it with SELECT SYSDATETIME()."""
    while True:
        now = cur.execute("SELECT SYSDATETIME()").fetchone()[0]
        if now > moment + dt.timedelta(milliseconds=20):
            return now


def header(cur, name):
    return cur.execute(f"RESTORE HEADERONLY FROM URL = '{url(name)}'").fetchone()


def test_point_in_time_restore_keeps_exactly_the_rows_committed_before_the_stop_point(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('pit_full.bak')}' WITH FORMAT")      # rows 1, 2
    insert(cur, 3)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('pit_diff.bak')}' WITH FORMAT, DIFFERENTIAL")
    insert(cur, 4)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('pit_log1.bak')}' WITH FORMAT")
    insert(cur, 5)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('pit_log2.bak')}' WITH FORMAT")
    insert(cur, 6)
    cur.execute("UPDATE appdb.dbo.items SET label = 'changed' WHERE id = 2")
    stop = server_time_after(cur, cur.execute("SELECT SYSDATETIME()").fetchone()[0])
    server_time_after(cur, stop)
    insert(cur, 7)
    assert cur.execute("DELETE FROM appdb.dbo.items WHERE id = 1").rowcount == 1
    run(cur, f"BACKUP LOG appdb TO URL = '{url('pit_log3.bak')}' WITH FORMAT")
    assert ids(cur, "appdb") == [2, 3, 4, 5, 6, 7]

    run(cur, f"RESTORE DATABASE appdb_pit FROM URL = '{url('pit_full.bak')}' WITH {move('appdb_pit')}, NORECOVERY")
    run(cur, f"RESTORE DATABASE appdb_pit FROM URL = '{url('pit_diff.bak')}' WITH NORECOVERY")
    run(cur, f"RESTORE LOG appdb_pit FROM URL = '{url('pit_log1.bak')}' WITH NORECOVERY, STOPAT = ?", stop)
    run(cur, f"RESTORE LOG appdb_pit FROM URL = '{url('pit_log2.bak')}' WITH NORECOVERY, STOPAT = ?", stop)
    assert state(cur, "appdb_pit") == "RESTORING"
    run(cur, f"RESTORE LOG appdb_pit FROM URL = '{url('pit_log3.bak')}' WITH RECOVERY, STOPAT = ?", stop)
    assert state(cur, "appdb_pit") == "ONLINE"
    assert [tuple(r) for r in cur.execute("SELECT id, label FROM appdb_pit.dbo.items ORDER BY id")] == [
        (1, "one"), (2, "changed"), (3, "row 3"), (4, "row 4"), (5, "row 5"), (6, "row 6")]
    # the whole chain without a stop point has every committed change
    run(cur, f"RESTORE DATABASE appdb_all FROM URL = '{url('pit_full.bak')}' WITH {move('appdb_all')}, NORECOVERY")
    for name in ("pit_log1.bak", "pit_log2.bak", "pit_log3.bak"):
        run(cur, f"RESTORE LOG appdb_all FROM URL = '{url(name)}' WITH NORECOVERY")
    run(cur, "RESTORE DATABASE appdb_all WITH RECOVERY")
    assert ids(cur, "appdb_all") == [2, 3, 4, 5, 6, 7]
    stops = [r[0] for r in cur.execute("SELECT stop_at FROM msdb.dbo.restorehistory "
                                       "WHERE destination_database_name = 'appdb_pit' ORDER BY restore_history_id")]
    assert stops[:2] == [None, None] and all(abs(s - stop) < dt.timedelta(milliseconds=4) for s in stops[2:])


def test_a_stop_point_after_the_log_leaves_the_database_restoring_with_message_4322(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('late_full.bak')}' WITH FORMAT")
    insert(cur, 3)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('late_log.bak')}' WITH FORMAT")
    run(cur, f"RESTORE DATABASE late FROM URL = '{url('late_full.bak')}' WITH {move('late')}, NORECOVERY")
    cur.execute(f"RESTORE LOG late FROM URL = '{url('late_log.bak')}' WITH RECOVERY, STOPAT = '2099-01-01 00:00:00'")
    texts = [" ".join(m) for m in cur.messages]
    assert any("4322" in t and "The database is being left in the restoring state" in t for t in texts), texts
    assert state(cur, "late") == "RESTORING"
    run(cur, "RESTORE DATABASE late WITH RECOVERY")
    assert state(cur, "late") == "ONLINE" and ids(cur, "late") == [1, 2, 3]
    with pytest.raises(pyodbc.Error, match=r"The STOPAT clause specifies a point too early.*\(4338\)"):
        run(cur, f"RESTORE DATABASE late2 FROM URL = '{url('late_full.bak')}' WITH {move('late2')}, NORECOVERY, "
                 "STOPAT = '2000-01-01 00:00:00'")


def test_a_missing_log_is_4305_a_log_already_applied_is_4326_and_nothing_changes(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('gap_full.bak')}' WITH FORMAT")
    insert(cur, 3)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('gap_log1.bak')}' WITH FORMAT")
    insert(cur, 4)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('gap_log2.bak')}' WITH FORMAT")
    full, log1, log2 = header(cur, "gap_full.bak"), header(cur, "gap_log1.bak"), header(cur, "gap_log2.bak")
    assert log1.LastLSN == log2.FirstLSN and log1.FirstLSN <= full.LastLSN < log1.LastLSN
    assert (log1.BeginsLogChain, log2.BeginsLogChain) == (True, False)
    run(cur, f"RESTORE DATABASE gap FROM URL = '{url('gap_full.bak')}' WITH {move('gap')}, NORECOVERY")
    with pytest.raises(pyodbc.Error) as exc:
        run(cur, f"RESTORE LOG gap FROM URL = '{url('gap_log2.bak')}' WITH RECOVERY")
    text = str(exc.value)
    assert (f"The log in this backup set begins at LSN {int(log2.FirstLSN)}, which is too recent to apply to the "
            f"database. An earlier log backup that includes LSN {int(full.LastLSN)} can be restored.") in text
    assert "(4305)" in text
    assert state(cur, "gap") == "RESTORING"
    run(cur, f"RESTORE LOG gap FROM URL = '{url('gap_log1.bak')}' WITH NORECOVERY")
    with pytest.raises(pyodbc.Error) as exc:
        run(cur, f"RESTORE LOG gap FROM URL = '{url('gap_log1.bak')}' WITH NORECOVERY")
    assert (f"The log in this backup set terminates at LSN {int(log1.LastLSN)}, which is too early to apply to the "
            f"database. A more recent log backup that includes LSN {int(log1.LastLSN)} can be restored.") in str(
        exc.value) and "(4326)" in str(exc.value)
    run(cur, f"RESTORE LOG gap FROM URL = '{url('gap_log2.bak')}' WITH RECOVERY")
    assert ids(cur, "gap") == [1, 2, 3, 4]


def test_differentials_need_their_own_non_copy_only_full_base_else_3136(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('base_full1.bak')}' WITH FORMAT")
    insert(cur, 3)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('base_copy.bak')}' WITH FORMAT, COPY_ONLY")
    insert(cur, 4)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('base_diff1.bak')}' WITH FORMAT, DIFFERENTIAL")
    full1, copy, diff1 = (header(cur, n) for n in ("base_full1.bak", "base_copy.bak", "base_diff1.bak"))
    assert (copy.IsCopyOnly, copy.BackupType, diff1.BackupType) == (True, 1, 5)
    # a copy-only full does not become the differential base ("Copy-only backups")
    assert diff1.DatabaseBackupLSN == full1.CheckpointLSN == diff1.DifferentialBaseLSN
    rows = {r.type + str(int(r.is_copy_only)): r for r in cur.execute(
        "SELECT type, is_copy_only, checkpoint_lsn, database_backup_lsn, differential_base_lsn, "
        "differential_base_guid FROM msdb.dbo.backupset WHERE database_name = 'appdb'")}
    assert rows["I0"].differential_base_lsn == rows["D0"].checkpoint_lsn
    assert rows["I0"].differential_base_guid is not None and rows["D0"].differential_base_guid is None

    run(cur, f"RESTORE DATABASE base FROM URL = '{url('base_copy.bak')}' WITH {move('base')}, NORECOVERY")
    with pytest.raises(pyodbc.Error, match=r"This differential backup cannot be restored because the database has "
                                           r"not been restored to the correct earlier state\. \(3136\)"):
        run(cur, f"RESTORE DATABASE base FROM URL = '{url('base_diff1.bak')}' WITH RECOVERY")
    # restarting the sequence over the restoring database needs no REPLACE
    run(cur, f"RESTORE DATABASE base FROM URL = '{url('base_full1.bak')}' WITH {move('base')}, NORECOVERY")
    run(cur, f"RESTORE DATABASE base FROM URL = '{url('base_diff1.bak')}' WITH RECOVERY")
    assert ids(cur, "base") == [1, 2, 3, 4]
    # a newer full starts a new base: the old differential no longer fits it
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('base_full2.bak')}' WITH FORMAT")
    run(cur, f"RESTORE DATABASE base2 FROM URL = '{url('base_full2.bak')}' WITH {move('base2')}, NORECOVERY")
    with pytest.raises(pyodbc.Error, match=r"\(3136\)"):
        run(cur, f"RESTORE DATABASE base2 FROM URL = '{url('base_diff1.bak')}' WITH RECOVERY")


def test_log_or_differential_onto_an_online_database_is_3117_and_backup_kinds_are_checked(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('on_full.bak')}' WITH FORMAT")
    run(cur, f"BACKUP LOG appdb TO URL = '{url('on_log.bak')}' WITH FORMAT")
    run(cur, f"RESTORE DATABASE online FROM URL = '{url('on_full.bak')}' WITH {move('online')}")
    with pytest.raises(pyodbc.Error, match=r"The log or differential backup cannot be restored because no files are "
                                           r"ready to rollforward\. \(3117\)"):
        run(cur, f"RESTORE LOG online FROM URL = '{url('on_log.bak')}'")
    with pytest.raises(pyodbc.Error, match=r"created by BACKUP DATABASE and cannot be used for this restore "
                                           r"operation\. \(3135\)"):
        run(cur, f"RESTORE LOG online FROM URL = '{url('on_full.bak')}'")
    with pytest.raises(pyodbc.Error, match=r"The backup set holds a backup of a database other than the existing "
                                           r"'online' database\. \(3154\)"):   # an existing database needs REPLACE
        run(cur, f"RESTORE DATABASE online FROM URL = '{url('on_full.bak')}' WITH {move('online_b')}")
    run(cur, f"RESTORE DATABASE online FROM URL = '{url('on_full.bak')}' WITH {move('online_b')}, REPLACE")


def test_standby_is_read_only_and_takes_more_logs_then_recovery_on_its_own(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('sb_full.bak')}' WITH FORMAT")
    insert(cur, 3)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('sb_log1.bak')}' WITH FORMAT")
    insert(cur, 4)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('sb_log2.bak')}' WITH FORMAT")
    run(cur, f"RESTORE DATABASE sb FROM URL = '{url('sb_full.bak')}' WITH {move('sb')}, "
             "STANDBY = 'F:\\data\\sb_undo.tuf'")
    run(cur, f"RESTORE LOG sb FROM URL = '{url('sb_log1.bak')}' WITH STANDBY = 'F:\\data\\sb_undo.tuf'")
    assert ids(cur, "sb") == [1, 2, 3]
    assert tuple(cur.execute("SELECT state_desc, is_read_only, is_in_standby FROM sys.databases "
                             "WHERE name = 'sb'").fetchone()) == ("ONLINE", True, True)
    with pytest.raises(pyodbc.Error, match=r'Failed to update database "sb" because the database is read-only\. '
                                           r'\(3906\)'):
        cur.execute("INSERT INTO sb.dbo.items (id, label) VALUES (9, 'x')")
    run(cur, f"RESTORE LOG sb FROM URL = '{url('sb_log2.bak')}' WITH NORECOVERY")
    assert state(cur, "sb") == "RESTORING"
    run(cur, "RESTORE DATABASE sb WITH RECOVERY")
    assert state(cur, "sb") == "ONLINE" and ids(cur, "sb") == [1, 2, 3, 4]
    cur.execute("INSERT INTO sb.dbo.items (id, label) VALUES (9, 'x')")
    with pytest.raises(pyodbc.Error, match=r"\(3117\)"):
        run(cur, f"RESTORE LOG sb FROM URL = '{url('sb_log2.bak')}'")


def test_history_join_and_headeronly_describe_the_same_chain(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    stripes = [url("hist_full_1.bak"), url("hist_full_2.bak")]
    run(cur, "BACKUP DATABASE appdb TO " + ", ".join(f"URL = '{u}'" for u in stripes) + " WITH FORMAT, NAME = 'f'")
    for i in (1, 2):
        insert(cur, 10 + i)
        run(cur, f"BACKUP LOG appdb TO URL = '{url(f'hist_log{i}.bak')}' WITH FORMAT")
    rows = cur.execute(
        "SELECT bs.backup_set_id, bs.type, bs.is_copy_only, bs.first_lsn, bs.last_lsn, bs.checkpoint_lsn, "
        "bs.database_backup_lsn, bs.backup_start_date, bs.backup_finish_date, bs.begins_log_chain, "
        "mf.family_sequence_number, mf.physical_device_name, mf.device_type "
        "FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id "
        "WHERE bs.database_name = ? AND bs.type IN ('D', 'I', 'L') "
        "ORDER BY bs.backup_set_id, mf.family_sequence_number", "appdb").fetchall()
    assert [(r.type, r.family_sequence_number, r.physical_device_name, r.device_type) for r in rows] == [
        ("D", 1, stripes[0], 9), ("D", 2, stripes[1], 9), ("L", 1, url("hist_log1.bak"), 9),
        ("L", 1, url("hist_log2.bak"), 9)]
    full, log1, log2 = rows[0], rows[2], rows[3]
    assert log1.first_lsn <= full.last_lsn < log1.last_lsn == log2.first_lsn < log2.last_lsn
    assert log1.database_backup_lsn == log2.database_backup_lsn == full.checkpoint_lsn
    assert (log1.begins_log_chain, log2.begins_log_chain) == (True, False)
    assert full.backup_start_date <= full.backup_finish_date <= log1.backup_start_date
    # HEADERONLY needs every stripe (3132) and then agrees with msdb
    with pytest.raises(pyodbc.Error, match=r"\(3132\)"):
        cur.execute(f"RESTORE HEADERONLY FROM URL = '{stripes[1]}'")
    cur.execute("RESTORE HEADERONLY FROM " + ", ".join(f"URL = '{u}'" for u in stripes))
    assert [d[0] for d in cur.description] == HEADERONLY_COLUMNS
    head = cur.fetchone()
    assert (head.BackupName, head.BackupType, head.DeviceType, head.BackupTypeDescription, head.ServerName) == (
        "f", 1, 9, "Database", "VM-READY")
    assert (head.FirstLSN, head.LastLSN, head.CheckpointLSN) == (full.first_lsn, full.last_lsn, full.checkpoint_lsn)
    assert header(cur, "hist_log2.bak").BackupType == 2
    latest = cur.execute(
        "SELECT database_name, type, COUNT(*) AS sets, MAX(backup_finish_date) AS last_finish, MAX(last_lsn) AS lsn "
        "FROM msdb.dbo.backupset WHERE database_name = 'appdb' GROUP BY database_name, type ORDER BY type DESC"
    ).fetchall()
    assert [(r.type, r.sets, r.lsn) for r in latest] == [("L", 2, log2.last_lsn), ("D", 1, full.last_lsn)]
    assert latest[0].last_finish == log2.backup_finish_date
    files = cur.execute("RESTORE FILELISTONLY FROM " + ", ".join(f"URL = '{u}'" for u in stripes))
    first_columns = ["LogicalName", "PhysicalName", "Type", "FileGroupName", "Size", "MaxSize", "FileId", "CreateLSN"]
    assert [d[0] for d in files.description][:8] == first_columns
    assert [(r.LogicalName, r.Type, r.FileGroupName) for r in files] == [("appdb", "D", "PRIMARY"),
                                                                         ("appdb_log", "L", None)]
    media = cur.execute("SELECT media_family_count FROM msdb.dbo.backupmediaset ms JOIN msdb.dbo.backupset bs "
                        "ON bs.media_set_id = ms.media_set_id WHERE bs.backup_set_id = ?", full.backup_set_id)
    assert media.fetchone()[0] == 2


def test_a_second_server_restores_from_the_first_ones_blobs_with_only_blob_data_reader(bworld):
    backend, handle, _az = bworld
    source = sa(handle)
    run(source, CREATE_CRED)
    run(source, f"BACKUP DATABASE appdb TO URL = '{url('x_full.bak')}' WITH FORMAT")
    insert(source, 3)
    run(source, f"BACKUP LOG appdb TO URL = '{url('x_log.bak')}' WITH FORMAT")
    target = sa(handle, "vm-noaccess")    # its identity holds no storage role yet
    run(target, CREATE_CRED)
    with pytest.raises(pyodbc.Error, match=r"Operating system error 5\(Access is denied\.\)"):
        target.execute(f"RESTORE HEADERONLY FROM URL = '{url('x_full.bak')}'")
    reader = (MI["vm-noaccess"][2], "backupacct", "backups")
    backend.blob_readers.add(reader)
    try:
        assert header(target, "x_full.bak").ServerName == "VM-READY"
        run(target, f"RESTORE DATABASE appdb_copy FROM URL = '{url('x_full.bak')}' WITH {move('appdb_copy')}, "
                    "NORECOVERY")
        run(target, f"RESTORE LOG appdb_copy FROM URL = '{url('x_log.bak')}' WITH RECOVERY")
        assert ids(target, "appdb_copy") == [1, 2, 3]
        # reading is enough for RESTORE; BACKUP writes and needs Storage Blob Data Contributor
        with pytest.raises(pyodbc.Error, match=r"Operating system error 5\(Access is denied\.\).*\(3201\)"):
            run(target, f"BACKUP DATABASE appdb_copy TO URL = '{url('x_copy.bak')}' WITH FORMAT")
        server = target.execute("SELECT bs.server_name FROM msdb.dbo.backupset bs JOIN msdb.dbo.restorehistory rh "
                                "ON rh.backup_set_id = bs.backup_set_id WHERE rh.destination_database_name = "
                                "'appdb_copy' ORDER BY rh.restore_history_id").fetchall()
        assert [r[0] for r in server] == ["VM-READY", "VM-READY"]
    finally:
        backend.blob_readers.discard(reader)


def test_insert_update_delete_commit_and_rollback(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    assert cur.execute("INSERT INTO appdb.dbo.items VALUES (3, 'three'), (4, 'four')").rowcount == 2
    assert cur.execute("UPDATE appdb.dbo.items SET label = label + '!' WHERE id >= 3").rowcount == 2
    assert cur.execute("SELECT COUNT(*) FROM appdb.dbo.items WHERE label LIKE '%!'").fetchone()[0] == 2
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD)
    conn.autocommit = False
    tx = conn.cursor()
    tx.execute("DELETE FROM appdb.dbo.items WHERE id > 1")
    conn.rollback()
    assert ids(cur, "appdb") == [1, 2, 3, 4]
    tx.execute("DELETE appdb.dbo.items WHERE id = 4")
    conn.commit()
    assert ids(cur, "appdb") == [1, 2, 3]
    with pytest.raises(pyodbc.Error, match=r"Ad hoc updates to system catalogs are not allowed\. \(259\)"):
        cur.execute("DELETE FROM sys.databases")
    with pytest.raises(pyodbc.Error, match=r"Invalid column name 'nope'\. \(207\)"):
        cur.execute("UPDATE appdb.dbo.items SET nope = 1")
    op = connect("msodbc18", handle.ports["vm-ready"], "operator", "Op-Passw0rd!").cursor()
    with pytest.raises(pyodbc.Error, match=r"The INSERT permission was denied on the object 'items'.*\(229\)"):
        op.execute("INSERT INTO appdb.dbo.items VALUES (5, 'five')")


def test_a_tail_log_backup_leaves_the_database_restoring_for_a_restore_over_it(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('tail_full.bak')}' WITH FORMAT")
    insert(cur, 3)
    run(cur, f"BACKUP LOG appdb TO URL = '{url('tail_log.bak')}' WITH FORMAT, NORECOVERY")
    assert state(cur, "appdb") == "RESTORING"
    tail = header(cur, "tail_log.bak")
    assert (tail.IsForceOffline, tail.Flags & 256) == (True, 256)
    with pytest.raises(pyodbc.Error, match=r"\(927\)"):
        run(cur, f"BACKUP LOG appdb TO URL = '{url('tail_again.bak')}' WITH FORMAT")
    # the same files, no MOVE, no REPLACE: the sequence starts over the restoring database
    run(cur, f"RESTORE DATABASE appdb FROM URL = '{url('tail_full.bak')}' WITH NORECOVERY")
    run(cur, f"RESTORE LOG appdb FROM URL = '{url('tail_log.bak')}' WITH RECOVERY")
    assert ids(cur, "appdb") == [1, 2, 3]


def test_switching_to_simple_breaks_the_log_chain_until_the_next_full_backup(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('simple_full.bak')}' WITH FORMAT")
    run(cur, "ALTER DATABASE appdb SET RECOVERY SIMPLE")
    run(cur, "ALTER DATABASE appdb SET RECOVERY FULL")
    with pytest.raises(pyodbc.Error, match=r"there is no current database backup\. \(4214\)"):
        run(cur, f"BACKUP LOG appdb TO URL = '{url('simple_log.bak')}' WITH FORMAT")
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('simple_full2.bak')}' WITH FORMAT")
    run(cur, f"BACKUP LOG appdb TO URL = '{url('simple_log.bak')}' WITH FORMAT")
    assert header(cur, "simple_log.bak").BeginsLogChain


def test_a_table_created_after_the_full_backup_comes_back_with_the_log_and_not_before_its_time(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('ddl_full.bak')}' WITH FORMAT")
    before_create = server_time_after(cur, cur.execute("SELECT SYSDATETIME()").fetchone()[0])
    server_time_after(cur, before_create)
    cur.execute("CREATE TABLE appdb.dbo.orders (id int NOT NULL PRIMARY KEY, amount bigint NULL)")
    cur.execute("INSERT INTO appdb.dbo.orders (id, amount) VALUES (1, 100), (2, 250)")
    run(cur, "DROP TABLE appdb.dbo.items")
    run(cur, f"BACKUP LOG appdb TO URL = '{url('ddl_log.bak')}' WITH FORMAT")
    with pytest.raises(pyodbc.Error, match=r"There is already an object named 'orders' in the database\. \(2714\)"):
        cur.execute("CREATE TABLE appdb.dbo.orders (id int)")
    run(cur, f"RESTORE DATABASE ddl FROM URL = '{url('ddl_full.bak')}' WITH {move('ddl')}, NORECOVERY")
    run(cur, f"RESTORE LOG ddl FROM URL = '{url('ddl_log.bak')}' WITH RECOVERY")
    assert [tuple(r) for r in cur.execute("SELECT id, amount FROM ddl.dbo.orders ORDER BY id")] == [(1, 100), (2, 250)]
    assert [r[0] for r in cur.execute("SELECT name FROM ddl.sys.tables")] == ["orders"]
    run(cur, f"RESTORE DATABASE ddl_early FROM URL = '{url('ddl_full.bak')}' WITH {move('ddl_early')}, NORECOVERY")
    run(cur, f"RESTORE LOG ddl_early FROM URL = '{url('ddl_log.bak')}' WITH RECOVERY, STOPAT = ?", before_create)
    assert [r[0] for r in cur.execute("SELECT name FROM ddl_early.sys.tables")] == ["items"]
    # inside a transaction a rollback takes the table away again
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD)
    conn.autocommit = False
    conn.cursor().execute("CREATE TABLE appdb.dbo.scratch (id int)")
    conn.rollback()
    assert cur.execute("SELECT COUNT(*) FROM appdb.sys.tables WHERE name = 'scratch'").fetchone()[0] == 0


def test_history_queries_with_column_aliases_dateadd_and_datediff(bworld):
    """The shape of "backupset (Transact-SQL)"'s example: alias = expression, DATEADD/DATEDIFF filters."""
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('q_full.bak')}' WITH FORMAT, COPY_ONLY")
    rows = cur.execute(
        "SELECT bs.database_name, backuptype = CASE WHEN bs.type = 'D' AND bs.is_copy_only = 0 THEN 'Full Database' "
        "WHEN bs.type = 'D' AND bs.is_copy_only = 1 THEN 'Full Copy-Only Database' END, "
        "age_days = DATEDIFF(day, bs.backup_start_date, GETDATE()) FROM msdb.dbo.backupset bs "
        "WHERE bs.backup_start_date > DATEADD(MONTH, -2, GETDATE()) AND bs.backup_start_date < DATEADD(hh, 1, GETDATE())"
    ).fetchall()
    assert [tuple(r) for r in rows] == [("appdb", "Full Copy-Only Database", 0)]
    assert [d[0] for d in cur.description] == ["database_name", "backuptype", "age_days"]
    assert cur.execute("SELECT DATEDIFF(month, '2024-01-31', '2024-02-01'), DATEDIFF(year, '2024-12-31', "
                       "'2025-01-01'), DATEADD(month, 1, '2024-01-31')").fetchone()[:2] == (1, 1)
    assert cur.execute("SELECT DATEADD(month, 1, CAST('2024-01-31' AS datetime))").fetchone()[0] == dt.datetime(2024, 2, 29)


def test_recovery_status_names_where_the_log_chain_stands_and_stopat_takes_iso_8601_with_z(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    status = ("SELECT rs.last_log_backup_lsn FROM sys.database_recovery_status rs JOIN sys.databases d "
              "ON d.database_id = rs.database_id WHERE d.name = 'appdb'")
    assert cur.execute(status).fetchone()[0] is None          # no full backup yet: no log chain
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('rs_full.bak')}' WITH FORMAT")
    run(cur, f"BACKUP LOG appdb TO URL = '{url('rs_log.bak')}' WITH FORMAT")
    assert cur.execute(status).fetchone()[0] == header(cur, "rs_log.bak").LastLSN
    run(cur, f"RESTORE DATABASE rs FROM URL = '{url('rs_full.bak')}' WITH {move('rs')}, NORECOVERY")
    cur.execute(f"RESTORE LOG rs FROM URL = '{url('rs_log.bak')}' WITH RECOVERY, STOPAT = '2099-01-01T00:00:00Z'")
    assert state(cur, "rs") == "RESTORING"
    with pytest.raises(pyodbc.Error, match=r"\(241\)"):
        run(cur, f"RESTORE LOG rs FROM URL = '{url('rs_log.bak')}' WITH STOPAT = '2099-01-01T00:00:00+02:00'")


def test_an_open_transaction_is_not_in_a_full_backup_and_its_commit_is_in_the_next_log(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD)
    conn.autocommit = False
    conn.cursor().execute("INSERT INTO appdb.dbo.items (id, label) VALUES (3, 'open')")
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('open_full.bak')}' WITH FORMAT")
    conn.commit()
    run(cur, f"BACKUP LOG appdb TO URL = '{url('open_log.bak')}' WITH FORMAT")
    run(cur, f"RESTORE DATABASE open_full FROM URL = '{url('open_full.bak')}' WITH {move('open_full')}")
    assert ids(cur, "open_full") == [1, 2]
    run(cur, f"RESTORE DATABASE open_log FROM URL = '{url('open_full.bak')}' WITH {move('open_log')}, NORECOVERY")
    run(cur, f"RESTORE LOG open_log FROM URL = '{url('open_log.bak')}' WITH RECOVERY")
    assert ids(cur, "open_log") == [1, 2, 3]


def test_tail_of_the_log_3159_only_in_full_recovery_without_replace_or_stopat(bworld):
    _backend, handle, _az = bworld
    cur = sa(handle)
    run(cur, CREATE_CRED)
    run(cur, f"BACKUP DATABASE appdb TO URL = '{url('t3159_full.bak')}' WITH FORMAT")
    insert(cur, 3)
    elsewhere = move("appdb_moved")
    with pytest.raises(pyodbc.Error, match=r'The tail of the log for the database "appdb" has not been backed up.*'
                                           r'\(3159\)'):
        run(cur, f"RESTORE DATABASE appdb FROM URL = '{url('t3159_full.bak')}' WITH {elsewhere}")
    # "Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log"
    run(cur, f"RESTORE DATABASE appdb FROM URL = '{url('t3159_full.bak')}' WITH {elsewhere}, "
             "STOPAT = '2099-01-01 00:00:00'")
    assert state(cur, "appdb") == "RESTORING"     # the stop point lies after the full backup: more log may follow
    run(cur, "RESTORE DATABASE appdb WITH RECOVERY")
    assert ids(cur, "appdb") == [1, 2]
    run(cur, "ALTER DATABASE appdb SET RECOVERY SIMPLE")      # no log to keep: no tail-log backup needed
    run(cur, f"RESTORE DATABASE appdb FROM URL = '{url('t3159_full.bak')}' WITH {move('appdb_again')}")
    assert state(cur, "appdb") == "ONLINE"
