"""sql_login backend: plans, idempotency, check mode, refusals before any statement."""
import pytest

from _sqlfake import session
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_login as sql_logins
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, PrerequisiteError

OID = "11111111-2222-3333-4444-555555555555"


def params(**kw):
    base = dict(name="ops@contoso.com", state="present", login_type="entra", object_id=None, sql_login_password=None,
                update_password="on_create", enabled=None, server_roles=None, server_roles_exclusive=False,
                databases=None)
    base.update(kw)
    return base


def login_rows(kind="E", disabled=False, roles=()):
    return [
        (r"FROM sys.server_principals WHERE name = \?", [dict(name="ops@contoso.com", type=kind, is_disabled=disabled,
                                                              sid=b"\x11" * 16)]),
        (r"FROM sys.server_role_members", [dict(name=r) for r in roles] or None),
    ]


def test_new_entra_login_with_object_id_and_sysadmin():
    s, conn = session([(r"sys.server_principals WHERE name", [])])
    result = sql_logins.ensure(s, params(object_id=OID, server_roles=["sysadmin"]), check_mode=False)
    assert result.changed
    assert conn.writes() == [
        "CREATE LOGIN [ops@contoso.com] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'%s'" % OID,
        "ALTER SERVER ROLE [sysadmin] ADD MEMBER [ops@contoso.com]",
        "DBCC FLUSHAUTHCACHE",
        "DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS",
    ]
    assert result.after["server_roles"] == ["sysadmin"] and result.before == {}


def test_check_mode_predicts_and_writes_nothing():
    s, conn = session([(r"sys.server_principals WHERE name", [])], check_mode=True)
    result = sql_logins.ensure(s, params(server_roles=["sysadmin"]), check_mode=True)
    assert result.changed and conn.writes() == []
    assert result.values["statements"][0].startswith("CREATE LOGIN")


def test_second_run_changes_nothing():
    s, conn = session(login_rows(roles=["sysadmin"]))
    result = sql_logins.ensure(s, params(server_roles=["sysadmin"]), check_mode=False)
    assert not result.changed and conn.writes() == []


def test_exclusive_roles_drop_others_and_flush():
    s, conn = session(login_rows(roles=["sysadmin", "dbcreator"]))
    result = sql_logins.ensure(s, params(server_roles=["dbcreator"], server_roles_exclusive=True), check_mode=False)
    assert "ALTER SERVER ROLE [sysadmin] DROP MEMBER [ops@contoso.com]" in conn.writes()
    assert conn.writes()[-1].startswith("DBCC FREESYSTEMCACHE")
    assert result.after["server_roles"] == ["dbcreator"]


def test_additive_roles_keep_others():
    s, conn = session(login_rows(roles=["sysadmin"]))
    result = sql_logins.ensure(s, params(server_roles=["dbcreator"]), check_mode=False)
    assert result.after["server_roles"] == ["dbcreator", "sysadmin"]
    assert not any("DROP MEMBER" in w for w in conn.writes())


def test_disable_then_flush_caches():
    s, conn = session(login_rows())
    sql_logins.ensure(s, params(enabled=False), check_mode=False)
    assert conn.writes() == ["ALTER LOGIN [ops@contoso.com] DISABLE", "DBCC FLUSHAUTHCACHE",
                             "DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS"]


def test_disabling_a_group_login_is_refused_before_trying():
    s, conn = session(login_rows(kind="X"))
    with pytest.raises(PrerequisiteError, match="not supported for groups"):
        sql_logins.ensure(s, params(enabled=False), check_mode=False)
    assert conn.writes() == []


def test_database_user_with_roles():
    answers = login_rows() + [
        (r"FROM sys.databases WHERE name", [dict(name="app", state_desc="ONLINE", database_id=5)]),
        (r"FROM sys.database_principals WHERE name", []),
    ]
    s, conn = session(answers)
    sql_logins.ensure(s, params(databases=[dict(name="app", user=None, roles=["db_backupoperator"],
                                                roles_exclusive=False, state="present")]), check_mode=False)
    assert conn.writes() == ["CREATE USER [ops@contoso.com] FROM LOGIN [ops@contoso.com]",
                             "ALTER ROLE [db_backupoperator] ADD MEMBER [ops@contoso.com]"]
    uses = [sql for sql, _params in conn.log if sql.startswith("USE")]
    assert uses[-1] == "USE [master]"


