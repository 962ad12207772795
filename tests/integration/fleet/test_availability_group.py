"""backup_ready.yml and backup.yml on both replica hosts of an availability group (tests/sim/scenarios/
availability-group.yml: the group prefers the secondary): backup_ready converges the credential on every replica,
and backup.yml backs each database up once, on the preferred replica, and reports the other as skipped."""
from pathlib import Path

import pytest

from _fleet import Fleet

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "tests" / "sim" / "scenarios" / "availability-group.yml"
PRIMARY, SECONDARY = "sqlvm-ag1", "sqlvm-ag2"
# The scenario's sa password (tests/sim/sqlserver/README.md) and no extra logins: its directory holds no principals.
SCENARIO_VARS = {"sql_login_password": "Sim-Passw0rd!", "backup_ready_logins": []}


def query(fleet, vm, sql):
    from tests.sim.sqlserver.testing import connect

    connection = connect("freetds", fleet.hostvars()[vm]["sql_port"], user="sa",
                         password=SCENARIO_VARS["sql_login_password"], encrypt="yes")
    try:
        return [tuple(row) for row in connection.cursor().execute(sql).fetchall()]
    finally:
        connection.close()


@pytest.fixture(scope="module")
def _ag_world(tmp_path_factory):
    from tests.sim.fixtures import running_world

    with running_world(tmp_path_factory.mktemp("ag-world"), scenario=str(SCENARIO)) as world:
        yield world


@pytest.fixture
def ag_fleet(_ag_world, tmp_path, tmp_path_factory):
    _ag_world.admin.reset()
    return Fleet(_ag_world, tmp_path, cache_dir=tmp_path_factory.getbasetemp() / "ag-cache")


def test_backup_yml_on_every_replica_backs_each_database_up_once(ag_fleet):
    ready = ag_fleet.play("backup_ready.yml", extra_vars=SCENARIO_VARS)
    assert ready.rc == 0, ready.output[-4000:]
    # The credential (and the logins) converge on every replica host, as on any host.
    for vm in (PRIMARY, SECONDARY):
        assert query(ag_fleet, vm, "SELECT COUNT(*) FROM sys.credentials WHERE credential_identity = "
                                   "'Managed Identity'") == [(1,)]

    dry = ag_fleet.play("backup.yml", check=True, extra_vars=dict(SCENARIO_VARS, backup_databases=["appdb"]))
    assert dry.rc == 0 and dry.writes == [], dry
    assert [r["result"]["changed"] for r in dry.tasks(host=PRIMARY, action="sql_backup")] == [False]
    assert [r["result"]["changed"] for r in dry.tasks(host=SECONDARY, action="sql_backup")] == [True]

    run = ag_fleet.play("backup.yml", extra_vars=dict(SCENARIO_VARS, backup_databases=["appdb"]))
    assert run.rc == 0, run
    on_primary = run.tasks(host=PRIMARY, action="sql_backup")[0]["result"]
    on_secondary = run.tasks(host=SECONDARY, action="sql_backup")[0]["result"]
    assert not on_primary["changed"] and on_primary["backups"] == []
    assert "not the preferred backup replica" in on_primary["skipped_reason"]
    assert run.tasks(host=PRIMARY, name="Report the databases left to their preferred backup replica")[0]["status"] == "ok"
    assert on_secondary["changed"] and [b["copy_only"] for b in on_secondary["backups"]] == [True]
    backups = [w for w in run.writes if w.get("service") == "tds" and w.get("method") == "BACKUP DATABASE"]
    assert [w.get("vm") for w in backups] == [SECONDARY], backups
    assert run.recap[PRIMARY]["failed"] == 0 and run.recap[SECONDARY]["failed"] == 0


def test_backup_yml_refuses_a_backup_on_any_replica_that_is_not_a_bool_before_any_request(ag_fleet):
    run = ag_fleet.play("backup.yml", extra_vars=dict(SCENARIO_VARS, backup_on_any_replica="perhaps"))
    assert run.rc != 0 and run.recap[PRIMARY]["failed"] == 1 and run.recap[SECONDARY]["failed"] == 1, run
    assert "backup_on_any_replica" in run.output and run.requests == [], run
