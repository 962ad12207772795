"""Issue 10, "Deliver": the fault matrix. Each case resets the world, injects its faults and runs one
playbook: the task under the fault; a look at which faults are left; the faults cleared; the same task
again. The first run either converges, or fails with an actionable message (no raw traceback, the cause
named, no misleading text, no secret); the re-run converges (and changes nothing when the first run
did); the world then holds exactly one of what the task creates (no duplicate).

Fault API: tests/sim/README.md ("Inject a fault"), tests/sim/sqlserver/README.md ("Faults": TDS faults
are POSTed to /faults with service=tds). Not injectable by the world: a connection reset AFTER an ARM or
Graph request was applied (its `reset` drops the connection before the request reaches the handler). The
cases "*-applied-after-timeout" stand in for it (a latency-only fault: the world applies the write after
the task gave up); the TDS `drop` action is the after-apply case for SQL Server (it runs the batch, then
drops the connection before the final DONE).
"""
import json

import pytest

from _security import (SA_PASSWORD, leaks, run_playbook, secret_vars, secrets_of, sql_connection,
                       world_vm)

CONVERGE, EITHER, FAIL = "converge", "either", "fail"
LOGIN_NAME = "fault_login"
GRAPH_NOT_FOUND = {"error": {"code": "Request_ResourceNotFound",
                             "message": "Resource 'x' does not exist or one of its queried reference-property "
                                        "objects are not present."}}
PRINCIPAL_NOT_FOUND = {"error": {"code": "PrincipalNotFound",
                                 "message": "Principal 0000 does not exist in the directory ca55f30b."}}
AGENT_TIMEOUT = {"error": {"code": "Ext_AgentTimeout", "message": "The SQL IaaS Agent did not answer in time."}}
LEASE_3201 = ("Cannot open backup device 'https://stsqlbackup01.blob.core.sim.test/backups/x.bak'. "
              "Operating system error 12(The remote server returned an error: (412) There is currently a lease "
              "on the blob and no lease ID was specified in the request.).")
SIGN_IN = ("token", "sign-in", "sign in", "signing in")
# Text that explains nothing (issue 10, item 8).
MISLEADING = ("no error code", "(no message)", "Traceback")


def _vm_path(vm):
    return "*/Microsoft.Compute/virtualMachines/%s" % vm


SQLVM_PATH = "*/Microsoft.SqlVirtualMachine/sqlVirtualMachines/sqlvm-fresh"
RA_PUT = "*/providers/Microsoft.Authorization/roleAssignments/*"
RA_LIST = "*/providers/Microsoft.Authorization/roleAssignments"
TOKEN = "*/oauth2/v2.0/token"
VAULT_PATH = "*/Microsoft.RecoveryServices/vaults/rsv-sql"


ADMIN_FAULTS_THEN_CLEAR = ("curl -sS ' ~ sim_admin_url ~ '/faults && echo && "
                           "curl -sS -X DELETE ' ~ sim_admin_url ~ '/faults")


def tds(pattern, action, **extra):
    return dict(extra, service="tds", vm="sqlvm-ready", pattern=pattern, action=action)


