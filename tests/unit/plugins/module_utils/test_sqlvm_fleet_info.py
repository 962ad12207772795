"""sqlvm_fleet_info: input, request planning, the fleet's directory verdicts, the shared evaluation and the
threaded read (on scripted clients: one client per worker thread, requests counted, one host's failure)."""
import json
import threading
import urllib.parse

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.graph import DIRECTORY_READERS_TEMPLATE_ID
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader as directory
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_fleet_info as fleet
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_info
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError, InvalidInputError

SUB = "00000000-1111-2222-3333-444444444444"
SUB2 = "55555555-1111-2222-3333-444444444444"
ACCOUNT = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB
CONTRIBUTOR = "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe" % SUB


def _entry(host, rg="rg", sub=None, **extra):
    return dict({"host": host, "resource_group": rg, "vm_name": host, "subscription_id": sub}, **extra)


# ---------------------------------------------------------------------------------------------
# input and planning

@pytest.mark.parametrize("vms, fragment", [
    ([_entry("a"), _entry("a")], "vms[1].host 'a' is also vms[0].host"),
    ([_entry("a"), {"host": "b", "vm_name": "b"}], "vms[1].resource_group"),
    ([_entry("a", storage_scope="acct")], "vms[0].storage_scope 'acct' is not an ARM scope"),
    ([_entry("a", sql_version="x")], "vms[0].sql_version"),
    ([_entry("a", sub="nope")], "vms[0].subscription_id"),
    ([_entry("a", rg="r g")], "vms[0].resource_group 'r g'"),
    ([_entry("a"), "b"], "vms[1] must be a dict"),
    ([{"resource_group": "rg", "vm_name": "v"}], "vms[0].host is required"),
])
def test_bad_entries_are_named(vms, fragment):
    with pytest.raises(InvalidInputError) as info:
        fleet.validate({"vms": vms})
    assert fragment in str(info.value)


@pytest.mark.parametrize("concurrency", [0, -1, 65, True, "8"])
def test_concurrency_is_bounded(concurrency):
    with pytest.raises(InvalidInputError, match="concurrency"):
        fleet.validate({"vms": [], "concurrency": concurrency})


def test_storage_scope_in_another_subscription_is_refused_for_that_entry():
    other = ACCOUNT.replace(SUB, SUB2)
    fleet.validate({"vms": [_entry("a", sub=SUB2, storage_scope=other)], "subscription_id": SUB})
    with pytest.raises(InvalidInputError, match=r"vms\[0\].storage_scope"):
        fleet.validate({"vms": [_entry("a", storage_scope=other)], "subscription_id": SUB})


@pytest.mark.parametrize("entries, want", [
    ([_entry("a"), _entry("b", rg="RG")], ["/subscriptions/%s/resourceGroups/rg" % SUB]),  # one group: list it
    ([_entry("a"), _entry("b", rg="rg2")], ["/subscriptions/%s" % SUB]),  # two groups: one subscription list
    ([_entry("a"), _entry("b", rg="rg2", sub=SUB2)],
     ["/subscriptions/%s/resourceGroups/rg" % SUB, "/subscriptions/%s/resourceGroups/rg2" % SUB2]),
    ([], []),
])
def test_vm_lists_per_subscription_or_its_one_resource_group(entries, want):
    assert fleet.vm_collections(entries, SUB) == want


def test_one_role_assignment_list_per_distinct_scope():
    planned = fleet.validate({"vms": [_entry("a", storage_scope=ACCOUNT), _entry("b", storage_scope=ACCOUNT.upper()
                                      .replace("SUBSCRIPTIONS", "subscriptions")), _entry("c")]})
    assert fleet.storage_scopes(planned) == [ACCOUNT]


# ---------------------------------------------------------------------------------------------
# the directory, read once

GROUP = {"@odata.type": "#microsoft.graph.group", "id": "g1", "displayName": "sql-readers"}
GRAPH_SP = {"id": "graph-sp", "appRoles": [{"value": name, "id": "role-%d" % i}
                                           for i, name in enumerate(directory.READ_APP_ROLES)]}


