# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every T-SQL statement sqlvm.backup sends, written in one place.

Values travel as parameters wherever T-SQL accepts a variable: BACKUP and RESTORE take variables for
every URL, MOVE's logical and physical names and STOPAT (BACKUP / RESTORE syntax,
learn.microsoft.com/sql/t-sql/statements/backup-transact-sql: ``{ DISK | TAPE | URL } =
{ 'physical_device_name' | @physical_device_name_var }``). pyodbc sends ``?`` markers as
``sp_prepexec`` parameters, so those values never become statement text. The database name is
written as a QUOTENAME'd identifier (the form every T-SQL parser accepts; names are validated).

DDL takes no variables (CREATE LOGIN / USER / CREDENTIAL, ALTER SERVER ROLE, ...). There names are
quoted exactly as QUOTENAME does and literals as N'...' with ``'`` doubled, after validation.

Builders return ``Statement(sql, params, kind)``; ``kind`` is ``read`` or ``write`` so check mode can
refuse to run writes and tests can count them.
"""
from __future__ import annotations

import re
from collections import namedtuple

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import has_control_character, is_guid

SYSNAME_MAX = 128

# secret: the text holds a secret (a password or SAS in DDL that takes no variables); it is never shown.
Statement = namedtuple("Statement", ["sql", "params", "kind", "secret"], defaults=(False,))

# BACKUP TO URL / RESTORE FROM URL take at most 64 URLs (stripes) - Msg 3205 beyond (Microsoft Learn
# "BACKUP (Transact-SQL)": up to 64 backup devices).
MAX_URLS = 64

# Trace flag 4675: CREATE CREDENTIAL checks the managed identity (Microsoft Learn "Backup and restore to URL
# using managed identities", error messages).
TF_VALIDATE_MI_CREDENTIAL = 4675


def _read(sql, *params):
    return Statement(sql, tuple(params), "read")


def _write(sql, *params):
    return Statement(sql, tuple(params), "write")


def _check_text(value, what):
    if not isinstance(value, str):
        raise InvalidInputError("%s must be a string, got %r." % (what, type(value).__name__))
    if "\x00" in value:
        raise InvalidInputError("%s contains a NUL character; SQL Server names and values cannot hold one." % what)


def quote_name(name, what="name"):
    """Quote an identifier exactly as QUOTENAME(name) does: brackets, ``]`` doubled.

    QUOTENAME returns NULL for input longer than 128 characters (sysname); we refuse instead, and
    refuse empty names, which SQL Server never accepts as identifiers.
    """
    _check_text(name, what)
    if not name:
        raise InvalidInputError("%s is empty; give the name of the object." % what)
    if len(name) > SYSNAME_MAX:
        raise InvalidInputError(
            "%s is %d characters long; SQL Server names (sysname) hold at most %d." % (what, len(name), SYSNAME_MAX))
    return "[" + name.replace("]", "]]") + "]"


def check_name(name, what="name"):
    """A name the user gave (login, user, role, database): quoted as QUOTENAME does, and refused when it holds a
    control character (a line break from a template) or leading / trailing blanks. SQL Server ignores trailing
    blanks when it compares names ('msdb ' is msdb: "SQL Server ... pads strings with blanks before comparing",
    ANSI_PADDING / comparison rules), so such a name would slip past checks made here and name another object there.
    """
    quoted = quote_name(name, what)
    if has_control_character(name):
        raise InvalidInputError("%s %r holds a control character (a line break, tab, ...); give the name on one line "
                                "without them." % (what, name))
    if name != name.strip():
        raise InvalidInputError("%s %r has leading or trailing blanks; SQL Server ignores trailing blanks when it "
                                "compares names, so remove them (give %r)." % (what, name, name.strip()))
    return quoted


def quote_string(value, what="value"):
    """A Unicode string literal: N'...' with every ``'`` doubled."""
    _check_text(value, what)
    return "N'" + value.replace("'", "''") + "'"


def check_guid(value, what="object_id"):
    if not is_guid(value):
        raise InvalidInputError(
            "%s %r is not a GUID like 00000000-0000-0000-0000-000000000000; use the object id "
            "(or, for an application, its client id) shown by Microsoft Entra ID." % (what, value))
    return value.lower()


