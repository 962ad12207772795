import json
import os
import stat
import time

import pytest
from azure.core.credentials import AccessToken

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import session

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import token_cache as tc
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import AuthSettings
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS
from fake_transport import FakeClock, ScriptedTransport

NOW = int(time.time())
SCOPE = "https://management.azure.com/.default"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT = "11111111-2222-3333-4444-555555555555"
AUTHORITY = "https://login.microsoftonline.com"


def settings(**values):
    values.setdefault("tenant", TENANT)
    values.setdefault("client_id", CLIENT)
    return AuthSettings(**values)


def key(source="credentials", scope=SCOPE, authority=AUTHORITY, environ=None, **values):
    return tc.cache_key(source, settings(**values), authority, scope, environ or {})


class RealCredential:
    def __init__(self, expires_in=3600):
        self.calls = 0
        self.expires_in = expires_in

    def get_token(self, *scopes, **kwargs):
        self.calls += 1
        return AccessToken("fresh-%d" % self.calls, NOW + self.expires_in)


@pytest.fixture
def cache(tmp_path):
    return tc.TokenCache(str(tmp_path / "tokens"), clock=lambda: NOW)


# Keys: another secret, identity, tenant, cloud or scope never finds the token ---------------------

def test_key_is_stable_and_never_contains_the_secret():
    first, second = key(secret="s3cret-value"), key(secret="s3cret-value")
    assert first == second and len(first) == 64 and "s3cret" not in first


@pytest.mark.parametrize("change", [
    dict(secret="another-secret"),
    dict(secret="s", client_id="99999999-2222-3333-4444-555555555555"),
    dict(secret="s", tenant="00000000-0000-0000-0000-000000000001"),
    dict(secret="s", scope="https://graph.microsoft.com/.default"),
    dict(secret="s", authority="https://login.microsoftonline.us"),
    dict(secret="s", source="workload_identity", federated_token_file="/t"),
])
def test_anything_that_changes_the_identity_changes_the_key(change):
    assert key(**change) != key(secret="s")


def test_user_password_keys_differ_by_user_and_password():
    base = key(client_id=None, ad_user="ops@contoso.com", password="p1")
    assert base != key(client_id=None, ad_user="ops@contoso.com", password="p2")
    assert base != key(client_id=None, ad_user="dba@contoso.com", password="p1")
    assert base == key(client_id=None, ad_user="OPS@contoso.com", password="p1")


def test_certificate_key_follows_the_certificate_content(tmp_path):
    pem = tmp_path / "sp.pem"
    pem.write_text("one")
    first = key(client_certificate_path=str(pem))
    pem.write_text("two")
    assert key(client_certificate_path=str(pem)) != first
    assert key(client_certificate_path=str(tmp_path / "missing.pem")) is None


def test_managed_identity_keys_by_client_id_and_endpoint():
    system = key(source="msi", client_id=None)
    assert system != key(source="msi", client_id="aaaaaaaa-2222-3333-4444-555555555555")
    assert system != key(source="msi", client_id=None, environ={"IDENTITY_ENDPOINT": "http://localhost:42356"})


def test_azure_cli_key_follows_the_logged_in_profile(tmp_path):
    environ = {"AZURE_CONFIG_DIR": str(tmp_path)}
    assert key(source="cli", environ=environ) is None  # no profile: never cached
    (tmp_path / "azureProfile.json").write_text('{"subscriptions": [{"user": {"name": "a"}}]}')
    first = key(source="cli", environ=environ)
    (tmp_path / "azureProfile.json").write_text('{"subscriptions": [{"user": {"name": "b"}}]}')
    assert first is not None and key(source="cli", environ=environ) != first


# The store --------------------------------------------------------------------------------------

