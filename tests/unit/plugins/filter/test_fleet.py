"""The fleet path's filters: targets of the two fleet reads, report entries equal to the per-host path's, and the
per-host plan of backup_ready writes."""
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.sqlvm.backup.plugins.filter import fleet, readiness

ROOT = Path(__file__).resolve().parents[4]
SUB = "11111111-2222-3333-4444-555555555555"
URL = "https://stsqlbackup01.blob.core.windows.net/backups"
LOGINS = [{"name": "SQL DBAs", "server_roles": ["sysadmin"]}]


def _hostvars(**hosts):
    base = {"resource_group": "rg-sql", "subscription_id": SUB, "storage_account": "stsqlbackup01",
            "container_url": URL, "sql_host": "10.0.0.4", "sql_port": 1433, "sql_auth": "sql", "sql_login_user": "sa",
            "sql_login_password": "secret", "backup_ready_logins": LOGINS}
    return {name: dict(base, inventory_hostname=name, **(overrides or {})) for name, overrides in hosts.items()}


def _check(ready, **extra):
    return dict({"ready": ready, "reason": "ok" if ready else "missing"}, **extra)


def _azure(**overrides):
    checks = {name: _check(True) for name in ("sql_vm_resource", "platform", "directory_read", "storage_access")}
    checks["vm_identity"] = _check(True, vm_identity={"system_assigned": True, "user_assigned": []})
    checks["entra_authentication"] = _check(True, primary_client_id="")
    checks.update(overrides)
    return {"checks": checks, "ready": all(c["ready"] for c in checks.values()), "primary_principal_id": "p-1"}


def _sql(credentials=(URL,), logins=("SQL DBAs",), sysadmins=("SQL DBAs", "sa"), supported=True, reasons=()):
    return {"managed_identity_backup_supported": supported, "reasons": list(reasons),
            "instance": {"product_version": "16.0.4185.3", "is_clustered": False},
            "credentials": [{"name": n, "managed_identity": True} for n in credentials],
            "entra_logins": [{"name": n, "type": "entra_group", "enabled": True} for n in logins],
            "sysadmin_members": [{"name": n, "type": "X"} for n in sysadmins]}


def _reads(**hosts):
    """(azure, sql) fleet results: host -> (azure part, sql part)."""
    return ({"changed": False, "hosts": {h: a for h, (a, _s) in hosts.items()}},
            {"changed": False, "hosts": {h: s for h, (_a, s) in hosts.items()}})


def test_targets_take_the_host_variables_as_the_per_host_tasks_do():
    hostvars = _hostvars(vm1={}, vm2={"vm_name": "azvm2", "sql_vm_name": "sqlvm2", "sql_host": "",
                                      "storage_account": ""}, vm3={"sql_version": "16.0.4185.3", "sql_clustered": False})
    targets = fleet.fleet_targets(["vm1", "vm2", "vm3"], hostvars)
    vm1, vm2, vm3 = targets["vms"]
    assert vm1 == {"host": "vm1", "subscription_id": SUB, "resource_group": "rg-sql", "vm_name": "vm1",
                   "sql_vm_name": "vm1", "storage_scope": "/subscriptions/%s/resourceGroups/rg-sql/providers/"
                   "Microsoft.Storage/storageAccounts/stsqlbackup01" % SUB}
    assert (vm2["vm_name"], vm2["sql_vm_name"], "storage_scope" in vm2) == ("azvm2", "sqlvm2", False)
    assert (vm3["sql_version"], vm3["failover_cluster_instance"]) == ("16.0.4185.3", False)
    assert [s["host"] for s in targets["servers"]] == ["vm1", "vm3"]
    assert targets["servers"][0] == {"host": "vm1", "sql_host": "10.0.0.4", "sql_port": 1433, "sql_auth": "sql",
                                     "login_user": "sa", "login_password": "secret",
                                     "odbc_driver": "ODBC Driver 18 for SQL Server", "encrypt": "yes",
                                     "trust_server_certificate": False, "container_url": URL}
    assert targets["problems"] == {}


