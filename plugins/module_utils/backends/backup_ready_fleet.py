# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""backup_ready_fleet: the backup_ready role's writing steps for many SQL VMs in one task (one process, a
bounded thread pool), for the hosts the fleet read shows missing something (playbooks/backup_ready.yml).

A per-host task costs a module process (a fraction of a second of controller CPU before any work) and a forked
worker per host; a fresh 1000-VM converge through the role is ~24 task results and 5 module processes per VM.
Here every host is one worker thread that runs, in the role's order, only the steps the plan lists:

1. ``identity``: sqlvm_identity.ensure (the VM's managed identity, then the primary identity of Entra
   authentication on the SQL virtual machine resource);
2. ``directory``: entra_directory_reader.ensure for the primary identity (Directory Readers, a group, or Graph's
   application roles);
3. ``storage``: role_assignment.ensure, Storage Blob Data Contributor on the account or the container;
4. ``logins``: sql_login.ensure for each Entra login, on one SQL connection;
5. ``credential``: sql_credential.ensure for each container URL, on the same connection.

Each step is the single-host module's own backend function, so a host ends as the role would leave it, by
construction. A step that fails ends its host (the later steps depend on it) with the cause and the fix; the
other hosts go on. Check mode writes nothing: a new identity's principal is unknown until it exists, so the
directory and storage grants for it are predicted (as the role predicts them) instead of read.

Every entry is checked before the first request, naming ``hosts[N].<option>``. The HTTP transport keeps one
connection per host and is not shared between threads: each worker thread has its own ARM and Graph clients
(same credential, cloud and task deadline). One Entra token serves every SQL login that needs one (SharedToken).
"""
from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.threads import ThreadClients, prepare_for_threads
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError, SqlvmBackupError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import TimeoutExceeded
from ansible_collections.sqlvm.backup.plugins.module_utils.common.redaction import redact
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import has_control_character, is_guid

STEPS = ("identity", "directory", "storage", "logins", "credential")
AZURE_STEPS = ("identity", "directory", "storage")
SQL_STEPS = ("logins", "credential")
DEFAULT_CONCURRENCY = 32
LONG_TASK_TIMEOUT = 3600
MAX_CONCURRENCY = 128
SYSTEM = "system"
STORAGE_ROLE = "Storage Blob Data Contributor"
# Stands in for a principal not created yet when an entry's directory and storage options are checked up front.
_PLACEHOLDER_PRINCIPAL = "00000000-0000-0000-0000-000000000000"
_LOGIN_KEYS = ("name", "object_id", "server_roles", "state")


def argument_spec():
    """The module's options besides the Azure authentication ones (SqlvmModule adds those)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_fleet_info
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec
    defaults = connection_argument_spec()
    del defaults["sql_host"]
    entry = dict(
        host=dict(type="str"),
        steps=dict(type="list", elements="str"),
        subscription_id=dict(type="str"),
        resource_group=dict(type="str"),
        vm_name=dict(type="str"),
        sql_vm_name=dict(type="str"),
        identity=dict(type="str"),
        identity_exclusive=dict(type="bool"),
        sql_version=dict(type="str"),
        failover_cluster_instance=dict(type="bool"),
        principal_id=dict(type="str"),
        directory_method=dict(type="str", choices=["directory_role", "group", "graph_app_roles"]),
        directory_group_id=dict(type="str"),
        storage_account=dict(type="str"),
        storage_resource_group=dict(type="str"),
        storage_container=dict(type="str"),
        logins=dict(type="list", elements="dict"),
        container_urls=dict(type="list", elements="str", no_log=False),
        sql_host=dict(type="str", aliases=["login_host"]),
    )
    for name in sql_fleet_info.ENTRY_CONNECTION_OPTIONS:
        option = dict(defaults[name])
        option.pop("default", None)  # unset in an entry means: the task's value
        entry[name] = option
    spec = dict(defaults)
    spec.update(hosts=dict(type="list", elements="dict", required=True, options=entry),
                concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
                principal_wait=dict(type="int", default=120),
                storage_suffix=dict(type="str"),
                # A fresh fleet's writes take minutes: ARM's write bucket refills at about 10 a second.
                timeout=dict(type="int", default=LONG_TASK_TIMEOUT))
    return spec


# ---------------------------------------------------------------------------------------------
# input (pure, but for the cloud's storage suffix)

