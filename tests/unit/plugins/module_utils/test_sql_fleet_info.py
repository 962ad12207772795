"""sql_fleet_info's pure parts: merging the task's connection defaults into each entry, validating every entry before
any login (naming servers[N].<option>), the one shared Entra token, and a server's failure as its host's entry."""
import threading
import time

import pytest

from _sqlfake import instance_answers, session

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_fleet_info as fleet
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_info
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AuthenticationError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import Deadline, InvalidInputError, SqlServerError

URL = "https://acct1.blob.core.windows.net/backups"
ENTRY_KEYS = ("host", "sql_host") + fleet.ENTRY_CONNECTION_OPTIONS + fleet.ENTRY_READ_OPTIONS


def _params(servers, **task):
    """Options as Ansible hands them over: every option present, unset ones None, the documented defaults."""
    params = {name: spec.get("default") for name, spec in fleet.argument_spec().items()}
    params.update(task)
    params["servers"] = [dict({key: None for key in ENTRY_KEYS}, **entry) for entry in servers]
    return params


def _sql(host="h1", sql_host="10.0.0.4", **extra):
    return dict(host=host, sql_host=sql_host, **extra)


# merging ---------------------------------------------------------------------------------------------------------

def test_an_entry_takes_the_tasks_options_it_does_not_set():
    params = _params([_sql(sql_port=14330, login_password="own")], login_user="sa", login_password="task",
                     container_url=URL)
    merged = fleet.server_params(params, params["servers"][0])
    assert merged["sql_host"] == "10.0.0.4" and merged["sql_port"] == 14330
    assert merged["login_user"] == "sa" and merged["login_password"] == "own"
    assert merged["odbc_driver"] == "ODBC Driver 18 for SQL Server" and merged["encrypt"] == "yes"
    assert merged["login_timeout"] == 15 and merged["container_url"] == URL
    assert "host" not in merged and "servers" not in merged and "concurrency" not in merged


def test_an_entrys_false_and_zero_override_the_task_but_none_does_not():
    params = _params([_sql(trust_server_certificate=False, login_timeout=0), _sql("h2", encrypt=None)],
                     trust_server_certificate=True, encrypt="strict")
    first = fleet.server_params(params, params["servers"][0])
    second = fleet.server_params(params, params["servers"][1])
    assert first["trust_server_certificate"] is False and first["login_timeout"] == 0
    assert second["trust_server_certificate"] is True and second["encrypt"] == "strict"


def test_an_entry_that_logs_in_with_entra_does_not_take_the_tasks_sql_login():
    params = _params([_sql(sql_auth="entra"), _sql("h2")], login_user="sa", login_password="task")
    entra = fleet.server_params(params, params["servers"][0])
    assert entra["login_user"] is None and entra["login_password"] is None and entra["sql_auth"] == "entra"
    assert fleet.server_params(params, params["servers"][1])["login_user"] == "sa"


def test_merging_does_not_change_the_options():
    params = _params([_sql()], login_user="sa")
    before = repr(params)
    fleet.server_params(params, params["servers"][0])
    assert repr(params) == before


def test_the_entry_spec_has_no_defaults_and_keeps_the_password_secret():
    spec = fleet.argument_spec()
    entry = spec["servers"]["options"]
    assert all("default" not in option for option in entry.values())
    assert entry["login_password"]["no_log"] is True and spec["login_password"]["no_log"] is True
    assert "sql_host" not in spec and spec["concurrency"]["default"] == 32
    # The task-wide options are sql_info's, under the same names and defaults.
    assert spec["sql_port"]["default"] == 1433 and spec["odbc_driver"]["default"] == "ODBC Driver 18 for SQL Server"


# validation ------------------------------------------------------------------------------------------------------

