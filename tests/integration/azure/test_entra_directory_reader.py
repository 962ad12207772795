"""entra_directory_reader against the world."""
from azure_checks import assert_no_writes, failures, four_way


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


def test_absent_removes_the_role(az):
    task, _writes = az.task("entra_directory_reader", {"resource_group": "rg-sql", "vm_name": "sqlvm-ready",
                                                       "state": "absent"})
    assert task["changed"] is True, task
    assert az.admin.readiness()["sqlvm-ready"]["reason"] == "no_directory_read"


def test_bad_input_fails_with_zero_writes(az):
    pid = az.vm_principal("sqlvm-nodir")
    failures(az, "entra_directory_reader", [
        ({"principal_id": "12345"}, "not a GUID"),
        ({"vm_name": "sqlvm-fresh", "resource_group": "rg-sql"}, "no system-assigned managed identity"),
        ({"vm_name": "no-such-vm", "resource_group": "rg-sql"}, "not found"),
        ({"principal_id": pid, "method": "group", "group_id": az.group_id("SQL DBAs")}, "not role-assignable"),
        ({"principal_id": "00000000-0000-0000-0000-00000000abcd"}, "no service principal"),
        ({"principal_id": pid, "method": "group"}, "group_id"),
    ])
