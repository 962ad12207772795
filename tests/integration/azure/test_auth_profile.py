"""azure.azcollection's ways of configuring authentication, against the world: a ~/.azure/credentials profile,
ANSIBLE_AZURE_AUTH_SOURCE (env, credential_file), the file's trust rules, secrets out of -vvv output, and the
warning that Microsoft Entra authentication for SQL Server on Azure VMs is documented for the public cloud only."""
import json
import os

import pytest

# The world's sign-in as env.sh gives it (AWX's names); removed from the task's environment so that only the
# credentials file can sign in.
_IDENTITY_VARIABLES = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT", "AZURE_CLOUD_ENVIRONMENT")
INFO = {"resource_group": "rg-sql", "vm_name": "sqlvm-ready"}


def profile_text(env, name="default"):
    return ("[%s]\nsubscription_id = %s\nclient_id = %s\nsecret = %s\ntenant = %s\ncloud_environment = %s\n" % (
        name, env["AZURE_SUBSCRIPTION_ID"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"], env["AZURE_TENANT"],
        env["AZURE_CLOUD_ENVIRONMENT"]))


@pytest.fixture
def home(tmp_path):
    path = tmp_path / "home"
    (path / ".azure").mkdir(parents=True)
    return path


def write_credentials(home, text, mode=0o600):
    path = home / ".azure" / "credentials"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def file_only_env(home, **extra):
    env = {name: None for name in _IDENTITY_VARIABLES}
    env.update(HOME=str(home), **extra)
    return env


def signed_in_as_automation(az):
    automation = az.state()["automation_object_id"]
    return {e["principal"] for e in az.requests() if e["service"] in ("arm", "graph")} == {automation}


def warnings_text(task):
    return json.dumps(task.get("warnings") or [])


def test_a_named_profile_alone_authenticates_a_module(az, home):
    write_credentials(home, "[other]\nsubscription_id = 00000000-0000-0000-0000-000000000000\n\n" + profile_text(az.env, "sim"))
    task, writes = az.task("sqlvm_info", dict(INFO, profile="sim", token_cache=False), env=file_only_env(home))
    assert task.status == "ok", task
    assert writes == [] and signed_in_as_automation(az)
    # AZURE_PROFILE names it just as well.
    task, _writes = az.task("sqlvm_info", dict(INFO, token_cache=False), env=file_only_env(home, AZURE_PROFILE="sim"))
    assert task.status == "ok", task


def test_the_default_profile_is_the_fallback_and_its_secret_never_shows_at_vvv(az, home):
    write_credentials(home, profile_text(az.env))
    result, _writes = az.run([{"name": "info", "sqlvm.backup.sqlvm_info": dict(INFO, token_cache=False)}],
                             env=file_only_env(home), verbosity=3)
    assert [t.status for t in result.tasks] == ["ok"], result.output[-3000:]
    assert az.env["AZURE_SECRET"] not in result.output
    assert signed_in_as_automation(az)


def test_ansible_azure_auth_source_credential_file_ignores_the_environment_identity(az, home):
    write_credentials(home, profile_text(az.env))
    env = file_only_env(home, ANSIBLE_AZURE_AUTH_SOURCE="credential_file", AZURE_CLIENT_ID="0badc0de-0000-0000-0000-000000000000",
                        AZURE_SECRET="not-the-secret", AZURE_TENANT=az.env["AZURE_TENANT"])
    task, _writes = az.task("sqlvm_info", dict(INFO, token_cache=False), env=env)
    assert task.status == "ok", task
    assert signed_in_as_automation(az)


def test_ansible_azure_auth_source_env_ignores_the_task_and_the_file(az, home):
    write_credentials(home, profile_text(az.env).replace(az.env["AZURE_SECRET"], "a-wrong-secret"))
    args = dict(INFO, token_cache=False, client_id="0badc0de-0000-0000-0000-000000000000", secret="another-wrong-secret")
    task, _writes = az.task("sqlvm_info", args, env={"HOME": str(home), "ANSIBLE_AZURE_AUTH_SOURCE": "env"})
    assert task.status == "ok", task
    # Without it, the task's own options (wrong) are used, and sign-in fails.
    task, _writes = az.task("sqlvm_info", args, env={"HOME": str(home)})
    assert task.failed and "another-wrong-secret" not in json.dumps(task)


def test_a_group_readable_file_with_a_secret_is_refused_with_the_fix(az, home):
    path = write_credentials(home, profile_text(az.env, "sim"), mode=0o640)
    result, writes = az.run([{"name": "info", "sqlvm.backup.sqlvm_info": dict(INFO, profile="sim"), "ignore_errors": True}],
                            env=file_only_env(home), verbosity=3)
    task = result.tasks[0]
    assert task.failed and writes == []
    assert "chmod 600 %s" % path in task["msg"], task["msg"]
    assert az.env["AZURE_SECRET"] not in result.output


def test_a_symlinked_file_is_refused_when_named_and_skipped_with_a_warning_as_fallback(az, home, tmp_path):
    target = tmp_path / "real-credentials"
    target.write_text(profile_text(az.env))
    os.chmod(target, 0o600)
    os.symlink(target, home / ".azure" / "credentials")
    task, _writes = az.task("sqlvm_info", dict(INFO, profile="default"), env=file_only_env(home))
    assert task.failed and "symbolic link" in task["msg"], task
    # As the [default] fallback it is skipped with a warning; the environment's identity signs in.
    env = {"HOME": str(home), "AZURE_CLIENT_ID": None, "AZURE_SECRET": None, "AZURE_TENANT": None}
    task, _writes = az.task("sqlvm_info", dict(INFO, client_id=az.env["AZURE_CLIENT_ID"], secret=az.env["AZURE_SECRET"],
                                               tenant=az.env["AZURE_TENANT"], token_cache=False), env=env)
    assert task.status == "ok", task  # the task's identity: the file is not needed, so not read
    task, _writes = az.task("sqlvm_info", dict(INFO, token_cache=False, timeout=30),
                            env=dict(env, PATH="/usr/bin:/bin", IDENTITY_ENDPOINT=None))
    assert "symbolic link" in warnings_text(task), task


def test_entra_on_sql_vm_warns_in_a_cloud_other_than_the_public_one(az, tmp_path):
    # The world simulates the public cloud; its metadata document names it AzureCloud, and no warning is given.
    task, _writes = az.task("sqlvm_info", INFO, env={"XDG_CACHE_HOME": str(tmp_path / "public")})
    assert task.status == "ok" and "public cloud" not in warnings_text(task), task
    # Here it presents itself as another cloud (its metadata document names it), not AzureCloud.
    az.admin.settings(cloud_name="AzureSimCloud")
    task, _writes = az.task("sqlvm_info", INFO, env={"XDG_CACHE_HOME": str(tmp_path / "other")})
    assert task.status == "ok", task
    text = warnings_text(task)
    assert "not the public cloud (AzureCloud)" in text
    assert "Enable Microsoft Entra authentication for SQL Server on Azure VMs" in text
    task, _writes = az.task("role_assignment", {
        "principal_id": az.uami("uami-sqlbackup")["principal_id"], "role": "Storage Blob Data Contributor",
        "scope": az.storage_scope()})
    assert "public cloud" not in warnings_text(task)
