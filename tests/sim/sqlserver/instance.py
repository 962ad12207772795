"""One SQL Server instance: its catalog, sessions, authentication and statement execution."""
from __future__ import annotations

import asyncio
import copy
import datetime as _dt
import functools
import itertools
import logging
import threading
import time

from . import catalog as C
from . import errors as E
from . import hadr
from . import tds
from .engine import Parser, Result, compare, infer_type, like_to_regex
from .server import ConnectionDropped, FatalError, LoginFailed

# The audience SQL Server on an Azure VM accepts in Azure's public cloud (tokens for the scope
# https://database.windows.net/.default); a backend may name its cloud's own (WorldBackend.sql_audiences).
SQL_AUDIENCES = ("https://database.windows.net/", "https://database.windows.net")
_spids = itertools.count(51)
log = logging.getLogger("sim.sqlserver.instance")


class Session:
    def __init__(self, instance, login, database):
        self.instance = instance
        self.login = login
        self.database = database
        self.spid = next(_spids) % 32000 or 51
        self.prepared = {}
        self.next_handle = 1
        self.options = {}
        self.tran_count = 0
        self.token_claims = None
        self.entra_groups = set()   # group logins this Entra session came through
        self.auth = "sql"
        self.pending = []           # (database, change) written inside the open transaction

    def end_transaction(self, commit):
        """COMMIT: the transaction's changes become log records with one commit time and their LSNs;
        ROLLBACK: they are undone, newest first."""
        pending, self.pending = self.pending, []
        if commit:
            now = _dt.datetime.now()
            for db, change in pending:
                change["lsn"] = db.next_lsn()
                change["time"] = now
                db.changes.append(change)
        else:
            for db, change in reversed(pending):
                undo_change(db, change)

    def all_logins(self):
        """The session's login and, for Entra sessions, the group logins it came through."""
        cat = self.instance.catalog
        return [self.login] + [cat.logins[g] for g in sorted(self.entra_groups) if g in cat.logins]

    def in_db_role(self, db, role):
        cat = self.instance.catalog
        return any(cat.in_db_role(db, lg, role) for lg in self.all_logins())

    def db_user(self, db):
        cat = self.instance.catalog
        return next((u for u in (cat.db_user_for(db, lg) for lg in self.all_logins()) if u), None)

    def is_sysadmin(self):
        return any(self.instance.catalog.in_server_role(lg, "sysadmin") for lg in self.all_logins())

    def has_server_perm(self, perm):
        cat = self.instance.catalog
        if self.is_sysadmin():
            return True
        logins = [self.login] + [cat.logins.get(g) for g in self.entra_groups]
        for lg in logins:
            if lg is None:
                continue
            if perm in ("ALTER ANY LOGIN", "VIEW ANY DEFINITION") and cat.in_server_role(lg, "securityadmin"):
                return True
            if perm == "CREATE ANY DATABASE" and cat.in_server_role(lg, "dbcreator"):
                return True
            if cat.in_server_role(lg, "sysadmin"):
                return True
        return False


