"""One deadline per task (the `timeout` option) bounds sign-in, the cloud metadata, ARM, Graph, the
SQL login and every SQL statement, and the message names the step that ran out of time."""
import json
import sys
import types

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.sqlvm.backup.plugins.module_utils import base
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import auth
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import session
from ansible_collections.sqlvm.backup.plugins.module_utils.sql import connection as sc
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.tsql import Statement
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (
    AzureApiError,
    Deadline,
    SqlServerError,
    TimeoutExceeded,
)
from fake_transport import FakeClock, ScriptedTransport, StaticCredential

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"


class SlowSignIn:
    """A credential whose sign-in takes `seconds` of the fake clock, then fails as azure-identity does."""

    def __init__(self, clock, seconds):
        self.clock, self.seconds = clock, seconds

    def get_token(self, *scopes, **kwargs):
        self.clock.advance(self.seconds)
        raise ClientAuthenticationError("ClientSecretCredential: connection timed out")


def test_a_sign_in_that_outlives_the_timeout_is_named_sign_in():
    clock = FakeClock()
    deadline = Deadline(10, clock=clock)
    credential = session.DeadlineCredential(SlowSignIn(clock, 61), deadline)
    arm = http.arm_client(credential, KNOWN_CLOUDS["AzureCloud"], deadline, ScriptedTransport([(200, {})], clock=clock))
    with pytest.raises(TimeoutExceeded) as caught:
        http.send_json(arm, "GET", VM, operation="read VM", resource=VM)
    assert caught.value.step == "sign-in"
    assert "timeout of 10 s ran out during sign-in" in caught.value.msg and "sign-in authority" in caught.value.fix


def test_a_sign_in_failure_within_the_timeout_stays_a_sign_in_failure():
    clock = FakeClock()
    credential = session.DeadlineCredential(SlowSignIn(clock, 1), Deadline(10, clock=clock))
    with pytest.raises(ClientAuthenticationError):
        credential.get_token("scope")


def test_no_sign_in_is_attempted_after_the_deadline():
    clock = FakeClock()
    deadline = Deadline(10, clock=clock)
    clock.advance(11)
    with pytest.raises(http.DeadlineExceeded) as caught:
        session.DeadlineCredential(StaticCredential(), deadline).get_token("scope")
    assert caught.value.step == "sign-in"


def test_every_sign_in_request_waits_at_most_the_time_left(monkeypatch):
    seen = []

    def fake_send(self, request, *args, **kwargs):
        seen.append(kwargs.get("timeout"))
        raise requests.exceptions.ReadTimeout("slow")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", fake_send)
    clock = FakeClock()
    deadline = Deadline(7, clock=clock)
    transport = auth.discovery_cache_transport(deadline=deadline)
    with pytest.raises(requests.exceptions.ReadTimeout):
        transport.session.post("https://login.example.test/t/oauth2/v2.0/token", timeout=(10, 60))
    assert seen == [(7, 7)]
    clock.advance(7)
    with pytest.raises(requests.exceptions.ConnectTimeout):
        transport.session.post("https://login.example.test/t/oauth2/v2.0/token", timeout=(10, 60))
    assert len(seen) == 1  # nothing sent once the time is out


def test_credentials_get_the_time_left_not_the_whole_timeout():
    clock = FakeClock()
    deadline = Deadline(100, clock=clock)
    clock.advance(90)
    settings = auth.AuthSettings(client_id="11111111-2222-3333-4444-555555555555", tenant="t", secret="s")
    kwargs = auth._authority_kwargs(KNOWN_CLOUDS["AzureCloud"], settings, deadline)
    assert kwargs["timeout"] == 10


def test_the_cloud_metadata_fetch_is_bounded_by_the_task_and_named():
    clock = FakeClock()
    transport = ScriptedTransport([(503, None, {"Retry-After": "20"})], clock=clock)
    deadline = Deadline(15, clock=clock)
    client = http.pipeline_client("https://arm.lab.test/", deadline, transport=transport, service="cloud metadata")
    with pytest.raises(TimeoutExceeded) as caught:
        http.send_json(client, "GET", "https://arm.lab.test/metadata/endpoints", operation="read cloud metadata")
    assert caught.value.step == "cloud metadata" and "cloud_environment URL" in caught.value.fix


def test_fetch_cloud_metadata_uses_the_deadline_it_is_given(monkeypatch):
    seen = []
    monkeypatch.setattr(http, "pipeline_client", lambda url, deadline, **kwargs: seen.append(deadline) or None)
    monkeypatch.setattr(http, "send_json", lambda *a, **k: http.ApiResponse(200, {}, {}))
    deadline = Deadline(3)
    http.fetch_cloud_metadata("https://arm.lab.test/metadata/endpoints", deadline)
    assert seen == [deadline]


@pytest.mark.parametrize("factory,service", [(http.arm_client, "Azure Resource Manager"),
                                             (http.graph_client, "Microsoft Graph")])
def test_arm_and_graph_timeouts_name_the_service(factory, service):
    clock = FakeClock()
    transport = ScriptedTransport([(429, None, {"Retry-After": "3600"})], clock=clock)
    client = factory(StaticCredential(), KNOWN_CLOUDS["AzureCloud"], Deadline(60, clock=clock), transport)
    with pytest.raises(AzureApiError) as caught:
        http.send_json(client, "GET", "https://x.test/thing", operation="read thing")
    assert caught.value.code == "Timeout" and service in caught.value.msg and "timeout of 60 s" in caught.value.msg


# SQL ---------------------------------------------------------------------------------------------

