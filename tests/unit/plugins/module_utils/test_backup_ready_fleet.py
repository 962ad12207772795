"""backup_ready_fleet: every entry checked before any request, each host's steps in the role's order with the single-host
modules' own backend functions, a failed step ending its host alone, check mode predicting grants for a new identity."""
import threading

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_ready_fleet as fleet
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import (
    entra_directory_reader,
    role_assignment,
    sql_credential,
    sql_login,
    sqlvm_identity,
)
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import Deadline, InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import PrerequisiteError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

URL = "https://stsqlbackup01.blob.core.windows.net/backups"
SUB = "11111111-2222-3333-4444-555555555555"
PRINCIPAL = "6a6c3a5e-9e3f-4b38-9f1f-0cf1a3c1d2e4"
NEW_PRINCIPAL = "0f2e6d6c-4d4f-4a0b-8d2b-3a5e2c6b7a11"


def _params(*hosts, **options):
    params = {name: option.get("default") for name, option in fleet.argument_spec().items()}
    params.update(subscription_id=SUB, cloud_environment="AzureCloud", login_user="sa", login_password="pw",
                  sql_auth="sql", trust_server_certificate=True)
    params.update(options)
    params["hosts"] = [dict(dict.fromkeys(fleet.argument_spec()["hosts"]["options"]), **host) for host in hosts]
    return params


def _host(name="vm1", steps=tuple(fleet.STEPS), **extra):
    entry = {"host": name, "steps": list(steps), "resource_group": "rg-sql", "vm_name": name,
             "storage_account": "stsqlbackup01", "logins": [{"name": "SQL DBAs", "server_roles": ["sysadmin"]}],
             "container_urls": [URL], "sql_host": "10.0.0.4"}
    entry.update(extra)
    return entry


def test_every_problem_of_every_entry_is_refused_at_once_naming_it():
    params = _params(_host("vm1", steps=["identity", "warp"]),
                     _host("vm2", steps=["storage"], storage_account=None),
                     _host("vm3", steps=["directory"]),
                     _host("vm4", steps=["credential"], container_urls=[URL + "?sv=2022-11-02&sig=SECRETSIG"]),
                     _host("vm4", steps=["logins"], logins=[{"name": "SQL DBAs", "roles": ["sysadmin"]}]),
                     concurrency=0)
    with pytest.raises(InvalidInputError) as caught:
        fleet.validate(params)
    text = caught.value.msg
    for fragment in ("concurrency 0", "hosts[0].steps has unknown steps warp", "hosts[1].storage_account is empty",
                     "hosts[2].principal_id is empty", "hosts[3]", "hosts[4].host 'vm4' is also hosts[3].host",
                     "hosts[4].logins[0] has unknown keys roles"):
        assert fragment in text, (fragment, text)
    assert "SECRETSIG" not in text


@pytest.mark.parametrize("entry, fragment", [
    (_host(steps=["identity"], sql_version="sixteen"), "sql_version 'sixteen' is not a SQL Server build"),
    (_host(steps=["directory"], principal_id=PRINCIPAL, directory_method="group"), "method=group needs group_id"),
    (_host(steps=["storage"], principal_id="not-a-guid"), "hosts[0].principal_id 'not-a-guid' is not a GUID"),
    (_host(steps=["logins"], sql_host=None), "hosts[0].sql_host is missing"),
    (_host(steps=["logins"], logins=[{"name": "CONTOSO\\dba"}]), "looks like a Windows login"),
    (_host(steps=["identity"], resource_group=None), "hosts[0].resource_group and vm_name are needed"),
    (_host(steps=[]), "hosts[0].steps is empty"),
])
def test_one_bad_entry_is_named(entry, fragment):
    with pytest.raises(InvalidInputError) as caught:
        fleet.validate(_params(entry))
    assert fragment in caught.value.msg, caught.value.msg


def test_a_good_entry_passes():
    fleet.validate(_params(_host(), _host("vm2", steps=["storage", "credential"], principal_id=PRINCIPAL)))