class Instance:
    def __init__(self, vm_key, vm_name, sql_spec, backend):
        self.vm_key = vm_key
        self.vm_name = vm_name
        self.spec = sql_spec or {}
        self.backend = backend
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.catalog = C.Catalog(self.vm_key, self.vm_name, self.spec)
            self.sessions = set()

    @property
    def version_tuple(self):
        return self.catalog.version_tuple

    @property
    def server_name(self):
        return self.catalog.server_name

    # ------------------------------------------------------------------ login
    def login(self, login: dict) -> Session:
        cat = self.catalog
        database = login["database"] or "master"
        fed = login["features"].get(tds.FEATURE_FEDAUTH)
        if fed is not None:
            session = self._login_token(tds.parse_fedauth_feature(fed), database)
        else:
            session = self._login_sql(login["username"], login["password"], database)
        if session.database.lower() not in cat.databases:
            self._record("LOGIN", "LOGIN7", 4060, principal=session.login.name)
            raise LoginFailed(4060, 1, f'Cannot open database "{session.database}" requested by the login. '
                                       "The login failed.", klass=11)
        session.database = cat.databases[session.database.lower()].name
        self.sessions.add(session)
        # Token logins: which audience and which Entra object the server accepted (tests read it from the log).
        token = {"audience": session.token_claims.get("aud"), "object_id": session.token_claims.get("oid"),
                 "app_id": session.token_claims.get("appid")} if session.token_claims else {}
        self._record("LOGIN", "LOGIN7", 0, principal=session.login.name, **token)
        return session

    def _fail(self, user, state):
        # 18456 class 14; the state SQL Server logs (not what clients see) tells the reason — 1 on the wire.
        self._record("LOGIN", "LOGIN7", 18456, principal=user, reason_state=state)
        raise LoginFailed(18456, 1, f"Login failed for user '{user}'.")

    def _login_sql(self, user, password, database):
        login = self.catalog.logins.get(user.lower())
        if login is None or login.type != "S":
            self._fail(user, 5)
        if login.password is None or login.password != password:
            self._fail(user, 8)
        if login.disabled:
            self._fail(user, 7)
        return Session(self, login, database)

    def _login_token(self, fed, database):
        token = fed.get("token") or ""
        claims = None
        audiences = getattr(self.backend, "sql_audiences", lambda: None)() or SQL_AUDIENCES
        for aud in audiences:
            claims = self.backend.verify_token(token, aud)
            if claims:
                break
        if not claims:
            self._fail("<token-identified principal>", 132)
        oid = (claims.get("oid") or "").lower()
        appid = (claims.get("appid") or claims.get("azp") or "").lower()
        display = claims.get("upn") or claims.get("unique_name")
        if not display:
            known = (self.backend.entra_get(oid) if oid else None) or (
                self.backend.entra_get(appid) if appid else None)
            display = (known or {}).get("upn") or (known or {}).get("display_name") or oid
        cat = self.catalog
        # Direct login first: users by object id, service principals/managed identities by app id (FACTS).
        candidates = []
        for sid_src in (oid, appid):
            if sid_src:
                try:
                    lg = cat.login_by_sid(C.guid_sid(sid_src))
                except ValueError:
                    lg = None
                if lg is not None:
                    candidates.append(lg)
        direct = next((lg for lg in candidates if lg.type == "E"), None)
        groups = set()
        if oid:
            for gid in self.backend.group_ids_of(oid):
                lg = cat.login_by_sid(C.guid_sid(gid))
                if lg is not None and lg.type == "X":
                    groups.add(lg)
        if direct is not None:
            if direct.disabled:
                self._fail(display, 7)
            login = direct
        elif groups:
            login = C.Login(display, "E", C.guid_sid(oid), -1, object_id=oid)
        else:
            self._fail(display, 5)
        session = Session(self, login, database)
        session.entra_groups = {g.name.lower() for g in groups}
        session.auth = "token"
        session.token_claims = claims
        return session

    def logout(self, session):
        with self.lock:
            session.end_transaction(False)   # a connection that closes rolls its open transaction back
        self.sessions.discard(session)

    # ------------------------------------------------------------------ execution
    def _record(self, verb, text, status, kind="read", principal=None, **extra):
        """One entry in the world's request log: service tds, method = the statement verb (LOGIN for a
        LOGIN7), route = tds/<verb>, path = the statement text (truncated), status 0 = success else the
        SQL error number."""
        try:
            self.backend.record_request(service="tds", method=verb, route=f"tds/{verb}", kind=kind, status=status,
                                        path=(text or "")[:500], principal=principal, vm=self.vm_key, **extra)
        except Exception:
            pass

    def record_internal_error(self, session, text, exc):
        """The request log's line for a request the world failed to answer (server.py's watchdog)."""
        verb = "LOGIN" if text == "LOGIN7" else (_guess_verb(text) or "INTERNAL")
        self._record(verb, text, E.INTERNAL_ERROR, kind="read" if verb == "LOGIN" else _guess_kind(text),
                     principal=session.login.name if session else None, error=f"{type(exc).__name__}: {exc}")

    async def run_batch(self, session, text):
        return await self._run(session, text, {}, rpc=False)

    async def run_rpc(self, session, calls):
        out = bytearray()
        for call in calls:
            out += await self._run_call(session, call)
        return bytes(out)

    async def run_transaction_request(self, session, payload):
        body = tds.strip_all_headers(payload)
        req = int.from_bytes(body[:2], "little") if len(body) >= 2 else 0
        out = bytearray()
        if req == 5:      # TM_BEGIN_XACT
            session.end_transaction(True)
            session.tran_count = 1
            out += _envchange_bytes(8, b"\x01" + b"\x00" * 7, b"")
        elif req in (7, 8):  # TM_COMMIT_XACT / TM_ROLLBACK_XACT: XactName, fBeginXact (MS-TDS 2.2.6.9)
            was = session.tran_count
            session.tran_count = 0
            session.end_transaction(req == 7)
            if was:
                out += _envchange_bytes(9 if req == 7 else 10, b"", b"\x01" + b"\x00" * 7)
            pos = 2 + 1 + 2 * (body[2] if len(body) > 2 else 0)
            if len(body) > pos and body[pos] & 0x01:
                session.tran_count = 1
                out += _envchange_bytes(8, b"\x01" + b"\x00" * 7, b"")
        out += tds.tok_done(tds.TOK_DONE, 0)
        return bytes(out)

    def protocol_error_tokens(self, text):
        return (tds.tok_message(tds.TOK_ERROR, 8009, 1, 16, f"The incoming tabular data stream (TDS) remote "
                                f"procedure call (RPC) protocol stream is incorrect. {text}", self.server_name)
                + tds.tok_done(tds.TOK_DONE, tds.DONE_ERROR))

    async def _run_call(self, session, call):
        proc = call["proc"]
        if isinstance(proc, int):
            proc = tds.PROC_IDS.get(proc, f"#{proc}")
        proc = proc.split(".")[-1].strip("[]").lower()
        params = call["params"]
        values = [p["value"] for p in params]
        if proc == "sp_executesql":
            stmt = values[0] if values else ""
            bound = _bind(values[1] if len(values) > 1 else "", params[2:])
            return await self._run(session, stmt, bound, rpc=True)
        if proc in ("sp_prepexec", "sp_prepare"):
            decl, stmt = values[1] or "", values[2] or ""
            handle = session.next_handle
            session.next_handle += 1
            session.prepared[handle] = (decl, stmt)
            rv = tds.tok_returnvalue(0, params[0]["name"] or "@handle", C.INT, handle)
            if proc == "sp_prepare":
                return rv + tds.tok_returnstatus(0) + tds.tok_done(tds.TOK_DONEPROC, 0)
            body = await self._run(session, stmt, _bind(decl, params[3:]), rpc=True, trailer=rv)
            return body
        if proc == "sp_execute":
            handle = values[0]
            if handle not in session.prepared:
                return self._error_proc(8179, 16, 4, f"Could not find prepared statement with handle {handle}.")
            decl, stmt = session.prepared[handle]
            return await self._run(session, stmt, _bind(decl, params[1:]), rpc=True)
        if proc == "sp_unprepare":
            session.prepared.pop(values[0] if values else None, None)
            return tds.tok_returnstatus(0) + tds.tok_done(tds.TOK_DONEPROC, 0)
        ctx = Context(self, session, {}, None)
        res = Result()
        ctx.result = res
        try:
            ctx.exec_proc(proc, [(p["name"] or None, p["value"]) for p in params])
        except E.SqlError as exc:
            res.messages.extend(exc.messages())
            res.error = True
        out = bytearray(self._result_tokens(res, tds.TOK_DONEINPROC, more=True))
        out += tds.tok_returnstatus(-6 if res.error else 0)
        out += tds.tok_done(tds.TOK_DONEPROC, tds.DONE_ERROR if res.error else 0)
        return bytes(out)

    def _error_proc(self, number, klass, state, text):
        return (tds.tok_message(tds.TOK_ERROR, number, state, klass, text, self.server_name)
                + tds.tok_done(tds.TOK_DONEPROC, tds.DONE_ERROR))

    async def _run(self, session, text, params, rpc, trailer=b""):
        fault = None
        try:
            fault = self.backend.tds_fault(self.vm_key, text)
        except Exception:
            fault = None
        if fault:
            action = fault.get("action")
            verb = _guess_verb(text)
            if action == "delay":
                await asyncio.sleep(float(fault.get("seconds", fault.get("latency", fault.get("delay", 1)))))
            elif action == "drop":
                # Mid-batch: the statements run, the first part of the answer is sent, then the connection
                # closes before the final DONE (the client sees a communication link failure).
                self._record(verb, text, -1, kind=_guess_kind(text), principal=session.login.name, fault="drop")
                results = await asyncio.to_thread(self._execute_sync, session, text, params)
                partial = b"".join(self._result_tokens(r, tds.TOK_DONE, True) for r in results)
                raise ConnectionDropped(partial[:max(1, len(partial) // 2)])
            elif action == "error":
                number = int(fault.get("number", 50000))
                klass = int(fault.get("class", fault.get("severity", fault.get("level", 16))))
                self._record(verb, text, number, kind=_guess_kind(text), principal=session.login.name,
                             fault="error")
                res = Result()
                res.line = 1
                res.messages.append((number, klass, int(fault.get("state", 1)),
                                     fault.get("message") or f"Injected fault {number}."))
                res.error = True
                tok = tds.TOK_DONEINPROC if rpc else tds.TOK_DONE
                body = self._result_tokens(res, tok, more=rpc)
                if rpc:
                    body += trailer + tds.tok_returnstatus(-6) + tds.tok_done(tds.TOK_DONEPROC, tds.DONE_ERROR)
                if klass >= 20:
                    # severity 20-25: "fatal errors … the client connection is terminated" (Database engine
                    # error severities)
                    raise FatalError(body)
                return body
        results = await asyncio.to_thread(self._execute_sync, session, text, params)
        out = bytearray()
        tok = tds.TOK_DONEINPROC if rpc else tds.TOK_DONE
        for idx, res in enumerate(results):
            last = idx == len(results) - 1
            out += self._result_tokens(res, tok, more=rpc or not last)
        if not results and not rpc:
            out += tds.tok_done(tds.TOK_DONE, 0)
        if rpc:
            any_err = any(r.error for r in results)
            out += trailer + tds.tok_returnstatus(0) + tds.tok_done(tds.TOK_DONEPROC,
                                                                    tds.DONE_ERROR if any_err else 0)
        return bytes(out)

    def _result_tokens(self, res, done_token, more):
        out = bytearray()
        for kind, new, old in res.envchanges:
            out += tds.tok_envchange(kind, new, old)
        for cols, rows in res.sets:
            types = [col_type for _name, col_type in cols]
            out += tds.tok_colmetadata(cols)
            for r in rows:
                out += tds.tok_row(types, r)
        for number, klass, state, text in res.messages:
            tok = tds.TOK_ERROR if klass > 10 else tds.TOK_INFO
            out += tds.tok_message(tok, number, state, klass, text, self.server_name, "", res.line)
        status = (tds.DONE_MORE if more else 0) | (tds.DONE_ERROR if res.error else 0)
        count = 0
        if res.rowcount is not None:
            status |= tds.DONE_COUNT
            count = res.rowcount
        out += tds.tok_done(done_token, status, 0xC1 if res.sets else 0, count)
        return bytes(out)

    def _execute_sync(self, session, text, params):
        with self.lock:
            try:
                stmts = Parser(text).parse_batch()
            except E.SqlError as exc:
                res = Result()
                res.line = 1
                res.messages.extend(exc.messages())
                res.error = True
                self._record(_guess_verb(text), text, exc.number, kind="read", principal=session.login.name)
                return [res]
            results = []
            for st in stmts:
                res = Result()
                res.line = st.line
                ctx = Context(self, session, params, res)
                status = 0
                if (session.options.get("IMPLICIT_TRANSACTIONS") and not session.tran_count
                        and st.verb in _IMPLICIT_TRAN_VERBS and not (st.verb == "SELECT" and " FROM " not in
                                                                     f" {st.text.upper()} ")):
                    # SET IMPLICIT_TRANSACTIONS ON: these statements open a transaction
                    # (learn.microsoft.com/sql/t-sql/statements/set-implicit-transactions-transact-sql)
                    session.tran_count = 1
                try:
                    st.fn(ctx)
                except E.SqlError as exc:
                    res.messages.extend(exc.messages())
                    res.error = True
                    status = exc.number
                except Exception as exc:  # a fault of the world: answer it, log it, run nothing more
                    log.exception("statement failed inside the world: %s", st.text[:200])
                    res.messages.append(E.internal_error(exc))
                    res.error = True
                    self._record(st.verb, st.text, E.INTERNAL_ERROR, kind=st.kind, principal=session.login.name,
                                 error=f"{type(exc).__name__}: {exc}")
                    results.append(res)
                    break
                if not res.sets and res.rowcount is None and not res.messages and st.verb in ("SET", "USE"):
                    pass
                self._record(st.verb, st.text, status, kind=st.kind, principal=session.login.name)
                results.append(res)
                if res.error and getattr(res, "abort", False):
                    break
            return results


_IMPLICIT_TRAN_VERBS = {"SELECT", "CREATE LOGIN", "ALTER LOGIN", "DROP LOGIN", "CREATE USER", "DROP USER",
                        "ALTER ROLE", "ALTER SERVER ROLE", "CREATE CREDENTIAL", "ALTER CREDENTIAL",
                        "DROP CREDENTIAL", "CREATE DATABASE", "ALTER DATABASE", "INSERT", "UPDATE", "DELETE",
                        "CREATE TABLE", "DROP TABLE"}


def _envchange_bytes(kind, new: bytes, old: bytes):
    body = bytes([kind, len(new)]) + new + bytes([len(old)]) + old
    return bytes([tds.TOK_ENVCHANGE]) + len(body).to_bytes(2, "little") + body


def _guess_verb(text):
    words = text.strip().split(None, 2)
    return " ".join(w.upper() for w in words[:2]) if words and words[0].upper() in (
        "CREATE", "ALTER", "DROP", "BACKUP", "RESTORE", "DBCC") else (words[0].upper() if words else "")


def _guess_kind(text):
    first = text.strip().split(None, 1)[0].upper() if text.strip() else ""
    return "read" if first in ("SELECT", "SET", "USE", "DBCC") else "write"


def _bind(decl: str, params):
    """Bind RPC parameter values to the names declared in sp_executesql's @params string."""
    names = []
    for part in _split_decl(decl or ""):
        name = part.strip().split()[0] if part.strip() else ""
        if name:
            names.append(name.lower())
    bound = {}
    for i, p in enumerate(params):
        name = (p["name"] or "").lower()
        if not name and i < len(names):
            name = names[i]
        if name:
            bound[name] = p["value"]
    for n in names:
        bound.setdefault(n, _UNSET)
    return bound


def _split_decl(decl):
    depth, cur, out = 0, "", []
    for ch in decl:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


class _Unset:
    pass


_UNSET = _Unset()


class Context:
    """Execution of one statement for one session."""

    def __init__(self, instance, session, params, result):
        self.inst = instance
        self.cat = instance.catalog
        self.session = session
        self.params = params
        self.result = result

    def info(self, number, text, state=1):
        self.result.messages.append((number, 0, state, text))

    # -- expressions -------------------------------------------------------------------------
    def eval(self, e, row):
        if e is None:
            return None
        kind = e[0]
        if kind == "lit":
            return e[1]
        if kind == "param":
            name = e[1].lower()
            if name not in self.params or self.params[name] is _UNSET:
                if name in self.params:
                    raise E.SqlError(8178, 16, 1, f"The parameterized query expects the parameter '{e[1]}', "
                                                  "which was not supplied.")
                raise E.must_declare(e[1])
            return self.params[name]
        if kind == "col":
            return self._column(e[1], row)
        if kind == "global":
            return self._global(e[1])
        if kind == "cast":
            return self._cast(self.eval(e[1], row), e[2])
        if kind == "func":
            # DATEADD/DATEDIFF's first argument is a datepart keyword, not a value
            skip = 1 if e[1] in ("DATEADD", "DATEDIFF") else 0
            return self._func(e[1], [None] * skip + [self.eval(a, row) for a in e[2][skip:]], e[2], row)
        if kind == "cmp":
            c = compare(self.eval(e[2], row), self.eval(e[3], row))
            if c is None:
                return None
            return {"=": c == 0, "<>": c != 0, "!=": c != 0, "<": c < 0, ">": c > 0, "<=": c <= 0,
                    ">=": c >= 0}[e[1]]
        if kind == "and":
            a, b = self.eval(e[1], row), self.eval(e[2], row)
            if a is False or b is False:
                return False
            return None if a is None or b is None else True
        if kind == "or":
            a, b = self.eval(e[1], row), self.eval(e[2], row)
            if a is True or b is True:
                return True
            return None if a is None or b is None else False
        if kind == "not":
            a = self.eval(e[1], row)
            return None if a is None else not a
        if kind == "isnull":
            v = self.eval(e[1], row) is None
            return not v if e[2] else v
        if kind == "in":
            v = self.eval(e[1], row)
            if v is None:
                return None
            hit = any(compare(v, self.eval(x, row)) == 0 for x in e[2])
            return not hit if e[3] else hit
        if kind == "like":
            v, p = self.eval(e[1], row), self.eval(e[2], row)
            if v is None or p is None:
                return None
            hit = bool(like_to_regex(str(p)).match(str(v)))
            return not hit if e[3] else hit
        if kind == "arith":
            a, b = self.eval(e[2], row), self.eval(e[3], row)
            if a is None or b is None:
                return None
            if e[1] == "+":
                if isinstance(a, str) or isinstance(b, str):
                    return str(a) + str(b)
                return a + b
            if e[1] == "-":
                return a - b
            if e[1] == "*":
                return a * b
            if b == 0:
                raise E.SqlError(8134, 16, 1, "Divide by zero error encountered.")
            return a // b if isinstance(a, int) and isinstance(b, int) and e[1] == "/" else (
                a % b if e[1] == "%" else a / b)
        if kind == "neg":
            v = self.eval(e[1], row)
            return None if v is None else -v
        if kind == "case":
            base = self.eval(e[1], row) if e[1] is not None else None
            for cond, val in e[2]:
                hit = compare(base, self.eval(cond, row)) == 0 if e[1] is not None else self.eval(cond, row)
                if hit:
                    return self.eval(val, row)
            return self.eval(e[3], row)
        if kind in ("count", "agg"):
            raise E.SqlError(147, 15, 1, "An aggregate may not appear in the WHERE clause unless it is in a "
                                         "subquery contained in a HAVING clause or a select list, and the column "
                                         "being aggregated is an outer reference.")
        raise E.SqlError(102, 15, 1, "Incorrect syntax near ')'.")

    def _column(self, parts, row):
        key = ".".join(p.lower() for p in parts[-2:])
        if key in row:
            return row[key]
        if parts[-1].lower() in row and len(parts) == 1:
            return row[parts[-1].lower()]
        raise E.invalid_column(parts[-1])

    def _global(self, name):
        cat = self.cat
        if name == "@@VERSION":
            year = {15: "2019", 16: "2022", 17: "2025"}.get(cat.version_tuple[0], "2022")
            return (f"Microsoft SQL Server {year} ({cat.product_level}-{cat.update_level or 'GDR'}) (KB0000000) - "
                    f"{cat.version} (X64) \n\tJan  1 2025 00:00:00 \n\tCopyright (C) {year} Microsoft Corporation\n\t"
                    f"{cat.edition} on Windows Server 2022 Datacenter 10.0 <X64> (Build 20348: ) (Hypervisor)\n"
                    if cat.host_platform == "Windows" else
                    f"Microsoft SQL Server {year} ({cat.product_level}) - {cat.version} (X64) \n\t{cat.edition} on "
                    "Linux (Ubuntu 22.04)")
        if name == "@@SERVERNAME":
            return cat.server_name
        if name == "@@SPID":
            return self.session.spid
        if name == "@@TRANCOUNT":
            return self.session.tran_count
        if name == "@@LANGUAGE":
            return "us_english"
        if name == "@@ROWCOUNT":
            return 0
        if name == "@@ERROR":
            return 0
        if name == "@@MAX_PRECISION":
            return 38
        raise E.must_declare(name)

    def _cast(self, v, typ):
        if v is None:
            return None
        try:
            if typ.tds in (tds.T_NVARCHAR, tds.T_BIGVARCHR):
                if isinstance(v, bool):
                    v = int(v)
                if isinstance(v, _dt.datetime):
                    s = v.strftime("%b %d %Y %I:%M%p")
                else:
                    s = str(v)
                return s[:typ.size // (2 if typ.tds == tds.T_NVARCHAR else 1)]
            if typ.tds == tds.T_INTN:
                return int(v)
            if typ.tds == tds.T_BITN:
                return bool(int(v))
            if typ.tds == tds.T_FLTN:
                return float(v)
            if typ.tds == tds.T_BIGVARBIN:
                return v if isinstance(v, bytes) else str(v).encode("utf-16-le")
        except (TypeError, ValueError):
            raise E.SqlError(245, 16, 1, f"Conversion failed when converting the nvarchar value '{v}' to data "
                                         f"type {typ.name}.")
        return v

    def _func(self, name, args, raw, row):
        cat, s = self.cat, self.session
        if name == "SERVERPROPERTY":
            return self.serverproperty(args[0] if args else None)
        if name == "DB_NAME":
            if not args or args[0] is None:
                return s.database
            for db in cat.databases.values():
                if db.database_id == args[0]:
                    return db.name
            return None
        if name == "DB_ID":
            db = cat.databases.get(str(args[0] if args else s.database).lower())
            return db.database_id if db else None
        if name in ("SUSER_SNAME", "SUSER_NAME", "SYSTEM_USER", "ORIGINAL_LOGIN"):
            if args and args[0] is not None:
                lg = cat.login_by_sid(args[0]) if isinstance(args[0], bytes) else cat.login_by_principal_id(args[0])
                return lg.name if lg else None
            return s.login.name
        if name in ("USER_NAME", "CURRENT_USER", "SESSION_USER"):
            u = s.db_user(cat.databases[s.database.lower()])
            return u["name"] if u else "guest"
        if name == "SUSER_SID":
            if args:
                lg = cat.logins.get(str(args[0]).lower())
                return lg.sid if lg else None
            return s.login.sid
        if name == "IS_SRVROLEMEMBER":
            role = str(args[0]).lower()
            if role not in dict(C.SERVER_ROLES):
                return None
            if len(args) > 1 and args[1] is not None:
                lg = cat.logins.get(str(args[1]).lower())
                return int(cat.in_server_role(lg, role)) if lg else None
            if role == "public":
                return 1
            return int(cat.in_server_role(s.login, role) or any(
                cat.in_server_role(cat.logins.get(g), role) for g in s.entra_groups))
        if name == "IS_MEMBER":
            db = cat.databases[s.database.lower()]
            role = str(args[0]).lower()
            if role in db.users and db.users[role]["type"] == "R":
                return int(s.is_sysadmin() and role == "db_owner" or s.in_db_role(db, role))
            return None
        if name == "HAS_PERMS_BY_NAME":
            perm = str(args[2]).upper() if len(args) > 2 else ""
            return int(s.has_server_perm(perm))
        if name == "ISNULL":
            return args[1] if args[0] is None else args[0]
        if name == "COALESCE":
            return next((a for a in args if a is not None), None)
        if name == "NULLIF":
            return None if compare(args[0], args[1]) == 0 else args[0]
        if name == "UPPER":
            return None if args[0] is None else str(args[0]).upper()
        if name == "LOWER":
            return None if args[0] is None else str(args[0]).lower()
        if name == "LEN":
            return None if args[0] is None else len(str(args[0]).rstrip())
        if name == "LEFT":
            return None if args[0] is None else str(args[0])[:args[1]]
        if name in ("GETDATE", "SYSDATETIME"):
            return _dt.datetime.now()   # the server's local clock (datetime on the wire: 1/300 s)
        if name == "GETUTCDATE":
            return _dt.datetime.utcnow()
        if name == "PWDCOMPARE":
            return C.pwdcompare(args[0], args[1])
        if name == "QUOTENAME":
            return "[" + str(args[0]).replace("]", "]]") + "]"
        if name == "OBJECT_ID":
            return None
        if name in ("DATEADD", "DATEDIFF"):
            return _date_function(name, raw, args)
        if name == "FN_HADR_BACKUP_IS_PREFERRED_REPLICA":
            return hadr.is_preferred_backup_replica(cat, None if args[0] is None else str(args[0]))
        if name == "FN_HADR_IS_PRIMARY_REPLICA":
            replica = hadr.replica_of(cat)
            if args[0] is None or not hadr.in_group(cat, str(args[0])):
                return 0
            return int(replica.role == "PRIMARY")
        raise E.SqlError(195, 15, 10, f"'{name}' is not a recognized built-in function name.")

    def serverproperty(self, prop):
        cat = self.cat
        p = str(prop or "").lower()
        return {
            "productversion": cat.version,
            "productmajorversion": str(cat.version_tuple[0]),
            "productminorversion": str(cat.version_tuple[1]),
            "productbuild": str(cat.version_tuple[2]),
            "productlevel": cat.product_level,
            "productupdatelevel": cat.update_level,
            "edition": cat.edition,
            "engineedition": cat.engine_edition,
            "isclustered": int(cat.clustered),
            "ishadrenabled": int(hadr.replica_of(cat) is not None or bool(self.inst.spec.get("hadr_enabled"))),
            "instancedefaultdatapath": cat.data_path.rstrip("\\") + "\\",
            "instancedefaultlogpath": cat.log_path.rstrip("\\") + "\\",
            "instancedefaultbackuppath": cat.data_path.rstrip("\\") + "\\",
            "machinename": cat.machine_name,
            "servername": cat.server_name,
            "instancename": cat.instance_name,
            "collation": "SQL_Latin1_General_CP1_CI_AS",
            "isintegratedsecurityonly": 0,
            "processid": 4242,
        }.get(p)

    # -- SELECT ---------------------------------------------------------------------------------
    def resolve_source(self, parts):
        names = [p.lower() for p in parts]
        db_name = self.session.database
        if len(names) == 3:
            db_name = names[0]
            if db_name not in self.cat.databases:
                raise E.invalid_object(".".join(parts))
            names = names[1:]
        if len(names) == 1:
            names = ["dbo", names[0]]
        key = ".".join(names)
        msdb_tables = ("dbo.backupset", "dbo.backupmediafamily", "dbo.backupmediaset", "dbo.restorehistory")
        if db_name.lower() == "msdb" and key in msdb_tables:
            return self.cat.view("msdb." + key, self.session)
        from .catalog import DATABASE_SCOPED
        if key in C.VIEWS or key in DATABASE_SCOPED:
            if key in DATABASE_SCOPED:
                saved = self.session.database
                self.session.database = self.cat.databases[db_name.lower()].name
                try:
                    return self.cat.view(key, self.session)
                finally:
                    self.session.database = saved
            return self.cat.view(key, self.session)
        db = self.cat.databases.get(db_name.lower())
        if db and names[0] == "dbo" and names[1] in db.tables:
            if db.state != "ONLINE":
                raise E.SqlError(927, 14, 2, f"Database '{db.name}' cannot be opened. It is in the middle of a "
                                             "restore.")
            if not (self.session.is_sysadmin() or self.session.db_user(db)):
                raise E.SqlError(229, 14, 5, f"The SELECT permission was denied on the object '{names[1]}', "
                                             f"database '{db.name}', schema 'dbo'.")
            t = db.tables[names[1]]
            cols = [(c, C.parse_type_name(*_split_typename(tn))) for c, tn in t["columns"]]
            rows = [dict(zip([c.lower() for c, _type in t["columns"]], r)) for r in t["rows"]]
            return cols, rows
        raise E.invalid_object(".".join(parts))

    def select(self, spec):
        res = self.result
        if spec["sources"]:
            joined, colmeta = self._from(spec["sources"])
        else:
            joined, colmeta = [{}], {}
        if spec["where"] is not None:
            joined = [r for r in joined if self.eval(spec["where"], r) is True]
        items = spec["items"]
        out_cols = []
        exprs = []
        for kind, e, alias in items:
            if kind == "*":
                if not spec["sources"]:
                    raise E.SqlError(263, 16, 1, "Must specify table to select from.")
                for src_alias, cols in colmeta.items():
                    if e is not None and src_alias != e:
                        continue
                    for cname, ctype in cols:
                        out_cols.append((cname, ctype))
                        exprs.append(("col", [src_alias, cname]))
                continue
            name = alias or (e[1][-1] if e[0] == "col" else "")
            typ = None
            if e[0] == "col":
                typ = self._col_type(e[1], colmeta)
            elif e[0] == "cast":
                typ = e[2]
            elif e[0] == "agg" and e[1] in ("MAX", "MIN") and e[2][0] == "col":
                typ = self._col_type(e[2][1], colmeta)
            out_cols.append((name, typ))
            exprs.append(e)
        # GROUP BY / aggregates: one output row per group (one group of every row without GROUP BY)
        group_by = spec.get("group_by") or []
        if group_by or any(_has_aggregate(e) for e in exprs):
            if group_by:
                groups = {}
                for r in joined:
                    key = tuple(_group_key(self.eval(g, r)) for g in group_by)
                    groups.setdefault(key, []).append(r)
                units = list(groups.values())
            else:
                units = [joined]
        else:
            units = [[r] for r in joined]

        def value(e, unit):
            folded = self._fold_aggregates(e, unit)
            if not unit:
                try:
                    return self.eval(folded, {})
                except E.SqlError:
                    return None
            return self.eval(folded, unit[0])

        for e, desc in reversed(spec["order"]):
            key_e = e
            if e[0] == "lit" and isinstance(e[1], int):
                key_e = exprs[e[1] - 1]
            elif e[0] == "col" and len(e[1]) == 1:
                for (n, _type), ex in zip(out_cols, exprs):
                    if n.lower() == e[1][0].lower() and not (ex[0] == "col" and ex[1][-1].lower() == n.lower()):
                        key_e = ex

            def cmp(a, b, key_e=key_e):
                va, vb = value(key_e, a), value(key_e, b)
                if va is None and vb is None:
                    return 0
                if va is None:
                    return -1
                if vb is None:
                    return 1
                return compare(va, vb)
            units.sort(key=functools.cmp_to_key(cmp), reverse=desc)
        rows = [[value(e, u) for e in exprs] for u in units]
        if spec["distinct"]:
            seen, uniq = set(), []
            for r in rows:
                k = tuple(r)
                if k not in seen:
                    seen.add(k)
                    uniq.append(r)
            rows = uniq
        if spec["top"] is not None:
            rows = rows[:int(self.eval(spec["top"], {}))]
        cols = []
        for i, (n, t) in enumerate(out_cols):
            if t is None:
                if exprs[i][0] == "func" and exprs[i][1] == "SERVERPROPERTY":
                    t = C.SqlType("sql_variant", tds.T_SSVARIANT, 8016)
                else:
                    t = infer_type(r[i] for r in rows)
            cols.append((n, t))
        rows = [[_coerce(v, t) for v, (_name, t) in zip(r, cols)] for r in rows]
        res.sets.append((cols, rows))
        res.rowcount = len(rows)

    def _fold_aggregates(self, e, unit):
        """`e` with every aggregate replaced by its value over the rows of one group."""
        if isinstance(e, tuple) and e and e[0] == "count":
            if e[1] is None:
                return ("lit", len(unit))
            return ("lit", sum(1 for r in unit if self.eval(e[1], r) is not None))
        if isinstance(e, tuple) and e and e[0] == "agg":
            values = [v for v in (self.eval(e[2], r) for r in unit) if v is not None]
            if e[1] == "COUNT_BIG":
                return ("lit", len(values))
            if not values:
                return ("lit", None)
            if e[1] in ("MAX", "MIN"):
                ordered = sorted(values, key=functools.cmp_to_key(compare))
                return ("lit", ordered[-1] if e[1] == "MAX" else ordered[0])
            total = sum(values)
            if e[1] == "SUM":
                return ("lit", total)
            return ("lit", total // len(values) if all(isinstance(v, int) for v in values) else total / len(values))
        if isinstance(e, tuple):
            return tuple(self._fold_aggregates(x, unit) for x in e)
        if isinstance(e, list):
            return [self._fold_aggregates(x, unit) for x in e]
        return e

    def _col_type(self, parts, colmeta):
        want = parts[-1].lower()
        for alias, cols in colmeta.items():
            if len(parts) > 1 and alias != parts[-2].lower():
                continue
            for cname, ctype in cols:
                if cname.lower() == want:
                    return ctype
        raise E.invalid_column(parts[-1])

    def _from(self, sources):
        colmeta = {}
        joined = None
        for src in sources:
            cols, rows = self.resolve_source(src["parts"])
            alias = src["alias"]
            colmeta[alias] = cols
            names = [c.lower() for c, _type in cols]
            prefixed = []
            for r in rows:
                d = {f"{alias}.{k}": v for k, v in r.items()}
                prefixed.append(d)
            if joined is None:
                joined = [dict(d, **{k.split(".", 1)[1]: v for k, v in d.items()}) for d in prefixed]
                continue
            new = []
            for left in joined:
                matched = False
                for d in prefixed:
                    merged = dict(left)
                    merged.update(d)
                    for k, v in d.items():
                        short = k.split(".", 1)[1]
                        merged.setdefault(short, v)
                    if self.eval(src["on"], merged) is True:
                        new.append(merged)
                        matched = True
                if not matched and src["join"] == "LEFT":
                    merged = dict(left)
                    for n in names:
                        merged[f"{alias}.{n}"] = None
                    new.append(merged)
            joined = new
        return joined, colmeta

    # -- INSERT / UPDATE / DELETE -----------------------------------------------------------------
    def _database_for_ddl(self, parts, verb):
        names = [p.lower() for p in parts]
        db_name = names[0] if len(names) == 3 else self.session.database
        db = self.cat.databases.get(db_name.lower())
        if db is None:
            raise E.db_not_exist(parts[0])
        if len(names) > 1 and names[-2] != "dbo":
            raise E.SqlError(2760, 16, 1, f'The specified schema name "{parts[-2]}" either does not exist or you do '
                                          "not have permission to use it.")
        if db.state != "ONLINE":
            raise E.SqlError(927, 14, 2, f"Database '{db.name}' cannot be opened. It is in the middle of a restore.")
        secondary = hadr.in_group(self.cat, db.name) and hadr.replica_of(self.cat).role == "SECONDARY"
        if db.read_only or secondary:
            raise E.SqlError(3906, 16, 1, f'Failed to update database "{db.name}" because the database is read-only.')
        if not (self.session.is_sysadmin() or self.session.in_db_role(db, "db_owner")
                or self.session.in_db_role(db, "db_ddladmin")):
            raise E.SqlError(262, 14, 1, f"{verb} permission denied in database '{db.name}'.")
        return db

    def create_table(self, parts, columns):
        db = self._database_for_ddl(parts, "CREATE TABLE")
        if parts[-1].lower() in db.tables:
            raise E.SqlError(2714, 16, 6, f"There is already an object named '{parts[-1]}' in the database.")
        change = {"table": parts[-1].lower(), "ddl": "create", "name": parts[-1], "columns": [list(c) for c in columns]}
        apply_change(db, change)
        self._log_change(db, change)

    def drop_table(self, parts, if_exists):
        names = [p.lower() for p in parts]
        db = self.cat.databases.get(names[0] if len(names) == 3 else self.session.database.lower())
        if db is None or names[-1] not in db.tables:
            if if_exists:
                return
            raise E.SqlError(3701, 11, 5, f"Cannot drop the table '{parts[-1]}', because it does not exist or you do "
                                          "not have permission.")
        db = self._database_for_ddl(parts, "DROP TABLE")
        change = {"table": names[-1], "ddl": "drop", "saved": copy.deepcopy(db.tables[names[-1]])}
        apply_change(db, change)
        self._log_change(db, change)

    def _table_for_write(self, parts, verb):
        names = [p.lower() for p in parts]
        if len(names) >= 2 and names[-2] == "sys":
            raise E.SqlError(259, 16, 1, "Ad hoc updates to system catalogs are not allowed.")
        db_name = names[0] if len(names) == 3 else self.session.database
        db = self.cat.databases.get(db_name.lower())
        table = db.tables.get(names[-1]) if db is not None and (len(names) == 1 or names[-2] == "dbo") else None
        if table is None:
            raise E.invalid_object(".".join(parts))
        if db.state != "ONLINE":
            raise E.SqlError(927, 14, 2, f"Database '{db.name}' cannot be opened. It is in the middle of a restore.")
        secondary = hadr.in_group(self.cat, db.name) and hadr.replica_of(self.cat).role == "SECONDARY"
        if db.read_only or secondary:
            raise E.SqlError(3906, 16, 1, f'Failed to update database "{db.name}" because the database is read-only.')
        if not (self.session.is_sysadmin() or self.session.in_db_role(db, "db_owner")
                or self.session.in_db_role(db, "db_datawriter")):
            raise E.SqlError(229, 14, 5, f"The {verb} permission was denied on the object '{table['name']}', "
                                         f"database '{db.name}', schema 'dbo'.")
        return db, table

    def _log_change(self, db, change):
        """Autocommit: the change is a log record now; inside a transaction it waits for COMMIT."""
        self.session.pending.append((db, change))
        if not self.session.tran_count:
            self.session.end_transaction(True)

    def _typed_row(self, table, values):
        row = []
        for (_cname, tname), v in zip(table["columns"], values):
            base, _length = _split_typename(tname)
            if v is not None and base in ("int", "bigint", "smallint", "tinyint"):
                try:
                    v = int(v)
                except (TypeError, ValueError):
                    raise E.SqlError(245, 16, 1, f"Conversion failed when converting the varchar value '{v}' to "
                                                 "data type int.")
            elif v is not None and base in ("nvarchar", "varchar", "nchar", "char"):
                v = str(v)
            row.append(v)
        return row

    def insert(self, parts, columns, rows):
        db, table = self._table_for_write(parts, "INSERT")
        names = [c.lower() for c, _type in table["columns"]]
        targets = [c.lower() for c in columns] if columns else names
        for c, original in zip(targets, columns or names):
            if c not in names:
                raise E.invalid_column(original)
        new_rows = []
        for exprs in rows:
            if len(exprs) != len(targets):
                raise E.SqlError(110 if len(exprs) < len(targets) else 109, 15, 1,
                                 "There are fewer columns in the INSERT statement than values specified in the VALUES "
                                 "clause. The number of values in the VALUES clause must match the number of columns "
                                 "specified in the INSERT statement." if len(exprs) > len(targets) else
                                 "There are more columns in the INSERT statement than values specified in the VALUES "
                                 "clause. The number of values in the VALUES clause must match the number of columns "
                                 "specified in the INSERT statement.")
            given = dict(zip(targets, (self.eval(e, {}) for e in exprs)))
            new_rows.append(self._typed_row(table, [given.get(n) for n in names]))
        for row in new_rows:
            change = {"table": table["name"].lower(), "old": None, "new": row}
            apply_change(db, change)
            self._log_change(db, change)
        self.result.rowcount = len(new_rows)

    def _matching(self, table, where):
        names = [c.lower() for c, _type in table["columns"]]
        hits = []
        for row in table["rows"]:
            view = dict(zip(names, row))
            view.update({f"{table['name'].lower()}.{k}": v for k, v in zip(names, row)})
            if where is None or self.eval(where, view) is True:
                hits.append((row, view))
        return names, hits

    def update(self, parts, assignments, where):
        db, table = self._table_for_write(parts, "UPDATE")
        names, hits = self._matching(table, where)
        for col, _e in assignments:
            if col.lower() not in names:
                raise E.invalid_column(col)
        planned = []
        for row, view in hits:
            new = list(row)
            for col, e in assignments:
                new[names.index(col.lower())] = self.eval(e, view)
            planned.append((row, self._typed_row(table, new)))
        for old, new in planned:
            change = {"table": table["name"].lower(), "old": list(old), "new": new}
            apply_change(db, change)
            self._log_change(db, change)
        self.result.rowcount = len(planned)

    def delete(self, parts, where):
        db, table = self._table_for_write(parts, "DELETE")
        _names, hits = self._matching(table, where)
        for row, _view in hits:
            change = {"table": table["name"].lower(), "old": list(row), "new": None}
            apply_change(db, change)
            self._log_change(db, change)
        self.result.rowcount = len(hits)

    # -- session statements ------------------------------------------------------------------------
    def use(self, name):
        db = self.cat.databases.get(name.lower())
        if db is None:
            raise E.db_not_exist(name)
        self.result.envchanges.append((1, db.name, self.session.database))
        self.session.database = db.name
        self.info(5701, f"Changed database context to '{db.name}'.", state=1)

    def set_option(self, opt, on):
        self.session.options[opt] = on

    def begin_tran(self):
        self.session.tran_count += 1

    def end_tran(self, verb):
        self._end_tran(verb)
        if self.session.tran_count == 0:
            self.session.end_transaction(verb == "COMMIT")

    def _end_tran(self, verb):
        if self.session.tran_count == 0:
            if verb == "COMMIT":
                raise E.SqlError(3902, 16, 1, "The COMMIT TRANSACTION request has no corresponding BEGIN "
                                              "TRANSACTION.")
            raise E.SqlError(3903, 16, 1, "The ROLLBACK TRANSACTION request has no corresponding BEGIN "
                                          "TRANSACTION.")
        self.session.tran_count = 0 if verb == "ROLLBACK" else self.session.tran_count - 1

    def exec_proc(self, proc, args):
        from .procs import run_procedure
        run_procedure(self, proc, args)

    # -- logins -------------------------------------------------------------------------------------
    def _need(self, perm):
        if not self.session.has_server_perm(perm):
            raise E.no_permission()

    def create_sql_login(self, name, opts):
        self._need("ALTER ANY LOGIN")
        if name.lower() in self.cat.logins:
            raise E.login_exists(name)
        login = self.cat.add_login(name, "S", C.sql_login_sid(name), password=opts["PASSWORD"])
        if "DEFAULT_DATABASE" in opts:
            login.default_database = opts["DEFAULT_DATABASE"]

    def create_external_login(self, name, object_id):
        """CREATE LOGIN … FROM EXTERNAL PROVIDER [WITH OBJECT_ID] (seed 004).

        SQL Server on an Azure VM resolves the name in Microsoft Graph with the server's primary managed
        identity; without one, or without directory read rights, it answers Msg 33134 (texts from
        learn.microsoft.com/azure/azure-sql/database/authentication-aad-service-principal, Troubleshooting).
        """
        self._need("ALTER ANY LOGIN")
        if name.lower() in self.cat.logins:
            raise E.login_exists(name)
        ltype, sid, principal = self._resolve_entra(name, object_id)
        if self.cat.login_by_sid(sid) is not None:
            raise E.SqlError(15025, 16, 2, f"The server principal '{self.cat.login_by_sid(sid).name}' already "
                                           "exists.")
        self.cat.add_login(name, ltype, sid, object_id=principal["object_id"])

    def _resolve_entra(self, name, object_id=None):
        """Resolve an Entra name (or OBJECT_ID) through Graph with the server's primary managed identity:
        (type E|X, SID, principal). Users and groups: SID from the object id; applications: the app id."""
        backend = self.inst.backend
        identity = backend.primary_identity(self.inst.vm_key)
        if identity is None:
            raise E.SqlError(33134, 16, 1, f"Principal '{name}' could not be resolved. Error message: 'Server "
                                           "identity is not configured. Please follow the steps in \"Assign an Azure "
                                           "AD identity to your server and add Directory Reader permission to your "
                                           "identity\" (https://aka.ms/sqlaadsetup)'")
        if not backend.can_read_directory(identity):
            raise E.SqlError(33134, 16, 1, f"Principal '{name}' could not be resolved. Error message: 'Server "
                                           "identity does not have Azure Active Directory Readers permission. Please "
                                           "follow the steps in \"Assign an Azure AD identity to your server and add "
                                           "Directory Reader permission to your identity\" (https://aka.ms/sqlaadsetup)'")
        if object_id:
            p = backend.entra_get(object_id)
            if p is None or (p["object_id"].lower() != object_id.lower() and
                             (p.get("app_id") or "").lower() != object_id.lower()):
                raise E.SqlError(33130, 16, 1, f"Principal '{name}' could not be found or this principal type is "
                                               "not supported.")
            matches = [p]
        else:
            matches = backend.entra_lookup(name)
            if len(matches) > 1:
                raise E.SqlError(33131, 16, 1, f"Principal '{name}' has a duplicate display name. Make the display "
                                               "name unique in Azure Active Directory and execute this statement "
                                               "again.")
            if not matches:
                raise E.SqlError(33130, 16, 1, f"Principal '{name}' could not be found or this principal type is "
                                               "not supported.")
        p = matches[0]
        if p["kind"] == "group":
            ltype, sid_src = "X", p["object_id"]
        elif p["kind"] == "servicePrincipal":
            ltype, sid_src = "E", p.get("app_id") or p["object_id"]
        else:
            ltype, sid_src = "E", p["object_id"]
        return ltype, C.guid_sid(sid_src), p

    def _login(self, name, verb):
        login = self.cat.logins.get(name.lower())
        if login is None:
            raise E.cannot_login(verb, name)
        return login

    def alter_login_enable(self, name, enable):
        self._need("ALTER ANY LOGIN")
        login = self._login(name, "alter")
        if login.type == "X":
            # Seed 004: "ALTER LOGIN login_name DISABLE is not supported for Microsoft Entra groups."
            raise E.SqlError(33129, 16, 1, "Cannot use ALTER LOGIN with the ENABLE or DISABLE argument for a "
                                           "Windows group. GRANT or REVOKE the CONNECT SQL permission instead.")
        login.disabled = not enable
        login.modified = _dt.datetime.now().replace(microsecond=0)

    def alter_login_options(self, name, opts):
        login = self._login(name, "alter")
        own = login is self.session.login
        if not own:
            self._need("ALTER ANY LOGIN")
        if "PASSWORD" in opts:
            if login.type != "S":
                raise E.SqlError(15080, 16, 1, "Cannot use parameter PASSWORD for a Windows login.")
            login.password = opts["PASSWORD"]
        if "DEFAULT_DATABASE" in opts:
            login.default_database = opts["DEFAULT_DATABASE"]
        if "NAME" in opts:
            del self.cat.logins[login.name.lower()]
            login.name = opts["NAME"]
            self.cat.logins[login.name.lower()] = login
        login.modified = _dt.datetime.now().replace(microsecond=0)

    def alter_server_role(self, role, action, member):
        try:
            rid = self.cat.server_role_id(role)
        except KeyError:
            rid = None
        allowed = self.session.is_sysadmin() or (
            rid not in (None, 3) and self.session.has_server_perm("ALTER ANY LOGIN"))
        if rid is None or rid == 2 or not allowed:
            raise E.SqlError(15151, 16, 1, f"Cannot alter the server role '{role}', because it does not exist or "
                                           "you do not have permission.")
        login = self.cat.logins.get(member.lower())
        if login is None:
            raise E.not_valid_login(member)
        if action == "ADD":
            self.cat.role_members.add((rid, login.principal_id))
        else:
            self.cat.role_members.discard((rid, login.principal_id))

    def _db(self):
        return self.cat.databases[self.session.database.lower()]

    def _need_db(self, db, role="db_owner", alt=("db_accessadmin", "db_securityadmin")):
        if self.session.is_sysadmin():
            return
        if self.session.in_db_role(db, role) or any(self.session.in_db_role(db, r) for r in alt):
            return
        raise E.no_permission()

    def create_user(self, name, login_name, external):
        db = self._db()
        self._need_db(db)
        if name.lower() in db.users:
            raise E.SqlError(15023, 16, 1, f"User, group, or role '{name}' already exists in the current database.")
        if external:
            login = self.cat.logins.get(name.lower())
            if login is None or login.type not in ("E", "X"):
                # no login: the user is resolved in Entra like CREATE LOGIN … FROM EXTERNAL PROVIDER
                ltype, sid, _principal = self._resolve_entra(name)
                if any(u.get("sid") == sid for u in db.users.values()):
                    raise E.SqlError(15063, 16, 1, "The login already has an account under a different user name.")
                db.users[name.lower()] = {"name": name, "principal_id": _next_uid(db), "type": ltype, "sid": sid,
                                          "login": None}
                return
            login_name = login.name
        if login_name is not None:
            login = self.cat.logins.get(login_name.lower())
            if login is None:
                raise E.not_valid_login(login_name)
            if self.cat.db_user_for(db, login) is not None:
                raise E.SqlError(15063, 16, 1, "The login already has an account under a different user name.")
        self.cat.add_db_user(db, name, login_name) if login_name else db.users.__setitem__(
            name.lower(), {"name": name, "principal_id": _next_uid(db), "type": "S", "sid": None, "login": None})

    def alter_db_role(self, role, action, member):
        db = self._db()
        r = db.users.get(role.lower())
        if r is None or r["type"] != "R" or role.lower() == "public":
            raise E.SqlError(15151, 16, 1, f"Cannot alter the role '{role}', because it does not exist or you do "
                                           "not have permission.")
        self._need_db(db, "db_owner", ("db_securityadmin",))
        u = db.users.get(member.lower())
        if u is None:
            raise E.SqlError(15151, 16, 1, f"Cannot add the principal '{member}', because it does not exist or you "
                                           "do not have permission.")
        pair = (r["principal_id"], u["principal_id"])
        if action == "ADD":
            db.role_members.add(pair)
        else:
            db.role_members.discard(pair)

    def alter_database_recovery(self, name, model):
        db = self.cat.databases.get(name.lower())
        if db is None:
            raise E.db_not_exist(name)
        self._need_db(db, "db_owner", ())
        if model == "SIMPLE":
            db.log_chain_lsn = None   # the log backup chain breaks; BACKUP LOG needs a new full backup
        db.recovery_model = model

    def alter_authorization(self, db_name, owner):
        db = self.cat.databases.get(db_name.lower())
        if db is None:
            raise E.SqlError(15151, 16, 1, f"Cannot find the database '{db_name}', because it does not exist or you "
                                           "do not have permission.")
        self._need_db(db, "db_owner", ())
        login = self.cat.logins.get(owner.lower())
        if login is None:
            raise E.SqlError(15151, 16, 1, f"Cannot find the principal '{owner}', because it does not exist or you "
                                           "do not have permission.")
        if login.type == "X":
            # seed 004: "The new owner cannot be Azure Active Directory group."
            raise E.SqlError(33181, 16, 1, "The new owner cannot be Azure Active Directory group.")
        db.owner_sid = login.sid

    def create_database(self, name):
        self._need("CREATE ANY DATABASE")
        if name.lower() in self.cat.databases:
            raise E.SqlError(1801, 16, 3, f"Database '{name}' already exists. Choose a different database name.")
        self.cat.add_database(name, size_mb=16)

    def drop(self, what, name, if_exists):
        cat = self.cat
        if what == "LOGIN":
            self._need("ALTER ANY LOGIN")
            login = self._login(name, "drop")
            if login is self.session.login:
                raise E.SqlError(15434, 16, 1, f"Could not drop login '{name}' as the user is currently logged in.")
            del cat.logins[login.name.lower()]
            cat.role_members = {(r, m) for r, m in cat.role_members if m != login.principal_id}
        elif what == "USER":
            db = self._db()
            self._need_db(db)
            u = db.users.get(name.lower())
            if u is None or u["type"] == "R" or u["principal_id"] < 5:
                if if_exists and u is None:
                    return
                raise E.SqlError(15151, 16, 1, f"Cannot drop the user '{name}', because it does not exist or you do "
                                               "not have permission.")
            del db.users[name.lower()]
            db.role_members = {(r, m) for r, m in db.role_members if m != u["principal_id"]}
        elif what == "CREDENTIAL":
            self._need("ALTER ANY CREDENTIAL")
            if name not in cat.credentials:
                raise E.SqlError(15151, 16, 1, f"Cannot drop the credential '{name}', because it does not exist or "
                                               "you do not have permission.")
            del cat.credentials[name]
        else:
            db = cat.databases.get(name.lower())
            if db is None:
                if if_exists:
                    return
                raise E.SqlError(3701, 11, 1, f"Cannot drop the database '{name}', because it does not exist or you "
                                              "do not have permission.")
            self._need("CREATE ANY DATABASE")
            if db.database_id <= 4:
                raise E.SqlError(3708, 16, 2, f"Cannot drop the database '{name}' because it is a system database.")
            del cat.databases[name.lower()]

    # -- credentials ---------------------------------------------------------------------------------
    def create_credential(self, name, opts):
        """CREATE CREDENTIAL (learn.microsoft.com/sql/t-sql/statements/create-credential-transact-sql).
        Names are case-sensitive (FACTS); with trace flag 4675 on, a managed-identity credential is validated
        against the primary managed identity (seed 002)."""
        self._need("ALTER ANY CREDENTIAL")
        if name in self.cat.credentials:
            raise E.SqlError(15025, 16, 1, f"The credential with name '{name}' already exists.")
        self._check_mi_credential(opts)
        cid = self.cat.next_credential_id
        self.cat.next_credential_id += 1
        now = _dt.datetime.now().replace(microsecond=0)
        self.cat.credentials[name] = {"id": cid, "name": name, "identity": opts["IDENTITY"],
                                      "secret": opts.get("SECRET"), "created": now, "modified": now}

    def _check_mi_credential(self, opts):
        if str(opts["IDENTITY"]).lower() == "managed identity":
            if 4675 in self.cat.trace_flags and self.inst.backend.primary_identity(self.inst.vm_key) is None:
                raise E.SqlError(37563, 16, 2, E.PRIMARY_MI_NOT_SELECTED)
            if opts.get("SECRET") is not None:
                raise E.SqlError(15579, 16, 1, "Adding a secret to a credential with IDENTITY = 'Managed Identity' "
                                               "is not supported.")

    def alter_credential(self, name, opts):
        self._need("ALTER ANY CREDENTIAL")
        cred = self.cat.credentials.get(name)
        if cred is None:
            raise E.SqlError(15151, 16, 1, f"Cannot alter the credential '{name}', because it does not exist or you "
                                           "do not have permission.")
        self._check_mi_credential(opts)
        cred["identity"] = opts["IDENTITY"]
        cred["secret"] = opts.get("SECRET")
        cred["modified"] = _dt.datetime.now().replace(microsecond=0)

    # -- DBCC ---------------------------------------------------------------------------------------
    def dbcc(self, cmd, args, no_info):
        if cmd in ("TRACEON", "TRACEOFF", "FLUSHAUTHCACHE", "FREESYSTEMCACHE") and not self.session.is_sysadmin():
            raise E.SqlError(2571, 14, 3, f"User '{self.session.login.name}' does not have permission to run DBCC "
                                          f"{cmd}.")
        if cmd in ("TRACEON", "TRACEOFF"):
            flags = [a for a in args if isinstance(a, int) and a >= 0]
            for f in flags:
                (self.cat.trace_flags.add if cmd == "TRACEON" else self.cat.trace_flags.discard)(f)
        elif cmd == "TRACESTATUS":
            flags = [a for a in args if isinstance(a, int) and a >= 0]
            shown = sorted(flags) if flags else sorted(self.cat.trace_flags)
            cols = [("TraceFlag", C.INT), ("Status", C.INT), ("Global", C.INT), ("Session", C.INT)]
            rows = [[f, int(f in self.cat.trace_flags), int(f in self.cat.trace_flags), 0] for f in shown]
            self.result.sets.append((cols, rows))
        elif cmd == "FREESYSTEMCACHE":
            if not args or not isinstance(args[0], str):
                raise E.SqlError(2526, 16, 3, "Incorrect DBCC statement. Check the documentation for the correct "
                                              "DBCC syntax and options.")
        if not no_info:
            self.info(2528, "DBCC execution completed. If DBCC printed error messages, contact your system "
                            "administrator.")

    # -- backup / restore ---------------------------------------------------------------------------
    def backup(self, spec):
        from .backup import run_backup
        run_backup(self, spec)

    def restore(self, spec):
        from .backup import run_restore
        run_restore(self, spec)


_DATEPARTS = {"year": "year", "yy": "year", "yyyy": "year", "quarter": "quarter", "qq": "quarter", "q": "quarter",
              "month": "month", "mm": "month", "m": "month", "day": "day", "dd": "day", "d": "day",
              "dayofyear": "day", "dy": "day", "y": "day", "week": "week", "wk": "week", "ww": "week",
              "hour": "hour", "hh": "hour", "minute": "minute", "mi": "minute", "n": "minute", "second": "second",
              "ss": "second", "s": "second", "millisecond": "millisecond", "ms": "millisecond"}


def _date_function(name, raw, args):
    """DATEADD(datepart, number, date) and DATEDIFF(datepart, start, end) ("DATEADD (Transact-SQL)",
    "DATEDIFF (Transact-SQL)": DATEDIFF counts datepart boundaries crossed)."""
    part_expr = raw[0] if raw else None
    part = _DATEPARTS.get(part_expr[1][-1].lower()) if part_expr and part_expr[0] == "col" else None
    if part is None or len(args) != 3:
        raise E.SqlError(155, 15, 1, f"'{part_expr[1][-1] if part_expr and part_expr[0] == 'col' else '?'}' is not a "
                                     f"recognized {name.lower()} option.")
    if name == "DATEADD":
        n, when = args[1], args[2]
        if n is None or when is None:
            return None
        when = _as_datetime(when)
        n = int(n)
        if part in ("year", "quarter", "month"):
            months = n * {"year": 12, "quarter": 3, "month": 1}[part]
            total = when.year * 12 + when.month - 1 + months
            year, month = divmod(total, 12)
            import calendar
            day = min(when.day, calendar.monthrange(year, month + 1)[1])
            return when.replace(year=year, month=month + 1, day=day)
        unit = {"week": "weeks", "day": "days", "hour": "hours", "minute": "minutes", "second": "seconds",
                "millisecond": "milliseconds"}[part]
        return when + _dt.timedelta(**{unit: n})
    start, end = args[1], args[2]
    if start is None or end is None:
        return None
    start, end = _as_datetime(start), _as_datetime(end)
    if part in ("year", "quarter", "month"):
        months = (end.year - start.year) * 12 + end.month - start.month
        return {"year": end.year - start.year, "quarter": (end.year * 12 + end.month - 1) // 3
                - (start.year * 12 + start.month - 1) // 3, "month": months}[part]
    step = {"week": None, "day": 86400, "hour": 3600, "minute": 60, "second": 1, "millisecond": 0.001}[part]
    if part == "week":   # weeks start on Sunday (DATEFIRST 7)
        def sunday(d):
            return (d.date() - _dt.timedelta(days=(d.weekday() + 1) % 7))
        return (sunday(end) - sunday(start)).days // 7
    base = _dt.datetime(1900, 1, 1)
    return int(((end - base).total_seconds() // step) - ((start - base).total_seconds() // step)) if step >= 1 else \
        int(round(((end - base).total_seconds() - (start - base).total_seconds()) * 1000))


def _as_datetime(v):
    if isinstance(v, _dt.datetime):
        return v
    if isinstance(v, _dt.date):
        return _dt.datetime.combine(v, _dt.time())
    try:
        return _dt.datetime.fromisoformat(str(v).strip().replace("T", " "))
    except ValueError:
        raise E.SqlError(241, 16, 1, "Conversion failed when converting date and/or time from character string.")


def _has_aggregate(e):
    if isinstance(e, tuple) and e and e[0] in ("count", "agg"):
        return True
    if isinstance(e, (tuple, list)):
        return any(_has_aggregate(x) for x in e)
    return False


def _group_key(v):
    """GROUP BY compares as the default collation does: case-insensitive, trailing blanks ignored."""
    return v.lower().rstrip() if isinstance(v, str) else v


def apply_change(db, change):
    """Redo one log record on `db` (a row is found by its values: the world's tables have no row ids)."""
    if change.get("ddl") == "create":
        db.tables[change["table"]] = {"name": change["name"], "columns": [tuple(c) for c in change["columns"]],
                                      "rows": []}
        return
    if change.get("ddl") == "drop":
        db.tables.pop(change["table"], None)
        return
    rows = db.tables[change["table"]]["rows"]
    old, new = change["old"], change["new"]
    if old is None:
        rows.append(list(new))
        return
    for i, row in enumerate(rows):
        if list(row) == list(old):
            if new is None:
                del rows[i]
            else:
                rows[i] = list(new)
            return


def undo_change(db, change):
    if change.get("ddl") == "create":
        db.tables.pop(change["table"], None)
    elif change.get("ddl") == "drop":
        db.tables[change["table"]] = copy.deepcopy(change["saved"])
    else:
        apply_change(db, {"table": change["table"], "old": change["new"], "new": change["old"]})


def _next_uid(db):
    uid = db.next_principal_id
    db.next_principal_id += 1
    return uid


def _split_typename(tn):
    m = tn.replace(" ", "").lower()
    if "(" in m:
        base, rest = m.split("(", 1)
        n = rest.rstrip(")").split(",")[0]
        return base, ("max" if n == "max" else int(n))
    return m, None


def _coerce(v, t):
    if v is None:
        return None
    if t.tds == tds.T_INTN and isinstance(v, bool):
        return int(v)
    return v


__all__ = ["Instance", "Session", "Context", "time"]
