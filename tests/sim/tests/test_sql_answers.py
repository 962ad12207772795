"""Every batch gets an answer: session SET batches real clients send at connect, each statement kind the engine
knows and several it does not, through tsql (FreeTDS) and pyodbc (both ODBC drivers). Each client runs under a
deadline (subprocess timeout, ODBC login and query timeouts), so a batch the world leaves unanswered fails the
test instead of blocking it. Also the watchdog (a fault of the world is an error reply and a log line) and the
fatal severities that close the connection as SQL Server does."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver import errors as E  # noqa: E402
from sqlserver.fixtures import sql_world, world  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import SA_PASSWORD, connect  # noqa: E402

pyodbc = pytest.importorskip("pyodbc")
DEADLINE = 20   # seconds for one tsql session; ODBC login/query timeouts are 10 s

# Session SET batches as each client sends them after LOGIN7 (learned from their public sources and traces):
# - pymssql 2.x (_mssql.pyx, connect): one batch of SET options, then BEGIN TRAN unless autocommit;
# - FreeTDS (tsql, the ODBC driver) with `text size` in freetds.conf: "set textsize <n>";
# - Microsoft JDBC (SQLServerConnection: sqlStatementToInitialize, setSessionProperties, setAutoCommit,
#   commit, setTransactionIsolation): lower-case statements with JDBC's own spacing;
# - SSMS / SMO (SqlClient): the newline-separated SET barrage of its query windows.
SESSION_BATCHES = {
    "pymssql": ("SET ARITHABORT ON;SET CONCAT_NULL_YIELDS_NULL ON;SET ANSI_NULLS ON;SET ANSI_NULL_DFLT_ON ON;"
                "SET ANSI_PADDING ON;SET ANSI_WARNINGS ON;SET ANSI_NULL_DFLT_ON ON;SET CURSOR_CLOSE_ON_COMMIT ON;"
                "SET QUOTED_IDENTIFIER ON;SET TEXTSIZE 2147483647;"),
    "freetds-textsize": "set textsize 64512",
    "jdbc-lock-timeout": " set lock_timeout 5000",
    "jdbc-session-properties": "SET QUOTED_IDENTIFIER ON",
    "jdbc-autocommit-off": "set implicit_transactions on ",
    "jdbc-isolation": "set transaction isolation level  read committed ",
    "jdbc-commit": "IF @@TRANCOUNT > 0 COMMIT TRAN",
    "jdbc-autocommit-on": "set implicit_transactions off IF @@TRANCOUNT > 0 COMMIT TRAN ",
    "ssms": "\n".join([
        "SET ROWCOUNT 0", "SET TEXTSIZE 2147483647", "SET NOCOUNT OFF", "SET CONCAT_NULL_YIELDS_NULL ON",
        "SET ARITHABORT ON", "SET LOCK_TIMEOUT -1", "SET QUERY_GOVERNOR_COST_LIMIT 0", "SET DEADLOCK_PRIORITY NORMAL",
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "SET ANSI_NULLS ON", "SET ANSI_NULL_DFLT_ON ON",
        "SET ANSI_PADDING ON", "SET ANSI_WARNINGS ON", "SET CURSOR_CLOSE_ON_COMMIT OFF",
        "SET IMPLICIT_TRANSACTIONS OFF", "SET QUOTED_IDENTIFIER ON"]),
    "ssms-showplan-off": "SET NOEXEC, PARSEONLY, FMTONLY OFF",
    "nocount": "SET NOCOUNT ON",
    "arithabort-then-select": "SET ARITHABORT ON; SELECT 1",
}

CRED = "https://backupacct.blob.core.windows.net/answers"
# One statement of each kind the engine models (README "T-SQL understood"), in an order that works as sa.
KNOWN = [
    "SELECT name FROM sys.databases WHERE database_id = 1",
    "SET XACT_ABORT ON",
    "USE appdb",
    "USE master",
    "EXEC sp_datatype_info_100 12, 3",
    "CREATE LOGIN answered1 WITH PASSWORD = 'Ans-Passw0rd!1', CHECK_POLICY = OFF",
    "ALTER LOGIN answered1 DISABLE",
    "ALTER SERVER ROLE dbcreator ADD MEMBER answered1",
    "CREATE DATABASE answersdb",
    "ALTER DATABASE answersdb SET RECOVERY SIMPLE",
    "ALTER AUTHORIZATION ON DATABASE::answersdb TO sa",
    "CREATE USER answered1 FOR LOGIN answered1",
    "ALTER ROLE db_datareader ADD MEMBER answered1",
    "DROP USER IF EXISTS answered1",
    "DROP DATABASE IF EXISTS answersdb",
    "DROP LOGIN answered1",
    f"CREATE CREDENTIAL [{CRED}] WITH IDENTITY = 'Managed Identity'",
    f"ALTER CREDENTIAL [{CRED}] WITH IDENTITY = 'Managed Identity'",
    f"DROP CREDENTIAL [{CRED}]",
    "DBCC TRACESTATUS(-1)",
    "DBCC TRACEON(3226, -1)",
    "DBCC TRACEOFF(3226, -1)",
    "DBCC FLUSHAUTHCACHE",
    "DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS",
    "BACKUP DATABASE appdb TO URL = 'https://backupacct.blob.core.windows.net/nocredential/a.bak'",
    "RESTORE HEADERONLY FROM URL = 'https://backupacct.blob.core.windows.net/nocredential/a.bak'",
    "BEGIN TRAN",
    "ROLLBACK",
    "BEGIN TRANSACTION",
    "IF @@TRANCOUNT > 0 COMMIT TRAN",
]
# Valid T-SQL the world does not model, client mistakes and odd batches: each still gets an answer.
UNKNOWN = [
    "DECLARE @x int",
    "PRINT 'hi'",
    "INSERT INTO t VALUES (1)",
    "MERGE t USING s ON 1 = 1 WHEN MATCHED THEN DELETE;",
    "CREATE TABLE t (a int) ON [PRIMARY]",
    "GRANT CONTROL SERVER TO x",
    "SELECT 1 UNION SELECT 2",
    "WAITFOR DELAY '00:00:01'",
    "EXEC sp_who",
    "DBCC NOSUCHCOMMAND",
    "SELEC 1",
    "FOO BAR BAZ",
    "SELECT 'unclosed",
    "SELECT 1 +",
    "-- only a comment",
    "SELECT N'\u00fcn\u00efc\u00f8d\u00e9 \u2713' AS text",
]
SENTINEL = 918273


def _tsql_session(port, batches, conf=None, timeout=DEADLINE):
    """One tsql session running each batch, each followed by a sentinel batch; returns the output. A batch that
    is never answered leaves tsql waiting: the deadline fails the test and names the last answered batch."""
    lines = []
    for i, batch in enumerate(batches):
        lines += [batch, "go", f"SELECT {SENTINEL + i} AS sentinel", "go"]
    env = dict(os.environ, TDSVER="7.4")
    if conf:
        env["FREETDSCONF"] = str(conf)
    try:
        proc = subprocess.run(["tsql", "-H", "127.0.0.1", "-p", str(port), "-U", "sa", "-P", SA_PASSWORD],
                              input="\n".join(lines + ["exit", ""]), capture_output=True, text=True,
                              timeout=timeout, env=env, check=False)
        return proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    answered = [i for i in range(len(batches)) if str(SENTINEL + i) in out]
    hung = batches[(max(answered) + 1) if answered else 0]
    # pytrace=False: the report is the message (no traceback through subprocess internals)
    pytest.fail(f"tsql got no answer to batch {hung!r} within {timeout} s:\n{out[-2000:]}", pytrace=False)
    return ""


def _assert_all_answered(out, batches):
    missing = [b for i, b in enumerate(batches) if str(SENTINEL + i) not in out]
    assert not missing, f"no answer after {missing}:\n{out[-3000:]}"


@pytest.mark.parametrize("client", sorted(SESSION_BATCHES))
def test_session_set_batch_through_tsql(world, client):
    backend, handle = world
    batch = SESSION_BATCHES[client]
    out = _tsql_session(handle.ports["vm-ready"], [batch])
    _assert_all_answered(out, [batch])
    assert "Msg " not in out, out
    statuses = [e["status"] for e in backend.requests if e["method"] != "LOGIN"]
    assert statuses and set(statuses) == {0}, backend.requests


@pytest.mark.parametrize("driver", ["freetds", "msodbc18"])
def test_session_set_batches_through_pyodbc(world, driver):
    _backend, handle = world
    conn = connect(driver, handle.ports["vm-ready"], "sa", SA_PASSWORD, timeout=10)
    conn.timeout = 10   # query timeout: an unanswered batch raises instead of blocking
    cur = conn.cursor()
    for client, batch in sorted(SESSION_BATCHES.items()):
        cur.execute(batch)
        while cur.nextset():
            pass
        assert cur.execute("SELECT 7").fetchone()[0] == 7, client
    assert cur.execute("SET ARITHABORT ON; SELECT 42").fetchone()[0] == 42


def test_tsql_sends_textsize_at_connect_when_freetds_conf_sets_it(world, tmp_path):
    """FreeTDS sends "set textsize <n>" right after login when freetds.conf has `text size`; before the fix the
    world never answered it and tsql hung at connect."""
    backend, handle = world
    conf = tmp_path / "freetds.conf"
    conf.write_text("[global]\n\ttext size = 64512\n")
    out = _tsql_session(handle.ports["vm-ready"], ["SELECT 5150"], conf=conf)
    assert "5150" in out, out
    assert [(e["method"], e["path"], e["status"]) for e in backend.requests][1] == ("SET", "set textsize 64512", 0)


def test_every_statement_kind_is_answered_through_tsql(world):
    _backend, handle = world
    batches = KNOWN + UNKNOWN
    out = _tsql_session(handle.ports["vm-ready"], batches, timeout=2 * DEADLINE)
    _assert_all_answered(out, batches)
    assert "Msg 50100" in out and "is valid T-SQL that the test world does not model" in out
    assert "Msg 156" not in out   # nothing valid is called a syntax error


@pytest.mark.parametrize("driver", ["freetds", "msodbc18"])
def test_every_statement_kind_is_answered_through_pyodbc(world, driver):
    _backend, handle = world
    conn = connect(driver, handle.ports["vm-ready"], "sa", SA_PASSWORD, timeout=10)
    conn.timeout = 10
    cur = conn.cursor()
    outcomes = {}
    for sql in KNOWN + UNKNOWN:
        try:
            cur.execute(sql)
            while cur.nextset():
                pass
            outcomes[sql] = "ok"
        except pyodbc.Error as exc:
            text = str(exc)
            # an answer from the server, not a timeout (HYT00/HYT01) or a broken link (08S01)
            assert "[SQL Server]" in text and "HYT0" not in text and "08S01" not in text, (sql, text)
            outcomes[sql] = text
        assert cur.execute("SELECT 7").fetchone()[0] == 7, sql
    failed = {sql: outcomes[sql] for sql in KNOWN if "nocredential" not in sql and outcomes[sql] != "ok"}
    assert not failed, failed
    for sql in ("DECLARE @x int", "PRINT 'hi'", "CREATE TABLE t (a int) ON [PRIMARY]", "EXEC sp_who", "SELECT 1 UNION SELECT 2"):
        assert "(50100)" in outcomes[sql] and "does not model" in outcomes[sql], outcomes[sql]


def test_watchdog_answers_a_fault_of_the_world_and_logs_it(world, monkeypatch, caplog):
    """Any exception inside the world while it answers a request becomes Msg 50101 (severity 16) with DONE, a
    traceback in the world's log and a `tds` request-log entry; the connection stays usable."""
    from sqlserver import instance as sql_instance
    backend, handle = world
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD, timeout=10)
    conn.timeout = 10
    cur = conn.cursor()
    real = sql_instance.Instance.run_batch

    async def broken(self, session, text):
        if "BREAKME" in text:
            raise RuntimeError("the world tripped over BREAKME")
        return await real(self, session, text)
    monkeypatch.setattr(sql_instance.Instance, "run_batch", broken)
    with caplog.at_level(logging.ERROR, logger="sim.sqlserver.tds"):
        with pytest.raises(pyodbc.Error) as exc:
            cur.execute("SELECT 'BREAKME'")
    assert f"({E.INTERNAL_ERROR})" in str(exc.value) and "RuntimeError" in str(exc.value)
    assert "failed inside the world" in caplog.text and "tripped over BREAKME" in caplog.text
    entry = [e for e in backend.requests if e["status"] == E.INTERNAL_ERROR][-1]
    assert entry["service"] == "tds" and "BREAKME" in entry["path"] and "RuntimeError" in entry["error"]
    assert cur.execute("SELECT 8").fetchone()[0] == 8