class _Calls:
    """Stands in for the five backends' ensure functions, recording (step, host's principal or params)."""

    def __init__(self, monkeypatch, identity_principal=NEW_PRINCIPAL, identity_changed=True, fail=None):
        self.calls = []
        self.lock = threading.Lock()
        self.fail = fail or {}

        def recorder(step, result):
            def ensure(session, desired, check_mode, **options):
                with self.lock:
                    self.calls.append((step, desired.get("principal_id") or desired.get("name") or desired.get("url"),
                                       check_mode))
                failure = self.fail.get((step, desired.get("vm_name") or desired.get("sql_host")))
                if failure:
                    raise failure
                return result(desired)
            return ensure

        monkeypatch.setattr(sqlvm_identity, "ensure", recorder("identity", lambda d: Result(
            identity_changed, {"vm_identity": None}, {"vm_identity": "system"}, principal_id=identity_principal)))
        monkeypatch.setattr(entra_directory_reader, "ensure", recorder("directory", lambda d: Result(
            True, {"can_read_directory": False}, {"can_read_directory": True}, changes=["assign Directory Readers"])))
        monkeypatch.setattr(role_assignment, "ensure", recorder("storage", lambda d: Result(
            False, None, None, assignment={"scope": "x"})))
        monkeypatch.setattr(sql_login, "ensure", recorder("logins", lambda d: Result(
            True, {}, {"name": d["name"]}, statements=["CREATE LOGIN"])))
        monkeypatch.setattr(sql_credential, "ensure", recorder("credential", lambda d: Result(
            False, {"name": d["url"]}, {"name": d["url"]}, statements=[])))

    def steps(self):
        return [step for step, _who, _check in self.calls]


class _SqlSession:
    def __init__(self):
        self.closed = False
        self.writes_done = ["CREATE LOGIN [SQL DBAs] FROM EXTERNAL PROVIDER"]

    def close(self):
        self.closed = True


def _run(entry, check_mode=False, connect=None):
    sessions = []

    def default_connect(server):
        sessions.append(_SqlSession())
        return sessions[-1]
    server = {"sql_host": entry.get("sql_host"), "sql_auth": "sql", "login_user": "sa", "login_password": "pw"}
    run, failure = fleet.converge_host(dict(entry, _server=server), check_mode, 120, object,
                                       connect or default_connect, lambda server: None)
    return run, failure, sessions


def test_a_hosts_steps_run_in_the_roles_order_with_the_new_identitys_principal(monkeypatch):
    calls = _Calls(monkeypatch)
    entry = _host(steps=["credential", "logins", "storage", "directory", "identity"], principal_id=PRINCIPAL)
    run, failure, sessions = _run(entry)
    assert failure is None
    assert calls.steps() == ["identity", "directory", "storage", "logins", "credential"]
    assert calls.calls[1][1] == calls.calls[2][1] == NEW_PRINCIPAL
    outcome = run.outcome()
    assert outcome["changed"] is True and set(outcome["steps"]) == set(fleet.STEPS)
    assert outcome["steps"]["logins"]["items"] == [{"changed": True, "name": "SQL DBAs", "statements": ["CREATE LOGIN"]}]
    assert [s.closed for s in sessions] == [True]            # one SQL connection for both SQL steps, closed


def test_without_the_identity_step_the_grants_go_to_the_current_primary(monkeypatch):
    calls = _Calls(monkeypatch)
    _run(_host(steps=["directory", "storage"], principal_id=PRINCIPAL))
    assert [(step, who) for step, who, _c in calls.calls] == [("directory", PRINCIPAL), ("storage", PRINCIPAL)]


def test_a_failed_step_ends_its_host_with_the_cause_and_what_ran_before(monkeypatch):
    calls = _Calls(monkeypatch, fail={("directory", "vm1"): PrerequisiteError(
        "group 6f1c0f5e not found in this tenant", fix="check group_id")})
    calls.fail = {("directory", None): calls.fail[("directory", "vm1")]}  # directory's options have no vm_name
    run, failure, sessions = _run(_host())
    assert calls.steps() == ["identity", "directory"] and sessions == []
    outcome = run.outcome(failure)
    assert outcome["failed"] is True and outcome["failed_step"] == "directory"
    assert outcome["msg"].startswith("directory step: group 6f1c0f5e not found") and "check group_id" in outcome["msg"]
    assert outcome["steps"]["identity"]["changed"] is True and outcome["changed"] is True


