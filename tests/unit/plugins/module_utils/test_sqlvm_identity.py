"""Pure logic of the SQL VM backend: eligibility, identity maps, primary identity, input checks."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_identity as sqlvm
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError


def ensure_present(session, desired, check_mode, **kwargs):
    """(changed, before, after, values) of the backend's Result, for short assertions."""
    result = sqlvm.ensure(session, desired, check_mode, **kwargs)
    return result.changed, result.before, result.after, result.values


SUB = "00000000-1111-2222-3333-444444444444"
UAI_A = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a" % SUB
UAI_B = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b" % SUB


@pytest.mark.parametrize("text, build", [
    ("16.0.4175.1", (16, 0, 4175, 1)),
    ("17.0.1000.7", (17, 0, 1000, 7)),
    ("15.0.2000", (15, 0, 2000, 0)),
    (" 16.0.4165.4 ", (16, 0, 4165, 4)),
])
def test_parse_build(text, build):
    assert sqlvm.parse_build(text) == build


@pytest.mark.parametrize("text", ["", "16", "16.0.x.1", "v16.0.4175.1", "1.2.3.4.5", None])
def test_parse_build_rejects(text):
    with pytest.raises(ValueError):
        sqlvm.parse_build(text)


@pytest.mark.parametrize("build, eligible", [
    ("16.0.4175.1", True),    # 2022 CU17: the first supported build
    ("16.0.4185.3", True),    # CU18
    ("16.0.4215.2", True),    # CU21
    ("16.0.4175.0", False),   # just below CU17
    ("16.0.4165.4", False),   # CU16
    ("16.0.4145.4", False),   # CU15
    ("16.0.1000.6", False),   # 2022 RTM
    ("15.0.4382.1", False),   # 2019
    ("17.0.1000.7", True),    # 2025 RTM
    ("17.0.4006.2", True),    # 2025 CU1
])
def test_build_problem(build, eligible):
    problem = sqlvm.build_problem(sqlvm.parse_build(build))
    assert (problem is None) is eligible
    if problem:
        assert "CU17 (16.0.4175.1)" in problem


def test_build_problem_names_the_release():
    assert "SQL Server 2019" in sqlvm.build_problem((15, 0, 4382, 1))
    assert "CU17" in sqlvm.build_problem((16, 0, 4165, 4))


@pytest.mark.parametrize("offer, major", [
    ("SQL2022-WS2022", 16), ("sql2019-ws2019", 15), ("SQL2025-WS2025", 17),
    ("SQL2017-WS2016", 14), ("custom-image", None), (None, None), ("SQL2099-WS", None),
])
def test_image_offer_major(offer, major):
    assert sqlvm.image_offer_major(offer) == major


def _sqlvm(os_type="Windows", offer="SQL2022-WS2022", client_id=None):
    props = {"osType": os_type, "sqlImageOffer": offer}
    if client_id is not None:
        props["serverConfigurationsManagementSettings"] = {"azureAdAuthenticationSettings": {"clientId": client_id}}
    return {"id": "/x/sqlVirtualMachines/vm1", "name": "vm1", "type": "Microsoft.SqlVirtualMachine/sqlVirtualMachines",
            "location": "westeurope", "properties": props}


@pytest.mark.parametrize("kwargs, facts, expect", [
    ({}, {}, []),
    ({"os_type": "Linux", "offer": "SQL2022-UBUNTU2204"}, {}, ["Windows only"]),
    ({"offer": "SQL2019-WS2019"}, {}, ["SQL Server 2019"]),
    ({}, {"sql_version": "16.0.4165.4"}, ["CU17"]),
    ({}, {"sql_version": "16.0.4175.1"}, []),
    ({"offer": "SQL2019-WS2019"}, {"sql_version": "17.0.1000.7"}, []),  # the build wins over the offer
    ({}, {"failover_cluster_instance": True}, ["failover cluster instance"]),
    ({"os_type": "Linux"}, {"sql_version": "15.0.1.1", "failover_cluster_instance": True},
     ["Windows only", "SQL Server 2019", "failover cluster instance"]),
])
def test_prerequisite_problems(kwargs, facts, expect):
    problems = sqlvm.prerequisite_problems(_sqlvm(**kwargs), {}, **facts)
    assert len(problems) == len(expect)
    for problem, fragment in zip(problems, expect):
        assert fragment in problem


def test_os_type_falls_back_to_the_vm():
    sql = _sqlvm()
    del sql["properties"]["osType"]
    vm = {"properties": {"storageProfile": {"osDisk": {"osType": "Linux"}}}}
    assert "Windows only" in sqlvm.prerequisite_problems(sql, vm)[0]


NONE = {"type": "None"}
SYS = {"type": "SystemAssigned", "principalId": "p-sys", "tenantId": "t"}
SYS_A = {"type": "SystemAssigned, UserAssigned", "principalId": "p-sys", "tenantId": "t",
         "userAssignedIdentities": {UAI_A.lower(): {"principalId": "p-a", "clientId": "c-a"}}}
