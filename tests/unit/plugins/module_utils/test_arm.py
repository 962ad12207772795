import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

SUB = "11111111-2222-3333-4444-555555555555"
CONTAINER = ("/subscriptions/%s/resourceGroups/rg-data/providers/Microsoft.Storage/storageAccounts/acct"
             "/blobServices/default/containers/backups" % SUB)


def test_parse_nested_resource_id():
    parsed = arm.parse_resource_id(CONTAINER)
    assert (parsed.subscription_id, parsed.resource_group, parsed.namespace) == (SUB, "rg-data", "Microsoft.Storage")
    assert parsed.parts == (("storageAccounts", "acct"), ("blobServices", "default"), ("containers", "backups"))
    assert parsed.name == "backups"
    assert parsed.resource_type == "Microsoft.Storage/storageAccounts/blobServices/containers"
    assert str(parsed) == CONTAINER


@pytest.mark.parametrize("scope, name", [
    ("/subscriptions/%s" % SUB, SUB),
    ("/subscriptions/%s/resourceGroups/rg" % SUB, "rg"),
    ("/subscriptions/%s/resourcegroups/rg/" % SUB, "rg"),
])
def test_parse_subscription_and_group_scopes(scope, name):
    assert arm.parse_resource_id(scope).name == name


@pytest.mark.parametrize("bad", [
    "", "subscriptions/x", "/subscriptions", "/subscriptions/%s/resourceGroups" % SUB,
    "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts" % SUB,
    "/tenants/x/providers/y",
])
def test_malformed_ids_say_what_an_id_looks_like(bad):
    with pytest.raises(InvalidInputError) as caught:
        arm.parse_resource_id(bad)
    assert "/subscriptions/<guid>/resourceGroups" in caught.value.fix


def test_build_resource_id():
    assert arm.resource_id(SUB, "rg", "Microsoft.Compute", ("virtualMachines", "vm1")) == \
        "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1" % SUB


def test_scope_comparison_ignores_case_and_trailing_slash():
    assert arm.same_scope(CONTAINER, CONTAINER.upper() + "/")
    assert not arm.same_scope(CONTAINER, CONTAINER.replace("backups", "other"))
    account = CONTAINER.split("/blobServices", maxsplit=1)[0]
    assert arm.scope_contains(account.lower(), CONTAINER)
    assert not arm.scope_contains(CONTAINER, account)
    assert not arm.scope_contains(account, account + "2")
    assert arm.subscription_of(CONTAINER) == SUB


def test_api_versions_cover_every_type_we_touch_and_children():
    assert arm.api_version("microsoft.sqlvirtualmachine/SQLVIRTUALMACHINES") == "2023-10-01"
    assert arm.api_version("Microsoft.Storage/storageAccounts/blobServices/containers") == \
        arm.API_VERSIONS["Microsoft.Storage/storageAccounts"]
    with pytest.raises(KeyError):
        arm.api_version("Microsoft.Unknown/things")
    assert arm.resource_url(CONTAINER).endswith("?api-version=" + arm.API_VERSIONS["Microsoft.Storage/storageAccounts"])
