"""Catalog views, logins, users, roles, credentials, DBCC and permission checks (standalone SQL world)."""
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver.fixtures import sql_world, world  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import ALICE, APP, DBAS, SA_PASSWORD, connect  # noqa: E402

pyodbc = pytest.importorskip("pyodbc")
CONTAINER = "https://backupacct.blob.core.windows.net/backups"


def sa(handle, vm="vm-ready", driver="freetds"):
    return connect(driver, handle.ports[vm], "sa", SA_PASSWORD).cursor()


def rows(cur):
    return [tuple(r) for r in cur.fetchall()]


def test_serverproperty_and_host_info(world):
    backend, handle = world
    cur = sa(handle)
    props = ["ProductVersion", "ProductUpdateLevel", "ProductLevel", "Edition", "EngineEdition", "IsClustered",
             "InstanceDefaultDataPath", "InstanceDefaultLogPath", "MachineName", "ServerName"]
    sql = "SELECT " + ", ".join(f"CAST(SERVERPROPERTY('{p}') AS nvarchar(128)) AS [{p}]" for p in props)
    assert rows(cur.execute(sql)) == [("16.0.4175.1", "CU17", "RTM", "Enterprise Edition (64-bit)", "3", "0",
                                      "F:\\data\\", "G:\\log\\", "VM-READY", "VM-READY")]
    assert rows(cur.execute("SELECT host_platform FROM sys.dm_os_host_info")) == [("Windows",)]
    assert "16.0.4175.1" in cur.execute("SELECT @@VERSION").fetchone()[0]


def test_entra_logins_sids_types_and_group_disable(world):
    backend, handle = world
    cur = sa(handle)
    cur.execute(f"CREATE LOGIN [{ALICE[1]}] FROM EXTERNAL PROVIDER")
    cur.execute(f"CREATE LOGIN [{DBAS[1]}] FROM EXTERNAL PROVIDER")
    cur.execute(f"CREATE LOGIN [backup app] FROM EXTERNAL PROVIDER WITH OBJECT_ID = '{APP[3]}'")
    got = rows(cur.execute("SELECT name, type, type_desc, sid FROM sys.server_principals WHERE type IN ('E', 'X') "
                           "ORDER BY name"))
    assert got == [(ALICE[1], "E", "EXTERNAL_LOGIN", uuid.UUID(ALICE[2]).bytes_le),
                   ("backup app", "E", "EXTERNAL_LOGIN", uuid.UUID(APP[3]).bytes_le),
                   (DBAS[1], "X", "EXTERNAL_GROUP", uuid.UUID(DBAS[2]).bytes_le)]
    with pytest.raises(pyodbc.Error, match=r"already exists.*\(15025\)"):
        cur.execute(f"CREATE LOGIN [{ALICE[1]}] FROM EXTERNAL PROVIDER")
    with pytest.raises(pyodbc.Error, match=r"could not be found or this principal type is not supported.*\(33130\)"):
        cur.execute("CREATE LOGIN [nobody@contoso.example] FROM EXTERNAL PROVIDER")
    # seed 004: ALTER LOGIN … DISABLE is not supported for Microsoft Entra groups
    with pytest.raises(pyodbc.Error, match=r"\(33129\)"):
        cur.execute(f"ALTER LOGIN [{DBAS[1]}] DISABLE")
    # seed 004: ALTER AUTHORIZATION … TO an Entra group → Msg 33181
    with pytest.raises(pyodbc.Error, match=r"The new owner cannot be Azure Active Directory group\. \(33181\)"):
        cur.execute(f"ALTER AUTHORIZATION ON DATABASE::appdb TO [{DBAS[1]}]")
    cur.execute(f"ALTER AUTHORIZATION ON DATABASE::appdb TO [{ALICE[1]}]")
    assert rows(cur.execute("SELECT owner_sid FROM sys.databases WHERE name = 'appdb'")) == [
        (uuid.UUID(ALICE[2]).bytes_le,)]
    cur.execute(f"ALTER LOGIN [{ALICE[1]}] DISABLE")
    cur.execute("DBCC FLUSHAUTHCACHE")
    cur.execute("DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS")
    assert rows(cur.execute("SELECT is_disabled FROM sys.server_principals WHERE name = ?", ALICE[1])) == [(True,)]


def test_external_provider_needs_the_primary_identity_and_directory_read(world):
    backend, handle = world
    with pytest.raises(pyodbc.Error) as exc:
        sa(handle, "vm-noprimary").execute(f"CREATE LOGIN [{ALICE[1]}] FROM EXTERNAL PROVIDER")
    assert "Server identity is not configured" in str(exc.value) and "(33134)" in str(exc.value)
    with pytest.raises(pyodbc.Error) as exc:
        sa(handle, "vm-nodirread").execute(f"CREATE LOGIN [{ALICE[1]}] FROM EXTERNAL PROVIDER")
    assert "Directory Reader" in str(exc.value) and "(33134)" in str(exc.value)