# (id, target, faults, expectation, fragments a failure message must hold (a tuple: any one), options)
CASES = [
    # ARM: sqlvm_identity on sqlvm-fresh (VM PATCH and SQL VM PUT are long-running operations; the costliest
    # target, so the plain GET faults go to the vault below)
    ("arm-get-vm-429-retry-after", "identity", [dict(path=_vm_path("sqlvm-fresh"), method="GET", status=429,
                                                     retry_after=1)], CONVERGE, [], {}),
    ("arm-get-vault-429-no-retry-after", "vault", [dict(path=VAULT_PATH, method="GET", status=429)],
     CONVERGE, [], {}),
    ("arm-patch-vm-429-retry-after", "identity", [dict(path=_vm_path("sqlvm-fresh"), method="PATCH", status=429,
                                                       retry_after=1)], CONVERGE, [], {}),
    ("arm-get-vault-500", "vault", [dict(path=VAULT_PATH, method="GET", status=500)], CONVERGE, [], {}),
    ("arm-patch-vm-500", "identity", [dict(path=_vm_path("sqlvm-fresh"), method="PATCH", status=500)],
     EITHER, [("500", "InternalServerError")], {}),
    ("arm-patch-vm-503", "identity", [dict(path=_vm_path("sqlvm-fresh"), method="PATCH", status=503)],
     EITHER, [("503", "ServiceUnavailable")], {}),
    ("arm-patch-vm-reset-before-applied", "identity", [dict(path=_vm_path("sqlvm-fresh"), method="PATCH",
                                                            reset=True)], EITHER, [("connection", "reset")], {}),
    ("arm-put-sqlvm-reset-before-applied", "identity", [dict(path=SQLVM_PATH, method="PUT", reset=True)],
     EITHER, [("connection", "reset")], {}),
    ("arm-patch-vault-500", "vault", [dict(path=VAULT_PATH, method="PATCH", status=500)],
     EITHER, [("500", "InternalServerError")], {}),
    ("arm-put-sqlvm-lro-failed", "identity", [dict(path=SQLVM_PATH, method="PUT", lro_status="Failed",
                                                   body=AGENT_TIMEOUT)], EITHER, ["Ext_AgentTimeout"], {}),
    ("arm-put-sqlvm-lro-canceled", "identity", [dict(path=SQLVM_PATH, method="PUT", lro_status="Canceled")],
     EITHER, ["cancel"], {}),
    ("arm-patch-vm-lro-failed", "identity", [dict(path=_vm_path("sqlvm-fresh"), method="PATCH", lro_status="Failed",
                                                  body=AGENT_TIMEOUT)], EITHER, ["Ext_AgentTimeout"], {}),
    # ARM: role_assignment (a PUT that must not create a second assignment when sent again)
    ("arm-list-assignments-429-retry-after", "role", [dict(path=RA_LIST, method="GET", status=429, retry_after=1)],
     CONVERGE, [], {}),
    ("arm-put-assignment-429-retry-after", "role", [dict(path=RA_PUT, method="PUT", status=429, retry_after=1)],
     CONVERGE, [], {}),
    ("arm-put-assignment-500", "role", [dict(path=RA_PUT, method="PUT", status=500)],
     EITHER, [("500", "InternalServerError")], {}),
    ("arm-put-assignment-503", "role", [dict(path=RA_PUT, method="PUT", status=503)],
     EITHER, [("503", "ServiceUnavailable")], {}),
    ("arm-put-assignment-reset-before-applied", "role", [dict(path=RA_PUT, method="PUT", reset=True)],
     EITHER, [("connection", "reset")], {}),
    ("arm-principal-not-found-window", "role", [dict(path=RA_PUT, method="PUT", status=400, count=1,
                                                     body=PRINCIPAL_NOT_FOUND)], CONVERGE, [], {}),
    ("arm-principal-not-found-beyond-principal-wait", "role",
     [dict(path=RA_PUT, method="PUT", status=400, count=50, body=PRINCIPAL_NOT_FOUND)], FAIL,
     ["PrincipalNotFound", "principal_wait"], {"args": {"principal_wait": 3}, "consumed": False}),
    # ARM: backup_vault_identity
    ("arm-patch-vault-429-retry-after", "vault", [dict(path=VAULT_PATH, method="PATCH", status=429, retry_after=1)],
     CONVERGE, [], {}),
    ("arm-get-vault-503", "vault", [dict(path=VAULT_PATH, method="GET", status=503)], CONVERGE, [], {}),
    ("arm-patch-vault-reset-before-applied", "vault", [dict(path=VAULT_PATH, method="PATCH", reset=True)],
     EITHER, [("connection", "reset")], {}),
    # Graph: entra_directory_reader (a POST: sent twice it would create a second assignment)
    ("graph-get-429-retry-after", "reader", [dict(service="graph", path="*/servicePrincipals/*", method="GET",
                                                  status=429, retry_after=1)], CONVERGE, [], {}),
    ("graph-get-429-no-retry-after", "reader", [dict(service="graph", path="*/servicePrincipals/*", method="GET",
                                                     status=429)], CONVERGE, [], {}),
    ("graph-post-assignment-500", "reader", [dict(service="graph", path="*/roleAssignments", method="POST",
                                                  status=500)], EITHER, [("500", "InternalServerError")], {}),
    ("graph-post-assignment-503", "reader", [dict(service="graph", path="*/roleAssignments", method="POST",
                                                  status=503)], EITHER, [("503", "ServiceUnavailable")], {}),
    ("graph-post-assignment-reset-before-applied", "reader",
     [dict(service="graph", path="*/roleAssignments", method="POST", reset=True)], EITHER, [("connection", "reset")],
     {}),
    ("graph-new-identity-not-yet-replicated", "reader_new",
     [dict(service="graph", path="*/servicePrincipals/*", method="GET", status=404, count=2, body=GRAPH_NOT_FOUND)],
     CONVERGE, [], {}),
    # Applied after the client gave up: a latency-only fault answers normally after the delay, so the world
    # applies the write after the task's timeout ran out (the stand-in for a reset after the request was
    # applied, which the world cannot inject); the case waits until it has been applied before the re-run.
    ("arm-put-assignment-applied-after-timeout", "role", [dict(path=RA_PUT, method="PUT", latency=6)],
     EITHER, ["timeout"], {"args": {"timeout": 3}, "settle": 5, "slow": True}),
    ("graph-post-assignment-applied-after-timeout", "reader",
     [dict(service="graph", path="*/roleAssignments", method="POST", latency=6)],
     EITHER, ["timeout"], {"args": {"timeout": 3}, "settle": 5, "slow": True}),
    # Token endpoint (a fresh token cache per case: every case signs in)
    ("token-endpoint-500-once", "vault", [dict(service="login", path=TOKEN, method="POST", status=500)],
     EITHER, [SIGN_IN], {"forbidden": ("check client_id", "wrong secret")}),
    ("token-endpoint-500-persistent", "vault", [dict(service="login", path=TOKEN, method="POST", status=500,
                                                     count=50)], FAIL, [SIGN_IN, "500"],
     {"forbidden": ("check client_id", "wrong secret"), "consumed": False}),
    ("token-endpoint-latency-within-timeout", "vault", [dict(service="login", path=TOKEN, method="POST",
                                                             latency=2)], CONVERGE, [], {}),
    ("token-endpoint-latency-beyond-timeout", "vault", [dict(service="login", path=TOKEN, method="POST", latency=8,
                                                             count=4)],
     FAIL, ["timeout", SIGN_IN], {"args": {"timeout": 4}, "consumed": False, "slow": True}),
    # TDS: the SQL modules on sqlvm-ready
    ("tds-drop-after-create-login", "login", [tds("CREATE LOGIN", "drop")], EITHER,
     ["connection", ("may have", "might have", "again", "re-run", "rerun")], {}),
    ("tds-drop-after-alter-server-role", "login", [tds("ALTER SERVER ROLE", "drop")], EITHER,
     ["connection", ("may have", "might have", "again", "re-run", "rerun")], {}),
    ("tds-drop-after-create-credential", "credential", [tds("CREATE CREDENTIAL", "drop")], EITHER,
     ["connection", ("may have", "might have", "again", "re-run", "rerun")], {}),
    ("tds-drop-mid-backup", "backup", [tds("^BACKUP DATABASE", "drop")], EITHER,
     ["connection", ("may have", "might have", "again", "re-run", "rerun")], {}),
    ("tds-delay-create-login-beyond-timeout", "login", [tds("CREATE LOGIN", "delay", seconds=12)], FAIL,
     ["timeout"], {"args": {"timeout": 3}}),
    ("tds-delay-read-beyond-timeout", "info", [tds("SERVERPROPERTY", "delay", seconds=12)], FAIL, ["timeout"],
     {"args": {"timeout": 3}}),
    ("tds-backup-blob-lease-412", "backup", [tds("^BACKUP DATABASE", "error", number=3201, message=LEASE_3201)],
     FAIL, ["lease"], {"forbidden": ("no credential",)}),
]


