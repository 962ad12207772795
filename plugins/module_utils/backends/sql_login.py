# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backend of sql_login: server logins (Entra or SQL), server roles, database users and roles.

Contract (common/result.py): ``validate(params)`` before any login, then ``ensure(session, params,
check_mode) -> Result`` - the login as asked, with before/after from the DifferenceTracker and the
statements sent (or, in check mode, that would be sent).

Entra logins: ``CREATE LOGIN [name] FROM EXTERNAL PROVIDER [WITH OBJECT_ID = '...']`` (Microsoft Learn
"CREATE LOGIN (Transact-SQL)", "Microsoft Entra logins for SQL Server"). Enabling / disabling and role
changes take effect for open sessions only after ``DBCC FLUSHAUTHCACHE`` and
``DBCC FREESYSTEMCACHE('TokenAndPermUserStore')`` ("Microsoft Entra logins for SQL Server"), so both run
after any such change. ``ALTER LOGIN ... DISABLE`` is not supported for Entra groups (same document,
limitations): it is refused before it is tried.
"""
from __future__ import annotations

import uuid

from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    InvalidInputError, PrerequisiteError, SqlServerError, SqlvmBackupError)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import tsql

# sys.server_principals.type
TYPE_NAMES = {"S": "sql", "E": "entra", "X": "entra_group", "U": "windows", "G": "windows_group"}


def argument_spec():
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        login_type=dict(type="str", default="entra", choices=["entra", "sql"]),
        object_id=dict(type="str"),
        sql_login_password=dict(type="str", no_log=True),
        update_password=dict(type="str", default="on_create", choices=["on_create", "always"], no_log=False),
        enabled=dict(type="bool"),
        server_roles=dict(type="list", elements="str"),
        server_roles_exclusive=dict(type="bool", default=False),
        databases=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            user=dict(type="str"),
            roles=dict(type="list", elements="str"),
            roles_exclusive=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        )),
    )


def validate(params):
    """Every check that needs no SQL Server, before any statement is sent."""
    name = params["name"]
    tsql.check_name(name, "name")
    kind = params.get("login_type") or "entra"
    if params.get("object_id") is not None:
        if kind != "entra":
            raise InvalidInputError("object_id applies to Entra logins only (login_type: entra).")
        tsql.check_guid(params["object_id"])
    if kind == "entra" and params.get("sql_login_password") is not None:
        raise InvalidInputError("sql_login_password applies to SQL logins only; Entra logins authenticate with Microsoft Entra ID. "
                                "Set login_type: sql for a SQL login.")
    if kind == "sql" and params.get("state") == "present" and params.get("sql_login_password") is None:
        raise InvalidInputError("login_type: sql needs sql_login_password (SQL logins need one at creation).")
    password = params.get("sql_login_password")
    if password is not None and not password.strip():
        raise InvalidInputError("sql_login_password is empty or only blanks; give the SQL login a real password "
                                "(from a vault), or use an Entra login (login_type: entra).")
    if kind == "entra" and "\\" in name:
        raise InvalidInputError("name %r looks like a Windows login (DOMAIN\\user); this module manages Entra and SQL "
                                "logins." % name)
    for role in params.get("server_roles") or ():
        tsql.check_name(role, "server_roles entry")
        if role.lower() == "public":
            raise InvalidInputError("every login is a member of public; leave it out of server_roles.")
    for db in params.get("databases") or ():
        tsql.check_name(db["name"], "database name")
        tsql.check_name(db.get("user") or name, "user name")
        for role in db.get("roles") or ():
            tsql.check_name(role, "database role")
            if role.lower() == "public":
                raise InvalidInputError("every user is a member of public; leave it out of roles.")


def sid_to_guid(sid):
    """Entra SIDs are the 16 bytes of the object (or app) id, as uniqueidentifier stores them."""
    if isinstance(sid, (bytes, bytearray)) and len(sid) >= 16:
        try:
            return str(uuid.UUID(bytes_le=bytes(sid[:16])))
        except ValueError:  # pragma: no cover
            return None
    return None


def read_login(session, name):
    # One round trip: the login and its server roles.
    return _login_state(session.query_all(tsql.batch(tsql.login_by_name(name), tsql.login_server_roles(name))))


def _missing(wanted, existing_rows):
    """Names in `wanted` that no row names. Role names compare as the server's default collation does
    (case-insensitive), which is how ALTER ROLE resolves them."""
    existing = {(row.get("name") or "").lower() for row in existing_rows}
    return [name for name in wanted if name.lower() not in existing]


def _check_roles_exist(wanted, rows, what, where):
    missing = _missing(wanted, rows)
    if missing:
        raise InvalidInputError(
            "%s %s %s not exist %s; nothing was changed. Give existing roles (%s) or create the role first."
            % (what, ", ".join(repr(m) for m in missing), "does" if len(missing) == 1 else "do", where,
               ", ".join(sorted(row["name"] for row in rows)) or "none"))


def _login_state(sets):
    rows = sets[0] if sets else []
    if not rows:
        return None
    row = rows[0]
    kind = TYPE_NAMES.get((row.get("type") or "").strip(), row.get("type"))
    state = dict(name=row["name"], type=kind, enabled=not bool(row.get("is_disabled")),
                 server_roles=sorted(r["name"] for r in (sets[1] if len(sets) > 1 else [])))
    if kind in ("entra", "entra_group"):
        state["sid_guid"] = sid_to_guid(row.get("sid"))
    return state


def _read_database(session, db, login_name):
    """(database state, user state or None). Leaves the connection in that database."""
    rows = session.query(tsql.database_state(db["name"]))
    if not rows:
        raise InvalidInputError("database %r does not exist on this instance." % db["name"])
    if rows[0].get("state_desc") != "ONLINE":
        raise PrerequisiteError("database %r is %s; users can be managed only in ONLINE databases."
                                % (db["name"], rows[0].get("state_desc")))
    session.query(tsql.use_database(db["name"]))
    if db.get("roles") and db.get("state", "present") == "present":
        _check_roles_exist(db["roles"], session.query(tsql.database_roles()), "database role",
                           "in database %r" % db["name"])
    user_name = db.get("user") or login_name
    rows = session.query(tsql.database_user_by_name(user_name))
    if not rows:
        return None
    return dict(name=rows[0]["name"], roles=sorted(r["name"] for r in session.query(tsql.database_user_roles(user_name))))


GROUP_DISABLE_FIX = ("Remove the group's login (state: absent) or disable the individual members instead.")


def _refuse_group_disable(name, how):
    raise PrerequisiteError("login %r is a Microsoft Entra group (%s); ALTER LOGIN ... DISABLE is not supported for "
                            "groups (Microsoft Entra server principals, limitations). %s" % (name, how, GROUP_DISABLE_FIX))


def plan_login(params, current, principal_kind=None):
    """(statements, after, cache_flush_needed) to get from current (dict or None) to params.

    ``principal_kind`` is what Microsoft Entra ID says the name / object_id is ('group', 'user',
    'servicePrincipal', or None when unknown); it matters only for a login that does not exist yet.
    """
    name = params["name"]
    statements = []
    flush = False
    if params["state"] == "absent":
        return ([tsql.drop_login(name)] if current else []), None, False

    wanted_kind = params.get("login_type") or "entra"
    if current is None and wanted_kind == "entra" and params.get("enabled") is False and principal_kind == "group":
        _refuse_group_disable(name, "per Microsoft Entra ID; nothing was created")
    if current is None:
        if wanted_kind == "entra":
            statements.append(tsql.create_entra_login(name, params.get("object_id")))
        else:
            statements.append(tsql.create_sql_login(name, params["sql_login_password"]))
        after = dict(name=name, type=wanted_kind, enabled=True, server_roles=[])
        have_roles = set()
    else:
        kind = current["type"]
        if wanted_kind == "entra" and kind not in ("entra", "entra_group"):
            raise PrerequisiteError("login %r exists as a %s login, not an Entra login; drop it first or choose another "
                                    "name." % (name, kind))
        if wanted_kind == "sql" and kind != "sql":
            raise PrerequisiteError("login %r exists as a %s login, not a SQL login." % (name, kind))
        oid = params.get("object_id")
        if oid and current.get("sid_guid") and current["sid_guid"] != oid.lower() and current["type"] == "entra_group":
            raise PrerequisiteError("login %r exists for Entra object %s, not %s; drop it first to re-create it."
                                    % (name, current["sid_guid"], oid))
        after = dict(current)
        after["server_roles"] = list(current["server_roles"])
        have_roles = set(current["server_roles"])

    if params.get("enabled") is False and after.get("type") == "entra_group":
        _refuse_group_disable(name, "its login exists with type X")
    if params.get("enabled") is not None and after.get("enabled") != params["enabled"]:
        statements.append(tsql.alter_login_enabled(name, params["enabled"]))
        after["enabled"] = params["enabled"]
        flush = True

    wanted = params.get("server_roles")
    if wanted is not None:
        wanted_set = set(wanted)
        lowered = {r.lower(): r for r in have_roles}
        for role in sorted(wanted_set):
            if role.lower() not in lowered:
                statements.append(tsql.add_server_role_member(role, name))
                flush = True
        if params.get("server_roles_exclusive"):
            wanted_lower = {r.lower() for r in wanted_set}
            for role in sorted(have_roles):
                if role.lower() not in wanted_lower:
                    statements.append(tsql.drop_server_role_member(role, name))
                    flush = True
            after["server_roles"] = sorted(wanted_set)
        else:
            after["server_roles"] = sorted(have_roles | {r for r in wanted_set if r.lower() not in lowered})
    return statements, after, flush


def plan_user(db, login_name, current_user):
    user = db.get("user") or login_name
    if db.get("state") == "absent":
        return ([tsql.drop_user(user)] if current_user else []), None
    statements = []
    if current_user is None:
        statements.append(tsql.create_user_from_login(user, login_name))
        have = set()
    else:
        have = set(current_user["roles"])
    wanted = db.get("roles")
    after_roles = set(have)
    if wanted is not None:
        have_lower = {r.lower() for r in have}
        for role in sorted(set(wanted)):
            if role.lower() not in have_lower:
                statements.append(tsql.add_database_role_member(role, user))
                after_roles.add(role)
        if db.get("roles_exclusive"):
            wanted_lower = {r.lower() for r in wanted}
            for role in sorted(have):
                if role.lower() not in wanted_lower:
                    statements.append(tsql.drop_database_role_member(role, user))
                    after_roles.discard(role)
    return statements, dict(name=user, roles=sorted(after_roles))


def _check_password(session, params, current):
    """'differs', 'same' or 'unknown' for a SQL login with update_password: always (None otherwise).

    PWDCOMPARE(clear, password_hash) needs the hash, which sys.sql_logins shows only to CONTROL SERVER
    (sysadmin); for other logins it is NULL and PWDCOMPARE answers NULL. Some servers have no sys.sql_logins or
    PWDCOMPARE at all (Msg 208 / 195 / 4121). Then the password cannot be compared: 'unknown'.
    """
    if current is None or params.get("login_type") != "sql" or params.get("update_password") != "always":
        return None
    try:
        rows = session.query(tsql.sql_login_password_matches(params["name"], params["sql_login_password"]))
    except SqlServerError as exc:
        if exc.number in (208, 195, 4121):
            return "unknown"
        raise
    value = list(rows[0].values())[0] if rows else None
    if value is None:
        return "unknown"
    return "same" if value == 1 else "differs"


def needs_principal_kind(params, current):
    """Whether plan_login needs Entra ID's word on the principal's kind: a new Entra login created disabled.

    Only Entra ID knows whether a name is a group before the login exists (SQL Server resolves it at CREATE
    LOGIN). An existing login's type (E / X) is read from sys.server_principals.
    """
    return (current is None and params.get("state", "present") == "present" and params.get("enabled") is False
            and (params.get("login_type") or "entra") == "entra")


def ensure(session, params, check_mode, principal_kind=None):
    """Result: changed, before/after (the login, its server roles and database users), warnings, and the values
    ``login`` (the state after) and ``statements``.

    ``principal_kind(name, object_id)`` -> 'group' | 'user' | 'servicePrincipal' | None asks Microsoft Entra ID;
    it is called only when needs_principal_kind() (a new Entra login created disabled). If it fails, SQL Server
    tells after CREATE LOGIN instead (a warning says so).
    """
    validate(params)
    name = params["name"]
    # Everything that can be checked is read before the first write (one round trip for the login): a role that
    # does not exist must not fail the task after CREATE LOGIN ran.
    reads = [tsql.login_by_name(name), tsql.login_server_roles(name)]
    check_server_roles = params["state"] == "present" and bool(params.get("server_roles"))
    if check_server_roles:
        reads.append(tsql.server_roles())
    sets = session.query_all(tsql.batch(*reads))
    current = _login_state(sets)
    if check_server_roles:
        _check_roles_exist(params["server_roles"], sets[2] if len(sets) > 2 else [], "server role", "on this instance")
    kind = None
    warnings = []
    if principal_kind is not None and needs_principal_kind(params, current):
        try:
            kind = principal_kind(name, params.get("object_id"))
        except PrincipalKindUnknown as unknown:
            warnings.append("Could not ask Microsoft Entra ID whether %s is a group (%s); SQL Server will tell after "
                            "CREATE LOGIN." % (name, unknown))
    statements, after, flush = plan_login(params, current, kind)
    password_changed = False
    comparison = _check_password(session, params, current) if params["state"] == "present" else None
    if comparison in ("differs", "unknown"):
        statements.append(tsql.alter_login_password(name, params["sql_login_password"]))
        password_changed = True
    if comparison == "unknown":
        warnings.append("update_password: always could not compare the password of %s (PWDCOMPARE needs the password "
                        "hash, which only CONTROL SERVER / sysadmin can read): the password is set on every run, so this "
                        "task always reports changed. Connect as sysadmin, or use update_password: on_create." % name)

    db_plans = []
    before_dbs, after_dbs = {}, {}
    for db in params.get("databases") or ():
        if params["state"] == "absent" and current is None:
            break
        current_user = _read_database(session, db, name)
        db_statements, user_after = plan_user(db, name, current_user)
        before_dbs[db["name"]] = current_user
        after_dbs[db["name"]] = user_after
        if db_statements:
            db_plans.append((db["name"], db_statements))
    if params.get("databases"):
        session.query(tsql.use_database("master"))

    if params["state"] == "absent" and current is not None:
        # Users first: a login whose users remain would leave orphans in those databases.
        ordered = list(db_plans) + [(None, statements)]
    else:
        ordered = [(None, statements)] + db_plans
    all_statements = []
    for db_name, stmts in ordered:
        if db_name is not None and stmts:
            all_statements.append(tsql.use_database(db_name))
        all_statements.extend(stmts)
    if db_plans:
        all_statements.append(tsql.use_database("master"))
    changed = any(s.kind == "write" for s in all_statements)
    if flush and changed:
        all_statements.extend(tsql.flush_auth_caches())
    if changed and not check_mode:
        for statement in all_statements:
            if current is None and statement == tsql.alter_login_enabled(name, False) and params.get("login_type") != "sql":
                # Entra ID could not tell up front: SQL Server knows once CREATE LOGIN has resolved the name.
                created = read_login(session, name)
                if created and created["type"] == "entra_group":
                    _refuse_group_disable(name, "SQL Server created it with type X; the login now exists, enabled, "
                                                "and the DISABLE was not sent")
            session.execute(statement)

    before = _public_state(current, before_dbs)
    after_state = _public_state(after, after_dbs) if params["state"] == "present" else {}
    if password_changed:
        after_state["password_changed"] = True
    tracker = DifferenceTracker.of_states(before, after_state)
    # changed is what was (or would be) sent: a password set again shows in after only as password_changed.
    return Result(changed, tracker.before(), tracker.after(), warnings, login=tracker.after(),
                  statements=[tsql.render(s) for s in all_statements if s.kind == "write" or s.sql.startswith("USE ")])


def _public_state(login, dbs):
    if login is None:
        return {}
    state = dict(login)
    if dbs:
        state["databases"] = {k: v for k, v in dbs.items() if v is not None}
    return state


class PrincipalKindUnknown(Exception):
    """Microsoft Entra ID could not be asked (its message): a warning, and SQL Server tells after CREATE LOGIN."""


def entra_group_lookup(params, auth_settings, graph_client):
    """The ``principal_kind`` callback of ensure: asks Microsoft Graph when Azure credentials are configured (Entra
    token login, or a service principal / workload identity in the options or the AWX environment), else answers
    None. ``auth_settings()`` and ``graph_client()`` are called only when a lookup is needed."""
    def lookup(name, object_id):
        settings = auth_settings()
        if params.get("sql_auth") != "entra" and not (settings.has_service_principal() or settings.has_workload_identity()):
            return None
        try:
            return entra_principal_kind(graph_client(), name, object_id)
        except SqlvmBackupError as error:
            raise PrincipalKindUnknown(error.msg) from None
    return lookup


def entra_principal_kind(graph_client, name, object_id=None):
    """'group' when Microsoft Entra ID holds a group with this object id (or, without one, this display name),
    else None. Microsoft Graph v1.0: GET /groups/{id} (group-get), GET /groups?$filter=displayName eq '…'
    (group-list; OData string literals double their quotes). Only whether it is a group matters here."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import graph
    if object_id:
        found = graph.get(graph_client, "groups/%s" % object_id.lower(), params={"$select": "id"}, missing_ok=True,
                          operation="look up the Entra group", resource=object_id)
        return "group" if found else None
    listed = graph.get(graph_client, "groups", params={"$filter": "displayName eq '%s'" % name.replace("'", "''"),
                                                       "$select": "id"},
                       operation="look up the Entra group", resource=name)
    return "group" if (listed or {}).get("value") else None
