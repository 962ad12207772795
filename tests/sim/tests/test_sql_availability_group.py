"""A two-replica availability group ("Offload supported backups to secondary replicas of an availability
group", "sys.fn_hadr_backup_is_preferred_replica (Transact-SQL)", "sys.availability_groups"), driven through
pyodbc with the statements a DBA types on each replica."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver.fixtures import azurite  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.service import reset_sql_service, start_sql_service, stop_sql_service  # noqa: E402
from sqlserver.testing import SA_PASSWORD, azurite_backend_class, build_backend, connect  # noqa: E402

pyodbc = pytest.importorskip("pyodbc")
CONTAINER = "https://backupacct.blob.core.windows.net/backups"
PRIMARY, SECONDARY, OUTSIDE = "vm-ready", "vm-nodirread", "vm-noprimary"


@pytest.fixture(scope="module")
def ag_handle(azurite):
    backend = build_backend(azurite_backend_class(azurite))
    azurite.create_container("backupacct", "backups")
    group = {"name": "ag-sql", "automated_backup_preference": "secondary", "databases": ["appdb"]}
    backend.vms[PRIMARY]["sql"]["availability_group"] = dict(group, role="primary", backup_priority=50)
    backend.vms[SECONDARY]["sql"]["availability_group"] = dict(group, role="secondary", backup_priority=50)
    handle = start_sql_service(backend)
    yield handle
    stop_sql_service(handle)


@pytest.fixture
def ag(ag_handle):
    reset_sql_service(ag_handle)
    for vm in (PRIMARY, SECONDARY):
        sa(ag_handle, vm).execute(f"CREATE CREDENTIAL [{CONTAINER}] WITH IDENTITY = 'Managed Identity'")
    return ag_handle


def sa(handle, vm):
    return connect("msodbc18", handle.ports[vm], "sa", SA_PASSWORD).cursor()


def run(cur, sql):
    cur.execute(sql)
    while cur.nextset():
        pass


def preferred(cur, db="appdb"):
    return cur.execute("SELECT sys.fn_hadr_backup_is_preferred_replica(?)", db).fetchone()[0]


def test_catalog_views_and_serverproperty_describe_the_group(ag):
    p, s, o = sa(ag, PRIMARY), sa(ag, SECONDARY), sa(ag, OUTSIDE)
    for cur in (p, s):
        assert cur.execute("SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int)").fetchone()[0] == 1
        row = cur.execute("SELECT name, automated_backup_preference, automated_backup_preference_desc "
                          "FROM sys.availability_groups").fetchone()
        assert tuple(row) == ("ag-sql", 2, "SECONDARY")
        assert [tuple(r) for r in cur.execute("SELECT replica_server_name, backup_priority FROM sys.availability_replicas "
                                              "ORDER BY replica_server_name")] == [("VM-NODIRREAD", 50), ("VM-READY", 50)]
    assert o.execute("SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int)").fetchone()[0] == 0
    assert o.execute("SELECT COUNT(*) FROM sys.availability_groups").fetchone()[0] == 0
    local = ("SELECT ar.replica_server_name, rs.role_desc FROM sys.dm_hadr_availability_replica_states rs "
             "JOIN sys.availability_replicas ar ON ar.replica_id = rs.replica_id WHERE rs.is_local = 1")
    assert tuple(p.execute(local).fetchone()) == ("VM-READY", "PRIMARY")
    assert tuple(s.execute(local).fetchone()) == ("VM-NODIRREAD", "SECONDARY")
    ag_dbs = ("SELECT d.name FROM sys.databases d JOIN sys.dm_hadr_database_replica_states drs "
              "ON drs.database_id = d.database_id WHERE drs.is_local = 1")
    assert [r[0] for r in p.execute(ag_dbs)] == ["appdb"]
    assert p.execute("SELECT COUNT(*) FROM sys.databases WHERE replica_id IS NOT NULL").fetchone()[0] == 1
    assert [p.execute("SELECT sys.fn_hadr_is_primary_replica('appdb')").fetchone()[0],
            s.execute("SELECT sys.fn_hadr_is_primary_replica('appdb')").fetchone()[0]] == [1, 0]


def test_preferred_backup_replica_follows_the_preference(ag):
    p, s, o = sa(ag, PRIMARY), sa(ag, SECONDARY), sa(ag, OUTSIDE)
    assert (preferred(p), preferred(s)) == (0, 1)      # prefer secondary
    # databases outside any group: always 1; a database that does not exist: 0 (2022 CU2 and later)
    assert (preferred(p, "AdventureWorks"), preferred(o), preferred(o, "nosuchdb")) == (1, 1, 0)


def test_backups_on_the_secondary_copy_only_full_and_log_one_chain(ag):
    p, s = sa(ag, PRIMARY), sa(ag, SECONDARY)
    run(p, f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/ag/full.bak' WITH FORMAT")
    for sql, what in ((f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/ag/s_full.bak' WITH FORMAT", "full"),
                      (f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/ag/s_diff.bak' WITH FORMAT, DIFFERENTIAL", "diff"),
                      (f"BACKUP LOG appdb TO URL = '{CONTAINER}/ag/s_log0.bak' WITH FORMAT, COPY_ONLY", "log")):
        with pytest.raises(pyodbc.Error, match=r"This BACKUP or RESTORE command is not supported on a database "
                                               r"mirror or secondary replica\. \(3059\)"):
            run(s, sql)
    run(s, f"BACKUP DATABASE appdb TO URL = '{CONTAINER}/ag/s_copy.bak' WITH FORMAT, COPY_ONLY")
    p.execute("INSERT INTO appdb.dbo.items (id, label) VALUES (3, 'three')")
    assert [r[0] for r in s.execute("SELECT id FROM appdb.dbo.items ORDER BY id")] == [1, 2, 3]   # readable
    with pytest.raises(pyodbc.Error, match=r"\(3906\)"):
        s.execute("INSERT INTO appdb.dbo.items (id, label) VALUES (4, 'four')")
    run(s, f"BACKUP LOG appdb TO URL = '{CONTAINER}/ag/s_log1.bak' WITH FORMAT")
    p.execute("INSERT INTO appdb.dbo.items (id, label) VALUES (4, 'four')")
    run(p, f"BACKUP LOG appdb TO URL = '{CONTAINER}/ag/p_log2.bak' WITH FORMAT")
    # each replica's msdb has its own backups; the log chain runs across both
    log1 = s.execute("SELECT first_lsn, last_lsn FROM msdb.dbo.backupset WHERE type = 'L'").fetchone()
    log2 = p.execute("SELECT first_lsn, last_lsn FROM msdb.dbo.backupset WHERE type = 'L'").fetchone()
    assert log1.last_lsn == log2.first_lsn
    # RESTORE onto an availability database is refused; under another name the chain restores
    with pytest.raises(pyodbc.Error, match=r"has joined an availability group.*\(3104\)"):
        run(p, f"RESTORE DATABASE appdb FROM URL = '{CONTAINER}/ag/full.bak' WITH REPLACE")
    run(p, f"RESTORE DATABASE appdb_r FROM URL = '{CONTAINER}/ag/full.bak' WITH NORECOVERY, "
           "MOVE 'appdb' TO 'F:\\data\\appdb_r.mdf', MOVE 'appdb_log' TO 'G:\\log\\appdb_r.ldf'")
    run(p, f"RESTORE LOG appdb_r FROM URL = '{CONTAINER}/ag/s_log1.bak' WITH NORECOVERY")
    run(p, f"RESTORE LOG appdb_r FROM URL = '{CONTAINER}/ag/p_log2.bak' WITH RECOVERY")
    assert [r[0] for r in p.execute("SELECT id FROM appdb_r.dbo.items ORDER BY id")] == [1, 2, 3, 4]


def test_preference_primary_and_priority_zero(ag_handle):
    """Other preferences come from the primary's subtree; backup_priority 0 never backs up."""
    inst_p, inst_s = ag_handle.instances[PRIMARY], ag_handle.instances[SECONDARY]
    saved = dict(inst_p.spec["availability_group"]), dict(inst_s.spec["availability_group"])
    try:
        inst_p.spec["availability_group"]["automated_backup_preference"] = "primary"
        reset_sql_service(ag_handle)
        assert (preferred(sa(ag_handle, PRIMARY)), preferred(sa(ag_handle, SECONDARY))) == (1, 0)
        inst_p.spec["availability_group"]["automated_backup_preference"] = "secondary"
        inst_s.spec["availability_group"]["backup_priority"] = 0
        reset_sql_service(ag_handle)   # no secondary may back up: prefer secondary falls back to the primary
        assert (preferred(sa(ag_handle, PRIMARY)), preferred(sa(ag_handle, SECONDARY))) == (1, 0)
        inst_p.spec["availability_group"]["automated_backup_preference"] = "secondary_only"
        reset_sql_service(ag_handle)
        assert (preferred(sa(ag_handle, PRIMARY)), preferred(sa(ag_handle, SECONDARY))) == (0, 0)
    finally:
        inst_p.spec["availability_group"], inst_s.spec["availability_group"] = saved
        reset_sql_service(ag_handle)


