"""Microsoft Graph v1.0 shapes, filters, paging, writes and errors (plain HTTP, as the product calls Graph)."""
from simclients import Graph, credential, readonly_credential

DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
SP_KEYS = {"id", "appId", "displayName", "servicePrincipalType", "alternativeNames", "servicePrincipalNames",
           "appRoles", "accountEnabled", "appOwnerOrganizationId"}


def _sp(sim, vm):
    return sim.admin.state()["vms"][vm]["identities"]


def test_service_principal_by_id_and_filters(sim):
    graph = Graph(sim)
    principal = _sp(sim, "sqlvm-ready")["system"]
    body = graph.get("/servicePrincipals/" + principal["principal_id"]).json()
    assert SP_KEYS <= set(body) and body["@odata.context"].endswith("$metadata#servicePrincipals/$entity")
    assert body["servicePrincipalType"] == "ManagedIdentity" and body["appId"] == principal["client_id"]
    assert body["alternativeNames"][1].endswith("/virtualMachines/sqlvm-ready")
    by_app = graph.get("/servicePrincipals", **{"$filter": "appId eq '%s'" % principal["client_id"]}).json()["value"]
    assert [s["id"] for s in by_app] == [principal["principal_id"]]
    by_name = graph.get("/servicePrincipals", **{"$filter": "displayName eq 'Microsoft Graph'"}).json()["value"]
    assert by_name[0]["appId"] == "00000003-0000-0000-c000-000000000000"
    roles = {r["value"] for r in by_name[0]["appRoles"]}
    assert roles >= {"User.Read.All", "GroupMember.Read.All", "Application.Read.All"}
    assert graph.get("/servicePrincipals(appId='%s')" % principal["client_id"]).json()["id"] == principal["principal_id"]


