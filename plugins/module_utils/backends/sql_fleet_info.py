# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""sql_fleet_info: what sql_info reads, for many SQL Servers in one task (one process, a bounded thread pool).

Ansible runs a module process per host and task, and each costs a fraction of a second of controller CPU before it
does any work; a fleet read in one process pays that once. The per-server read is sql_info's own
(backends/sql_info.read_server), so each host's facts are what sql_info returns for it, by construction.

- Every entry is merged with the task's connection defaults and validated as sql_info validates its options, all
  before the first login: bad input fails the task naming ``servers[N].<option>``.
- Then up to ``concurrency`` servers are read at once. pyodbc releases the GIL while the driver connects and
  waits for answers, so threads overlap the network waits; the parsing is small.
- A server that cannot be reached, refuses the login or fails its read is that host's ``failed`` entry with the
  cause and the fix (sql/errors.py); it never fails the task.
- Microsoft Entra authentication asks the credential chain for one access token for the SQL resource, once for
  the whole fleet (SharedToken); every token login uses it.
- One deadline for the task (the ``timeout`` option, common/errors.Deadline): every login and read ends within
  it; a server not read when it runs out is reported as such.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_info
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, SqlvmBackupError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import TimeoutExceeded
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact, redact_data
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import has_control_character
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import SqlConnectionSettings
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec

DEFAULT_CONCURRENCY = 32
MAX_CONCURRENCY = 256

# Connection options a server entry may set for itself; any it leaves out come from the task's option of the same
# name. sql_host has no task-wide default: it is what tells the servers apart.
ENTRY_CONNECTION_OPTIONS = ("sql_port", "sql_auth", "login_user", "login_password", "odbc_driver", "encrypt",
                            "trust_server_certificate", "host_name_in_certificate", "login_timeout",
                            "statement_timeout")
# Options of sql_info beyond the connection that an entry may set, with a task-wide default too.
ENTRY_READ_OPTIONS = ("container_url",)


def argument_spec():
    """The module's options besides the Azure authentication ones (SqlvmModule adds those)."""
    defaults = connection_argument_spec()
    del defaults["sql_host"]
    spec = dict(defaults)
    spec.update(sql_info.argument_spec())
    entry = dict(host=dict(type="str"), sql_host=dict(type="str", aliases=["login_host"]))
    for name in ENTRY_CONNECTION_OPTIONS:
        option = dict(defaults[name])
        option.pop("default", None)  # unset in an entry means: the task's value
        entry[name] = option
    entry["container_url"] = dict(type="str")
    spec.update(servers=dict(type="list", elements="dict", required=True, options=entry),
                concurrency=dict(type="int", default=DEFAULT_CONCURRENCY))
    return spec


def server_params(params, entry):
    """The options sql_info would get for one entry: the task's connection and read options, overridden by what
    the entry sets (None means unset). Pure."""
    merged = {name: params.get(name) for name in ENTRY_CONNECTION_OPTIONS + ENTRY_READ_OPTIONS}
    for name in ("storage_suffix", "cloud_environment"):
        merged[name] = params.get(name)
    if (entry or {}).get("sql_auth") == "entra":
        # An entry that says it logs in with a token does not take the task's SQL login with it.
        merged["login_user"] = merged["login_password"] = None
    for name, value in (entry or {}).items():
        if name == "host":
            continue
        if value is not None or name not in merged:
            merged[name] = value
    return merged


def _where(index, message, entry):
    """`message` of a check that names an option first ("sql_host ... ", "login_user ..."), said of servers[index];
    an option the entry did not set came from the task's option of that name, and the message says so."""
    first = message.split(" ", 1)[0].rstrip(":.,")
    if first in ENTRY_CONNECTION_OPTIONS + ENTRY_READ_OPTIONS + ("sql_host",):
        inherited = "" if (entry or {}).get(first) is not None else " (the task's %s, which servers[%d] uses)" % (first, index)
        return "servers[%d].%s%s" % (index, message, inherited)
    return "servers[%d]: %s" % (index, message)


def entry_problems(params):
    """Every problem of the `servers` entries and `concurrency` (list of (message, fix)), none of them found by
    connecting. Pure but for reading the cloud's storage suffix when an entry has a container_url."""
    problems = []
    concurrency = params.get("concurrency")
    if concurrency is None or not 1 <= concurrency <= MAX_CONCURRENCY:
        problems.append(("concurrency %r is not between 1 and %d." % (concurrency, MAX_CONCURRENCY),
                         "give how many SQL Servers may be read at once (default %d)." % DEFAULT_CONCURRENCY))
    servers = params.get("servers")
    if not servers:
        problems.append(("servers is empty.", "list the SQL Servers to read: [{host: <inventory name>, sql_host: "
                                              "<address>}, ...]."))
        return problems
    seen = {}
    for index, entry in enumerate(servers):
        host = (entry or {}).get("host")
        if not isinstance(host, str) or not host.strip():
            problems.append(("servers[%d].host is missing or blank." % index,
                             "give each entry the name its result is kept under in hosts, usually the host's "
                             "inventory_hostname."))
        elif has_control_character(host) or host != host.strip():
            problems.append(("servers[%d].host %r holds a control character or surrounding blanks." % (index, host),
                             "give the host name on one line without them."))
        elif host in seen:
            problems.append(("servers[%d].host %r is also servers[%d].host." % (index, host, seen[host]),
                             "give each server once; host names the result and must be unique."))
        else:
            seen[host] = index
        merged = server_params(params, entry)
        if not merged.get("sql_host"):
            problems.append(("servers[%d].sql_host is missing." % index,
                             "give the address of the SQL Server instance of %s." % (host or "this entry")))
            continue
        try:
            SqlConnectionSettings.from_params(merged)
        except InvalidInputError as error:
            problems.append((_where(index, error.cause, entry), error.fix))
        if merged.get("container_url"):
            problem = _container_url_problem(merged, index, entry)
            if problem:
                problems.append(problem)
    return problems


