"""Restore chains against the world: full + differential + 3 logs, rows inserted between backups, a point in time
between log 2 and log 3 under a new name, broken chains refused, a second server, HEADERONLY alone, check mode."""
import time

import pytest

from _sqlworld import CONTAINER, task

ROWS = "SELECT id FROM [%s].dbo.orders WHERE id > 100000"


def _insert(sqlworld, *ids):
    conn = sqlworld.pyodbc()
    try:
        for row_id in ids:
            conn.cursor().execute("INSERT INTO [app].dbo.orders (id, name, amount) VALUES (?, ?, ?)",
                                  row_id, "row %d" % row_id, 1)
    finally:
        conn.close()


def _ids(sqlworld, database, vm="vm1"):
    conn = sqlworld.pyodbc(vm)
    try:
        return sorted(r[0] for r in conn.cursor().execute(ROWS % database).fetchall())
    finally:
        conn.close()


def _server_now(sqlworld):
    conn = sqlworld.pyodbc()
    try:
        return conn.cursor().execute("SELECT GETDATE()").fetchone()[0]
    finally:
        conn.close()


def _next_second():
    # Backup blob names and msdb times carry whole seconds: two events in one second are not ordered by them.
    time.sleep(1.1)


@pytest.fixture
def chain_world(sqlworld, ansible):
    """vm1: full, row 1, diff, row 2, log1, row 3, log2, row 4, <point>, row 5, log3. Returns (point, urls by name)."""
    conn = sqlworld.connection()
    ansible([task("sql_credential", dict(conn, url=CONTAINER)),
             task("sql_credential", dict(sqlworld.connection(vm="vm2"), url=CONTAINER))])
    urls = {}

    def backup(kind, name):
        result = ansible([task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"], type=kind))])[0]
        assert result["changed"] and not result.failed, result.get("msg")
        urls[name] = result["backups"][0]["urls"]
        _next_second()

    backup("full", "full")
    _insert(sqlworld, 100001)
    backup("differential", "diff")
    _insert(sqlworld, 100002)
    backup("log", "log1")
    _insert(sqlworld, 100003)
    backup("log", "log2")
    _insert(sqlworld, 100004)
    _next_second()
    point = _server_now(sqlworld).replace(microsecond=0)
    _next_second()
    _insert(sqlworld, 100005)
    backup("log", "log3")
    return point.isoformat(), urls


def test_point_between_log2_and_log3_restores_exactly_the_rows_committed_before_it(sqlworld, ansible, chain_world):
    point, urls = chain_world
    conn = sqlworld.connection()
    planned = ansible([task("sql_backup_info", dict(conn, databases=["app"], restore_point=point))])[0]
    assert planned["chain_problem"] is None, planned["chain_problem"]
    assert [b["type"] for b in planned["chain"]] == ["full", "differential", "log", "log", "log"]
    assert [b["urls"] for b in planned["chain"]] == [urls[n] for n in ("full", "diff", "log1", "log2", "log3")]
    assert planned["stopat"] == point and not planned["changed"]

    sqlworld.clear_log()
    restore = dict(conn, source_database="app", restore_point=point, database="app_at_point")
    check = ansible([task("sql_restore", restore)], check=True, diff=True)[0]
    assert check["changed"] and sqlworld.writes() == [], sqlworld.writes()
    assert len(check["statements"]) == 5 and len(check["diff"]["after"]["restored_from"]) == 5
    assert "STOPAT = N'%s'" % point in check["statements"][-1]

    done = ansible([task("sql_restore", restore)])[0]
    assert done["changed"] and not done.failed, done.get("msg")
    assert _ids(sqlworld, "app_at_point") == [100001, 100002, 100003, 100004]
    assert _ids(sqlworld, "app") == [100001, 100002, 100003, 100004, 100005]
    # Idempotent: the database restored from this chain is not restored again.
    sqlworld.clear_log()
    again = ansible([task("sql_restore", restore)])[0]
    assert not again["changed"] and sqlworld.writes() == [] and "not restored again" in again["msg"]

    latest = ansible([task("sql_restore", dict(restore, restore_point="latest", database="app_latest"))])[0]
    assert latest["changed"] and latest["stopat"] is None
    assert _ids(sqlworld, "app_latest") == [100001, 100002, 100003, 100004, 100005]


def test_a_log_missing_from_history_is_refused_with_the_gap_named_and_nothing_restored(sqlworld, ansible, chain_world):
    point, urls = chain_world
    # msdb lost the record of log 2 (as after sp_delete_backuphistory or a partial msdb restore).
    catalog = sqlworld.handle.instance("vm1").catalog
    log2 = [m["media_set_id"] for m in catalog.mediafamilies if m["physical_device_name"] == urls["log2"][0]][0]
    lost = [b for b in catalog.backupsets if b["media_set_id"] == log2][0]
    catalog.backupsets.remove(lost)
    conn = sqlworld.connection()
    sqlworld.clear_log()
    result = ansible([task("sql_backup_info", dict(conn, databases=["app"], restore_point=point)),
                      task("sql_restore", dict(conn, source_database="app", restore_point=point, database="app_gap"))])
    expected = "no log backup holds LSN %s to %s" % (lost["first_lsn"], lost["last_lsn"])
    assert not result[0].failed and result[0]["chain"] == [] and expected in result[0]["chain_problem"]
    assert result[1].failed and expected in result[1]["msg"] and "Nothing was restored" in result[1]["msg"]
    assert sqlworld.writes() == []
    assert not sqlworld.pyodbc().cursor().execute("SELECT name FROM sys.databases WHERE name = 'app_gap'").fetchall()


def test_a_deleted_log_blob_leaves_a_gap_in_the_headers(sqlworld, ansible, chain_world):
    point, urls = chain_world
    given = [u for name in ("full", "diff", "log1", "log3") for u in urls[name]]  # log2's blob is gone
    sqlworld.clear_log()
    result = ansible([task("sql_restore", dict(sqlworld.connection(vm="vm2"), source_database="app", restore_point=point,
                                               history_source="blobs", history_urls=given, database="app_gap"))])[0]
    assert result.failed and "the log chain breaks after the log backup" in result["msg"], result["msg"]
    assert sqlworld.writes() == []


def test_second_server_restores_from_the_first_servers_history(sqlworld, ansible, chain_world):
    point, _urls = chain_world
    result = ansible([
        task("sql_backup_info", dict(sqlworld.connection(), databases=["app"], restore_point=point), register="plan"),
        task("sql_restore", dict(sqlworld.connection(vm="vm2"), chain="{{ plan.chain }}", stopat="{{ plan.stopat }}",
                                 database="app_from_vm1")),
    ])
    assert result[1]["changed"] and not result[1].failed, result[1].get("msg")
    assert result[1]["files"][0]["physical"].endswith("app_from_vm1.mdf")
    assert _ids(sqlworld, "app_from_vm1", vm="vm2") == [100001, 100002, 100003, 100004]


def test_restore_from_headeronly_alone(sqlworld, ansible, chain_world):
    point, urls = chain_world
    every_blob = [u for name in ("log3", "full", "log1", "diff", "log2") for u in urls[name]]
    vm2 = sqlworld.connection(vm="vm2")
    result = ansible([
        task("sql_backup_info", dict(vm2, databases=["app"], source="blobs", urls=every_blob, restore_point=point),
             register="plan"),
        task("sql_restore", dict(vm2, chain="{{ plan.chain }}", stopat="{{ plan.stopat }}", database="app_from_blobs")),
    ])
    plan = result[0]
    assert plan["source"] == "blobs" and plan["chain_problem"] is None
    assert [b["urls"] for b in plan["chain"]] == [urls[n] for n in ("full", "diff", "log1", "log2", "log3")]
    assert result[1]["changed"], result[1].get("msg")
    assert _ids(sqlworld, "app_from_blobs", vm="vm2") == [100001, 100002, 100003, 100004]


def test_standby_then_norecovery_leave_the_database_restoring_or_read_only(sqlworld, ansible, chain_world):
    point, _urls = chain_world
    conn = sqlworld.connection()
    result = ansible([
        task("sql_restore", dict(conn, source_database="app", restore_point=point, database="app_standby",
                                 standby_file="C:\\data\\app_standby.tuf")),
        task("sql_restore", dict(conn, source_database="app", restore_point=point, database="app_norecovery",
                                 recovery=False)),
    ])
    assert all(r["changed"] and not r.failed for r in result), [r.get("msg") for r in result]
    states = dict(sqlworld.pyodbc().cursor().execute(
        "SELECT name, state_desc FROM sys.databases WHERE name IN ('app_standby', 'app_norecovery')").fetchall())
    assert states == {"app_standby": "ONLINE", "app_norecovery": "RESTORING"}
    assert _ids(sqlworld, "app_standby") == [100001, 100002, 100003, 100004]


BLOB = CONTAINER + "/VM1/app/app_FULL_20261120T010000Z_1of1.bak"
CHAIN = [dict(type="full", first_lsn="100", last_lsn="200", checkpoint_lsn="100", database_backup_lsn="0", urls=[BLOB])]
BAD = [
    ("sql_backup_info", dict(databases=[]), "empty"),
    ("sql_backup_info", dict(databases=["app", "APP"]), "twice"),
    ("sql_backup_info", dict(databases=["app"], source="blobs"), "needs urls"),
    ("sql_backup_info", dict(databases=["app"], urls=[BLOB]), "only with source: blobs"),
    ("sql_backup_info", dict(databases=["app"], restore_point="yesterday"), "neither 'latest'"),
    ("sql_backup_info", dict(databases=["app"], restore_point="2026-11-20T01:00:00Z"), "offset"),
    ("sql_backup_info", dict(databases=["app"], source="blobs", urls=[BLOB + "?sig=x"]), "query"),
    ("sql_backup_info", dict(databases=["app"], source="blobs",
                             urls=[CONTAINER + "/a_1of2.bak"]), "every stripe"),
    ("sql_restore", dict(urls=[BLOB], chain=CHAIN, database="n"), "give one of"),
    ("sql_restore", dict(database="n"), "give urls"),
    ("sql_restore", dict(restore_point="latest", database="n"), "needs source_database"),
    ("sql_restore", dict(chain=[dict(CHAIN[0], type="log")], database="n"), "starts with a full"),
    ("sql_restore", dict(chain=CHAIN + [dict(type="log", first_lsn="300", last_lsn="400", urls=[BLOB + "x"])],
                         database="n"), "LSN 200 to 300 are missing"),
    ("sql_restore", dict(chain=CHAIN, database="n", stopat="2026-11-20T01:00:00"), "ends with a log"),
    ("sql_restore", dict(chain=CHAIN, database="n", standby_file="relative.tuf"), "absolute"),
    ("sql_restore", dict(restore_point="latest", source_database="app", database="n", history_source="blobs"),
     "needs history_urls"),
    ("sql_restore", dict(restore_point="2026-11-20", source_database="app", database="n"), "without a time"),
]


def test_bad_chain_inputs_fail_before_any_statement(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([task(module, dict(conn, **options)) for module, options, _needle in BAD])
    assert len(result) == len(BAD) >= 10
    for (module, options, needle), outcome in zip(BAD, result):
        assert outcome.failed and needle.lower() in outcome["msg"].lower(), (module, options, outcome.get("msg"))
        assert outcome["error"]["kind"] == "invalid_input", outcome["msg"]
    assert sqlworld.backend.requests == []


def test_no_secret_in_verbose_output_of_a_chain_restore(sqlworld, ansible, chain_world):
    point, _urls = chain_world
    password = sqlworld.connection()["login_password"]
    conn = sqlworld.connection(login_password="{{ sa_password }}")
    result = ansible([
        task("sql_backup_info", dict(conn, databases=["app"], restore_point=point)),
        task("sql_restore", dict(conn, source_database="app", restore_point=point, database="app_verbose")),
    ], verbosity=3, diff=True, extra_vars=dict(sa_password=password))
    assert result[1]["changed"], result[1].get("msg")
    assert password not in result.output and all(password not in str(dict(t)) for t in result.tasks)
