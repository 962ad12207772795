"""Azurite as the world's blob service: managed-identity tokens, RBAC decision, reset."""
import os

from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobServiceClient

from simclients import managed_identity_env, patched_env


def _service(sim, vm):
    with patched_env(**managed_identity_env(sim, vm)):
        cred = ManagedIdentityCredential()
        cred.get_token("https://storage.azure.com/.default")
    return BlobServiceClient(sim.env["SIM_AZURITE_URL"] + "/stsqlbackup01", credential=cred)


def test_upload_with_a_managed_identity_token(sim):
    with patched_env(**managed_identity_env(sim, "sqlvm-ready")):
        cred = ManagedIdentityCredential()
        service = BlobServiceClient(sim.env["SIM_AZURITE_URL"] + "/stsqlbackup01", credential=cred)
        container = service.get_container_client("backups")
        container.upload_blob("db1.bak", b"backup bytes", overwrite=False)
        assert [b.name for b in container.list_blobs()] == ["db1.bak"]
        assert container.download_blob("db1.bak").readall() == b"backup bytes"
    sim.admin.reset()
    with patched_env(**managed_identity_env(sim, "sqlvm-ready")):
        container = BlobServiceClient(sim.env["SIM_AZURITE_URL"] + "/stsqlbackup01",
                                      credential=ManagedIdentityCredential()).get_container_client("backups")
        assert list(container.list_blobs()) == []  # reset empties the containers


def test_blob_access_decision_follows_role_assignments(sim):
    state = sim.admin.state()
    ids = {name: (vm["primary_identity"] or {}).get("principal_id") for name, vm in state["vms"].items()}
    allowed = sim.admin.blob_access_allowed
    assert allowed(ids["sqlvm-ready"], "stsqlbackup01", "backups")            # account scope
    assert allowed(ids["sqlvm-2025"], "stsqlbackup01", "backups-2025")        # container scope
    assert not allowed(ids["sqlvm-2025"], "stsqlbackup01", "backups")         # other container
    assert not allowed(ids["sqlvm-nostorage"], "stsqlbackup01", "archive")    # no role at all
    noentra = state["vms"]["sqlvm-noentra"]["identities"]["system"]["principal_id"]
    assert allowed(noentra, "stsqlbackup01", "backups")                       # inherited from the RG
    assert allowed(ids["sqlvm-nodir"], "stsqlbackup01", "backups")            # Blob Data Owner
    assert not allowed(ids["sqlvm-ready"], "nosuchaccount", "backups")


def test_container_url_maps_to_azurite(sim):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    inventory_vars = sim.admin.state()["vms"]["sqlvm-ready"]["backup"]
    assert inventory_vars == {"storage_account": "stsqlbackup01", "container": "backups"}