def test_a_failed_sql_step_lists_the_statements_that_ran(monkeypatch):
    calls = _Calls(monkeypatch, fail={("credential", "10.0.0.4"): PrerequisiteError("error 37563", fix="set it")})
    run, failure, sessions = _run(_host(steps=["logins", "credential"]))
    outcome = run.outcome(failure)
    assert calls.steps() == ["logins", "credential"] and sessions[0].closed
    assert outcome["failed_step"] == "credential" and outcome["statements_done"] == sessions[0].writes_done


def test_check_mode_predicts_the_grants_that_wait_for_a_new_identity_without_reading_them(monkeypatch):
    calls = _Calls(monkeypatch, identity_principal=None)
    run, failure, _sessions = _run(_host(steps=["identity", "directory", "storage"]), check_mode=True)
    assert failure is None and calls.steps() == ["identity"] and calls.calls[0][2] is True
    steps = run.outcome()["steps"]
    assert steps["directory"] == steps["storage"] == {"changed": True, "waits_for": "the new primary identity"}


def test_outside_check_mode_a_grant_without_a_principal_fails_its_host(monkeypatch):
    _Calls(monkeypatch, identity_principal=None, identity_changed=False)
    run, failure, _sessions = _run(_host(steps=["identity", "directory"]))
    assert failure[0] == "directory" and "no primary identity" in failure[1] and "identity step" in failure[1]
    assert run.outcome(failure)["failed"] is True


class _Cloud:
    arm_scope = "https://management.azure.com/.default"
    graph_scope = "https://graph.microsoft.com/.default"


class _Session:
    def __init__(self):
        self.deadline = Deadline(300)
        self.cloud = _Cloud()
        self.subscription_id = SUB
        self.settings = None
        self.credential = None
        self.arm = object()       # the starting thread's own client (prepare_for_threads builds it)
        self.tokens = []

    def token(self, scope):
        self.tokens.append(scope)
        return "token"


def test_the_fleet_goes_on_past_a_failed_host_and_a_defect_and_reports_each(monkeypatch):
    calls = _Calls(monkeypatch, fail={("identity", "vm2"): PrerequisiteError("SQL VM vm2 is a failover cluster"),
                                      ("identity", "vm3"): KeyError("bug")})
    session = _Session()
    monkeypatch.setattr("ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection.connect",
                        lambda server, **kw: _SqlSession())
    result = fleet.converge(session, _params(_host("vm1"), _host("vm2"), _host("vm3")), check_mode=False,
                            make_client=lambda kind: kind)
    hosts = result.values["hosts"]
    assert result.changed and result.values["failed_hosts"] == ["vm2", "vm3"]
    assert hosts["vm1"]["changed"] and not hosts["vm1"].get("failed")
    assert hosts["vm2"]["msg"] == "identity step: SQL VM vm2 is a failover cluster"
    assert "KeyError" in hosts["vm3"]["msg"] and "please report it" in hosts["vm3"]["msg"]
    assert result.values["summary"] == {"hosts": 3, "changed": 1, "failed": 2, "unchanged": 0}
    assert calls.steps().count("identity") == 3 and calls.steps().count("directory") == 1
    assert set(result.before) == {"vm1"} and result.after["vm1"]["identity"] == {"vm_identity": "system"}
    assert session.tokens == [_Cloud.arm_scope, _Cloud.graph_scope]    # signed in once, before the threads


def test_worker_threads_get_their_own_clients():
    made = []
    clients = fleet.ThreadClients(None, make_client=lambda kind: made.append(kind) or object())
    seen = []

    def use():
        seen.append((clients.client("arm"), clients.client("arm"), clients.client("graph")))
    threads = [threading.Thread(target=use) for _number in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(arm is again and arm is not graph for arm, again, graph in seen)
    assert len({id(arm) for arm, _a, _g in seen}) == 3 and sorted(made) == ["arm"] * 3 + ["graph"] * 3


def test_the_steps_warnings_become_the_tasks_each_text_once_with_its_hosts():
    hosts = {"vm%d" % n: {"steps": {"identity": {"changed": False, "warnings": ["Entra is not offered here"]}}}
             for n in range(7)}
    hosts["vm3"]["steps"]["storage"] = {"changed": True, "warnings": ["a wider grant exists"]}
    assert fleet.fleet_warnings(hosts) == ["Entra is not offered here (vm0, vm1, vm2, vm3, vm4 and 2 more)",
                                           "a wider grant exists (vm3)"]
