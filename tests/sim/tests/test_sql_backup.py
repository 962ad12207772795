"""BACKUP TO URL / RESTORE FROM URL through Azurite, following the documented chain (seed 002)."""
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver.fixtures import azurite, blob_world, bworld  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import SA_PASSWORD, connect, tsql_cli  # noqa: E402

pyodbc = pytest.importorskip("pyodbc")
ACCOUNT_URL = "https://backupacct.blob.core.windows.net"
CONTAINER = f"{ACCOUNT_URL}/backups"
CREATE_CRED = f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'"


def sa(handle, vm="vm-ready", driver="msodbc18"):
    return connect(driver, handle.ports[vm], "sa", SA_PASSWORD).cursor()


def messages(out):
    """(number, level, state) of every message tsql printed, in order."""
    return [tuple(int(x) for x in m) for m in re.findall(r"Msg (\d+) \(severity (\d+), state (\d+)\)", out)]


def run_tsql(handle, vm, sql):
    return tsql_cli(handle.ports[vm], "sa", SA_PASSWORD, sql)[1]


def test_no_credential_for_the_container_is_os_error_50_then_3013(bworld):
    backend, handle, az = bworld
    out = run_tsql(handle, "vm-ready", f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/nocred.bak'")
    assert "Msg 3201" in out and "Operating system error 50(The request is not supported.)" in out, out
    assert out.index("Msg 3201") < out.index("Msg 3013") and "BACKUP DATABASE is terminating abnormally." in out


def test_credential_names_are_case_sensitive(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(f"CREATE CREDENTIAL [{CONTAINER.upper()}] WITH IDENTITY = 'Managed Identity'")
    with pytest.raises(pyodbc.Error, match=r"Operating system error 50.*\(3201\)"):
        cur.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/case.bak'")


def test_no_primary_managed_identity_is_37563(bworld):
    backend, handle, az = bworld
    cur = sa(handle, "vm-noprimary")
    cur.execute(CREATE_CRED)
    with pytest.raises(pyodbc.Error) as exc:
        cur.execute(f"BACKUP DATABASE AdventureWorks TO URL = '{CONTAINER}/AdventureWorks.bak'")
    assert ("The primary managed identity is not selected for this server. Enable the primary managed identity "
            "for Microsoft Entra authentication for this server. For more information see "
            "(https://aka.ms/sql-server-managed-identity-doc).") in str(exc.value)
    assert "(37563)" in str(exc.value)
    out = run_tsql(handle, "vm-noprimary", f"RESTORE DATABASE x FROM URL = '{CONTAINER}/AdventureWorks.bak'")
    assert messages(out)[0] == (37563, 16, 2), out


def test_trace_flag_4675_makes_create_credential_check_the_identity(bworld):
    backend, handle, az = bworld
    cur = sa(handle, "vm-noprimary")
    cur.execute("DBCC TRACEON(4675, -1)")
    assert [tuple(r) for r in cur.execute("DBCC TRACESTATUS(4675)").fetchall()] == [(4675, 1, 1, 0)]
    with pytest.raises(pyodbc.Error, match="37563"):
        cur.execute(CREATE_CRED)
    cur.execute("DBCC TRACEOFF(4675, -1)")
    cur.execute(CREATE_CRED)   # without the flag no error is issued (seed 002)


def test_missing_storage_blob_data_contributor_is_3201_access_denied_then_3013(bworld):
    backend, handle, az = bworld
    sa(handle, "vm-noaccess").execute(CREATE_CRED)
    for verb, sql in (("BACKUP", f"BACKUP DATABASE AdventureWorks TO URL = '{CONTAINER}/AdventureWorks.bak'"),
                      ("RESTORE", f"RESTORE DATABASE AdventureWorks FROM URL = '{CONTAINER}/AdventureWorks.bak'")):
        out = run_tsql(handle, "vm-noaccess", sql)
        assert messages(out)[:2] == [(3201, 16, 1), (3013, 16, 1)], out
        assert (f"Cannot open backup device '{CONTAINER}/AdventureWorks.bak'. Operating system error 5(Access is "
                "denied.).") in out
        assert f"{verb} DATABASE is terminating abnormally." in out


def test_round_trip_of_10000_rows_under_another_name(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(CREATE_CRED)
    url = f"{CONTAINER}/rt/AdventureWorks_full.bak"
    cur.execute(f"BACKUP DATABASE [AdventureWorks] TO URL = '{url}' WITH FORMAT, COMPRESSION, CHECKSUM, "
                "MAXTRANSFERSIZE = 65536, BLOCKSIZE = 65536, STATS = 25")
    while cur.nextset():
        pass
    before = [tuple(r) for r in cur.execute("SELECT id, name, amount FROM AdventureWorks.dbo.orders ORDER BY id")]
    assert len(before) == 10000
    # real block blobs in Azurite, several blocks of MAXTRANSFERSIZE
    blob = az.create_container("backupacct", "backups").get_blob_client("rt/AdventureWorks_full.bak")
    committed, _uncommitted = blob.get_block_list("committed")
    assert blob.get_blob_properties().blob_type == "BlockBlob" and len(committed) > 1
    cur.execute(f"RESTORE DATABASE [AW_copy] FROM URL = '{url}' WITH "
                "MOVE 'AdventureWorks' TO 'F:\\data\\AW_copy.mdf', MOVE 'AdventureWorks_log' TO 'G:\\log\\AW_copy.ldf'")
    while cur.nextset():
        pass
    after = [tuple(r) for r in cur.execute("SELECT id, name, amount FROM AW_copy.dbo.orders ORDER BY id")]
    assert after == before
    files = [tuple(r) for r in cur.execute(
        "SELECT f.name, f.physical_name FROM sys.master_files f JOIN sys.databases d ON d.database_id = f.database_id "
        "WHERE d.name = 'AW_copy' ORDER BY f.file_id")]
    assert files == [("AdventureWorks", "F:\\data\\AW_copy.mdf"), ("AdventureWorks_log", "G:\\log\\AW_copy.ldf")]
    hist = [tuple(r) for r in cur.execute(
        "SELECT s.database_name, s.type, s.has_backup_checksums, m.physical_device_name, m.device_type "
        "FROM msdb.dbo.backupset s JOIN msdb.dbo.backupmediafamily m ON m.media_set_id = s.media_set_id")]
    # the backup, then the backup set SQL Server records for the media a RESTORE read
    assert hist == [("AdventureWorks", "D", True, url, 9)] * 2
    assert [tuple(r) for r in cur.execute("SELECT destination_database_name, restore_type, backup_set_id "
                                          "FROM msdb.dbo.restorehistory")] == [("AW_copy", "D", 2)]


def test_backup_progress_messages(bworld):
    backend, handle, az = bworld
    sa(handle).execute(CREATE_CRED)
    out = run_tsql(handle, "vm-ready", f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/stats.bak' WITH FORMAT, STATS = 50")
    assert "50 percent processed." in out and "100 percent processed." in out, out
    assert re.search(r"BACKUP DATABASE successfully processed \d+ pages in [\d.]+ seconds", out), out


def test_existing_blob_without_format_is_refused(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(CREATE_CRED)
    url = f"{CONTAINER}/twice.bak"
    cur.execute(f"BACKUP DATABASE appdb TO URL = '{url}' WITH FORMAT")
    out = run_tsql(handle, "vm-ready", f"BACKUP DATABASE appdb TO URL = '{url}'")
    assert messages(out)[:2] == [(3201, 16, 1), (3013, 16, 1)], out
    assert "Operating system error 80(The file exists.)" in out
    cur.execute(f"BACKUP DATABASE appdb TO URL = '{url}' WITH FORMAT, INIT")


def test_restore_over_a_database_in_use_is_1834_then_3156(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(CREATE_CRED)
    url = f"{CONTAINER}/AdventureWorks.bak"
    cur.execute(f"BACKUP DATABASE AdventureWorks TO URL = '{url}' WITH FORMAT")
    out = run_tsql(handle, "vm-ready", f"RESTORE DATABASE AdventureWorks FROM URL = '{url}'")
    msgs = messages(out)
    assert msgs[:2] == [(1834, 16, 1), (3156, 16, 4)], out
    assert ("The file 'F:\\data\\AdventureWorks.mdf' cannot be overwritten.  It is being used by the database "
            "'AdventureWorks'.") in out
    assert ("File 'AdventureWorks' cannot be restored to 'F:\\data\\AdventureWorks.mdf'. Use WITH MOVE to identify "
            "a valid location for the file.") in out
    assert msgs[-1][0] == 3013
    cur.execute(f"RESTORE DATABASE AdventureWorks FROM URL = '{url}' WITH REPLACE")


def test_stripes_all_needed_and_limits(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(CREATE_CRED)
    urls = [f"{CONTAINER}/striped_{i}.bak" for i in range(1, 4)]
    cur.execute("BACKUP DATABASE AdventureWorks TO " + ", ".join(f"URL = '{u}'" for u in urls) + " WITH FORMAT")
    with pytest.raises(pyodbc.Error, match=r"The media set has 3 media families but only 2 are provided.*\(3132\)"):
        cur.execute("RESTORE VERIFYONLY FROM " + ", ".join(f"URL = '{u}'" for u in urls[:2]))
    cur.execute("RESTORE VERIFYONLY FROM " + ", ".join(f"URL = '{u}'" for u in urls))
    too_many = ", ".join(f"URL = '{CONTAINER}/s{i}.bak'" for i in range(65))
    with pytest.raises(pyodbc.Error, match=r"\(3205\)"):
        cur.execute(f"BACKUP DATABASE appdb TO {too_many}")
    with pytest.raises(pyodbc.Error, match=r"MAXTRANSFERSIZE.*\(3231\)"):
        cur.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/m.bak' WITH MAXTRANSFERSIZE = 100000")
    with pytest.raises(pyodbc.Error, match=r"BLOCKSIZE.*\(3231\)"):
        cur.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/m.bak' WITH BLOCKSIZE = 3000")
    # 60,000 MB in 1 MB blocks exceeds 50,000 blocks; 4 MB transfers fit (FACTS)
    with pytest.raises(pyodbc.Error, match=r"limit of allowed blocks.*\(3202\)"):
        cur.execute(f"BACKUP DATABASE bigdb TO URL = '{CONTAINER}/big.bak' WITH FORMAT")
    cur.execute(f"BACKUP DATABASE bigdb TO URL = '{CONTAINER}/big.bak' WITH FORMAT, MAXTRANSFERSIZE = 4194304")
    cur.execute(f"BACKUP DATABASE bigdb TO URL = '{CONTAINER}/big2a.bak', URL = '{CONTAINER}/big2b.bak' WITH FORMAT")


def test_headeronly_filelistonly_and_log_chain(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(CREATE_CRED)
    full, diff, log = (f"{CONTAINER}/chain_{k}.bak" for k in ("full", "diff", "log"))
    with pytest.raises(pyodbc.Error, match=r"\(4214\)"):
        cur.execute(f"BACKUP LOG appdb TO URL = '{log}'")
    cur.execute(f"BACKUP DATABASE appdb TO URL = '{full}' WITH FORMAT, NAME = N'nightly'")
    cur.execute(f"BACKUP DATABASE appdb TO URL = '{diff}' WITH FORMAT, DIFFERENTIAL")
    cur.execute(f"BACKUP LOG appdb TO URL = '{log}' WITH FORMAT")
    head = cur.execute(f"RESTORE HEADERONLY FROM URL = '{full}'").fetchone()
    assert (head.BackupName, head.BackupType, head.DatabaseName, head.BackupTypeDescription) == (
        "nightly", 1, "appdb", "Database")
    files = [(r.LogicalName, r.Type) for r in cur.execute(f"RESTORE FILELISTONLY FROM URL = '{full}'")]
    assert files == [("appdb", "D"), ("appdb_log", "L")]
    move = "MOVE 'appdb' TO 'F:\\data\\appdb2.mdf', MOVE 'appdb_log' TO 'G:\\log\\appdb2.ldf'"
    cur.execute(f"RESTORE DATABASE appdb2 FROM URL = '{full}' WITH {move}, NORECOVERY")
    assert cur.execute("SELECT state_desc FROM sys.databases WHERE name = 'appdb2'").fetchone()[0] == "RESTORING"
    cur.execute(f"RESTORE DATABASE appdb2 FROM URL = '{diff}' WITH NORECOVERY")
    # a stop point after the last log: SQL Server leaves the database restoring for more log
    cur.execute(f"RESTORE LOG appdb2 FROM URL = '{log}' WITH RECOVERY, STOPAT = '2099-01-01T00:00:00'")
    assert cur.execute("SELECT state_desc FROM sys.databases WHERE name = 'appdb2'").fetchone()[0] == "RESTORING"
    cur.execute("RESTORE DATABASE appdb2 WITH RECOVERY")
    assert cur.execute("SELECT state_desc FROM sys.databases WHERE name = 'appdb2'").fetchone()[0] == "ONLINE"
    assert [tuple(r) for r in cur.execute("SELECT id, label FROM appdb2.dbo.items ORDER BY id")] == [
        (1, "one"), (2, "two")]
    types = [r[0] for r in cur.execute("SELECT type FROM msdb.dbo.backupset WHERE database_name = 'appdb' "
                                       "ORDER BY backup_set_id")]
    assert types == ["D", "I", "L"] * 2   # three backups, then the three sets the restores read


def test_backup_needs_permission_and_no_transaction(bworld):
    backend, handle, az = bworld
    cur = sa(handle)
    cur.execute(CREATE_CRED)
    op = connect("msodbc18", handle.ports["vm-ready"], "operator", "Op-Passw0rd!").cursor()
    with pytest.raises(pyodbc.Error, match=r"BACKUP DATABASE permission denied in database 'appdb'.*\(262\)"):
        op.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/perm.bak'")
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD)
    conn.autocommit = False
    with pytest.raises(pyodbc.Error, match=r"\(3021\)"):
        c = conn.cursor()
        c.execute("SELECT name FROM sys.databases")
        c.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/tran.bak'")


def test_shared_access_signature_credential(bworld):
    """A SAS credential (FACTS: identity 'SHARED ACCESS SIGNATURE', secret without '?') works without any
    managed identity; naming it WITH CREDENTIAL is Msg 3225."""
    import datetime as dt
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas
    backend, handle, az = bworld
    sas = generate_container_sas("backupacct", "backups", account_key=az.key_b64,
                                 permission=ContainerSasPermissions(read=True, write=True, create=True, list=True),
                                 expiry=dt.datetime.utcnow() + dt.timedelta(hours=1))
    cur = sa(handle, "vm-noprimary")
    cur.execute(f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '{sas}'")
    cur.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/sas.bak' WITH FORMAT")
    assert cur.execute(f"RESTORE HEADERONLY FROM URL = '{CONTAINER}/sas.bak'").fetchone().DatabaseName == "appdb"
    with pytest.raises(pyodbc.Error, match=r"\(3225\)"):
        cur.execute(f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/sas2.bak' WITH CREDENTIAL = '{CONTAINER}'")
