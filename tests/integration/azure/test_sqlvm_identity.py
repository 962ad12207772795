"""sqlvm_identity against the world: four ways, prerequisites, faults, AWX environment."""
from azure_checks import (
    assert_faults_consumed,
    assert_no_writes,
    failures,
    four_way,
    raise_if_write_not_replayed,
)

RG = "rg-sql"


def test_system_assigned_identity_four_ways(az):
    first, real = four_way(az, "sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-fresh"})
    assert first["diff"]["before"]["entra_authentication"]["enabled"] is False
    assert first["diff"]["after"]["entra_authentication"]["primary_client_id"] == ""
    state = az.state()
    system = state["vms"]["sqlvm-fresh"]["identities"]["system"]
    assert real["principal_id"] == system["principal_id"]
    assert real["tenant_id"] == state["tenant_id"]
    assert state["vms"]["sqlvm-fresh"]["primary_identity"]["kind"] == "system"
    assert [c["action"] for c in real["changes"]] == ["attach", "set_primary"], real["changes"]
    assert real["changes"][0]["identities"] == ["system"]


def test_user_assigned_identity_is_added_and_made_primary_without_removing_others(az):
    uami = az.uami("uami-sqlbackup")
    first, task = four_way(az, "sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-noentra",
                                                  "user_assigned": ["uami-sqlbackup"]})
    # check mode predicts the user-assigned identity's client id from the identity resource itself
    assert first["diff"]["after"]["entra_authentication"]["primary_client_id"] == uami["client_id"], first["diff"]
    assert task["client_id"] == uami["client_id"] and task["principal_id"] == uami["principal_id"]
    identities = az.state()["vms"]["sqlvm-noentra"]["identities"]
    assert identities["system"] is not None  # not removed: exclusive is false
    assert az.state()["vms"]["sqlvm-noentra"]["primary_identity"]["client_id"] == uami["client_id"]


def test_other_identities_stay_attached_unless_exclusive(az):
    before = az.state()["vms"]["sqlvm-2025"]["identities"]
    assert before["system"] and [u["name"] for u in before["user_assigned"]] == ["uami-2025"]
    task, writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-2025",
                                              "user_assigned": ["uami-sqlbackup"]})
    assert task["changed"] is True, task
    after = az.state()["vms"]["sqlvm-2025"]["identities"]
    assert after["system"]["principal_id"] == before["system"]["principal_id"]
    assert sorted(u["name"] for u in after["user_assigned"]) == ["uami-2025", "uami-sqlbackup"]
    assert az.state()["vms"]["sqlvm-2025"]["primary_identity"]["client_id"] == az.uami("uami-sqlbackup")["client_id"]
    patches = [w for w in writes if w["method"] == "PATCH"]
    assert len(patches) == 1, writes


def test_exclusive_detaches_the_others(az):
    task, _writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-2025",
                                               "user_assigned": ["uami-2025"], "exclusive": True})
    assert task["changed"] is True, task
    identities = az.state()["vms"]["sqlvm-2025"]["identities"]
    assert identities["system"] is None
    assert [u["name"] for u in identities["user_assigned"]] == ["uami-2025"]


def test_prerequisites_fail_with_zero_writes(az):
    failures(az, "sqlvm_identity", [
        ({"resource_group": RG, "vm_name": "sqlvm-2019"}, "SQL Server 2019"),
        ({"resource_group": RG, "vm_name": "sqlvm-linux"}, "Windows only"),
        ({"resource_group": RG, "vm_name": "sqlvm-cu16", "sql_version": "16.0.4165.4"}, "CU17"),
        ({"resource_group": RG, "vm_name": "sqlvm-fci", "failover_cluster_instance": True}, "failover cluster"),
        ({"resource_group": RG, "vm_name": "no-such-vm"}, "not registered with the SQL IaaS Agent"),
        ({"resource_group": RG, "vm_name": "app-vm"}, "not registered"),
        ({"resource_group": RG, "vm_name": "sqlvm-fresh", "user_assigned": ["uami-missing"]}, "does not exist"),
        ({"resource_group": RG, "vm_name": "sqlvm-fresh", "user_assigned": ["a", "b"]}, "which is primary"),
    ])


def test_survives_throttling_server_errors_and_connection_resets(az):
    az.admin.inject(path="*/sqlVirtualMachines/*", method="GET", status=429, retry_after=1, count=1)
    az.admin.inject(path="*/virtualMachines/*", method="GET", status=500, count=1)
    az.admin.inject(path="*/virtualMachines/*", method="GET", reset=True, count=1)
    # azure-core retries PATCH only on 500/503/504 (a reset after sending could have applied it)
    az.admin.inject(path="*/virtualMachines/*", method="PATCH", status=503, retry_after=1, count=1)
    az.admin.inject(path="*/virtualMachines/*", method="PATCH", status=429, retry_after=1, count=1)
    az.admin.inject(path="*/sqlVirtualMachines/*", method="PUT", status=500, count=1)
    az.admin.inject(path="*/sqlVirtualMachines/*", method="PUT", reset=True, count=1)
    task, writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-fresh"})
    assert_faults_consumed(az)
    assert not task.failed, task
    assert task["changed"] is True
    assert az.state()["vms"]["sqlvm-fresh"]["primary_identity"]["kind"] == "system"
    statuses = [e["status"] for e in az.requests()]
    assert 429 in statuses and 500 in statuses


def test_awx_environment_alone_authenticates_and_configured_vms_are_no_ops(az):
    names = set(az.env)
    assert {"AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT"} <= names
    assert not names & {"AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"}  # not azure-identity's names
    result, writes = az.run([
        {"name": "system", "sqlvm.backup.sqlvm_identity": {"resource_group": RG, "vm_name": "sqlvm-ready"}},
        {"name": "user", "sqlvm.backup.sqlvm_identity": {"resource_group": RG, "vm_name": "sqlvm-uami",
                                                         "user_assigned": ["uami-sqlbackup"]}},
    ])
    assert [(t.status, t["changed"]) for t in result.tasks] == [("ok", False), ("ok", False)], result
    assert_no_writes(writes)


def test_without_facts_azures_refusal_is_explained_and_nothing_changes(az):
    task, writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-cu16"})
    assert task.failed, task
    assert "CU17" in task["msg"] and "sql_version" in task["msg"], task["msg"]
    assert all(w["status"] >= 400 for w in writes), writes  # the one refused PUT, nothing applied
    assert az.state()["vms"]["sqlvm-cu16"]["primary_identity"] is None


def test_connection_reset_on_the_identity_patch_is_survived(az):
    az.admin.inject(path="*/virtualMachines/sqlvm-fresh", method="PATCH", reset=True, count=1)
    task, _writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-fresh"})
    assert_faults_consumed(az)
    raise_if_write_not_replayed(task)
    assert not task.failed and task["changed"] is True, task
    assert az.state()["vms"]["sqlvm-fresh"]["identities"]["system"]["principal_id"] == task["principal_id"]
