"""Microsoft.Authorization role definitions and assignments through azure-mgmt-authorization."""
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient

from simclients import arm_session, mgmt, sub_path

BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"


def _role_id(sim, role=BLOB_CONTRIBUTOR):
    return sub_path(sim) + "/providers/Microsoft.Authorization/roleDefinitions/" + role


def _storage_scope(sim):
    return sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.Storage/storageAccounts/stsqlbackup01"


def test_role_definition_by_name(sim):
    auth = mgmt(sim, AuthorizationManagementClient)
    found = list(auth.role_definitions.list(sub_path(sim), filter="roleName eq 'Storage Blob Data Contributor'"))
    assert [r.name for r in found] == [BLOB_CONTRIBUTOR]
    assert found[0].role_type == "BuiltInRole"
    assert "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write" in found[0].permissions[0].data_actions
    by_id = auth.role_definitions.get(sub_path(sim), BLOB_CONTRIBUTOR)
    assert by_id.role_name == "Storage Blob Data Contributor"
    assert list(auth.role_definitions.list(sub_path(sim), filter="roleName eq 'No Such Role'")) == []


def test_list_filters_and_paging(sim):
    sim.admin.settings(arm_page_size=2)
    auth = mgmt(sim, AuthorizationManagementClient)
    everything = list(auth.role_assignments.list_for_scope(sub_path(sim)))
    assert len(everything) >= 6
    pages = [e for e in sim.admin.requests(service="arm") if e["route"].endswith("/roleAssignments")]
    assert len(pages) == (len(everything) + 1) // 2
    at_scope = list(auth.role_assignments.list_for_scope(sub_path(sim), filter="atScope()"))
    assert {a.scope.lower() for a in at_scope} == {sub_path(sim).lower()}
    vm = sim.admin.state()["vms"]["sqlvm-ready"]["identities"]["system"]["principal_id"]
    mine = list(auth.role_assignments.list_for_scope(sub_path(sim), filter="principalId eq '%s'" % vm))
    assert len(mine) == 1 and mine[0].scope.lower() == _storage_scope(sim).lower()
    above = list(auth.role_assignments.list_for_scope(_storage_scope(sim) + "/blobServices/default/containers/backups",
                                                      filter="atScope()"))
    assert any(a.principal_id == vm for a in above)  # inherited from the account


def test_create_conflict_and_delete(sim):
    auth = mgmt(sim, AuthorizationManagementClient)
    principal = sim.admin.state()["vms"]["sqlvm-nodir"]["identities"]["system"]["principal_id"]
    name = str(uuid.uuid4())
    params = {"role_definition_id": _role_id(sim), "principal_id": principal, "principal_type": "ServicePrincipal"}
    created = auth.role_assignments.create(_storage_scope(sim), name, params)
    assert created.name == name and created.principal_type == "ServicePrincipal"
    with pytest.raises(ResourceExistsError) as info:
        auth.role_assignments.create(_storage_scope(sim), str(uuid.uuid4()), params)
    assert info.value.error.code == "RoleAssignmentExists"
    assert auth.role_assignments.get(_storage_scope(sim), name).principal_id == principal
    auth.role_assignments.delete(_storage_scope(sim), name)
    assert auth.role_assignments.delete(_storage_scope(sim), name) is None  # 204


def test_principal_not_found_while_a_new_identity_replicates(sim):
    auth = mgmt(sim, AuthorizationManagementClient)
    msi = mgmt(sim, ManagedServiceIdentityClient)
    uami = msi.user_assigned_identities.create_or_update("rg-sql", "uami-fresh", {"location": "westeurope"})
    params = {"role_definition_id": _role_id(sim), "principal_id": uami.principal_id}
    with pytest.raises(HttpResponseError) as info:
        auth.role_assignments.create(_storage_scope(sim), str(uuid.uuid4()), params)
    assert info.value.status_code == 400 and info.value.error.code == "PrincipalNotFound"
    params["principal_type"] = "ServicePrincipal"
    assert auth.role_assignments.create(_storage_scope(sim), str(uuid.uuid4()), params).principal_id == uami.principal_id
    with pytest.raises(HttpResponseError) as info:
        auth.role_assignments.create(_storage_scope(sim), str(uuid.uuid4()), dict(
            params, principal_id=str(uuid.uuid4())))
    assert info.value.error.code == "PrincipalNotFound"


def test_invalid_assignment_requests(sim):
    session = arm_session(sim)
    base = sim.env["SIM_ARM_URL"] + _storage_scope(sim) + "/providers/Microsoft.Authorization/roleAssignments/"
    principal = sim.admin.state()["vms"]["sqlvm-nodir"]["identities"]["system"]["principal_id"]
    good = {"properties": {"roleDefinitionId": _role_id(sim), "principalId": principal, "principalType": "ServicePrincipal"}}
    cases = [
        ("not-a-guid", good, 400, "InvalidRoleAssignmentId"),
        (str(uuid.uuid4()), {"properties": {"principalId": principal}}, 400, "InvalidRequestContent"),
        (str(uuid.uuid4()), {"properties": dict(good["properties"], roleDefinitionId=_role_id(sim, str(uuid.uuid4())))},
         400, "RoleDefinitionDoesNotExist"),
        (str(uuid.uuid4()), {"properties": dict(good["properties"], principalType="User")}, 400, "UnmatchedPrincipalType"),
    ]
    for name, body, status, code in cases:
        response = session.put(base + name + "?api-version=2022-04-01", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), name
    response = session.get(base.replace("roleAssignments/", "roleAssignments") + "?api-version=2022-04-01&$filter=foo eq 1")
    assert response.status_code == 400


def test_readonly_principal_cannot_assign_roles(sim):
    from simclients import readonly_credential
    auth = mgmt(sim, AuthorizationManagementClient, cred=readonly_credential(sim))
    principal = sim.admin.state()["vms"]["sqlvm-nodir"]["identities"]["system"]["principal_id"]
    with pytest.raises(HttpResponseError) as info:
        auth.role_assignments.create(_storage_scope(sim), str(uuid.uuid4()), {
            "role_definition_id": _role_id(sim), "principal_id": principal, "principal_type": "ServicePrincipal"})
    assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Authorization/roleAssignments/write" in info.value.error.message