def _option(index, name):
    return "hosts[%d].%s" % (index, name)


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def identity_desired(entry):
    """sqlvm_identity's options for the entry, as roles/backup_ready/tasks/identity.yml passes them."""
    choice = entry.get("identity") or SYSTEM
    return {"resource_group": entry.get("resource_group"), "vm_name": entry.get("vm_name"),
            "sql_vm_name": entry.get("sql_vm_name"),
            "system_assigned": True if choice == SYSTEM else None,
            "user_assigned": [] if choice == SYSTEM else [choice], "primary": choice,
            "exclusive": bool(entry.get("identity_exclusive")), "sql_version": entry.get("sql_version") or None,
            "failover_cluster_instance": entry.get("failover_cluster_instance")}


def directory_desired(entry, principal_id, principal_wait):
    """entra_directory_reader's options (roles/backup_ready/tasks/directory.yml)."""
    return {"principal_id": principal_id, "method": entry.get("directory_method") or "directory_role",
            "group_id": entry.get("directory_group_id") or None, "principal_wait": principal_wait,
            "state": "present"}


def storage_desired(entry, principal_id, principal_wait):
    """role_assignment's options (roles/backup_ready/tasks/storage.yml)."""
    return {"principal_id": principal_id, "principal_type": "ServicePrincipal", "role": STORAGE_ROLE,
            "scope": None, "resource_group": entry.get("storage_resource_group") or entry.get("resource_group"),
            "storage_account": entry.get("storage_account"), "container": entry.get("storage_container") or None,
            "principal_wait": principal_wait, "state": "present"}


def login_params(server, login):
    """sql_login's options for one entry of ``logins`` (roles/backup_ready/tasks/logins.yml), on ``server``."""
    return dict(server, name=login.get("name"), login_type="entra", object_id=login.get("object_id") or None,
                server_roles=login.get("server_roles"), state=login.get("state") or "present",
                sql_login_password=None, update_password="on_create", enabled=None, server_roles_exclusive=False,
                databases=None)


def credential_params(server, url):
    """sql_credential's options for one container URL (roles/backup_ready/tasks/credential.yml), on ``server``."""
    return dict(server, url=url, state="present", identity="managed_identity", sas_token=None,
                update_secret="on_create", validate=False)


def _entry_problems(params, index, entry):
    """Every problem of one entry, as (message, fix)."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import role_assignment
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_credential
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_login
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_identity
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import SqlConnectionSettings
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import storage_suffix

    problems = []
    steps = entry.get("steps") or []
    unknown = [step for step in steps if step not in STEPS]
    if not steps or unknown:
        problems.append(("%s %s." % (_option(index, "steps"), "has unknown steps %s" % ", ".join(map(str, unknown))
                                     if unknown else "is empty"),
                         "list the steps to run for the host, from %s." % ", ".join(STEPS)))
        return problems

    def check(step, call):
        try:
            call()
        except InvalidInputError as error:
            problems.append(("%s (%s step): %s" % (_option(index, ""), step, error.cause), error.fix))

    if any(step in AZURE_STEPS for step in steps):
        if _blank(entry.get("resource_group")) or _blank(entry.get("vm_name")):
            problems.append(("%s and vm_name are needed for the %s step." % (
                _option(index, "resource_group"), ", ".join(s for s in steps if s in AZURE_STEPS)),
                "give the VM's resource group and name."))
        elif "identity" in steps:
            check("identity", lambda: sqlvm_identity.validate(identity_desired(entry)))
    principal = entry.get("principal_id")
    if principal and not is_guid(principal):
        problems.append(("%s %r is not a GUID." % (_option(index, "principal_id"), principal),
                         "give the object (principal) id of the VM's primary identity, as the fleet read reports it."))
    if ("directory" in steps or "storage" in steps) and "identity" not in steps and _blank(principal):
        problems.append(("%s is empty, and the identity step is not listed." % _option(index, "principal_id"),
                         "give the primary identity's principal id, or list the identity step before the grants."))
    placeholder = principal if principal and is_guid(principal) else _PLACEHOLDER_PRINCIPAL
    if "directory" in steps:
        check("directory", lambda: entra_directory_reader.validate(
            directory_desired(entry, placeholder, params.get("principal_wait"))))
    if "storage" in steps:
        if _blank(entry.get("storage_account")):
            problems.append(("%s is empty, and the storage step is listed." % _option(index, "storage_account"),
                             "give the storage account backups go to, or leave the storage step out."))
        else:
            subscription = entry.get("subscription_id") or params.get("subscription_id") or _PLACEHOLDER_PRINCIPAL
            check("storage", lambda: role_assignment.validate_desired(
                storage_desired(entry, placeholder, params.get("principal_wait")), subscription))
    if any(step in SQL_STEPS for step in steps):
        server = server_params(params, entry)
        if _blank(server.get("sql_host")):
            problems.append(("%s is missing, and the %s step is listed." % (
                _option(index, "sql_host"), ", ".join(s for s in steps if s in SQL_STEPS)),
                "give the address of the host's SQL Server instance."))
        else:
            check("sql connection", lambda: SqlConnectionSettings.from_params(server))
        if "logins" in steps:
            for number, login in enumerate(entry.get("logins") or []):
                extra = sorted(set(login or {}) - set(_LOGIN_KEYS))
                if extra:
                    where = _option(index, "logins[%d]" % number)
                    problems.append(("%s has unknown keys %s." % (where, ", ".join(extra)),
                                     "use %s." % ", ".join(_LOGIN_KEYS)))
                else:
                    check("logins", lambda login=login: sql_login.validate(login_params(server, login or {})))
        if "credential" in steps:
            for url in entry.get("container_urls") or []:
                check("credential", lambda url=url: sql_credential.validate(credential_params(server, url),
                                                                            storage_suffix(server)))
    return problems


def server_params(params, entry):
    """The SQL connection options of one entry: the task's, overridden by what the entry sets."""
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_fleet_info
    connection = {name: entry.get(name) for name in sql_fleet_info.ENTRY_CONNECTION_OPTIONS + ("sql_host",)}
    merged = sql_fleet_info.server_params(params, connection)
    merged.pop("container_url", None)
    return merged