def batch(*statements):
    """Several statements sent as one batch (one round trip); each read answers its own result set, in order.

    The parts keep their parameters in order; the batch is a write if any part is. Put statements that may
    answer no result set (DBCC) last, so the result sets of the others keep their positions.
    """
    params = []
    for statement in statements:
        params.extend(statement.params)
    kind = "write" if any(statement.kind == "write" for statement in statements) else "read"
    return Statement(";\n".join(statement.sql for statement in statements), tuple(params), kind,
                     any(statement.secret for statement in statements))


def render(statement):
    """Readable T-SQL for check mode and results: parameters shown as literals.

    Only for display; statements are always executed with real parameters. A statement that holds a
    secret is shown by its first words only.
    """
    if statement.secret:
        # DDL with a secret has it after WITH (PASSWORD = / SECRET =): what comes before the first " WITH " is the
        # statement and the object's name, which say what ran.
        head, found, _rest = statement.sql.partition(" WITH ")
        if not found:
            head = " ".join(statement.sql.split(" ")[:2])
        return head + " ... /* holds a secret, not shown */"
    sql, params = statement.sql, list(statement.params)
    out = []
    for part in re.split(r"(\?)", sql):
        if part == "?" and params:
            value = params.pop(0)
            if isinstance(value, str):
                out.append(quote_string(value))
            elif value is None:
                out.append("NULL")
            else:
                out.append(str(value))
        else:
            out.append(part)
    return "".join(out)


# --------------------------------------------------------------------------- server information

_SERVER_PROPERTIES = (
    "ProductVersion", "ProductUpdateLevel", "ProductLevel", "Edition", "EngineEdition", "IsClustered",
    "InstanceDefaultDataPath", "InstanceDefaultLogPath", "MachineName", "ServerName",
)


def server_properties():
    """SERVERPROPERTY values, the connected login (SUSER_SNAME) and the host platform in one round trip.

    sql_variant columns break FreeTDS's ODBC driver: every property is cast to nvarchar(128), which every driver
    reads.
    sys.dm_os_host_info has one row and is readable by public (learn.microsoft.com/sql/relational-databases/
    system-dynamic-management-views/sys-dm-os-host-info-transact-sql, Permissions).
    """
    columns = ",\n       ".join(
        "CAST(SERVERPROPERTY('%s') AS nvarchar(128)) AS %s" % (p, p) for p in _SERVER_PROPERTIES)
    return _read("SELECT " + columns + ",\n       SUSER_SNAME() AS login_name, h.host_platform"
                 "\nFROM sys.dm_os_host_info AS h")


def host_platform():
    return _read("SELECT host_platform FROM sys.dm_os_host_info")


def trace_status(flag):
    return _read("DBCC TRACESTATUS(%d, -1) WITH NO_INFOMSGS" % int(flag))


def trace_on(flag):
    return _write("DBCC TRACEON(%d, -1)" % int(flag))


def trace_off(flag):
    return _write("DBCC TRACEOFF(%d, -1)" % int(flag))


def all_trace_flags():
    return _read("DBCC TRACESTATUS(-1) WITH NO_INFOMSGS")


# --------------------------------------------------------------------------- logins

def login_by_name(name):
    _check_text(name, "login name")
    return _read(
        "SELECT name, type, is_disabled, sid FROM sys.server_principals "
        "WHERE name = ? AND type IN ('S', 'E', 'X', 'U', 'G')", name)


def _roles_of(level, member_alias, member, what):
    """The roles `member` belongs to at `level` ("server" or "database"): the same catalog views at both levels."""
    _check_text(member, what)
    return _read(
        "SELECT r.name FROM sys.{0}_role_members AS m "
        "JOIN sys.{0}_principals AS r ON r.principal_id = m.role_principal_id "
        "JOIN sys.{0}_principals AS {1} ON {1}.principal_id = m.member_principal_id "
        "WHERE {1}.name = ?".format(level, member_alias), member)


def _all_roles(level):
    """Every role at `level` (fixed and user-defined), to check the roles a task names before anything is written."""
    return _read("SELECT name FROM sys.%s_principals WHERE type = 'R'" % level)


def login_server_roles(name):
    return _roles_of("server", "p", name, "login name")


def server_roles():
    return _all_roles("server")


