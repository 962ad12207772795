"""sql_restore: MOVE computation, refusals, modes, check mode."""
import pytest

from _sqlfake import instance_answers, session
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_restore as sr
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError

C = "https://acct1.blob.core.windows.net/backups"
URLS = [C + "/app_1of2.bak", C + "/app_2of2.bak"]
FILES = [dict(LogicalName="app", PhysicalName="F:\\data\\app.mdf", Type="D"),
         dict(LogicalName="app_2", PhysicalName="F:\\data\\app_2.ndf", Type="D"),
         dict(LogicalName="app_log", PhysicalName="G:\\log\\app_log.ldf", Type="L")]


def params(**kw):
    base = dict(urls=URLS, database="app_copy", mode="restore", restore_type="database", data_path=None, log_path=None,
                file_moves=None, replace=False, recovery=True, stopat=None, checksum=False, storage_suffix=None,
                allow_unsupported_instance=False)
    base.update(kw)
    return base


def world(existing=None, restored_from=()):
    return [(r"sys.credentials", [dict(name=C, credential_identity="Managed Identity", create_date=None,
                                       modify_date=None)]),
            *instance_answers(),
            (r"FROM sys.databases WHERE name", [existing] if existing else []),
            (r"restorehistory", [dict(restore_history_id=1, backup_set_id=7)] if restored_from else []),
            (r"WHERE bs.backup_set_id = ", [dict(physical_device_name=u) for u in restored_from]),
            (r"RESTORE FILELISTONLY", FILES),
            (r"RESTORE HEADERONLY", [dict(BackupType=1, DatabaseName="app", FirstLSN=1, LastLSN=2)])]


def test_restore_under_new_name_moves_every_file():
    s, conn = session(world(), check_mode=True)
    result = sr.ensure(s, params(), True)
    assert result.changed and conn.writes() == []
    assert result.values["files"] == [dict(logical="app", physical="F:\\data\\app_copy.mdf"),
                                      dict(logical="app_2", physical="F:\\data\\app_copy_app_2.ndf"),
                                      dict(logical="app_log", physical="G:\\log\\app_copy_app_log.ldf")]
    assert result.values["statements"][0].startswith("RESTORE DATABASE [app_copy] FROM URL = N'%s'" % URLS[0])


def test_given_paths_and_moves():
    s, conn = session(world())
    sr.ensure(s, params(data_path="/var/opt/mssql/data", log_path="/var/opt/mssql/log",
                        file_moves={"app_2": "/mnt/x/two.ndf"}), False)
    sql, p = [(q, p) for q, p in conn.log if q.startswith("RESTORE DATABASE")][0]
    assert p[2:] == ("app", "/var/opt/mssql/data/app_copy.mdf", "app_2", "/mnt/x/two.ndf",
                     "app_log", "/var/opt/mssql/log/app_copy_app_log.ldf")
    assert "REPLACE" not in sql and "RECOVERY" in sql


def test_existing_database_is_refused_unless_replace():
    s, conn = session(world(existing=dict(name="app_copy", state_desc="ONLINE", database_id=9)))
    with pytest.raises(PrerequisiteError, match="replace: true"):
        sr.ensure(s, params(), False)
    assert conn.writes() == []
    s, conn = session(world(existing=dict(name="app_copy", state_desc="ONLINE", database_id=9)))
    result = sr.ensure(s, params(replace=True), False)
    assert "REPLACE" in result.values["statements"][0]


def test_second_restore_from_same_urls_is_no_change():
    s, conn = session(world(existing=dict(name="app_copy", state_desc="ONLINE", database_id=9), restored_from=URLS))
    result = sr.ensure(s, params(), False)
    assert not result.changed and conn.writes() == []


def test_header_only_and_verify_only_change_nothing():
    s, conn = session(world())
    result = sr.ensure(s, params(mode="header_only", database=None), False)
    assert not result.changed and result.values["headers"][0]["DatabaseName"] == "app"
    s, conn = session(world())
    assert sr.ensure(s, params(mode="verify_only", database=None), False).values["verified"]


def test_log_restore_needs_restoring_database():
    s, conn = session(world(existing=dict(name="app_copy", state_desc="ONLINE", database_id=9)))
    with pytest.raises(PrerequisiteError, match="RESTORING"):
        sr.ensure(s, params(restore_type="log"), False)


@pytest.mark.parametrize("kw,match", [
    (dict(urls=[]), "empty"),
    (dict(urls=[C + "/x%d.bak" % i for i in range(65)]), "at most 64"),
    (dict(urls=[URLS[0], URLS[0]]), "twice"),
    (dict(urls=[C + "/a.bak", "https://acct2.blob.core.windows.net/backups/b.bak"]), "several containers"),
    (dict(urls=["http://acct1.blob.core.windows.net/backups/a.bak"]), "https"),
    (dict(urls=[C]), "names no blob"),
    (dict(urls=[C + "/a.bak?sv=x"]), "query"),
    (dict(database=None), "needs database"),
    (dict(database="master"), "system databases"),
    (dict(database="x" * 129), "128"),
    (dict(data_path="relative/dir"), "absolute"),
    (dict(file_moves={"app": "rel.mdf"}), "absolute"),
    (dict(stopat="yesterday"), "date and time"),
    (dict(database="msdb "), "blanks"),
    (dict(database=" msdb"), "blanks"),
    (dict(database="app\r\n"), "control character"),
    (dict(database="../../Windows/app"), "path separator"),
    (dict(database="..\\..\\app"), "path separator"),
    (dict(database="C:app"), "path separator"),
    (dict(database="a..b"), "path separator"),
    (dict(data_path="F:\\data\\..\\..\\Windows"), "absolute"),
    (dict(file_moves={"app": "F:\\data\\..\\x.mdf"}), "absolute"),
    (dict(urls=[C + "/a.bak\n"]), "control character"),
    (dict(urls=["https://admin:pw@acct1.blob.core.windows.net/backups/a.bak"]), "user name or password"),
])
def test_bad_input_fails_before_any_statement(kw, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match):
        sr.ensure(s, params(**kw), False)
    assert conn.log == []


def test_unknown_logical_name_in_file_moves():
    s, conn = session(world())
    with pytest.raises(InvalidInputError, match="does not have"):
        sr.ensure(s, params(file_moves={"nope": "F:\\x.mdf"}), False)
    assert conn.writes() == []


def test_a_logical_name_with_a_path_separator_needs_file_moves():
    files = [dict(LogicalName="..\\..\\evil", PhysicalName="C:\\x.mdf", Type="D")]
    with pytest.raises(InvalidInputError, match="file_moves"):
        sr.compute_moves(files, "n", dict(default_data_path="F:\\data"), dict(file_moves=None))
    moves = sr.compute_moves(files, "n", dict(default_data_path="F:\\data"),
                             dict(file_moves={"..\\..\\evil": "F:\\data\\n.mdf"}))
    assert moves == [("..\\..\\evil", "F:\\data\\n.mdf")]