def test_targets_prefer_the_role_variables_and_the_sql_servers_own_build():
    hostvars = _hostvars(vm1={"backup_ready_resource_group": "rg-other", "backup_ready_storage_scope": "container",
                              "storage_container": "backups", "sql_version": "15.0.1.1"})
    clustered = dict(_sql(), instance={"product_version": "16.0.4185.3", "is_clustered": True})
    _azure_result, sql = _reads(vm1=(None, clustered))
    target = fleet.fleet_targets(["vm1"], hostvars, prefix="backup_ready_", sql=sql)["vms"][0]
    assert target["resource_group"] == "rg-other"
    assert target["storage_scope"].endswith("/storageAccounts/stsqlbackup01/blobServices/default/containers/backups")
    assert "/resourceGroups/rg-other/" in target["storage_scope"]
    assert (target["sql_version"], target["failover_cluster_instance"]) == ("16.0.4185.3", True)


def test_a_host_that_cannot_be_targeted_is_a_problem_not_the_plays_failure():
    hostvars = _hostvars(vm1={}, vm2={"subscription_id": "", "storage_resource_group": ""}, vm3={"resource_group": ""})
    targets = fleet.fleet_targets(["vm1", "vm2", "vm3"], hostvars)
    assert [v["host"] for v in targets["vms"]] == ["vm1"]
    assert "storage_resource_id" in targets["problems"]["vm2"]
    assert "resource_group is empty" in targets["problems"]["vm3"]


def test_entries_equal_the_per_host_paths_and_so_do_the_rows():
    hostvars = _hostvars(vm1={}, vm2={"sql_host": ""}, vm3={})
    azure, sql = _reads(vm1=(_azure(), _sql()), vm2=(_azure(directory_read=_check(False)), None),
                        vm3=(_azure(), {"failed": True, "msg": "Login failed for user 'sa'."}))
    entries = fleet.fleet_entries(["vm1", "vm2", "vm3"], hostvars, azure, sql)
    per_host = []
    for name in ("vm1", "vm2", "vm3"):
        host = dict(hostvars[name], compliance_sqlvm_info=dict(azure["hosts"][name], changed=False))
        host["compliance_sql_info"] = sql["hosts"][name] if hostvars[name]["sql_host"] else {"skipped": True}
        per_host.append(readiness.readiness_entry(host))
    assert readiness.readiness_rows(entries) == readiness.readiness_rows(per_host)
    rows = {(row["vm"], row["step"]): row for row in readiness.readiness_rows(entries)}
    assert rows[("vm3", "logins")]["status"] == "unknown" and "Login failed" in rows[("vm3", "logins")]["reason"]
    assert rows[("vm2", "directory_read")]["status"] == "fail"
    assert rows[("vm2", "logins")]["reason"] == "SQL Server was not queried"


def test_a_failed_fleet_read_or_a_missing_host_is_that_hosts_unknown_rows():
    hostvars = _hostvars(vm1={}, vm2={})
    azure = {"failed": True, "msg": "Signing in to Azure failed"}
    _azure_result, sql = _reads(vm1=(None, _sql()))
    rows = readiness.readiness_rows(fleet.fleet_entries(["vm1", "vm2"], hostvars, azure, sql, {"vm2": "no group"}))
    by = {(row["vm"], row["step"]): row for row in rows}
    assert by[("vm1", "identity")]["status"] == "unknown" and "Signing in" in by[("vm1", "identity")]["reason"]
    assert by[("vm1", "logins")]["status"] == "pass"
    assert by[("vm2", "identity")]["reason"] == "could not read Azure: no group"
    rows = readiness.readiness_rows(fleet.fleet_entries(["vm1"], hostvars, {"hosts": {}}, sql))
    assert rows[0]["status"] == "unknown" and fleet.NOT_READ in rows[0]["reason"]


def _plan(hostvars, **hosts):
    azure, sql = _reads(**hosts)
    return fleet.fleet_plan(list(hosts), hostvars, azure, sql)


def test_a_converged_fleet_needs_no_writer():
    plan = _plan(_hostvars(vm1={}, vm2={}), vm1=(_azure(), _sql()), vm2=(_azure(), _sql()))
    assert plan["writers"] == [] and plan["converged"] == ["vm1", "vm2"] and plan["ineligible"] == {}


