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
    routes = [w["text"] for w in sqlworld.writes()]
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
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"], copy_only=True,
                                blob_name_template="other/{database}.bak"), register="other"),
        task("sql_restore", dict(conn, urls="{{ other.backups[0].urls }}", database="app_copy")),
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
    # Same backup again: msdb.dbo.restorehistory shows it is already there - no change.
    assert not result[3]["changed"] and not result[3].failed and not result[3]["statements"]
    # Another backup onto the existing database: never overwritten without being asked.
    assert result[5].failed and "replace: true" in result[5]["msg"]
    assert not [w for w in sqlworld.writes() if w["text"].startswith("RESTORE") and "other/" in str(w)]


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


PREFLIGHT = [("cu14", "unresponsive"), ("cu16", "CU17"), ("linux", "Windows only"), ("fci", "failover cluster")]


def test_preflight_refuses_before_any_write(sqlworld, ansible):
    for vm, _needle in PREFLIGHT:
        sqlworld.pyodbc(vm).cursor().execute("CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % CONTAINER)
    sqlworld.clear_log()
    result = ansible([task("sql_backup", dict(sqlworld.connection(vm=vm), container_url=CONTAINER, databases=["app"]))
                      for vm, _needle in PREFLIGHT])
    for (vm, needle), outcome in zip(PREFLIGHT, result):
        assert outcome.failed and needle in outcome["msg"], (vm, outcome.get("msg"))
        assert outcome["error"]["kind"] == "prerequisite"
    assert sqlworld.writes() == []
    # The documented override lets CU16 through with a warning - never below CU15.
    override = ansible([task("sql_backup", dict(sqlworld.connection(vm=vm), container_url=CONTAINER, databases=["app"],
                                                allow_unsupported_instance=True)) for vm in ("cu16", "cu14")])
    assert override[0]["changed"] and any("CU17" in w for w in override[0]["warnings"])
    assert override[1].failed and "unresponsive" in override[1]["msg"]


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


def test_full_and_log_chain_restored_with_norecovery_then_recovery(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"]), register="full"),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"], type="log"), register="log"),
        task("sql_restore", dict(conn, urls="{{ full.backups[0].urls }}", database="app_pitr", recovery=False)),
        task("sql_restore", dict(conn, urls="{{ log.backups[0].urls }}", database="app_pitr", restore_type="log")),
        task("sql_restore", dict(conn, urls="{{ log.backups[0].urls }}", database="app_pitr", restore_type="log")),
    ])
    assert [t.failed for t in result.tasks[:5]] == [False] * 5, [t.get("msg") for t in result.tasks]
    assert result[2]["backups"][0]["urls"][0].endswith(".trn")
    assert "NORECOVERY" in result[3]["statements"][0] and "WITH RECOVERY" in result[4]["statements"][0]
    assert _rows(sqlworld, "app_pitr") == _rows(sqlworld, "app")
    assert result[5].failed and "RESTORING" in result[5]["msg"]


def test_read_only_restore_modes_change_nothing(sqlworld, ansible):
    conn = sqlworld.connection(driver="msodbc")
    result = ansible([
        task("sql_credential", dict(conn, url=CONTAINER)),
        task("sql_backup", dict(conn, container_url=CONTAINER, databases=["app"], stripes=2), register="b"),
        task("sql_restore", dict(conn, urls="{{ b.backups[0].urls }}", mode="header_only")),
        task("sql_restore", dict(conn, urls="{{ b.backups[0].urls }}", mode="filelist_only")),
        task("sql_restore", dict(conn, urls="{{ b.backups[0].urls }}", mode="verify_only")),
        task("sql_restore", dict(conn, urls="{{ b.backups[0].urls[:1] }}", mode="verify_only")),
    ])
    header, files, verify, partial = result[2], result[3], result[4], result[5]
    assert header["headers"][0]["DatabaseName"] == "app" and not header["changed"]
    assert {f["LogicalName"] for f in files["files"]} >= {"app"} and not files["changed"]
    assert verify["verified"] and not verify["changed"]
    assert partial.failed and "SQL Server error" in partial["msg"]  # one stripe of two is not a backup


def test_direct_statements_get_documented_translations(sqlworld):
    """Errors our modules avoid by checking first, reproduced with plain statements and translated."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors
    conn = sqlworld.pyodbc()
    cursor = conn.cursor()
    cases = [
        ("BACKUP DATABASE [app] TO URL = '%s/nocred.bak'" % CONTAINER, 3201, "sql_credential"),
        ("CREATE LOGIN [ops@contoso.com] FROM EXTERNAL PROVIDER", None, None),
        ("CREATE LOGIN [ops@contoso.com] FROM EXTERNAL PROVIDER", 15025, "already exists"),
        ("CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % CONTAINER, None, None),
        ("BACKUP DATABASE [app] TO URL = '%s/fixed.bak'" % CONTAINER, None, None),
        ("BACKUP DATABASE [app] TO URL = '%s/fixed.bak'" % CONTAINER, 3201, "overwrite: true"),
        ("ALTER LOGIN [SQL Backup Operators] DISABLE", None, None),
    ]
    translated = []
    for statement, number, hint in cases:
        try:
            cursor.execute(statement)
            while cursor.nextset():
                pass
            error = None
        except Exception as exc:  # pyodbc.Error
            error = sql_errors.translate(exc, statement.split(" ", maxsplit=1)[0])
        translated.append(error)
        if number is not None:
            assert error is not None and error.number == number, (statement, error)
            assert hint in error.msg and "Fix:" in error.msg
    conn.close()
    # Disabling a group login: the world answers as SQL Server does; sql_login refuses it before trying.
    assert translated[-1] is not None
