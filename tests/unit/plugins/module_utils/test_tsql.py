"""tsql: QUOTENAME rules, literals, and no user string ever escapes its quoting."""
import re

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

# Strings an attacker (or an unlucky DBA) might put in a name, URL, path or secret.
HOSTILE = [
    "a]; DROP LOGIN [sa]; --",
    "x' ; SHUTDOWN WITH NOWAIT; --",
    "]]]",
    "''",
    "[already bracketed]",
    "name with spaces and ; semicolons",
    "N'x'",
    "tab\tand\nnewline",
    "é ü 中文",
    "?",
]


@pytest.mark.parametrize("name,quoted", [
    ("db", "[db]"),
    ("my]db", "[my]]db]"),
    ("a]]b", "[a]]]]b]"),
    ("[x]", "[[x]]]"),
    ("it's", "[it's]"),
    ("x" * 128, "[" + "x" * 128 + "]"),
])
def test_quote_name_matches_quotename(name, quoted):
    assert tsql.quote_name(name) == quoted


@pytest.mark.parametrize("bad", ["", "x" * 129, "nul\x00byte", None, 5])
def test_quote_name_refuses_what_quotename_cannot_quote(bad):
    with pytest.raises(InvalidInputError):
        tsql.quote_name(bad)


@pytest.mark.parametrize("value,quoted", [
    ("abc", "N'abc'"),
    ("it's", "N'it''s'"),
    ("''", "N''''''"),
    ("", "N''"),
])
def test_quote_string_doubles_quotes(value, quoted):
    assert tsql.quote_string(value) == quoted


def _unquote_identifier(text):
    """Parse one QUOTENAME'd identifier at the start of text; return (name, rest)."""
    assert text[0] == "["
    i, out = 1, []
    while True:
        ch = text[i]
        if ch == "]":
            if i + 1 < len(text) and text[i + 1] == "]":
                out.append("]")
                i += 2
                continue
            return "".join(out), text[i + 1:]
        out.append(ch)
        i += 1


def _unquote_literal(text):
    assert text.startswith("N'")
    i, out = 2, []
    while True:
        ch = text[i]
        if ch == "'":
            if i + 1 < len(text) and text[i + 1] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text[i + 1:]
        out.append(ch)
        i += 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_identifier_round_trips_and_ends_where_it_should(hostile):
    stmt = tsql.drop_login(hostile)
    assert stmt.sql.startswith("DROP LOGIN ")
    name, rest = _unquote_identifier(stmt.sql[len("DROP LOGIN "):])
    assert name == hostile and rest == ""


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_in_every_ddl_builder(hostile):
    for stmt, prefix, suffix_parts in [
        (tsql.create_entra_login(hostile), "CREATE LOGIN ", [" FROM EXTERNAL PROVIDER"]),
        (tsql.alter_login_enabled(hostile, False), "ALTER LOGIN ", [" DISABLE"]),
        (tsql.create_credential(hostile, tsql.MANAGED_IDENTITY), "CREATE CREDENTIAL ",
         [" WITH IDENTITY = N'Managed Identity'"]),
        (tsql.drop_credential(hostile), "DROP CREDENTIAL ", [""]),
        (tsql.drop_user(hostile), "DROP USER ", [""]),
        (tsql.use_database(hostile), "USE ", [""]),
    ]:
        assert stmt.sql.startswith(prefix)
        name, rest = _unquote_identifier(stmt.sql[len(prefix):])
        assert name == hostile
        assert rest == suffix_parts[0]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_role_and_member(hostile):
    stmt = tsql.add_server_role_member(hostile, hostile)
    role, rest = _unquote_identifier(stmt.sql[len("ALTER SERVER ROLE "):])
    assert role == hostile and rest.startswith(" ADD MEMBER ")
    member, rest = _unquote_identifier(rest[len(" ADD MEMBER "):])
    assert member == hostile and rest == ""
    stmt = tsql.create_user_from_login(hostile, hostile)
    user, rest = _unquote_identifier(stmt.sql[len("CREATE USER "):])
    login, rest = _unquote_identifier(rest[len(" FROM LOGIN "):])
    assert user == login == hostile and rest == ""


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_secrets_stay_inside_their_literal(hostile):
    stmt = tsql.create_credential("https://a.blob.core.windows.net/c", tsql.SHARED_ACCESS_SIGNATURE, hostile)
    tail = stmt.sql.split(", SECRET = ", 1)[1]
    secret, rest = _unquote_literal(tail)
    assert secret == hostile and rest == ""
    assert stmt.secret
    assert hostile not in tsql.render(stmt) or hostile in ("?",)
    login = tsql.create_sql_login("svc", hostile)
    secret, rest = _unquote_literal(login.sql.split(" WITH PASSWORD = ", 1)[1])
    assert secret == hostile and rest == "" and login.secret


