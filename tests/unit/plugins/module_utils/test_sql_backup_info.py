"""sql_backup_info and sql_restore's chains: history from msdb / headers, planning, refusals before any statement."""
import datetime

import pytest

from _sqlfake import instance_answers, session
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup_info as bi
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_restore as sr
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError

C = "https://acct1.blob.core.windows.net/backups"
T = datetime.datetime(2026, 11, 20, 1, 0)


def row(set_id, kind, first, last, minutes, url, checkpoint=None, base=0, copy_only=False, n=1, name="app"):
    moment = T + datetime.timedelta(minutes=minutes)
    return dict(backup_set_id=set_id, database_name=name, server_name="VM1", type=kind, is_copy_only=copy_only,
                first_lsn=first, last_lsn=last, checkpoint_lsn=checkpoint, database_backup_lsn=base,
                backup_start_date=moment, backup_finish_date=moment, family_sequence_number=n,
                physical_device_name=C + "/VM1/app/" + url)


HISTORY = [row(1, "D", 100, 200, 0, "full_1of2.bak", checkpoint=150),
           row(1, "D", 100, 200, 0, "full_2of2.bak", checkpoint=150, n=2),
           row(2, "I", 300, 400, 30, "diff.bak", checkpoint=400, base=150),
           row(3, "L", 100, 500, 40, "log1.trn", base=150),
           row(4, "L", 500, 600, 50, "log2.trn", base=150),
           row(5, "L", 600, 700, 60, "log3.trn", base=150)]
FILES = [dict(LogicalName="app", PhysicalName="F:\\data\\app.mdf", Type="D"),
         dict(LogicalName="app_log", PhysicalName="G:\\log\\app_log.ldf", Type="L")]


def world(history=None, existing=None, restored_from=()):
    history = HISTORY if history is None else history
    return [(r"sys.credentials", [dict(name=C, credential_identity="Managed Identity", create_date=None,
                                       modify_date=None)]),
            *instance_answers(),
            (r"FROM msdb.dbo.backupset AS bs JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id "
             r"WHERE mf.device_type", history),
            (r"FROM sys.databases WHERE name", [existing] if existing else []),
            (r"restorehistory", [dict(restore_history_id=1, backup_set_id=7)] if restored_from else []),
            (r"WHERE bs.backup_set_id = ", [dict(physical_device_name=u) for u in restored_from]),
            (r"RESTORE FILELISTONLY", FILES)]


def info(**kw):
    base = dict(databases=["app"], source="msdb", urls=None, restore_point=None, since=None, storage_suffix=None)
    base.update(kw)
    return base


def test_history_groups_stripes_and_plans_the_chain():
    s, conn = session(world())
    result = bi.read(s, info(restore_point="2026-11-20T01:55:00"))
    assert not result.changed and conn.writes() == []
    backups = result.values["backups"]["app"]
    assert [b["type"] for b in backups] == ["full", "differential", "log", "log", "log"]
    assert backups[0]["urls"] == [C + "/VM1/app/full_1of2.bak", C + "/VM1/app/full_2of2.bak"]
    assert backups[0]["first_lsn"] == "100" and backups[0]["checkpoint_lsn"] == "150"
    assert [b["type"] for b in result.values["chain"]] == ["full", "differential", "log", "log", "log"]
    assert result.values["stopat"] == "2026-11-20T01:55:00" and result.values["chain_problem"] is None
    # The history query names the database as a parameter, never as text.
    sql, params = [entry for entry in conn.log if "backupset" in entry[0]][0]
    assert "'app'" not in sql and params == ("app",)


def test_since_filters_the_list_but_not_the_chain():
    s, _conn = session(world())
    result = bi.read(s, info(since="2026-11-20T01:45:00", restore_point="latest"))
    assert [b["type"] for b in result.values["backups"]["app"]] == ["log", "log"]
    assert result.values["chain"][0]["type"] == "full"


def test_missing_log_in_history_is_a_chain_problem_not_a_failure():
    s, _conn = session(world([r for r in HISTORY if r["backup_set_id"] != 4]))
    result = bi.read(s, info(restore_point="2026-11-20T01:55:00"))
    assert result.values["chain"] == [] and "no log backup holds LSN 500 to 600" in result.values["chain_problem"]