def validate(params):
    """Refuse bad input before any request: every problem of every entry at once."""
    problems = []
    concurrency = params.get("concurrency")
    if concurrency is None or not 1 <= concurrency <= MAX_CONCURRENCY:
        problems.append(("concurrency %r is not between 1 and %d." % (concurrency, MAX_CONCURRENCY),
                         "give how many hosts may be converged at once (default %d)." % DEFAULT_CONCURRENCY))
    wait = params.get("principal_wait")
    if wait is None or wait < 0:
        problems.append(("principal_wait %r is not a number of seconds." % (wait,),
                         "give 0 (do not wait) or more, e.g. 120 (the default)."))
    seen = {}
    for index, entry in enumerate(params.get("hosts") or []):
        entry = entry or {}
        host = entry.get("host")
        if not isinstance(host, str) or not host.strip() or has_control_character(host) or host != host.strip():
            problems.append(("%s is missing, blank, or not one line." % _option(index, "host"),
                             "give each entry the name its result is kept under, usually inventory_hostname."))
        elif host in seen:
            problems.append(("%s %r is also hosts[%d].host." % (_option(index, "host"), host, seen[host]),
                             "give each host once."))
        else:
            seen[host] = index
        problems.extend(_entry_problems(params, index, entry))
    if problems:
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_fleet_info import refuse
        refuse(problems)


# ---------------------------------------------------------------------------------------------
# one host

class HostSession:
    """What the Azure backends need of a session - arm, graph, cloud, credential, subscription_id, deadline - with
    this thread's ARM and Graph clients and the host's subscription."""

    def __init__(self, session, clients, subscription_id):
        self._session = session
        self._clients = clients
        self.subscription_id = subscription_id
        self.deadline = session.deadline

    @property
    def arm(self):
        return self._clients.client("arm")

    @property
    def graph(self):
        return self._clients.client("graph")

    @property
    def cloud(self):
        return self._session.cloud


class StepFailed(Exception):
    """A step of one host failed: its name and the domain error (kept for that host's result)."""

    def __init__(self, step, error):
        super().__init__(step)
        self.step = step
        self.error = error


def _step_result(result):
    values = dict(result.values)
    values["changed"] = result.changed
    if result.warnings:
        values["warnings"] = list(result.warnings)
    return values


