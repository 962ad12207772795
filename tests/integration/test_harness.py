"""The harness and the module base, end to end under ansible-playbook, without the test world."""
SUB = "11111111-2222-3333-4444-555555555555"
APP = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
AWX = {"AZURE_SUBSCRIPTION_ID": SUB, "AZURE_CLIENT_ID": APP, "AZURE_SECRET": "Sup3r-S3cret-Value",
       "AZURE_TENANT": "contoso.onmicrosoft.com"}


def test_ping_result_comes_back_as_json(ansible):
    result = ansible([{"name": "ping", "ansible.builtin.ping": {"data": "hello"}}])
    assert result.rc == 0, result.output
    assert result[0]["ping"] == "hello" and result[0].status == "ok" and result[0].seconds > 0


def test_awx_environment_alone_configures_authentication(ansible):
    task = ansible.module("sqlvm_base_probe", {"action": "settings"}, env=AWX)
    assert task.status == "ok", task
    assert task["origin"] == {"subscription_id": "AZURE_SUBSCRIPTION_ID", "client_id": "AZURE_CLIENT_ID",
                              "secret": "AZURE_SECRET", "tenant": "AZURE_TENANT"}
    assert task["has_secret"] is True and task["cloud"] == "AzureCloud"
    # Resolving settings and the cloud imports no Azure SDK at all.
    assert task["imported_azure"] == []


def test_domain_errors_fail_with_cause_and_fix_and_mask_env_secrets(ansible):
    task = ansible.module("sqlvm_base_probe", {"action": "fail_input"}, env=AWX, verbosity=3)
    assert task.failed
    assert task["msg"].startswith("probe input is wrong") and "Fix: pass a better probe." in task["msg"]
    assert task["error"]["kind"] == "invalid_input"
    assert "Sup3r-S3cret-Value" not in task.playbook.output
    assert "Sup3r-S3cret-Value" not in str(dict(task))


def test_azure_errors_name_operation_resource_and_code(ansible):
    task = ansible.module("sqlvm_base_probe", {"action": "fail_azure"}, env=AWX)
    assert task.failed and "read probe failed for /subscriptions/x: HTTP 403 AuthorizationFailed" in task["msg"]
    assert task["error"]["code"] == "AuthorizationFailed"


def test_secret_option_is_never_echoed(ansible):
    secret = "Task-Option-S3cret"
    task = ansible.module("sqlvm_base_probe", {"action": "settings", "secret": secret, "client_id": APP,
                                               "tenant": "t"}, verbosity=3)
    assert task.status == "ok" and task["origin"]["secret"] == "option"
    assert secret not in task.playbook.output


def test_bad_option_fails_before_anything(ansible):
    task = ansible.module("sqlvm_base_probe", {"action": "settings", "subscription_id": "nope"})
    assert task.failed and "subscription_id 'nope' is not a GUID" in task["msg"]


def test_diff_only_with_diff_and_check_mode_is_passed(ansible):
    plain = ansible.module("sqlvm_base_probe", {"action": "change"})
    assert plain["changed"] is True and "diff" not in plain and plain["check_mode"] is False
    checked = ansible.module("sqlvm_base_probe", {"action": "change"}, check=True, diff=True)
    assert checked["check_mode"] is True
    assert checked["diff"] == {"before": {"value": "old"}, "after": {"value": "new"}}
