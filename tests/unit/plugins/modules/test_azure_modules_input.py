"""Bad input fails with a clear message before any request (the session's clients are never used)."""
import importlib
import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.sqlvm.backup.plugins.module_utils import base

SUB = "00000000-1111-2222-3333-444444444444"
OTHER = "99999999-1111-2222-3333-444444444444"
PID = "11111111-2222-3333-4444-555555555555"
ACCOUNT = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB


class NoRequests:
    """A session whose clients fail the test when touched: nothing may be sent for bad input."""

    subscription_id = SUB

    @property
    def arm(self):
        raise AssertionError("an ARM request was about to be sent")

    @property
    def graph(self):
        raise AssertionError("a Graph request was about to be sent")

    @property
    def credential(self):
        raise AssertionError("a token was about to be requested")


@pytest.fixture(autouse=True)
def no_requests(monkeypatch):
    monkeypatch.setattr(base.SqlvmModule, "azure", property(lambda self: NoRequests()))


def run_module(name, args, capsys):
    module = importlib.import_module("ansible_collections.sqlvm.backup.plugins.modules.%s" % name)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


CASES = [
    # sqlvm_identity
    ("sqlvm_identity", {"resource_group": "rg", "vm_name": "vm1", "user_assigned": ["a", "b"]}, "say which is primary"),
    ("sqlvm_identity", {"resource_group": "rg", "vm_name": "vm1", "sql_version": "2022 CU16"}, "not a SQL Server build"),
    ("sqlvm_identity", {"resource_group": "rg", "vm_name": "vm/1"}, "not a valid Azure resource name"),
    ("sqlvm_identity", {"resource_group": "rg", "vm_name": "vm1", "user_assigned": ["a"], "primary": "b"}, "not among user_assigned"),
    ("sqlvm_identity", {"resource_group": "rg", "vm_name": "vm1", "user_assigned": [
        "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x" % SUB]}, "not a Microsoft.ManagedIdentity"),
    ("sqlvm_identity", {"resource_group": "rg", "vm_name": "vm1", "system_assigned": False, "primary": "system",
                        "user_assigned": ["a"]}, "needs system_assigned"),
    ("sqlvm_identity", {"vm_name": "vm1"}, "resource_group"),
    # entra_directory_reader
    ("entra_directory_reader", {"principal_id": "not-a-guid"}, "not a GUID"),
    ("entra_directory_reader", {"principal_id": PID, "vm_name": "vm1"}, "mutually exclusive"),
    ("entra_directory_reader", {"principal_id": PID, "method": "group"}, "group_id"),
    ("entra_directory_reader", {"principal_id": PID, "method": "group", "group_id": "sql-readers"}, "needs group_id"),
    ("entra_directory_reader", {"vm_name": "vm1"}, "need resource_group"),
    ("entra_directory_reader", {"principal_id": PID, "method": "owner"}, "method"),
    ("entra_directory_reader", {}, "one of the following is required"),
    # role_assignment
    ("role_assignment", {"principal_id": "1234", "role": "Reader", "scope": ACCOUNT}, "not a GUID"),
    ("role_assignment", {"principal_id": PID, "role": "Reader", "scope": ACCOUNT.replace(SUB, OTHER)}, "subscription_id"),
    ("role_assignment", {"principal_id": PID, "role": "Reader", "scope": "storageAccounts/acct"}, "not an ARM scope"),
    ("role_assignment", {"principal_id": PID, "role": "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/x" % SUB,
                         "scope": ACCOUNT}, "neither a role name"),
    ("role_assignment", {"principal_id": PID, "role": "Reader", "storage_account": "acct"}, "resource_group"),
    ("role_assignment", {"principal_id": PID, "role": "Reader", "scope": ACCOUNT, "storage_account": "acct"}, "mutually exclusive"),
    ("role_assignment", {"principal_id": PID, "role": "Reader", "scope": ACCOUNT + "/blobServices"}, "not a complete resource id"),
    # backup_vault_identity
    ("backup_vault_identity", {"resource_group": "rg", "name": "v"}, "nothing to do"),
    ("backup_vault_identity", {"resource_group": "rg", "name": "v", "system_assigned": True, "vault_type": "s3"}, "vault_type"),
    ("backup_vault_identity", {"resource_group": "r g", "name": "v", "system_assigned": True}, "not a valid Azure resource name"),
    ("backup_vault_identity", {"resource_group": "rg", "name": "v", "user_assigned": ["/subscriptions/x"]}, "not a Microsoft.ManagedIdentity"),
    ("backup_vault_identity", {"resource_group": "rg", "system_assigned": True}, "name"),
    # sqlvm_info
    ("sqlvm_info", {"resource_group": "rg", "vm_name": "vm1", "storage_scope": "acct"}, "not an ARM scope"),
    ("sqlvm_info", {"resource_group": "rg", "vm_name": "vm1", "storage_scope": ACCOUNT.replace(SUB, OTHER)}, "subscription_id"),
    ("sqlvm_info", {"resource_group": "rg", "vm_name": "vm1", "sql_version": "sixteen"}, "not a build number"),
    ("sqlvm_info", {"resource_group": "rg"}, "vm_name"),
    ("sqlvm_info", {"vm_name": "vm1"}, "resource_group"),
    # sqlvm_fleet_info: each entry named as vms[i].option
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm1"},
                                  {"host": "a", "resource_group": "rg", "vm_name": "vm2"}]}, "vms[1].host 'a' is also vms[0].host"),
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm1"},
                                  {"host": "b", "vm_name": "vm2"}]}, "vms[1].resource_group"),
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm 1"}]}, "vms[0].vm_name 'vm 1' is not a valid"),
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm1", "storage_scope": "acct"}]},
     "vms[0].storage_scope 'acct' is not an ARM scope"),
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm1"},
                                  {"host": "b", "resource_group": "rg", "vm_name": "vm2",
                                   "storage_scope": ACCOUNT.replace(SUB, OTHER)}]}, "vms[1].storage_scope"),
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm1", "sql_version": "2022"}]},
     "vms[0].sql_version"),
    ("sqlvm_fleet_info", {"vms": [{"host": "a", "resource_group": "rg", "vm_name": "vm1", "subscription_id": "x"}]},
     "vms[0].subscription_id"),
    ("sqlvm_fleet_info", {"vms": [{"resource_group": "rg", "vm_name": "vm1"}]}, "vms[0].host"),
    ("sqlvm_fleet_info", {"vms": [], "concurrency": 0}, "concurrency"),
    ("sqlvm_fleet_info", {"vms": "sql01"}, "vms"),
]


@pytest.mark.parametrize("module, args, fragment", CASES, ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_bad_input_fails_before_any_request(module, args, fragment, capsys):
    result = run_module(module, args, capsys)
    assert result.get("failed") is True, result
    assert fragment in result["msg"], result["msg"]
    assert "AssertionError" not in result["msg"]


@pytest.mark.parametrize("module", ["sqlvm_identity", "entra_directory_reader", "role_assignment",
                                    "backup_vault_identity", "sqlvm_info", "sqlvm_fleet_info"])
def test_every_module_has_enough_bad_input_cases(module):
    assert sum(1 for case in CASES if case[0] == module) >= 5