@pytest.mark.parametrize("azure, sql, steps", [
    (_azure(vm_identity=_check(False, vm_identity={}), entra_authentication=_check(False)), _sql(),
     ["identity", "directory", "storage"]),
    (_azure(entra_authentication=_check(False)), _sql(), ["identity", "directory", "storage"]),
    (_azure(directory_read=_check(False)), _sql(), ["directory"]),
    (_azure(storage_access=_check(False)), _sql(), ["storage"]),
    (_azure(), _sql(logins=()), ["logins"]),
    (_azure(), _sql(sysadmins=("sa",)), ["logins"]),       # the login exists but is not in sysadmin
    (_azure(), _sql(credentials=()), ["credential"]),
    (_azure(), _sql(credentials=(URL.upper(),)), ["credential"]),  # credential names are case-sensitive
])
def test_a_vm_missing_a_step_needs_only_that_step(azure, sql, steps):
    plan = _plan(_hostvars(vm1={}), vm1=(azure, sql))
    assert plan["steps"] == {"vm1": steps}
    assert plan["writers"] == [{"host": "vm1", "steps": steps,
                                "state": {"sqlvm_info": azure, "sql_info": sql, "steps": steps}}]


@pytest.mark.parametrize("overrides, steps", [
    ({"backup_ready_identity": "uami-a"}, ["identity", "directory", "storage"]),   # named: the module decides
    ({"backup_ready_identity_exclusive": True}, ["identity", "directory", "storage"]),
    ({"backup_ready_logins": [{"name": "SQL DBAs", "server_roles": ["securityadmin"]}]}, ["logins"]),
    ({"backup_ready_logins": [{"name": "gone", "state": "absent"}]}, []),
    ({"backup_ready_logins": [{"name": "SQL DBAs", "state": "absent"}]}, ["logins"]),
    ({"backup_ready_logins": [{"name": "SQL DBAs", "enabled": False}]}, ["logins"]),
    ({"backup_ready_probe": True}, ["probe"]),
    ({"storage_account": ""}, []),
    ({"sql_host": ""}, []),
])
def test_what_the_reads_cannot_show_is_left_to_the_module(overrides, steps):
    plan = _plan(_hostvars(vm1=overrides), vm1=(_azure(), _sql()))
    assert plan["steps"]["vm1"] == steps


def test_ineligible_and_unread_hosts():
    hostvars = _hostvars(old={}, linux={"os_type": "linux"}, gone={}, down={}, strict={"backup_ready_fail_ineligible": True})
    cu16 = _sql(supported=False, reasons=["SQL Server 2022 CU16 is older than CU17"])
    plan = _plan(hostvars, old=(_azure(), cu16), linux=(_azure(), _sql()),
                 gone=(_azure(sql_vm_resource=_check(False, reason="no SQL virtual machine resource")), _sql()),
                 down=(_azure(), {"failed": True, "msg": "Login timeout expired"}), strict=(_azure(), cu16))
    assert plan["ineligible"]["old"] == "SQL Server 2022 CU16 is older than CU17"
    assert "Linux" in plan["ineligible"]["linux"]
    assert plan["ineligible"]["gone"] == "no SQL virtual machine resource"
    writers = {w["host"]: w for w in plan["writers"]}
    assert set(writers) == {"down", "strict"}
    assert writers["down"]["state"] is None and "Login timeout" in plan["unread"]["down"]
    assert writers["strict"]["state"]["steps"] == []


def test_role_defaults_match_the_roles_file():
    defaults = yaml.safe_load((ROOT / "roles" / "backup_ready" / "defaults" / "main.yml").read_text())
    for name, value in fleet.ROLE_DEFAULTS.items():
        assert defaults["backup_ready_" + name] == value, name


def test_every_filter_is_registered_and_documented():
    filters = fleet.FilterModule().filters()
    assert set(filters) == {"fleet_targets", "fleet_entries", "fleet_plan", "fleet_writes",
                            "backup_ready_input_problems", "retention_targets"}
    here = Path(fleet.__file__).parent
    for name in filters:
        doc = yaml.safe_load((here / (name + ".yml")).read_text())
        assert doc["DOCUMENTATION"]["name"] == name
        assert doc["EXAMPLES"] and doc["RETURN"]["_value"]["description"]


