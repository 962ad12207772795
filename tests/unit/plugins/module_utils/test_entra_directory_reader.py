"""Directory-read decisions (Directory Readers, group, Graph app roles) with Graph replaced."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as d
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError, InvalidInputError, PrerequisiteError


def ensure_present(session, desired, check_mode, **kwargs):
    """(changed, before, after, values) of the backend's Result, for short assertions."""
    result = d.ensure(session, desired, check_mode, **kwargs)
    return result.changed, result.before, result.after, result.values


def ensure_absent(session, desired, check_mode, **kwargs):
    return ensure_present(session, dict(desired, state="absent"), check_mode, **kwargs)


PID = "11111111-2222-3333-4444-555555555555"
GID = "22222222-2222-3333-4444-555555555555"
GRAPH_SP = "33333333-2222-3333-4444-555555555555"
ROLE_IDS = {"User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
            "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
            "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"}
READERS = {"@odata.type": "#microsoft.graph.directoryRole", "id": "r1", "displayName": "Directory Readers",
           "roleTemplateId": d.DIRECTORY_READERS_TEMPLATE_ID}
OTHER_ROLE = {"@odata.type": "#microsoft.graph.directoryRole", "id": "r2", "displayName": "Reports Reader",
              "roleTemplateId": "4a5d8f65-41da-4de4-8968-e035b65339cf"}
GROUP = {"@odata.type": "#microsoft.graph.group", "id": GID, "displayName": "sql-readers"}


@pytest.mark.parametrize("transitive, app_roles, can_read, fragment", [
    ([READERS], None, True, "Directory Readers"),
    ([GROUP, READERS], None, True, "through group sql-readers"),     # via a role-assignable group
    ([OTHER_ROLE], None, False, "missing: User.Read.All"),
    ([], {"User.Read.All": True, "GroupMember.Read.All": True, "Application.Read.All": True}, True, "application roles"),
    ([], {"User.Read.All": True, "GroupMember.Read.All": False, "Application.Read.All": True}, False,
     "missing: GroupMember.Read.All"),
    ([{"@odata.type": "#microsoft.graph.directoryRole", "roleTemplateId": d.DIRECTORY_READERS_TEMPLATE_ID.upper()}],
     None, True, "Directory Readers"),
])
def test_read_verdict(transitive, app_roles, can_read, fragment):
    ok, reason = d.read_verdict(transitive, app_roles)
    assert ok is can_read
    assert fragment in reason


def test_granted_app_roles_only_counts_microsoft_graph():
    assignments = [{"resourceId": GRAPH_SP, "appRoleId": ROLE_IDS["User.Read.All"]},
                   {"resourceId": "other-api", "appRoleId": ROLE_IDS["GroupMember.Read.All"]}]
    assert d.granted_app_roles(assignments, GRAPH_SP, ROLE_IDS) == {
        "User.Read.All": True, "GroupMember.Read.All": False, "Application.Read.All": False}


def test_app_role_ids():
    sp = {"appRoles": [{"value": k, "id": v} for k, v in ROLE_IDS.items()] + [{"value": "Mail.Send", "id": "x"}]}
    assert d.app_role_ids(sp) == ROLE_IDS


