"""sql_connection: connection strings, token struct, refusals before connecting."""
import struct

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.sql import connection as sc
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors_mod
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.tsql import backup, server_properties

FREETDS = "/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so"


def test_access_token_struct_is_length_prefixed_utf16le():
    data = sc.access_token_struct("eyJ0")
    assert data[:4] == struct.pack("<I", 8)
    assert data[4:].decode("utf-16-le") == "eyJ0"


def test_default_is_tls_with_certificate_validation():
    s = sc.SqlConnectionSettings("sql1.example", user="u", password="p;}x")
    text = s.connection_string()
    assert "Encrypt=yes" in text and "TrustServerCertificate=no" in text
    assert "SERVER=tcp:sql1.example,1433" in text
    assert "p;}x" not in text and "PWD" not in text
    assert s._with_password().endswith("PWD={p;}}x};")


def test_auto_auth_picks_entra_without_user():
    assert sc.SqlConnectionSettings("h").auth == "entra"
    assert sc.SqlConnectionSettings("h", user="u", password="p").auth == "sql"


@pytest.mark.parametrize("kwargs,match", [
    (dict(host="h", auth="entra", driver="FreeTDS"), "FreeTDS"),
    (dict(host="h", auth="entra", driver=FREETDS), "FreeTDS"),
    (dict(host="h", auth="sql", user="u"), "login_password"),
    (dict(host="h", auth="sql", user="u", password=""), "login_password is empty"),
    (dict(host="h", auth="sql", user="u", password="   "), "login_password is empty"),
    (dict(host="h", auth="sql", user="u\n", password="p"), "login_user"),
    (dict(host="h\n"), "sql_host"),
    (dict(host="h;DRIVER=x"), "sql_host"),
    (dict(host="h", port=70000), "sql_port"),
    (dict(host="h", encrypt="maybe"), "encrypt"),
    (dict(host="h", user="u", password="p", driver="FreeTDS", encrypt="strict"), "strict"),
    (dict(host="h", driver="/nonexistent/libmsodbcsql.so"), "does not exist"),
    (dict(host="h", auth="entra", user="u", password="p"), "remove login_user"),
])
def test_refusals_before_connecting(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        sc.SqlConnectionSettings(**kwargs)


def test_freetds_connection_string():
    s = sc.SqlConnectionSettings("127.0.0.1", port=14330, user="sa", password="x", driver=FREETDS)
    text = s.connection_string()
    assert "PORT=14330" in text and "TDS_Version=7.4" in text and "Encryption=require" in text


class _Cursor:
    def __init__(self, log):
        self.log, self.description, self.messages = log, None, []

    def execute(self, sql, *params):
        self.log.append((sql, params))

    def nextset(self):
        return False

    def close(self):
        pass


class _Conn:
    def __init__(self):
        self.log = []

    def cursor(self):
        return _Cursor(self.log)


def test_check_mode_never_sends_a_write():
    conn = _Conn()
    session = sc.SqlSession(conn, check_mode=True)
    session.query(server_properties())
    with pytest.raises(sc.CheckModeWriteError):
        session.execute(backup("db", ["https://a/b"]))
    assert len(conn.log) == 1 and conn.log[0][0].startswith("SELECT")


def test_freetds_password_is_braced_without_doubling():
    s = sc.SqlConnectionSettings("h", user="sa", password="a;{b}c", driver=FREETDS)
    assert s._with_password().endswith("PWD={a;{b}c};")
    with pytest.raises(InvalidInputError, match="FreeTDS"):
        sc.SqlConnectionSettings("h", user="sa", password="a};b", driver=FREETDS)


def _jwt(claims):
    import base64
    import json
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return "eyJhbGciOiJSUzI1NiJ9." + body + ".c2ln"


def _refusing(error):
    def open_session(*_args, **_kwargs):
        raise error
    return open_session


def test_token_claims_are_read_without_verification_and_garbage_gives_nothing():
    assert sql_errors_mod.token_claims(_jwt({"appid": "a", "oid": "o"})) == {"appid": "a", "oid": "o"}
    for garbage in ("", "not-a-jwt", "a.%%%.c", "a.bnVsbA.c"):   # bnVsbA = "null"
        assert sql_errors_mod.token_claims(garbage) == {}


def test_login_failed_with_a_token_names_the_application_and_the_fix(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors
    token = _jwt({"appid": "b58ef4dd-0000-0000-0000-000000000001", "oid": "6457ae18-0000-0000-0000-000000000002",
                  "tid": "ca55f30b-0000-0000-0000-000000000003", "idtyp": "app"})

    def refuse(settings, access_token=None, check_mode=False):
        assert access_token == token
        raise sql_errors.translate("[28000] [Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user "
                                   "'<token-identified principal>'. (18456) (SQLDriverConnect)", "login to h:1433")
    monkeypatch.setattr(sc, "open_session", refuse)
    with pytest.raises(sc.SqlvmBackupError) as info:
        sc.connect(dict(sql_host="h", sql_auth="entra", odbc_driver="ODBC Driver 18 for SQL Server"),
                   token_provider=lambda: token)
    error = info.value
    assert error.number == 18456 and error.statement_kind == "login to h:1433"
    assert "application (client) id b58ef4dd-0000-0000-0000-000000000001" in error.msg
    assert "object id 6457ae18-0000-0000-0000-000000000002" in error.msg and "ca55f30b" in error.msg
    assert "sqlvm.backup.sql_login" in error.msg and "application's display name" in error.msg
    assert token not in error.msg


def test_login_failed_with_a_user_token_suggests_the_object_id(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors
    token = _jwt({"upn": "dba1@contoso.com", "oid": "11111111-2222-3333-4444-555555555555", "idtyp": "user"})
    monkeypatch.setattr(sc, "open_session", _refusing(sql_errors.translate("Login failed for user 'x'. (18456)", "login")))
    with pytest.raises(sc.SqlvmBackupError) as info:
        sc.connect(dict(sql_host="h", sql_auth="entra"), token_provider=lambda: token)
    assert "user dba1@contoso.com" in info.value.msg
    assert "object_id: 11111111-2222-3333-4444-555555555555" in info.value.msg


def test_login_failed_with_sql_auth_is_left_as_sql_server_said(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors
    monkeypatch.setattr(sc, "open_session", _refusing(sql_errors.translate("Login failed for user 'sa'. (18456)", "login")))
    with pytest.raises(sc.SqlvmBackupError) as info:
        sc.connect(dict(sql_host="h", login_user="sa", login_password="pw"))
    assert "'sa'" in info.value.msg and "access token" not in info.value.msg


def test_storage_suffix_of_a_cloud_given_by_url_comes_from_its_metadata(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import cloud as clouds

    class SimCloud:
        storage_suffix = ".core.sim.test"
    seen = []
    monkeypatch.setattr(clouds, "resolve_cloud", lambda name, fetch_metadata: seen.append(name) or SimCloud())
    assert sc.storage_suffix({}, environ={"AZURE_CLOUD_ENVIRONMENT": "https://127.0.0.1:1/"}) == "core.sim.test"
    assert seen == ["https://127.0.0.1:1/"]
    assert sc.storage_suffix({"cloud_environment": "AzureUSGovernment"}, environ={}) == "core.usgovcloudapi.net"
    assert sc.storage_suffix({"storage_suffix": "Core.Example."}, environ={}) == "core.example"
    assert seen == ["https://127.0.0.1:1/"]