def test_a_host_with_bad_role_input_is_not_read_so_the_role_refuses_it_before_anything():
    hostvars = _hostvars(vm1={}, vm2={"container_url": URL + "?sv=2022&sig=secret"},
                         vm3={"backup_ready_logins": [{"name": "SQL DBAs", "roles": ["sysadmin"]}]},
                         vm4={"backup_ready_sql_port": 0})
    targets = fleet.fleet_targets(["vm1", "vm2", "vm3", "vm4"], hostvars, prefix="backup_ready_")
    assert [v["host"] for v in targets["vms"]] == ["vm1"] and [s["host"] for s in targets["servers"]] == ["vm1"]
    assert "backup_ready_container_urls[0]" in targets["problems"]["vm2"] and "secret" not in targets["problems"]["vm2"]
    assert "unknown keys roles" in targets["problems"]["vm3"]
    assert "backup_ready_sql_port" in targets["problems"]["vm4"]
    azure, sql = _reads(vm1=(_azure(), _sql()))
    plan = fleet.fleet_plan(["vm1", "vm2"], hostvars, azure, sql, targets["problems"])
    assert plan["writers"] == [{"host": "vm2", "state": None, "steps": ["read"]}]
    # Compliance reads every host it can: the role's input is not its input.
    assert len(fleet.fleet_targets(["vm1", "vm2", "vm3", "vm4"], hostvars)["vms"]) == 4


def test_backup_ready_input_problems_checks_what_the_role_checked():
    good = {"backup_ready_resource_group": "rg", "backup_ready_vm_name": "vm", "backup_ready_sql_vm_name": "vm",
            "backup_ready_logins": LOGINS, "backup_ready_sql_port": 1433, "backup_ready_container_urls": [URL]}
    assert fleet.backup_ready_input_problems(good) == []
    bad = dict(good, backup_ready_resource_group="", backup_ready_storage_scope="container",
               backup_ready_directory_method="group", backup_ready_subscription_id="nope")
    problems = " ".join(fleet.backup_ready_input_problems(bad))
    for words in ("backup_ready_resource_group (host var resource_group) is empty", "backup_ready_storage_container is empty",
                  "backup_ready_directory_group_id is empty", "backup_ready_subscription_id 'nope'"):
        assert words in problems, problems


def test_retention_targets_one_per_container_longest_days_wins():
    hostvars = _hostvars(
        vm1={"backup_retention_days": 14},
        vm2={"backup_ready_retention_days": "35"},  # role variable first, as text from -e
        vm3={"backup_retention_days": 0},  # leaves retention alone
        vm4={"backup_retention_days": 7, "container_url": URL.replace("/backups", "/archive"),
             "storage_container": "backups-2025", "backup_ready_retention_prefix": "vm4/"})
    targets = fleet.retention_targets(["vm1", "vm2", "vm3", "vm4"], hostvars)
    assert [(t["container"], t["prefix"], t["days"]) for t in targets] == [
        ("archive", "vm4/", 7), ("backups", "", 35), ("backups-2025", "vm4/", 7)]
    backups = targets[1]
    assert backups["asked"] == {"vm1": 14, "vm2": 35}
    assert backups["resource_group"] == "rg-sql" and backups["storage_account"] == "stsqlbackup01"
    assert backups["subscription_id"] == SUB
    assert fleet.retention_targets(["vm3"], hostvars) == []


@pytest.mark.parametrize("overrides, fragment", [
    ({"backup_retention_days": "a week"}, "whole number"),
    ({"backup_retention_days": 7, "storage_account": ""}, "no storage account"),
    ({"backup_retention_days": 7, "container_url": "https://other.blob.core.windows.net/backups"}, "no container"),
])
def test_retention_targets_refuse_what_cannot_be_kept(overrides, fragment):
    with pytest.raises(AnsibleFilterError, match=fragment):
        fleet.retention_targets(["vm1"], _hostvars(vm1=overrides))