def _snapshot():
    readers = [{"@odata.type": "#microsoft.graph.servicePrincipal", "id": "P-DIRECT"}, GROUP]
    grants = [{"principalId": "p-apps", "resourceId": "graph-sp", "appRoleId": "role-%d" % i} for i in range(3)]
    grants.append({"principalId": "p-some", "resourceId": "graph-sp", "appRoleId": "role-0"})
    return fleet.DirectorySnapshot(readers, {"g1": (GROUP, [{"id": "p-group"}])}, GRAPH_SP, grants)


@pytest.mark.parametrize("principal, transitive, app_roles", [
    ("p-direct", [{"@odata.type": "#microsoft.graph.directoryRole", "roleTemplateId": DIRECTORY_READERS_TEMPLATE_ID}],
     None),
    ("p-group", [GROUP, {"@odata.type": "#microsoft.graph.directoryRole", "roleTemplateId": DIRECTORY_READERS_TEMPLATE_ID}],
     None),
    ("p-apps", [], {name: True for name in directory.READ_APP_ROLES}),
    ("p-some", [], {"User.Read.All": True, "GroupMember.Read.All": False, "Application.Read.All": False}),
    ("p-none", [], {name: False for name in directory.READ_APP_ROLES}),
])
def test_fleet_verdict_is_what_one_principals_read_gives(principal, transitive, app_roles):
    """The verdict from the fleet's one read equals read_verdict on that principal's own transitiveMemberOf
    and app role assignments - what sqlvm_info reads for it."""
    assert _snapshot().verdict(principal) == directory.read_verdict(transitive, app_roles)


def test_a_failed_directory_read_is_every_hosts_directory_check():
    error = AzureApiError("list /directoryRoles", "/directoryRoles", 403, "Authorization_RequestDenied", "denied")
    report = sqlvm_info.evaluate({}, _sqlvm(""), VM_SYS, directory_verdict=fleet.DirectorySnapshot(error=error).verdict)
    assert report["checks"]["directory_read"]["ready"] is False
    assert "could not read Microsoft Graph" in report["checks"]["directory_read"]["reason"]


# ---------------------------------------------------------------------------------------------
# the shared evaluation

def _sqlvm(client_id=None, name="a"):
    props = {"osType": "Windows", "sqlImageOffer": "SQL2022-WS2022",
             "virtualMachineResourceId": "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/"
                                         "virtualMachines/%s" % (SUB, name)}
    if client_id is not None:
        props["serverConfigurationsManagementSettings"] = {"azureAdAuthenticationSettings": {"clientId": client_id}}
    return {"id": "/x/sqlVirtualMachines/%s" % name, "name": name, "properties": props}


VM_SYS = {"id": "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/a" % SUB,
          "identity": {"type": "SystemAssigned", "principalId": "p-sys", "tenantId": "t"}}


def _never(_principal):
    raise AssertionError("read although not needed")


def test_unregistered_vm_is_only_the_sql_vm_resource_check():
    report = sqlvm_info.evaluate({}, None, None, ACCOUNT, _never, _never)
    assert report == {"checks": {"sql_vm_resource": report["checks"]["sql_vm_resource"]}, "ready": False,
                      "not_ready": ["sql_vm_resource"]}


def test_without_a_primary_identity_nothing_is_read_for_it():
    report = sqlvm_info.evaluate({}, _sqlvm(), VM_SYS, ACCOUNT, _never, _never)
    assert report["not_ready"] == ["directory_read", "entra_authentication", "storage_access"]
    assert report["primary_principal_id"] is None


