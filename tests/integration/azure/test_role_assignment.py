"""role_assignment against the world."""
from azure_checks import assert_faults_consumed, assert_no_writes, failures, four_way

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
    assert_faults_consumed(az)
    assert task["changed"] is True, task
    az.admin.inject(path="*/roleAssignments", method="GET", status=200, count=1, body={"value": []})
    az.admin.inject(path="*/roleAssignments/*", method="PUT", status=409, count=1,
                    body={"error": {"code": "RoleAssignmentExists", "message": "The role assignment already exists."}})
    task, _writes = az.task("role_assignment", args)
    assert_faults_consumed(az)
    assert not task.failed and task["changed"] is False, task


def test_absent_removes_only_that_assignment(az):
    ready = az.vm_principal("sqlvm-ready")
    # The same principal also holds Storage Blob Data Reader on the account and the same role on a
    # container below it; another principal holds the same role at the same scope: all of them stay.
    for args in ({"principal_id": ready, "role": "Storage Blob Data Reader", "scope": az.storage_scope()},
                 {"principal_id": ready, "role": "Storage Blob Data Contributor",
                  "scope": az.storage_scope(container="archive")}):
        task, _writes = az.task("role_assignment", args)
        assert task["changed"] is True, task
    before = {a["id"].lower(): a for a in az.state()["role_assignments"]}
    task, writes = az.task("role_assignment", {"principal_id": ready, "role": "Storage Blob Data Contributor",
                                               "scope": az.storage_scope(), "state": "absent"})
    assert task["changed"] is True, task
    assert len([w for w in writes if w["method"] == "DELETE"]) == 1
    after = {a["id"].lower(): a for a in az.state()["role_assignments"]}
    removed = [before[key] for key in set(before) - set(after)]
    assert len(removed) == 1 and set(after) < set(before), removed
    assert removed[0]["principalId"] == ready and removed[0]["scope"].lower() == az.storage_scope().lower(), removed
    assert not az.admin.blob_access_allowed(ready, "stsqlbackup01", "backups")
    assert az.admin.blob_access_allowed(ready, "stsqlbackup01", "archive")
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


def test_survives_throttling_server_errors_and_connection_resets(az):
    uami = az.uami("uami-nostorage")
    args = {"principal_id": uami["principal_id"], "role": "Storage Blob Data Contributor",
            "scope": az.storage_scope(container="archive")}
    az.admin.inject(path="*/roleAssignments", method="GET", status=429, retry_after=1, count=1)
    az.admin.inject(path="*/roleAssignments", method="GET", reset=True, count=1)
    az.admin.inject(path="*/roleAssignments/*", method="PUT", status=500, count=1)
    az.admin.inject(path="*/roleAssignments/*", method="PUT", status=429, retry_after=1, count=1)
    az.admin.inject(path="*/roleAssignments/*", method="PUT", reset=True, count=1)
    task, _writes = az.task("role_assignment", args)
    assert_faults_consumed(az)
    assert not task.failed and task["changed"] is True, task
    mine = [a for a in az.state()["role_assignments"] if a["principalId"] == uami["principal_id"]
            and a["scope"].lower() == args["scope"].lower()]
    assert len(mine) == 1, mine  # the PUT sent again after the reset reuses the assignment's name
    az.admin.inject(path="*/roleAssignments/*", method="DELETE", status=503, count=1)
    az.admin.inject(path="*/roleAssignments/*", method="DELETE", reset=True, count=1)
    task, _writes = az.task("role_assignment", dict(args, state="absent"))
    assert_faults_consumed(az)
    assert not task.failed and task["changed"] is True, task
    assert not az.admin.blob_access_allowed(uami["principal_id"], "stsqlbackup01", "archive")


def test_principal_type_lets_a_new_identity_be_assigned_at_once(az):
    """The world answers PrincipalNotFound for a principal created in the last 30 s unless the PUT
    names principalType (role-based-access-control/troubleshooting): the new system-assigned identity
    of sqlvm-fresh is assigned at the first PUT, well within principal_wait."""
    result, _writes = az.run([
        {"name": "identity", "sqlvm.backup.sqlvm_identity": {"resource_group": "rg-sql", "vm_name": "sqlvm-fresh"},
         "register": "identity"},
        {"name": "role", "sqlvm.backup.role_assignment": {
            "principal_id": "{{ identity.principal_id }}", "role": "Storage Blob Data Contributor",
            "scope": az.storage_scope(), "principal_wait": 1}},
    ])
    identity, role = result.tasks
    assert not role.failed and role["changed"] is True, dict(role)
    assert role["assignment"]["principal_type"] == "ServicePrincipal"
    puts = [e for e in az.requests() if e["method"] == "PUT" and "roleAssignments" in e["route"]]
    assert [e["status"] for e in puts] == [201], puts
    assert az.admin.blob_access_allowed(identity["principal_id"], "stsqlbackup01", "backups")


def test_principal_not_found_is_retried_only_within_principal_wait(az):
    uami = az.uami("uami-nostorage")
    az.admin.inject(path="*/roleAssignments/*", method="PUT", status=400, count=50,
                    body={"error": {"code": "PrincipalNotFound", "message": "Principal not found"}})
    task, _writes = az.task("role_assignment", {"principal_id": uami["principal_id"], "principal_wait": 3,
                                                "role": "Storage Blob Data Contributor", "scope": az.storage_scope()})
    assert task.failed and "principal_wait" in task["msg"] and "PrincipalNotFound" in task["msg"], task
    puts = [e for e in az.requests() if e["method"] == "PUT"]
    assert len(puts) == 2, puts  # the first try, and one more after 2 s; 2 + 4 would pass 3 s


def test_lists_at_the_scope_only(az):
    """One list request, at the scope itself (its $filter by principal: the unit test
    test_role_assignments.py::test_lists_at_the_scope_filtered_by_principal; the log has no query)."""
    uami = az.uami("uami-sqlbackup")
    task, _writes = az.task("role_assignment", {"principal_id": uami["principal_id"],
                                                "role": "Storage Blob Data Contributor", "scope": az.storage_scope()})
    assert task["changed"] is False, task
    lists = [e for e in az.requests() if e["service"] == "arm" and e["method"] == "GET"]
    assert [e["path"].lower() for e in lists] == [
        (az.storage_scope() + "/providers/Microsoft.Authorization/roleAssignments").lower()], lists
