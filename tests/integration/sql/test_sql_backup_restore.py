"""sql_credential, sql_backup, sql_restore, sql_info through ansible-playbook against the world."""
import pytest

from _sqlworld import CONTAINER, task

SAS = "sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=Zm9vYmFyYmF6cXV4c2VjcmV0"


def _rows(sqlworld, database):
    conn = sqlworld.pyodbc()
    try:
        return sorted(tuple(r) for r in conn.cursor().execute("SELECT id, name, amount FROM [%s].dbo.orders" % database))
    finally:
        conn.close()


def test_credential_four_ways_and_validation(sqlworld, ansible):
    options = dict(sqlworld.connection(driver="msodbc"), url=CONTAINER, validate=False)
    play = [task("sql_credential", options)]
    check = ansible(play, check=True, diff=True)[0]
    assert check["changed"] and sqlworld.writes() == [] and check["diff"]["after"]["identity"] == "Managed Identity"
    real = ansible(play)[0]
    assert real["changed"] and real["credential"]["name"] == CONTAINER
    sqlworld.clear_log()
    assert not ansible(play, check=True)[0]["changed"]
    assert not ansible(play)[0]["changed"] and sqlworld.writes() == []
    validated = ansible([task("sql_credential", dict(options, validate=True))])[0]
    assert validated["validated"] and not validated["changed"]
    routes = [w["route"] for w in sqlworld.writes()]
    assert routes[0] == "DBCC TRACEON(4675, -1)" and routes[-1] == "DBCC TRACEOFF(4675, -1)"


def test_validate_reports_missing_primary_identity_now(sqlworld, ansible):
    result = ansible([task("sql_credential", dict(sqlworld.connection(vm="nopri"), url=CONTAINER, validate=True))])[0]
    assert result.failed and result["error"]["number"] == 37563
    assert "sqlvm_identity" in result["msg"]
    flags = sqlworld.pyodbc("nopri").cursor().execute("DBCC TRACESTATUS(4675, -1) WITH NO_INFOMSGS").fetchall()
    assert not flags or not flags[0][2]  # trace flag back off


@pytest.mark.parametrize("driver", ["freetds", "msodbc"])
def test_backup_then_restore_under_new_name_brings_every_row_back(sqlworld, ansible, driver):
    conn = sqlworld.connection(driver=driver)
    result = ansible([
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"], stripes=3, verify=True),
             register="backup"),
        task("sql_restore", dict(conn, urls="{{ backup.backups[0].urls }}", database="app_copy")),
        task("sql_restore", dict(conn, urls="{{ backup.backups[0].urls }}", database="app_copy")),
    ])
    backup = result[1]
    assert not backup.failed, backup["msg"] if backup.failed else ""
    entry = backup["backups"][0]
    assert entry["stripes"] == 3 and len(entry["urls"]) == 3 and entry["verified"]
    assert entry["last_lsn"] and entry["backup_size"] and entry["messages"]
    assert all(u.startswith(CONTAINER + "/VM1/app/app_FULL_") for u in entry["urls"])
    restore = result[2]
    assert restore["changed"] and [f["physical"] for f in restore["files"]][0].endswith("app_copy.mdf")
    assert _rows(sqlworld, "app_copy") == _rows(sqlworld, "app") and len(_rows(sqlworld, "app")) == 500
    assert result[3].failed and "replace: true" in result[3]["msg"]  # never overwrites without being asked


def test_check_mode_backup_returns_statements_and_runs_nothing(sqlworld, ansible):
    conn = sqlworld.connection()
    ansible([task("sql_credential", dict(conn, url=CONTAINER))])
    sqlworld.clear_log()
    result = ansible([task("sql_backup", dict(conn, container_url=CONTAINER, all_user_databases=True, type="log"))],
                     check=True)[0]
    assert result["changed"] and sqlworld.writes() == []
    assert result["statements"][0].startswith("BACKUP LOG [app] TO URL = N'%s/VM1/app/app_LOG_" % CONTAINER)
    assert {s["database"]: s["reason"] for s in result["skipped_databases"]}["simple"].startswith("SIMPLE")
    assert sqlworld.backend.stores == {} or not any(s.blobs for s in sqlworld.backend.stores.values())


