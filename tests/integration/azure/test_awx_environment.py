"""The variables AWX's "Microsoft Azure Resource Manager" credential injects are all every Azure module
needs: one no-op task of each of the five, run with nothing else from the AZURE_* family, signs in as
the automation service principal (the world records the caller of every request)."""
from azure_checks import assert_no_writes

# What the credential type injects (awx/main/models/credential/injectors, azure_rm); the tenant and
# secret names differ from azure-identity's own (AZURE_TENANT_ID, AZURE_CLIENT_SECRET).
AWX_NAMES = {"AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT", "AZURE_CLOUD_ENVIRONMENT",
             "AZURE_AD_USER", "AZURE_PASSWORD"}
OTHER_SIGN_INS = ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
                  "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_SECRET",
                  "AZURE_TENANT_ID", "AZURE_USERNAME", "AZURE_CONFIG_DIR")


def test_awx_credential_variables_alone_authenticate_every_azure_module(az):
    environ = az.runner.environment()
    azure = {name for name in environ if name.startswith("AZURE_")}
    assert azure <= AWX_NAMES, azure - AWX_NAMES
    assert {"AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT"} <= azure
    assert not [name for name in OTHER_SIGN_INS if name in environ]
    uami = az.uami("uami-sqlbackup")
    tasks = [
        {"name": "sqlvm_identity", "sqlvm.backup.sqlvm_identity": {"resource_group": "rg-sql", "vm_name": "sqlvm-ready"}},
        {"name": "entra_directory_reader", "sqlvm.backup.entra_directory_reader": {
            "resource_group": "rg-sql", "vm_name": "sqlvm-ready"}},
        {"name": "role_assignment", "sqlvm.backup.role_assignment": {
            "principal_id": uami["principal_id"], "role": "Storage Blob Data Contributor", "scope": az.storage_scope()}},
        {"name": "backup_vault_identity", "sqlvm.backup.backup_vault_identity": {
            "resource_group": "rg-sql", "name": "bv-sql", "vault_type": "backup_vault", "system_assigned": True}},
        {"name": "sqlvm_info", "sqlvm.backup.sqlvm_info": {"resource_group": "rg-sql", "vm_name": "sqlvm-ready"}},
    ]
    result, writes = az.run(tasks)
    assert [(t.name, t.status) for t in result.tasks] == [(t["name"], "ok") for t in tasks], result.output[-3000:]
    assert_no_writes(writes)
    log = az.requests()
    automation = az.state()["automation_object_id"]
    callers = {e["principal"] for e in log if e["service"] in ("arm", "graph")}
    assert callers == {automation}, callers
    # (no assertion on token requests: a warm token cache may serve them)
    assert not [e for e in log if e["service"] in ("imds",)], "managed identity was tried"