BAD = [
    ([_sql(), _sql()], {}, "servers[1].host 'h1' is also servers[0].host"),
    ([_sql(sql_host=None)], {}, "servers[0].sql_host is missing"),
    ([_sql(host=None)], {}, "servers[0].host is missing"),
    ([_sql(host="h1\n")], {}, "servers[0].host 'h1\\n' holds a control character"),
    ([_sql(), _sql("h2", sql_host="db\r\n")], {}, "servers[1].sql_host 'db\\r\\n' is not a host name"),
    ([_sql(sql_host="a;b")], {}, "servers[0].sql_host"),
    ([_sql(sql_port=70000)], {}, "servers[0].sql_port 70000 is not a TCP port"),
    ([_sql(login_user="sa")], {}, "servers[0].sql_auth: sql needs login_user and login_password"),
    ([_sql(login_password="  ")], {"login_user": "sa"}, "servers[0].login_password is empty"),
    ([_sql(login_user="sa\t")], {"login_password": "x"}, "servers[0].login_user 'sa\\t' is blank or holds a control"),
    ([_sql()], {"login_user": "sa\n", "login_password": "x"},
     "servers[0].login_user 'sa\\n' is blank or holds a control character; give the login name. (the task's "
     "login_user, which servers[0] uses)"),
    ([_sql(sql_auth="entra", odbc_driver="/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so")], {}, "servers[0]: The FreeTDS"),
    ([_sql(container_url=URL + "?sv=2022-11-02&sig=abc")], {},
     "servers[0].container_url https://acct1.blob.core.windows.net/backups?REDACTED has a query string"),
    ([_sql(container_url="https://u:p@acct1.blob.core.windows.net/backups")], {}, "carries a user name or password"),
    ([_sql(container_url="https://acct1.blob.core.windows.net/backups\n")], {}, "servers[0].container_url"),
    ([_sql()], {"container_url": URL + "/"}, "container_url (the task's, which servers[0] uses) 'https://acct1.blob."
                                             "core.windows.net/backups/' ends with '/'"),
    ([_sql(container_url=URL.replace("https", "http"))], {}, "servers[0].container_url 'http://acct1"),
    ([_sql(container_url="https://acct1.blob.core.windows.net/Backups")], {}, "servers[0].container_url 'https://acct1"
                                                                              ".blob.core.windows.net/Backups' has upper"),
    ([_sql()], {"concurrency": 0}, "concurrency 0 is not between 1 and 256"),
    ([], {}, "servers is empty"),
]


@pytest.mark.parametrize("servers, task, needle", BAD)
def test_bad_input_is_refused_naming_the_entry(servers, task, needle):
    with pytest.raises(InvalidInputError) as info:
        fleet.validate(_params(servers, **task))
    assert needle in info.value.msg


def test_every_problem_is_named_at_once():
    with pytest.raises(InvalidInputError) as info:
        fleet.validate(_params([_sql(sql_host=None), _sql("h2", sql_port=-1), _sql("h2")]))
    message = info.value.msg
    assert message.startswith("3 problems")
    assert "(1) servers[0].sql_host is missing" in message and "(2) servers[1].sql_port" in message
    assert "(3) servers[2].host 'h2' is also servers[1].host" in message


def test_secrets_are_not_in_validation_messages():
    with pytest.raises(InvalidInputError) as info:
        fleet.validate(_params([_sql(container_url=URL + "?sig=S3cretSig", login_user="sa", login_password="Pa55;w}rd")]))
    assert "S3cretSig" not in info.value.msg and "Pa55" not in info.value.msg


def test_good_input_passes():
    fleet.validate(_params([_sql(), _sql("h2", "10.0.0.5", sql_auth="entra")], login_user="sa",
                           login_password="x", container_url=URL))


# the shared token --------------------------------------------------------------------------------------------------

