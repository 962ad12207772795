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
    ("DELETE FROM sys.databases", 156, "DELETE"),
    ("SELECT 1 UNION SELECT 2", 156, "UNION"),
    ("CREATE TABLE t (a int)", 156, "TABLE"),
])
def test_syntax_errors(sql, number, near):
    with pytest.raises(E.SqlError) as exc:
        Parser(sql).parse_batch()
    assert exc.value.number == number and f"'{near}'" in exc.value.text


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
