"""A small T-SQL engine: recursive-descent parser for the statement families the collection uses,
and a modest SELECT over the catalog views (README.md lists exactly what is understood).

A whole batch is parsed before anything runs, so a syntax error (Msg 102/156) runs nothing — as in
SQL Server.  Each statement is a closure run by `Engine.run`, which collects result sets and messages.
"""
from __future__ import annotations

import datetime as _dt
import fnmatch
import re

from . import catalog as C
from . import errors as E
from .lexer import RESERVED, LexError, tokenize

SET_OPTIONS_ONOFF = {"ANSI_NULLS", "QUOTED_IDENTIFIER", "NOCOUNT", "ANSI_WARNINGS", "ANSI_PADDING",
                     "CONCAT_NULL_YIELDS_NULL", "ARITHABORT", "XACT_ABORT", "IMPLICIT_TRANSACTIONS",
                     "CURSOR_CLOSE_ON_COMMIT", "ANSI_NULL_DFLT_ON", "ANSI_NULL_DFLT_OFF", "ANSI_DEFAULTS",
                     "NUMERIC_ROUNDABORT", "FMTONLY", "NOEXEC", "PARSEONLY", "ARITHIGNORE", "NO_BROWSETABLE",
                     "STATISTICS"}
SET_OPTIONS_VALUE = {"TEXTSIZE", "LOCK_TIMEOUT", "DATEFORMAT", "DATEFIRST", "LANGUAGE", "ROWCOUNT",
                     "DEADLOCK_PRIORITY", "CONTEXT_INFO", "QUERY_GOVERNOR_COST_LIMIT"}
# SET statements of SQL Server ("SET Statements (Transact-SQL)") that change what a statement does, so the
# world cannot accept them as no-ops: they answer "not modelled".
SET_OPTIONS_UNMODELLED = {"SHOWPLAN_ALL", "SHOWPLAN_TEXT", "SHOWPLAN_XML", "FORCEPLAN", "FIPS_FLAGGER",
                          "IDENTITY_INSERT", "OFFSETS", "REMOTE_PROC_TRANSACTIONS", "RESULT_SET_CACHING"}

# Statements of T-SQL ("Transact-SQL statements" reference) that the world does not model at all.
UNMODELLED_STATEMENTS = {"DECLARE", "PRINT", "MERGE", "WHILE", "RAISERROR",
                         "TRUNCATE", "GRANT", "REVOKE", "DENY", "WAITFOR", "GOTO", "RETURN", "BREAK", "CONTINUE",
                         "WITH", "CHECKPOINT", "KILL", "SHUTDOWN", "RECONFIGURE", "OPEN", "FETCH", "CLOSE",
                         "DEALLOCATE", "BULK", "READTEXT", "UPDATETEXT", "WRITETEXT", "SAVE", "REVERT", "SETUSER",
                         "THROW"}
# What follows CREATE / ALTER / DROP in SQL Server's DDL reference; the world models only some of them.
DDL_OBJECT_KINDS = {"TABLE", "VIEW", "PROCEDURE", "PROC", "FUNCTION", "TRIGGER", "INDEX", "UNIQUE", "CLUSTERED",
                    "NONCLUSTERED", "COLUMNSTORE", "SCHEMA", "ROLE", "CERTIFICATE", "MASTER", "SYMMETRIC",
                    "ASYMMETRIC", "ENDPOINT", "AVAILABILITY", "EVENT", "TYPE", "SEQUENCE", "SYNONYM", "STATISTICS",
                    "SERVER", "APPLICATION", "ASSEMBLY", "DEFAULT", "RULE", "XML", "FULLTEXT", "PARTITION", "QUEUE",
                    "SERVICE", "CONTRACT", "MESSAGE", "ROUTE", "REMOTE", "RESOURCE", "WORKLOAD", "EXTERNAL",
                    "SECURITY", "CRYPTOGRAPHIC", "COLUMN", "SPATIAL", "SEARCH", "BROKER", "OR", "USER", "LOGIN",
                    "CREDENTIAL", "DATABASE", "AUTHORIZATION"}
DDL_TWO_WORD_KINDS = {"OR", "UNIQUE", "CLUSTERED", "NONCLUSTERED", "COLUMNSTORE", "MASTER", "SYMMETRIC", "ASYMMETRIC",
                      "SERVER", "AVAILABILITY", "EVENT", "APPLICATION", "EXTERNAL", "FULLTEXT", "PARTITION",
                      "SECURITY", "CRYPTOGRAPHIC", "RESOURCE", "WORKLOAD", "REMOTE", "XML", "SPATIAL", "SEARCH",
                      "COLUMN", "BROKER", "MESSAGE"}
# Clauses of SELECT ("SELECT (Transact-SQL)", "FROM clause") beyond the modelled subset.
SELECT_UNMODELLED_CLAUSES = {"HAVING", "UNION", "EXCEPT", "INTERSECT", "INTO", "FOR", "OPTION", "OFFSET",
                             "WINDOW", "CROSS", "OUTER", "RIGHT", "FULL", "PIVOT", "UNPIVOT", "TABLESAMPLE", "WITH"}
# Documented DBCC commands ("DBCC (Transact-SQL)") besides the modelled ones: not modelled, not Msg 2526.
DBCC_UNMODELLED = {"CHECKALLOC", "CHECKCATALOG", "CHECKCONSTRAINTS", "CHECKDB", "CHECKFILEGROUP", "CHECKIDENT",
                   "CHECKTABLE", "CLEANTABLE", "CLONEDATABASE", "DBREINDEX", "DROPCLEANBUFFERS", "FREEPROCCACHE",
                   "FREESESSIONCACHE", "HELP", "INDEXDEFRAG", "INPUTBUFFER", "OPENTRAN", "OUTPUTBUFFER",
                   "PDW_SHOWSPACEUSED", "PROCCACHE", "SHOW_STATISTICS", "SHOWCONTIG", "SHRINKDATABASE", "SHRINKFILE", "SQLPERF",
                   "UPDATEUSAGE", "USEROPTIONS", "SHOWFILESTATS", "MEMORYSTATUS"}