def test_headers_read_each_striped_backup_once():
    headers = {"full": dict(BackupType=1, FirstLSN=100, LastLSN=200, CheckpointLSN=150, DatabaseBackupLSN=0,
                            BackupStartDate=T, BackupFinishDate=T, IsCopyOnly=0, DatabaseName="APP"),
               "log1": dict(BackupType=2, FirstLSN=100, LastLSN=500, CheckpointLSN=0, DatabaseBackupLSN=150,
                            BackupStartDate=T + datetime.timedelta(minutes=40), IsCopyOnly=0, DatabaseName="app"),
               "other": dict(BackupType=1, FirstLSN=1, LastLSN=2, DatabaseName="sales")}

    def answer(sql, params):
        return [headers[params[0].rsplit("/", 1)[1].split("_")[0].split(".")[0]]]
    answers = world() + [(r"RESTORE HEADERONLY", answer)]
    s, conn = session(answers)
    urls = [C + "/x/full_2of2.bak", C + "/x/full_1of2.bak", C + "/x/log1.trn", C + "/x/other.bak"]
    result = bi.read(s, info(source="blobs", urls=urls, restore_point="latest"))
    reads = [params for sql, params in conn.log if sql.startswith("RESTORE HEADERONLY")]
    assert reads[0] == (C + "/x/full_1of2.bak", C + "/x/full_2of2.bak") and len(reads) == 3
    assert [b["type"] for b in result.values["chain"]] == ["full", "log1"[:3]]
    assert any("sales" in w for w in result.warnings) and conn.writes() == []


@pytest.mark.parametrize("kw,match", [
    (dict(databases=[]), "empty"),
    (dict(databases=["app", "APP"]), "twice"),
    (dict(databases=["app\n"]), "control character"),
    (dict(source="blobs"), "needs urls"),
    (dict(urls=[C + "/a.bak"]), "only with source: blobs"),
    (dict(source="blobs", urls=[C + "/a.bak?sig=x"]), "query|password"),
    (dict(source="blobs", urls=[C + "/f_1of3.bak", C + "/f_2of3.bak"]), "every stripe"),
    (dict(restore_point="tomorrow"), "neither 'latest'"),
    (dict(restore_point="2026-11-20T01:00:00Z"), "offset"),
    (dict(since="latest"), "not 'latest'"),
])
def test_info_bad_input_fails_before_any_statement(kw, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match):
        bi.read(s, info(**kw))
    assert conn.log == []


def restore(**kw):
    base = dict(urls=None, chain=None, restore_point=None, source_database=None, history_source="msdb",
                history_urls=None, standby_file=None, database="app_0155", mode="restore", restore_type="database",
                data_path=None, log_path=None, file_moves=None, replace=False, recovery=True, stopat=None,
                checksum=True, storage_suffix=None, allow_unsupported_instance=False)
    base.update(kw)
    return base


def test_restore_point_plans_and_restores_the_chain_in_order():
    s, conn = session(world())
    result = sr.ensure(s, restore(restore_point="2026-11-20T01:55:00", source_database="app"), False)
    writes = conn.writes()
    assert result.changed and len(writes) == 5
    assert writes[0].startswith("RESTORE DATABASE [app_0155] FROM URL = ?, URL = ? WITH MOVE ? TO ?, MOVE ? TO ?, "
                                "NORECOVERY")
    assert writes[1].startswith("RESTORE DATABASE [app_0155] FROM URL = ? WITH NORECOVERY")
    assert all(w.startswith("RESTORE LOG [app_0155]") and "NORECOVERY" in w for w in writes[2:4])
    assert "RECOVERY" in writes[4] and "NORECOVERY" not in writes[4] and "STOPAT = ?" in writes[4]
    last_params = [p for sql, p in conn.log if sql == writes[4]][0]
    assert "2026-11-20T01:55:00" in last_params
    assert result.values["stopat"] == "2026-11-20T01:55:00" and len(result.values["restore_sequence"]) == 5
    assert result.after["restored_from"] == result.values["restore_sequence"]


def test_check_mode_lists_the_backups_and_writes_nothing():
    s, conn = session(world(), check_mode=True)
    result = sr.ensure(s, restore(restore_point="latest", source_database="app", standby_file="F:\\data\\undo.tuf"),
                       True)
    assert result.changed and conn.writes() == [] and len(result.values["statements"]) == 5
    assert "STANDBY = N'F:\\data\\undo.tuf'" in result.values["statements"][-1]
    assert result.after["state"] == "STANDBY"


