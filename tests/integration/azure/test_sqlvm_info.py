"""sqlvm_info against the world: verdicts agree with the world's own readiness, zero writes."""
import pytest

from azure_checks import assert_no_writes, failures

VERDICT_CHECK = {  # the world's reason -> the check that must be the (first) one not ready
    "no_identity": "vm_identity",
    "entra_auth_disabled": "entra_authentication",
    "no_storage_role": "storage_access",
    "no_directory_read": "directory_read",
    "sql_version_unsupported": "platform",
    "os_not_supported": "platform",
}


def test_every_scenario_vm_gets_the_worlds_verdict(az):
    expected = az.admin.readiness()
    vms = [name for name in expected if name.startswith("sqlvm-") and name not in ("sqlvm-cu16", "sqlvm-fci")]
    state = az.state()
    tasks = []
    for name in vms:
        backup = state["vms"][name].get("backup") or {}
        tasks.append({"name": name, "sqlvm.backup.sqlvm_info": {
            "resource_group": "rg-sql", "vm_name": name,
            "storage_scope": az.storage_scope(backup.get("storage_account", "stsqlbackup01"), backup.get("container"))}})
    result, writes = az.run(tasks, check=True)
    assert_no_writes(writes)
    for name, task in zip(vms, result.tasks):
        assert not task.failed, task
        want = expected[name]
        assert task["ready"] is want["ready"], (name, task["checks"])
        if not want["ready"]:
            assert VERDICT_CHECK[want["reason"]] in task["not_ready"], (name, task["not_ready"])


@pytest.mark.parametrize("vm, facts, reason", [
    ("sqlvm-cu16", {"sql_version": "16.0.4165.4"}, "CU17"),
    ("sqlvm-fci", {"failover_cluster_instance": True}, "failover cluster"),
])
def test_facts_from_sql_server_are_checked(az, vm, facts, reason):
    args = dict(resource_group="rg-sql", vm_name=vm, **facts)
    task, writes = az.task("sqlvm_info", args)
    assert task["ready"] is False and reason in task["checks"]["platform"]["reason"]
    assert_no_writes(writes)


def test_bad_input_fails_with_zero_writes(az):
    failures(az, "sqlvm_info", [
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "storage_scope": "stsqlbackup01"}, "not an ARM scope"),
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready",
          "storage_scope": "/subscriptions/99999999-1111-2222-3333-444444444444"}, "subscription_id"),
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "sql_version": "2022"}, "build number"),
        ({"resource_group": "rg-sql"}, "vm_name"),
        ({"vm_name": "sqlvm-ready"}, "resource_group"),
    ])


def test_unregistered_vm_is_reported_not_failed(az):
    task, writes = az.task("sqlvm_info", {"resource_group": "rg-sql", "vm_name": "app-vm"})
    assert not task.failed and task["ready"] is False
    assert task["checks"]["sql_vm_resource"]["ready"] is False
    assert_no_writes(writes)