def test_skip_if_recent_makes_second_run_a_no_op(sqlworld, ansible):
    conn = sqlworld.connection()
    backup = dict(conn, container_url=CONTAINER, databases=["app"], skip_if_backed_up_within=60)
    first = ansible([task("sql_credential", dict(conn, url=CONTAINER)), task("sql_backup", backup)])
    assert first[1]["changed"]
    sqlworld.clear_log()
    second = ansible([task("sql_backup", backup)])[0]
    assert not second["changed"] and sqlworld.writes() == [] and second["skipped_databases"][0]["database"] == "app"


@pytest.mark.parametrize("vm,needle", [("cu14", "unresponsive"), ("cu16", "CU17"), ("linux", "Windows only"),
                                       ("fci", "failover cluster")])
def test_preflight_refuses_before_any_write(sqlworld, ansible, vm, needle):
    conn = sqlworld.connection(vm=vm)
    sqlworld.pyodbc(vm).cursor().execute(
        "CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % CONTAINER)
    sqlworld.clear_log()
    result = ansible([task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"]))])[0]
    assert result.failed and needle in result["msg"]
    assert sqlworld.writes() == []


def test_documented_storage_errors_are_translated(sqlworld, ansible):
    for vm in ("nopri", "norole"):
        sqlworld.pyodbc(vm).cursor().execute("CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % CONTAINER)
    result = ansible([
        task("sql_backup", dict(sqlworld.connection(vm="nopri"), container_url=CONTAINER, databases=["app"])),
        task("sql_backup", dict(sqlworld.connection(vm="norole"), container_url=CONTAINER, databases=["app"])),
        task("sql_backup", dict(sqlworld.connection(), container_url=CONTAINER, databases=["app"])),
        task("sql_login", dict(sqlworld.connection(login_password="wrong-password"), name="x")),
    ])
    assert result[0]["error"]["number"] == 37563 and "sqlvm_identity" in result[0]["msg"]
    assert result[1]["error"]["number"] == 3201 and "Storage Blob Data Contributor" in result[1]["msg"]
    assert result[2].failed and "sql_credential" in result[2]["msg"]  # no credential: explained before BACKUP
    assert result[3]["error"]["number"] == 18456 and "'sa'" in result[3]["msg"]


def test_restore_over_files_in_use_is_translated(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"]), register="backup"),
        task("sql_restore", dict(conn, urls="{{ backup.backups[0].urls }}", database="app_other",
                                 file_moves={"app": "F:\\data\\app.mdf", "app_log": "G:\\log\\app_log.ldf"})),
    ])
    error = result[2]
    assert error.failed and error["error"]["number"] in (1834, 3156)
    assert "MOVE" in error["msg"] and "Fix:" in error["msg"]


def test_info_reports_readiness(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([
        task("sql_info", dict(conn, container_url=CONTAINER)),
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_login", dict(conn, name="ops@contoso.com", server_roles=["sysadmin"])),
        task("sql_info", dict(conn, container_url=CONTAINER)),
        task("sql_info", dict(sqlworld.connection(vm="linux"))),
    ])
    before, after, linux = result[0], result[3], result[4]
    assert not before["ready"] and any("credential" in r for r in before["reasons"])
    assert after["ready"], after["reasons"]
    assert after["managed_identity_backup_supported"] and after["instance"]["product_version"] == "16.0.4175.1"
    assert "ops@contoso.com" in after["entra_sysadmins"]
    assert after["credentials"][0]["name"] == CONTAINER and "secret" not in str(after["credentials"]).lower()
    assert not linux["managed_identity_backup_supported"] and not linux["changed"]