def test_watchdog_answers_a_fault_during_login(world, monkeypatch, caplog):
    from sqlserver import instance as sql_instance
    backend, handle = world

    def broken(self, login):
        raise ValueError("login tripped")
    monkeypatch.setattr(sql_instance.Instance, "login", broken)
    with caplog.at_level(logging.ERROR, logger="sim.sqlserver.tds"):
        with pytest.raises(pyodbc.Error) as exc:
            connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD, timeout=10)
    assert f"({E.INTERNAL_ERROR})" in str(exc.value) and "login tripped" in str(exc.value)
    assert "LOGIN7 failed inside the world" in caplog.text
    assert [(e["method"], e["status"]) for e in backend.requests] == [("LOGIN", E.INTERNAL_ERROR)]


def test_severity_20_and_above_closes_the_connection_as_sql_server_does(world):
    backend, handle = world
    backend.faults.append({"vm": "vm-ready", "pattern": "FATALME", "action": "error", "number": 823,
                           "class": 24, "message": "The operating system returned error 21 to SQL Server."})
    conn = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD, timeout=10)
    conn.timeout = 10
    cur = conn.cursor()
    with pytest.raises(pyodbc.Error) as exc:
        cur.execute("SELECT 'FATALME'")
    assert "(823)" in str(exc.value)
    with pytest.raises(pyodbc.Error) as gone:
        cur.execute("SELECT 1")
    assert "08S01" in str(gone.value) or "link failure" in str(gone.value).lower(), str(gone.value)
    backend.faults.clear()
    # severity 16 keeps the connection, as before
    backend.faults.append({"vm": "vm-ready", "pattern": "SOFTME", "action": "error", "number": 50000, "class": 16})
    again = connect("msodbc18", handle.ports["vm-ready"], "sa", SA_PASSWORD, timeout=10).cursor()
    with pytest.raises(pyodbc.Error, match="50000"):
        again.execute("SELECT 'SOFTME'")
    assert again.execute("SELECT 9").fetchone()[0] == 9