def _container_url_problem(merged, index, entry):
    """sql_info's check of container_url (sql_credential's URL rules), said of servers[index]: (message, fix) or None."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_credential import split_container_url
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix
    option = "servers[%d].container_url" % index
    if entry.get("container_url") is None:
        option = "container_url (the task's, which servers[%d] uses)" % index
    try:
        split_container_url(merged["container_url"], storage_suffix(merged), option)
    except InvalidInputError as error:
        message = error.cause
        if message.startswith("url "):  # some of the rules name the option as sql_credential's: url
            message = option + message[len("url"):]
        elif not message.startswith(option):
            message = "%s: %s" % (option, message)
        return message, error.fix
    return None


def refuse(problems):
    """Raise InvalidInputError for a list of (message, fix): the one problem, or all of them numbered."""
    if len(problems) == 1:
        raise InvalidInputError(problems[0][0], fix=problems[0][1])
    raise InvalidInputError("%d problems in the task's options: %s" % (len(problems), " ".join(
        "(%d) %s%s" % (n, message.rstrip(), " Fix: %s" % fix if fix else "")
        for n, (message, fix) in enumerate(problems, 1))))


def validate(params):
    """Refuse bad input before any login: every problem of every entry at once."""
    problems = entry_problems(params)
    if problems:
        refuse(problems)


class SharedToken:
    """One Entra access token for every server of the task (they share the SQL resource and the credential):
    the first login that needs it asks `provider` while the others wait; a failure is kept and given to every
    login that needs the token, so the credential chain is asked once whatever happens."""

    def __init__(self, provider):
        self._provider = provider
        self._lock = threading.Lock()
        self._done = False
        self._token = None
        self._error = None
        self.requests = 0

    def __call__(self):
        with self._lock:
            if not self._done:
                self.requests += 1
                try:
                    self._token = self._provider()
                except Exception as error:  # kept and re-raised for each server; a bug still surfaces per host
                    self._error = error
                self._done = True
        if self._error is not None:
            raise self._error
        return self._token


def failed_host(error):
    """A host's entry for a server that could not be reached or read: failed, the message (cause and fix, as
    sql_info would fail with it) and the structured error."""
    if isinstance(error, SqlvmBackupError):
        result = error.to_result()
        return dict(failed=True, msg=result["msg"], error=result["error"])
    if isinstance(error, ImportError):
        return dict(failed=True, msg=redact("A Python library the read needs is missing on the controller: %s. Install "
                                            "the collection's requirements (requirements.txt)." % error),
                    error=dict(kind="missing_library"))
    # Not one of our domain errors: a defect, shown for what it is (type and text), on this host only.
    return dict(failed=True, msg=redact("Reading this server failed unexpectedly (%s: %s); please report it."
                                        % (type(error).__name__, error)),
                error=redact_data(dict(kind="internal", type=type(error).__name__)))


def read_one(params, connect, deadline):
    """The host's entry: sql_info's facts of the server, or its failure. Never raises."""
    try:
        if deadline is not None and deadline.expired():
            raise TimeoutExceeded("SQL login", deadline.seconds,
                                  "before connecting to %s; raise timeout or concurrency" % params.get("sql_host"))
        return sql_info.read_server(params, connect)
    except Exception as error:  # one server's failure is its host's entry, never the task's
        return failed_host(error)


def read(params, token_provider=None, deadline=None):
    """Result: never changed; `hosts` (host -> facts or failure) and `summary`. `token_provider()` returns an
    access token for the SQL resource (asked once, and only when some server logs in with Entra)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import connection as sql_connection
    shared_token = SharedToken(token_provider) if token_provider is not None else None

    def connect(server):
        return sql_connection.connect(server, token_provider=shared_token, check_mode=True, deadline=deadline)

    servers = params["servers"]
    merged = [server_params(params, entry) for entry in servers]
    workers = max(1, min(params.get("concurrency") or DEFAULT_CONCURRENCY, len(servers)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sql-fleet") as pool:
        outcomes = list(pool.map(lambda server: read_one(server, connect, deadline), merged))
    hosts = {entry["host"]: outcome for entry, outcome in zip(servers, outcomes)}
    failed = sum(1 for outcome in outcomes if outcome.get("failed"))
    return Result(False, hosts=hosts, summary=dict(servers=len(servers), read=len(servers) - failed, failed=failed))
