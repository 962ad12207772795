"""pymssql and mssql-python as independent clients of the world's SQL Server: TLS verified against the world's
CA (and refused against another), a query, a failing statement and a statement the world does not model. pymssql
runs its own session SET batch at every connect (see test_sql_answers.py), so connecting at all proves it is
answered. Login and query timeouts bound every call."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver import errors as E  # noqa: E402
from sqlserver.fixtures import sql_world, world  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import SA_PASSWORD  # noqa: E402


def _freetds_conf(tmp_path, ca_file):
    """pymssql's bundled FreeTDS reads `encryption` and `ca file` from the freetds.conf FREETDSCONF names."""
    conf = tmp_path / "freetds.conf"
    conf.write_text(f"[global]\n\tencryption = require\n\tca file = {ca_file}\n")
    return str(conf)


def _pymssql_connect(pymssql, port, database="master"):
    return pymssql.connect(server="127.0.0.1", port=port, user="sa", password=SA_PASSWORD, database=database,
                           tds_version="7.4", login_timeout=10, timeout=10)


def test_pymssql_over_tls_query_error_and_not_modelled(world, tmp_path, monkeypatch):
    pymssql = pytest.importorskip("pymssql")
    backend, handle = world
    port = handle.ports["vm-ready"]
    monkeypatch.setenv("FREETDSCONF", _freetds_conf(tmp_path, handle.ca_file))
    conn = _pymssql_connect(pymssql, port)
    try:
        cur = conn.cursor()
        cur.execute("SELECT name, database_id FROM sys.databases WHERE name = %s", ("appdb",))
        assert cur.fetchall() == [("appdb", 6)]
        cur.execute("SELECT @@SERVERNAME, SUSER_NAME()")
        assert cur.fetchone() == ("VM-READY", "sa")
        with pytest.raises(pymssql.ProgrammingError) as exc:
            cur.execute("SELECT * FROM sys.nonexistent_view")
        assert exc.value.args[0] == 208
        with pytest.raises(pymssql.Error) as exc:
            cur.execute("PRINT 'hi'")
        assert exc.value.args[0] == E.NOT_MODELLED and b"does not model" in exc.value.args[1]
        cur.execute("SELECT 11")
        assert cur.fetchone() == (11,)
    finally:
        conn.close()
    # what pymssql sent at connect: its SET batch (every statement answered) and BEGIN TRAN (autocommit off)
    sent = [(e["method"], e["status"]) for e in backend.requests if e["service"] == "tds"]
    assert ("SET", 0) in sent and ("BEGIN TRANSACTION", 0) in sent
    assert all(status == 0 for method, status in sent if method == "SET")


def test_pymssql_refuses_a_certificate_from_another_ca(world, tmp_path, monkeypatch):
    pymssql = pytest.importorskip("pymssql")
    from sqlserver.certs import make_test_ca_and_cert
    backend, handle = world
    other_ca = make_test_ca_and_cert(str(tmp_path))[0]
    monkeypatch.setenv("FREETDSCONF", _freetds_conf(tmp_path, other_ca))
    with pytest.raises(pymssql.OperationalError):
        _pymssql_connect(pymssql, handle.ports["vm-ready"])
    assert not [e for e in backend.requests if e["method"] == "LOGIN"]  # TLS failed before LOGIN7


def _mssql_python_connect(mssql_python, port):
    conn = mssql_python.connect(f"Server=127.0.0.1,{port};Database=master;UID=sa;PWD={{{SA_PASSWORD}}};"
                                "Encrypt=yes;TrustServerCertificate=no;HostNameInCertificate=localhost",
                                timeout=10)
    conn.timeout = 10   # query timeout
    return conn


def test_mssql_python_over_tls_query_error_and_not_modelled(world, monkeypatch):
    mssql_python = pytest.importorskip("mssql_python")
    backend, handle = world
    # its bundled Microsoft ODBC driver verifies with OpenSSL's default store, which SSL_CERT_FILE replaces
    monkeypatch.setenv("SSL_CERT_FILE", handle.ca_file)
    conn = _mssql_python_connect(mssql_python, handle.ports["vm-ready"])
    try:
        cur = conn.cursor()
        cur.execute("SELECT name, database_id FROM sys.databases WHERE name = ?", ("appdb",))
        assert [tuple(r) for r in cur.fetchall()] == [("appdb", 6)]
        cur.execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), SUSER_NAME()")
        assert tuple(cur.fetchone()) == ("16.0.4175.1", "sa")
        with pytest.raises(mssql_python.ProgrammingError, match="Invalid object name 'sys.nonexistent_view'"):
            cur.execute("SELECT * FROM sys.nonexistent_view")
        with pytest.raises(mssql_python.Error, match="does not model"):
            cur.execute("DECLARE @x int")
        cur.execute("SET NOCOUNT ON; SELECT 12")
        assert cur.fetchone()[0] == 12
    finally:
        conn.close()
    logins = [e for e in backend.requests if e["method"] == "LOGIN"]
    assert [e["status"] for e in logins] == [0]


def test_mssql_python_refuses_an_untrusted_certificate(world):
    mssql_python = pytest.importorskip("mssql_python")
    backend, handle = world
    with pytest.raises(mssql_python.Error, match="(?i)certificate"):
        _mssql_python_connect(mssql_python, handle.ports["vm-ready"])
