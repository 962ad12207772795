"""~/.azure/credentials profiles (azure.azcollection's file), ANSIBLE_AZURE_AUTH_SOURCE and the precedence
module options > environment > profile file > managed identity / Azure CLI."""
import os

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import credentials_file
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import AuthSettings, choose_auth_source
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

SUB = "11111111-2222-3333-4444-555555555555"
SUB2 = "22222222-2222-3333-4444-555555555555"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
APP_PROD = "cccccccc-bbbb-cccc-dddd-eeeeeeeeeeee"
APP_ENV = "eeeeeeee-bbbb-cccc-dddd-eeeeeeeeeeee"
TENANT = "99999999-8888-7777-6666-555555555555"
FILE = """[default]
subscription_id = %s
client_id = %s
secret = default-secret-value
tenant = %s

[prod]
subscription_id = %s
client_id = %s
secret = prod%%secret=value
tenant = %s
cloud_environment = AzureUSGovernment
""" % (SUB, APP, TENANT, SUB2, APP_PROD, TENANT)


@pytest.fixture
def home(tmp_path):
    (tmp_path / ".azure").mkdir()
    return tmp_path


def write(home, text=FILE, mode=0o600):
    path = home / ".azure" / "credentials"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def settings(home, options=None, **environ):
    return AuthSettings.from_options_and_env(options or {}, dict(environ, HOME=str(home)))


def test_default_profile_is_the_fallback_identity_as_in_azure_azcollection(home):
    write(home)
    s = settings(home)
    assert (s.subscription_id, s.client_id, s.secret, s.tenant) == (SUB, APP, "default-secret-value", TENANT)
    assert s.origin["secret"] == "profile [default] of %s" % (home / ".azure" / "credentials")
    assert choose_auth_source(s, probe_msi=pytest.fail, which=pytest.fail) == "credentials"
    assert s.secret_values() == ["default-secret-value"]


def test_values_are_raw_no_interpolation(home):
    write(home)
    assert settings(home, {"profile": "prod"}).secret == "prod%secret=value"


def test_profile_option_and_azure_profile_name_a_profile(home):
    write(home)
    by_option = settings(home, {"profile": "prod"})
    by_env = settings(home, AZURE_PROFILE="prod")
    for s in (by_option, by_env):
        assert (s.subscription_id, s.client_id, s.cloud_environment) == (SUB2, APP_PROD, "AzureUSGovernment")
    assert settings(home, {"profile": "prod"}, AZURE_PROFILE="default").client_id == APP_PROD  # option first


def test_options_come_before_the_environment_before_the_profile(home):
    write(home)
    env = {"AZURE_CLIENT_ID": APP_ENV, "AZURE_SECRET": "env-secret", "AZURE_TENANT": TENANT}
    s = settings(home, {}, **env)
    # The environment gives an identity: [default] is not mixed into it.
    assert (s.client_id, s.secret, s.subscription_id) == (APP_ENV, "env-secret", None)
    s = settings(home, {"client_id": APP, "secret": "option-secret", "tenant": TENANT}, **env)
    assert (s.client_id, s.secret) == (APP, "option-secret")
    assert s.origin["client_id"] == "option"


def test_a_named_profile_replaces_the_environment_identity_but_not_the_options(home):
    write(home)
    env = {"AZURE_CLIENT_ID": APP_ENV, "AZURE_SECRET": "env-secret", "AZURE_SUBSCRIPTION_ID": SUB}
    s = settings(home, {"profile": "prod"}, **env)
    assert (s.client_id, s.secret, s.subscription_id) == (APP_PROD, "prod%secret=value", SUB2)
    s = settings(home, {"profile": "prod", "subscription_id": SUB}, **env)
    assert s.subscription_id == SUB and s.origin["subscription_id"] == "option"


def test_profile_without_identity_keeps_msi_and_cli_and_gives_the_subscription(home):
    write(home, "[default]\nsubscription_id = %s\n" % SUB)
    s = settings(home)
    assert s.subscription_id == SUB and s.client_id is None
    assert choose_auth_source(s, probe_msi=lambda environ: False, which=lambda name: "/usr/bin/az") == "cli"


def test_no_file_is_no_error_for_the_fallback(home):
    s = settings(home, {}, AZURE_SUBSCRIPTION_ID=SUB)
    assert s.subscription_id == SUB and s.warnings == []


@pytest.mark.parametrize("options, environ", [({"profile": "prod"}, {}), ({}, {"AZURE_PROFILE": "prod"}),
                                              ({"auth_source": "credential_file"}, {})])
