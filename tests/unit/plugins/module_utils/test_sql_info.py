"""sql_info.gather: the whole report from one batch (one round trip), mapped by result-set position."""
import datetime

from _sqlfake import instance_answers, session

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_info

URL = "https://acct1.blob.core.windows.net/backups"


def _answers(flags=()):
    return instance_answers() + [
        (r"FROM sys\.credentials", [dict(name=URL, credential_identity="Managed Identity", create_date=None,
                                         modify_date=None)]),
        (r"type IN \('E', 'X'\)", [dict(name="SQL DBAs", type="X", is_disabled=False),
                                   dict(name="ops@contoso.com", type="E", is_disabled=True)]),
        (r"r\.name = 'sysadmin'", [dict(name="SQL DBAs", type="X"), dict(name="sa", type="S")]),
        (r"msdb\.dbo\.backupset", [
            dict(database_name="app", type="D", backup_finish_date=datetime.datetime(2026, 1, 2, 3, 4, 5)),
            dict(database_name="app", type="D", backup_finish_date=datetime.datetime(2026, 1, 1))]),
        (r"DBCC TRACESTATUS", [dict(TraceFlag=flag, Status=1, Global=1, Session=0) for flag in flags]),
    ]


def test_gather_is_one_round_trip_and_maps_every_result_set():
    sql, conn = session(_answers(flags=[4675]))
    report = sql_info.gather(sql, container_url=URL)
    assert len(conn.log) == 1 and conn.writes() == []
    assert report["instance"]["login_name"] == "sa" and report["instance"]["host_platform"] == "Windows"
    assert report["credentials"][0]["name"] == URL and report["credentials"][0]["managed_identity"]
    assert report["entra_logins"] == [dict(name="SQL DBAs", type="entra_group", enabled=True),
                                      dict(name="ops@contoso.com", type="entra", enabled=False)]
    assert report["entra_sysadmins"] == ["SQL DBAs"]
    assert report["last_url_backups"] == {"app": {"full": "2026-01-02T03:04:05"}}
    assert report["trace_flags"] == {"4675": {"status": True, "global": True}}
    assert report["ready"] and report["managed_identity_backup_supported"]


def test_gather_without_a_trace_flag_result_set():
    # DBCC TRACESTATUS(-1) may answer no result set when no flag is on: the others keep their positions.
    answers = [answer for answer in _answers() if "DBCC" not in answer[0]]
    sql, _conn = session(answers)
    report = sql_info.gather(sql, container_url=URL)
    assert report["trace_flags"] == {} and report["entra_sysadmins"] == ["SQL DBAs"]
