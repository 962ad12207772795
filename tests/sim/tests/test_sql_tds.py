"""TDS fidelity: both ODBC drivers (TLS on/off, strict against the CA), access tokens, pytds, tsql."""
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver.fixtures import sql_world, world  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import (ALICE, APP, BOB, CAROL, DBAS, SA_PASSWORD, connect, mint_sql_token,  # noqa: E402
                               tsql_cli)

pyodbc = pytest.importorskip("pyodbc")
DRIVERS = ["freetds", "msodbc18"]


def rows(cur):
    return [tuple(r) for r in cur.fetchall()]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize("encrypt", ["no", "yes"])
def test_sql_login_and_select_through_both_drivers(world, driver, encrypt):
    backend, handle = world
    conn = connect(driver, handle.ports["vm-ready"], "sa", SA_PASSWORD, encrypt=encrypt)
    cur = conn.cursor()
    assert cur.execute("SELECT 1").fetchall()[0][0] == 1
    row = cur.execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), "
                      "CAST(SERVERPROPERTY('IsClustered') AS int), SUSER_NAME()").fetchone()
    assert tuple(row) == ("16.0.4175.1", 0, "sa")
    # parameters travel through sp_prepexec / sp_executesql
    assert rows(cur.execute("SELECT name FROM sys.databases WHERE name = ? OR database_id = ?",
                            "appdb", 1)) == [("master",), ("appdb",)]
    logins = [r[0] for r in cur.execute("SELECT name FROM sys.server_principals WHERE type = ?", "S")]
    assert logins == ["sa", "operator"]
    conn.close()


def test_msodbc18_strict_tls_against_the_ca(world, monkeypatch):
    backend, handle = world
    # The Microsoft driver verifies with OpenSSL's default trust store, which SSL_CERT_FILE replaces.
    monkeypatch.setenv("SSL_CERT_FILE", handle.ca_file)
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD, encrypt="yes", ca_file=handle.ca_file)
    assert conn.cursor().execute("SELECT @@SERVERNAME").fetchone()[0] == "VM-READY"


def test_freetds_strict_tls_against_the_ca_and_refusal_of_another(world, monkeypatch, tmp_path):
    """FreeTDS verifies the chain when freetds.conf names a `ca file` (its ODBC connection string does not)."""
    backend, handle = world
    from sqlserver.certs import make_test_ca_and_cert
    other_ca = make_test_ca_and_cert(str(tmp_path))[0]
    conf = tmp_path / "freetds.conf"
    for ca, ok in ((handle.ca_file, True), (other_ca, False)):
        conf.write_text(f"[global]\n\tencryption = require\n\tca file = {ca}\n")
        monkeypatch.setenv("FREETDSCONF", str(conf))
        rc, out = tsql_cli(handle.ports["vm-ready"], "sa", SA_PASSWORD, "SELECT 4242")
        assert ("4242" in out) is ok, out


def test_msodbc18_refuses_an_untrusted_certificate(world):
    backend, handle = world
    import pyodbc as p
    from sqlserver.testing import MSODBC
    with pytest.raises(p.Error, match="certificate"):
        p.connect(f"DRIVER={MSODBC};SERVER=127.0.0.1,{handle.ports['vm-ready']};UID=sa;PWD={SA_PASSWORD};"
                  "Encrypt=yes;TrustServerCertificate=no", timeout=5)


@pytest.mark.parametrize("driver", DRIVERS)
def test_wrong_password_answers_18456(world, driver):
    backend, handle = world
    with pytest.raises(pyodbc.Error) as exc:
        connect(driver, handle.ports["vm-ready"], "sa", "wrong", encrypt="no")
    assert "Login failed for user 'sa'." in str(exc.value)
    assert "18456" in str(exc.value)


def _as_sa(handle, vm="vm-ready", driver="msodbc18"):
    return connect(driver, handle.ports[vm], "sa", SA_PASSWORD).cursor()