def test_a_named_profile_must_exist(home, options, environ):
    with pytest.raises(InvalidInputError) as caught:
        settings(home, options, **environ)
    assert "does not exist" in str(caught.value)
    write(home, "[other]\nsubscription_id = %s\n" % SUB)
    with pytest.raises(InvalidInputError) as caught:
        settings(home, options, **environ)
    assert "has no profile [" in str(caught.value) and "[other]" in str(caught.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_secret_others_may_read_is_refused_with_the_fix(home, mode):
    path = write(home, mode=mode)
    with pytest.raises(InvalidInputError) as caught:
        settings(home, {"profile": "prod"})
    assert "other users may read it" in str(caught.value) and "chmod 600 %s" % path in caught.value.fix
    assert "secret-value" not in str(caught.value) + caught.value.fix
    # The [default] fallback skips it with the same reason as a warning; the task goes on without it.
    s = settings(home)
    assert s.client_id is None and len(s.warnings) == 1 and "chmod 600" in s.warnings[0]
    assert "secret-value" not in s.warnings[0]


def test_a_readable_file_without_secrets_is_used(home):
    write(home, "[default]\nsubscription_id = %s\n" % SUB, mode=0o644)
    assert settings(home).subscription_id == SUB


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o660])
def test_a_file_others_may_write_is_refused(home, mode):
    write(home, "[default]\nsubscription_id = %s\n" % SUB, mode=mode)
    with pytest.raises(InvalidInputError) as caught:
        settings(home, {"auth_source": "credential_file"})
    assert "other users may write" in str(caught.value)


def test_a_symbolic_link_is_refused(home, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text(FILE)
    os.chmod(target, 0o600)
    os.symlink(target, home / ".azure" / "credentials")
    with pytest.raises(InvalidInputError) as caught:
        settings(home, {"profile": "prod"})
    assert "symbolic link" in str(caught.value)
    s = settings(home)
    assert s.client_id is None and "symbolic link" in s.warnings[0]


def test_a_broken_file_names_the_line_never_its_content(home):
    write(home, "[default]\nsubscription_id = %s\nthis-is-the-secret-line\n" % SUB)
    with pytest.raises(InvalidInputError) as caught:
        settings(home, {"profile": "default"})
    assert "line 3" in str(caught.value) and "this-is-the-secret-line" not in str(caught.value)


def test_azure_azcollection_keys_map_or_warn(home):
    write(home, "[default]\nsubscription_id = %s\nclient_id = %s\ntenant = %s\nx509_certificate_path = /k.pem\n"
                "thumbprint = AB12\ncert_validation_mode = ignore\nadfs_authority_url = https://adfs\nfavourite = x\n"
                % (SUB, APP, TENANT))
    s = settings(home)
    assert s.client_certificate_path == "/k.pem" and s.has_service_principal()
    text = " ".join(s.warnings)
    assert "cert_validation_mode" in text and "REQUESTS_CA_BUNDLE" in text
    assert "adfs_authority_url" in text and "favourite" in text and "thumbprint" not in text


def test_a_bad_guid_names_the_profile_to_fix(home):
    write(home, "[default]\nsubscription_id = not-a-guid\n")
    with pytest.raises(InvalidInputError) as caught:
        settings(home, {"profile": "default"})
    assert "subscription_id in profile [default] of" in caught.value.fix


# auth_source and ANSIBLE_AZURE_AUTH_SOURCE ----------------------------------------------------------------

def test_auth_source_defaults_from_ansible_azure_auth_source(home):
    assert settings(home).auth_source == "auto"
    assert settings(home, ANSIBLE_AZURE_AUTH_SOURCE="cli").auth_source == "cli"
    assert settings(home, {"auth_source": "msi"}, ANSIBLE_AZURE_AUTH_SOURCE="cli").auth_source == "msi"


def test_a_bad_ansible_azure_auth_source_names_the_variable(home):
    with pytest.raises(InvalidInputError) as caught:
        settings(home, ANSIBLE_AZURE_AUTH_SOURCE="vault")
    assert "ANSIBLE_AZURE_AUTH_SOURCE 'vault'" in str(caught.value) and "credential_file" in caught.value.fix


def test_env_source_ignores_options_and_the_default_profile(home):
    write(home)
    s = settings(home, {"client_id": APP, "secret": "option-secret", "tenant": TENANT},
                 ANSIBLE_AZURE_AUTH_SOURCE="env", AZURE_CLIENT_ID=APP_ENV, AZURE_SECRET="env-secret", AZURE_TENANT=TENANT)
    assert (s.client_id, s.secret, s.subscription_id) == (APP_ENV, "env-secret", None)
    assert choose_auth_source(s) == "credentials"
    # AZURE_PROFILE names the profile env uses, as in azure.azcollection; the task's profile option does not.
    s = settings(home, {"profile": "default"}, ANSIBLE_AZURE_AUTH_SOURCE="env", AZURE_PROFILE="prod")
    assert s.client_id == APP_PROD


def test_credential_file_source_takes_the_identity_from_the_profile_only(home):
    write(home)
    s = settings(home, {"client_id": APP_ENV, "secret": "option-secret"}, ANSIBLE_AZURE_AUTH_SOURCE="credential_file",
                 AZURE_CLIENT_ID=APP_ENV, AZURE_SECRET="env-secret")
    assert (s.client_id, s.secret, s.subscription_id) == (APP, "default-secret-value", SUB)
    assert choose_auth_source(s, probe_msi=pytest.fail, which=pytest.fail) == "credentials"


def test_load_profile_reads_nothing_it_does_not_trust(home):
    path = write(home)
    os.chmod(path, 0o600)
    values, warnings, where = credentials_file.load_profile("prod", environ={"HOME": str(home)})
    assert values["client_id"] == APP_PROD and warnings == [] and where == str(path)
    assert credentials_file.load_profile("nope", environ={"HOME": str(home)}, required=False) is None
