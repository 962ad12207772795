"""The connection path against the world's SQL Server: Entra access token through ODBC Driver 18,
certificate validation against the world's CA, and the refusals that happen before connecting."""
import os

import pytest

from _sqlworld import MS_DRIVER, OPS_OID, FREETDS
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import connection as sc
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, SqlServerError

TOKEN = "eyJ0eXAiOiJKV1QifQ.sim-token-for-ops.sig"


def _token_login(sqlworld, token):
    settings = sc.SqlConnectionSettings("127.0.0.1", port=sqlworld.port(), auth="entra", driver=MS_DRIVER,
                                        trust_server_certificate=True, login_timeout=10)
    return sc.open_session(settings, access_token=token)


def test_entra_access_token_logs_in_as_the_entra_login(sqlworld):
    admin = sqlworld.pyodbc()
    admin.cursor().execute("CREATE LOGIN [ops@contoso.com] FROM EXTERNAL PROVIDER")
    admin.close()
    sqlworld.backend.tokens[TOKEN] = {"aud": "https://database.windows.net/", "oid": OPS_OID,
                                      "tid": "tenant", "upn": "ops@contoso.com"}
    session = _token_login(sqlworld, TOKEN)
    try:
        assert session.query(tsql._read("SELECT SUSER_SNAME() AS who"))[0]["who"] == "ops@contoso.com"
    finally:
        session.close()


def test_unknown_token_is_18456_with_the_fix(sqlworld):
    with pytest.raises(SqlServerError) as info:
        _token_login(sqlworld, "not-a-token-the-world-issued")
    assert info.value.number == 18456 and "sql_login" in info.value.msg


def test_token_auth_with_freetds_is_refused_before_connecting(sqlworld):
    with pytest.raises(InvalidInputError, match="FreeTDS"):
        sc.connect(dict(sql_host="127.0.0.1", sql_port=sqlworld.port(), odbc_driver=FREETDS),
                   token_provider=lambda: pytest.fail("no token may be requested"))
    assert sqlworld.backend.requests == []


def test_certificate_is_validated_against_the_worlds_ca(sqlworld, monkeypatch):
    options = sqlworld.connection(driver="msodbc", trust_server_certificate=False,
                                  host_name_in_certificate="localhost")
    with pytest.raises(Exception) as untrusted:
        sc.connect(options).close()
    assert "TLS" in str(untrusted.value) or "certificate" in str(untrusted.value).lower()
    monkeypatch.setenv("SSL_CERT_FILE", sqlworld.handle.ca_file)
    session = sc.connect(options)
    try:
        assert session.query(tsql.host_platform())[0]["host_platform"] == "Windows"
    finally:
        session.close()
    assert os.path.exists(sqlworld.handle.ca_file)
