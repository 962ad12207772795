"""entra_directory_reader against the world."""
import pytest

from azure_checks import assert_faults_consumed, assert_no_writes, failures, four_way


def test_directory_role_four_ways_from_a_vm(az):
    four_way(az, "entra_directory_reader", {"resource_group": "rg-sql", "vm_name": "sqlvm-nodir"})


def test_graph_app_roles_four_ways(az):
    four_way(az, "entra_directory_reader", {"principal_id": az.vm_principal("sqlvm-nodir"), "method": "graph_app_roles"})


def test_group_membership_four_ways(az):
    four_way(az, "entra_directory_reader", {"principal_id": az.vm_principal("sqlvm-nodir"), "method": "group",
                                            "group_id": az.group_id("SQL Directory Readers")})


def test_transitive_membership_counts_as_present(az):
    task, writes = az.task("entra_directory_reader", {"user_assigned_identity": "uami-2025", "resource_group": "rg-sql"})
    assert task["changed"] is False and task["can_read_directory"] is True, task
    assert_no_writes(writes)


def test_bad_input_fails_with_zero_writes(az):
    pid = az.vm_principal("sqlvm-nodir")
    failures(az, "entra_directory_reader", [
        ({"principal_id": "12345"}, "not a GUID"),
        ({"vm_name": "sqlvm-fresh", "resource_group": "rg-sql"}, "no system-assigned managed identity"),
        ({"vm_name": "no-such-vm", "resource_group": "rg-sql"}, "not found"),
        ({"principal_id": pid, "method": "group", "group_id": az.group_id("SQL DBAs")}, "not role-assignable"),
        ({"principal_id": "00000000-0000-0000-0000-00000000abcd", "principal_wait": 3}, "no service principal"),
        ({"principal_id": pid, "method": "group"}, "group_id"),
    ])


ABSENT_CASES = {
    # sqlvm-ready holds Directory Readers directly
    "directory_role": ({"resource_group": "rg-sql", "vm_name": "sqlvm-ready"}, "sqlvm-ready"),
    # uami-nostorage holds the three Graph application roles (no VM of the world reads through it alone)
    "graph_app_roles": ({"user_assigned_identity": "uami-nostorage", "resource_group": "rg-sql"}, None),
    # uami-2025 is a member of the role-assignable group that holds Directory Readers
    "group": ({"user_assigned_identity": "uami-2025", "resource_group": "rg-sql"}, "sqlvm-2025"),
}


@pytest.mark.parametrize("method", sorted(ABSENT_CASES))
def test_absent_four_ways(az, method):
    args, vm = ABSENT_CASES[method]
    args = dict(args, method=method, state="absent")
    if method == "group":
        args["group_id"] = az.group_id("SQL Directory Readers")
    first, _real = four_way(az, "entra_directory_reader", args)
    assert first["diff"]["before"]["can_read_directory"] is True, first["diff"]
    if vm:
        assert az.admin.readiness()[vm]["reason"] == "no_directory_read"


def test_survives_throttling_server_errors_and_a_reset_grant(az):
    az.admin.inject(path="*/virtualMachines/sqlvm-nodir", method="GET", status=500, count=1)
    az.admin.inject(service="graph", path="*/transitiveMemberOf", method="GET", status=429, retry_after=1, count=1)
    az.admin.inject(service="graph", path="*/transitiveMemberOf", method="GET", reset=True, count=1)
    grants = "*/roleManagement/directory/roleAssignments"
    az.admin.inject(service="graph", path=grants, method="POST", status=429, retry_after=1, count=1)
    az.admin.inject(service="graph", path=grants, method="POST", status=503, count=1)
    # azure-core does not send a POST again after a reset; the backend does, once (directory._grant)
    az.admin.inject(service="graph", path=grants, method="POST", reset=True, count=1)
    task, _writes = az.task("entra_directory_reader", {"resource_group": "rg-sql", "vm_name": "sqlvm-nodir"})
    assert_faults_consumed(az)
    assert not task.failed and task["changed"] is True, task
    assert az.admin.readiness()["sqlvm-nodir"]["ready"] is True
    posts = [e["status"] for e in az.requests() if e["service"] == "graph" and e["method"] == "POST"]
    assert posts == [429, 503, "reset", 201], posts
