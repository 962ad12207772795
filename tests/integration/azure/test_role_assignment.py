"""role_assignment against the world."""
from azure_checks import assert_no_writes, failures, four_way

OTHER_SUB = "99999999-1111-2222-3333-444444444444"


def test_container_scope_four_ways(az):
    uami = az.uami("uami-nostorage")
    args = {"principal_id": uami["principal_id"], "role": "Storage Blob Data Contributor",
            "resource_group": "rg-sql", "storage_account": "stsqlbackup01", "container": "archive"}
    four_way(az, "role_assignment", args)
    assert az.admin.blob_access_allowed(uami["principal_id"], "stsqlbackup01", "archive")


def test_existing_assignment_matches_scope_case_insensitively(az):
    uami = az.uami("uami-sqlbackup")
    scope = az.storage_scope().upper().replace("/SUBSCRIPTIONS/", "/subscriptions/")
    task, writes = az.task("role_assignment", {"principal_id": uami["principal_id"],
                                               "role": "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "scope": scope})
    assert task["changed"] is False, task
    assert_no_writes(writes)


def test_conflict_counts_as_present_and_principal_not_found_is_retried(az):
    uami = az.uami("uami-nostorage")
    args = {"principal_id": uami["principal_id"], "role": "Storage Blob Data Contributor",
            "scope": az.storage_scope(container="archive")}
    az.admin.inject(path="*/roleAssignments/*", method="PUT", status=400, count=1,
                    body={"error": {"code": "PrincipalNotFound", "message": "Principal not found"}})
    task, _writes = az.task("role_assignment", args)
    assert task["changed"] is True, task
    az.admin.inject(path="*/roleAssignments", method="GET", status=200, count=1, body={"value": []})
    az.admin.inject(path="*/roleAssignments/*", method="PUT", status=409, count=1,
                    body={"error": {"code": "RoleAssignmentExists", "message": "The role assignment already exists."}})
    task, _writes = az.task("role_assignment", args)
    assert not task.failed and task["changed"] is False, task


def test_absent_removes_only_that_assignment(az):
    ready = az.vm_principal("sqlvm-ready")
    before = list(az.state()["role_assignments"])
    task, writes = az.task("role_assignment", {"principal_id": ready, "role": "Storage Blob Data Contributor",
                                               "scope": az.storage_scope(), "state": "absent"})
    assert task["changed"] is True, task
    assert len([w for w in writes if w["method"] == "DELETE"]) == 1
    assert len(az.state()["role_assignments"]) == len(before) - 1
    task, writes = az.task("role_assignment", {"principal_id": ready, "role": "Storage Blob Data Contributor",
                                               "scope": az.storage_scope(), "state": "absent"})
    assert task["changed"] is False
    assert_no_writes(writes)


def test_bad_input_fails_with_zero_writes(az):
    pid = az.uami("uami-nostorage")["principal_id"]
    failures(az, "role_assignment", [
        ({"principal_id": "not-a-guid", "role": "Reader", "scope": az.storage_scope()}, "not a GUID"),
        ({"principal_id": pid, "role": "Storage Blob Data Contributer", "scope": az.storage_scope()}, "does not exist"),
        ({"principal_id": pid, "role": "Reader", "scope": az.storage_scope().replace(az.subscription_id, OTHER_SUB)},
         "subscription_id"),
        ({"principal_id": pid, "role": "Reader", "scope": "stsqlbackup01"}, "not an ARM scope"),
        ({"principal_id": pid, "role": "Reader", "scope": az.storage_scope("nosuchaccount")}, "does not exist"),
        ({"principal_id": pid, "role": "Reader", "storage_account": "stsqlbackup01"}, "resource_group"),
    ])