# --- targets: the task, and what "exactly one" means in the world afterwards -------------------------
def _facts(world):
    state = world.admin.state()
    uamis = {u["name"]: u for u in state["user_assigned_identities"].values()}
    sub = world.env["AZURE_SUBSCRIPTION_ID"]
    return {"state": state,
            "nodir_pid": state["vms"]["sqlvm-nodir"]["identities"]["system"]["principal_id"],
            "nostorage_pid": uamis["uami-nostorage"]["principal_id"],
            "archive_scope": "/subscriptions/%s/resourceGroups/rg-sql/providers/Microsoft.Storage/storageAccounts/"
                             "stsqlbackup01/blobServices/default/containers/archive" % sub,
            "container": world_vm(world.env, "sqlvm-ready")["container_url"]}


def _task(world, facts, target):
    """(prelude tasks, module, options) of a target."""
    azure = {"timeout": 60}
    if target == "identity":
        return [], "sqlvm_identity", dict(azure, resource_group="rg-sql", vm_name="sqlvm-fresh", system_assigned=True)
    if target == "role":
        return [], "role_assignment", dict(azure, principal_id=facts["nostorage_pid"], principal_wait=30,
                                           role="Storage Blob Data Contributor", scope=facts["archive_scope"])
    if target == "vault":
        return [], "backup_vault_identity", dict(azure, resource_group="rg-sql", name="rsv-sql", system_assigned=True)
    if target == "reader":
        return [], "entra_directory_reader", dict(azure, principal_id=facts["nodir_pid"])
    if target == "reader_new":
        prelude = [{"name": "prelude", "sqlvm.backup.sqlvm_identity": dict(
            azure, resource_group="rg-sql", vm_name="sqlvm-fresh", system_assigned=True)}]
        return prelude, "entra_directory_reader", dict(azure, vm_name="sqlvm-fresh", resource_group="rg-sql")
    conn = dict(sql_connection(world.env), timeout=60)
    if target == "login":
        return [], "sql_login", dict(conn, name=LOGIN_NAME, login_type="sql", sql_login_password="{{ s.password }}",
                                     server_roles=["dbcreator"])
    if target == "credential":
        return [], "sql_credential", dict(conn, url=facts["container"])
    if target == "info":
        return [], "sql_info", conn
    if target == "backup":
        prelude = [{"name": "prelude", "sqlvm.backup.sql_credential": dict(conn, url=facts["container"])}]
        return prelude, "sql_backup", dict(conn, container_url=facts["container"], databases=["appdb"], stripes=1)
    raise KeyError(target)


