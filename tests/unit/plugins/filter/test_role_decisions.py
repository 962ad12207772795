"""The roles' decisions: primary identity choice, storage resource id, SQL Server's and the VM's ineligibility reasons."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.sqlvm.backup.plugins.filter import role_decisions
from ansible_collections.sqlvm.backup.plugins.filter.role_decisions import (
    ineligible_reasons, primary_identity_choice, sql_platform_reasons, storage_resource_id)

SUB = "00000000-0000-0000-0000-000000000001"
UAMI = "/subscriptions/%s/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/%s"
UAMI_A = {"id": UAMI % (SUB, "uami-a"), "client_id": "aaaaaaaa-0000-0000-0000-00000000000a"}
UAMI_B = {"id": UAMI % (SUB, "uami-b"), "client_id": "bbbbbbbb-0000-0000-0000-00000000000b"}


def _info(system=False, user=(), entra_ready=False, primary_client_id=None):
    """A registered sqlvm_info result with the VM's identities and its Entra authentication check."""
    return {"checks": {
        "vm_identity": {"ready": bool(system or user),
                        "vm_identity": {"system_assigned": system, "user_assigned": list(user)}},
        "entra_authentication": {"ready": entra_ready, "primary_client_id": primary_client_id},
    }}


@pytest.mark.parametrize("info, wanted, expected", [
    # Named: taken as it is, whatever the VM has.
    (_info(system=True), "system", "system"),
    (_info(system=True), "uami-b", "uami-b"),
    (_info(user=[UAMI_A]), UAMI_B["id"], UAMI_B["id"]),
    # auto keeps the primary identity that works ...
    (_info(system=True, user=[UAMI_A, UAMI_B], entra_ready=True, primary_client_id=UAMI_B["client_id"]), "auto",
     UAMI_B["id"]),
    (_info(system=True, user=[UAMI_A], entra_ready=True, primary_client_id=""), "auto", "system"),
    # ... matching client ids as GUIDs, without regard to case ...
    (_info(system=True, user=[UAMI_A], entra_ready=True, primary_client_id=UAMI_A["client_id"].upper()), "auto",
     UAMI_A["id"]),
    # ... else system-assigned when the VM has it, or has no user-assigned identity ...
    (_info(system=True, user=[UAMI_A]), "auto", "system"),
    (_info(system=True, user=[UAMI_A], entra_ready=False, primary_client_id=UAMI_A["client_id"]), "auto", "system"),
    (_info(), "auto", "system"),
    ({}, "auto", "system"),
    ({"skipped": True}, "auto", "system"),
    # ... else the first user-assigned identity; a primary the VM does not have is not kept.
    (_info(user=[UAMI_A, UAMI_B]), "auto", UAMI_A["id"]),
    (_info(user=[UAMI_A], entra_ready=True, primary_client_id=UAMI_B["client_id"]), "auto", UAMI_A["id"]),
])
def test_primary_identity_choice(info, wanted, expected):
    assert primary_identity_choice(info, wanted) == expected


def test_primary_identity_choice_defaults_to_auto():
    assert primary_identity_choice(_info(user=[UAMI_B])) == UAMI_B["id"]


@pytest.mark.parametrize("account, resource_group, container, expected", [
    ("contosobackups", "rg-backup", None,
     "/subscriptions/%s/resourceGroups/rg-backup/providers/Microsoft.Storage/storageAccounts/contosobackups" % SUB),
    ("contosobackups", "rg-backup", "",
     "/subscriptions/%s/resourceGroups/rg-backup/providers/Microsoft.Storage/storageAccounts/contosobackups" % SUB),
    ("contosobackups", "rg-backup", "sql",
     "/subscriptions/%s/resourceGroups/rg-backup/providers/Microsoft.Storage/storageAccounts/contosobackups"
     "/blobServices/default/containers/sql" % SUB),
    ("", "rg-backup", "sql", ""),
    (None, "rg-backup", None, ""),
])
def test_storage_resource_id(account, resource_group, container, expected):
    assert storage_resource_id(account, SUB, resource_group, container=container) == expected


@pytest.mark.parametrize("subscription_id, resource_group, words", [
    ("", "rg-backup", "subscription_id of storage account 'contosobackups' is empty"),
    (SUB, "", "resource_group of storage account 'contosobackups' is empty"),
    (None, None, "subscription_id and resource_group"),
])
def test_storage_resource_id_refuses_an_incomplete_id(subscription_id, resource_group, words):
    with pytest.raises(AnsibleFilterError, match=words):
        storage_resource_id("contosobackups", subscription_id, resource_group)