@pytest.mark.parametrize("hostile", HOSTILE)
def test_values_of_backup_and_restore_travel_as_parameters(hostile):
    stmt = tsql.backup(hostile, ["https://a/c/" + hostile], description=hostile)
    name, rest = _unquote_identifier(stmt.sql[len("BACKUP DATABASE "):])
    assert name == hostile and rest.startswith(" TO URL = ? WITH ")
    assert stmt.params == ("https://a/c/" + hostile, hostile)
    stmt = tsql.restore(hostile, ["https://a/c/" + hostile], moves=[(hostile, "C:\\d\\" + hostile)],
                        stopat=hostile)
    name, rest = _unquote_identifier(stmt.sql[len("RESTORE DATABASE "):])
    assert name == hostile and rest.startswith(" FROM URL = ? WITH MOVE ? TO ?")
    assert rest.count("?") == len(stmt.params) == 4


def test_entra_login_with_object_id_is_normalised():
    stmt = tsql.create_entra_login("ops", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE")
    assert stmt.sql == "CREATE LOGIN [ops] FROM EXTERNAL PROVIDER WITH OBJECT_ID = N'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'"


@pytest.mark.parametrize("bad", ["", "not-a-guid", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeeeX",
                                 "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeee'", "{aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee}"])
def test_malformed_object_ids_are_refused(bad):
    with pytest.raises(InvalidInputError, match="GUID"):
        tsql.create_entra_login("ops", bad)


def test_backup_statement_shape():
    stmt = tsql.backup("db1", ["https://u/1", "https://u/2"], backup_type="differential", copy_only=True)
    assert stmt.sql == ("BACKUP DATABASE [db1] TO URL = ?, URL = ? WITH DIFFERENTIAL, COPY_ONLY, COMPRESSION, CHECKSUM, "
                        "MAXTRANSFERSIZE = 4194304, BLOCKSIZE = 65536, STATS = 10")
    assert stmt.params == ("https://u/1", "https://u/2")
    assert stmt.kind == "write"
    assert tsql.backup("d", ["u"], backup_type="log", overwrite=True, compression=False).sql.startswith(
        "BACKUP LOG [d] TO URL = ? WITH FORMAT, NO_COMPRESSION")


def test_render_shows_parameters_as_literals():
    stmt = tsql.backup("it's", ["https://u/x.bak"])
    assert tsql.render(stmt).startswith("BACKUP DATABASE [it's] TO URL = N'https://u/x.bak' WITH")


def test_restore_statement_shape():
    stmt = tsql.restore("new", ["u1"], moves=[("d", "/p/d.mdf")], replace=True, recovery=False, stopat="2026-01-01T00:00:00")
    assert stmt.sql == ("RESTORE DATABASE [new] FROM URL = ? WITH MOVE ? TO ?, REPLACE, NORECOVERY, CHECKSUM, "
                        "STOPAT = ?, STATS = 10")
    assert stmt.params == ("u1", "d", "/p/d.mdf", "2026-01-01T00:00:00")


def test_reads_and_writes_are_labelled():
    assert tsql.server_properties().kind == "read"
    assert "CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128))" in tsql.server_properties().sql
    assert tsql.trace_on(4675).kind == "write"
    assert all(s.kind == "write" for s in tsql.flush_auth_caches())
    assert tsql.flush_auth_caches()[1].sql == "DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS"


def test_parameter_markers_match_parameters_in_every_read():
    for stmt in [tsql.login_by_name("x"), tsql.login_server_roles("x"), tsql.credential_by_name("x"),
                 tsql.urls_in_backup_history(["a", "b"]), tsql.last_backup_set("x"),
                 tsql.last_restore("x"), tsql.backup_set_urls(3), tsql.database_files("x"), tsql.restore_filelistonly(["a", "b"])]:
        assert len(re.findall(r"\?", stmt.sql)) == len(stmt.params), stmt


def test_guid_with_a_trailing_newline_is_refused():
    with pytest.raises(InvalidInputError, match="GUID"):
        tsql.check_guid("11111111-2222-3333-4444-555555555555\n")