def _sql_rows(world, query):
    from tests.sim.sqlserver.testing import connect
    connection = connect("freetds", world_vm(world.env, "sqlvm-ready")["sql_port"], user="sa", password=SA_PASSWORD,
                         encrypt="yes")
    try:
        return [tuple(row) for row in connection.cursor().execute(query).fetchall()]
    finally:
        connection.close()


def _duplicates(world, facts, target):
    """What is wrong with the world after the re-run: '' when the task's object exists exactly once."""
    state = world.admin.state()
    if target == "identity":
        vm = state["vms"]["sqlvm-fresh"]
        system = (vm["identities"].get("system") or {}).get("principal_id")
        primary = (vm.get("primary_identity") or {}).get("principal_id")
        return "" if system and primary == system else "primary %s is not the system identity %s" % (primary, system)
    if target == "role":
        mine = [a for a in state["role_assignments"] if a["principalId"] == facts["nostorage_pid"]
                and a["scope"].lower() == facts["archive_scope"].lower()]
        return "" if len(mine) == 1 else "%d role assignments at the container: %s" % (len(mine), mine)
    if target == "vault":
        vault = [v for key, v in state["vaults"].items() if key.lower().endswith("/vaults/rsv-sql")][0]
        return "" if "SystemAssigned" in vault["identity"] else "vault identity %s" % vault["identity"]
    if target in ("reader", "reader_new"):
        principal = facts["nodir_pid"] if target == "reader" else \
            state["vms"]["sqlvm-fresh"]["identities"]["system"]["principal_id"]
        mine = [a for a in state["directory_role_assignments"] if a["principalId"] == principal]
        return "" if len(mine) == 1 else "%d directory role assignments: %s" % (len(mine), mine)
    if target == "login":
        logins = _sql_rows(world, "SELECT name FROM sys.server_principals WHERE name = '%s'" % LOGIN_NAME)
        members = _sql_rows(world, "SELECT IS_SRVROLEMEMBER('dbcreator', '%s')" % LOGIN_NAME)
        return "" if len(logins) == 1 and members == [(1,)] else "logins %s, dbcreator member %s" % (logins, members)
    if target in ("credential", "backup"):
        rows = _sql_rows(world, "SELECT name FROM sys.credentials")
        mine = [r for r in rows if r[0] == facts["container"]]
        return "" if len(mine) == 1 else "credentials %s" % rows
    return ""