def test_access_token_login_direct_group_disabled_and_unknown(world):
    backend, handle = world
    port = handle.ports["vm-ready"]
    cur = _as_sa(handle)
    cur.execute(f"CREATE LOGIN [{ALICE[1]}] FROM EXTERNAL PROVIDER")
    cur.execute(f"CREATE LOGIN [{DBAS[1]}] FROM EXTERNAL PROVIDER")
    cur.execute(f"CREATE LOGIN [{APP[1]}] FROM EXTERNAL PROVIDER")
    # user by object id
    c = connect("msodbc18", port, token=mint_sql_token(backend, ALICE[2]))
    assert c.cursor().execute("SELECT SUSER_NAME()").fetchone()[0] == ALICE[1]
    # application by app id
    c = connect("msodbc18", port, token=mint_sql_token(backend, APP[2], APP[3]))
    assert c.cursor().execute("SELECT SUSER_NAME()").fetchone()[0] == APP[1]
    # through a group login
    c = connect("msodbc18", port, token=mint_sql_token(backend, BOB[2]))
    assert c.cursor().execute("SELECT 1").fetchone()[0] == 1
    # no login at all
    with pytest.raises(pyodbc.Error, match=r"Login failed for user .*\(18456\)"):
        connect("msodbc18", port, token=mint_sql_token(backend, CAROL[2]))
    # disabled login
    cur.execute(f"ALTER LOGIN [{ALICE[1]}] DISABLE")
    with pytest.raises(pyodbc.Error, match="18456"):
        connect("msodbc18", port, token=mint_sql_token(backend, ALICE[2]))
    # a token for another audience
    with pytest.raises(pyodbc.Error, match="18456"):
        connect("msodbc18", port, token=mint_sql_token(backend, APP[2], APP[3], audience="https://storage.azure.com"))


def test_multiple_result_sets_and_messages(world):
    backend, handle = world
    cur = _as_sa(handle)
    cur.execute("SELECT 1 AS a; SELECT N'x' AS b, 2 AS c; DBCC TRACESTATUS(-1)")
    assert rows(cur) == [(1,)]
    assert cur.nextset()
    assert rows(cur) == [("x", 2)]
    assert cur.nextset()
    assert cur.fetchall() == []


@pytest.mark.parametrize("sql,number,text", [
    ("SELECT FROM sys.databases", 156, "Incorrect syntax near the keyword 'FROM'."),
    ("CREATE LOGIN x WITH PASWORD = 'a'", 102, "Incorrect syntax near 'PASWORD'."),
    ("GRANT CONTROL SERVER TO x", 50100, "The GRANT statement is valid T-SQL that the test world does not model"),
    ("SELECT name FROM sys.nonexistent_view", 208, "Invalid object name 'sys.nonexistent_view'."),
    ("SELECT nonexistent FROM sys.databases", 207, "Invalid column name 'nonexistent'."),
])
def test_unrecognised_statements_get_sql_server_errors(world, sql, number, text):
    backend, handle = world
    cur = _as_sa(handle, driver="freetds")
    with pytest.raises(pyodbc.Error) as exc:
        cur.execute(sql)
    assert text in str(exc.value) and f"({number})" in str(exc.value)


def test_syntax_error_runs_nothing_of_the_batch(world):
    backend, handle = world
    cur = _as_sa(handle)
    with pytest.raises(pyodbc.Error, match="102"):
        cur.execute("CREATE LOGIN early WITH PASSWORD = 'Xx-12345678'; SELECT 1 +")
    assert cur.execute("SELECT COUNT(*) FROM sys.server_principals WHERE name = 'early'").fetchone()[0] == 0