def test_the_token_is_requested_once_for_all_threads():
    calls = []

    def provider():
        calls.append(1)
        time.sleep(0.05)  # the others arrive while the first one waits for the credential
        return "token"
    shared = fleet.SharedToken(provider)
    got = []
    threads = [threading.Thread(target=lambda: got.append(shared())) for _thread in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == ["token"] * 16 and len(calls) == 1 and shared.requests == 1


def test_a_failed_token_request_is_not_repeated():
    calls = []

    def provider():
        calls.append(1)
        raise AuthenticationError("no credential", fix="sign in")
    shared = fleet.SharedToken(provider)
    for _attempt in range(3):
        with pytest.raises(AuthenticationError):
            shared()
    assert len(calls) == 1


# reading ---------------------------------------------------------------------------------------------------------

def _fake_connect(failing=()):
    """connect(params): a fake session answering sql_info's batch, or the login failure for hosts in `failing`."""
    sessions = []

    def connect(params):
        if params["sql_host"] in failing:
            raise SqlServerError(18456, "Login failed for user 'sa'. Cause: the login failed.", "login to %s:1433"
                                 % params["sql_host"], fix="Check login_password.")
        sql, _conn = session(instance_answers())
        sessions.append(sql)
        return sql
    return connect, sessions


def test_a_failing_server_is_its_hosts_entry_and_the_others_are_read(monkeypatch):
    connect, sessions = _fake_connect(failing=("10.0.0.5",))
    monkeypatch.setattr("ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection.connect",
                        lambda params, **_kw: connect(params))
    params = _params([_sql(), _sql("h2", "10.0.0.5"), _sql("h3", "10.0.0.6")], login_user="sa", login_password="x",
                     concurrency=2)
    result = fleet.read(params, deadline=Deadline(60))
    assert result.changed is False
    hosts = result.values["hosts"]
    assert list(hosts) == ["h1", "h2", "h3"]
    assert hosts["h2"]["failed"] is True and "18456" in hosts["h2"]["msg"] and "Fix: Check" in hosts["h2"]["msg"]
    assert hosts["h2"]["error"]["number"] == 18456
    assert "failed" not in hosts["h1"] and hosts["h1"]["instance"]["release"] == "2022"
    assert result.values["summary"] == dict(servers=3, read=2, failed=1)
    # Each session was read-only and closed after its read.
    assert len(sessions) == 2 and all(s.check_mode for s in sessions)


def test_read_server_is_sql_infos_read():
    sql, conn = session(instance_answers())
    facts = sql_info.read_server({"container_url": None}, lambda params: sql)
    again, _conn = session(instance_answers())
    assert facts == sql_info.read(again, {"container_url": None}).values
    assert sql.check_mode and conn.writes() == []


def test_a_server_not_started_before_the_deadline_is_reported_not_read():
    clock = [0.0]
    deadline = Deadline(10, clock=lambda: clock[0])
    clock[0] = 11.0
    outcome = fleet.read_one(dict(sql_host="10.0.0.4"), lambda params: pytest.fail("no login after the deadline"),
                             deadline)
    assert outcome["failed"] and "timeout of 10 s ran out" in outcome["msg"] and "10.0.0.4" in outcome["msg"]
    assert outcome["error"]["kind"] == "timeout"


def test_an_unexpected_error_fails_only_its_host_and_says_so():
    def connect(_params):
        raise KeyError("ProductVersion")
    outcome = fleet.read_one(dict(sql_host="10.0.0.4"), connect, None)
    assert outcome["failed"] and "KeyError" in outcome["msg"] and outcome["error"]["kind"] == "internal"


def test_servers_are_read_concurrently_but_never_more_than_concurrency_at_once(monkeypatch):
    # The first three logins wait for each other at a barrier: they pass only if three run at the same time
    # (with concurrency 2 the barrier breaks and those hosts fail: checked). The pool's size keeps it at three.
    barrier = threading.Barrier(3, timeout=30)
    lock = threading.Lock()
    state = dict(active=0, most=0, calls=0)

    def connect(params, **_kw):
        with lock:
            state["active"] += 1
            state["calls"] += 1
            state["most"] = max(state["most"], state["active"])
            first = state["calls"] <= 3
        try:
            if first:
                barrier.wait()
            sql, _conn = session(instance_answers())
            return sql
        finally:
            with lock:
                state["active"] -= 1
    monkeypatch.setattr("ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection.connect", connect)
    params = _params([_sql("h%d" % n, "10.0.0.%d" % n) for n in range(12)], login_user="sa", login_password="x",
                     concurrency=3)
    result = fleet.read(params, deadline=Deadline(120))
    assert result.values["summary"] == dict(servers=12, read=12, failed=0), result.values["hosts"]
    assert state["calls"] == 12 and state["most"] == 3