def _run_case(world, tmp_path_factory, case):
    case_id, target, faults, _expect, _fragments, options = case
    world.reset()
    world.admin.clear_faults()
    facts = _facts(world)
    prelude, module, args = _task(world, facts, target)
    args = dict(args, **options.get("args", {}))
    body = {"sqlvm.backup." + module: args, "ignore_errors": True}
    body_first = dict(body, name="first")
    tasks = prelude + [
        body_first,
        # On the controller, without starting a module: the faults not met yet (first line), then none.
        {"name": "faults left", "ansible.builtin.debug": {"msg": "{{ lookup('ansible.builtin.pipe', "
                                                                 "'%s') }}" % ADMIN_FAULTS_THEN_CLEAR}},
        dict(body, name="rerun"),
    ]
    if target == "backup":
        # The default blob name carries the backup's time to the second, and sql_backup rightly refuses to
        # overwrite a blob that holds a backup: a re-run within the same second as a first run that did
        # complete would be refused for that alone. A backup re-run is a new backup a second later.
        tasks.insert(tasks.index(body_first) + 1, {"name": "next second", "ansible.builtin.pause": {"seconds": 1}})
    if options.get("settle"):
        tasks.insert(tasks.index(body_first) + 1, {"name": "let the world apply the delayed request",
                                                   "ansible.builtin.pause": {"seconds": options["settle"]}})
    # The preludes (an identity, a credential) meet none of the case's faults: inject them up front.
    for fault in faults:
        _inject(world, fault)
    run = run_playbook(world, tmp_path_factory.mktemp("fault-" + case_id), tmp_path_factory.mktemp("cache"),
                       [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}],
                       extra_vars={"s": secret_vars(world.env)})
    run["secrets"] = secrets_of(world.env)
    run["duplicates"] = _duplicates(world, facts, target)
    return run


def _inject(world, fault):
    if fault.get("service") == "tds":
        return world.admin._call("POST", "/faults", fault)  # pylint: disable=protected-access
    return world.admin.inject(**fault)


def _params():
    return [pytest.param(case, id=case[0], marks=[pytest.mark.slow] if case[5].get("slow") else [])
            for case in CASES]


def test_at_least_thirty_faults():
    assert len({case[0] for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", _params())
def test_fault_converges_or_fails_actionably_and_rerun_converges(security_world, tmp_path_factory, case):
    case_id, target, _faults, expect, fragments, options = case
    run = _run_case(security_world, tmp_path_factory, case)
    records = {r["task"]: r for r in run["records"]}
    assert "first" in records and "rerun" in records, "rc=%s\n%s" % (run["rc"], run["stdout"][-3000:])
    first, rerun = records["first"], records["rerun"]
    problems = []
    text = str(first["result"].get("msg") or "")
    if first["status"] == "failed":
        if expect == CONVERGE:
            problems.append("did not converge under a transient fault: %s" % text[:600])
        for bad in MISLEADING + tuple(options.get("forbidden", ())):
            if bad.lower() in text.lower():
                problems.append("the message says %r: %s" % (bad, text[:600]))
        for fragment in fragments:
            choices = fragment if isinstance(fragment, tuple) else (fragment,)
            if not any(choice.lower() in text.lower() for choice in choices):
                problems.append("the message does not name the cause (%s): %s" % (" or ".join(choices), text[:600]))
    elif expect == FAIL:
        problems.append("succeeded where it must fail with an actionable message (%s): %s" % (
            fragments, json.dumps(first["result"])[:400]))
    left = json.loads(str((records.get("faults left") or {}).get("result", {}).get("msg") or "null").splitlines()[0])
    assert isinstance(left, list), records.get("faults left")
    # A run that converged without meeting its faults proves nothing (a failed one stopped early).
    if options.get("consumed", True) and first["status"] != "failed" and left:
        problems.append("faults never met by a request (the case proves nothing): %s" % left)
    if rerun["status"] == "failed":
        problems.append("the re-run without faults failed: %s" % str(rerun["result"].get("msg"))[:600])
    elif first["status"] != "failed" and rerun["result"].get("changed") and target != "backup":
        problems.append("the re-run changed again after the first run converged: %s" % json.dumps(rerun["result"])[:400])
    if run["duplicates"]:
        problems.append("after the re-run: %s" % run["duplicates"])
    found = leaks(run["stdout"] + run["stderr"] + json.dumps(run["records"]), run["secrets"])
    if found:
        problems.append("secrets in the output: %s" % found)
    assert not problems, "%s:\n- %s" % (case_id, "\n- ".join(problems))