def sql_login_password_matches(name, password):
    return Statement("SELECT PWDCOMPARE(?, password_hash) FROM sys.sql_logins WHERE name = ?", (password, name),
                     "read", True)


def create_entra_login(name, object_id=None):
    sql = "CREATE LOGIN %s FROM EXTERNAL PROVIDER" % quote_name(name, "login name")
    if object_id is not None:
        sql += " WITH OBJECT_ID = %s" % quote_string(check_guid(object_id))
    return _write(sql)


def create_sql_login(name, password):
    """CREATE LOGIN ... WITH PASSWORD takes no variable: the password is a quoted literal.

    The statement text therefore holds a secret: it is marked ``secret`` and never shown.
    """
    sql = "CREATE LOGIN %s WITH PASSWORD = %s" % (quote_name(name, "login name"), quote_string(password, "password"))
    return Statement(sql, (), "write", True)


def alter_login_password(name, password):
    sql = "ALTER LOGIN %s WITH PASSWORD = %s" % (quote_name(name, "login name"), quote_string(password, "password"))
    return Statement(sql, (), "write", True)


def alter_login_enabled(name, enabled):
    return _write("ALTER LOGIN %s %s" % (quote_name(name, "login name"), "ENABLE" if enabled else "DISABLE"))


def flush_auth_caches():
    # DISABLE/ENABLE and role changes take effect at once only after both caches are cleared (Microsoft Learn
    # "Microsoft Entra logins for SQL Server").
    return [_write("DBCC FLUSHAUTHCACHE"),
            _write("DBCC FREESYSTEMCACHE('TokenAndPermUserStore') WITH NO_INFOMSGS")]


def add_server_role_member(role, login):
    return _write("ALTER SERVER ROLE %s ADD MEMBER %s"
                  % (quote_name(role, "server role"), quote_name(login, "login name")))


def drop_server_role_member(role, login):
    return _write("ALTER SERVER ROLE %s DROP MEMBER %s"
                  % (quote_name(role, "server role"), quote_name(login, "login name")))


def drop_login(name):
    return _write("DROP LOGIN %s" % quote_name(name, "login name"))


# --------------------------------------------------------------------------- database users

def use_database(database):
    return _read("USE %s" % quote_name(database, "database name"))


def database_state(database):
    _check_text(database, "database name")
    return _read("SELECT name, state_desc, database_id FROM sys.databases WHERE name = ?", database)


def database_user_by_name(user):
    _check_text(user, "user name")
    return _read("SELECT name, type FROM sys.database_principals WHERE name = ?", user)


def database_user_roles(user):
    return _roles_of("database", "u", user, "user name")


def database_roles():
    """Every role of the current database."""
    return _all_roles("database")


def create_user_from_login(user, login):
    return _write("CREATE USER %s FROM LOGIN %s" % (quote_name(user, "user name"), quote_name(login, "login name")))


def drop_user(user):
    return _write("DROP USER %s" % quote_name(user, "user name"))


def add_database_role_member(role, user):
    return _write("ALTER ROLE %s ADD MEMBER %s" % (quote_name(role, "database role"), quote_name(user, "user name")))


def drop_database_role_member(role, user):
    return _write("ALTER ROLE %s DROP MEMBER %s" % (quote_name(role, "database role"), quote_name(user, "user name")))


# --------------------------------------------------------------------------- credentials

MANAGED_IDENTITY = "Managed Identity"
SHARED_ACCESS_SIGNATURE = "SHARED ACCESS SIGNATURE"


def credential_by_name(name):
    _check_text(name, "credential name")
    # Names are compared in binary: the credential name is the container URL, case-sensitive (Microsoft Learn
    # "Backup and restore to URL using managed identities").
    return _read(
        "SELECT name, credential_identity, create_date, modify_date FROM sys.credentials "
        "WHERE name = ?", name)


def all_credentials():
    return _read("SELECT name, credential_identity, create_date, modify_date FROM sys.credentials")


def _credential_body(identity, secret):
    body = "WITH IDENTITY = %s" % quote_string(identity, "credential identity")
    if secret is not None:
        body += ", SECRET = %s" % quote_string(secret, "secret")
    return body