def test_put_then_get_with_private_modes(cache):
    cache.put("k", "token-value", NOW + 3600)
    assert cache.get("k") == ("token-value", NOW + 3600)
    path = os.path.join(cache.directory, "token-k.json")
    assert stat.S_IMODE(os.stat(cache.directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_tokens_close_to_expiry_are_neither_served_nor_stored(cache):
    cache.put("soon", "t", NOW + tc.REFRESH_SECONDS)
    assert not os.path.exists(os.path.join(cache.directory, "token-soon.json"))
    cache.put("k", "t", NOW + 3600)
    later = tc.TokenCache(cache.directory, clock=lambda: NOW + 3600 - tc.REFRESH_SECONDS)
    assert later.get("k") is None


def test_a_file_others_can_read_is_ignored(cache):
    cache.put("k", "t", NOW + 3600)
    os.chmod(os.path.join(cache.directory, "token-k.json"), 0o644)
    assert cache.get("k") is None


def test_a_directory_others_can_open_is_not_used(cache):
    cache.put("k", "t", NOW + 3600)
    os.chmod(cache.directory, 0o755)
    assert cache.get("k") is None
    cache.put("other", "t", NOW + 3600)
    assert not os.path.exists(os.path.join(cache.directory, "token-other.json"))


def test_a_symlinked_entry_is_not_followed(cache, tmp_path):
    cache.put("k", "t", NOW + 3600)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"token": "planted", "expires_on": NOW + 3600}))
    os.chmod(target, 0o600)
    link = os.path.join(cache.directory, "token-planted.json")
    os.symlink(str(target), link)
    assert cache.get("planted") is None


@pytest.mark.parametrize("content", ["", "not json", "[]", '{"token": 1, "expires_on": 1}', '{"token": "t"}'])
def test_damaged_entries_are_misses(cache, content):
    cache.put("k", "t", NOW + 3600)
    with open(os.path.join(cache.directory, "token-k.json"), "w", encoding="utf-8") as handle:
        handle.write(content)
    assert cache.get("k") is None


def test_stale_files_are_pruned_when_a_token_is_stored(cache):
    cache.put("old", "t", NOW + 3600)
    old = os.path.join(cache.directory, "token-old.json")
    os.utime(old, (NOW - tc.STALE_SECONDS - 1, NOW - tc.STALE_SECONDS - 1))
    cache.put("new", "t", NOW + 3600)
    assert not os.path.exists(old) and cache.get("new") is not None


# CachingCredential -------------------------------------------------------------------------------

def caching(cache, real, key_for=lambda scope: "k-" + scope.split("//")[1][:5]):
    built = []

    def make():
        built.append(real)
        return real
    return tc.CachingCredential(make, key_for, cache), built


def test_second_process_is_served_from_disk_without_building_the_real_credential(cache):
    first, _built = caching(cache, RealCredential())
    assert first.get_token(SCOPE).token == "fresh-1"
    second, built = caching(cache, RealCredential())
    assert second.get_token(SCOPE) == AccessToken("fresh-1", NOW + 3600)
    assert built == []


def test_uncacheable_identities_and_claims_requests_go_to_the_real_credential(cache):
    real = RealCredential()
    credential, _built = caching(cache, real, key_for=lambda scope: None)
    credential.get_token(SCOPE)
    credential.get_token(SCOPE)
    assert real.calls == 2
    cached, _built = caching(cache, real)
    cached.get_token(SCOPE)
    cached.get_token(SCOPE, claims='{"access_token": {}}')
    assert real.calls == 4


def test_forget_only_drops_a_token_that_came_from_the_cache(cache):
    caching(cache, RealCredential())[0].get_token(SCOPE)
    credential, _built = caching(cache, RealCredential())
    assert credential.forget(SCOPE) is False  # not served yet
    credential.get_token(SCOPE)
    assert credential.forget(SCOPE) is True
    assert credential.get_token(SCOPE).token == "fresh-1" and credential.credential.calls == 1