def test_the_availability_group_scenario_inside_the_running_world(tmp_path):
    """tests/sim/scenarios/availability-group.yml through simctl: the preferred replica backs up to the
    world's storage with its managed identity; the primary is not preferred."""
    import yaml
    from tests.sim.fixtures import running_world
    scenario = Path(__file__).resolve().parents[1] / "scenarios" / "availability-group.yml"
    with running_world(tmp_path, scenario=str(scenario)) as world:
        hosts = yaml.safe_load(open(world.env["SIM_INVENTORY"]))["all"]["children"]["sql_vms"]["hosts"]
        cur = {vm: connect("msodbc18", hosts[vm]["sql_port"], "sa", SA_PASSWORD).cursor()
               for vm in ("sqlvm-ag1", "sqlvm-ag2")}
        assert (preferred(cur["sqlvm-ag1"]), preferred(cur["sqlvm-ag2"])) == (0, 1)
        container = "https://stsqlbackup01.blob.core.windows.net/backups"
        for c in cur.values():
            run(c, f"CREATE CREDENTIAL [{container}] WITH IDENTITY = 'Managed Identity'")
        run(cur["sqlvm-ag2"], f"BACKUP DATABASE appdb TO URL = '{container}/ag/appdb_copy.bak' WITH COPY_ONLY")
        run(cur["sqlvm-ag1"], f"BACKUP DATABASE appdb TO URL = '{container}/ag/appdb_full.bak'")
        run(cur["sqlvm-ag2"], f"BACKUP LOG appdb TO URL = '{container}/ag/appdb_log.bak'")
        assert cur["sqlvm-ag2"].execute("SELECT COUNT(*) FROM msdb.dbo.backupset").fetchone()[0] == 2


@pytest.mark.parametrize("change, where", [
    ({"role": "leader"}, "availability_group.role"),
    ({"backup_priority": 101}, "availability_group.backup_priority"),
    ({"automated_backup_preference": "anywhere"}, "availability_group.automated_backup_preference"),
])
def test_the_scenario_loader_refuses_a_bad_availability_group_key(change, where):
    import yaml
    from tests.sim.azsim.scenario import ScenarioError, normalise
    raw = yaml.safe_load(open(Path(__file__).resolve().parents[1] / "scenarios" / "availability-group.yml"))
    raw["subscriptions"][0]["resource_groups"][0]["vms"][1]["sql"]["availability_group"].update(change)
    with pytest.raises(ScenarioError, match=where):
        normalise(raw)
