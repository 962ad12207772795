"""sql_backup and sql_info in availability groups: the pure preferred-replica / secondary decisions, and the reads
(only when SERVERPROPERTY('IsHadrEnabled') says a group can exist)."""
import pytest

from _sqlfake import session
from test_sql_backup import params, world
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup as sb
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_info
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import PrerequisiteError

PRIMARY = dict(availability_group="ag-sql", automated_backup_preference="SECONDARY", is_primary_replica=True,
               is_preferred_backup_replica=False)
SECONDARY = dict(PRIMARY, is_primary_replica=False, is_preferred_backup_replica=True)


def decide(availability, backup_type="full", copy_only=False, any_replica=False):
    return sb.availability_decision("app", availability, backup_type, copy_only, any_replica, server="SQLVM1")


@pytest.mark.parametrize("backup_type", ["full", "differential", "log"])
def test_outside_a_group_every_backup_runs_as_asked(backup_type):
    assert decide(None, backup_type) == dict(action="backup", copy_only=False, note=None)
    assert decide(None, backup_type, copy_only=True)["copy_only"] is True


@pytest.mark.parametrize("backup_type", ["full", "differential", "log"])
def test_a_replica_that_is_not_preferred_skips_and_says_so(backup_type):
    decision = decide(PRIMARY, backup_type)
    assert decision["action"] == "skip"
    assert "this replica (SQLVM1) is not the preferred backup replica of 'app' in availability group ag-sql" \
        in decision["reason"]
    assert "automated backup preference SECONDARY" in decision["reason"] and "backup_on_any_replica" in decision["reason"]
    # not preferred on a secondary either: a skip, not a refusal (the preferred replica backs it up)
    assert decide(dict(SECONDARY, is_preferred_backup_replica=False), backup_type)["action"] == "skip"


def test_the_override_backs_up_on_the_primary_as_asked():
    assert decide(PRIMARY, "differential", any_replica=True) == dict(action="backup", copy_only=False, note=None)


def test_a_full_on_a_secondary_is_made_copy_only_and_says_why():
    decision = decide(SECONDARY, "full")
    assert decision["action"] == "backup" and decision["copy_only"] is True
    assert "COPY_ONLY" in decision["note"] and "secondary replica" in decision["note"]
    # asked for COPY_ONLY already: nothing to explain
    assert decide(SECONDARY, "full", copy_only=True) == dict(action="backup", copy_only=True, note=None)


def test_a_log_on_a_secondary_is_a_normal_log_backup():
    assert decide(SECONDARY, "log") == dict(action="backup", copy_only=False, note=None)


@pytest.mark.parametrize("backup_type, copy_only, match", [
    ("differential", False, "does not support differential backups on secondary replicas"),
    ("differential", True, "does not support differential backups on secondary replicas"),
    ("log", True, "not COPY_ONLY ones"),
])
def test_what_a_secondary_cannot_do_is_refused(backup_type, copy_only, match):
    with pytest.raises(PrerequisiteError, match=match):
        decide(SECONDARY, backup_type, copy_only=copy_only)
    with pytest.raises(PrerequisiteError, match=match):  # the override does not make it possible
        decide(dict(SECONDARY, is_preferred_backup_replica=False), backup_type, copy_only=copy_only, any_replica=True)


def _ag_world(availability_rows, hadr="1"):
    return [(r"IsHadrEnabled", [dict(is_hadr_enabled=hadr)]),
            (r"fn_hadr_backup_is_preferred_replica", availability_rows)] + world()


def _row(preferred, primary):
    return dict(database_name="app", group_name="ag-sql", automated_backup_preference="SECONDARY",
                is_primary_replica=primary, is_preferred_backup_replica=preferred)


def test_plan_skips_on_the_primary_with_no_write_and_a_skipped_reason():
    sql, conn = session(_ag_world([_row(0, 1)]))
    result = sb.ensure(sql, params(), check_mode=False)
    assert not result.changed and conn.writes() == []
    assert result.values["backups"] == [] and "not the preferred backup replica" in result.values["skipped_reason"]
    assert result.values["skipped_databases"][0]["availability_group"] == "ag-sql"


def test_plan_on_the_secondary_backs_up_copy_only_in_check_mode_without_writing():
    sql, conn = session(_ag_world([_row(1, 0)]), check_mode=True)
    result = sb.ensure(sql, params(), check_mode=True)
    assert result.changed and conn.writes() == []
    assert "COPY_ONLY" in result.values["statements"][0]
    backup = result.values["backups"][0]
    assert (backup["copy_only"], backup["replica_role"], backup["availability_group"]) == (True, "SECONDARY", "ag-sql")
    assert any("COPY_ONLY" in w for w in result.warnings) and result.values["skipped_reason"] is None


def test_a_differential_on_a_secondary_is_refused_before_any_write():
    sql, conn = session(_ag_world([_row(1, 0)]))
    with pytest.raises(PrerequisiteError, match="differential"):
        sb.ensure(sql, params(type="differential"), check_mode=False)
    assert conn.writes() == []


def test_without_hadr_the_group_reads_are_not_made():
    sql, conn = session(_ag_world([_row(0, 1)], hadr="0"))
    result = sb.ensure(sql, params(), check_mode=True)
    assert result.changed and not any("fn_hadr" in entry[0] for entry in conn.log)
    assert "COPY_ONLY" not in result.values["statements"][0] and result.values["skipped_reason"] is None


def test_sql_info_reports_groups_only_when_hadr_is_enabled():
    rows = [(r"IsHadrEnabled", [dict(is_hadr_enabled="1")]),
            (r"dm_hadr_availability_replica_states", [dict(
                name="ag-sql", automated_backup_preference_desc="SECONDARY", replica_server_name="SQLVM2",
                backup_priority=50, role_desc="SECONDARY", synchronization_health_desc="HEALTHY")]),
            (r"fn_hadr_backup_is_preferred_replica", [_row(1, 0)])]
    sql, conn = session(rows + world())
    report = sql_info.gather(sql)
    assert report["is_hadr_enabled"] is True and len(conn.log) == 2 and conn.writes() == []
    assert report["availability_groups"] == [dict(
        name="ag-sql", role="SECONDARY", synchronization_health="HEALTHY", automated_backup_preference="SECONDARY",
        replica_server_name="SQLVM2", backup_priority=50, databases=["app"])]
    assert report["availability_databases"] == {"app": dict(
        availability_group="ag-sql", automated_backup_preference="SECONDARY", is_primary_replica=False,
        is_preferred_backup_replica=True)}
    sql, conn = session(world())
    report = sql_info.gather(sql)
    assert (report["is_hadr_enabled"], report["availability_groups"], report["availability_databases"]) == \
        (False, [], {})
    assert len(conn.log) == 1


def test_sql_info_without_view_server_state_still_reports_the_availability_databases():
    rows = [(r"IsHadrEnabled", [dict(is_hadr_enabled="1")]), (r"fn_hadr_backup_is_preferred_replica", [_row(1, 0)])]
    denied = [(r"dm_hadr_availability_replica_states",
               (300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'."))]
    sql, conn = session(rows + world(), failures=denied)
    result = sql_info.read(sql, {})
    assert result.values["availability_groups"] == [] and conn.writes() == []
    assert result.values["availability_databases"]["app"]["is_preferred_backup_replica"] is True
    assert "warnings" not in result.values and any("VIEW SERVER STATE" in w for w in result.warnings)