class FakeCursor:
    description = None
    messages = []

    def __init__(self, connection):
        self.connection = connection

    def execute(self, sql, *params):
        self.connection.seen_timeouts.append(self.connection.timeout)
        self.connection.clock.advance(self.connection.statement_seconds)
        if self.connection.statement_seconds >= self.connection.timeout:
            raise RuntimeError("[HYT00] [Microsoft][ODBC Driver 18 for SQL Server]Query timeout expired (0)")

    def nextset(self):
        return False

    def close(self):
        pass


class FakeConnection:
    def __init__(self, clock, statement_seconds=0):
        self.clock, self.statement_seconds = clock, statement_seconds
        self.timeout = 0
        self.seen_timeouts = []

    def cursor(self):
        return FakeCursor(self)


def test_odbc_seconds():
    clock = FakeClock()
    deadline = Deadline(100, clock=clock)
    assert sc.odbc_seconds(0, None) == 0 and sc.odbc_seconds(15, None) == 15
    assert sc.odbc_seconds(0, deadline) == 100 and sc.odbc_seconds(15, deadline) == 15
    clock.advance(99.5)
    assert sc.odbc_seconds(15, deadline) == 1 and sc.odbc_seconds(0, deadline) == 1  # never 0: no limit in ODBC


def test_each_statement_gets_the_time_left_and_a_timeout_is_named(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.sql import errors as sql_errors
    monkeypatch.setattr(sql_errors, "translate", lambda exc, label: SqlServerError(0, str(exc), label))
    clock = FakeClock()
    deadline = Deadline(100, clock=clock)
    connection = FakeConnection(clock, statement_seconds=40)
    session = sc._BoundedSession(connection, False, deadline, 0)
    statement = Statement("SELECT 1", (), "read")
    session.query(statement)
    session.query(statement)
    assert connection.seen_timeouts == [100, 60]
    with pytest.raises(TimeoutExceeded) as caught:
        session.execute(Statement("BACKUP DATABASE [a] TO URL = 'x'", (), "write"))
    assert connection.seen_timeouts[-1] == 20
    assert caught.value.step == "SQL statement" and "BACKUP DATABASE" in caught.value.msg
    assert "raise the task's `timeout`" in caught.value.fix.replace("Raise", "raise")
    # A cancelled write may have done part of its work: the task reports it as possibly run.
    assert session.writes_in_doubt == ["BACKUP DATABASE [a] TO URL = 'x'"] and session.writes_done == []
    with pytest.raises(TimeoutExceeded):
        session.query(statement)  # nothing more is sent once the time is out
    assert len(connection.seen_timeouts) == 3


def test_statement_timeout_still_bounds_each_statement():
    clock = FakeClock()
    connection = FakeConnection(clock)
    session = sc._BoundedSession(connection, False, Deadline(100, clock=clock), 20)
    session.query(Statement("SELECT 1", (), "read"))
    assert connection.seen_timeouts == [20]


def test_sql_login_gets_the_time_left_and_a_timeout_is_named(monkeypatch):
    clock = FakeClock()
    deadline = Deadline(10, clock=clock)
    seen = {}

    def connect(connection_string, **kwargs):
        seen.update(kwargs)
        clock.advance(kwargs["timeout"])
        raise FakePyodbc.Error("HYT00", "[HYT00] [Microsoft][ODBC Driver 18 for SQL Server]Login timeout expired (0)")

    class FakePyodbc(types.ModuleType):
        Error = type("Error", (Exception,), {})

    fake = FakePyodbc("pyodbc")
    fake.connect = connect
    monkeypatch.setitem(sys.modules, "pyodbc", fake)
    params = {"sql_host": "sql.example.test", "login_user": "sa", "login_password": "pw", "login_timeout": 15}
    with pytest.raises(TimeoutExceeded) as caught:
        sc.connect(params, deadline=deadline)
    assert seen["timeout"] == 10  # login_timeout 15 capped by the task's 10 s
    assert caught.value.step == "SQL login" and "sql_host" in caught.value.fix
    with pytest.raises(TimeoutExceeded):
        sc.connect(params, deadline=deadline)  # no login attempted once the time is out


# The option ---------------------------------------------------------------------------------------

def _module(monkeypatch, args, **spec):
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    return base.SqlvmModule(dict({"name": {"type": "str"}}, **spec))


@pytest.mark.parametrize("value,fragment", [(0, "timeout=0 is not accepted"), (-5, "timeout=-5 is not a positive")])
def test_zero_or_negative_timeout_is_refused_before_anything(monkeypatch, capsys, value, fragment):
    with pytest.raises(SystemExit):
        _module(monkeypatch, {"name": "x", "timeout": value})
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] and fragment in out["msg"] and "positive number of seconds" in out["msg"]


def test_the_deadline_starts_with_the_task_and_long_modules_may_raise_the_default(monkeypatch):
    assert _module(monkeypatch, {"name": "x"}).deadline.seconds == 300
    long_task = dict(timeout=dict(type="int", default=86400))
    assert _module(monkeypatch, {"name": "x"}, **long_task).deadline.seconds == 86400
    assert _module(monkeypatch, {"name": "x", "timeout": 5}, **long_task).deadline.seconds == 5


def test_auth_settings_keep_an_explicit_zero_to_refuse_it():
    with pytest.raises(Exception, match="timeout=0"):
        auth.AuthSettings.from_options_and_env({"timeout": 0}, {})


def test_sign_in_retries_never_back_off_past_the_deadline(monkeypatch):
    import time
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    clock = FakeClock()
    transport = auth.discovery_cache_transport(deadline=Deadline(5, clock=clock))
    transport.sleep(2)
    clock.advance(4)
    transport.sleep(8)
    assert slept == [2, 1]