def test_errors_are_shaped_as_graph(sim):
    graph = Graph(sim)
    missing = graph.get("/servicePrincipals/00000000-0000-0000-0000-000000000042")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "Request_ResourceNotFound" and {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    assert graph.get("/servicePrincipals/not-a-guid").json()["error"]["code"] == "Request_BadRequest"
    assert graph.get("/servicePrincipals", **{"$filter": "foo gt 3"}).json()["error"]["code"] == "Request_UnsupportedQuery"
    anonymous = graph.session.get(graph.base + "/servicePrincipals", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    # A token for ARM is not a token for Graph.
    arm_token = credential(sim).get_token(sim.env["SIM_ARM_AUDIENCE"] + ".default").token
    wrong = graph.session.get(graph.base + "/servicePrincipals", headers={"Authorization": "Bearer " + arm_token})
    assert wrong.status_code == 401


def test_transitive_member_of_with_directory_role_cast(sim):
    graph = Graph(sim)
    direct = graph.get("/servicePrincipals/%s/transitiveMemberOf/microsoft.graph.directoryRole" %
                       _sp(sim, "sqlvm-ready")["system"]["principal_id"]).json()
    assert [(r["@odata.type"], r["roleTemplateId"], r["displayName"]) for r in direct["value"]] == [
        ("#microsoft.graph.directoryRole", DIRECTORY_READERS, "Directory Readers")]
    via_group = _sp(sim, "sqlvm-2025")["user_assigned"][0]["principal_id"]
    everything = graph.get("/servicePrincipals/%s/transitiveMemberOf" % via_group).json()["value"]
    assert {o["@odata.type"] for o in everything} == {"#microsoft.graph.group", "#microsoft.graph.directoryRole"}
    direct_only = graph.get("/servicePrincipals/%s/memberOf/microsoft.graph.directoryRole" % via_group).json()["value"]
    assert direct_only == []
    assert graph.get("/servicePrincipals/%s/transitiveMemberOf/microsoft.graph.directoryRole" %
                     _sp(sim, "sqlvm-nodir")["system"]["principal_id"]).json()["value"] == []


def test_app_role_assignments(sim):
    graph = Graph(sim)
    uami = _sp(sim, "sqlvm-uami")["user_assigned"][0]["principal_id"]
    assigned = graph.get("/servicePrincipals/%s/appRoleAssignments" % uami).json()["value"]
    assert len(assigned) == 3
    assert {"id", "appRoleId", "principalId", "principalType", "resourceId", "resourceDisplayName",
            "createdDateTime"} <= set(assigned[0])
    target = _sp(sim, "sqlvm-nodir")["system"]["principal_id"]
    graph_sp = graph.get("/servicePrincipals", **{"$filter": "appId eq '00000003-0000-0000-c000-000000000000'"}).json()["value"][0]
    role = next(r["id"] for r in graph_sp["appRoles"] if r["value"] == "User.Read.All")
    created = graph.post("/servicePrincipals/%s/appRoleAssignments" % target,
                         {"principalId": target, "resourceId": graph_sp["id"], "appRoleId": role})
    assert created.status_code == 201
    again = graph.post("/servicePrincipals/%s/appRoleAssignedTo" % graph_sp["id"],
                       {"principalId": target, "resourceId": graph_sp["id"], "appRoleId": role})
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
    assigned_to = graph.list_all("/servicePrincipals/%s/appRoleAssignedTo" % graph_sp["id"])[0]
    assert created.json()["id"] in {a["id"] for a in assigned_to}
    assert graph.delete("/servicePrincipals/%s/appRoleAssignments/%s" % (target, created.json()["id"])).status_code == 204


def test_directory_role_assignments(sim):
    graph = Graph(sim)
    target = _sp(sim, "sqlvm-nodir")["system"]["principal_id"]
    listed = graph.get("/roleManagement/directory/roleAssignments",
                       **{"$filter": "principalId eq '%s'" % target}).json()["value"]
    assert listed == []
    created = graph.post("/roleManagement/directory/roleAssignments",
                         {"principalId": target, "roleDefinitionId": DIRECTORY_READERS, "directoryScopeId": "/"})
    assert created.status_code == 201 and created.json()["roleDefinitionId"] == DIRECTORY_READERS
    assert sim.admin.readiness()["sqlvm-nodir"]["ready"] is True
    duplicate = graph.post("/roleManagement/directory/roleAssignments",
                           {"principalId": target, "roleDefinitionId": DIRECTORY_READERS, "directoryScopeId": "/"})
    assert duplicate.status_code == 400
    templates = graph.get("/directoryRoleTemplates").json()["value"]
    assert DIRECTORY_READERS in {t["id"] for t in templates}
    roles = graph.get("/directoryRoles", **{"$filter": "roleTemplateId eq '%s'" % DIRECTORY_READERS}).json()["value"]
    members = graph.get("/directoryRoles/%s/members" % roles[0]["id"]).json()["value"]
    assert target in {m["id"] for m in members}
    assert graph.delete("/roleManagement/directory/roleAssignments/" + created.json()["id"]).status_code == 204
    assert sim.admin.readiness()["sqlvm-nodir"]["reason"] == "no_directory_read"
    writes = [e for e in sim.admin.requests(service="graph") if e["kind"] == "write"]
    assert [e["method"] for e in writes] == ["POST", "POST", "DELETE"]


def test_groups_and_members(sim):
    graph = Graph(sim)
    group = graph.get("/groups", **{"$filter": "displayName eq 'SQL Directory Readers'"}).json()["value"][0]
    assert group["isAssignableToRole"] is True and group["securityEnabled"] is True
    members = graph.get("/groups/%s/members" % group["id"]).json()["value"]
    assert [m["@odata.type"] for m in members] == ["#microsoft.graph.servicePrincipal"]
    user = graph.get("/users/dba1@contoso.onmicrosoft.com").json()
    dbas = graph.get("/groups", **{"$filter": "displayName eq 'SQL DBAs'"}).json()["value"][0]
    response = graph.post("/groups/%s/members/$ref" % dbas["id"],
                          {"@odata.id": sim.env["SIM_GRAPH_URL"] + "/v1.0/directoryObjects/" +
                           _sp(sim, "sqlvm-ready")["system"]["principal_id"]})
    assert response.status_code == 204
    assert len(graph.get("/groups/%s/members" % dbas["id"]).json()["value"]) == 3
    assert user["id"] in {m["id"] for m in graph.get("/groups/%s/transitiveMembers" % dbas["id"]).json()["value"]}


def test_paging_with_next_link(sim):
    graph = Graph(sim)
    everything, pages = graph.list_all("/servicePrincipals", **{"$top": "3"})
    single = graph.get("/servicePrincipals", **{"$top": "999"}).json()["value"]
    assert pages == (len(single) + 2) // 3 and sorted(s["id"] for s in everything) == sorted(s["id"] for s in single)


def test_reader_without_directory_rights_is_denied(sim):
    graph = Graph(sim, cred=readonly_credential(sim))
    response = graph.get("/servicePrincipals")
    assert response.status_code == 403 and response.json()["error"]["code"] == "Authorization_RequestDenied"


def test_throttled_graph_call_carries_retry_after(sim):
    graph = Graph(sim)
    sim.admin.inject(service="graph", path="/v1.0/servicePrincipals", status=429, retry_after=2, count=1)
    first = graph.get("/servicePrincipals")
    assert first.status_code == 429 and first.headers["Retry-After"] == "2"
    assert first.json()["error"]["code"] == "TooManyRequests"
    assert graph.get("/servicePrincipals").status_code == 200