def create_credential(name, identity, secret=None):
    return Statement("CREATE CREDENTIAL %s %s" % (quote_name(name, "credential name"), _credential_body(identity, secret)),
                     (), "write", secret is not None)


def alter_credential(name, identity, secret=None):
    return Statement("ALTER CREDENTIAL %s %s" % (quote_name(name, "credential name"), _credential_body(identity, secret)),
                     (), "write", secret is not None)


def drop_credential(name):
    return _write("DROP CREDENTIAL %s" % quote_name(name, "credential name"))


# --------------------------------------------------------------------------- databases, backup

def list_databases():
    return _read("SELECT name, state_desc, database_id, recovery_model_desc FROM sys.databases")


def database_named(database):
    """The database a name means on this server: DB_ID resolves the name as SQL Server does (its collation, by
    default case-insensitive), so 'APP' finds [app] here exactly when BACKUP DATABASE [APP] would."""
    _check_text(database, "database name")
    return _read("SELECT name, state_desc, database_id, recovery_model_desc FROM sys.databases "
                 "WHERE database_id = DB_ID(?)", database)


def database_files(database):
    """Files of a database (type 0 rows, 1 log) with their allocated size in 8 KB pages.

    Catalog reads avoid aggregates, GROUP BY and subqueries: the sums are made client-side.
    """
    _check_text(database, "database name")
    return _read("SELECT mf.type, mf.size FROM sys.master_files AS mf WHERE mf.database_id = DB_ID(?)", database)


BACKUP_TYPES = {"full": "DATABASE", "differential": "DATABASE", "log": "LOG"}


def backup(database, urls, backup_type="full", copy_only=False, compression=True, checksum=True,
           maxtransfersize=4194304, blocksize=65536, overwrite=False, stats=10, description=None):
    """BACKUP DATABASE|LOG [db] TO URL = @u1[, URL = @u2 ...] WITH ..."""
    if backup_type not in BACKUP_TYPES:
        raise InvalidInputError("backup type %r is not one of full, differential, log." % (backup_type,))
    if not urls:
        raise InvalidInputError("a backup needs at least one URL.")
    _check_text(database, "database name")
    for url in urls:
        _check_text(url, "URL")
    options = []
    if backup_type == "differential":
        options.append("DIFFERENTIAL")
    if copy_only:
        options.append("COPY_ONLY")
    if overwrite:
        # Block blobs are never appended to; FORMAT lets the backup replace an existing blob.
        options.append("FORMAT")
    options.append("COMPRESSION" if compression else "NO_COMPRESSION")
    options.append("CHECKSUM" if checksum else "NO_CHECKSUM")
    options.append("MAXTRANSFERSIZE = %d" % int(maxtransfersize))
    options.append("BLOCKSIZE = %d" % int(blocksize))
    if stats:
        options.append("STATS = %d" % int(stats))
    params = list(urls)
    if description:
        options.append("DESCRIPTION = ?")
        params.append(description)
    sql = "BACKUP %s %s TO %s WITH %s" % (
        BACKUP_TYPES[backup_type], quote_name(database, "database name"), ", ".join(["URL = ?"] * len(urls)),
        ", ".join(options))
    return _write(sql, *params)


def urls_in_backup_history(urls):
    for url in urls:
        _check_text(url, "URL")
    return _read(
        "SELECT physical_device_name FROM msdb.dbo.backupmediafamily WHERE physical_device_name IN (%s)"
        % ", ".join(["?"] * len(urls)), *urls)


def last_backup_set(database):
    _check_text(database, "database name")
    return _read(
        "SELECT TOP (1) backup_set_id, media_set_id, type, first_lsn, last_lsn, database_backup_lsn, "
        "backup_size, compressed_backup_size, backup_start_date, backup_finish_date, is_copy_only "
        "FROM msdb.dbo.backupset WHERE database_name = ? ORDER BY backup_set_id DESC", database)


def server_time():
    """The server's local clock: msdb.dbo.backupset stores local times."""
    return _read("SELECT GETDATE() AS now")


def last_backup_of_type(database, type_code):
    _check_text(database, "database name")
    return _read("SELECT TOP (1) backup_finish_date FROM msdb.dbo.backupset WHERE database_name = ? AND type = ? "
                 "ORDER BY backup_finish_date DESC", database, type_code)