def test_broken_chain_is_refused_before_any_write():
    s, conn = session(world([r for r in HISTORY if r["backup_set_id"] != 4]))
    with pytest.raises(PrerequisiteError, match="LSN 500 to 600.*Nothing was restored"):
        sr.ensure(s, restore(restore_point="2026-11-20T01:55:00", source_database="app"), False)
    assert conn.writes() == []


def test_existing_database_restored_from_the_chain_is_not_restored_again():
    existing = dict(name="app_0155", state_desc="ONLINE", database_id=9)
    s, conn = session(world(existing=existing, restored_from=[C + "/VM1/app/log3.trn"]))
    result = sr.ensure(s, restore(restore_point="2026-11-20T01:55:00", source_database="app"), False)
    assert not result.changed and conn.writes() == [] and "not restored again" in result.values["msg"]
    s, conn = session(world(existing=existing, restored_from=[C + "/elsewhere.bak"]))
    with pytest.raises(PrerequisiteError, match="replace: true"):
        sr.ensure(s, restore(restore_point="latest", source_database="app"), False)
    assert conn.writes() == []


def test_a_chain_from_sql_backup_info_is_restored_as_given():
    s, _conn = session(world())
    chain = bi.read(s, info(restore_point="2026-11-20T01:35:00")).values
    s, conn = session(world())
    result = sr.ensure(s, restore(chain=chain["chain"], stopat=chain["stopat"], recovery=False), False)
    writes = conn.writes()
    assert [w.split(" [")[0] for w in writes] == ["RESTORE DATABASE", "RESTORE DATABASE", "RESTORE LOG"]
    assert "NORECOVERY" in writes[-1] and "STOPAT" in writes[-1] and result.after["state"] == "RESTORING"


GOOD = [dict(type="full", first_lsn="100", last_lsn="200", checkpoint_lsn="150", database_backup_lsn="0",
             urls=[C + "/f.bak"]),
        dict(type="log", first_lsn="100", last_lsn="300", database_backup_lsn="150", urls=[C + "/l1.trn"])]


@pytest.mark.parametrize("kw,match", [
    (dict(urls=[C + "/a.bak"], chain=GOOD), "give one of"),
    (dict(chain=GOOD, restore_point="latest"), "give one of"),
    (dict(chain=[GOOD[1]]), "starts with a full"),
    (dict(chain=[GOOD[0], dict(GOOD[1], first_lsn="250", last_lsn="400")]), "LSN 200 to 250 are missing"),
    (dict(chain=[GOOD[0], dict(GOOD[1], urls=[])]), "non-empty list"),
    (dict(chain=[GOOD[0], "not a dict"]), "not a dict"),
    (dict(chain=[dict(GOOD[0], type="file")]), "full, differential or log"),
    (dict(chain=[dict(GOOD[0], urls=[C + "/f.bak?sig=x"])]), "query|password"),
    (dict(chain=GOOD, mode="verify_only"), "mode: restore"),
    (dict(chain=GOOD, restore_type="log"), "a chain restores"),
    (dict(chain=[GOOD[0]], stopat="2026-11-20T01:00:00"), "ends with a log"),
    (dict(chain=GOOD, standby_file="undo.tuf"), "absolute"),
    (dict(chain=GOOD, standby_file="F:\\u.tuf", recovery=False), "choose one"),
    (dict(chain=GOOD, database="master"), "system databases"),
    (dict(restore_point="latest"), "needs source_database"),
    (dict(restore_point="2026-11-20"), "without a time"),
    (dict(restore_point="latest", source_database="app", stopat="2026-11-20T01:00:00"), "do not give stopat"),
    (dict(restore_point="latest", source_database="app", history_source="blobs"), "needs history_urls"),
    (dict(restore_point="latest", source_database="app", history_urls=[C + "/a.bak"]), "only with history_source"),
    (dict(chain=GOOD, source_database="app"), "for restore_point"),
    (dict(urls=[C + "/a.bak"], standby_file="F:\\u.tuf"), "for chains"),
])
def test_chain_bad_input_fails_before_any_statement(kw, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match):
        sr.ensure(s, restore(**kw), False)
    assert conn.log == []