def test_absent_drops_login():
    s, conn = session(login_rows())
    assert sql_logins.ensure(s, params(state="absent"), check_mode=False).changed
    assert conn.writes() == ["DROP LOGIN [ops@contoso.com]"]
    s, conn = session([(r"sys.server_principals WHERE name", [])])
    assert not sql_logins.ensure(s, params(state="absent"), check_mode=False).changed


def test_sql_login_password_never_shown():
    s, conn = session([(r"sys.server_principals WHERE name", [])])
    result = sql_logins.ensure(s, params(name="svc", login_type="sql", sql_login_password="S3cret!'x"), check_mode=False)
    assert "S3cret" not in repr(result)
    assert conn.writes()[0] == "CREATE LOGIN [svc] WITH PASSWORD = N'S3cret!''x'"


@pytest.mark.parametrize("kw,match", [
    (dict(name="a" * 129), "128"),
    (dict(name=""), "empty"),
    (dict(object_id="not-a-guid"), "GUID"),
    (dict(object_id="11111111-2222-3333-4444-55555555555G"), "GUID"),
    (dict(sql_login_password="x"), "SQL logins only"),
    (dict(login_type="sql"), "needs sql_login_password"),
    (dict(login_type="sql", sql_login_password="p", object_id=OID), "Entra logins only"),
    (dict(server_roles=["public"]), "public"),
    (dict(name="CONTOSO\\ops"), "Windows"),
    (dict(name=" ops"), "blanks"),
    (dict(name="ops "), "blanks"),
    (dict(name="ops\r\nDROP"), "control character"),
    (dict(object_id=OID + "\n"), "GUID"),
    (dict(login_type="sql", sql_login_password=""), "sql_login_password is empty"),
    (dict(login_type="sql", sql_login_password="  \t"), "sql_login_password is empty"),
    (dict(server_roles=["sysadmin\n"]), "control character"),
    (dict(databases=[dict(name="app ", user=None, roles=None, roles_exclusive=False, state="present")]), "blanks"),
    (dict(databases=[dict(name="x]" * 70, user=None, roles=None, roles_exclusive=False, state="present")]), "128"),
])
def test_bad_input_fails_before_any_statement(kw, match):
    s, conn = session([])
    with pytest.raises(InvalidInputError, match=match):
        sql_logins.ensure(s, params(**kw), check_mode=False)
    assert conn.log == []


def test_omitted_enabled_leaves_a_disabled_login_alone():
    s, conn = session(login_rows(disabled=True))
    result = sql_logins.ensure(s, params(), check_mode=False)
    assert not result.changed and conn.writes() == []
    s, conn = session(login_rows(disabled=True))
    assert sql_logins.ensure(s, params(enabled=True), check_mode=False).changed
    assert conn.writes()[0] == "ALTER LOGIN [ops@contoso.com] ENABLE"


def test_new_group_login_created_disabled_is_refused_before_any_statement_when_entra_id_says_group():
    s, conn = session([(r"sys.server_principals WHERE name", [])])
    asked = []
    with pytest.raises(PrerequisiteError, match="nothing was created"):
        sql_logins.ensure(s, params(name="SQL DBAs", enabled=False), check_mode=False,
                          principal_kind=lambda name, oid: asked.append((name, oid)) or "group")
    assert asked == [("SQL DBAs", None)] and conn.writes() == []


def test_entra_id_is_asked_only_for_a_new_entra_login_created_disabled():
    def never(name, oid):
        raise AssertionError("Entra ID asked for %s" % name)
    sql_disabled = dict(login_type="sql", sql_login_password="Pw-12345678!", enabled=False)
    for extra in (dict(enabled=True), dict(enabled=None), sql_disabled):
        s, _conn = session([(r"sys.server_principals WHERE name", [])])
        sql_logins.ensure(s, params(**extra), check_mode=True, principal_kind=never)
    s, _conn = session(login_rows(kind="E"))
    sql_logins.ensure(s, params(enabled=False), check_mode=True, principal_kind=never)   # exists: its type is known


