"""Microsoft.Storage, Microsoft.RecoveryServices and Microsoft.DataProtection through their SDKs."""
from azure.mgmt.dataprotection import DataProtectionMgmtClient
from azure.mgmt.recoveryservices import RecoveryServicesClient
from azure.mgmt.storage import StorageManagementClient

from simclients import mgmt, sub_path


def test_storage_account_and_containers(sim):
    storage = mgmt(sim, StorageManagementClient)
    account = storage.storage_accounts.get_properties("rg-sql", "stsqlbackup01")
    assert account.primary_endpoints.blob == "https://stsqlbackup01.blob.%s/" % sim.env["SIM_STORAGE_SUFFIX"]
    assert account.kind == "StorageV2" and account.sku.name == "Standard_LRS"
    names = {c.name for c in storage.blob_containers.list("rg-sql", "stsqlbackup01")}
    assert names == {"backups", "backups-2025", "archive"}
    assert storage.blob_containers.get("rg-sql", "stsqlbackup01", "archive").public_access == "None"


def test_recovery_services_vault_identity(sim):
    client = mgmt(sim, RecoveryServicesClient)
    vault = client.vaults.get("rg-sql", "rsv-sql")
    assert vault.identity.type == "None"
    result = client.vaults.begin_update("rg-sql", "rsv-sql", {"identity": {"type": "SystemAssigned"}}).result()
    assert result.identity.type == "SystemAssigned" and result.identity.principal_id
    uami = sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami-sqlbackup"
    result = client.vaults.begin_update("rg-sql", "rsv-sql", {"identity": {
        "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {uami: {}}}}).result()
    assert result.identity.type == "SystemAssigned, UserAssigned"
    assert list(result.identity.user_assigned_identities) == [uami]


def test_backup_vault_identity(sim):
    client = mgmt(sim, DataProtectionMgmtClient)
    vault = client.backup_vaults.get("rg-sql", "bv-sql")
    assert vault.identity.type == "SystemAssigned" and vault.identity.principal_id
    result = client.backup_vaults.begin_update("rg-sql", "bv-sql", {"identity": {"type": "None"}}).result()
    assert result.identity.type == "None"
    state = sim.admin.state()["vaults"]
    assert next(v for k, v in state.items() if k.endswith("/bv-sql"))["principal_id"] is None
