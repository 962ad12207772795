"""Per-instance catalog: logins, server roles, credentials, databases (files, users, roles, tables),
msdb backup history and trace flags — built from the VM's `sql:` subtree (README.md)."""
from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import uuid

from . import hadr
from .tds import (SqlType, T_BIGVARBIN, T_BIGVARCHR, T_BITN, T_DATETIMN, T_DECIMALN, T_FLTN, T_GUID, T_INTN,
                  T_NVARCHAR)

DEFAULT_SA_PASSWORD = "Sim-Passw0rd!"
INT = SqlType("int", T_INTN, 4)
BIGINT = SqlType("bigint", T_INTN, 8)
SMALLINT = SqlType("smallint", T_INTN, 2)
TINYINT = SqlType("tinyint", T_INTN, 1)
BIT = SqlType("bit", T_BITN, 1)
FLOAT = SqlType("float", T_FLTN, 8)
DATETIME = SqlType("datetime", T_DATETIMN, 8)
SYSNAME = SqlType("sysname", T_NVARCHAR, 256)
CHAR1 = SqlType("char(1)", T_BIGVARCHR, 1)
SID = SqlType("varbinary(85)", T_BIGVARBIN, 85)
NUMERIC25 = SqlType("numeric(25,0)", T_DECIMALN, 17, 25, 0)
NUMERIC20 = SqlType("numeric(20,0)", T_DECIMALN, 17, 20, 0)
GUID = SqlType("uniqueidentifier", T_GUID, 16)


def nvarchar(n):
    return SqlType(f"nvarchar({n})", T_NVARCHAR, min(2 * n, 8000))


def varchar(n):
    return SqlType(f"varchar({n})", T_BIGVARCHR, min(n, 8000))


def varbinary(n):
    return SqlType(f"varbinary({n})", T_BIGVARBIN, min(n, 8000))


def guid_sid(guid: str) -> bytes:
    """SID of an Entra principal: the GUID's bytes as SQL Server stores uniqueidentifier (seed 004, FACTS)."""
    return uuid.UUID(guid).bytes_le


def password_hash(password, salt=None) -> bytes:
    """SQL Server 2012+ password hash layout: 0x0200, 4-byte salt, SHA-512(UTF-16LE password + salt)."""
    import os as _os
    salt = salt if salt is not None else _os.urandom(4)
    return b"\x02\x00" + salt + hashlib.sha512(password.encode("utf-16-le") + salt).digest()


def pwdcompare(password, hashed) -> int:
    if password is None or not hashed or len(hashed) < 6:
        return 0
    return int(password_hash(password, bytes(hashed[2:6])) == bytes(hashed))


def sql_login_sid(name: str) -> bytes:
    return hashlib.md5(("sql-login:" + name.lower()).encode()).digest()


SERVER_ROLES = [("public", 2), ("sysadmin", 3), ("securityadmin", 4), ("serveradmin", 5), ("setupadmin", 6),
                ("processadmin", 7), ("diskadmin", 8), ("dbcreator", 9), ("bulkadmin", 10)]
DB_ROLES = [("public", 0), ("db_owner", 16384), ("db_accessadmin", 16385), ("db_securityadmin", 16386),
            ("db_ddladmin", 16387), ("db_backupoperator", 16389), ("db_datareader", 16390),
            ("db_datawriter", 16391), ("db_denydatareader", 16392), ("db_denydatawriter", 16393)]
TYPE_DESC = {"S": "SQL_LOGIN", "E": "EXTERNAL_LOGIN", "X": "EXTERNAL_GROUP", "R": "SERVER_ROLE",
             "U": "WINDOWS_LOGIN"}
DB_TYPE_DESC = {"S": "SQL_USER", "E": "EXTERNAL_USER", "X": "EXTERNAL_GROUPS", "R": "DATABASE_ROLE"}

TYPE_NAMES = {
    "int": INT, "bigint": BIGINT, "smallint": SMALLINT, "tinyint": TINYINT, "bit": BIT, "float": FLOAT,
    "datetime": DATETIME, "sysname": SYSNAME,
}


def parse_type_name(name: str, length=None) -> SqlType:
    base = name.lower()
    if base in TYPE_NAMES and length is None:
        return TYPE_NAMES[base]
    if base in ("nvarchar", "nchar"):
        return nvarchar(4000 if length in (None, "max") else length) if length is not None else nvarchar(30)
    if base in ("varchar", "char"):
        return varchar(8000 if length in (None, "max") else length) if length is not None else varchar(30)
    if base in ("varbinary", "binary"):
        return varbinary(8000 if length in (None, "max") else length) if length is not None else varbinary(30)
    if base == "datetime2" or base == "date":
        return DATETIME
    raise KeyError(name)


