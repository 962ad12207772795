"""The SQL side inside the running world (simctl): Entra tokens from the world's login endpoint,
directory-gated CREATE LOGIN, TDS faults through the admin API, TDS entries in the request log."""
import importlib.util
import os
import sys
import time
import uuid

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
pytestmark = pytest.mark.skipif(importlib.util.find_spec("sqlserver") is None, reason="SQL side not merged")
pyodbc = pytest.importorskip("pyodbc")
SA = "Sim-Passw0rd!"


def _host(sim, vm):
    return yaml.safe_load(open(sim.env["SIM_INVENTORY"]))["all"]["children"]["sql_vms"]["hosts"][vm]


def _sa(sim, vm, driver="msodbc18"):
    from sqlserver.testing import connect
    return connect(driver, _host(sim, vm)["sql_port"], "sa", SA)


def test_entra_token_from_the_world_logs_in_as_the_application(sim):
    from simclients import credential
    from sqlserver.testing import connect
    cur = _sa(sim, "sqlvm-ready").cursor()
    cur.execute("CREATE LOGIN [sqlvm-automation] FROM EXTERNAL PROVIDER")
    cur.execute("ALTER SERVER ROLE sysadmin ADD MEMBER [sqlvm-automation]")
    sid = cur.execute("SELECT sid FROM sys.server_principals WHERE name = 'sqlvm-automation'").fetchone()[0]
    assert sid == uuid.UUID(sim.env["AZURE_CLIENT_ID"]).bytes_le     # application logins: SID from the app id
    token = credential(sim).get_token("https://database.windows.net/.default").token
    conn = connect("msodbc18", _host(sim, "sqlvm-ready")["sql_port"], token=token, encrypt="yes")
    row = conn.cursor().execute("SELECT SUSER_SNAME(), IS_SRVROLEMEMBER('sysadmin')").fetchone()
    assert tuple(row) == ("sqlvm-automation", 1)


def test_strict_tls_against_the_world_ca(sim):
    from sqlserver.testing import connect
    # conftest exports SSL_CERT_FILE = the world's CA bundle; the Microsoft driver trusts it through OpenSSL
    conn = connect("msodbc18", _host(sim, "sqlvm-uami")["sql_port"], "sa", SA, encrypt="yes",
                   ca_file=sim.env["SSL_CERT_FILE"])
    assert conn.cursor().execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))").fetchone()[0] \
        == "16.0.4215.2"


def test_create_login_from_external_provider_is_gated_on_the_primary_identity(sim):
    with pytest.raises(pyodbc.Error, match=r"Server identity is not configured.*\(33134\)"):
        _sa(sim, "sqlvm-fresh").cursor().execute("CREATE LOGIN [sqlvm-automation] FROM EXTERNAL PROVIDER")
    with pytest.raises(pyodbc.Error, match=r"Directory Reader.*\(33134\)"):
        _sa(sim, "sqlvm-nodir").cursor().execute("CREATE LOGIN [sqlvm-automation] FROM EXTERNAL PROVIDER")


def test_catalog_reflects_the_vm(sim):
    cur = _sa(sim, "sqlvm-linux", "freetds").cursor()
    assert cur.execute("SELECT host_platform FROM sys.dm_os_host_info").fetchone()[0] == "Linux"
    cur = _sa(sim, "sqlvm-2025", "freetds").cursor()
    assert cur.execute("SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))").fetchone()[0] == "17.0.4006.2"


def _inject_tds(sim, **spec):
    """POST /faults on the admin API (SimAdmin.inject does not pass the TDS fields yet)."""
    return sim.admin._call("POST", "/faults", dict(spec, service="tds"))


def test_faults_error_delay_drop_through_the_admin_api(sim):
    conn = _sa(sim, "sqlvm-ready")
    cur = conn.cursor()
    memory = "There is insufficient system memory in resource pool 'default' to run this query."
    _inject_tds(sim, vm="sqlvm-ready", pattern="sys\\.credentials", action="error", number=701, state=123,
                message=memory)
    with pytest.raises(pyodbc.Error, match=r"insufficient system memory.*\(701\)"):
        cur.execute("SELECT name FROM sys.credentials")
    assert cur.execute("SELECT COUNT(*) FROM sys.credentials").fetchone()[0] == 0   # the fault was used once
    _inject_tds(sim, vm="sqlvm-ready", pattern="SELECT 42", action="delay", seconds=1.5)
    t0 = time.monotonic()
    assert cur.execute("SELECT 42").fetchone()[0] == 42
    assert time.monotonic() - t0 >= 1.4
    _inject_tds(sim, vm="sqlvm-ready", pattern="SELECT 43", action="drop")
    with pytest.raises(pyodbc.Error):
        cur.execute("SELECT 43").fetchall()
    assert _sa(sim, "sqlvm-ready").cursor().execute("SELECT 44").fetchone()[0] == 44


def test_tds_logins_and_statements_in_the_request_log(sim):
    cur = _sa(sim, "sqlvm-ready", "freetds").cursor()
    sim.admin.clear_log()
    cur.execute("SELECT name FROM sys.server_principals")
    cur.execute("CREATE LOGIN [logged] WITH PASSWORD = 'Logged-Passw0rd!'")
    with pytest.raises(pyodbc.Error):
        _sa(sim, "sqlvm-ready", "freetds").cursor().execute("SELECT 1 +")
    tds = [e for e in sim.admin.requests() if e["service"] == "tds"]
    by = [(e["method"], e["kind"], e["status"]) for e in tds]
    assert ("SELECT", "read", 0) in by
    assert ("CREATE LOGIN", "write", 0) in by
    assert ("LOGIN", "read", 0) in by
    assert ("SELECT", "read", 102) in by
    assert all(e.get("principal") == "sa" for e in tds)


def test_session_set_batch_and_not_modelled_statement_inside_the_world(sim):
    """The world's own log sees what the standalone tests check: a SET batch answered, valid T-SQL outside the
    subset answered with the world-only Msg 50100."""
    from sqlserver import errors as E
    conn = _sa(sim, "sqlvm-ready")
    conn.timeout = 10
    cur = conn.cursor()
    assert cur.execute("SET ARITHABORT ON; SET TEXTSIZE 2147483647; SELECT 1").fetchone()[0] == 1
    with pytest.raises(pyodbc.Error, match=r"does not model.*\(50100\)"):
        cur.execute("PRINT 'hi'")
    entries = [(e["method"], e["status"]) for e in sim.admin.requests(service="tds")]
    assert ("SET", 0) in entries and ("PRINT", E.NOT_MODELLED) in entries
