import json
import socket

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import auth
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import AuthSettings, build_credential, choose_auth_source
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS, Cloud
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AuthenticationError, InvalidInputError

SUB = "11111111-2222-3333-4444-555555555555"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "99999999-8888-7777-6666-555555555555"
AWX_SP = {"AZURE_SUBSCRIPTION_ID": SUB, "AZURE_CLIENT_ID": APP, "AZURE_SECRET": "s3cr3t", "AZURE_TENANT": TENANT}
PUBLIC = KNOWN_CLOUDS["AzureCloud"]
CUSTOM = Cloud("Lab", "https://127.0.0.1:8443/", "https://127.0.0.1:8444/", "https://management.lab/",
               "https://127.0.0.1:8445/", "https://graph.lab/", "lab.test", "sql.lab.test", "https://sql.lab.test/")
NO_MSI = staticmethod(lambda environ: False)


def settings(options=None, environ=None):
    return AuthSettings.from_options_and_env(options or {}, environ or {})


def test_awx_names_alone_are_enough():
    s = settings({}, AWX_SP)
    assert (s.subscription_id, s.client_id, s.secret, s.tenant) == (SUB, APP, "s3cr3t", TENANT)
    assert s.origin["secret"] == "AZURE_SECRET" and s.origin["tenant"] == "AZURE_TENANT"
    assert choose_auth_source(s, probe_msi=pytest.fail, which=pytest.fail) == "credentials"
    credential = build_credential(s, PUBLIC, probe_msi=pytest.fail, which=pytest.fail)
    assert type(credential).__name__ == "ClientSecretCredential"


def test_awx_user_password_and_cloud():
    s = settings({}, {"AZURE_AD_USER": "dba@contoso.com", "AZURE_PASSWORD": "pw",
                      "AZURE_CLOUD_ENVIRONMENT": "AzureUSGovernment", "AZURE_SUBSCRIPTION_ID": SUB})
    assert s.cloud_environment == "AzureUSGovernment"
    assert choose_auth_source(s, probe_msi=pytest.fail) == "credentials"
    assert type(build_credential(s, KNOWN_CLOUDS["AzureUSGovernment"])).__name__ == "UsernamePasswordCredential"
    assert s.secret_values() == ["pw"]


def test_azure_identity_names_are_read_after_awx_names():
    s = settings({}, {"AZURE_CLIENT_SECRET": "identity-secret", "AZURE_TENANT_ID": TENANT, "AZURE_CLIENT_ID": APP})
    assert (s.secret, s.tenant) == ("identity-secret", TENANT)
    both = settings({}, {"AZURE_SECRET": "awx", "AZURE_CLIENT_SECRET": "identity", "AZURE_TENANT": "t-awx",
                         "AZURE_TENANT_ID": "t-identity"})
    assert (both.secret, both.tenant) == ("awx", "t-awx")


def test_options_beat_environment():
    s = settings({"secret": "from-task", "tenant": "contoso.onmicrosoft.com"}, AWX_SP)
    assert (s.secret, s.tenant, s.origin["secret"]) == ("from-task", "contoso.onmicrosoft.com", "option")


def test_auth_source_env_ignores_task_credentials():
    s = settings({"auth_source": "env", "secret": "from-task", "client_id": SUB}, AWX_SP)
    assert (s.secret, s.client_id) == ("s3cr3t", APP)


@pytest.mark.parametrize("environ, msi, az, expected", [
    (AWX_SP, True, True, "credentials"),
    ({"AZURE_CLIENT_ID": APP, "AZURE_TENANT_ID": TENANT, "AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"},
     True, True, "workload_identity"),
    ({"AZURE_CLIENT_ID": APP}, True, True, "msi"),
    ({}, False, True, "cli"),
    ({"AZURE_CLIENT_ID": APP, "AZURE_SECRET": "x"}, True, False, "msi"),  # incomplete SP: no tenant
])
def test_auto_order(environ, msi, az, expected):
    s = settings({}, environ)
    chosen = choose_auth_source(s, probe_msi=lambda env: msi, which=lambda name: "/usr/bin/az" if az else None)
    assert chosen == expected
    assert auth.AUTO_ORDER.index(chosen) >= 0