# Built-in functions ("What are the SQL database functions?") the expression evaluator does not compute.
MODELLED_FUNCTIONS = {"SERVERPROPERTY", "DB_NAME", "DB_ID", "SUSER_SNAME", "SUSER_NAME", "SYSTEM_USER",
                      "ORIGINAL_LOGIN", "USER_NAME", "CURRENT_USER", "SESSION_USER", "SUSER_SID", "IS_SRVROLEMEMBER",
                      "IS_MEMBER", "HAS_PERMS_BY_NAME", "ISNULL", "COALESCE", "NULLIF", "UPPER", "LOWER", "LEN",
                      "LEFT", "GETDATE", "SYSDATETIME", "GETUTCDATE", "PWDCOMPARE", "QUOTENAME", "OBJECT_ID",
                      "DATEADD", "DATEDIFF"}
# System data types ("Data types (Transact-SQL)") besides the ones catalog.parse_type_name models.
SYSTEM_TYPES = {"decimal", "numeric", "money", "smallmoney", "real", "smalldatetime", "datetimeoffset", "time",
                "uniqueidentifier", "text", "ntext", "image", "xml", "sql_variant", "hierarchyid", "geometry",
                "geography", "rowversion", "timestamp", "json", "vector"}
# Aggregate functions the evaluator computes (with or without GROUP BY; no HAVING, no DISTINCT inside).
AGGREGATES = {"MAX", "MIN", "SUM", "AVG", "COUNT_BIG"}
# Functions of the sys schema ("Always On availability groups functions") the evaluator computes.
SYS_FUNCTIONS = {"FN_HADR_BACKUP_IS_PREFERRED_REPLICA", "FN_HADR_IS_PRIMARY_REPLICA"}
BUILTIN_FUNCTIONS = {"ABS", "ASCII", "CEILING", "CHAR", "CHARINDEX", "CHOOSE", "CONCAT", "CONCAT_WS", "DATALENGTH",
                     "DATEADD", "DATEDIFF", "DATEDIFF_BIG", "DATEFROMPARTS", "DATENAME", "DATEPART", "DAY",
                     "DB_NAME", "DATABASEPROPERTYEX", "EOMONTH", "ERROR_LINE", "ERROR_MESSAGE", "ERROR_NUMBER",
                     "ERROR_PROCEDURE", "ERROR_SEVERITY", "ERROR_STATE", "EXP", "FILE_ID", "FILE_NAME",
                     "FILEPROPERTY", "FLOOR", "FORMAT", "FORMATMESSAGE", "GETUTCDATE", "HASHBYTES", "HOST_NAME",
                     "IIF", "ISDATE", "ISJSON", "ISNUMERIC", "JSON_VALUE", "JSON_QUERY", "LOG", "LOGINPROPERTY",
                     "LTRIM", "MAX", "MIN", "AVG", "SUM", "STDEV", "VAR", "MONTH", "NCHAR", "NEWID", "OBJECT_NAME",
                     "OBJECT_SCHEMA_NAME", "OBJECTPROPERTY", "PARSENAME", "PATINDEX", "POWER", "RAND", "REPLACE",
                     "REPLICATE", "REVERSE", "RIGHT", "ROUND", "ROW_NUMBER", "RANK", "DENSE_RANK", "NTILE",
                     "RTRIM", "SCHEMA_ID", "SCHEMA_NAME", "SCOPE_IDENTITY", "SIGN", "SPACE", "SQRT", "STR",
                     "STRING_AGG", "STRING_SPLIT", "STUFF", "SUBSTRING", "SWITCHOFFSET", "SYSDATETIMEOFFSET",
                     "SYSUTCDATETIME", "TODATETIMEOFFSET", "TRANSLATE", "TRIM", "TRY_CONVERT", "TRY_PARSE",
                     "PARSE", "TYPE_ID", "TYPE_NAME", "UNICODE", "USER_ID", "YEAR", "COL_NAME", "COLUMNPROPERTY",
                     "CONTEXT_INFO", "CURRENT_TIMESTAMP", "DATABASE_PRINCIPAL_ID", "SUSER_ID", "APP_NAME",
                     "CERTPROPERTY", "CHECKSUM", "BINARY_CHECKSUM", "COMPRESS", "DECOMPRESS", "CRYPT_GEN_RANDOM",
                     "ENCRYPTBYPASSPHRASE", "DECRYPTBYPASSPHRASE", "SESSION_CONTEXT", "STRING_ESCAPE",
                     "OPENJSON", "OPENROWSET", "OPENQUERY", "OPENXML", "FULLTEXTSERVICEPROPERTY", "INDEXPROPERTY",
                     "COUNT_BIG", "GROUPING", "LAG", "LEAD", "FIRST_VALUE", "LAST_VALUE", "NEWSEQUENTIALID",
                     "PERMISSIONS", "SQL_VARIANT_PROPERTY", "XACT_STATE", "GREATEST", "LEAST", "DATETRUNC"}


class Result:
    """What one statement produced."""

    def __init__(self):
        self.sets = []       # [(columns, rows)]
        self.messages = []   # [(number, class, state, text)]
        self.rowcount = None
        self.error = False
        self.envchanges = []  # (type, new, old) ENVCHANGE tokens, e.g. USE → database
        self.line = 1