def test_ready_and_check_directory_off():
    assignments = [{"properties": {"scope": ACCOUNT, "principalId": "p-sys", "roleDefinitionId": CONTRIBUTOR}}]
    report = sqlvm_info.evaluate({}, _sqlvm(""), VM_SYS, ACCOUNT, lambda p: (True, "holds Directory Readers"),
                                 lambda p: assignments)
    assert report["ready"] is True and report["not_ready"] == [] and report["primary_principal_id"] == "p-sys"
    off = sqlvm_info.evaluate({"check_directory": False}, _sqlvm(""), VM_SYS, None, _never, _never)
    assert "directory_read" not in off["checks"] and "storage_access" not in off["checks"] and off["ready"] is True


# ---------------------------------------------------------------------------------------------
# the threaded read, on scripted clients

class _Response:
    def __init__(self, status, body):
        self.status_code = status
        self._text = json.dumps(body) if body is not None else ""
        self.headers = {}

    def text(self):
        return self._text


class _ScriptedClient:
    """A pipeline client answering from `routes` ({(method, path): (status, body)}); records the thread."""

    def __init__(self, routes, base, log):
        self.routes, self.base, self.log = routes, base, log

    def format_url(self, url, **_kwargs):
        return url if url.startswith("http") else self.base + url

    def send_request(self, request, **_kwargs):
        path = urllib.parse.urlsplit(request.url).path
        self.log.append((threading.get_ident(), id(self), path))
        for (method, pattern), answer in self.routes.items():
            if method == request.method and path.lower() == pattern.lower():
                return _Response(*answer)
        return _Response(404, {"error": {"code": "ResourceNotFound", "message": "no route %s" % path}})


class _Session:
    subscription_id = SUB
    deadline = None

    class cloud:  # noqa: N801 - the attribute the backend reads
        arm_scope = "https://management.test/.default"

    def __init__(self, routes, log):
        self.arm = _ScriptedClient(routes, "https://management.test", log)
        self.graph = _ScriptedClient(routes, "https://graph.test/v1.0", log)
        self.tokens = 0

    def token(self, _scope):
        self.tokens += 1
        return "t"


def _routes(names, broken=()):
    rg = "/subscriptions/%s/resourceGroups/rg" % SUB
    routes = {}
    for name in names:
        status = 500 if name in broken else 200
        routes[("GET", rg + "/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines/" + name)] = (
            status, _sqlvm("", name) if status == 200 else {"error": {"code": "InternalServerError", "message": "x"}})
    vms = [dict(VM_SYS, id=rg + "/providers/Microsoft.Compute/virtualMachines/" + n, name=n,
                identity={"type": "SystemAssigned", "principalId": "p-" + n}) for n in names]
    routes[("GET", rg + "/providers/Microsoft.Compute/virtualMachines")] = (200, {"value": vms})
    routes[("GET", ACCOUNT + "/providers/Microsoft.Authorization/roleAssignments")] = (200, {"value": [
        {"properties": {"scope": ACCOUNT, "principalId": "p-" + names[0], "roleDefinitionId": CONTRIBUTOR}}]})
    routes[("GET", "/v1.0/directoryRoles(roleTemplateId='%s')" % DIRECTORY_READERS_TEMPLATE_ID)] = (200, {"id": "dr"})
    routes[("GET", "/v1.0/directoryRoles/dr/members")] = (200, {"value": [{"id": "p-" + names[0]}]})
    routes[("GET", "/v1.0/servicePrincipals")] = (200, {"value": [GRAPH_SP]})
    routes[("GET", "/v1.0/servicePrincipals/graph-sp/appRoleAssignedTo")] = (200, {"value": []})
    return routes


