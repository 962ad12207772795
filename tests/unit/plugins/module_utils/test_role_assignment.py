"""Role assignment decisions: scopes, role ids, matching, retries — with ARM calls replaced."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm as arm_module
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import role_assignment as ra
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError, InvalidInputError


def ensure_present(session, desired, check_mode, **kwargs):
    """(changed, before, after, values) of the backend's Result, for short assertions."""
    result = ra.ensure(session, desired, check_mode, **kwargs)
    return result.changed, result.before, result.after, result.values


def ensure_absent(session, desired, check_mode, **kwargs):
    return ensure_present(session, dict(desired, state="absent"), check_mode, **kwargs)


SUB = "00000000-1111-2222-3333-444444444444"
OTHER = "99999999-1111-2222-3333-444444444444"
PID = "11111111-2222-3333-4444-555555555555"
SBDC = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
ACCOUNT = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB
CONTAINER = ACCOUNT + "/blobServices/default/containers/backups"


@pytest.mark.parametrize("raw, normalized", [
    ("/subscriptions/x/resourceGroups/rg/", "/subscriptions/x/resourceGroups/rg"),
    ("subscriptions/x", "/subscriptions/x"),
    ("/subscriptions//x", "/subscriptions/x"),
    (" /subscriptions/x ", "/subscriptions/x"),
])
def test_normalize_scope(raw, normalized):
    assert ra.normalize_scope(raw) == normalized


@pytest.mark.parametrize("left, right, same", [
    (ACCOUNT, ACCOUNT.lower(), True),
    (ACCOUNT.replace("resourceGroups", "resourcegroups"), ACCOUNT + "/", True),
    (ACCOUNT, CONTAINER, False),
])
def test_same_scope(left, right, same):
    assert ra.same_scope(left, right) is same


@pytest.mark.parametrize("scope", [ACCOUNT, CONTAINER, "/subscriptions/%s" % SUB,
                                   "/subscriptions/%s/resourceGroups/rg" % SUB,
                                   "/providers/Microsoft.Management/managementGroups/mg1"])
def test_validate_scope_accepts(scope):
    assert ra.validate_scope(scope, SUB) == scope


