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


def test_api_versions_cover_every_type_we_touch_and_children():
    assert arm.api_version("microsoft.sqlvirtualmachine/SQLVIRTUALMACHINES") == "2023-10-01"
    assert arm.api_version("Microsoft.Storage/storageAccounts/blobServices/containers") == \
        arm.API_VERSIONS["Microsoft.Storage/storageAccounts"]
    with pytest.raises(KeyError):
        arm.api_version("Microsoft.Unknown/things")


def test_normalize_scope_keeps_case_and_drops_blanks_and_empty_segments():
    assert arm.normalize_scope(" /Subscriptions/%s//resourceGroups/RG/ " % SUB) == "/Subscriptions/%s/resourceGroups/RG" % SUB
    assert arm.normalize_scope(None) == "/"


def test_the_root_scope_contains_every_scope():
    assert arm.scope_contains("/", CONTAINER) and not arm.scope_contains(CONTAINER, "/")


@pytest.mark.parametrize("built, expected", [
    (arm.sqlvm_id(SUB, "rg", "sql1"),
     "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines/sql1" % SUB),
    (arm.vm_id(SUB, "rg", "vm1"), "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1" % SUB),
    (arm.user_identity_id(SUB, "rg", "id1"),
     "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1" % SUB),
    (arm.typed_resource_id(SUB, "rg", "Microsoft.RecoveryServices/vaults", "v1"),
     "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1" % SUB),
    (arm.storage_scope(SUB, "rg", "acct"), "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB),
    (arm.storage_scope(SUB, "rg-data", "acct", "backups"), CONTAINER),
    (arm.role_definition_id(SUB, "g1"), "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions/g1" % SUB),
    (arm.role_definitions_path(SUB), "/subscriptions/%s/providers/Microsoft.Authorization/roleDefinitions" % SUB),
    (arm.role_assignment_id(CONTAINER, "n1"), CONTAINER + "/providers/Microsoft.Authorization/roleAssignments/n1"),
])
def test_resource_ids_are_spelled_as_arm_spells_them(built, expected):
    assert built == expected


class _Response:
    def __init__(self, status, body):
        self.status, self.body = status, body


class _Session:
    arm = object()

    def __init__(self, pages):
        self.pages = list(pages)
        self.requests = []


def _fake_send_json(session):
    def send_json(client, method, url, expected=(200,), params=None, operation=None, resource=None, **_kwargs):
        session.requests.append((method, url, params, operation, resource))
        return session.pages.pop(0)
    return send_json


def test_list_all_follows_next_link_to_the_last_page(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline
    session = _Session([_Response(200, {"value": [1, 2], "nextLink": "https://arm/next?page=2"}),
                        _Response(200, {"value": [3], "nextLink": "https://arm/next?page=3"}),
                        _Response(200, {"value": []})])
    monkeypatch.setattr(pipeline, "send_json", _fake_send_json(session))
    assert arm.list_all(session, "/x", "2022-04-01", {"$filter": "f"}, operation="list things") == [1, 2, 3]
    assert session.requests[0] == ("GET", "/x", {"$filter": "f", "api-version": "2022-04-01"}, "read", "/x")
    assert session.requests[1] == ("GET", "https://arm/next?page=2", None, "list things", "/x")
    assert len(session.requests) == 3


def test_list_all_of_a_missing_collection_is_none(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline
    session = _Session([_Response(404, None)])
    monkeypatch.setattr(pipeline, "send_json", _fake_send_json(session))
    assert arm.list_all(session, "/x", "2022-04-01") is None
