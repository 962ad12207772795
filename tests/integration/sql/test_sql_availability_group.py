"""Availability groups against the world: two replicas of one group (automated backup preference SECONDARY, as in
tests/sim/scenarios/availability-group.yml). sql_info on both replicas; sql_backup backs up on the preferred replica
and skips the other; backup_on_any_replica makes the secondary's full COPY_ONLY; log backups from both replicas form
one chain that sql_backup_info plans and sql_restore restores; check mode writes nothing; bad input is refused before
any statement."""
import pytest

from _sqlworld import CONTAINER, SA_PASSWORD, SqlWorld, task
from tests.sim.sqlserver.backend import FakeBackend
from tests.sim.sqlserver.service import start_sql_service, stop_sql_service

PRIMARY, SECONDARY, OUTSIDE = "ag1", "ag2", "solo"
GROUP = {"name": "ag-sql", "automated_backup_preference": "secondary", "databases": ["appdb"]}


def _ag_backend():
    vms = {}
    for key in (PRIMARY, SECONDARY, OUTSIDE):
        sql = {"sa_password": SA_PASSWORD, "machine_name": key.upper(),
               "databases": [{"name": "appdb", "size_mb": 64,
                              "tables": {"items": {"columns": [["id", "int"], ["label", "nvarchar(50)"]],
                                                   "rows": [[1, "one"]]}}},
                             {"name": "local", "size_mb": 8}]}
        if key != OUTSIDE:
            sql["availability_group"] = dict(GROUP, role="primary" if key == PRIMARY else "secondary",
                                             backup_priority=50)
        vms[key] = {"name": key, "sql": sql}
    backend = FakeBackend(vms=vms)
    for n, key in enumerate(vms):
        mi = backend.add_principal("servicePrincipal", key, "cccccccc-0000-0000-0000-%012d" % n,
                                   app_id="dddddddd-0000-0000-0000-%012d" % n)
        backend.directory_readers.add(mi["object_id"])
        backend.primary[key] = mi
        backend.blob_contributors.add((mi["object_id"], "acct1", None))
    return backend


@pytest.fixture(scope="module")
def _ag_world():
    backend = _ag_backend()
    handle = start_sql_service(backend)
    try:
        yield SqlWorld(backend, handle)
    finally:
        stop_sql_service(handle)


@pytest.fixture
def agworld(_ag_world, ansible):
    _ag_world.reset()
    ansible([task("sql_credential", dict(_ag_world.connection(vm=vm), url=CONTAINER))
             for vm in (PRIMARY, SECONDARY, OUTSIDE)])
    _ag_world.clear_log()
    return _ag_world


def _backup(agworld, vm, **options):
    return task("sql_backup", dict(agworld.connection(vm=vm), container_url=CONTAINER, databases=["appdb"], **options))


def test_sql_info_reports_the_group_on_both_replicas_and_nothing_elsewhere(agworld, ansible):
    primary, secondary, outside = ansible([task("sql_info", agworld.connection(vm=vm))
                                           for vm in (PRIMARY, SECONDARY, OUTSIDE)])
    for result, role, preferred in ((primary, "PRIMARY", False), (secondary, "SECONDARY", True)):
        assert not result.failed, result.get("msg")
        assert result["is_hadr_enabled"] is True
        assert result["availability_groups"] == [dict(
            name="ag-sql", role=role, synchronization_health="HEALTHY", automated_backup_preference="SECONDARY",
            replica_server_name="AG1" if role == "PRIMARY" else "AG2", backup_priority=50, databases=["appdb"])]
        assert result["availability_databases"] == {"appdb": dict(
            availability_group="ag-sql", automated_backup_preference="SECONDARY",
            is_primary_replica=role == "PRIMARY", is_preferred_backup_replica=preferred)}
    assert not outside.failed, outside.get("msg")
    assert (outside["is_hadr_enabled"], outside["availability_groups"], outside["availability_databases"]) == \
        (False, [], {})
    assert agworld.writes() == []


def test_sql_backup_backs_up_on_the_preferred_replica_and_skips_the_other(agworld, ansible):
    on_primary, on_secondary = ansible([_backup(agworld, PRIMARY), _backup(agworld, SECONDARY)])
    assert not on_primary.failed and not on_primary["changed"], on_primary.get("msg")
    assert on_primary["backups"] == [] and on_primary["statements"] == []
    assert "not the preferred backup replica" in on_primary["skipped_reason"] and "AG1" in on_primary["skipped_reason"]
    assert on_primary["skipped_databases"][0]["database"] == "appdb"
    assert on_primary["skipped_databases"][0]["availability_group"] == "ag-sql"
    assert not on_secondary.failed and on_secondary["changed"], on_secondary.get("msg")
    made = on_secondary["backups"][0]
    # The preferred replica is the secondary: its full is COPY_ONLY, as SQL Server requires there, and says why.
    assert (made["copy_only"], made["is_copy_only"], made["replica_role"]) == (True, True, "SECONDARY")
    assert "COPY_ONLY" in made["copy_only_reason"] and any("COPY_ONLY" in w for w in on_secondary["warnings"])
    assert on_secondary["skipped_reason"] is None
    backups = [w for w in agworld.writes() if w["text"].startswith("BACKUP")]
    assert [(w["vm"], "COPY_ONLY" in w["text"]) for w in backups] == [(SECONDARY, True)]


def test_backup_on_any_replica_backs_up_on_the_primary_too(agworld, ansible):
    on_primary = ansible([_backup(agworld, PRIMARY, backup_on_any_replica=True)])[0]
    assert on_primary["changed"] and not on_primary.failed, on_primary.get("msg")
    made = on_primary["backups"][0]
    assert (made["copy_only"], made["is_copy_only"], made["replica_role"]) == (False, False, "PRIMARY")
    assert "copy_only_reason" not in made