class Login:
    def __init__(self, name, ltype, sid, principal_id, password=None, disabled=False, object_id=None,
                 created=None):
        self.name, self.type, self.sid, self.principal_id = name, ltype, sid, principal_id
        self.password, self.disabled, self.object_id = password, disabled, object_id
        self.created = self.modified = created or _dt.datetime.now().replace(microsecond=0)
        self.default_database = "master"


class Database:
    def __init__(self, name, database_id, data_path, log_path, size_mb=16, recovery="FULL"):
        self.name = name
        self.database_id = database_id
        self.state = "ONLINE"
        self.recovery_model = recovery.upper()
        self.created = _dt.datetime.now().replace(microsecond=0)
        self.size_mb = size_mb
        self.owner_sid = b"\x01"
        self.files = [
            {"file_id": 1, "name": name, "type": 0, "type_desc": "ROWS",
             "physical_name": f"{data_path}\\{name}.mdf", "size_mb": size_mb},
            {"file_id": 2, "name": f"{name}_log", "type": 1, "type_desc": "LOG",
             "physical_name": f"{log_path}\\{name}_log.ldf", "size_mb": max(8, size_mb // 4)},
        ]
        self.users = {}           # lower name -> {name, principal_id, type, sid, login}
        self.role_members = set()  # (role principal id, member principal id)
        self.tables = {}          # lower name -> {"name", "columns": [(name, typename)], "rows": [...]}
        self.next_principal_id = 5
        # The log ("Log Sequence Numbers and Restore Planning"): `lsn` is the next LSN to be written; every
        # committed change is a log record {lsn, time, table, old, new} kept in `changes` (a log backup holds
        # the records in [FirstLSN, LastLSN)).
        self.lsn = 34000000001600001
        self.changes = []
        self.last_full_lsn = None      # CheckpointLSN of the last full backup that is not copy-only (diff base)
        self.diff_base_guid = None     # its backup_set_uuid ("differential_base_guid" of later differentials)
        self.log_chain_lsn = None      # where the next log backup begins (None: no full backup yet)
        self.log_chain_start = None    # FirstLSN of the full backup that started the log chain
        self.last_checkpoint_lsn = None
        self.database_guid = str(uuid.uuid4()).upper()
        self.family_guid = self.database_guid
        # restore state of a database being restored (RESTORING / STANDBY)
        self.redo_lsn = None           # rolled forward up to (not including) this LSN
        self.redo_time = None          # the time the database is rolled forward to
        self.restored_base_guid = None  # backup_set_uuid of the full backup the restore sequence started from
        self.standby_file = None       # RESTORE … WITH STANDBY: read-only between log restores
        for rname, rid in DB_ROLES:
            self.users[rname] = {"name": rname, "principal_id": rid, "type": "R", "sid": None, "login": None}
        self.users["dbo"] = {"name": "dbo", "principal_id": 1, "type": "S", "sid": b"\x01", "login": "sa"}
        self.users["guest"] = {"name": "guest", "principal_id": 2, "type": "S", "sid": b"\x00", "login": None}
        self.users["information_schema"] = {"name": "INFORMATION_SCHEMA", "principal_id": 3, "type": "S",
                                            "sid": None, "login": None}
        self.users["sys"] = {"name": "sys", "principal_id": 4, "type": "S", "sid": None, "login": None}

    def size_bytes(self):
        data = sum(f["size_mb"] for f in self.files if f["type"] == 0) * 1024 * 1024
        return data

    @property
    def read_only(self):
        return self.standby_file is not None

    def next_lsn(self, step=100):
        lsn = self.lsn
        self.lsn += step
        return lsn

    def snapshot(self):
        return {"tables": copy.deepcopy(self.tables), "users": copy.deepcopy(self.users),
                "role_members": sorted(self.role_members), "recovery_model": self.recovery_model,
                "files": copy.deepcopy(self.files), "size_mb": self.size_mb}


class Catalog:
    def __init__(self, vm_key: str, vm_name: str, sql: dict):
        self.vm_key = vm_key
        self.machine_name = sql.get("machine_name") or vm_name.upper()[:15]
        inst = sql.get("instance_name", sql.get("instance"))
        self.instance_name = None if not inst or str(inst).upper() == "MSSQLSERVER" else inst
        self.server_name = self.machine_name + (f"\\{self.instance_name}" if self.instance_name else "")
        self.version = str(sql.get("version", "16.0.4175.1"))
        parts = [int(p) for p in self.version.split(".")]
        self.version_tuple = (parts[0], parts[1], parts[2])
        self.edition = sql.get("edition", "Enterprise Edition (64-bit)")
        self.engine_edition = {"Standard": 2, "Enterprise": 3, "Express": 4, "Developer": 3}.get(
            self.edition.split()[0], 3)
        self.product_level = sql.get("product_level", "RTM")
        self.update_level = sql.get("update_level", _default_update_level(self.version))
        self.clustered = bool(sql.get("clustered", False))
        self.host_platform = sql.get("host_platform", "Windows")
        self.data_path = sql.get("default_data_path", "F:\\data")
        self.log_path = sql.get("default_log_path", "G:\\log")
        self.trace_flags = set(int(t) for t in sql.get("trace_flags", []))
        self.logins = {}
        self.role_members = set()
        self.credentials = {}
        self.databases = {}
        self.backupsets = []
        self.mediafamilies = []
        self.mediasets = []
        self.restorehistory = []
        self.next_principal_id = 256
        self.next_database_id = 5
        self.next_credential_id = 65536
        self._build(sql)

    # -- construction -----------------------------------------------------------------------
    def _build(self, sql):
        # A scenario without `sa_password` (e.g. simctl --generate) gets the documented default;
        # `sa_password: null` disables sa.
        sa_password = sql.get("sa_password", DEFAULT_SA_PASSWORD)
        sa = self.add_login("sa", "S", sql_login_sid("sa"), password=sa_password,
                            disabled=not sa_password, principal_id=1)
        self.role_members.add((3, sa.principal_id))
        for name in ("master", "tempdb", "model", "msdb"):
            db = Database(name, {"master": 1, "tempdb": 2, "model": 3, "msdb": 4}[name],
                          self.data_path, self.log_path, size_mb=8,
                          recovery="SIMPLE" if name in ("master", "tempdb", "msdb") else "FULL")
            self.databases[name] = db
        for spec in sql.get("logins", []):
            kind = spec.get("type", "S").upper()
            if kind == "S":
                login = self.add_login(spec["name"], "S", sql_login_sid(spec["name"]),
                                       password=spec.get("password"), disabled=spec.get("disabled", False))
            else:
                oid = spec["object_id"]
                login = self.add_login(spec["name"], kind, guid_sid(oid), object_id=oid,
                                       disabled=spec.get("disabled", False))
            for role in spec.get("server_roles", []):
                self.role_members.add((self.server_role_id(role), login.principal_id))
        for spec in sql.get("databases", []):
            db = self.add_database(spec["name"], size_mb=spec.get("size_mb", 64),
                                   recovery=spec.get("recovery_model", "FULL"))
            for tname, t in (spec.get("tables") or {}).items():
                cols = [tuple(c) if isinstance(c, (list, tuple)) else (c, "nvarchar(4000)")
                        for c in t.get("columns", [])]
                rows = [list(r) for r in t.get("rows", [])]
                if t.get("generate"):
                    cols = cols or [("id", "int"), ("name", "nvarchar(100)"), ("amount", "bigint")]
                    rows = [[i, f"row-{i:06d}", i * 7 % 1000003] for i in range(1, int(t["generate"]) + 1)]
                db.tables[tname.lower()] = {"name": tname, "columns": cols, "rows": rows}
            for u in spec.get("users", []):
                self.add_db_user(db, u["name"], u.get("login", u["name"]))
                for role in u.get("roles", []):
                    db.role_members.add((db.users[role.lower()]["principal_id"],
                                         db.users[u["name"].lower()]["principal_id"]))

    def add_login(self, name, ltype, sid, password=None, disabled=False, object_id=None, principal_id=None):
        if principal_id is None:
            principal_id = self.next_principal_id
            self.next_principal_id += 1
        login = Login(name, ltype, sid, principal_id, password, disabled, object_id)
        self.logins[name.lower()] = login
        return login

    def add_database(self, name, size_mb=64, recovery="FULL"):
        db = Database(name, self.next_database_id, self.data_path, self.log_path, size_mb, recovery)
        self.next_database_id += 1
        self.databases[name.lower()] = db
        return db

    def add_db_user(self, db, name, login_name):
        login = self.logins.get(login_name.lower())
        uid = db.next_principal_id
        db.next_principal_id += 1
        db.users[name.lower()] = {"name": name, "principal_id": uid, "type": login.type if login else "S",
                                  "sid": login.sid if login else None, "login": login.name if login else None}
        return db.users[name.lower()]

    def server_role_id(self, name):
        for rname, rid in SERVER_ROLES:
            if rname == name.lower():
                return rid
        raise KeyError(name)

    def login_by_principal_id(self, pid):
        for login in self.logins.values():
            if login.principal_id == pid:
                return login
        return None

    def login_by_sid(self, sid):
        for login in self.logins.values():
            if login.sid == sid:
                return login
        return None

    # -- permission helpers --------------------------------------------------------------------
    def in_server_role(self, login, role):
        if login is None:
            return False
        return (self.server_role_id(role), login.principal_id) in self.role_members

    def in_db_role(self, db, login, role):
        user = self.db_user_for(db, login)
        if user is None:
            return False
        if user["name"] == "dbo":
            return role == "db_owner"
        return (db.users[role]["principal_id"], user["principal_id"]) in db.role_members

    def db_user_for(self, db, login):
        if login is None:
            return None
        if login.name.lower() == "sa":
            return db.users["dbo"]
        for u in db.users.values():
            if u.get("login") and u["login"].lower() == login.name.lower():
                return u
        return None

    # -- catalog views -----------------------------------------------------------------------
    def view(self, name: str, session):
        """(columns [(name, SqlType)], rows [dict]) of a catalog view, or None if it is not one."""
        fn = VIEWS.get(name)
        return fn(self, session) if fn else None


def _default_update_level(version):
    table = {"16.0.4145": "CU15", "16.0.4165": "CU16", "16.0.4175": "CU17", "16.0.4185": "CU18",
             "16.0.4195": "CU19", "16.0.4205": "CU20", "16.0.4215": "CU21", "17.0.4006": "CU1"}
    key = ".".join(version.split(".")[:3])
    return table.get(key)


def _v_server_principals(cat, session):
    cols = [("name", SYSNAME), ("principal_id", INT), ("sid", SID), ("type", CHAR1), ("type_desc", nvarchar(60)),
            ("is_disabled", BIT), ("create_date", DATETIME), ("modify_date", DATETIME),
            ("default_database_name", SYSNAME), ("default_language_name", SYSNAME), ("credential_id", INT),
            ("owning_principal_id", INT), ("is_fixed_role", BIT)]
    rows = []
    sees_all = session.has_server_perm("VIEW ANY DEFINITION")
    for rname, rid in SERVER_ROLES:
        rows.append({"name": rname, "principal_id": rid, "sid": bytes([rid]), "type": "R",
                     "type_desc": "SERVER_ROLE", "is_disabled": False, "create_date": _dt.datetime(2009, 4, 13),
                     "modify_date": _dt.datetime(2009, 4, 13), "default_database_name": None,
                     "default_language_name": None, "credential_id": None, "owning_principal_id": 1 if rid > 2 else 1,
                     "is_fixed_role": rid > 2})
    for login in sorted(cat.logins.values(), key=lambda l: l.principal_id):
        if not sees_all and login is not session.login:
            continue
        rows.append({"name": login.name, "principal_id": login.principal_id, "sid": login.sid, "type": login.type,
                     "type_desc": TYPE_DESC[login.type], "is_disabled": login.disabled,
                     "create_date": login.created, "modify_date": login.modified,
                     "default_database_name": login.default_database, "default_language_name": "us_english",
                     "credential_id": None, "owning_principal_id": None, "is_fixed_role": False})
    return cols, rows


def _v_sql_logins(cat, session):
    cols = [("name", SYSNAME), ("principal_id", INT), ("sid", SID), ("type", CHAR1), ("type_desc", nvarchar(60)),
            ("is_disabled", BIT), ("create_date", DATETIME), ("modify_date", DATETIME),
            ("default_database_name", SYSNAME), ("is_policy_checked", BIT), ("is_expiration_checked", BIT),
            ("password_hash", varbinary(256))]
    sees_all = session.has_server_perm("VIEW ANY DEFINITION")
    rows = []
    for login in sorted(cat.logins.values(), key=lambda l: l.principal_id):
        if login.type != "S" or (not sees_all and login is not session.login):
            continue
        if login.password is not None and getattr(login, "_hash_for", None) != login.password:
            login._hash, login._hash_for = password_hash(login.password), login.password
        rows.append({"name": login.name, "principal_id": login.principal_id, "sid": login.sid, "type": "S",
                     "type_desc": "SQL_LOGIN", "is_disabled": login.disabled, "create_date": login.created,
                     "modify_date": login.modified, "default_database_name": login.default_database,
                     "is_policy_checked": True, "is_expiration_checked": False,
                     # password_hash is visible to holders of CONTROL SERVER only
                     "password_hash": getattr(login, "_hash", None) if session.is_sysadmin() else None})
    return cols, rows


def _v_restorehistory(cat, session):
    cols = [("restore_history_id", INT), ("restore_date", DATETIME), ("destination_database_name", nvarchar(128)),
            ("user_name", nvarchar(128)), ("backup_set_id", INT), ("restore_type", CHAR1), ("replace", BIT),
            ("recovery", BIT), ("restart", BIT), ("stop_at", DATETIME), ("device_count", TINYINT),
            ("stop_at_mark_name", nvarchar(128)), ("stop_before", BIT)]
    return cols, [dict(r) for r in cat.restorehistory]


def _v_server_role_members(cat, session):
    cols = [("role_principal_id", INT), ("member_principal_id", INT)]
    sees_all = session.has_server_perm("VIEW ANY DEFINITION")
    rows = [{"role_principal_id": r, "member_principal_id": m} for r, m in sorted(cat.role_members)
            if sees_all or (session.login and m == session.login.principal_id)]
    return cols, rows


def _v_databases(cat, session):
    cols = [("name", SYSNAME), ("database_id", INT), ("create_date", DATETIME), ("compatibility_level", TINYINT),
            ("collation_name", SYSNAME), ("user_access_desc", nvarchar(60)), ("is_read_only", BIT),
            ("state", TINYINT), ("state_desc", nvarchar(60)), ("recovery_model", TINYINT),
            ("recovery_model_desc", nvarchar(60)), ("owner_sid", SID), ("is_in_standby", BIT), ("replica_id", GUID),
            ("group_database_id", GUID)]
    rows = []
    for db in sorted(cat.databases.values(), key=lambda d: d.database_id):
        rows.append({"name": db.name, "database_id": db.database_id, "create_date": db.created,
                     "compatibility_level": 160, "collation_name": "SQL_Latin1_General_CP1_CI_AS",
                     "user_access_desc": "MULTI_USER", "is_read_only": db.read_only, "is_in_standby": db.read_only,
                     "replica_id": hadr.replica_of(cat).replica_id if hadr.in_group(cat, db.name) else None,
                     "group_database_id": db.family_guid if hadr.in_group(cat, db.name) else None,
                     "state": {"ONLINE": 0, "RESTORING": 1}.get(db.state, 0), "state_desc": db.state,
                     "recovery_model": {"FULL": 1, "BULK_LOGGED": 2, "SIMPLE": 3}[db.recovery_model],
                     "recovery_model_desc": db.recovery_model, "owner_sid": db.owner_sid})
    return cols, rows


def _v_master_files(cat, session):
    cols = [("database_id", INT), ("file_id", INT), ("type", TINYINT), ("type_desc", nvarchar(60)),
            ("name", SYSNAME), ("physical_name", nvarchar(260)), ("state_desc", nvarchar(60)), ("size", INT),
            ("max_size", INT), ("growth", INT)]
    rows = []
    for db in sorted(cat.databases.values(), key=lambda d: d.database_id):
        for f in db.files:
            rows.append({"database_id": db.database_id, "file_id": f["file_id"], "type": f["type"],
                         "type_desc": f["type_desc"], "name": f["name"], "physical_name": f["physical_name"],
                         "state_desc": "ONLINE" if db.state == "ONLINE" else "RESTORING",
                         "size": f["size_mb"] * 128, "max_size": -1, "growth": 8192})
    return cols, rows


def _v_credentials(cat, session):
    cols = [("credential_id", INT), ("name", SYSNAME), ("credential_identity", nvarchar(4000)),
            ("create_date", DATETIME), ("modify_date", DATETIME), ("target_type", nvarchar(100)),
            ("target_id", INT)]
    if not session.has_server_perm("VIEW ANY DEFINITION"):
        return cols, []
    rows = [{"credential_id": c["id"], "name": c["name"], "credential_identity": c["identity"],
             "create_date": c["created"], "modify_date": c["modified"], "target_type": None, "target_id": None}
            for c in sorted(cat.credentials.values(), key=lambda c: c["id"])]
    return cols, rows


def _v_host_info(cat, session):
    cols = [("host_platform", nvarchar(256)), ("host_distribution", nvarchar(256)), ("host_release", nvarchar(256)),
            ("host_service_pack_level", nvarchar(256)), ("host_sku", INT), ("os_language_version", INT),
            ("host_architecture", nvarchar(256))]
    win = cat.host_platform == "Windows"
    return cols, [{"host_platform": cat.host_platform,
                   "host_distribution": "Windows Server 2022 Datacenter" if win else "Ubuntu",
                   "host_release": "10.0" if win else "22.04", "host_service_pack_level": "",
                   "host_sku": 8 if win else None, "os_language_version": 1033, "host_architecture": "X64"}]


def _v_database_principals(cat, session):
    db = cat.databases[session.database.lower()]
    cols = [("name", SYSNAME), ("principal_id", INT), ("type", CHAR1), ("type_desc", nvarchar(60)),
            ("default_schema_name", SYSNAME), ("create_date", DATETIME), ("modify_date", DATETIME),
            ("owning_principal_id", INT), ("sid", SID), ("is_fixed_role", BIT),
            ("authentication_type", INT), ("authentication_type_desc", nvarchar(60))]
    rows = []
    for u in sorted(db.users.values(), key=lambda u: u["principal_id"]):
        ext = u["type"] in ("E", "X")
        rows.append({"name": u["name"], "principal_id": u["principal_id"], "type": u["type"],
                     "type_desc": DB_TYPE_DESC.get(u["type"], "SQL_USER"),
                     "default_schema_name": None if u["type"] == "R" else "dbo", "create_date": db.created,
                     "modify_date": db.created, "owning_principal_id": 1 if u["type"] == "R" else None,
                     "sid": u["sid"], "is_fixed_role": u["type"] == "R" and u["principal_id"] >= 16384,
                     "authentication_type": None if u["type"] == "R" else (4 if ext else 1),
                     "authentication_type_desc": "NONE" if u["type"] == "R" else ("EXTERNAL" if ext else "INSTANCE")})
    return cols, rows


def _v_database_role_members(cat, session):
    db = cat.databases[session.database.lower()]
    cols = [("role_principal_id", INT), ("member_principal_id", INT)]
    rows = [{"role_principal_id": r, "member_principal_id": m} for r, m in sorted(db.role_members)]
    rows.insert(0, {"role_principal_id": 16384, "member_principal_id": 1})
    return cols, rows


# "backupset (Transact-SQL)" columns in their documented order.
BACKUPSET_COLUMNS = [
    ("backup_set_id", INT), ("backup_set_uuid", GUID), ("media_set_id", INT), ("first_family_number", TINYINT),
    ("first_media_number", SMALLINT), ("last_family_number", TINYINT), ("last_media_number", SMALLINT),
    ("catalog_family_number", TINYINT), ("catalog_media_number", SMALLINT), ("position", INT),
    ("expiration_date", DATETIME), ("software_vendor_id", INT), ("name", nvarchar(128)),
    ("description", nvarchar(255)), ("user_name", nvarchar(128)), ("software_major_version", TINYINT),
    ("software_minor_version", TINYINT), ("software_build_version", SMALLINT), ("time_zone", SMALLINT),
    ("mtf_minor_version", TINYINT), ("first_lsn", NUMERIC25), ("last_lsn", NUMERIC25), ("checkpoint_lsn", NUMERIC25),
    ("database_backup_lsn", NUMERIC25), ("database_creation_date", DATETIME), ("backup_start_date", DATETIME),
    ("backup_finish_date", DATETIME), ("type", CHAR1), ("sort_order", SMALLINT), ("code_page", SMALLINT),
    ("compatibility_level", TINYINT), ("database_version", INT), ("backup_size", NUMERIC20),
    ("database_name", nvarchar(128)), ("server_name", nvarchar(128)), ("machine_name", nvarchar(128)),
    ("flags", INT), ("unicode_locale", INT), ("unicode_compare_style", INT), ("collation_name", nvarchar(128)),
    ("is_password_protected", BIT), ("recovery_model", nvarchar(60)), ("has_bulk_logged_data", BIT),
    ("is_snapshot", BIT), ("is_readonly", BIT), ("is_single_user", BIT), ("has_backup_checksums", BIT),
    ("is_damaged", BIT), ("begins_log_chain", BIT), ("has_incomplete_metadata", BIT), ("is_force_offline", BIT),
    ("is_copy_only", BIT), ("first_recovery_fork_guid", GUID), ("last_recovery_fork_guid", GUID),
    ("fork_point_lsn", NUMERIC25), ("database_guid", GUID), ("family_guid", GUID),
    ("differential_base_lsn", NUMERIC25), ("differential_base_guid", GUID), ("compressed_backup_size", NUMERIC20),
    ("key_algorithm", nvarchar(32)), ("encryptor_thumbprint", varbinary(20)), ("encryptor_type", nvarchar(32)),
    ("last_valid_restore_time", DATETIME), ("compression_algorithm", nvarchar(32))]
BACKUPMEDIAFAMILY_COLUMNS = [
    ("media_set_id", INT), ("family_sequence_number", TINYINT), ("media_family_id", GUID), ("media_count", INT),
    ("logical_device_name", nvarchar(128)), ("physical_device_name", nvarchar(260)), ("device_type", TINYINT),
    ("physical_block_size", INT), ("mirror", TINYINT)]
BACKUPMEDIASET_COLUMNS = [
    ("media_set_id", INT), ("media_uuid", GUID), ("media_family_count", TINYINT), ("name", nvarchar(128)),
    ("description", nvarchar(255)), ("software_name", nvarchar(128)), ("software_vendor_id", INT),
    ("MTF_major_version", TINYINT), ("mirror_count", TINYINT), ("is_password_protected", BIT),
    ("is_compressed", BIT), ("is_encrypted", BIT)]


def _v_backupset(cat, session):
    return BACKUPSET_COLUMNS, [dict(r) for r in cat.backupsets]


def _v_backupmediafamily(cat, session):
    return BACKUPMEDIAFAMILY_COLUMNS, [dict(r) for r in cat.mediafamilies]


def _v_backupmediaset(cat, session):
    return BACKUPMEDIASET_COLUMNS, [dict(r) for r in cat.mediasets]


def _v_database_recovery_status(cat, session):
    """"sys.database_recovery_status": where each database's log backup chain stands."""
    cols = [("database_id", INT), ("database_guid", GUID), ("family_guid", GUID), ("fork_point_lsn", NUMERIC25),
            ("fork_point_family_id", GUID), ("first_recovery_fork_guid", GUID), ("recovery_fork_guid", GUID),
            ("last_log_backup_lsn", NUMERIC25)]
    rows = []
    for db in sorted(cat.databases.values(), key=lambda d: d.database_id):
        online = db.state == "ONLINE"
        rows.append({"database_id": db.database_id, "database_guid": db.database_guid if online else None,
                     "family_guid": db.family_guid, "fork_point_lsn": None, "fork_point_family_id": None,
                     "first_recovery_fork_guid": db.family_guid if online else None,
                     "recovery_fork_guid": db.family_guid if online else None,
                     "last_log_backup_lsn": db.log_chain_lsn if online else None})
    return cols, rows


def _ag_rows(cat):
    replica = hadr.replica_of(cat)
    return (replica.group, replica) if replica is not None else (None, None)


def _v_availability_groups(cat, session):
    cols = [("group_id", GUID), ("name", SYSNAME), ("resource_id", nvarchar(40)), ("resource_group_id", nvarchar(40)),
            ("failure_condition_level", INT), ("health_check_timeout", INT), ("automated_backup_preference", TINYINT),
            ("automated_backup_preference_desc", nvarchar(60)), ("version", SMALLINT), ("basic_features", BIT),
            ("dtc_support", BIT), ("db_failover", BIT), ("is_distributed", BIT), ("cluster_type", TINYINT),
            ("cluster_type_desc", nvarchar(60)), ("required_synchronized_secondaries_to_commit", INT),
            ("sequence_number", BIGINT), ("is_contained", BIT)]
    group, _replica = _ag_rows(cat)
    if group is None:
        return cols, []
    return cols, [{"group_id": group.group_id, "name": group.name, "resource_id": group.group_id.lower(),
                   "resource_group_id": group.group_id.lower(), "failure_condition_level": 3,
                   "health_check_timeout": 30000, "automated_backup_preference": hadr.PREFERENCES[group.preference],
                   "automated_backup_preference_desc": group.preference, "version": 1, "basic_features": False,
                   "dtc_support": False, "db_failover": True, "is_distributed": False, "cluster_type": 0,
                   "cluster_type_desc": "wsfc", "required_synchronized_secondaries_to_commit": 0,
                   "sequence_number": 1, "is_contained": False}]


def _v_availability_replicas(cat, session):
    cols = [("replica_id", GUID), ("group_id", GUID), ("replica_server_name", nvarchar(256)),
            ("endpoint_url", nvarchar(128)), ("availability_mode", TINYINT), ("availability_mode_desc", nvarchar(60)),
            ("failover_mode", TINYINT), ("failover_mode_desc", nvarchar(60)), ("session_timeout", INT),
            ("primary_role_allow_connections_desc", nvarchar(60)), ("secondary_role_allow_connections", TINYINT),
            ("secondary_role_allow_connections_desc", nvarchar(60)), ("backup_priority", INT),
            ("read_only_routing_url", nvarchar(256)), ("seeding_mode_desc", nvarchar(60))]
    group, _replica = _ag_rows(cat)
    if group is None:
        return cols, []
    return cols, [{"replica_id": r.replica_id, "group_id": group.group_id, "replica_server_name": r.server_name,
                   "endpoint_url": f"TCP://{r.server_name.lower()}:5022", "availability_mode": 1,
                   "availability_mode_desc": "SYNCHRONOUS_COMMIT", "failover_mode": 0, "failover_mode_desc": "AUTOMATIC",
                   "session_timeout": 10, "primary_role_allow_connections_desc": "ALL",
                   "secondary_role_allow_connections": 2, "secondary_role_allow_connections_desc": "ALL",
                   "backup_priority": r.backup_priority, "read_only_routing_url": None, "seeding_mode_desc": "MANUAL"}
                  for r in group.replicas]


def _v_hadr_replica_states(cat, session):
    cols = [("replica_id", GUID), ("group_id", GUID), ("is_local", BIT), ("role", TINYINT), ("role_desc", nvarchar(60)),
            ("operational_state", TINYINT), ("operational_state_desc", nvarchar(60)), ("connected_state", TINYINT),
            ("connected_state_desc", nvarchar(60)), ("recovery_health", TINYINT), ("recovery_health_desc", nvarchar(60)),
            ("synchronization_health", TINYINT), ("synchronization_health_desc", nvarchar(60))]
    group, mine = _ag_rows(cat)
    if group is None:
        return cols, []
    # a secondary knows only its own state; the primary knows every replica's ("sys.dm_hadr_availability_replica_states")
    shown = group.replicas if mine.role == "PRIMARY" else [mine]
    return cols, [{"replica_id": r.replica_id, "group_id": group.group_id, "is_local": r is mine,
                   "role": 1 if r.role == "PRIMARY" else 2, "role_desc": r.role, "operational_state": 2 if r is mine else None,
                   "operational_state_desc": "ONLINE" if r is mine else None, "connected_state": 1,
                   "connected_state_desc": "CONNECTED", "recovery_health": 1 if r is mine else None,
                   "recovery_health_desc": "ONLINE" if r is mine else None, "synchronization_health": 2,
                   "synchronization_health_desc": "HEALTHY"} for r in shown]


def _v_hadr_database_replica_states(cat, session):
    cols = [("database_id", INT), ("group_id", GUID), ("replica_id", GUID), ("group_database_id", GUID),
            ("is_local", BIT), ("is_primary_replica", BIT), ("synchronization_state", TINYINT),
            ("synchronization_state_desc", nvarchar(60)), ("synchronization_health", TINYINT),
            ("synchronization_health_desc", nvarchar(60)), ("database_state_desc", nvarchar(60)), ("is_suspended", BIT)]
    group, mine = _ag_rows(cat)
    if group is None:
        return cols, []
    shown = group.replicas if mine.role == "PRIMARY" else [mine]
    rows = []
    for name in sorted(group.databases):
        db = cat.databases.get(name)
        if db is None:
            continue
        for r in shown:
            rows.append({"database_id": db.database_id, "group_id": group.group_id, "replica_id": r.replica_id,
                         "group_database_id": db.family_guid, "is_local": r is mine,
                         "is_primary_replica": r.role == "PRIMARY", "synchronization_state": 2,
                         "synchronization_state_desc": "SYNCHRONIZED", "synchronization_health": 2,
                         "synchronization_health_desc": "HEALTHY", "database_state_desc": "ONLINE",
                         "is_suspended": False})
    return cols, rows


def _v_tables(cat, session):
    db = cat.databases[session.database.lower()]
    cols = [("name", SYSNAME), ("object_id", INT), ("schema_id", INT)]
    return cols, [{"name": t["name"], "object_id": 1000 + i, "schema_id": 1}
                  for i, t in enumerate(sorted(db.tables.values(), key=lambda t: t["name"]))]


VIEWS = {
    "sys.server_principals": _v_server_principals,
    "sys.server_role_members": _v_server_role_members,
    "sys.databases": _v_databases,
    "sys.master_files": _v_master_files,
    "sys.credentials": _v_credentials,
    "sys.dm_os_host_info": _v_host_info,
    "sys.database_principals": _v_database_principals,
    "sys.database_role_members": _v_database_role_members,
    "sys.tables": _v_tables,
    "msdb.dbo.backupset": _v_backupset,
    "msdb.dbo.backupmediafamily": _v_backupmediafamily,
    "msdb.dbo.restorehistory": _v_restorehistory,
    "msdb.dbo.backupmediaset": _v_backupmediaset,
    "sys.sql_logins": _v_sql_logins,
    "sys.database_recovery_status": _v_database_recovery_status,
    "sys.availability_groups": _v_availability_groups,
    "sys.availability_replicas": _v_availability_replicas,
    "sys.dm_hadr_availability_replica_states": _v_hadr_replica_states,
    "sys.dm_hadr_database_replica_states": _v_hadr_database_replica_states,
}
# Views that live in one database, reachable as <db>.sys.<view> too.
DATABASE_SCOPED = {"sys.database_principals", "sys.database_role_members", "sys.tables"}
