"""sql_login through ansible-playbook against the world's SQL Server (TDS, TLS on)."""
import pytest

from _sqlworld import OPS_OID, task


@pytest.mark.parametrize("driver", ["freetds", "msodbc"])
def test_entra_login_four_ways(sqlworld, ansible, driver):
    options = dict(sqlworld.connection(driver=driver), name="ops@contoso.com", object_id=OPS_OID,
                   server_roles=["sysadmin"], databases=[{"name": "app", "roles": ["db_backupoperator"]}])
    play = [task("sql_login", options)]

    first_check = ansible(play, check=True, diff=True)[0]
    assert not first_check.failed, first_check
    assert first_check["changed"] and sqlworld.writes() == []
    assert first_check["diff"]["before"] == {} and first_check["diff"]["after"]["server_roles"] == ["sysadmin"]

    real = ansible(play)[0]
    assert real["changed"] and not real.failed
    assert real["statements"][0] == (
        "CREATE LOGIN [ops@contoso.com] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'%s'" % OPS_OID)
    assert any(w["text"].startswith("DBCC FLUSHAUTHCACHE") for w in sqlworld.writes()), sqlworld.statements()

    sqlworld.clear_log()
    again_check = ansible(play, check=True)[0]
    assert not again_check["changed"]
    again = ansible(play)[0]
    assert not again["changed"] and sqlworld.writes() == []


def test_disable_enable_and_group_refusal(sqlworld, ansible):
    conn = sqlworld.connection()
    result = ansible([
        task("sql_login", dict(conn, name="ops@contoso.com")),
        task("sql_login", dict(conn, name="ops@contoso.com", enabled=False)),
        task("sql_login", dict(conn, name="SQL Backup Operators", enabled=False)),
    ])
    assert result[1]["changed"] and result[1]["login"]["enabled"] is False
    assert result[2].failed and "not supported for groups" in result[2]["msg"]
    assert not [w for w in sqlworld.writes() if "SQL Backup Operators" in w["text"]]


def test_unknown_entra_principal_is_explained(sqlworld, ansible):
    result = ansible([task("sql_login", dict(sqlworld.connection(), name="nobody@contoso.com"))])[0]
    assert result.failed and "SQL Server error" in result["msg"] and "Fix:" in result["msg"]
