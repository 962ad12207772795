"""pymssql and mssql-python as independent clients of the world's SQL Server: TLS verified against the world's
CA (and refused against another), a query, a failing statement and a statement the world does not model. pymssql
runs its own session SET batch at every connect (see test_sql_answers.py), so connecting at all proves it is
answered. Each client runs in a child process under a deadline: pymssql has no timeout for its connect-time
batch, so a batch the world leaves unanswered would otherwise block the test instead of failing it."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlserver import errors as E  # noqa: E402
from sqlserver.fixtures import sql_world, world  # noqa: E402,F401 pylint: disable=unused-import
from sqlserver.testing import SA_PASSWORD  # noqa: E402

DEADLINE = 30   # seconds for one client process (imports, TLS, login, a few statements)

_COMMON = r'''
import json, sys
port, password = int(sys.argv[1]), sys.argv[2]
out = {}


def failure(cur, sql):
    try:
        cur.execute(sql)
    except Exception as exc:  # the client's own exception classes
        number = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = " ".join(a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in exc.args)
        return {"type": type(exc).__name__, "number": number, "text": text}
    return None
'''

PYMSSQL = _COMMON + r'''
import pymssql
try:
    conn = pymssql.connect(server="127.0.0.1", port=port, user="sa", password=password, database="master",
                           tds_version="7.4", login_timeout=10, timeout=10)
except pymssql.Error as exc:
    print(json.dumps({"connect_error": type(exc).__name__}))
    sys.exit(0)
cur = conn.cursor()
cur.execute("SELECT name, database_id FROM sys.databases WHERE name = %s", ("appdb",))
out["appdb"] = [list(r) for r in cur.fetchall()]
cur.execute("SELECT @@SERVERNAME, SUSER_NAME()")
out["whoami"] = list(cur.fetchone())
out["missing"] = failure(cur, "SELECT * FROM sys.nonexistent_view")
out["not_modelled"] = failure(cur, "PRINT 'hi'")
cur.execute("SELECT 11")
out["after"] = cur.fetchone()[0]
conn.close()
print(json.dumps(out))
'''

MSSQL_PYTHON = _COMMON + r'''
import mssql_python
try:
    conn = mssql_python.connect(f"Server=127.0.0.1,{port};Database=master;UID=sa;PWD={{{password}}};"
                                "Encrypt=yes;TrustServerCertificate=no;HostNameInCertificate=localhost", timeout=10)
except mssql_python.Error as exc:
    print(json.dumps({"connect_error": type(exc).__name__, "text": str(exc)}))
    sys.exit(0)
conn.timeout = 10   # query timeout
cur = conn.cursor()
cur.execute("SELECT name, database_id FROM sys.databases WHERE name = ?", ("appdb",))
out["appdb"] = [list(r) for r in cur.fetchall()]
cur.execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), SUSER_NAME()")
out["whoami"] = list(cur.fetchone())
out["missing"] = failure(cur, "SELECT * FROM sys.nonexistent_view")
out["not_modelled"] = failure(cur, "DECLARE @x int")
cur.execute("SET NOCOUNT ON; SELECT 12")
out["after"] = cur.fetchone()[0]
conn.close()
print(json.dumps(out))
'''


def run_client(module, program, port, **env):
    pytest.importorskip(module)
    try:
        proc = subprocess.run([sys.executable, "-c", program, str(port), SA_PASSWORD], capture_output=True, text=True,
                              timeout=DEADLINE, env=dict(os.environ, **env), check=False)
    except subprocess.TimeoutExpired:
        proc = None
    if proc is None:
        pytest.fail(f"{module} got no answer within {DEADLINE} s", pytrace=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _freetds_conf(tmp_path, ca_file):
    """pymssql's bundled FreeTDS reads `encryption` and `ca file` from the freetds.conf FREETDSCONF names."""
    conf = tmp_path / "freetds.conf"
    conf.write_text(f"[global]\n\tencryption = require\n\tca file = {ca_file}\n")
    return str(conf)


def test_pymssql_over_tls_query_error_and_not_modelled(world, tmp_path):
    backend, handle = world
    out = run_client("pymssql", PYMSSQL, handle.ports["vm-ready"], FREETDSCONF=_freetds_conf(tmp_path, handle.ca_file))
    assert out["appdb"] == [["appdb", 6]] and out["whoami"] == ["VM-READY", "sa"]
    assert out["missing"]["type"] == "ProgrammingError" and out["missing"]["number"] == 208
    assert out["not_modelled"]["number"] == E.NOT_MODELLED and "does not model" in out["not_modelled"]["text"]
    assert out["after"] == 11
    # what pymssql sent at connect: its SET batch (every statement answered) and BEGIN TRAN (autocommit off)
    sent = [(e["method"], e["status"]) for e in backend.requests if e["service"] == "tds"]
    assert ("SET", 0) in sent and ("BEGIN TRANSACTION", 0) in sent
    assert all(status == 0 for method, status in sent if method == "SET")


def test_pymssql_refuses_a_certificate_from_another_ca(world, tmp_path):
    from sqlserver.certs import make_test_ca_and_cert
    backend, handle = world
    other_ca = make_test_ca_and_cert(str(tmp_path))[0]
    out = run_client("pymssql", PYMSSQL, handle.ports["vm-ready"], FREETDSCONF=_freetds_conf(tmp_path, other_ca))
    assert out == {"connect_error": "OperationalError"}
    assert not [e for e in backend.requests if e["method"] == "LOGIN"]  # TLS failed before LOGIN7


def test_mssql_python_over_tls_query_error_and_not_modelled(world):
    backend, handle = world
    # its bundled Microsoft ODBC driver verifies with OpenSSL's default store, which SSL_CERT_FILE replaces
    out = run_client("mssql_python", MSSQL_PYTHON, handle.ports["vm-ready"], SSL_CERT_FILE=handle.ca_file)
    assert "connect_error" not in out, out
    assert out["appdb"] == [["appdb", 6]] and out["whoami"] == ["16.0.4175.1", "sa"]
    assert out["missing"]["type"] == "ProgrammingError" and "Invalid object name 'sys.nonexistent_view'" \
        in out["missing"]["text"]
    assert "does not model" in out["not_modelled"]["text"]
    assert out["after"] == 12
    assert [e["status"] for e in backend.requests if e["method"] == "LOGIN"] == [0]


def test_mssql_python_refuses_an_untrusted_certificate(world, tmp_path):
    _backend, handle = world
    from sqlserver.certs import make_test_ca_and_cert
    other_ca = make_test_ca_and_cert(str(tmp_path))[0]
    out = run_client("mssql_python", MSSQL_PYTHON, handle.ports["vm-ready"], SSL_CERT_FILE=other_ca)
    assert out.get("connect_error") and "certificate" in out["text"].lower(), out
