"""Storage lifecycle management policies through azure-mgmt-storage (StorageManagementClient.management_policies)."""
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.storage import StorageManagementClient

from simclients import mgmt


def _rule(name, prefix="backups/", days=30):
    return {"enabled": True, "name": name, "type": "Lifecycle",
            "definition": {"filters": {"blobTypes": ["blockBlob"], "prefixMatch": [prefix]},
                           "actions": {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": days}}}}}


def _policy(*rules):
    return {"properties": {"policy": {"rules": list(rules)}}}


def test_no_policy_is_404_then_put_get_delete(sim):
    storage = mgmt(sim, StorageManagementClient)
    with pytest.raises(ResourceNotFoundError):
        storage.management_policies.get("rg-sql", "stsqlbackup01", "default")
    both = _policy(_rule("keep30"), _rule("other", "archive/", 400))
    made = storage.management_policies.create_or_update("rg-sql", "stsqlbackup01", "default", both)
    assert [r.name for r in made.policy.rules] == ["keep30", "other"] and made.last_modified_time
    got = storage.management_policies.get("rg-sql", "stsqlbackup01", "default")
    assert got.policy.rules[0].definition.actions.base_blob.delete.days_after_modification_greater_than == 30
    assert got.policy.rules[0].definition.filters.prefix_match == ["backups/"]
    # PUT replaces the whole policy
    storage.management_policies.create_or_update("rg-sql", "stsqlbackup01", "default", _policy(_rule("other")))
    assert [r.name for r in storage.management_policies.get("rg-sql", "stsqlbackup01", "default").policy.rules] == ["other"]
    storage.management_policies.delete("rg-sql", "stsqlbackup01", "default")
    with pytest.raises(ResourceNotFoundError):
        storage.management_policies.get("rg-sql", "stsqlbackup01", "default")


@pytest.mark.parametrize("rules, fragment", [
    ([], "At least one rule"),
    ([_rule("a-b")], "alpha numeric"),
    ([_rule("same"), _rule("same")], "unique"),
    ([_rule("r%d" % i) for i in range(101)], "at most 100"),
    ([dict(_rule("noactions"), definition={"filters": {"blobTypes": ["blockBlob"]}, "actions": {}})], "at least one action"),
    ([dict(_rule("neg"), definition={"filters": {"blobTypes": ["blockBlob"]},
                                     "actions": {"baseBlob": {"delete": {"daysAfterModificationGreaterThan": -1}}}})],
     "whole number"),
    ([dict(_rule("notype"), definition={"filters": {}, "actions": {"baseBlob": {"delete": {
        "daysAfterModificationGreaterThan": 1}}}})], "blobTypes"),
])
def test_invalid_policies_are_400(sim, rules, fragment):
    storage = mgmt(sim, StorageManagementClient)
    with pytest.raises(HttpResponseError) as err:
        storage.management_policies.create_or_update("rg-sql", "stsqlbackup01", "default", _policy(*rules))
    assert err.value.status_code == 400 and fragment in str(err.value)
    assert sim.admin.state()["storage_accounts"]["stsqlbackup01"]["management_policy"] is None