def _writes(hostvars, reads, **options):
    plan = fleet.fleet_plan(list(hostvars), hostvars, *_reads(**reads))
    return fleet.fleet_writes(plan, hostvars, **options)


def test_fleet_writes_give_each_host_the_options_the_roles_tasks_would_pass():
    hostvars = _hostvars(fresh={"storage_container": "backups", "backup_ready_storage_scope": "container"},
                         nodir={})
    fresh = _azure(vm_identity=_check(False, vm_identity={}), entra_authentication=_check(False))
    fresh["primary_principal_id"] = None
    writes = _writes(hostvars, {"fresh": (fresh, _sql(credentials=(), logins=())),
                                "nodir": (_azure(directory_read=_check(False)), _sql())})
    entries = {entry["host"]: entry for entry in writes["hosts"]}
    assert writes["role"] == []
    assert entries["fresh"] == {
        "host": "fresh", "steps": ["identity", "directory", "storage", "logins", "credential"],
        "subscription_id": SUB, "resource_group": "rg-sql", "vm_name": "fresh", "sql_vm_name": "fresh",
        "identity": "system", "identity_exclusive": False, "principal_id": None,
        "sql_version": "16.0.4185.3", "failover_cluster_instance": False,
        "directory_method": "directory_role", "directory_group_id": None,
        "storage_account": "stsqlbackup01", "storage_resource_group": "rg-sql", "storage_container": "backups",
        "logins": LOGINS, "container_urls": [URL],
        "sql_host": "10.0.0.4", "sql_port": 1433, "sql_auth": "sql", "login_user": "sa", "login_password": "secret",
        "odbc_driver": "ODBC Driver 18 for SQL Server", "encrypt": "yes", "trust_server_certificate": False}
    # No SQL step: no connection options (and no password) in the entry.
    assert entries["nodir"]["steps"] == ["directory"] and entries["nodir"]["principal_id"] == "p-1"
    assert "login_password" not in entries["nodir"] and entries["nodir"]["storage_container"] is None


@pytest.mark.parametrize("run_tags, skip_tags, steps", [
    (["all"], [], ["directory", "logins"]),
    (["directory"], [], ["directory"]),
    (["logins", "retention"], [], ["logins"]),
    (["all"], ["logins"], ["directory"]),
    (["retention"], [], None),
])
def test_fleet_writes_run_only_the_steps_tags_select(run_tags, skip_tags, steps):
    writes = _writes(_hostvars(vm1={}), {"vm1": (_azure(directory_read=_check(False)), _sql(logins=()))},
                     run_tags=run_tags, skip_tags=skip_tags)
    assert [entry["steps"] for entry in writes["hosts"]] == ([steps] if steps else [])
    assert writes["role"] == []


def test_fleet_writes_leave_the_probe_unread_hosts_and_strict_ineligible_ones_to_the_role():
    hostvars = _hostvars(probe={"backup_ready_probe": True}, down={}, strict={"backup_ready_fail_ineligible": True})
    cu16 = _sql(supported=False, reasons=["SQL Server 2022 CU16 is older than CU17"])
    writes = _writes(hostvars, {"probe": (_azure(), _sql(credentials=())),
                                "down": (_azure(), {"failed": True, "msg": "Login timeout expired"}),
                                "strict": (_azure(), cu16)})
    assert [(entry["host"], entry["steps"]) for entry in writes["hosts"]] == [("probe", ["credential"])]
    role = {entry["host"]: entry for entry in writes["role"]}
    assert role["probe"]["steps"] == ["probe"] and role["probe"]["state"]["steps"] == ["probe"]
    assert role["down"]["state"] is None and role["strict"]["steps"] == []


def test_fleet_writes_without_batching_leave_every_writer_to_the_role():
    hostvars = _hostvars(vm1={})
    reads = {"vm1": (_azure(directory_read=_check(False)), _sql(logins=()))}
    writes = _writes(hostvars, reads, batch=False)
    assert writes["hosts"] == [] and [(w["host"], w["steps"]) for w in writes["role"]] == [("vm1", ["directory", "logins"])]
