from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    InvalidInputError,
    SqlServerError,
    SqlvmBackupError,
)


def test_message_carries_cause_and_fix():
    error = InvalidInputError("scope is in another subscription.", fix="use a scope in subscription X.", option="scope")
    assert error.msg == "scope is in another subscription. Fix: use a scope in subscription X."
    assert str(error) == error.msg
    assert error.to_result() == dict(msg=error.msg, error=dict(kind="invalid_input", cause=error.cause,
                                                               fix=error.fix, option="scope"))


def test_without_fix_the_cause_stands_alone():
    assert SqlvmBackupError("plain").msg == "plain"


def test_azure_api_error_format():
    error = AzureApiError("create role assignment", "/subscriptions/s", 409, "RoleAssignmentExists", "exists")
    assert error.msg.startswith("create role assignment failed for /subscriptions/s: HTTP 409 RoleAssignmentExists: exists")
    assert error.to_result()["error"]["status"] == 409


def test_unknown_5xx_code_still_gets_a_fix_and_no_status_reads_well():
    assert "again" in AzureApiError("read", "r", 503, "Weird", "m").fix
    assert "no HTTP answer" in AzureApiError("read", "r", None, "ConnectionError", "reset").msg


def test_sql_server_error_names_the_number():
    error = SqlServerError(37563, "The primary managed identity is not selected", "BACKUP DATABASE",
                           fix="enable Entra authentication with a primary identity on the SQL VM.")
    assert "SQL Server error 37563" in error.msg and error.to_result()["error"]["number"] == 37563