# Through the pipeline ----------------------------------------------------------------------------

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
CHALLENGE = {"WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/t", '
                                 'error="invalid_token", error_description="The access token is invalid"'}


def arm_with(credential, answers):
    clock = FakeClock()
    transport = ScriptedTransport(answers, clock=clock)
    return http.arm_client(credential, KNOWN_CLOUDS["AzureCloud"], http.Deadline(300, clock=clock), transport), transport


def test_a_cached_token_the_service_refuses_is_replaced_once(cache):
    cache.put("k-manag", "revoked", NOW + 3600)
    real = RealCredential()
    credential, _built = caching(cache, real)
    arm, transport = arm_with(credential, [(401, {"error": {"code": "InvalidAuthenticationToken"}}, CHALLENGE),
                                           (200, {"id": VM})])
    assert http.send_json(arm, "GET", VM + "?api-version=1").status == 200
    tokens = [headers.get("Authorization") for headers in transport.adapter.headers]
    assert tokens == ["Bearer revoked", "Bearer fresh-1"]
    assert cache.get("k-manag")[0] == "fresh-1"


def test_each_client_replaces_the_token_of_its_own_scope(cache):
    # ARM and Graph clients live in one process (sqlvm_info): each must refresh its own scope.
    cache.put("k-graph", "revoked-graph", NOW + 3600)
    cache.put("k-manag", "revoked-arm", NOW + 3600)
    credential, _built = caching(cache, RealCredential())
    clock = FakeClock()
    graph_transport = ScriptedTransport([(401, None, CHALLENGE), (200, {"id": "g"})], clock=clock)
    graph = http.graph_client(credential, KNOWN_CLOUDS["AzureCloud"], http.Deadline(300, clock=clock), graph_transport)
    arm, arm_transport = arm_with(credential, [(401, None, CHALLENGE), (200, {"id": VM})])
    assert http.send_json(graph, "GET", "groups/g").status == 200
    assert http.send_json(arm, "GET", VM + "?api-version=1").status == 200
    assert [h["Authorization"] for h in graph_transport.adapter.headers] == ["Bearer revoked-graph", "Bearer fresh-1"]
    assert [h["Authorization"] for h in arm_transport.adapter.headers] == ["Bearer revoked-arm", "Bearer fresh-2"]
    assert cache.get("k-graph")[0] == "fresh-1" and cache.get("k-manag")[0] == "fresh-2"


def test_a_fresh_token_the_service_refuses_is_not_retried(cache):
    credential, _built = caching(cache, RealCredential())
    arm, transport = arm_with(credential, [(401, {"error": {"code": "InvalidAuthenticationToken",
                                                            "message": "no"}}, CHALLENGE)])
    with pytest.raises(Exception) as caught:
        http.send_json(arm, "GET", VM + "?api-version=1", operation="read VM", resource=VM)
    assert "InvalidAuthenticationToken" in str(caught.value) and len(transport.requests) == 1


def test_session_uses_the_cache_unless_turned_off(tmp_path):
    on = session.AzureSession(settings(secret="s"), environ={}, token_cache_dir=str(tmp_path / "t"))
    assert isinstance(on.credential.credential, tc.CachingCredential)  # inside the task's deadline
    off = session.AzureSession(settings(secret="s", token_cache=False), environ={}, token_cache_dir=str(tmp_path / "t"))
    assert not isinstance(off.credential.credential, tc.CachingCredential)


@pytest.mark.parametrize("value, expected", [("false", False), ("0", False), ("no", False), ("true", True),
                                             ("yes", True)])
def test_token_cache_follows_the_environment_when_the_option_is_unset(value, expected):
    resolved = AuthSettings.from_options_and_env({}, {"SQLVM_BACKUP_TOKEN_CACHE": value})
    assert resolved.token_cache is expected
    assert AuthSettings.from_options_and_env({"token_cache": True},
                                             {"SQLVM_BACKUP_TOKEN_CACHE": value}).token_cache is True