class HostRun:
    """The steps of one host, in the role's order; ``outcome()`` is the host's entry of RV(hosts)."""

    def __init__(self, entry, check_mode, principal_wait):
        self.entry = entry
        self.check_mode = check_mode
        self.principal_wait = principal_wait
        self.steps = {}
        self.before = {}
        self.after = {}
        self.writes_done = []

    def _record(self, step, result):
        self.steps[step] = _step_result(result)
        if result.before is not None or result.after is not None:
            self.before[step] = result.before
            self.after[step] = result.after

    def run_azure(self, azure):
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends import entra_directory_reader
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends import role_assignment
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sqlvm_identity
        steps = self.entry["steps"]
        principal = self.entry.get("principal_id") or None
        if "identity" in steps:
            result = self._call("identity", sqlvm_identity.ensure, azure, identity_desired(self.entry))
            principal = result.values.get("principal_id") or (None if result.changed else principal)
        for step, backend, desired in (
                ("directory", entra_directory_reader, directory_desired),
                ("storage", role_assignment, storage_desired)):
            if step not in steps:
                continue
            if principal is None:
                if not self.check_mode:
                    raise StepFailed(step, InvalidInputError(
                        "the host has no primary identity for Entra authentication yet",
                        fix="run the identity step first (list it in steps)."))
                # The identity is created by this run: the grant waits for its principal (roles: "would grant").
                self.steps[step] = {"changed": True, "waits_for": "the new primary identity"}
                self.after[step] = {"granted_to": "the new primary identity"}
                self.before[step] = {}
                continue
            self._call(step, backend.ensure, azure, desired(self.entry, principal, self.principal_wait))

    def run_sql(self, connect, principal_kind):
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_credential
        from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_login
        server = self.entry["_server"]
        try:
            session = connect(server)
        except SqlvmBackupError as error:
            raise StepFailed([s for s in self.entry["steps"] if s in SQL_STEPS][0], error) from None
        try:
            if "logins" in self.entry["steps"]:
                results = [self._call("logins", sql_login.ensure, session, login_params(server, login),
                                      record=False, principal_kind=principal_kind(server))
                           for login in self.entry.get("logins") or []]
                self._record_many("logins", results, [login.get("name") for login in self.entry.get("logins") or []])
            if "credential" in self.entry["steps"]:
                urls = self.entry.get("container_urls") or []
                results = [self._call("credential", sql_credential.ensure, session, credential_params(server, url),
                                      record=False) for url in urls]
                self._record_many("credential", results, urls)
        finally:
            self.writes_done.extend(getattr(session, "writes_done", ()))
            session.close()

    def _record_many(self, step, results, names):
        self.steps[step] = {"changed": any(r.changed for r in results),
                            "items": [dict(_step_result(r), name=name) for name, r in zip(names, results)]}
        self.before[step] = {name: r.before for name, r in zip(names, results)}
        self.after[step] = {name: r.after for name, r in zip(names, results)}

    def _call(self, step, function, session, desired, record=True, **options):
        try:
            result = function(session, desired, self.check_mode, **options)
        except SqlvmBackupError as error:
            raise StepFailed(step, error) from None
        if record:
            self._record(step, result)
        return result

    def outcome(self, failure=None):
        changed = any(step.get("changed") for step in self.steps.values())
        outcome = {"changed": changed, "steps": self.steps}
        if failure is not None:
            outcome.update(failed=True, failed_step=failure[0], msg=failure[1])
            if self.writes_done:
                outcome["statements_done"] = list(self.writes_done)
                outcome["changed"] = True
        return outcome


def failure_message(step, error):
    """`step: <cause and fix>` for a host's failed step; never a secret."""
    if isinstance(error, SqlvmBackupError):
        return redact("%s step: %s" % (step, error.to_result()["msg"]))
    if isinstance(error, ImportError):
        return redact("%s step: a Python library is missing on the controller (%s); install the collection's "
                      "requirements (requirements.txt)." % (step, error))
    return redact("%s step failed unexpectedly (%s: %s); please report it." % (step, type(error).__name__, error))