CU16 = "SQL Server 16.0.4165.4 is older than SQL Server 2022 CU17 (16.0.4175.1), ..."
FCI = "the instance is a failover cluster instance; managed identities are not supported with FCI."
NO_CREDENTIAL = "no 'Managed Identity' credential exists; create one named by the container URL with ..."
NO_NAMED_CREDENTIAL = "no 'Managed Identity' credential named https://a.blob.core.windows.net/c (names are ..."
NO_LOGINS = "no Microsoft Entra logins exist; create them for the people and principals who operate backups ..."


@pytest.mark.parametrize("sql_info, expected", [
    ({"managed_identity_backup_supported": False, "reasons": [CU16, FCI, NO_CREDENTIAL, NO_LOGINS]}, [CU16, FCI]),
    ({"managed_identity_backup_supported": False, "reasons": [NO_NAMED_CREDENTIAL, FCI]}, [FCI]),
    # Supported: the missing credential and logins are backup_ready's to create, not a refusal.
    ({"managed_identity_backup_supported": True, "reasons": [NO_CREDENTIAL, NO_LOGINS]}, []),
    # Not queried (skipped without sql_host), or an answer without a verdict.
    ({"skipped": True, "changed": False}, []),
    ({}, []),
    (None, []),
    ({"managed_identity_backup_supported": None, "reasons": [CU16]}, []),
    ({"managed_identity_backup_supported": False}, []),
    ({"managed_identity_backup_supported": False, "reasons": None}, []),
    # Only a reason that starts with the fixable text is left out.
    ({"managed_identity_backup_supported": False, "reasons": ["Linux: no Microsoft Entra logins either"]},
     ["Linux: no Microsoft Entra logins either"]),
])
def test_sql_platform_reasons(sql_info, expected):
    assert sql_platform_reasons(sql_info) == expected


READY = {"ready": True, "reason": "registered with the SQL IaaS Agent extension"}
NOT_REGISTERED = {"ready": False, "reason": "no SQL virtual machine resource: register the VM ..."}
WINDOWS = {"ready": True, "reason": "Windows, SQL Server 16.0.4175.1 supports managed identities"}
LINUX = {"ready": False, "reason": "the VM runs Linux; ..."}
LINUX_INVENTORY = "the inventory says the VM runs Linux; backup to URL with a managed identity needs Windows"


def _vm(sql_vm_resource=None, platform=None):
    checks = {}
    if sql_vm_resource is not None:
        checks["sql_vm_resource"] = sql_vm_resource
    if platform is not None:
        checks["platform"] = platform
    return {"checks": checks}


@pytest.mark.parametrize("sqlvm_info, sql_reasons, os_type, expected", [
    (_vm(READY, WINDOWS), [], "", []),
    (_vm(READY, WINDOWS), None, "Windows", []),
    (_vm(NOT_REGISTERED), [], "", [NOT_REGISTERED["reason"]]),
    # Not read at all (the check is missing, or has no reason).
    ({}, [], "", ["the SQL virtual machine resource could not be read"]),
    (_vm({"ready": False}), [], "", ["the SQL virtual machine resource could not be read"]),
    (_vm(READY, LINUX), [], "", [LINUX["reason"]]),
    (_vm(READY, WINDOWS), [CU16, FCI], "", [CU16, FCI]),
    # Azure's platform check already says Linux: the inventory's word is not repeated.
    (_vm(READY, LINUX), [], "linux", [LINUX["reason"]]),
    (_vm(READY, WINDOWS), [], "Linux", [LINUX_INVENTORY]),
    (_vm(READY), [], "LINUX", [LINUX_INVENTORY]),
    # In order, each once.
    (_vm(NOT_REGISTERED, LINUX), [FCI, FCI, LINUX["reason"]], "Linux", [NOT_REGISTERED["reason"], LINUX["reason"], FCI]),
])
def test_ineligible_reasons(sqlvm_info, sql_reasons, os_type, expected):
    assert ineligible_reasons(sqlvm_info, sql_reasons, os_type) == expected


def test_every_filter_is_registered_and_documented():
    from pathlib import Path
    import yaml
    filters = role_decisions.FilterModule().filters()
    assert set(filters) == {"primary_identity_choice", "storage_resource_id", "sql_platform_reasons",
                            "ineligible_reasons"}
    here = Path(role_decisions.__file__).parent
    for name in filters:
        doc = yaml.safe_load((here / (name + ".yml")).read_text())
        assert doc["DOCUMENTATION"]["name"] == name
        assert doc["EXAMPLES"] and doc["RETURN"]["_value"]["description"]
