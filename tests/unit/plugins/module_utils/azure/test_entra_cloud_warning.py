"""The warning for Microsoft Entra authentication on SQL Server on Azure VMs outside the public cloud
(Microsoft's "Enable Microsoft Entra authentication for SQL Server on Azure VMs", Limitations), and the
credentials-file warnings a task shows."""
import json
import os
import types

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.sqlvm.backup.plugins.module_utils import base
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import (
    KNOWN_CLOUDS, Cloud, entra_on_sql_vm_warning, is_public_cloud)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

SUB = "11111111-2222-3333-4444-555555555555"
# An ARM URL whose metadata describes the public cloud (e.g. reached through a private link).
PUBLIC_BY_URL = Cloud("AzureCloud", "https://arm.contoso.internal/", "https://login.microsoftonline.com/",
                      "https://management.core.windows.net/", "https://graph.microsoft.com/", "https://graph.microsoft.com/",
                      "core.windows.net", "database.windows.net", "https://database.windows.net/")
STACK = Cloud("AzureStack-User-1", "https://management.local.azurestack.external/", "https://adfs.local.azurestack.external/",
              "https://management.adfs.azurestack.local/", "https://graph.local.azurestack.external/",
              "https://graph.local.azurestack.external/", "local.azurestack.external", "database.local", "https://database.local/")


@pytest.mark.parametrize("cloud, public", [
    (KNOWN_CLOUDS["AzureCloud"], True), (PUBLIC_BY_URL, True),
    (KNOWN_CLOUDS["AzureUSGovernment"], False), (KNOWN_CLOUDS["AzureChinaCloud"], False), (STACK, False)])
def test_only_the_public_cloud_is_public(cloud, public):
    assert is_public_cloud(cloud) is public
    warning = entra_on_sql_vm_warning(cloud)
    assert (warning is None) is public
    if not public:
        assert cloud.name in warning
        assert '"Enable Microsoft Entra authentication for SQL Server on Azure VMs", Limitations' in warning
        assert "sql_auth: sql" in warning


@pytest.fixture(autouse=True)
def warned(monkeypatch):
    """The warnings the task gives (as SqlvmModule.warn receives them, secrets already masked there).
    ansible-core keeps warnings per process, so they are recorded where they are given."""
    given = []
    original = base.SqlvmModule.warn

    def record(self, warning):
        given.append(warning)
        original(self, warning)
    monkeypatch.setattr(base.SqlvmModule, "warn", record)
    return given


def make_module(monkeypatch, args):
    payload = dict(args, _ansible_check_mode=False, _ansible_diff=False)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    return base.SqlvmModule({"name": {"type": "str"}})


def backend(name, fails=False):
    """A capability that talks to Azure as the real ones do: the session resolves its cloud (a named cloud
    costs no request), then it answers or fails."""
    capability = types.ModuleType("ansible_collections.sqlvm.backup.plugins.module_utils.backends." + name)

    def read(session, desired):
        assert session.cloud is not None
        if fails:
            raise InvalidInputError("the VM is not there.", fix="name another VM.")
        return Result(changed=False)
    capability.read = read
    return capability


def run_azure(monkeypatch, capsys, capability, cloud):
    module = make_module(monkeypatch, {"subscription_id": SUB, "cloud_environment": cloud})
    with pytest.raises(SystemExit):
        module.run_azure(capability, {})
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", ["sqlvm_info", "sqlvm_identity"])
@pytest.mark.parametrize("fails", [False, True])
def test_entra_capabilities_warn_in_us_government_also_when_they_fail(monkeypatch, capsys, warned, name, fails):
    result = run_azure(monkeypatch, capsys, backend(name, fails), "AzureUSGovernment")
    assert bool(result.get("failed")) is fails
    assert "AzureUSGovernment, not the public cloud" in " ".join(warned)


def test_bad_input_refused_before_the_session_gives_no_cloud_warning(monkeypatch, capsys, warned):
    capability = backend("sqlvm_info")

    def validate(desired):
        raise InvalidInputError("vm_name is empty.", fix="name the VM.")
    capability.validate = validate
    result = run_azure(monkeypatch, capsys, capability, "AzureUSGovernment")
    assert result["failed"] and warned == []


@pytest.mark.parametrize("name, cloud", [("sqlvm_info", "AzureCloud"), ("role_assignment", "AzureUSGovernment")])
def test_no_warning_in_the_public_cloud_nor_for_other_capabilities(monkeypatch, capsys, warned, name, cloud):
    run_azure(monkeypatch, capsys, backend(name), cloud)
    assert "public cloud" not in " ".join(warned)


def test_an_entra_sql_token_warns_outside_the_public_cloud(monkeypatch, capsys, warned):
    module = make_module(monkeypatch, {"subscription_id": SUB, "cloud_environment": "AzureChinaCloud"})
    monkeypatch.setattr(type(module.azure), "token", lambda self, scope: "token-for-" + scope)
    assert module._entra_sql_token() == "token-for-https://database.chinacloudapi.cn/.default"
    with pytest.raises(SystemExit):
        module.exit_json(changed=False)
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is False and "AzureChinaCloud, not the public cloud" in " ".join(warned)


def test_credentials_file_warnings_and_secrets_reach_the_task_result_masked(monkeypatch, capsys, tmp_path, warned):
    (tmp_path / ".azure").mkdir()
    path = tmp_path / ".azure" / "credentials"
    path.write_text("[default]\nsubscription_id = %s\nad_user = dba@contoso.com\npassword = Pr0file-Pa55\n"
                    "cert_validation_mode = ignore\n" % SUB)
    os.chmod(path, 0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("AZURE_PROFILE", "ANSIBLE_AZURE_AUTH_SOURCE", "AZURE_CLIENT_ID", "AZURE_AD_USER", "AZURE_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    module = make_module(monkeypatch, {})
    assert module.auth_settings.password == "Pr0file-Pa55"
    with pytest.raises(SystemExit):
        module.exit_json(changed=False, echoed="the password is Pr0file-Pa55")
    out = capsys.readouterr().out
    assert "Pr0file-Pa55" not in out
    assert "cert_validation_mode" in " ".join(warned)