def test_read_in_threads_one_client_each_requests_counted_one_host_failing():
    names = ["vm%02d" % i for i in range(12)]
    log = []
    routes = _routes(names, broken={"vm05"})
    session = _Session(routes, log)
    made = []

    def make_client():
        made.append(threading.get_ident())
        return _ScriptedClient(routes, "https://management.test", log)

    desired = {"vms": [_entry(n, storage_scope=ACCOUNT) for n in names], "concurrency": 4, "check_directory": True}
    result = fleet.read(session, desired, make_client=make_client)
    hosts = result.values["hosts"]
    assert result.changed is False and session.tokens == 1
    assert hosts["vm00"]["ready"] is True, hosts["vm00"]
    assert hosts["vm01"]["not_ready"] == ["directory_read", "storage_access"], hosts["vm01"]
    assert hosts["vm05"]["failed"] is True and "InternalServerError" in hosts["vm05"]["msg"]
    assert len(made) == len(set(made)) <= 4  # one client per worker thread, never two for one thread
    clients_by_thread = {}
    for thread, client, _path in log:
        clients_by_thread.setdefault(thread, set()).add(client)
    assert all(len(clients) <= 2 for clients in clients_by_thread.values())  # its ARM client (+ Graph in main)
    assert result.values["requests"] == {"gets": 12, "lists": 2, "graph": 4}, result.values["requests"]
    assert len(log) == 18


def test_read_of_an_empty_fleet_sends_nothing():
    log = []
    result = fleet.read(_Session({}, log), {"vms": []})
    assert result.values == {"hosts": {}, "requests": {"lists": 0, "gets": 0, "graph": 0}} and log == []


def test_vm_list_refused_for_the_subscription_is_read_per_resource_group():
    """Reader on the fleet's resource groups only: the subscription's list answers 403, the groups' lists work."""
    log = []
    routes = _routes(["vm00"])
    rg2 = "/subscriptions/%s/resourceGroups/rg2" % SUB
    routes[("GET", rg2 + "/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines/vm10")] = (200, dict(
        _sqlvm("", "vm10"), properties=dict(_sqlvm("", "vm10")["properties"],
                                            virtualMachineResourceId=rg2 + "/providers/Microsoft.Compute/virtualMachines/vm10")))
    routes[("GET", rg2 + "/providers/Microsoft.Compute/virtualMachines")] = (200, {"value": [
        {"id": rg2 + "/providers/Microsoft.Compute/virtualMachines/vm10",
         "identity": {"type": "SystemAssigned", "principalId": "p-vm10"}}]})
    routes[("GET", "/subscriptions/%s/providers/Microsoft.Compute/virtualMachines" % SUB)] = (403, {"error": {
        "code": "AuthorizationFailed", "message": "no read on the subscription"}})
    session = _Session(routes, log)
    desired = {"vms": [_entry("vm00"), _entry("vm10", rg="rg2")], "check_directory": False}
    result = fleet.read(session, desired, make_client=lambda: _ScriptedClient(routes, "https://management.test", log))
    hosts = result.values["hosts"]
    assert hosts["vm00"]["ready"] is True and hosts["vm10"]["ready"] is True, hosts
    listed = [path for _thread, _client, path in log if path.endswith("/virtualMachines")]
    assert sorted(listed) == sorted(["/subscriptions/%s/providers/Microsoft.Compute/virtualMachines" % SUB,
                                     "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines" % SUB,
                                     rg2 + "/providers/Microsoft.Compute/virtualMachines"])
    assert result.values["requests"] == {"gets": 2, "lists": 3, "graph": 0}


def test_azure_core_is_imported_before_the_worker_threads_start():
    """A first import of azure-core modules from several threads at once failed here once ("partially initialized
    module azure.core.utils._pipeline_transport_rest_shared"): the modules a request needs are imported by the
    thread that starts the workers. Checked in a fresh interpreter, where nothing has imported them yet."""
    import os
    import subprocess
    import sys
    code = (
        "import sys\n"
        "from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_fleet_info as fleet\n"
        "assert 'azure.core.rest' not in sys.modules\n"
        "class S:\n"
        "    class cloud:\n"
        "        arm_scope = 's'\n"
        "    arm = object()\n"
        "    def token(self, scope):\n"
        "        return 't'\n"
        "fleet._prepare_for_threads(S())\n"
        "assert 'azure.core.rest' in sys.modules and 'azure.core.exceptions' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    assert out.returncode == 0, out.stderr