def test_auto_with_nothing_explains_every_way():
    with pytest.raises(AuthenticationError) as caught:
        choose_auth_source(settings(), probe_msi=lambda env: False, which=lambda name: None)
    message = caught.value.msg
    for word in ("credentials", "workload_identity", "msi", "cli", "AZURE_SECRET", "az login"):
        assert word in message


def test_explicit_source_is_not_second_guessed():
    s = settings({"auth_source": "msi"}, AWX_SP)
    assert choose_auth_source(s, probe_msi=pytest.fail, which=pytest.fail) == "msi"
    credential = build_credential(s, PUBLIC)
    assert type(credential).__name__ == "ManagedIdentityCredential"


def test_credentials_source_names_what_is_missing():
    with pytest.raises(InvalidInputError) as caught:
        build_credential(settings({"auth_source": "credentials", "client_id": APP}), PUBLIC)
    assert "AZURE_TENANT" in caught.value.msg and "AZURE_SECRET" in caught.value.msg


def test_custom_cloud_disables_instance_discovery_and_uses_its_authority(monkeypatch):
    import azure.identity
    from azure.core.pipeline.transport import RequestsTransport
    seen = []
    monkeypatch.setattr(azure.identity, "ClientSecretCredential", lambda *args, **kwargs: seen.append((args, kwargs)))
    build_credential(settings({}, AWX_SP), CUSTOM)
    build_credential(settings({}, AWX_SP), PUBLIC)
    assert all(isinstance(kwargs.pop("transport"), RequestsTransport) for _args, kwargs in seen)
    assert all((kwargs.pop("retry_total"), kwargs.pop("timeout")) == (3, 300) for _args, kwargs in seen)
    assert seen[0] == ((TENANT, APP, "s3cr3t"), {"authority": "https://127.0.0.1:8444/",
                                                 "disable_instance_discovery": True})
    assert seen[1][1] == {"authority": "https://login.microsoftonline.com/"}


@pytest.mark.parametrize("options, fragment", [
    ({"subscription_id": "not-a-guid"}, "subscription_id"),
    ({"client_id": "12345"}, "client_id"),
    ({"auth_source": "keyring"}, "auth_source"),
    ({"timeout": -1}, "timeout"),
])
def test_bad_input_fails_before_any_request(options, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        settings(options)


def test_imds_probe_gives_up_fast_on_a_closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on that port now: refused at once.
    assert auth.managed_identity_reachable({"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:%d" % port}) is False


def test_imds_probe_sees_a_listener_and_env_endpoints():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        host = "http://127.0.0.1:%d" % sock.getsockname()[1]
        assert auth.managed_identity_reachable({"AZURE_POD_IDENTITY_AUTHORITY_HOST": host}) is True
    assert auth.managed_identity_reachable({"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token"}) is True


def test_openid_configuration_is_served_from_the_day_cache(tmp_path):
    import hashlib
    import os
    import time

    import requests
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens there: an answer can only come from the cache.
    url = "https://127.0.0.1:%d/tenant/v2.0/.well-known/openid-configuration" % port
    path = tmp_path / ("openid-%s.json" % hashlib.sha256(url.encode()).hexdigest()[:24])
    document = {"token_endpoint": "https://127.0.0.1:%d/tenant/oauth2/v2.0/token" % port}
    path.write_text(json.dumps(document))
    session = auth.discovery_cache_transport(cache_dir=str(tmp_path)).session
    assert session.get(url).json() == document
    # Other URLs, and a stale cache, go to the network.
    with pytest.raises(requests.exceptions.ConnectionError):
        session.post(url.replace(".well-known/openid-configuration", "oauth2/v2.0/token"))
    stale = time.time() - auth.DISCOVERY_CACHE_SECONDS - 5
    os.utime(str(path), (stale, stale))
    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(url)