@pytest.mark.parametrize("scope, fragment", [
    ("", "not an ARM scope"),
    ("storageAccounts/acct", "not an ARM scope"),
    ("/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a" % OTHER, "set subscription_id"),
    ("/subscriptions/not-a-guid/resourceGroups/rg", "not a GUID"),
    ("/subscriptions/%s/resourceGroups" % SUB, "not a complete resource id"),
])
def test_validate_scope_rejects(scope, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        ra.validate_scope(scope, SUB)


@pytest.mark.parametrize("role, guid", [
    ("Storage Blob Data Contributor", None),
    (SBDC.upper(), SBDC),
    ("/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (SUB, SBDC), SBDC),
    ("/providers/Microsoft.Authorization/roleDefinitions/%s" % SBDC, SBDC),
])
def test_role_guid_from_input(role, guid):
    assert ra.role_guid_from_input(role) == guid


@pytest.mark.parametrize("role", ["/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/nope",
                                  "/not/a/role"])
def test_role_guid_from_input_rejects(role):
    with pytest.raises(InvalidInputError):
        ra.role_guid_from_input(role)


def _assignment(scope, role=SBDC, principal=PID, sub=SUB, name="a1"):
    return {"id": "%s/providers/Microsoft.Authorization/roleAssignments/%s" % (scope, name), "name": name,
            "properties": {"scope": scope, "principalId": principal, "principalType": "ServicePrincipal",
                           "roleDefinitionId": ra.role_definition_id(sub, role)}}


def test_matching_is_case_insensitive_and_exact_scope():
    items = [_assignment(ACCOUNT.lower(), name="here"), _assignment(CONTAINER, name="below"),
             _assignment("/subscriptions/%s/resourceGroups/rg" % SUB, name="above"),
             _assignment(ACCOUNT, role="acdd72a7-3385-48ef-bd42-f606fba81ae7", name="other-role"),
             _assignment(ACCOUNT, principal=PID.replace("1", "9"), name="other-principal")]
    assert [i["name"] for i in ra.matching_assignments(items, ACCOUNT, SBDC, PID.upper())] == ["here"]
    assert [i["name"] for i in ra.inherited_assignments(items, ACCOUNT, SBDC, PID)] == ["above"]


@pytest.mark.parametrize("budget, delays", [
    (0, []), (1, []), (2, [2.0]), (14, [2.0, 4.0, 8.0]), (120, [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]),
])
def test_backoff_delays(budget, delays):
    got = ra.backoff_delays(budget)
    assert got == delays
    assert sum(got) <= budget


@pytest.mark.parametrize("desired, fragment", [
    ({"principal_id": "not-a-guid"}, "principal_id"),
    ({"principal_id": PID, "scope": ACCOUNT, "storage_account": "acct"}, "not both"),
    ({"principal_id": PID, "storage_account": "acct"}, "needs resource_group"),
    ({"principal_id": PID}, "give scope"),
    ({"principal_id": PID, "scope": ACCOUNT, "role": " "}, "role is required"),
    ({"principal_id": PID, "scope": ACCOUNT, "role": "Reader", "principal_type": "Robot"}, "principal_type"),
    ({"principal_id": PID, "scope": ACCOUNT, "role": "Reader", "principal_wait": -1}, "principal_wait=-1"),
])
def test_validate_desired_rejects(desired, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        ra.validate_desired(dict(desired), SUB)


def test_validate_desired_builds_container_scope():
    desired = ra.validate_desired({"principal_id": PID, "resource_group": "rg", "storage_account": "acct",
                                   "container": "backups", "role": "Storage Blob Data Contributor"}, SUB)
    assert desired["scope"] == CONTAINER
    assert desired["principal_type"] == "ServicePrincipal"


class FakeArm:
    """Stands in for the two ARM helpers; records writes."""

    def __init__(self, assignments=(), put_errors=(), definitions=()):
        self.assignments = list(assignments)
        self.put_errors = list(put_errors)
        self.definitions = list(definitions)
        self.writes = []
        self.gets = []
        self.params = []

    def get(self, session, path, api_version, params=None):
        self.gets.append(path)
        self.params.append(params)
        if path.endswith("roleDefinitions"):
            return {"value": self.definitions}
        return {"value": self.assignments}

    def write(self, session, method, path, api_version, body, operation, long_running=True):
        self.writes.append((method, path, body))
        if self.put_errors:
            raise self.put_errors.pop(0)
        return {"id": path, "name": path.rsplit("/", 1)[-1], "properties": dict(body["properties"], scope=ACCOUNT)} if body else None


class Session:
    subscription_id = SUB


@pytest.fixture
def fake(monkeypatch):
    def install(**kwargs):
        arm = FakeArm(**kwargs)
        monkeypatch.setattr(ra, "arm_get", arm.get)
        monkeypatch.setattr(ra, "arm_write", arm.write)
        monkeypatch.setattr(arm_module, "arm_get", arm.get)  # arm.list_all reads its first page with it
        return arm
    return install


def _desired(**extra):
    desired = {"principal_id": PID, "scope": ACCOUNT, "role": "Storage Blob Data Contributor"}
    desired.update(extra)
    return desired


def test_present_when_assigned_is_a_no_op_with_one_read(fake):
    arm = fake(assignments=[_assignment(ACCOUNT.upper())])
    changed, before, after, _result = ensure_present(Session(), _desired(), check_mode=False)
    assert changed is False and before == after
    assert arm.writes == [] and len(arm.gets) == 1


def test_lists_at_the_scope_filtered_by_principal(fake):
    arm = fake()
    ensure_present(Session(), _desired(scope=CONTAINER), check_mode=True)
    assert arm.gets == [CONTAINER + "/providers/Microsoft.Authorization/roleAssignments"]
    assert arm.params == [{"$filter": "principalId eq '%s'" % PID}]


def test_check_mode_predicts_without_writing(fake):
    arm = fake()
    changed, before, after, _result = ensure_present(Session(), _desired(), check_mode=True)
    assert changed is True and before is None and after["principal_type"] == "ServicePrincipal"
    assert arm.writes == []


def test_creates_with_principal_type(fake):
    arm = fake()
    changed, _before, after, _result = ensure_present(Session(), _desired(), check_mode=False)
    assert changed is True
    method, path, body = arm.writes[0]
    assert method == "PUT" and path.startswith(ACCOUNT + "/providers/Microsoft.Authorization/roleAssignments/")
    assert body["properties"]["principalType"] == "ServicePrincipal"
    assert body["properties"]["roleDefinitionId"].endswith(SBDC)


def test_conflict_role_assignment_exists_counts_as_present(fake):
    arm = fake(put_errors=[AzureApiError("create", "x", 409, "RoleAssignmentExists", "exists")])
    changed, _before, _after, _result = ensure_present(Session(), _desired(), check_mode=False)
    assert changed is False
    assert len(arm.writes) == 1


def test_principal_not_found_is_retried_with_backoff(fake):
    slept = []
    arm = fake(put_errors=[AzureApiError("create", "x", 400, "PrincipalNotFound", "nope")] * 2)
    changed, *_rest = ensure_present(Session(), _desired(principal_wait=60), check_mode=False, sleep=slept.append)
    assert changed is True and slept == [2.0, 4.0] and len(arm.writes) == 3


def test_principal_not_found_gives_up_after_the_budget(fake):
    slept = []
    fake(put_errors=[AzureApiError("create", "x", 400, "PrincipalNotFound", "nope")] * 10)
    with pytest.raises(AzureApiError, match="principal_wait"):
        ensure_present(Session(), _desired(principal_wait=6), check_mode=False, sleep=slept.append)
    assert slept == [2.0, 4.0]


def test_principal_not_found_waits_no_longer_than_the_task_timeout(fake):
    class Deadline:
        def remaining(self):
            return 7.0

    class Timed(Session):
        deadline = Deadline()

    slept = []
    fake(put_errors=[AzureApiError("create", "x", 400, "PrincipalNotFound", "nope")] * 10)
    with pytest.raises(AzureApiError, match="PrincipalNotFound"):
        ensure_present(Timed(), _desired(principal_wait=600), check_mode=False, sleep=slept.append)
    assert slept == [2.0, 4.0]


def test_unknown_role_name_fails_before_any_write(fake):
    arm = fake(definitions=[])
    with pytest.raises(InvalidInputError, match="does not exist"):
        ensure_present(Session(), _desired(role="Storage Blob Data Contributer"), check_mode=False)
    assert arm.writes == []


def test_custom_role_name_is_looked_up(fake):
    custom = "12345678-1234-1234-1234-123456789012"
    arm = fake(definitions=[{"name": custom, "properties": {"roleName": "Backup Writer"}}])
    ensure_present(Session(), _desired(role="backup writer"), check_mode=False)
    assert arm.writes[0][2]["properties"]["roleDefinitionId"].endswith(custom)


def test_absent_removes_only_that_assignment(fake):
    here = _assignment(ACCOUNT, name="here")
    arm = fake(assignments=[here, _assignment(CONTAINER, name="below"),
                            _assignment(ACCOUNT, role="acdd72a7-3385-48ef-bd42-f606fba81ae7", name="reader")])
    changed, before, after, _result = ensure_absent(Session(), _desired(), check_mode=False)
    assert changed is True and before["name"] == "here" and after is None
    assert arm.writes == [("DELETE", here["id"], None)]


def test_absent_when_missing_is_a_no_op(fake):
    arm = fake()
    changed, *_rest = ensure_absent(Session(), _desired(), check_mode=False)
    assert changed is False and arm.writes == []


def test_absent_in_check_mode_predicts_without_writing(fake):
    arm = fake(assignments=[_assignment(ACCOUNT, name="here")])
    changed, before, after, _result = ensure_absent(Session(), _desired(), check_mode=True)
    assert changed is True and before["name"] == "here" and after is None
    assert arm.writes == []