RECENT_BACKUP_SETS = 1000


def last_url_backups():
    """The latest backup sets written to URL (device_type 9), newest first; reduced per database client-side."""
    return _read(
        "SELECT TOP (%d) bs.database_name, bs.type, bs.backup_finish_date "
        "FROM msdb.dbo.backupset AS bs "
        "JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id "
        "WHERE mf.device_type = 9 ORDER BY bs.backup_set_id DESC" % RECENT_BACKUP_SETS)


# --------------------------------------------------------------------------- restore

def _from_urls(urls):
    if not urls:
        raise InvalidInputError("a restore needs at least one URL.")
    for url in urls:
        _check_text(url, "URL")
    return ", ".join(["URL = ?"] * len(urls)), list(urls)


def restore_filelistonly(urls):
    clause, params = _from_urls(urls)
    return _read("RESTORE FILELISTONLY FROM " + clause, *params)


def restore_headeronly(urls):
    clause, params = _from_urls(urls)
    return _read("RESTORE HEADERONLY FROM " + clause, *params)


def restore_verifyonly(urls, checksum=True):
    clause, params = _from_urls(urls)
    return _read("RESTORE VERIFYONLY FROM %s WITH %s" % (clause, "CHECKSUM" if checksum else "NO_CHECKSUM"), *params)


def restore(database, urls, log=False, moves=(), replace=False, recovery=True, stopat=None, stats=10,
            checksum=True):
    """RESTORE DATABASE|LOG [db] FROM URL = @u... WITH MOVE @l TO @p, ... (one backup set: restore_step with RECOVERY
    or NORECOVERY)."""
    return restore_step(database, urls, log=log, moves=moves, replace=replace,
                        finish="recovery" if recovery else "norecovery", stopat=stopat, checksum=checksum, stats=stats)


def last_restore(database):
    """The latest restore onto a database (msdb.dbo.restorehistory)."""
    _check_text(database, "database name")
    return _read(
        "SELECT TOP (1) restore_history_id, backup_set_id FROM msdb.dbo.restorehistory "
        "WHERE destination_database_name = ? ORDER BY restore_history_id DESC", database)


def backup_set_urls(backup_set_id):
    return _read(
        "SELECT mf.physical_device_name FROM msdb.dbo.backupset AS bs "
        "JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id "
        "WHERE bs.backup_set_id = ?", int(backup_set_id))


# --------------------------------------------------------------------------- server-level reads for sql_info

def entra_logins():
    return _read("SELECT name, type, is_disabled FROM sys.server_principals WHERE type IN ('E', 'X') ORDER BY name")


def sysadmin_members():
    return _read(
        "SELECT p.name, p.type FROM sys.server_role_members AS m "
        "JOIN sys.server_principals AS r ON r.principal_id = m.role_principal_id "
        "JOIN sys.server_principals AS p ON p.principal_id = m.member_principal_id "
        "WHERE r.name = 'sysadmin' ORDER BY p.name")


# --------------------------------------------------------------------------- backup history and restore chains
# (sql_backup_info, sql_restore's chains; Microsoft Learn "backupset", "backupmediafamily", "RESTORE Statements")

# msdb.dbo.backupmediafamily.device_type of a backup to URL.
URL_DEVICE_TYPE = 9


def backup_history(databases):
    """Every backup to URL of `databases`, one row per stripe (backupset JOIN backupmediafamily), oldest first.

    backupset.type: D full, I differential, L log (F, G, P, Q are file and partial backups). checkpoint_lsn of a full
    is what a differential's database_backup_lsn points at ("backupset", Log Sequence Numbers and Restore Planning).
    """
    if not databases:
        raise InvalidInputError("backup history needs at least one database name.")
    for database in databases:
        _check_text(database, "database name")
    return _read(
        "SELECT bs.backup_set_id, bs.database_name, bs.server_name, bs.type, bs.is_copy_only, bs.first_lsn, "
        "bs.last_lsn, bs.checkpoint_lsn, bs.database_backup_lsn, bs.backup_start_date, bs.backup_finish_date, "
        "mf.family_sequence_number, mf.physical_device_name "
        "FROM msdb.dbo.backupset AS bs "
        "JOIN msdb.dbo.backupmediafamily AS mf ON mf.media_set_id = bs.media_set_id "
        "WHERE mf.device_type = %d AND bs.database_name IN (%s) "
        "ORDER BY bs.backup_set_id, mf.family_sequence_number"
        % (URL_DEVICE_TYPE, ", ".join(["?"] * len(databases))), *databases)


