"""sql_connection: connection strings, token struct, refusals before connecting."""
import struct

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils import sql_connection as sc
from ansible_collections.sqlvm.backup.plugins.module_utils.errors import InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.tsql import backup, server_properties

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
    assert sc.SqlConnectionSettings("h", user="u", password="").auth == "sql"


@pytest.mark.parametrize("kwargs,match", [
    (dict(host="h", auth="entra", driver="FreeTDS"), "FreeTDS"),
    (dict(host="h", auth="entra", driver=FREETDS), "FreeTDS"),
    (dict(host="h", auth="sql", user="u"), "login_password"),
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


def test_scope_follows_the_cloud():
    class Cloud:
        sql_audience = "https://database.usgovcloudapi.net/"
    assert sc.sql_token_scope(Cloud()) == "https://database.usgovcloudapi.net/.default"
    assert sc.sql_token_scope(None) == "https://database.windows.net/.default"


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
