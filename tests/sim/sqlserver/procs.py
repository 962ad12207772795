"""System procedures the drivers call (both ODBC drivers call sp_datatype_info_100 at connect, FACTS)."""
from __future__ import annotations

from . import catalog as C
from . import errors as E

SMALLINT = C.SMALLINT

# (TYPE_NAME, DATA_TYPE, PRECISION, prefix, suffix, create_params, case_sensitive, searchable, money, sql_data_type)
_TYPES = [
    ("varchar", 12, 8000, "'", "'", "max length", 0, 3, 0, 12),
    ("nvarchar", -9, 4000, "N'", "'", "max length", 0, 3, 0, -9),
    ("varbinary", -3, 8000, "0x", None, "max length", 0, 2, 0, -3),
    ("datetime", 93, 23, "'", "'", None, 0, 3, 0, 9),
    ("smalldatetime", 93, 16, "'", "'", None, 0, 3, 0, 9),
    ("datetime2", 93, 27, "'", "'", "scale", 0, 3, 0, 9),
    ("int", 4, 10, None, None, None, 0, 2, 0, 4),
    ("bigint", -5, 19, None, None, None, 0, 2, 0, -5),
    ("bit", -7, 1, None, None, None, 0, 2, 0, -7),
]

_COLUMNS = [("TYPE_NAME", C.SYSNAME), ("DATA_TYPE", SMALLINT), ("PRECISION", C.INT),
            ("LITERAL_PREFIX", C.varchar(32)), ("LITERAL_SUFFIX", C.varchar(32)), ("CREATE_PARAMS", C.varchar(32)),
            ("NULLABLE", SMALLINT), ("CASE_SENSITIVE", SMALLINT), ("SEARCHABLE", SMALLINT),
            ("UNSIGNED_ATTRIBUTE", SMALLINT), ("MONEY", SMALLINT), ("AUTO_INCREMENT", SMALLINT),
            ("LOCAL_TYPE_NAME", C.SYSNAME), ("MINIMUM_SCALE", SMALLINT), ("MAXIMUM_SCALE", SMALLINT),
            ("SQL_DATA_TYPE", SMALLINT), ("SQL_DATETIME_SUB", SMALLINT), ("NUM_PREC_RADIX", C.INT),
            ("INTERVAL_PRECISION", SMALLINT), ("USERTYPE", SMALLINT)]


def _datatype_info(ctx, args):
    want = args[0][1] if args else None
    rows = []
    for name, dt, prec, pre, suf, cp, cs, srch, money, sqldt in _TYPES:
        if want not in (None, 0) and dt != want:
            continue
        numeric = dt in (4, -5, -7)
        rows.append([name, dt, prec, pre, suf, cp, 1, cs, srch, 0 if numeric else None, money, 0 if numeric else None,
                     name, 0 if dt == 93 else None, 7 if name == "datetime2" else (3 if dt == 93 else None), sqldt,
                     3 if dt == 93 else None, 10 if numeric else None, None, 0])
    ctx.result.sets.append((_COLUMNS, rows))
    ctx.result.rowcount = len(rows)


# System stored procedures SQL Server has ("System stored procedures (Transact-SQL)") that the world does not
# run: they answer "not modelled" instead of Msg 2812, which would claim they do not exist.
SYSTEM_PROCEDURES = {
    "sp_who", "sp_who2", "sp_configure", "sp_helpdb", "sp_help", "sp_helptext", "sp_helplogins", "sp_helpuser",
    "sp_helprole", "sp_helprolemember", "sp_helpsrvrole", "sp_helpsrvrolemember", "sp_addsrvrolemember",
    "sp_dropsrvrolemember", "sp_addrolemember", "sp_droprolemember", "sp_addlogin", "sp_droplogin", "sp_adduser",
    "sp_dropuser", "sp_grantlogin", "sp_revokelogin", "sp_password", "sp_defaultdb", "sp_changedbowner",
    "sp_spaceused", "sp_lock", "sp_databases", "sp_server_info", "sp_tables", "sp_columns", "sp_stored_procedures",
    "sp_pkeys", "sp_fkeys", "sp_statistics", "sp_special_columns", "sp_sproc_columns", "sp_set_session_context",
    "sp_readerrorlog", "sp_cycle_errorlog", "sp_addmessage", "sp_dropmessage", "sp_rename", "sp_msforeachdb",
    "sp_msforeachtable", "sp_describe_first_result_set", "sp_describe_undeclared_parameters", "sp_getapplock",
    "sp_releaseapplock", "sp_addextendedproperty", "sp_updatestats", "sp_recompile", "sp_refreshview",
    "sp_get_database_scoped_credential", "sp_delete_backuphistory", "sp_add_job", "sp_start_job",
    "sp_executesql", "sp_prepare", "sp_execute", "sp_unprepare", "sp_prepexec", "sp_cursoropen", "sp_cursorfetch",
    "sp_cursorclose", "sp_reset_connection", "xp_readerrorlog", "xp_cmdshell", "xp_msver", "xp_fixeddrives",
    "xp_instance_regread", "xp_regread", "xp_logininfo",
}


def run_procedure(ctx, proc, args):
    if proc.lower() in ("sp_datatype_info_100", "sp_datatype_info", "sp_datatype_info_90"):
        return _datatype_info(ctx, args)
    if proc.lower() in SYSTEM_PROCEDURES:
        raise E.not_modelled(f"The system procedure {proc}")
    raise E.SqlError(2812, 16, 62, f"Could not find stored procedure '{proc}'.")