def test_unknown_kind_the_disable_is_not_sent_when_sql_server_created_a_group_login():
    created = []

    def login(_sql, _params):
        return [dict(name="SQL DBAs", type="X", is_disabled=False, sid=b"\x22" * 16)] if created else []

    def create(_sql, _params):
        created.append(True)
        return None
    s, conn = session([(r"FROM sys.server_principals WHERE name = \?", login), (r"^CREATE LOGIN", create)])
    with pytest.raises(PrerequisiteError, match="DISABLE was not sent"):
        sql_logins.ensure(s, params(name="SQL DBAs", enabled=False), check_mode=False, principal_kind=lambda n, o: None)
    assert conn.writes() == ["CREATE LOGIN [SQL DBAs] FROM EXTERNAL PROVIDER"]


def test_unknown_kind_a_user_login_is_created_disabled():
    created = []

    def login(_sql, _params):
        return [dict(name="ops@contoso.com", type="E", is_disabled=False, sid=b"\x11" * 16)] if created else []
    s, conn = session([(r"FROM sys.server_principals WHERE name = \?", login),
                       (r"^CREATE LOGIN", lambda _sql, _params: created.append(True))])
    result = sql_logins.ensure(s, params(enabled=False), check_mode=False)
    assert "ALTER LOGIN [ops@contoso.com] DISABLE" in conn.writes() and result.after["enabled"] is False


def _sql_login(compare):
    return [(r"FROM sys.server_principals WHERE name = \?", [dict(name="svc", type="S", is_disabled=False, sid=b"\x01")]),
            (r"PWDCOMPARE", compare)]


@pytest.mark.parametrize("compare, changed, warned", [
    ([dict(x=1)], False, False),          # same password: no change
    ([dict(x=0)], True, False),           # differs: set it
    ([dict(x=None)], True, True),         # hash hidden (not CONTROL SERVER): cannot compare -> set it, warn
])
def test_update_password_always(compare, changed, warned):
    s, conn = session(_sql_login(compare))
    result = sql_logins.ensure(s, params(name="svc", login_type="sql", sql_login_password="Pw-1234!", update_password="always"),
                               check_mode=False)
    assert result.changed is changed and bool(result.warnings) is warned
    assert any(w.startswith("ALTER LOGIN [svc] WITH PASSWORD") for w in conn.writes()) is changed
    assert all("Pw-1234!" not in w for w in result.warnings)


def test_update_password_always_where_pwdcompare_does_not_exist():
    s, _conn = session(_sql_login(None), failures=[(r"PWDCOMPARE", (195, "'PWDCOMPARE' is not a recognized function."))])
    result = sql_logins.ensure(s, params(name="svc", login_type="sql", sql_login_password="Pw-1234!", update_password="always"),
                               check_mode=True)
    assert result.changed and "could not compare" in result.warnings[0]


class _Settings:
    def __init__(self, service_principal=False):
        self.service_principal = service_principal

    def has_service_principal(self):
        return self.service_principal

    def has_workload_identity(self):
        return False


def test_entra_id_unreachable_becomes_a_warning_in_the_result_and_sql_server_decides():
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import SqlvmBackupError

    def graph():
        raise SqlvmBackupError("Microsoft Graph answered 403")
    lookup = sql_logins.entra_group_lookup(dict(sql_auth="entra"), _Settings, graph)
    s, conn = session([(r"sys.server_principals WHERE name", [])])
    result = sql_logins.ensure(s, params(enabled=False), check_mode=True, principal_kind=lookup)
    assert result.changed and conn.writes() == []
    assert len(result.warnings) == 1 and "Could not ask Microsoft Entra ID whether ops@contoso.com is a group" in \
        result.warnings[0] and "403" in result.warnings[0]


def test_entra_id_is_not_asked_without_azure_credentials_for_a_sql_authenticated_task(monkeypatch):
    def graph():
        raise AssertionError("Graph asked")
    assert sql_logins.entra_group_lookup(dict(sql_auth="sql"), lambda: _Settings(False), graph)("SQL DBAs", None) is None
    asked = []
    monkeypatch.setattr(sql_logins, "entra_principal_kind", lambda client, name, oid: asked.append((client, name)) or "group")
    ask = sql_logins.entra_group_lookup(dict(sql_auth="sql"), lambda: _Settings(True), lambda: "graph-client")
    assert ask("SQL DBAs", None) == "group" and asked == [("graph-client", "SQL DBAs")]
