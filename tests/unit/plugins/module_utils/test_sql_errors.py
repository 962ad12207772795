"""sql_errors: numbers read from pyodbc text, each documented error with its cause and fix."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import SqlServerError

MS = "[42000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]%s (%d) (SQLExecDirectW)"
TDS = "[42000] [FreeTDS][SQL Server]%s (%d) (SQLExecDirectW)"
URL = "https://acct.blob.core.windows.net/backups/db.bak"

CASES = [
    (37563, "The primary managed identity is not selected for this server. Enable the primary managed identity for "
            "Microsoft Entra authentication for this server. For more information see "
            "(https://aka.ms/sql-server-managed-identity-doc).", "sqlvm_identity"),
    (3201, "Cannot open backup device '%s'. Operating system error 5(Access is denied.)." % URL,
     "Storage Blob Data Contributor"),
    (3201, "Cannot open backup device '%s'. Operating system error 50(The request is not supported.)." % URL,
     "sql_credential"),
    (3201, "Cannot open backup device '%s'. Operating system error 80(The file exists.)." % URL, "overwrite: true"),
    (3013, "BACKUP DATABASE is terminating abnormally.", "first error"),
    (1834, "The file 'C:\\data\\AdventureWorks.mdf' cannot be overwritten.  It is being used by the database "
           "'AdventureWorks'.", "MOVE"),
    (3156, "File 'AdventureWorks' cannot be restored to 'C:\\data\\AdventureWorks.mdf'. Use WITH MOVE to identify a "
           "valid location for the file.", "replace: true"),
    (18456, "Login failed for user 'ops@contoso.com'.", "ops@contoso.com"),
    (15025, "The server principal 'ops' already exists.", "already exists"),
    (15023, "User, group, or role 'ops' already exists in the current database.", "already exists"),
    (3225, "Use of WITH CREDENTIAL syntax is not valid for credentials containing a Shared Access Signature.",
     "omit WITH CREDENTIAL"),
    (3284, "Filemark on device '%s' is not aligned. Re-issue the Restore statement with the same block size used to "
           "create the backupset: '65536' looks like a possible value." % URL, "BLOCKSIZE = 65536"),
    (3271, "A nonrecoverable I/O error occurred on file \"%s:\" Backup to URL received an exception from the remote "
           "endpoint. Exception Message: The remote server returned an error: (412) There is currently a lease on the "
           "blob and no lease ID was specified in the request.." % URL, "break the lease"),
    (3271, "A nonrecoverable I/O error occurred on file \"%s:\" Backup to URL received an exception from the remote "
           "endpoint. Exception Message: The remote server returned an error: (409) Conflict.." % URL,
     "break the lease"),
    (229, "The EXECUTE permission was denied on the object 'xp_x', database 'mssqlsystemresource', schema 'sys'.",
     "grant"),
    (262, "BACKUP DATABASE permission denied in database 'db1'.", "db_backupoperator"),
    (15247, "User does not have permission to perform this action.", "securityadmin"),
    (33134, "Server identity is not configured. Please follow the steps in \"Assign an Azure AD identity to your server "
            "and add Directory Reader permission to your identity\".", "entra_directory_reader"),
    (33129, "Cannot use the DISABLE option with a Windows group or an Azure AD group.", "drop the group"),
    (2571, "User 'ops' does not have permission to run DBCC TRACEON.", "sysadmin"),
    (3110, "User does not have permission to RESTORE database 'app_copy'.", "dbcreator"),
    (3059, "This BACKUP or RESTORE command is not supported on a database mirror or secondary replica.",
     "preferred replica"),
    (3104, "RESTORE cannot operate on database 'app' because it is configured for database mirroring or has joined an "
           "availability group.", "another name"),
]


@pytest.mark.parametrize("template", [MS, TDS])
@pytest.mark.parametrize("number,text,hint", CASES)
def test_documented_errors_name_cause_and_fix(template, number, text, hint):
    raw = template % (text, number)
    assert sql_errors.error_number(raw) == number
    error = sql_errors.translate(raw, "BACKUP DATABASE")
    assert isinstance(error, SqlServerError)
    assert error.number == number
    assert "Cause:" in error.msg and "Fix:" in error.msg and error.fix
    assert hint.lower() in error.msg.lower()
    assert "SQLExecDirectW" not in error.msg and "[Microsoft]" not in error.msg


def test_pyodbc_exception_args_are_read():
    class FakePyodbcError(Exception):
        pass
    exc = FakePyodbcError("42000", MS % ("The server principal 'x' already exists.", 15025))
    assert sql_errors.translate(exc).number == 15025


def test_unknown_number_keeps_server_text():
    error = sql_errors.translate(MS % ("Incorrect syntax near 'FOO'.", 102), "SELECT")
    assert error.number == 102 and "Incorrect syntax near 'FOO'" in error.msg


def test_message_without_number():
    error = sql_errors.translate("[08S01] [FreeTDS][SQL Server]Unable to connect: Adaptive Server is unavailable")
    assert error.number is None and "Unable to connect" in error.msg


def test_http_status_is_not_taken_for_the_error_number():
    assert sql_errors.error_number("remote server returned an error: (412) lease") is None


LEASE_3201 = [
    "Cannot open backup device '%s'. Operating system error 50(The remote server returned an error: (409) Conflict.)."
    % URL,
    "Cannot open backup device '%s'. Operating system error 50(The remote server returned an error: (412) There is "
    "currently a lease on the blob and no lease ID was specified in the request.)." % URL,
]


@pytest.mark.parametrize("text", LEASE_3201)
def test_3201_with_a_lease_status_is_a_lease_not_a_missing_credential(text):
    error = sql_errors.translate(MS % (text, 3201), "BACKUP DATABASE")
    assert "lease" in error.msg and "break the lease" in error.msg.lower()
    assert "sql_credential" not in error.msg and "no usable credential" not in error.msg


@pytest.mark.parametrize("raw", [
    "[08S01] [FreeTDS][SQL Server]Unexpected EOF from the server (20017) (SQLExecDirectW)",
    "[08S01] [Microsoft][ODBC Driver 18 for SQL Server]Communication link failure (0) (SQLExecDirectW)",
    "[08S01] [Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: Error code 0x68 (104) (SQLExecDirectW)",
    "[08S01] [FreeTDS][SQL Server]Read from the server failed (20004) (SQLExecDirectW)",
])
def test_a_dropped_connection_says_the_statement_may_have_run(raw):
    class FakePyodbcError(Exception):
        pass
    error = sql_errors.translate(FakePyodbcError("08S01", raw), "CREATE LOGIN")
    assert error.connection_lost is True and error.to_result()["error"]["connection_lost"] is True
    assert "connection to SQL Server was lost" in error.msg and "may or may not have run" in error.msg
    assert "Fix:" in error.msg and "run the task again" in error.msg


def test_a_server_error_is_not_taken_for_a_dropped_connection():
    assert not getattr(sql_errors.translate(MS % ("Incorrect syntax near 'x'.", 102)), "connection_lost", False)
