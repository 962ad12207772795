"""What the Azure modules say when Azure does something unusual: a long-running operation canceled,
the token endpoint failing, Graph not knowing a brand-new identity yet (waited for, not failed)."""
from azure_checks import assert_faults_consumed

RG = "rg-sql"


def test_a_canceled_long_running_operation_says_it_was_canceled(az):
    az.admin.inject(path="*/sqlVirtualMachines/*", method="PUT", lro_status="Canceled", count=1)
    task, _writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-fresh"})
    assert task.failed
    assert "Azure canceled the operation before it finished" in task["msg"], task["msg"]
    assert "HTTP 200 (no error code)" not in task["msg"] and "Activity Log" in task["msg"]
    # Run again: converges.
    again, _writes = az.task("sqlvm_identity", {"resource_group": RG, "vm_name": "sqlvm-fresh"})
    assert not again.failed, again["msg"]


def test_a_token_endpoint_500_is_a_transient_sign_in_failure_not_bad_credentials(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"  # no cached token: the task signs in
    az.admin.inject(service="login", method="POST", path="*/token", status=500, count=10)
    task, writes = az.task("sqlvm_info", {"resource_group": RG, "vm_name": "sqlvm-ready", "check_directory": False})
    assert task.failed and writes == []
    assert "sign-in service failed transiently" in task["msg"], task["msg"]
    assert "client_id" not in task["msg"] and "secret" not in task["msg"]


def test_a_token_endpoint_refusing_the_secret_blames_the_secret(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"
    az.admin.inject(service="login", method="POST", path="*/token", status=401, count=10,
                    body={"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
    task, _writes = az.task("sqlvm_info", {"resource_group": RG, "vm_name": "sqlvm-ready", "check_directory": False})
    assert task.failed and "AADSTS7000215" in task["msg"] and "secret is wrong" in task["msg"], task["msg"]


def test_entra_directory_reader_waits_for_a_principal_graph_does_not_know_yet(az):
    principal = az.vm_principal("sqlvm-nodir")
    # Right after an identity is created, Graph answers 404 for its service principal for a while.
    az.admin.inject(service="graph", path="*/servicePrincipals/%s/transitiveMemberOf" % principal, method="GET",
                    status=404, count=2, body={"error": {
                        "code": "Request_ResourceNotFound",
                        "message": "Resource '%s' does not exist or one of its queried reference-property objects "
                                   "are not present." % principal}})
    task, writes = az.task("entra_directory_reader", {"resource_group": RG, "vm_name": "sqlvm-nodir"})
    assert not task.failed, task["msg"]
    assert task["changed"] is True and task["can_read_directory"] is True and len(writes) == 1
    assert_faults_consumed(az)


def test_negative_principal_wait_is_refused_before_any_request(az):
    for module, args in (("entra_directory_reader", {"resource_group": RG, "vm_name": "sqlvm-nodir"}),
                         ("role_assignment", {"principal_id": az.vm_principal("sqlvm-nodir"), "role": "Reader",
                                              "scope": "/subscriptions/%s" % az.subscription_id})):
        task, _writes = az.task(module, dict(args, principal_wait=-5))
        assert task.failed and "principal_wait=-5" in task["msg"], (module, task["msg"])
    assert [e for e in az.requests() if e["service"] in ("arm", "graph")] == []
