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
                     "DEADLOCK_PRIORITY", "CONTEXT_INFO"}


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
            return (lambda ctx: fn(ctx) if ctx.eval(cond, {}) is True else None), kind, verb
        if first and (t.kind == "ident" or (t.kind == "word" and u not in RESERVED)):
            return self.p_exec()  # a batch may start with a bare procedure name
        raise self.fail()

    def p_tran(self):
        verb = self.next().value.upper()
        self.opt_kw("TRAN", "TRANSACTION", "WORK")
        if verb == "BEGIN":
            return (lambda ctx: ctx.begin_tran()), "read", "BEGIN TRANSACTION"
        return (lambda ctx: ctx.end_tran(verb)), "read", verb

    def p_set(self):
        self.kw("SET")
        t = self.tok
        if t.kind != "word":
            raise self.fail()
        opt = t.value.upper()
        self.next()
        if opt in SET_OPTIONS_ONOFF:
            if opt == "STATISTICS":
                self.kw("IO", "TIME", "XML", "PROFILE")
            state = self.kw("ON", "OFF")
            return (lambda ctx: ctx.set_option(opt, state == "ON")), "read", "SET"
        if opt == "TRANSACTION":
            self.kw("ISOLATION")
            self.kw("LEVEL")
            if self.opt_kw("READ"):
                self.kw("COMMITTED", "UNCOMMITTED")
            elif self.opt_kw("REPEATABLE"):
                self.kw("READ")
            else:
                self.kw("SERIALIZABLE", "SNAPSHOT")
            return (lambda ctx: None), "read", "SET"
        if opt in SET_OPTIONS_VALUE:
            if self.tok.kind in ("num", "str", "word", "ident", "hex"):
                self.next()
            elif self.opt_op("-"):
                if self.tok.kind != "num":
                    raise self.fail()
                self.next()
            else:
                raise self.fail()
            return (lambda ctx: None), "read", "SET"
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
    def p_create(self):
        self.kw("CREATE")
        what = self.kw("LOGIN", "USER", "CREDENTIAL", "DATABASE")
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
        what = self.kw("LOGIN", "SERVER", "ROLE", "CREDENTIAL", "DATABASE", "AUTHORIZATION")
        if what == "AUTHORIZATION":
            self.kw("ON")
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
                self.kw("ROLE")
            role = self.name()
            action = self.kw("ADD", "DROP")
            self.kw("MEMBER")
            member = self.name()
            if what == "SERVER":
                return (lambda ctx: ctx.alter_server_role(role, action, member)), "write", "ALTER SERVER ROLE"
            return (lambda ctx: ctx.alter_db_role(role, action, member)), "write", "ALTER ROLE"
        if what == "DATABASE":
            name = self.name()
            self.kw("SET")
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
        what = self.kw("LOGIN", "USER", "CREDENTIAL", "DATABASE")
        if_exists = False
        if what in ("USER", "DATABASE") and self.is_kw("IF") and self.is_kw("EXISTS", tok=self.peek()):
            self.next()
            self.next()
            if_exists = True
        name = self.name()
        return (lambda ctx: ctx.drop(what, name, if_exists)), "write", f"DROP {what}"

    def p_dbcc(self):
        self.kw("DBCC")
        cmd = self.name().upper()
        args = []
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
        if self.opt_kw("ORDER"):
            self.kw("BY")
            while True:
                e = self.expr()
                desc = self.opt_kw("ASC", "DESC") == "DESC"
                order.append((e, desc))
                if not self.opt_op(","):
                    break
        spec = {"items": items, "sources": sources, "where": where, "order": order, "top": top,
                "distinct": distinct}
        return lambda ctx: ctx.select(spec)

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
                raise self.fail()
            e = self.expr()
            self.op(")")
            return e
        if self.is_kw("NULL"):
            self.next()
            return ("lit", None)
        if self.is_kw("CAST", "TRY_CAST"):
            self.next()
            self.op("(")
            e = self.expr()
            self.kw("AS")
            typ = self.p_type()
            self.op(")")
            return ("cast", e, typ)
        if self.is_kw("CONVERT"):
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
        name_like = t.kind == "word" and (t.value.upper() not in RESERVED or t.value.upper() in (
            "CURRENT_USER", "SYSTEM_USER", "SESSION_USER", "COALESCE", "NULLIF"))
        if t.kind == "ident" or name_like:
            if self.peek().kind == "op" and self.peek().value == "(" and t.kind == "word":
                fname = self.next().value.upper()
                self.next()
                args = []
                if fname == "COUNT" and self.tok.kind == "op" and self.tok.value == "*":
                    self.next()
                    self.op(")")
                    return ("count", None)
                if not self.opt_op(")"):
                    while True:
                        args.append(self.expr())
                        if not self.opt_op(","):
                            break
                    self.op(")")
                if fname == "COUNT":
                    return ("count", args[0])
                return ("func", fname, args)
            if t.kind == "word" and t.value.upper() in ("CURRENT_USER", "SYSTEM_USER", "SESSION_USER"):
                self.next()
                return ("func", t.value.upper(), [])
            parts = [self.next().value]
            while self.tok.kind == "op" and self.tok.value == "." and self.peek().kind in ("word", "ident"):
                self.next()
                parts.append(self.next().value)
            return ("col", parts)
        raise self.fail()

    def p_type(self):
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
        try:
            return C.parse_type_name(name, length)
        except KeyError:
            raise E.SqlError(243, 16, 1, f"Type {name} is not a defined system type.")


STATEMENT_STARTS = ("SELECT", "SET", "USE", "EXEC", "EXECUTE", "CREATE", "ALTER", "DROP", "DBCC", "BACKUP",
                    "RESTORE", "BEGIN", "COMMIT", "ROLLBACK")


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