def test_check_mode_predicts_skip_and_copy_only_and_writes_nothing(agworld, ansible):
    on_primary, on_secondary, log_secondary = ansible(
        [_backup(agworld, PRIMARY), _backup(agworld, SECONDARY), _backup(agworld, SECONDARY, type="log")], check=True)
    assert not on_primary["changed"] and "not the preferred backup replica" in on_primary["skipped_reason"]
    assert on_secondary["changed"] and on_secondary["backups"][0]["copy_only"] is True
    assert "COPY_ONLY" in on_secondary["statements"][0]
    # No full backup exists yet: the log backup is predicted (SQL Server would answer 4214 at run time).
    assert log_secondary["changed"] and "COPY_ONLY" not in log_secondary["statements"][0]
    assert agworld.writes() == []


BAD = [
    (dict(type="differential"), "does not support differential backups on secondary replicas"),
    (dict(type="differential", backup_on_any_replica=True), "does not support differential backups on secondary"),
    (dict(type="differential", copy_only=True), "does not support differential backups on secondary replicas"),
    (dict(type="log", copy_only=True), "not COPY_ONLY ones"),
    # a database outside the group does not make the task partly run: the refusal comes before any backup
    (dict(databases=None, all_user_databases=True, type="differential"), "differential backups on secondary"),
    (dict(backup_on_any_replica="sometimes"), "unable to convert to bool"),
]


@pytest.mark.parametrize("options, match", BAD)
def test_what_a_secondary_cannot_do_is_refused_before_any_statement(agworld, ansible, options, match):
    databases = options.pop("databases", ["appdb"])
    body = dict(agworld.connection(vm=SECONDARY), container_url=CONTAINER, **options)
    if databases:
        body["databases"] = databases
    result = ansible([task("sql_backup", body)])[0]
    assert result.failed and match in result["msg"], result.get("msg")
    assert agworld.writes() == []


def test_a_differential_on_a_primary_that_is_not_preferred_is_skipped_not_refused(agworld, ansible):
    result = ansible([_backup(agworld, PRIMARY, type="differential")])[0]
    assert not result.failed and not result["changed"] and result["skipped_reason"], result.get("msg")
    assert agworld.writes() == []


def test_log_backups_from_both_replicas_form_one_chain_that_restores(agworld, ansible):
    full = ansible([_backup(agworld, PRIMARY, backup_on_any_replica=True)])[0]
    assert full["changed"] and not full.failed, full.get("msg")
    conn = agworld.pyodbc(PRIMARY)
    try:
        conn.cursor().execute("INSERT INTO appdb.dbo.items (id, label) VALUES (2, 'two')")
        log1 = ansible([_backup(agworld, SECONDARY, type="log")])[0]
        conn.cursor().execute("INSERT INTO appdb.dbo.items (id, label) VALUES (3, 'three')")
        log2 = ansible([_backup(agworld, PRIMARY, type="log", backup_on_any_replica=True)])[0]
    finally:
        conn.close()
    assert log1["changed"] and log2["changed"], (log1.get("msg"), log2.get("msg"))
    assert (log1["backups"][0]["copy_only"], log1["backups"][0]["replica_role"]) == (False, "SECONDARY")
    assert log1["backups"][0]["last_lsn"] == log2["backups"][0]["first_lsn"]
    # Each replica keeps its own msdb: the primary's history lacks log 1, so its plan names the gap ...
    plan = dict(agworld.connection(vm=PRIMARY), databases=["appdb"], restore_point="latest")
    primary_plan = ansible([task("sql_backup_info", plan)])[0]
    assert "no log backup holds LSN %s" % full["backups"][0]["last_lsn"] in primary_plan["chain_problem"], primary_plan
    # ... and restoring from the blobs themselves (RESTORE HEADERONLY) finds the whole chain across both replicas.
    urls = [u for r in (full, log1, log2) for u in r["backups"][0]["urls"]]
    restored = ansible([task("sql_restore", dict(agworld.connection(vm=OUTSIDE), database="appdb_copy",
                                                 source_database="appdb", restore_point="latest",
                                                 history_source="blobs", history_urls=urls))])[0]
    assert restored["changed"] and not restored.failed, restored.get("msg")
    conn = agworld.pyodbc(OUTSIDE)
    try:
        assert [r[0] for r in conn.cursor().execute("SELECT id FROM appdb_copy.dbo.items ORDER BY id")] == [1, 2, 3]
    finally:
        conn.close()


def test_sql_fleet_info_returns_the_group_per_replica_as_sql_info_does(agworld, ansible):
    defaults = agworld.connection(vm=PRIMARY)
    for per_server in ("sql_host", "sql_port"):
        defaults.pop(per_server)
    servers = [dict(host=vm, sql_host="127.0.0.1", sql_port=agworld.port(vm)) for vm in (PRIMARY, SECONDARY, OUTSIDE)]
    fleet = ansible([task("sql_fleet_info", dict(defaults, servers=servers))])[0]
    assert not fleet.failed, fleet.get("msg")
    hosts = fleet["hosts"]
    assert [hosts[vm]["availability_groups"][0]["role"] for vm in (PRIMARY, SECONDARY)] == ["PRIMARY", "SECONDARY"]
    assert [hosts[vm]["availability_databases"]["appdb"]["is_preferred_backup_replica"]
            for vm in (PRIMARY, SECONDARY)] == [False, True]
    assert (hosts[OUTSIDE]["is_hadr_enabled"], hosts[OUTSIDE]["availability_groups"]) == (False, [])
    assert agworld.writes() == []