ONLY_A = {"type": "UserAssigned", "tenantId": "t",
          "userAssignedIdentities": {UAI_A: {"principalId": "p-a", "clientId": "c-a"}}}


@pytest.mark.parametrize("current, system, users, exclusive, patch, added, removed", [
    (NONE, True, [], False, {"type": "SystemAssigned"}, ["system"], []),
    (SYS, True, [], False, None, [], []),
    (SYS, False, [UAI_A], False,
     {"type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {UAI_A: {}}}, [UAI_A], []),
    (SYS_A, True, [UAI_A], False, None, [], []),                 # ids compare case-insensitively
    (SYS_A, False, [UAI_A], False, None, [], []),                # never removes without exclusive
    (SYS_A, False, [UAI_A], True, {"type": "UserAssigned"}, [], ["system"]),
    (ONLY_A, False, [UAI_B], True,
     {"type": "UserAssigned", "userAssignedIdentities": {UAI_B: {}, UAI_A: None}}, [UAI_B], [UAI_A]),
    (ONLY_A, True, [], True, {"type": "SystemAssigned"}, ["system"], [UAI_A]),
    (NONE, False, [UAI_A, UAI_A.upper()], False,
     {"type": "UserAssigned", "userAssignedIdentities": {UAI_A: {}}}, [UAI_A], []),
])
def test_plan_identity(current, system, users, exclusive, patch, added, removed):
    got_patch, got_added, got_removed = sqlvm.plan_identity(current, system, users, exclusive)
    assert got_patch == patch
    assert got_added == added
    assert got_removed == removed


def test_predict_identity_keeps_known_principals_and_adds_new_ones():
    patch, _a, _r = sqlvm.plan_identity(SYS, True, [UAI_B], False)
    details = {UAI_B.lower(): {"properties": {"principalId": "p-b", "clientId": "c-b"}}}
    predicted = sqlvm.predict_identity(SYS, patch, details)
    assert predicted["principalId"] == "p-sys"
    assert sqlvm.find_user_identity(predicted, UAI_B.upper()) == {"principalId": "p-b", "clientId": "c-b"}


@pytest.mark.parametrize("resource, expected", [
    (_sqlvm(), None),
    (_sqlvm(client_id=""), ""),
    (_sqlvm(client_id="c-a"), "c-a"),
    ({"properties": {"serverConfigurationsManagementSettings": {"azureAdAuthenticationSettings": {}}}}, None),
])
def test_current_primary_client_id(resource, expected):
    assert sqlvm.current_primary_client_id(resource) == expected


def test_put_body_drops_read_only_fields_and_keeps_settings():
    resource = _sqlvm()
    resource["properties"]["provisioningState"] = "Succeeded"
    resource["properties"]["serverConfigurationsManagementSettings"] = {"sqlInstanceSettings": {"maxDop": 4}}
    body = sqlvm.sqlvm_put_body(resource, "")
    assert "id" not in body and "name" not in body
    assert "provisioningState" not in body["properties"] and "osType" not in body["properties"]
    settings = body["properties"]["serverConfigurationsManagementSettings"]
    assert settings == {"sqlInstanceSettings": {"maxDop": 4}, "azureAdAuthenticationSettings": {"clientId": ""}}
    assert body["location"] == "westeurope"
    assert "serverConfigurationsManagementSettings" in resource["properties"]  # input untouched
    assert "azureAdAuthenticationSettings" not in resource["properties"]["serverConfigurationsManagementSettings"]


@pytest.mark.parametrize("value, expected", [
    ("a", UAI_A),
    (UAI_A, UAI_A),
    (UAI_A.lower(), UAI_A.lower()),
])
def test_normalize_user_identity(value, expected):
    assert sqlvm.normalize_user_identity(value, SUB, "rg") == expected


@pytest.mark.parametrize("value", [
    "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
    "bad name with spaces", "", "/subscriptions/x",
])
def test_normalize_user_identity_rejects(value):
    with pytest.raises(InvalidInputError):
        sqlvm.normalize_user_identity(value, SUB, "rg")


@pytest.mark.parametrize("desired, primary", [
    ({"system_assigned": True}, "system"),
    ({"user_assigned": ["a"]}, "a"),
    ({"system_assigned": True, "user_assigned": ["a"], "primary": "a"}, "a"),
    ({"system_assigned": True, "user_assigned": ["a"], "primary": "system"}, "system"),
])
def test_validate_picks_primary(desired, primary):
    desired.update(resource_group="rg", vm_name="vm1")
    assert sqlvm.validate(desired)["primary"] == primary


@pytest.mark.parametrize("desired, fragment", [
    ({"system_assigned": False}, "nothing to make primary"),
    ({"user_assigned": ["a", "b"]}, "say which is primary"),
    ({"user_assigned": ["a"], "primary": "b"}, "not among user_assigned"),
    ({"user_assigned": ["a"], "primary": "system"}, "needs system_assigned"),
    ({"system_assigned": True, "sql_version": "2022"}, "not a SQL Server build"),
    ({"system_assigned": True, "vm_name": "bad/name"}, "not a valid Azure resource name"),
])
def test_validate_rejects(desired, fragment):
    full = {"resource_group": "rg", "vm_name": "vm1"}
    full.update(desired)
    with pytest.raises(InvalidInputError, match=fragment):
        sqlvm.validate(full)


@pytest.mark.parametrize("left, right, same", [
    (None, None, True), (None, "", False), ("", "", True), ("ABC", "abc", True), ("a", "b", False), ("", None, False),
])
def test_same_client_id(left, right, same):
    assert sqlvm.same_client_id(left, right) is same


class FakeArm:
    """ARM for ensure_present: a SQL VM and its VM; records every call."""

    def __init__(self, sqlvm_resource, vm, uais=None, put_error=None):
        self.sqlvm, self.vm, self.uais = sqlvm_resource, vm, uais or {}
        self.put_error = put_error
        self.calls = []

    def get(self, session, path, api_version, params=None):
        self.calls.append(("GET", path))
        if "sqlVirtualMachines" in path:
            return self.sqlvm
        if "userAssignedIdentities" in path:
            return self.uais.get(path.lower())
        return self.vm

    def write(self, session, method, path, api_version, body, operation, long_running=True):
        self.calls.append((method, path))
        if method == "PUT" and self.put_error:
            raise self.put_error
        if method == "PATCH":
            identity = dict(body["identity"], principalId="p-new", tenantId="t")
            return {"identity": identity}
        return body


class Session:
    subscription_id = SUB


@pytest.fixture
def arm(monkeypatch):
    def install(*args, **kwargs):
        fake = FakeArm(*args, **kwargs)
        monkeypatch.setattr(sqlvm, "arm_get", fake.get)
        monkeypatch.setattr(sqlvm, "arm_write", fake.write)
        return fake
    return install


def _vm(identity=None):
    return {"id": "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1" % SUB,
            "name": "vm1", "identity": identity}


def test_no_op_reads_the_sql_vm_and_the_vm_only(arm):
    fake = arm(_sqlvm(client_id=""), _vm(SYS))
    changed, before, after, result = ensure_present(Session(), {"resource_group": "rg", "vm_name": "vm1",
                                                                "system_assigned": True}, False)
    assert changed is False and before == after
    assert [c[0] for c in fake.calls] == ["GET", "GET"]
    assert result["principal_id"] == "p-sys"


def test_fresh_vm_gets_identity_then_primary(arm):
    fake = arm(_sqlvm(), _vm(None))
    changed, before, after, result = ensure_present(Session(), {"resource_group": "rg", "vm_name": "vm1",
                                                                "system_assigned": True}, False)
    assert changed is True
    assert [c[0] for c in fake.calls] == ["GET", "GET", "PATCH", "PUT"]
    assert after["entra_authentication"]["primary_client_id"] == ""
    assert result["principal_id"] == "p-new"


def test_check_mode_predicts_without_writing(arm):
    fake = arm(_sqlvm(), _vm(None))
    changed, before, after, _result = ensure_present(Session(), {"resource_group": "rg", "vm_name": "vm1",
                                                                 "system_assigned": True}, True)
    assert changed is True and before["entra_authentication"]["enabled"] is False
    assert after["entra_authentication"]["enabled"] is True
    assert [c[0] for c in fake.calls] == ["GET", "GET"]


@pytest.mark.parametrize("facts, fragment", [
    ({"sql_version": "16.0.4165.4"}, "CU17"),
    ({"failover_cluster_instance": True}, "failover cluster"),
])
def test_prerequisites_stop_before_any_write(arm, facts, fragment):
    fake = arm(_sqlvm(), _vm(None))
    desired = dict(resource_group="rg", vm_name="vm1", system_assigned=True, **facts)
    with pytest.raises(sqlvm.PrerequisiteError, match=fragment):
        ensure_present(Session(), desired, False)
    assert all(c[0] == "GET" for c in fake.calls)


def test_missing_sql_vm_resource_says_register(arm):
    arm(None, _vm(None))
    with pytest.raises(sqlvm.PrerequisiteError, match="SQL IaaS Agent"):
        ensure_present(Session(), {"resource_group": "rg", "vm_name": "vm1", "system_assigned": True}, False)


def test_azure_refusal_of_old_build_is_explained(arm):
    refusal = sqlvm.AzureApiError("put", "x", 400, "BadRequest", "SQL Server version 16.0.4165.4 is not supported")
    arm(_sqlvm(), _vm(SYS), put_error=refusal)
    with pytest.raises(sqlvm.PrerequisiteError, match="sql_version"):
        ensure_present(Session(), {"resource_group": "rg", "vm_name": "vm1", "system_assigned": True}, False)


@pytest.mark.parametrize("users, system", [([], True), (["a"], False)])
def test_validate_defaults_system_assigned_from_the_user_assigned_list(users, system):
    desired = {"resource_group": "rg", "vm_name": "vm1", "system_assigned": None, "user_assigned": users}
    assert sqlvm.validate(desired)["system_assigned"] is system