def converge_host(entry, check_mode, principal_wait, azure, connect, principal_kind, deadline=None):
    """(HostRun, failure or None) of one host; never raises. ``azure()`` is the host's Azure session,
    ``connect(server)`` a SQL session, ``principal_kind(server)`` sql_login's group lookup."""
    run = HostRun(entry, check_mode, principal_wait)
    step = entry["steps"][0]
    try:
        if deadline is not None and deadline.expired():
            raise StepFailed(step, TimeoutExceeded("converging the host", deadline.seconds,
                                                   "before it started; raise timeout or concurrency"))
        if any(s in AZURE_STEPS for s in entry["steps"]):
            run.run_azure(azure())
        if any(s in SQL_STEPS for s in entry["steps"]):
            run.run_sql(connect, principal_kind)
    except StepFailed as failed:
        return run, (failed.step, failure_message(failed.step, failed.error))
    except Exception as error:  # one host's defect is that host's failure, never the other hosts'
        return run, (step, failure_message(step, error))
    return run, None


# ---------------------------------------------------------------------------------------------
# the fleet

def converge(session, params, check_mode, sql_token=None, make_client=None):
    """Result: ``hosts`` (host -> {changed, steps, failed?, msg?}), ``summary``, before/after per host.

    ``session``: the task's AzureSession (its settings, credential, cloud and deadline; its own clients are not
    used from the worker threads). ``sql_token()``: an access token for SQL Server, asked once and only when a
    SQL login needs one. ``make_client(kind)``: a worker thread's 'arm' or 'graph' client (default: pipeline's)."""
    from concurrent.futures import ThreadPoolExecutor

    from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_login
    from ansible_collections.sqlvm.backup.plugins.module_utils.backends.sql_fleet_info import SharedToken
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import connection as sql_connection

    validate(params)
    entries = [dict(entry, _server=server_params(params, entry)) for entry in params["hosts"]]
    deadline = session.deadline
    shared_token = SharedToken(sql_token) if sql_token is not None else None
    clients = ThreadClients(session, make_client)
    default_subscription = None

    def azure_for(entry):
        return lambda: HostSession(session, clients, entry.get("subscription_id") or default_subscription)

    def connect(server):
        return sql_connection.connect(server, token_provider=shared_token, check_mode=check_mode, deadline=deadline)

    def principal_kind(server):
        return sql_login.entra_group_lookup(server, lambda: session.settings, lambda: clients.client("graph"))

    if any(s in AZURE_STEPS for e in entries for s in e["steps"]):
        needs_graph = any(s == "directory" for e in entries for s in e["steps"])
        prepare_for_threads(session, ("arm", "graph") if needs_graph else ("arm",))
        # The identity step's long-running operations poll with it: imported here, not first in several threads.
        import azure.mgmt.core.polling.arm_polling  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel
        if any(not e.get("subscription_id") for e in entries):
            default_subscription = session.subscription_id  # resolved once, here (it may list subscriptions)

    workers = max(1, min(params.get("concurrency") or DEFAULT_CONCURRENCY, len(entries) or 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="backup-ready") as pool:
        outcomes = list(pool.map(lambda entry: converge_host(
            entry, check_mode, params.get("principal_wait", 120), azure_for(entry), connect, principal_kind,
            deadline), entries))

    hosts, before, after = {}, {}, {}
    for entry, (run, failure) in zip(entries, outcomes):
        hosts[entry["host"]] = run.outcome(failure)
        if run.before or run.after:
            before[entry["host"]] = run.before
            after[entry["host"]] = run.after
    failed = sorted(name for name, outcome in hosts.items() if outcome.get("failed"))
    warnings = fleet_warnings(hosts)
    changed_hosts = sorted(name for name, outcome in hosts.items() if outcome["changed"])
    summary = {"hosts": len(entries), "changed": len(changed_hosts), "failed": len(failed),
               "unchanged": len(entries) - len(changed_hosts) - len([f for f in failed if f not in changed_hosts])}
    return Result(bool(changed_hosts), before, after, warnings, hosts=hosts, summary=summary, failed_hosts=failed)


def fleet_warnings(hosts, shown=5):
    """The steps' warnings as the task's, each text once with the hosts that gave it (a fleet would otherwise
    repeat the same warning a thousand times)."""
    by_text = {}
    for name in sorted(hosts):
        for step in hosts[name].get("steps", {}).values():
            for text in step.get("warnings") or ():
                by_text.setdefault(text, []).append(name)
    return ["%s (%s%s)" % (text, ", ".join(names[:shown]), " and %d more" % (len(names) - shown)
                           if len(names) > shown else "")
            for text, names in by_text.items()]