RESTORE_FINISH = ("recovery", "norecovery", "standby")


def restore_step(database, urls, log=False, moves=(), replace=False, finish="norecovery", standby_file=None,
                 stopat=None, checksum=True, stats=10):
    """One RESTORE DATABASE|LOG of a chain: WITH NORECOVERY until the last, which ends WITH RECOVERY, NORECOVERY or
    STANDBY = @undo_file (read-only between log restores). STOPAT and STANDBY take variables."""
    if finish not in RESTORE_FINISH:
        raise InvalidInputError("finish %r is not one of %s." % (finish, ", ".join(RESTORE_FINISH)))
    quoted = quote_name(database, "database name")
    clause, params = _from_urls(urls)
    options = []
    for logical, physical in moves:
        _check_text(logical, "logical file name")
        _check_text(physical, "file path")
        options.append("MOVE ? TO ?")
        params.extend([logical, physical])
    if replace:
        options.append("REPLACE")
    if finish == "standby":
        _check_text(standby_file, "standby file")
        options.append("STANDBY = ?")
        params.append(standby_file)
    else:
        options.append(finish.upper())
    if checksum:
        options.append("CHECKSUM")
    if stopat:
        _check_text(stopat, "stopat")
        options.append("STOPAT = ?")
        params.append(stopat)
    if stats:
        options.append("STATS = %d" % int(stats))
    return _write("RESTORE %s %s FROM %s WITH %s" % ("LOG" if log else "DATABASE", quoted, clause, ", ".join(options)),
                  *params)


# --------------------------------------------------------------------------- Always On availability groups
# (sql_info's membership report, sql_backup's preferred-replica decision; Microsoft Learn "Offload supported backups
# to secondary replicas of an availability group", "sys.fn_hadr_backup_is_preferred_replica (Transact-SQL)")

def hadr_enabled():
    """SERVERPROPERTY('IsHadrEnabled'): 1 when Always On availability groups are enabled on the instance. Without it
    no database can be in a group, so the reads below (which need VIEW SERVER STATE for the DMVs) are skipped."""
    return _read("SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int) AS is_hadr_enabled")


def local_availability_groups():
    """The groups this instance is a replica of, with this replica's role and health (is_local = 1): the
    automated backup preference is the group's, the backup priority this replica's."""
    return _read(
        "SELECT ag.name, ag.automated_backup_preference_desc, ar.replica_server_name, ar.backup_priority, "
        "rs.role_desc, rs.synchronization_health_desc "
        "FROM sys.availability_groups AS ag "
        "JOIN sys.availability_replicas AS ar ON ar.group_id = ag.group_id "
        "JOIN sys.dm_hadr_availability_replica_states AS rs ON rs.replica_id = ar.replica_id "
        "WHERE rs.is_local = 1 ORDER BY ag.name")


def availability_databases():
    """Every database of this instance that is in an availability group (sys.databases.replica_id is the local
    replica's id), its group, whether this replica is its primary and whether it is the preferred backup replica.

    sys.fn_hadr_backup_is_preferred_replica weighs the group's automated backup preference, the replicas' backup
    priorities and which replicas are online and connected - the check a backup job is meant to make on every
    replica. The catalog views are LEFT JOINed: a login that may not see them still gets the two functions.
    """
    return _read(
        "SELECT d.name AS database_name, ag.name AS group_name, "
        "ag.automated_backup_preference_desc AS automated_backup_preference, "
        "sys.fn_hadr_is_primary_replica(d.name) AS is_primary_replica, "
        "sys.fn_hadr_backup_is_preferred_replica(d.name) AS is_preferred_backup_replica "
        "FROM sys.databases AS d "
        "LEFT JOIN sys.availability_replicas AS ar ON ar.replica_id = d.replica_id "
        "LEFT JOIN sys.availability_groups AS ag ON ag.group_id = ar.group_id "
        "WHERE d.replica_id IS NOT NULL ORDER BY d.name")
