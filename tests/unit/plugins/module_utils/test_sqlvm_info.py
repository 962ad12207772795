"""Readiness verdicts of sqlvm_info (pure parts)."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_info as r

SUB = "00000000-1111-2222-3333-444444444444"
ACCOUNT = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB
CONTAINER = ACCOUNT + "/blobServices/default/containers/backups"
UAI = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a" % SUB


def _sqlvm(client_id=None, os_type="Windows", offer="SQL2022-WS2022"):
    props = {"osType": os_type, "sqlImageOffer": offer}
    if client_id is not None:
        props["serverConfigurationsManagementSettings"] = {"azureAdAuthenticationSettings": {"clientId": client_id}}
    return {"properties": props}


VM_SYS = {"identity": {"type": "SystemAssigned", "principalId": "p-sys", "tenantId": "t"}}
VM_UAI = {"identity": {"type": "UserAssigned", "userAssignedIdentities": {UAI: {"principalId": "p-a", "clientId": "c-a"}}}}


@pytest.mark.parametrize("vm, sql, ident_ok, entra_ok, principal, fragment", [
    ({}, _sqlvm(), False, False, None, "no managed identity"),
    (VM_SYS, _sqlvm(), True, False, None, "37563"),
    (VM_SYS, _sqlvm(""), True, True, "p-sys", "system-assigned"),
    (VM_UAI, _sqlvm("C-A"), True, True, "p-a", "user-assigned"),
    (VM_UAI, _sqlvm(""), True, False, None, "has none"),
    (VM_SYS, _sqlvm("c-x"), True, False, None, "not attached"),
])
def test_primary_identity(vm, sql, ident_ok, entra_ok, principal, fragment):
    ident, entra, got = r.primary_identity(vm, sql)
    assert ident["ready"] is ident_ok and entra["ready"] is entra_ok and got == principal
    assert fragment in entra["reason"] or fragment in ident["reason"]


@pytest.mark.parametrize("sql, version, ready, fragment", [
    (_sqlvm(), None, True, "pass sql_version"),
    (_sqlvm(), "16.0.4175.1", True, "supports"),
    (_sqlvm(), "16.0.4165.4", False, "CU17"),
    (_sqlvm(os_type="Linux"), None, False, "Windows only"),
    (_sqlvm(offer="SQL2019-WS2019"), None, False, "2019"),
])
def test_platform_check(sql, version, ready, fragment):
    got = r.platform_check(sql, {}, version)
    assert got["ready"] is ready and fragment in got["reason"]


def _ra(scope, role="ba92f5b4-2d11-453d-a403-e96b0029c9fe", principal="p-sys"):
    return {"properties": {"scope": scope, "principalId": principal,
                           "roleDefinitionId": "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/%s" % (SUB, role)}}


@pytest.mark.parametrize("assignments, scope, ready", [
    ([_ra(ACCOUNT)], CONTAINER, True),               # inherited from the account
    ([_ra(ACCOUNT.lower())], ACCOUNT, True),         # case-insensitive
    ([_ra(CONTAINER)], ACCOUNT, False),              # below the scope does not count
    ([_ra(ACCOUNT, role="acdd72a7-3385-48ef-bd42-f606fba81ae7")], ACCOUNT, False),  # Reader is not enough
    ([_ra(ACCOUNT, principal="someone")], ACCOUNT, False),
    ([], ACCOUNT, False),
])
def test_storage_check(assignments, scope, ready):
    assert r.storage_check(assignments, scope, "P-SYS")["ready"] is ready
