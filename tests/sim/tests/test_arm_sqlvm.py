"""Microsoft.SqlVirtualMachine through azure-mgmt-sqlvirtualmachine: LROs and the RP's rules."""
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.sqlvirtualmachine import SqlVirtualMachineManagementClient
from azure.mgmt.sqlvirtualmachine.models import AADAuthenticationSettings

from simclients import mgmt


def _enable(client, name, client_id):
    # As `az sql vm enable-azure-ad-auth` does: the PUT sends back the expanded resource, settings included.
    sql_vm = client.sql_virtual_machines.get("rg-sql", name, expand="*")
    sql_vm.server_configurations_management_settings.azure_ad_authentication_settings = \
        AADAuthenticationSettings(client_id=client_id)
    return client.sql_virtual_machines.begin_create_or_update("rg-sql", name, sql_vm)


def test_get_sql_vm_parses(sim):
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    sql_vm = client.sql_virtual_machines.get("rg-sql", "sqlvm-uami", expand="*")
    settings = sql_vm.server_configurations_management_settings.azure_ad_authentication_settings
    uami = sim.admin.state()["vms"]["sqlvm-uami"]["identities"]["user_assigned"][0]
    assert settings.client_id == uami["client_id"]
    assert sql_vm.virtual_machine_resource_id.endswith("/virtualMachines/sqlvm-uami")
    ready = client.sql_virtual_machines.get("rg-sql", "sqlvm-ready", expand="*")
    assert ready.server_configurations_management_settings.azure_ad_authentication_settings.client_id == ""
    assert {s.name for s in client.sql_virtual_machines.list_by_resource_group("rg-sql")} >= {"sqlvm-fresh"}


def test_enable_entra_auth_with_system_identity(sim):
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    poller = _enable(client, "sqlvm-noentra", "")
    assert poller.result().provisioning_state == "Succeeded"
    result = client.sql_virtual_machines.get("rg-sql", "sqlvm-noentra", expand="*")
    assert result.server_configurations_management_settings.azure_ad_authentication_settings.client_id == ""
    put = [e for e in sim.admin.requests(service="arm") if e["method"] == "PUT"]
    assert len(put) == 1 and put[0]["kind"] == "write"
    assert sim.admin.state()["vms"]["sqlvm-noentra"]["primary_identity"]["kind"] == "system"
    assert sim.admin.readiness()["sqlvm-noentra"] == {"ready": True, "reason": "ready"}


@pytest.mark.parametrize("vm, client_id, code", [
    ("sqlvm-linux", "", "AzureAdAuthenticationNotSupportedOnLinux"),
    ("sqlvm-cu16", "", "AzureAdAuthenticationNotSupportedForSqlVersion"),
    ("sqlvm-2019", "", "AzureAdAuthenticationNotSupportedForSqlVersion"),
    ("sqlvm-fci", "", "AzureAdAuthenticationNotSupportedForFci"),
    ("sqlvm-fresh", "", "SystemAssignedIdentityNotEnabled"),
    ("sqlvm-noentra", "8d7a5f3e-0000-4000-8000-000000000001", "UserAssignedIdentityNotAttached"),
    ("sqlvm-noentra", "not-a-guid", "InvalidAzureAdAuthenticationClientId"),
])
def test_resource_provider_rules(sim, vm, client_id, code):
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    with pytest.raises(HttpResponseError) as info:
        _enable(client, vm, client_id)
    assert info.value.status_code == 400 and info.value.error.code == code


def test_entra_auth_cannot_be_disabled(sim):
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    sql_vm = client.sql_virtual_machines.get("rg-sql", "sqlvm-ready", expand="*")
    sql_vm.server_configurations_management_settings.azure_ad_authentication_settings = AADAuthenticationSettings()
    with pytest.raises(HttpResponseError) as info:
        client.sql_virtual_machines.begin_create_or_update("rg-sql", "sqlvm-ready", sql_vm)
    assert info.value.error.code == "AzureAdAuthenticationCannotBeDisabled"


def test_patch_changes_tags_only(sim):
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    result = client.sql_virtual_machines.begin_update("rg-sql", "sqlvm-noentra", {"tags": {"team": "dba"}}).result()
    assert result.tags == {"team": "dba"}
    expanded = client.sql_virtual_machines.get("rg-sql", "sqlvm-noentra", expand="*")
    assert expanded.server_configurations_management_settings.azure_ad_authentication_settings is None


def test_injected_lro_failure_fails_the_poller(sim):
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    sim.admin.inject(method="PUT", path="*/sqlVirtualMachines/sqlvm-noentra", lro_status="Failed",
                     body={"error": {"code": "Ext_AgentTimeout", "message": "The SQL IaaS Agent did not answer."}})
    with pytest.raises(HttpResponseError) as info:
        _enable(client, "sqlvm-noentra", "").result()
    assert "Ext_AgentTimeout" in str(info.value)
    assert sim.admin.state()["vms"]["sqlvm-noentra"]["primary_identity"] is None


def test_injected_lro_cancel(sim):
    client = mgmt(sim, ComputeManagementClient)
    sim.admin.inject(method="PATCH", path="*/virtualMachines/sqlvm-fresh", lro_status="Canceled")
    with pytest.raises(HttpResponseError):
        client.virtual_machines.begin_update("rg-sql", "sqlvm-fresh", {"identity": {"type": "SystemAssigned"}}).result()
    assert sim.admin.state()["vms"]["sqlvm-fresh"]["identities"]["system"] is None


def test_list_and_plain_get_omit_the_settings_only_expand_returns(sim):
    """SqlVirtualMachines_List / _ListByResourceGroup take no $expand and GET returns the SQL IaaS settings only
    when asked (sqlvm.json 2023-10-01; examples ListSubscriptionSqlVirtualMachine.json, GetSqlVirtualMachine.json)."""
    client = mgmt(sim, SqlVirtualMachineManagementClient)
    listed = {s.name: s for s in client.sql_virtual_machines.list()}
    by_group = {s.name: s for s in client.sql_virtual_machines.list_by_resource_group("rg-sql")}
    plain = client.sql_virtual_machines.get("rg-sql", "sqlvm-ready")
    for sql_vm in [plain, listed["sqlvm-ready"], by_group["sqlvm-ready"]]:
        assert sql_vm.server_configurations_management_settings is None, sql_vm.name
        assert sql_vm.auto_backup_settings is None and sql_vm.auto_patching_settings is None
        assert sql_vm.key_vault_credential_settings is None and sql_vm.assessment_settings is None
        assert sql_vm.sql_image_offer and sql_vm.virtual_machine_resource_id  # the resource's own facts are there
    expanded = client.sql_virtual_machines.get("rg-sql", "sqlvm-ready", expand="*")
    assert expanded.server_configurations_management_settings.azure_ad_authentication_settings.client_id == ""
    named = client.sql_virtual_machines.get("rg-sql", "sqlvm-ready", expand="ServerConfigurationsManagementSettings")
    assert named.server_configurations_management_settings.azure_ad_authentication_settings.client_id == ""
    other = client.sql_virtual_machines.get("rg-sql", "sqlvm-ready", expand="AutoBackupSettings")
    assert other.server_configurations_management_settings is None
