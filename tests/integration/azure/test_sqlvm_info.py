"""sqlvm_info against the world: verdicts agree with the world's own readiness, zero writes."""
from azure_checks import assert_faults_consumed, assert_no_writes, failures

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
    # half in check mode, half not: a read-only module writes nothing either way
    checked = [dict(t, check_mode=True) if i % 2 else t for i, t in enumerate(tasks)]
    result, writes = az.run(checked)
    assert_no_writes(writes)
    assert len(result.tasks) == len(vms), result
    for name, task in zip(vms, result.tasks):
        assert not task.failed, task
        assert task["changed"] is False, (name, dict(task))
        want = expected[name]
        assert task["ready"] is want["ready"], (name, task["checks"])
        assert task["not_ready"] == sorted(c for c, v in task["checks"].items() if not v["ready"]), dict(task)
        for check_name, check in task["checks"].items():
            assert check["reason"].strip(), (name, check_name, check)  # every verdict says why
        if not want["ready"]:
            assert VERDICT_CHECK[want["reason"]] in task["not_ready"], (name, task["not_ready"])


def test_facts_from_sql_server_are_checked_and_unregistered_vms_reported(az):
    result, writes = az.run([
        {"name": "cu16", "sqlvm.backup.sqlvm_info": {"resource_group": "rg-sql", "vm_name": "sqlvm-cu16",
                                                     "sql_version": "16.0.4165.4"}},
        {"name": "fci", "sqlvm.backup.sqlvm_info": {"resource_group": "rg-sql", "vm_name": "sqlvm-fci",
                                                    "failover_cluster_instance": True}},
        {"name": "app-vm", "sqlvm.backup.sqlvm_info": {"resource_group": "rg-sql", "vm_name": "app-vm"}},
    ])
    cu16, fci, app_vm = result.tasks
    assert cu16["ready"] is False and "CU17" in cu16["checks"]["platform"]["reason"], dict(cu16)
    assert fci["ready"] is False and "failover cluster" in fci["checks"]["platform"]["reason"], dict(fci)
    assert not app_vm.failed and app_vm["ready"] is False, dict(app_vm)
    assert app_vm["checks"]["sql_vm_resource"]["ready"] is False
    assert app_vm["not_ready"] == ["sql_vm_resource"], dict(app_vm)
    assert "SQL IaaS Agent" in app_vm["checks"]["sql_vm_resource"]["reason"]
    assert "platform" in cu16["not_ready"] and "platform" in fci["not_ready"], (dict(cu16), dict(fci))
    assert_no_writes(writes)


def test_bad_input_fails_with_zero_writes(az):
    failures(az, "sqlvm_info", [
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "storage_scope": "stsqlbackup01"}, "not an ARM scope"),
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready",
          "storage_scope": "/subscriptions/99999999-1111-2222-3333-444444444444"}, "subscription_id"),
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "sql_version": "2022"}, "ProductVersion"),
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "storage_scope": az.storage_scope("nosuchaccount")},
         "does not exist"),
        ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready",
          "storage_scope": az.storage_scope() + "/blobServices/default/containers"}, "not a complete resource id"),
        ({"resource_group": "rg-sql"}, "vm_name"),
        ({"vm_name": "sqlvm-ready"}, "resource_group"),
    ])


def test_survives_throttling_server_errors_and_connection_resets(az):
    az.admin.inject(path="*/sqlVirtualMachines/sqlvm-ready", method="GET", status=429, retry_after=1, count=1)
    az.admin.inject(path="*/virtualMachines/sqlvm-ready", method="GET", status=500, count=1)
    az.admin.inject(path="*/virtualMachines/sqlvm-ready", method="GET", reset=True, count=1)
    az.admin.inject(service="graph", path="*/transitiveMemberOf", method="GET", status=503, count=1)
    az.admin.inject(service="graph", path="*/transitiveMemberOf", method="GET", reset=True, count=1)
    az.admin.inject(path="*/roleAssignments", method="GET", reset=True, count=1)
    task, writes = az.task("sqlvm_info", {"resource_group": "rg-sql", "vm_name": "sqlvm-ready",
                                          "storage_scope": az.storage_scope(container="backups")})
    assert_faults_consumed(az)
    assert not task.failed and task["ready"] is True, dict(task)  # a swallowed fault would read "not ready"
    assert_no_writes(writes)
