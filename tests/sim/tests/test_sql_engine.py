"""The T-SQL engine without the wire: parser decisions, binding, and the statement families."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver import errors as E  # noqa: E402
from sqlserver.engine import Parser, like_to_regex  # noqa: E402
from sqlserver.instance import Instance, _bind  # noqa: E402
from sqlserver.lexer import tokenize  # noqa: E402
from sqlserver.testing import build_backend  # noqa: E402


@pytest.fixture
def inst():
    backend = build_backend()
    i = Instance("vm-ready", "vm-ready", backend.vms["vm-ready"]["sql"], backend)
    session = i._login_sql("sa", backend.vms["vm-ready"]["sql"]["sa_password"], "master")
    return i, session


def run(inst, sql, params=None):
    i, session = inst
    return i._execute_sync(session, sql, params or {})


def test_tokenizer():
    toks = tokenize("SELECT N'it''s' AS [a]]b], @p1, @@VERSION -- c\n/* x */ FROM sys.databases;")
    assert [(t.kind, t.value) for t in toks[:8]] == [
        ("word", "SELECT"), ("str", "it's"), ("word", "AS"), ("ident", "a]b"), ("op", ","), ("var", "@p1"),
        ("op", ","), ("var", "@@VERSION")]


@pytest.mark.parametrize("sql,number,near", [
    ("SELECT * FROM", 102, "FROM"),
    ("CREATE LOGIN [x] FROM EXTERNAL", 102, "EXTERNAL"),
    ("CREATE LOGIN [x] WITH PASSWORD 'a'", 102, "'a'"),
    ("ALTER SERVER ROLE sysadmin ADD [x]", 102, "x"),
    ("BACKUP DATABASE db TO 'x'", 102, "'x'"),
    ("BACKUP DATABASE db TO URL = 'x' WITH FORMATT", 102, "FORMATT"),
    ("RESTORE DATABASE db FROM URL = 'x' WITH MOVE 'a' 'b'", 102, "'b'"),
    ("SELECT 1 SELECT FROM", 156, "FROM"),
    ("CREATE ELSE x", 156, "ELSE"),
    ("DROP LOGIN", 102, "LOGIN"),
    ("SET NOCOUNT MAYBE", 102, "MAYBE"),
])
def test_syntax_errors(sql, number, near):
    with pytest.raises(E.SqlError) as exc:
        Parser(sql).parse_batch()
    assert exc.value.number == number and f"'{near}'" in exc.value.text


@pytest.mark.parametrize("sql,what", [
    ("DECLARE @x int", "The DECLARE statement"),
    ("PRINT 'hi'", "The PRINT statement"),
    ("DELETE TOP (1) FROM t", "DELETE … TOP"),
    ("INSERT INTO t SELECT 1", "INSERT … SELECT"),
    ("UPDATE t SET a = 1 FROM t", "UPDATE … FROM"),
    ("GRANT CONTROL SERVER TO x", "The GRANT statement"),
    ("THROW 50000, 'x', 1", "The THROW statement"),
    ("WITH c AS (SELECT 1 AS a) SELECT a FROM c", "WITH (a common table expression)"),
    ("SELECT 1 UNION SELECT 2", "SELECT … UNION"),
    ("SELECT name FROM sys.databases GROUP BY name HAVING COUNT(*) > 1", "SELECT … HAVING"),
    ("SELECT COUNT(DISTINCT name) FROM sys.databases", "COUNT(DISTINCT …)"),
    ("SELECT name INTO #t FROM sys.databases", "SELECT … INTO"),
    ("SELECT name FROM sys.databases WITH (NOLOCK)", "A table hint"),
    ("SELECT (SELECT 1)", "A subquery"),
    ("IF EXISTS (SELECT 1) SELECT 2", "EXISTS (subquery)"),
    ("IF 1 = 1 SELECT 1 ELSE SELECT 2", "IF … ELSE"),
    ("SELECT ABS(-1)", "The built-in function ABS"),
    ("SELECT ROW_NUMBER() OVER (ORDER BY name) FROM sys.databases", "ROW_NUMBER(…) OVER"),
    ("CREATE TABLE t (a int) ON [PRIMARY]", "CREATE TABLE … ON"),
    ("CREATE OR ALTER PROCEDURE p AS SELECT 1", "CREATE OR ALTER"),
    ("ALTER USER u WITH DEFAULT_SCHEMA = dbo", "ALTER USER"),
    ("ALTER DATABASE appdb SET SINGLE_USER", "ALTER DATABASE … SET SINGLE_USER"),
    ("ALTER SERVER CONFIGURATION SET PROCESS AFFINITY CPU = AUTO", "ALTER SERVER CONFIGURATION"),
    ("DROP VIEW v", "DROP VIEW"),
    ("CREATE TABLE t (id int IDENTITY(1, 1))", "CREATE TABLE … IDENTITY"),
    ("CREATE TABLE t (price decimal(10, 2))", "A column of type decimal"),
    ("DBCC CHECKDB", "DBCC CHECKDB"),
    ("SET @x = 1", "SET @variable"),
    ("SET SHOWPLAN_XML ON", "SET SHOWPLAN_XML"),
    ("BEGIN TRY SELECT 1 END TRY BEGIN CATCH END CATCH", "BEGIN TRY"),
    ("IF @@TRANCOUNT = 0 BEGIN BEGIN TRAN END", "BEGIN … END"),
    ("SELECT 1; CREATE LOGIN early WITH PASSWORD = 'Xx-12345678'; PRINT 'x'", "The PRINT statement"),
])
def test_valid_tsql_outside_the_subset_is_not_modelled_not_a_syntax_error(sql, what):
    with pytest.raises(E.SqlError) as exc:
        Parser(sql).parse_batch()
    assert exc.value.number == E.NOT_MODELLED and exc.value.klass == 16 and exc.value.batch_abort
    assert exc.value.text.startswith(what) and "is valid T-SQL that the test world does not model" in exc.value.text


@pytest.mark.parametrize("sql", [
    "SET STATISTICS IO, TIME ON",
    "SET NOEXEC, PARSEONLY, FMTONLY OFF",
    "SELECT name FROM sys.databases WHERE database_id BETWEEN 1 AND 4",
    "SELECT LEFT(name, 2), CURRENT_TIMESTAMP, TRY_CONVERT(int, '5') FROM sys.databases",
])
def test_newly_modelled_forms_parse(sql):
    assert Parser(sql).parse_batch()


def test_not_modelled_runs_nothing_of_the_batch(inst):
    res = run(inst, "CREATE LOGIN early WITH PASSWORD = 'Xx-12345678'; PRINT 'x'")
    assert [m[0] for m in res[0].messages] == [E.NOT_MODELLED]
    assert run(inst, "SELECT COUNT(*) FROM sys.server_principals WHERE name = 'early'")[0].sets[0][1] == [[0]]
    res = run(inst, "SELECT name FROM sys.databases WHERE database_id BETWEEN 2 AND 3 ORDER BY database_id")
    assert res[0].sets[0][1] == [["tempdb"], ["model"]]


def test_a_fault_inside_a_statement_is_an_answer_and_a_log_line(inst, monkeypatch):
    """Any exception of the world while a statement runs answers INTERNAL_ERROR for it (the statements before it
    keep their results) and lands in the request log with the exception."""
    from sqlserver import instance as sql_instance
    i = inst[0]

    def broken(self, spec):
        raise KeyError("boom")
    monkeypatch.setattr(sql_instance.Context, "use", broken)
    res = run(inst, "SELECT 1; USE appdb; SELECT 2")
    assert len(res) == 2 and res[0].sets[0][1] == [[1]]
    assert res[1].error and res[1].messages[0][0] == E.INTERNAL_ERROR and "KeyError" in res[1].messages[0][3]
    entry = i.backend.requests[-1]
    assert entry["status"] == E.INTERNAL_ERROR and entry["method"] == "USE" and "boom" in entry["error"]


def test_unclosed_quote():
    with pytest.raises(E.SqlError) as exc:
        Parser("SELECT 'abc").parse_batch()
    assert exc.value.number == 105


def test_bind_named_and_positional():
    params = [{"name": "", "value": 1}, {"name": "@P2", "value": "x"}]
    assert _bind("@P1 int,@P2 nvarchar(10)", params) == {"@p1": 1, "@p2": "x"}


def test_like():
    assert like_to_regex("https://%.blob.core.windows.net/_ackups").match("https://a.blob.core.windows.net/backups")
    assert not like_to_regex("[a-c]%").match("d")


def test_missing_parameter_and_statement_level_errors_continue_the_batch(inst):
    res = run(inst, "SELECT @nope; SELECT 2")
    assert res[0].messages[0][0] == 137 and res[1].sets[0][1] == [[2]]


def test_backup_restore_in_memory(inst):
    i, session = inst
    url = "https://backupacct.blob.core.windows.net/backups"
    run(inst, f"CREATE CREDENTIAL [{url}] WITH IDENTITY = 'Managed Identity'")
    res = run(inst, f"BACKUP DATABASE appdb TO URL = '{url}/a.bak', URL = '{url}/b.bak' WITH STATS = 50")
    assert [m[0] for m in res[0].messages] == [3211, 3211, 4035, 4035, 3014]
    res = run(inst, f"RESTORE DATABASE appdb2 FROM URL = '{url}/a.bak', URL = '{url}/b.bak' WITH "
                    "MOVE 'appdb' TO 'F:\\x.mdf', MOVE 'appdb_log' TO 'G:\\x.ldf'")
    assert not res[0].error, res[0].messages
    assert run(inst, "SELECT label FROM appdb2.dbo.items ORDER BY id DESC")[0].sets[0][1] == [["two"], ["one"]]


def test_sql_logins_pwdcompare_and_restorehistory(inst):
    res = run(inst, "SELECT PWDCOMPARE(@p, password_hash) FROM sys.sql_logins WHERE name = 'operator'",
              {"@p": "Op-Passw0rd!"})
    assert res[0].sets[0][1] == [[1]]
    res = run(inst, "SELECT PWDCOMPARE(N'wrong', password_hash) FROM sys.sql_logins WHERE name = N'operator'")
    assert res[0].sets[0][1] == [[0]]
    url = "https://backupacct.blob.core.windows.net/backups"
    run(inst, f"CREATE CREDENTIAL [{url}] WITH IDENTITY = 'Managed Identity'")
    run(inst, f"BACKUP DATABASE appdb TO URL = '{url}/h.bak'")
    res = run(inst, "RESTORE DATABASE appdb FROM URL = @u WITH REPLACE, RECOVERY, STATS = 10",
              {"@u": f"{url}/h.bak"})
    assert not res[0].error, res[0].messages
    res = run(inst, "SELECT TOP (1) restore_history_id, backup_set_id FROM msdb.dbo.restorehistory "
                    "WHERE destination_database_name = 'appdb' ORDER BY restore_history_id DESC")
    assert res[0].sets[0][1] == [[1, 2]]
    res = run(inst, "SELECT mf.physical_device_name FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily "
                    "AS mf ON mf.media_set_id = bs.media_set_id WHERE bs.backup_set_id = 2")
    assert res[0].sets[0][1] == [[f"{url}/h.bak"]]
