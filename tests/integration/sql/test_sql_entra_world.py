"""Entra-token login from a module, end to end, in the full test world (tests/sim started by simctl).

The task runs with `sql_auth: entra` over Microsoft ODBC Driver 18 with TLS validated against the world's
CA. Its token comes from the module's normal credential chain - the AWX-style environment of env.sh
(AZURE_CLIENT_ID / AZURE_SECRET / AZURE_TENANT, cloud from AZURE_CLOUD_ENVIRONMENT) - from the world's
login endpoint, for the cloud's SQL resource (https://database.windows.net/.default). The world's SQL
Server verifies that token and maps it to the Entra login of the automation service principal (a login
FROM EXTERNAL PROVIDER of an application matches its application id).
"""
import yaml

from _sqlworld import FREETDS, MS_DRIVER, task

VM = "sqlvm-ready"
SA_PASSWORD = "Sim-Passw0rd!"          # tests/sim/scenarios/default.yml
AUTOMATION = "sqlvm-automation"        # the automation principal's display name in that scenario


def _host(world):
    with open(world.env["SIM_INVENTORY"]) as handle:
        return yaml.safe_load(handle)["all"]["children"]["sql_vms"]["hosts"][VM]


def _entra(world, **extra):
    options = dict(sql_host=_host(world)["sql_host"], sql_port=_host(world)["sql_port"], sql_auth="entra",
                   odbc_driver=MS_DRIVER, encrypt="yes", host_name_in_certificate="localhost", login_timeout=10)
    options.update(extra)
    return options


def _sa(world, **extra):
    options = dict(sql_host=_host(world)["sql_host"], sql_port=_host(world)["sql_port"], sql_auth="sql",
                   login_user="sa", login_password=SA_PASSWORD, odbc_driver=FREETDS, trust_server_certificate=True,
                   login_timeout=10)
    options.update(extra)
    return options


def _tds(entries):
    return [e for e in entries if e.get("service") == "tds" and e.get("vm") == VM]


def test_entra_token_task_logs_in_as_the_automation_principal(world, ansible, tmp_path):
    client_id = world.env["AZURE_CLIENT_ID"]
    fresh = {"XDG_CACHE_HOME": str(tmp_path / "cache")}   # no token cached by an earlier test

    # No login yet: the world's SQL Server refuses the (valid) token; the module names the principal and the fix.
    refused = ansible([task("sql_info", _entra(world))], env=fresh)[0]
    assert refused.failed and refused["error"]["number"] == 18456, refused
    assert "application (client) id %s" % client_id in refused["msg"]
    assert "sqlvm.backup.sql_login" in refused["msg"] and "Fix:" in refused["msg"]
    log = world.requests()
    assert [e["status"] for e in log if e["service"] == "login" and e["method"] == "POST"] == [200], log
    assert [(e["method"], e["status"]) for e in _tds(log)] == [("LOGIN", 18456)]

    # An existing sysadmin (sa, SQL authentication) creates the automation's Entra login.
    created = ansible([task("sql_login", _sa(world, name=AUTOMATION, server_roles=["sysadmin"]))])[0]
    assert created["changed"] and not created.failed, created
    assert created["statements"][0] == "CREATE LOGIN [%s] FROM EXTERNAL PROVIDER" % AUTOMATION

    world.admin.clear_log()
    info = ansible([task("sql_info", _entra(world))], env=fresh)[0]   # the token: from the disk cache or the world
    assert not info.failed, info
    assert info["instance"]["login_name"] == AUTOMATION                     # SUSER_SNAME() of the token session
    assert AUTOMATION in info["entra_sysadmins"]
    log = world.requests()
    logins = [e for e in _tds(log) if e["method"] == "LOGIN"]
    assert [(e["status"], e["principal"]) for e in logins] == [(0, AUTOMATION)]
    # The token was minted for Azure SQL's resource (scope https://database.windows.net/.default) and
    # mapped to the application: a login FROM EXTERNAL PROVIDER of an application matches its app id.
    assert logins[0]["audience"].rstrip("/") == "https://database.windows.net"
    assert logins[0]["app_id"] == client_id
    assert {e["principal"] for e in _tds(log)} == {AUTOMATION}


def test_entra_token_task_changes_and_then_changes_nothing(world, ansible):
    ansible([task("sql_login", _sa(world, name=AUTOMATION, server_roles=["sysadmin"]))])
    container = _host(world)["container_url"]
    credential = task("sql_credential", _entra(world, name=container))
    dba = task("sql_login", _entra(world, name="dba1@contoso.onmicrosoft.com", server_roles=["sysadmin"]))

    world.admin.clear_log()
    first = ansible([credential, dba])
    assert [t["changed"] for t in first] == [True, True] and not any(t.failed for t in first), first.tasks
    writes = world.writes()
    assert writes and {e["principal"] for e in writes} == {AUTOMATION}, writes
    assert any(e["path"].startswith("CREATE CREDENTIAL") for e in writes)
    assert any(e["path"].startswith("CREATE LOGIN [dba1@contoso.onmicrosoft.com] FROM EXTERNAL PROVIDER")
               for e in writes)

    world.admin.clear_log()
    again = ansible([credential, dba])
    assert [t["changed"] for t in again] == [False, False] and not any(t.failed for t in again), again.tasks
    assert world.writes() == []
    assert {e["principal"] for e in _tds(world.requests())} == {AUTOMATION}

    info = ansible([task("sql_info", _entra(world))])[0]
    assert "dba1@contoso.onmicrosoft.com" in [login["name"] for login in info["entra_logins"]]


def test_entra_with_freetds_is_refused_before_any_request(world, ansible):
    result = ansible([task("sql_info", _entra(world, odbc_driver=FREETDS, host_name_in_certificate=None))])[0]
    assert result.failed and "FreeTDS" in result["msg"] and "ODBC Driver 18" in result["msg"], result
    assert world.requests() == []          # no token request, no metadata, no TDS connection


def test_disabling_a_new_group_login_is_refused_before_anything_is_created(world, ansible):
    # The AWX-style environment holds a service principal: sql_login asks Microsoft Graph whether "SQL DBAs"
    # is a group before creating its login (SQL Server would create it, then refuse the DISABLE with 33129).
    result = ansible([task("sql_login", _sa(world, name="SQL DBAs", enabled=False))])[0]
    assert result.failed and "Microsoft Entra group" in result["msg"] and "nothing was created" in result["msg"], result
    assert world.writes() == []
    assert [e["route"] for e in world.requests() if e["service"] == "graph"] == ["/v1.0/groups"]
    # A user's login is created disabled as asked.
    user = ansible([task("sql_login", _sa(world, name="dba2@contoso.onmicrosoft.com", enabled=False))])[0]
    assert user["changed"] and user["login"]["enabled"] is False, user