def test_server_roles_users_and_database_roles(world):
    backend, handle = world
    cur = sa(handle)
    cur.execute("CREATE LOGIN [dba1] WITH PASSWORD = N'Dba1-Passw0rd!', CHECK_POLICY = OFF")
    cur.execute("ALTER SERVER ROLE [sysadmin] ADD MEMBER [dba1]")
    assert rows(cur.execute(
        "SELECT r.name, m.name FROM sys.server_role_members rm "
        "JOIN sys.server_principals r ON r.principal_id = rm.role_principal_id "
        "JOIN sys.server_principals m ON m.principal_id = rm.member_principal_id WHERE m.name = 'dba1'")) == [
        ("sysadmin", "dba1")]
    cur.execute("USE appdb; CREATE USER [dba1] FROM LOGIN [dba1]; ALTER ROLE [db_backupoperator] ADD MEMBER [dba1]")
    got = rows(cur.execute("SELECT r.name FROM appdb.sys.database_role_members rm JOIN appdb.sys.database_principals r "
                           "ON r.principal_id = rm.role_principal_id JOIN appdb.sys.database_principals u "
                           "ON u.principal_id = rm.member_principal_id WHERE u.name = 'dba1'"))
    assert got == [("db_backupoperator",)]
    with pytest.raises(pyodbc.Error, match=r"\(15023\)"):
        cur.execute("CREATE USER [dba1] FROM LOGIN [dba1]")   # the session is in appdb since USE
    with pytest.raises(pyodbc.Error, match=r"\(15007\)"):
        cur.execute("ALTER SERVER ROLE sysadmin ADD MEMBER [ghost]")
    cur.execute("ALTER SERVER ROLE sysadmin DROP MEMBER dba1")
    cur.execute("DROP LOGIN dba1")
    with pytest.raises(pyodbc.Error, match=r"\(15151\)"):
        cur.execute("DROP LOGIN dba1")


def test_credentials_are_case_sensitive_and_need_alter_any_credential(world):
    backend, handle = world
    cur = sa(handle)
    cur.execute(f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'")
    cur.execute(f"CREATE CREDENTIAL [{CONTAINER.upper()}] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = 'sv=x'")
    assert rows(cur.execute("SELECT name, credential_identity FROM sys.credentials ORDER BY credential_id")) == [
        (CONTAINER, "Managed Identity"), (CONTAINER.upper(), "SHARED ACCESS SIGNATURE")]
    with pytest.raises(pyodbc.Error, match=r"\(15025\)"):
        cur.execute(f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'")
    op = connect("freetds", handle.ports["vm-ready"], "operator", "Op-Passw0rd!").cursor()
    with pytest.raises(pyodbc.Error, match=r"User does not have permission to perform this action.*\(15247\)"):
        op.execute(f"CREATE CREDENTIAL [{CONTAINER}/x] WITH IDENTITY = 'Managed Identity'")
    with pytest.raises(pyodbc.Error, match=r"\(15247\)"):
        op.execute("CREATE LOGIN x WITH PASSWORD = 'Xx-12345678'")
    with pytest.raises(pyodbc.Error, match=r"\(2571\)"):
        op.execute("DBCC TRACEON(4675, -1)")
    # what a login without VIEW ANY DEFINITION sees
    assert rows(op.execute("SELECT name FROM sys.credentials")) == []
    assert [r[0] for r in op.execute("SELECT name FROM sys.server_principals WHERE type = 'S'")] == ["operator"]
    cur.execute(f"DROP CREDENTIAL [{CONTAINER.upper()}]")
    assert len(rows(cur.execute("SELECT name FROM sys.credentials"))) == 1


def test_select_subset(world):
    backend, handle = world
    cur = sa(handle, driver="msodbc18")
    assert rows(cur.execute("SELECT TOP 3 name FROM sys.databases WHERE name LIKE 'm%' OR name IN ('tempdb') "
                            "ORDER BY name DESC")) == [("tempdb",), ("msdb",), ("model",)]
    assert rows(cur.execute("SELECT COUNT(*) FROM AdventureWorks.dbo.orders WHERE amount IS NOT NULL AND id <> 5")) \
        == [(9999,)]
    assert rows(cur.execute("SELECT d.name, f.type_desc FROM sys.databases AS d JOIN sys.master_files AS f "
                            "ON f.database_id = d.database_id WHERE d.name = @@SERVERNAME OR d.name = 'appdb' "
                            "ORDER BY f.file_id")) == [("appdb", "ROWS"), ("appdb", "LOG")]
    assert rows(cur.execute("SELECT IS_SRVROLEMEMBER('sysadmin'), DB_NAME(), SUSER_SNAME()")) == [(1, "master", "sa")]


def test_create_user_from_external_provider_resolves_through_the_directory(world):
    backend, handle = world
    cur = sa(handle)
    cur.execute("USE appdb")
    cur.execute(f"CREATE USER [{ALICE[1]}] FROM EXTERNAL PROVIDER")
    assert rows(cur.execute("SELECT name, type, sid FROM sys.database_principals WHERE name = ?", ALICE[1])) == [
        (ALICE[1], "E", uuid.UUID(ALICE[2]).bytes_le)]
    other = sa(handle, "vm-noprimary")
    other.execute("USE appdb")
    with pytest.raises(pyodbc.Error, match=r"Server identity is not configured.*\(33134\)"):
        other.execute(f"CREATE USER [{ALICE[1]}] FROM EXTERNAL PROVIDER")
