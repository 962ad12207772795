"""Vault identities: Recovery Services and Data Protection shapes, with ARM replaced."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_vault_identity as vi
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError


def ensure_present(session, desired, check_mode, **kwargs):
    """(changed, before, after, values) of the backend's Result, for short assertions."""
    result = vi.ensure(session, desired, check_mode, **kwargs)
    return result.changed, result.before, result.after, result.values


SUB = "00000000-1111-2222-3333-444444444444"
UAI = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/bk" % SUB


class Session:
    subscription_id = SUB


class FakeArm:
    def __init__(self, vault, uai=True):
        self.vault, self.uai, self.writes = vault, uai, []

    def get(self, session, path, api_version, params=None):
        if "userAssignedIdentities" in path:
            return {"properties": {"principalId": "p-uai", "clientId": "c-uai"}} if self.uai else None
        return self.vault

    def write(self, session, method, path, api_version, body, operation):
        self.writes.append((method, path, body))
        identity = dict(body["identity"])
        if "SystemAssigned" in identity["type"]:
            identity["principalId"] = "p-sys"
        if identity.get("userAssignedIdentities"):
            identity["userAssignedIdentities"] = {k: {"principalId": "p-uai", "clientId": "c-uai"}
                                                  for k, v in identity["userAssignedIdentities"].items() if v is not None}
        return {"identity": identity}


@pytest.fixture
def arm(monkeypatch):
    def install(vault, **kwargs):
        fake = FakeArm(vault, **kwargs)
        monkeypatch.setattr(vi, "arm_get", fake.get)
        monkeypatch.setattr(vi, "arm_write", fake.write)
        return fake
    return install


@pytest.mark.parametrize("kind, both", [("recovery_services", "SystemAssigned, UserAssigned"),
                                        ("backup_vault", "SystemAssigned,UserAssigned")])
def test_enables_both_kinds_with_each_providers_type_string(arm, kind, both):
    fake = arm({"id": "/v", "identity": None})
    changed, before, after, result = ensure_present(
        Session(), {"vault_type": kind, "resource_group": "rg", "name": "v", "system_assigned": True,
                    "user_assigned": ["bk"]}, check_mode=False)
    assert changed is True and before["type"] == "None"
    assert fake.writes[0][2] == {"identity": {"type": both, "userAssignedIdentities": {UAI: {}}}}
    assert result["principal_id"] == "p-sys" and result["principal_ids"][UAI] == "p-uai"


def test_no_op_and_check_mode_do_not_write(arm):
    fake = arm({"id": "/v", "identity": {"type": "SystemAssigned", "principalId": "p-sys"}})
    changed, *_rest = ensure_present(Session(), {"resource_group": "rg", "name": "v", "system_assigned": True}, False)
    assert changed is False
    changed, _b, after, _r = ensure_present(Session(), {"resource_group": "rg", "name": "v", "user_assigned": [UAI]}, True)
    assert changed is True and fake.writes == []
    assert after["user_assigned"][0]["principal_id"] == "p-uai"


@pytest.mark.parametrize("desired, error, fragment", [
    ({"resource_group": "rg", "name": "v"}, InvalidInputError, "nothing to do"),
    ({"resource_group": "rg", "name": "v", "system_assigned": True, "vault_type": "s3"}, InvalidInputError, "vault_type"),
    ({"resource_group": "r g", "name": "v", "system_assigned": True}, InvalidInputError, "resource_group"),
])
def test_rejects_bad_input(arm, desired, error, fragment):
    fake = arm({"id": "/v"})
    with pytest.raises(error, match=fragment):
        ensure_present(Session(), desired, False)
    assert fake.writes == []


def test_missing_vault_and_missing_identity_fail_clearly(arm):
    arm(None)
    with pytest.raises(PrerequisiteError, match="not found"):
        ensure_present(Session(), {"resource_group": "rg", "name": "v", "system_assigned": True}, False)
    fake = arm({"id": "/v"}, uai=False)
    with pytest.raises(InvalidInputError, match="does not exist"):
        ensure_present(Session(), {"resource_group": "rg", "name": "v", "user_assigned": ["nope"]}, False)
    assert fake.writes == []