@pytest.mark.parametrize("desired, fragment", [
    ({}, "exactly one way"),
    ({"principal_id": PID, "vm_name": "vm1", "resource_group": "rg"}, "exactly one way"),
    ({"principal_id": "abc"}, "not a GUID"),
    ({"vm_name": "vm1"}, "need resource_group"),
    ({"principal_id": PID, "method": "group"}, "needs group_id"),
    ({"principal_id": PID, "method": "group", "group_id": "sql-readers"}, "needs group_id"),
    ({"principal_id": PID, "group_id": GID}, "only used with method=group"),
    ({"principal_id": PID, "method": "magic"}, "method must be"),
])
def test_validate_rejects(desired, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        d.validate(dict(desired))


class FakeGraph:
    def __init__(self, transitive=(), assignments=(), group=None, group_roles=(), members=(), sp=True, post_errors=()):
        self.post_errors = list(post_errors)
        self.data = {
            "/servicePrincipals/%s/transitiveMemberOf" % PID: list(transitive),
            "/servicePrincipals/%s/appRoleAssignments" % PID: list(assignments),
            "/servicePrincipals?$filter=appId eq '%s'" % d.MICROSOFT_GRAPH_APP_ID: [
                {"id": GRAPH_SP, "appRoles": [{"value": k, "id": v} for k, v in ROLE_IDS.items()]}],
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '%s'" % GID: list(group_roles),
            "/roleManagement/directory/roleAssignments?$filter=principalId eq '%s'" % PID: [
                {"id": "ra1", "roleDefinitionId": d.DIRECTORY_READERS_TEMPLATE_ID}],
            "/groups/%s/members?$select=id" % GID: list(members),
        }
        self.group = group
        self.sp = sp
        self.writes = []

    def list_all(self, client, path, params=None):
        return self.data[path + "".join("?%s=%s" % item for item in (params or {}).items())]

    def get(self, client, path, params=None, missing_ok=False):
        if path.startswith("/groups/"):
            return self.group
        return {"id": PID} if self.sp else None

    def post(self, client, path, body):
        self.writes.append(("POST", path, body))
        if self.post_errors:
            raise self.post_errors.pop(0)
        return {}

    def delete(self, client, path):
        self.writes.append(("DELETE", path, None))


class Cloud:
    graph_endpoint = "https://graph.example/"


class Session:
    subscription_id = "00000000-1111-2222-3333-444444444444"
    graph = object()
    cloud = Cloud()


@pytest.fixture
def graph(monkeypatch):
    def install(**kwargs):
        fake = FakeGraph(**kwargs)
        monkeypatch.setattr(d, "graph", fake)
        return fake
    return install


def test_directory_role_present_transitively_is_a_no_op(graph):
    fake = graph(transitive=[GROUP, READERS])
    changed, before, after, _r = ensure_present(Session(), {"principal_id": PID}, check_mode=False)
    assert changed is False and fake.writes == [] and before == after


def test_directory_role_assigned_when_missing(graph):
    fake = graph(transitive=[OTHER_ROLE])
    changed, before, after, _r = ensure_present(Session(), {"principal_id": PID}, check_mode=False)
    assert changed is True and before["can_read_directory"] is False and after["can_read_directory"] is True
    assert fake.writes == [("POST", "/roleManagement/directory/roleAssignments", {
        "principalId": PID, "roleDefinitionId": d.DIRECTORY_READERS_TEMPLATE_ID, "directoryScopeId": "/"})]


def test_check_mode_writes_nothing(graph):
    fake = graph()
    changed, *_rest = ensure_present(Session(), {"principal_id": PID, "method": "graph_app_roles"}, check_mode=True)
    assert changed is True and fake.writes == []


def test_app_roles_grants_only_the_missing_ones(graph):
    fake = graph(assignments=[{"id": "x", "resourceId": GRAPH_SP, "appRoleId": ROLE_IDS["User.Read.All"]}])
    changed, _b, _a, result = ensure_present(Session(), {"principal_id": PID, "method": "graph_app_roles"}, False)
    assert changed is True
    assert sorted(w[2]["appRoleId"] for w in fake.writes) == sorted(
        [ROLE_IDS["GroupMember.Read.All"], ROLE_IDS["Application.Read.All"]])


def test_group_membership_added(graph):
    fake = graph(group={"id": GID, "displayName": "sql-readers", "isAssignableToRole": True},
                 group_roles=[{"roleDefinitionId": d.DIRECTORY_READERS_TEMPLATE_ID}])
    changed, *_rest = ensure_present(Session(), {"principal_id": PID, "method": "group", "group_id": GID}, False)
    assert changed is True
    assert fake.writes == [("POST", "/groups/%s/members/$ref" % GID,
                            {"@odata.id": "https://graph.example/v1.0/directoryObjects/%s" % PID})]


@pytest.mark.parametrize("group, roles, fragment", [
    (None, [], "not found"),
    ({"id": GID, "displayName": "g", "isAssignableToRole": False}, [], "not role-assignable"),
    ({"id": GID, "displayName": "g", "isAssignableToRole": True}, [], "does not hold Directory Readers"),
])
def test_group_prerequisites_fail_without_writes(graph, group, roles, fragment):
    fake = graph(group=group, group_roles=roles)
    with pytest.raises(PrerequisiteError, match=fragment):
        ensure_present(Session(), {"principal_id": PID, "method": "group", "group_id": GID}, False)
    assert fake.writes == []


def test_absent_removes_the_direct_role_assignment(graph):
    fake = graph(transitive=[READERS])
    changed, before, after, _result = ensure_absent(Session(), {"principal_id": PID}, False)
    assert changed is True and fake.writes == [("DELETE", "/roleManagement/directory/roleAssignments/ra1", None)]
    assert before["can_read_directory"] is True and after["can_read_directory"] is False


def test_absent_group_only_when_direct_member(graph):
    fake = graph(transitive=[GROUP, READERS], members=[{"id": "someone-else"}])
    changed, *_rest = ensure_absent(Session(), {"principal_id": PID, "method": "group", "group_id": GID}, False)
    assert changed is False and fake.writes == []


# Graph POSTs are not replayed by the retry policy; the backend replays a grant once after a connection
# error and takes Graph's "already exists" refusal as the grant being in place.
RESET = AzureApiError("create", "x", None, "ConnectionError", "Connection aborted: reset by peer")
EXISTS = {
    "directory_role": AzureApiError("create", "x", 400, "Request_BadRequest", "A conflicting object with one or more "
                                    "of the specified property values is present in the directory."),
    "group": AzureApiError("create", "x", 400, "Request_BadRequest", "One or more added object references already "
                           "exist for the following modified properties: 'members'."),
    "graph_app_roles": AzureApiError("create", "x", 400, "Request_BadRequest",
                                     "Permission being assigned already exists on the object"),
}


def _grant_fake(graph, method, post_errors):
    fake = graph(transitive=[OTHER_ROLE], post_errors=post_errors,
                 group={"id": GID, "displayName": "sql-readers", "isAssignableToRole": True},
                 group_roles=[{"roleDefinitionId": d.DIRECTORY_READERS_TEMPLATE_ID}])
    desired = {"principal_id": PID, "method": method}
    if method == "group":
        desired["group_id"] = GID
    return fake, desired


@pytest.mark.parametrize("method", sorted(EXISTS))
def test_a_grant_lost_to_a_connection_reset_is_sent_again(graph, method):
    fake, desired = _grant_fake(graph, method, [RESET])
    changed, *_rest = ensure_present(Session(), desired, False)
    assert changed is True
    assert fake.writes[0] == fake.writes[1] and fake.writes[0][0] == "POST"


@pytest.mark.parametrize("method", sorted(EXISTS))
def test_a_replayed_grant_that_graph_already_applied_counts_as_done(graph, method):
    fake, desired = _grant_fake(graph, method, [RESET, EXISTS[method]])
    changed, *_rest = ensure_present(Session(), desired, False)
    assert changed is True and len(fake.writes) >= 2


@pytest.mark.parametrize("method", sorted(EXISTS))
def test_a_grant_racing_another_writer_counts_as_done(graph, method):
    fake, desired = _grant_fake(graph, method, [EXISTS[method]])
    changed, *_rest = ensure_present(Session(), desired, False)
    assert changed is True and fake.writes


def test_other_grant_failures_are_not_replayed(graph):
    denied = AzureApiError("create", "x", 403, "Authorization_RequestDenied", "Insufficient privileges")
    fake, desired = _grant_fake(graph, "directory_role", [denied])
    with pytest.raises(AzureApiError) as caught:
        ensure_present(Session(), desired, False)
    assert caught.value is denied and len(fake.writes) == 1


def test_a_grant_is_replayed_only_once(graph):
    fake, desired = _grant_fake(graph, "directory_role", [RESET, RESET])
    with pytest.raises(AzureApiError, match="reset by peer"):
        ensure_present(Session(), desired, False)
    assert len(fake.writes) == 2


def _not_yet(count):
    return [AzureApiError("list", "x", 404, "Request_ResourceNotFound", "Resource '%s' does not exist" % PID)] * count


def test_a_principal_graph_does_not_know_yet_is_waited_for(graph):
    fake = graph(transitive=[OTHER_ROLE])
    answers = _not_yet(2)
    real_list = fake.list_all

    def list_all(client, path, params=None):
        if path.endswith("/transitiveMemberOf") and answers:
            raise answers.pop(0)
        return real_list(client, path, params)

    fake.list_all = list_all
    sleeps = []
    changed, *_rest = ensure_present(Session(), {"principal_id": PID}, False, sleep=sleeps.append)
    assert changed is True and sleeps == [2.0, 4.0]


def test_a_principal_that_never_appears_fails_after_principal_wait(graph):
    fake = graph()
    answers = _not_yet(100)

    def list_all(client, path, params=None):
        raise answers.pop(0)

    fake.list_all = list_all
    sleeps = []
    with pytest.raises(PrerequisiteError, match="waited 10 s") as caught:
        ensure_present(Session(), {"principal_id": PID, "principal_wait": 10}, False, sleep=sleeps.append)
    assert sum(sleeps) <= 10 and fake.writes == [] and "principal_wait" in caught.value.fix


@pytest.mark.parametrize("wait", [-1, -120])
def test_negative_principal_wait_is_refused(wait):
    with pytest.raises(InvalidInputError, match="principal_wait=%d" % wait):
        d.validate({"principal_id": PID, "principal_wait": wait})