def test_attention_cancels_a_delayed_statement(world):
    backend, handle = world
    backend.faults.append({"vm": "vm-ready", "pattern": "WAITME", "action": "delay", "seconds": 5})
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD)
    cur = conn.cursor()
    threading.Timer(0.5, cur.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(pyodbc.Error):
        cur.execute("SELECT 'WAITME'")
        cur.fetchall()
    assert time.monotonic() - t0 < 4
    backend.faults.clear()
    # The connection stays usable. A new statement handle: the cancelled one's ODBC state after an SQLCancel from
    # another thread is the driver manager's business (unixODBC may answer HY010 on it), not the server's.
    assert conn.cursor().execute("SELECT 2").fetchone()[0] == 2


def test_pytds_as_an_independent_client(world):
    pytds = pytest.importorskip("pytds")
    backend, handle = world
    with pytds.connect(dsn="127.0.0.1", port=handle.ports["vm-ready"], user="sa", password=SA_PASSWORD,
                       database="master", autocommit=True, login_timeout=10) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT name, database_id FROM sys.databases WHERE name = %s", ("appdb",))
            assert cur.fetchall() == [("appdb", 6)]
            cur.execute("SELECT CAST(SERVERPROPERTY('Edition') AS nvarchar(128))")
            assert cur.fetchone()[0] == "Enterprise Edition (64-bit)"
            with pytest.raises(pytds.Error) as exc:
                cur.execute("SELECT FROM x")
            assert exc.value.msg_no == 156 and exc.value.severity == 15


def test_tsql_cli_as_an_independent_client(world):
    backend, handle = world
    rc, out = tsql_cli(handle.ports["vm-ready"], "sa", SA_PASSWORD,
                       "SELECT name FROM sys.databases WHERE database_id = 6")
    assert "appdb" in out, out
    rc, out = tsql_cli(handle.ports["vm-ready"], "sa", SA_PASSWORD, "DBCC TRACEON(4675, -1)")
    assert "Msg 2528" in out or "DBCC execution completed" in out, out


def test_group_login_gives_its_members_the_group_database_roles(world):
    backend, handle = world
    port = handle.ports["vm-ready"]
    cur = _as_sa(handle)
    cur.execute(f"CREATE LOGIN [{DBAS[1]}] FROM EXTERNAL PROVIDER")
    cur.execute("USE appdb")
    cur.execute(f"CREATE USER [{DBAS[1]}] FROM LOGIN [{DBAS[1]}]")
    bob = connect("msodbc18", port, token=mint_sql_token(backend, BOB[2])).cursor()
    with pytest.raises(pyodbc.Error, match=r"BACKUP DATABASE permission denied.*\(262\)"):
        bob.execute("BACKUP DATABASE appdb TO URL = 'https://backupacct.blob.core.windows.net/backups/g.bak'")
    cur.execute(f"ALTER ROLE db_backupoperator ADD MEMBER [{DBAS[1]}]")
    # now the permission check passes and the next link of the chain answers (no credential: OS error 50)
    with pytest.raises(pyodbc.Error, match=r"Operating system error 50.*\(3201\)"):
        bob.execute("BACKUP DATABASE appdb TO URL = 'https://backupacct.blob.core.windows.net/backups/g.bak'")
    assert bob.execute("SELECT SUSER_SNAME(), IS_SRVROLEMEMBER('sysadmin')").fetchone()[0] == BOB[1]


@pytest.mark.parametrize("driver", DRIVERS)
def test_connection_dropped_mid_batch(world, driver):
    backend, handle = world
    backend.faults.append({"vm": "vm-ready", "pattern": "dropme", "action": "drop"})
    cur = connect(driver, handle.ports["vm-ready"], "sa", SA_PASSWORD).cursor()
    with pytest.raises(pyodbc.Error):
        cur.execute("CREATE LOGIN [dropme] WITH PASSWORD = 'Drop-Passw0rd!'; SELECT name FROM sys.databases")
        while cur.nextset():
            pass
    backend.faults.clear()
    # the batch ran on the server before the connection broke
    again = _as_sa(handle)
    assert again.execute("SELECT COUNT(*) FROM sys.server_principals WHERE name = 'dropme'").fetchone()[0] == 1
    assert [e["fault"] for e in backend.requests if e.get("fault")] == ["drop"]