class Statement:
    def __init__(self, fn, kind, line, text, verb):
        self.fn, self.kind, self.line, self.text, self.verb = fn, kind, line, text, verb


# --------------------------------------------------------------------------- parser

class Parser:
    def __init__(self, sql: str):
        try:
            self.toks = tokenize(sql)
        except LexError as exc:
            if exc.text == "unclosed":
                e = E.SqlError(105, 15, 1, "Unclosed quotation mark after the character string ''.")
                e.batch_abort = True
                raise e
            raise E.syntax_near(exc.text, False)
        self.i = 0
        self.sql = sql

    # -- token helpers
    @property
    def tok(self):
        return self.toks[self.i]

    def peek(self, k=1):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def fail(self, tok=None):
        tok = tok or self.tok
        if tok.kind == "eof":
            prev = self.toks[self.i - 1] if self.i else tok
            return E.syntax_near(prev.text, False)
        text = tok.value if tok.kind == "ident" else tok.text   # SQL Server names identifiers unquoted
        return E.syntax_near(text, tok.kind == "word" and tok.value.upper() in RESERVED)

    def is_kw(self, *words, tok=None):
        t = tok or self.tok
        return t.kind == "word" and t.value.upper() in words

    def kw(self, *words):
        if not self.is_kw(*words):
            raise self.fail()
        return self.next().value.upper()

    def opt_kw(self, *words):
        if self.is_kw(*words):
            return self.next().value.upper()
        return None

    def op(self, o):
        if not (self.tok.kind == "op" and self.tok.value == o):
            raise self.fail()
        self.next()

    def opt_op(self, o):
        if self.tok.kind == "op" and self.tok.value == o:
            self.next()
            return True
        return False

    def name(self):
        t = self.tok
        if t.kind == "ident" or (t.kind == "word" and t.value.upper() not in RESERVED):
            self.next()
            return t.value
        raise self.fail()

    def multipart(self):
        parts = [self.name()]
        while self.tok.kind == "op" and self.tok.value == ".":
            self.next()
            if self.tok.kind == "op" and self.tok.value == ".":
                parts.append("dbo")
                continue
            parts.append(self.name())
        return parts

    def string_or_param(self):
        t = self.tok
        if t.kind == "str":
            self.next()
            return ("lit", t.value)
        if t.kind == "var" and not t.value.startswith("@@"):
            self.next()
            return ("param", t.value)
        raise self.fail()

    # -- batch
    def parse_batch(self):
        stmts = []
        while True:
            while self.opt_op(";"):
                pass
            if self.tok.kind == "eof":
                return stmts
            start = self.tok
            first = len(stmts) == 0
            fn, kind, verb = self.statement(first)
            end = self.toks[self.i - 1]
            stmts.append(Statement(fn, kind, start.line, self.sql[start.pos:end.pos + len(end.text)], verb))

    def statement(self, first):
        t = self.tok
        u = t.value.upper() if t.kind == "word" else None
        if u in UNMODELLED_STATEMENTS:
            raise E.not_modelled(f"The {u} statement" if u != "WITH" else "WITH (a common table expression)")
        if u in ("ENABLE", "DISABLE") and self.is_kw("TRIGGER", tok=self.peek()):
            raise E.not_modelled(f"{u} TRIGGER")
        if u == "BEGIN" and not self.is_kw("TRAN", "TRANSACTION", tok=self.peek()):
            nxt = self.peek()
            what = {"TRY": "BEGIN TRY … END TRY", "DISTRIBUTED": "BEGIN DISTRIBUTED TRANSACTION",
                    "DIALOG": "BEGIN DIALOG", "CONVERSATION": "BEGIN CONVERSATION TIMER"}.get(
                nxt.value.upper() if nxt.kind == "word" else "", "BEGIN … END (a statement block)")
            raise E.not_modelled(what)
        if u == "SELECT":
            return self.p_select(), "read", "SELECT"
        if u == "SET":
            return self.p_set(), "read", "SET"
        if u == "USE":
            self.next()
            name = self.name()
            return (lambda ctx: ctx.use(name)), "read", "USE"
        if u in ("EXEC", "EXECUTE"):
            self.next()
            return self.p_exec()
        if u == "CREATE":
            return self.p_create()
        if u == "ALTER":
            return self.p_alter()
        if u == "DROP":
            return self.p_drop()
        if u == "DBCC":
            return self.p_dbcc()
        if u == "INSERT":
            return self.p_insert(), "write", "INSERT"
        if u == "UPDATE":
            return self.p_update(), "write", "UPDATE"
        if u == "DELETE":
            return self.p_delete(), "write", "DELETE"
        if u in ("BACKUP", "RESTORE"):
            from .backup import parse_backup_restore
            return parse_backup_restore(self)
        if u in ("BEGIN", "COMMIT", "ROLLBACK"):
            return self.p_tran()
        if u == "IF":
            # IF <condition> <statement> — FreeTDS sends "IF @@TRANCOUNT > 0 COMMIT TRAN" on commit
            self.next()
            cond = self.expr()
            fn, kind, verb = self.statement(False)
            if self.is_kw("ELSE"):
                raise E.not_modelled("IF … ELSE")
            return (lambda ctx: fn(ctx) if ctx.eval(cond, {}) is True else None), kind, verb
        if first and (t.kind == "ident" or (t.kind == "word" and u not in RESERVED)):
            return self.p_exec()  # a batch may start with a bare procedure name
        raise self.fail()

    # -- INSERT / UPDATE / DELETE on user tables ("INSERT (Transact-SQL)", "UPDATE", "DELETE"): the plain forms
    def _dml_unmodelled(self, verb):
        if self.is_kw("TOP", "OUTPUT", "FROM", "SELECT", "DEFAULT", "EXEC", "EXECUTE", "WITH", "OPTION"):
            raise E.not_modelled(f"{verb} … {self.tok.value.upper()}")

    def p_insert(self):
        self.kw("INSERT")
        self._dml_unmodelled("INSERT")
        self.opt_kw("INTO")
        parts = self.multipart()
        columns = None
        if self.opt_op("("):
            columns = [self.name()]
            while self.opt_op(","):
                columns.append(self.name())
            self.op(")")
        self._dml_unmodelled("INSERT")
        self.kw("VALUES")
        rows = []
        while True:
            self.op("(")
            row = [self.expr()]
            while self.opt_op(","):
                row.append(self.expr())
            self.op(")")
            rows.append(row)
            if not self.opt_op(","):
                break
        return lambda ctx: ctx.insert(parts, columns, rows)

    def p_update(self):
        self.kw("UPDATE")
        self._dml_unmodelled("UPDATE")
        parts = self.multipart()
        self.kw("SET")
        assignments = []
        while True:
            col = self.name()
            self.op("=")
            assignments.append((col, self.expr()))
            if not self.opt_op(","):
                break
        self._dml_unmodelled("UPDATE")
        where = self.expr() if self.opt_kw("WHERE") else None
        return lambda ctx: ctx.update(parts, assignments, where)

    def p_delete(self):
        self.kw("DELETE")
        if self.is_kw("TOP", "OUTPUT"):
            raise E.not_modelled(f"DELETE … {self.tok.value.upper()}")
        self.opt_kw("FROM")
        parts = self.multipart()
        self._dml_unmodelled("DELETE")
        where = self.expr() if self.opt_kw("WHERE") else None
        return lambda ctx: ctx.delete(parts, where)

    def p_tran(self):
        verb = self.next().value.upper()
        self.opt_kw("TRAN", "TRANSACTION", "WORK")
        if verb == "BEGIN":
            return (lambda ctx: ctx.begin_tran()), "read", "BEGIN TRANSACTION"
        return (lambda ctx: ctx.end_tran(verb)), "read", verb

    def p_set(self):
        self.kw("SET")
        t = self.tok
        if t.kind == "var" and not t.value.startswith("@@"):
            raise E.not_modelled("SET @variable")
        if t.kind != "word":
            raise self.fail()
        opt = t.value.upper()
        if opt in SET_OPTIONS_UNMODELLED:
            raise E.not_modelled(f"SET {opt}")
        self.next()
        if opt in SET_OPTIONS_ONOFF:
            # SET NOEXEC, PARSEONLY, FMTONLY OFF / SET STATISTICS IO, TIME ON: one ON|OFF for a list (SSMS sends
            # the first form)
            opts = [opt]
            if opt == "STATISTICS":
                self.kw("IO", "TIME", "XML", "PROFILE")
            while self.opt_op(","):
                if opt == "STATISTICS":
                    self.kw("IO", "TIME", "XML", "PROFILE")
                    continue
                nxt = self.tok
                if nxt.kind != "word" or nxt.value.upper() not in SET_OPTIONS_ONOFF - {"STATISTICS"}:
                    raise self.fail()
                opts.append(self.next().value.upper())
            state = self.kw("ON", "OFF")
            return lambda ctx: [ctx.set_option(o, state == "ON") for o in opts]
        if opt == "TRANSACTION":
            self.kw("ISOLATION")
            self.kw("LEVEL")
            if self.opt_kw("READ"):
                self.kw("COMMITTED", "UNCOMMITTED")
            elif self.opt_kw("REPEATABLE"):
                self.kw("READ")
            else:
                self.kw("SERIALIZABLE", "SNAPSHOT")
            return lambda ctx: None
        if opt in SET_OPTIONS_VALUE:
            if self.tok.kind in ("num", "str", "word", "ident", "hex"):
                self.next()
            elif self.opt_op("-"):
                if self.tok.kind != "num":
                    raise self.fail()
                self.next()
            else:
                raise self.fail()
            return lambda ctx: None
        raise self.fail(t)

    def p_exec(self):
        parts = self.multipart()
        proc = parts[-1]
        args = []
        if self.tok.kind != "eof" and not (self.tok.kind == "op" and self.tok.value == ";") and \
                not self.is_kw(*STATEMENT_STARTS):
            while True:
                pname = None
                if self.tok.kind == "var" and self.peek().kind == "op" and self.peek().value == "=":
                    pname = self.next().value
                    self.next()
                args.append((pname, self.expr()))
                if not self.opt_op(","):
                    break
        return (lambda ctx: ctx.exec_proc(proc, [(n, ctx.eval(e, {})) for n, e in args])), "read", "EXECUTE"

    # -- logins, users, roles, credentials
    def ddl_kind(self, verb, *modelled):
        """The object kind after CREATE/ALTER/DROP: one of `modelled`, else "not modelled" for a kind SQL Server
        has, else a syntax error."""
        if self.is_kw(*modelled):
            return self.next().value.upper()
        if self.tok.kind == "word" and self.tok.value.upper() in DDL_OBJECT_KINDS:
            kind = self.tok.value.upper()
            nxt = self.peek()
            if kind in DDL_TWO_WORD_KINDS and nxt.kind == "word":
                kind += " " + nxt.value.upper()
            raise E.not_modelled(f"{verb} {kind}")
        raise self.fail()

    def p_create(self):
        self.kw("CREATE")
        what = self.ddl_kind("CREATE", "LOGIN", "USER", "CREDENTIAL", "DATABASE", "TABLE")
        if what == "TABLE":
            return self.p_create_table()
        if what == "LOGIN":
            name = self.name()
            if self.opt_kw("FROM"):
                self.kw("EXTERNAL")
                self.kw("PROVIDER")
                object_id = None
                if self.opt_kw("WITH"):
                    self.kw("OBJECT_ID")
                    self.op("=")
                    object_id = self.string_or_param()
                return (lambda ctx: ctx.create_external_login(name, ctx.eval(object_id, {}) if object_id else None),
                        "write", "CREATE LOGIN")
            self.kw("WITH")
            opts = self.p_login_options()
            if "PASSWORD" not in opts:
                raise self.fail()
            return (lambda ctx: ctx.create_sql_login(name, {k: ctx.eval(v, {}) for k, v in opts.items()}),
                    "write", "CREATE LOGIN")
        if what == "USER":
            name = self.name()
            login = name
            external = False
            if self.opt_kw("FROM", "FOR"):
                if self.opt_kw("EXTERNAL"):
                    self.kw("PROVIDER")
                    external = True
                else:
                    self.kw("LOGIN")
                    login = self.name()
            elif self.opt_kw("WITHOUT"):
                self.kw("LOGIN")
                login = None
            if self.opt_kw("WITH"):
                self.kw("DEFAULT_SCHEMA")
                self.op("=")
                self.name()
            return (lambda ctx: ctx.create_user(name, login, external)), "write", "CREATE USER"
        if what == "CREDENTIAL":
            name = self.name()
            self.kw("WITH")
            opts = self.p_credential_options()
            return (lambda ctx: ctx.create_credential(name, {k: ctx.eval(v, {}) for k, v in opts.items()}),
                    "write", "CREATE CREDENTIAL")
        name = self.name()
        return (lambda ctx: ctx.create_database(name)), "write", "CREATE DATABASE"

    def p_create_table(self):
        """CREATE TABLE [db.][schema.]t (column type [NULL | NOT NULL | PRIMARY KEY], …): the plain form."""
        parts = self.multipart()
        self.op("(")
        columns = []
        while True:
            if self.is_kw("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "INDEX", "PERIOD"):
                raise E.not_modelled(f"CREATE TABLE … {self.tok.value.upper()} (a table constraint)")
            cname = self.name()
            tname, length = self.p_type_spec()
            try:
                C.parse_type_name(tname, length)
            except KeyError:
                if tname.lower() in SYSTEM_TYPES:
                    raise E.not_modelled(f"A column of type {tname.lower()}")
                raise E.SqlError(2715, 16, 6, f"Column, parameter, or variable #{len(columns) + 1}: Cannot find data "
                                              f"type {tname}.")
            while True:
                if self.opt_kw("NULL"):
                    continue
                if self.is_kw("NOT") and self.is_kw("NULL", tok=self.peek()):
                    self.next()
                    self.next()
                    continue
                if self.opt_kw("PRIMARY"):
                    self.kw("KEY")
                    self.opt_kw("CLUSTERED", "NONCLUSTERED")
                    continue
                break
            if self.tok.kind == "word":
                raise E.not_modelled(f"CREATE TABLE … {self.tok.value.upper()} (a column option)")
            columns.append((cname, tname.lower() + (f"({length})" if length is not None else "")))
            if not self.opt_op(","):
                break
        self.op(")")
        if self.tok.kind == "word" and self.tok.value.upper() in ("ON", "WITH", "TEXTIMAGE_ON", "FILESTREAM_ON"):
            raise E.not_modelled(f"CREATE TABLE … {self.tok.value.upper()}")
        return (lambda ctx: ctx.create_table(parts, columns)), "write", "CREATE TABLE"

    def p_login_options(self):
        opts = {}
        while True:
            key = self.kw("PASSWORD", "CHECK_POLICY", "CHECK_EXPIRATION", "DEFAULT_DATABASE", "DEFAULT_LANGUAGE",
                          "SID", "OLD_PASSWORD", "NAME")
            self.op("=")
            if key in ("CHECK_POLICY", "CHECK_EXPIRATION"):
                opts[key] = ("lit", self.kw("ON", "OFF"))
            elif key in ("DEFAULT_DATABASE", "DEFAULT_LANGUAGE", "NAME"):
                opts[key] = ("lit", self.name())
            elif key == "SID":
                if self.tok.kind != "hex":
                    raise self.fail()
                opts[key] = ("lit", self.next().value)
            else:
                opts[key] = self.string_or_param()
                while self.opt_kw("MUST_CHANGE", "HASHED", "UNLOCK"):
                    pass
            if not self.opt_op(","):
                return opts

    def p_credential_options(self):
        opts = {}
        while True:
            key = self.kw("IDENTITY", "SECRET")
            self.op("=")
            opts[key] = self.string_or_param()
            if not self.opt_op(","):
                break
        if "IDENTITY" not in opts:
            raise self.fail()
        return opts

    def p_alter(self):
        self.kw("ALTER")
        what = self.ddl_kind("ALTER", "LOGIN", "SERVER", "ROLE", "CREDENTIAL", "DATABASE", "AUTHORIZATION")
        if what == "AUTHORIZATION":
            self.kw("ON")
            if not self.is_kw("DATABASE") and self.tok.kind == "word" and self.peek().kind == "op" \
                    and self.peek().value == "::":
                raise E.not_modelled(f"ALTER AUTHORIZATION ON {self.tok.value.upper()}::")
            self.kw("DATABASE")
            self.op("::")
            db = self.name()
            self.kw("TO")
            owner = self.name()
            return (lambda ctx: ctx.alter_authorization(db, owner)), "write", "ALTER AUTHORIZATION"
        if what == "LOGIN":
            name = self.name()
            if self.opt_kw("ENABLE"):
                return (lambda ctx: ctx.alter_login_enable(name, True)), "write", "ALTER LOGIN"
            if self.opt_kw("DISABLE"):
                return (lambda ctx: ctx.alter_login_enable(name, False)), "write", "ALTER LOGIN"
            self.kw("WITH")
            opts = self.p_login_options()
            return (lambda ctx: ctx.alter_login_options(name, {k: ctx.eval(v, {}) for k, v in opts.items()}),
                    "write", "ALTER LOGIN")
        if what in ("SERVER", "ROLE"):
            if what == "SERVER":
                if not self.is_kw("ROLE") and self.tok.kind == "word":
                    raise E.not_modelled(f"ALTER SERVER {self.tok.value.upper()}")
                self.kw("ROLE")
            role = self.name()
            if self.is_kw("WITH"):
                raise E.not_modelled(f"ALTER {what} ROLE … WITH NAME" if what == "SERVER" else "ALTER ROLE … WITH NAME")
            action = self.kw("ADD", "DROP")
            self.kw("MEMBER")
            member = self.name()
            if what == "SERVER":
                return (lambda ctx: ctx.alter_server_role(role, action, member)), "write", "ALTER SERVER ROLE"
            return (lambda ctx: ctx.alter_db_role(role, action, member)), "write", "ALTER ROLE"
        if what == "DATABASE":
            name = self.name()
            if self.is_kw("ADD", "MODIFY", "REMOVE", "COLLATE") and not self.is_kw("SET"):
                raise E.not_modelled(f"ALTER DATABASE … {self.tok.value.upper()}")
            self.kw("SET")
            if not self.is_kw("RECOVERY") and self.tok.kind == "word":
                raise E.not_modelled(f"ALTER DATABASE … SET {self.tok.value.upper()}")
            self.kw("RECOVERY")
            model = self.kw("FULL", "SIMPLE", "BULK_LOGGED")
            return (lambda ctx: ctx.alter_database_recovery(name, model)), "write", "ALTER DATABASE"
        name = self.name()
        self.kw("WITH")
        opts = self.p_credential_options()
        return (lambda ctx: ctx.alter_credential(name, {k: ctx.eval(v, {}) for k, v in opts.items()}),
                "write", "ALTER CREDENTIAL")

    def p_drop(self):
        self.kw("DROP")
        what = self.ddl_kind("DROP", "LOGIN", "USER", "CREDENTIAL", "DATABASE", "TABLE")
        if_exists = False
        if what in ("USER", "DATABASE", "TABLE") and self.is_kw("IF") and self.is_kw("EXISTS", tok=self.peek()):
            self.next()
            self.next()
            if_exists = True
        if what == "TABLE":
            parts = self.multipart()
            return (lambda ctx: ctx.drop_table(parts, if_exists)), "write", "DROP TABLE"
        name = self.name()
        return (lambda ctx: ctx.drop(what, name, if_exists)), "write", f"DROP {what}"

    def p_dbcc(self):
        self.kw("DBCC")
        cmd = self.name().upper()
        args = []
        if cmd in DBCC_UNMODELLED:
            raise E.not_modelled(f"DBCC {cmd}")
        if cmd not in ("TRACEON", "TRACEOFF", "TRACESTATUS", "FLUSHAUTHCACHE", "FREESYSTEMCACHE"):
            # DBCC with an unknown command: Msg 2526 "Incorrect DBCC statement. Check the documentation ..."
            def unknown(ctx):
                raise E.SqlError(2526, 16, 3, "Incorrect DBCC statement. Check the documentation for the correct "
                                              "DBCC syntax and options.")
            while self.tok.kind != "eof" and not (self.tok.kind == "op" and self.tok.value == ";"):
                self.next()
            return unknown, "read", "DBCC"
        if self.opt_op("("):
            if not self.opt_op(")"):
                while True:
                    neg = self.opt_op("-")
                    t = self.next()
                    if t.kind == "num":
                        args.append(-t.value if neg else t.value)
                    elif t.kind == "str":
                        args.append(t.value)
                    else:
                        raise self.fail(t)
                    if not self.opt_op(","):
                        break
                self.op(")")
        no_info = False
        if self.opt_kw("WITH"):
            self.kw("NO_INFOMSGS")
            no_info = True
        kind = "read" if cmd == "TRACESTATUS" else "write"
        return (lambda ctx: ctx.dbcc(cmd, args, no_info)), kind, "DBCC " + cmd

    # -- SELECT
    def p_select(self):
        self.kw("SELECT")
        top = None
        self.opt_kw("ALL")
        distinct = bool(self.opt_kw("DISTINCT"))
        if self.opt_kw("TOP"):
            if self.opt_op("("):
                top = self.expr()
                self.op(")")
            else:
                t = self.next()
                if t.kind not in ("num", "var"):
                    raise self.fail(t)
                top = ("lit", t.value) if t.kind == "num" else ("param", t.value)
        items = []
        while True:
            if self.tok.kind == "op" and self.tok.value == "*":
                self.next()
                items.append(("*", None, None))
            elif (self.tok.kind in ("word", "ident") and self.peek().kind == "op" and self.peek().value == "."
                  and self.peek(2).kind == "op" and self.peek(2).value == "*"):
                q = self.next().value
                self.next()
                self.next()
                items.append(("*", q.lower(), None))
            elif (self.tok.kind == "ident" or (self.tok.kind == "word" and self.tok.value.upper() not in RESERVED)) \
                    and self.peek().kind == "op" and self.peek().value == "=":
                alias = self.next().value          # column_alias = expression
                self.next()
                items.append(("expr", self.expr(), alias))
            else:
                e = self.expr()
                alias = None
                if self.opt_kw("AS"):
                    alias = self.alias()
                elif self.tok.kind in ("ident", "str") or (
                        self.tok.kind == "word" and self.tok.value.upper() not in RESERVED):
                    alias = self.alias()
                items.append(("expr", e, alias))
            if not self.opt_op(","):
                break
        sources = []
        where = None
        order = []
        self.unmodelled_select_clause()
        if self.opt_kw("FROM"):
            sources.append(self.p_source(None))
            while self.is_kw("JOIN", "INNER", "LEFT"):
                jt = self.next().value.upper()
                if jt in ("INNER", "LEFT"):
                    if jt == "LEFT":
                        self.opt_kw("OUTER")
                    self.kw("JOIN")
                sources.append(self.p_source("LEFT" if jt == "LEFT" else "INNER"))
        if self.opt_kw("WHERE"):
            where = self.expr()
        group_by = []
        if self.opt_kw("GROUP"):
            self.kw("BY")
            group_by.append(self.expr())
            while self.opt_op(","):
                group_by.append(self.expr())
            self.unmodelled_select_clause()
        if self.opt_kw("ORDER"):
            self.kw("BY")
            while True:
                e = self.expr()
                desc = self.opt_kw("ASC", "DESC") == "DESC"
                order.append((e, desc))
                if not self.opt_op(","):
                    break
        self.unmodelled_select_clause()
        spec = {"items": items, "sources": sources, "where": where, "order": order, "top": top,
                "distinct": distinct, "group_by": group_by}
        return lambda ctx: ctx.select(spec)

    def unmodelled_select_clause(self):
        if self.tok.kind == "word" and self.tok.value.upper() in SELECT_UNMODELLED_CLAUSES:
            word = self.tok.value.upper()
            what = {"WITH": "A table hint (WITH (…))", "GROUP": "SELECT … GROUP BY",
                    "FOR": "SELECT … FOR XML|JSON|BROWSE"}.get(word, f"SELECT … {word}")
            raise E.not_modelled(what)

    def alias(self):
        t = self.next()
        if t.kind in ("ident", "str") or (t.kind == "word" and t.value.upper() not in RESERVED):
            return t.value
        raise self.fail(t)

    def p_source(self, join):
        parts = self.multipart()
        alias = None
        if self.opt_kw("AS"):
            alias = self.name()
        elif self.tok.kind == "ident" or (self.tok.kind == "word" and self.tok.value.upper() not in RESERVED
                                          and self.tok.value.upper() not in ("INNER", "LEFT", "JOIN")):
            alias = self.name()
        on = None
        if join:
            self.kw("ON")
            on = self.expr()
        return {"parts": parts, "alias": (alias or parts[-1]).lower(), "join": join, "on": on}

    # -- expressions
    def expr(self):
        left = self.e_and()
        while self.opt_kw("OR"):
            left = ("or", left, self.e_and())
        return left

    def e_and(self):
        left = self.e_not()
        while self.opt_kw("AND"):
            left = ("and", left, self.e_not())
        return left

    def e_not(self):
        if self.opt_kw("NOT"):
            return ("not", self.e_not())
        return self.e_cmp()

    def e_cmp(self):
        left = self.e_add()
        t = self.tok
        if t.kind == "op" and t.value in ("=", "<>", "!=", "<", ">", "<=", ">="):
            self.next()
            return ("cmp", t.value, left, self.e_add())
        neg = False
        if self.is_kw("NOT") and self.is_kw("IN", "LIKE", tok=self.peek()):
            self.next()
            neg = True
        if self.opt_kw("IS"):
            n = bool(self.opt_kw("NOT"))
            self.kw("NULL")
            return ("isnull", left, n)
        if self.opt_kw("IN"):
            self.op("(")
            items = [self.expr()]
            while self.opt_op(","):
                items.append(self.expr())
            self.op(")")
            return ("in", left, items, neg)
        if self.opt_kw("LIKE"):
            return ("like", left, self.e_add(), neg)
        if self.is_kw("BETWEEN") or (self.is_kw("NOT") and self.is_kw("BETWEEN", tok=self.peek())):
            negate = bool(self.opt_kw("NOT"))
            self.kw("BETWEEN")
            low = self.e_add()
            self.kw("AND")
            high = self.e_add()
            inside = ("and", ("cmp", ">=", left, low), ("cmp", "<=", left, high))
            return ("not", inside) if negate else inside
        return left

    def e_add(self):
        left = self.e_mul()
        while self.tok.kind == "op" and self.tok.value in ("+", "-"):
            op = self.next().value
            left = ("arith", op, left, self.e_mul())
        return left

    def e_mul(self):
        left = self.e_unary()
        while self.tok.kind == "op" and self.tok.value in ("*", "/", "%"):
            op = self.next().value
            left = ("arith", op, left, self.e_unary())
        return left

    def e_unary(self):
        if self.opt_op("-"):
            return ("neg", self.e_unary())
        return self.e_primary()

    def e_primary(self):
        t = self.tok
        if t.kind in ("num", "str", "hex"):
            self.next()
            return ("lit", t.value)
        if t.kind == "var":
            self.next()
            if t.value.startswith("@@"):
                return ("global", t.value.upper())
            return ("param", t.value)
        if t.kind == "op" and t.value == "(":
            self.next()
            if self.is_kw("SELECT"):
                raise E.not_modelled("A subquery")
            e = self.expr()
            self.op(")")
            return e
        if self.is_kw("NULL"):
            self.next()
            return ("lit", None)
        if self.is_kw("EXISTS"):
            raise E.not_modelled("EXISTS (subquery)")
        if self.is_kw("CAST", "TRY_CAST"):
            self.next()
            self.op("(")
            e = self.expr()
            self.kw("AS")
            typ = self.p_type()
            self.op(")")
            return ("cast", e, typ)
        if self.is_kw("CONVERT", "TRY_CONVERT"):
            self.next()
            self.op("(")
            typ = self.p_type()
            self.op(",")
            e = self.expr()
            if self.opt_op(","):
                self.expr()
            self.op(")")
            return ("cast", e, typ)
        if self.is_kw("CASE"):
            self.next()
            whens = []
            base = None
            if not self.is_kw("WHEN"):
                base = self.expr()
            while self.opt_kw("WHEN"):
                cond = self.expr()
                self.kw("THEN")
                whens.append((cond, self.expr()))
            other = None
            if self.opt_kw("ELSE"):
                other = self.expr()
            self.kw("END")
            return ("case", base, whens, other)
        if self.is_kw("CURRENT_TIMESTAMP"):
            self.next()
            return ("func", "GETDATE", [])
        name_like = t.kind == "word" and (t.value.upper() not in RESERVED or t.value.upper() in (
            "CURRENT_USER", "SYSTEM_USER", "SESSION_USER", "COALESCE", "NULLIF") or (
            t.value.upper() in ("LEFT", "RIGHT") and self.peek().kind == "op" and self.peek().value == "("))
        if t.kind == "ident" or name_like:
            if self.peek().kind == "op" and self.peek().value == "(" and t.kind == "word":
                fname = self.next().value.upper()
                self.next()
                args = []
                if fname in ("COUNT", "COUNT_BIG") and self.tok.kind == "op" and self.tok.value == "*":
                    self.next()
                    self.op(")")
                    return ("count", None)
                if fname in AGGREGATES | {"COUNT"} and self.is_kw("DISTINCT"):
                    raise E.not_modelled(f"{fname}(DISTINCT …)")
                if not self.opt_op(")"):
                    while True:
                        args.append(self.expr())
                        if not self.opt_op(","):
                            break
                    self.op(")")
                if self.is_kw("OVER"):
                    raise E.not_modelled(f"{fname}(…) OVER (a window function)")
                if fname in ("COUNT", "COUNT_BIG"):
                    return ("count", args[0])
                if fname in AGGREGATES:
                    if len(args) != 1:
                        raise E.SqlError(174, 15, 1, f"The {fname.lower()} function requires 1 argument(s).")
                    return ("agg", fname, args[0])
                if fname not in MODELLED_FUNCTIONS and fname in BUILTIN_FUNCTIONS:
                    raise E.not_modelled(f"The built-in function {fname}")
                return ("func", fname, args)
            if t.kind == "word" and t.value.upper() in ("CURRENT_USER", "SYSTEM_USER", "SESSION_USER"):
                self.next()
                return ("func", t.value.upper(), [])
            parts = [self.next().value]
            while self.tok.kind == "op" and self.tok.value == "." and self.peek().kind in ("word", "ident"):
                self.next()
                parts.append(self.next().value)
            if len(parts) > 1 and self.tok.kind == "op" and self.tok.value == "(":
                # a schema-qualified function: sys.fn_hadr_backup_is_preferred_replica('db')
                fname = parts[-1].upper()
                if [p.lower() for p in parts[:-1]] != ["sys"] or fname not in SYS_FUNCTIONS:
                    raise E.not_modelled(f"The function {'.'.join(parts)}")
                self.next()
                args = []
                if not self.opt_op(")"):
                    while True:
                        args.append(self.expr())
                        if not self.opt_op(","):
                            break
                    self.op(")")
                return ("func", fname, args)
            return ("col", parts)
        raise self.fail()

    def p_type_spec(self):
        """A type as written: (name, length) with length None, 'max' or the first number (a scale is skipped)."""
        name = self.name()
        length = None
        if self.opt_op("("):
            if self.opt_kw("MAX"):
                length = "max"
            else:
                t = self.next()
                if t.kind != "num":
                    raise self.fail(t)
                length = t.value
                if self.opt_op(","):
                    self.next()
            self.op(")")
        return name, length

    def p_type(self):
        name, length = self.p_type_spec()
        try:
            return C.parse_type_name(name, length)
        except KeyError:
            raise E.SqlError(243, 16, 1, f"Type {name} is not a defined system type.")


STATEMENT_STARTS = ("SELECT", "SET", "USE", "EXEC", "EXECUTE", "CREATE", "ALTER", "DROP", "DBCC", "BACKUP",
                    "RESTORE", "BEGIN", "COMMIT", "ROLLBACK", "INSERT", "UPDATE", "DELETE")


# --------------------------------------------------------------------------- helpers

def like_to_regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:j]
                out.append("[^" + body[1:] + "]" if body.startswith("^") else "[" + body + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.I | re.S)


def infer_type(values):
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return C.BIT
        if isinstance(v, int):
            return C.INT if -2 ** 31 <= v < 2 ** 31 else C.BIGINT
        if isinstance(v, float):
            return C.FLOAT
        if isinstance(v, (bytes, bytearray)):
            return C.varbinary(8000)
        if isinstance(v, (_dt.datetime, _dt.date)):
            return C.DATETIME
        return C.nvarchar(4000)
    return C.INT


def compare(a, b):
    if a is None or b is None:
        return None
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.lower().rstrip(), b.lower().rstrip()
    elif isinstance(a, str) and isinstance(b, (int, float)):
        try:
            a = type(b)(a)
        except ValueError:
            raise E.SqlError(245, 16, 1, f"Conversion failed when converting the nvarchar value '{a}' to data "
                                         "type int.")
    elif isinstance(b, str) and isinstance(a, (int, float)):
        text_side, number_side = b, a
        return -compare(text_side, number_side)
    elif isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
        a, b = bytes(a), bytes(b)
    return (a > b) - (a < b)


__all__ = ["Parser", "Result", "Statement", "like_to_regex", "infer_type", "compare", "fnmatch"]
