import json
import sys
import types

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.sqlvm.backup.plugins.module_utils import base
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

SUB = "11111111-2222-3333-4444-555555555555"


def make_module(monkeypatch, args=None, check=False, diff=False, spec=None):
    payload = dict(args or {})
    payload.update(_ansible_check_mode=check, _ansible_diff=diff)
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": payload})))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    return base.SqlvmModule(spec or {"name": {"type": "str"}})


def finish(capsys, call):
    with pytest.raises(SystemExit) as exited:
        call()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_auth_options_are_added_and_check_mode_supported(monkeypatch):
    module = make_module(monkeypatch, {"name": "x", "subscription_id": SUB}, check=True)
    assert module.check_mode is True
    # auth_source unset: auth.py takes ANSIBLE_AZURE_AUTH_SOURCE, else auto.
    assert module.params["auth_source"] is None and module.params["timeout"] == 300
    monkeypatch.delenv("ANSIBLE_AZURE_AUTH_SOURCE", raising=False)
    assert module.auth_settings.auth_source == "auto"
    assert set(base.AUTH_ARGUMENT_SPEC) <= set(module.argument_spec)


def test_exit_adds_diff_only_with_diff(monkeypatch, capsys):
    plain = make_module(monkeypatch, {})
    _code, result = finish(capsys, lambda: plain.exit(True, before={"a": 1}, after={"a": 2}, extra="y"))
    assert result["changed"] is True and "diff" not in result and result["extra"] == "y"
    with_diff = make_module(monkeypatch, {}, diff=True)
    _code, result = finish(capsys, lambda: with_diff.exit(False, before={"a": 1}, after={"a": 1}))
    assert result["diff"] == {"before": {"a": 1}, "after": {"a": 1}} and result["changed"] is False


def test_run_turns_domain_errors_into_fail_json(monkeypatch, capsys):
    module = make_module(monkeypatch, {})

    def broken(_module):
        raise InvalidInputError("name is wrong.", fix="use another name.", option="name")

    code, result = finish(capsys, lambda: module.run(broken))
    assert code == 1 and result["failed"] is True
    assert result["msg"] == "name is wrong. Fix: use another name."
    assert result["error"]["kind"] == "invalid_input" and result["error"]["option"] == "name"


def test_run_returns_a_dict_result(monkeypatch, capsys):
    module = make_module(monkeypatch, {})
    code, result = finish(capsys, lambda: module.run(lambda m: {"changed": False, "value": 3}))
    assert code == 0 and result["value"] == 3


def test_secrets_from_environment_are_masked(monkeypatch, capsys):
    monkeypatch.setenv("AZURE_SECRET", "env-Secret-123")
    module = make_module(monkeypatch, {})
    assert module.auth_settings.secret == "env-Secret-123"
    _code, result = finish(capsys, lambda: module.exit(False, leaked="prefix env-Secret-123"))
    assert "env-Secret-123" not in json.dumps(result)


def test_sql_connect_passes_params_check_mode_and_a_lazy_token(monkeypatch):
    calls = []
    fake = types.ModuleType("sql_connection")
    fake.connect = lambda params, token_provider=None, check_mode=False, deadline=None: calls.append(
        (params, token_provider, check_mode, deadline)) or "session"
    name = "ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection"
    monkeypatch.setitem(sys.modules, name, fake)
    import ansible_collections.sqlvm.backup.plugins.module_utils.sql as package
    monkeypatch.setattr(package, "connection", fake, raising=False)
    module = make_module(monkeypatch, {"name": "db1"}, check=True)
    assert module.sql_connect(name="db2") == "session"
    params, token_provider, check_mode, deadline = calls[0]
    assert params["name"] == "db2" and check_mode is True and callable(token_provider)
    assert deadline is module.deadline and deadline.seconds == 300  # the task's one deadline
    assert module._azure is None  # no Azure session until a token is really needed


def test_secret_option_values_are_read_from_raw_params_whatever_their_type():
    spec = dict(login_password=dict(type="str", no_log=True, aliases=["pw"]), name=dict(type="str"),
                databases=dict(type="list", elements="dict", options=dict(name=dict(type="str"),
                                                                          key=dict(type="str", no_log=True))),
                token=dict(type="str", no_log=True))
    params = dict(pw="S3cret-1", name="app", databases=[{"name": "a", "key": "S3cret-2"}, "not-a-dict"],
                  token=["S3cret-3", 12345])
    found = base.secret_option_values(spec, params)
    assert {"S3cret-1", "S3cret-2", "S3cret-3", "12345"} <= found
    assert "app" not in found and "a" not in found
    assert base.secret_option_values(spec, dict(databases="app")) == set()


def test_a_type_error_still_masks_every_secret_option(monkeypatch, capsys):
    spec = dict(sql_login_password=dict(type="str", no_log=True),
                databases=dict(type="list", elements="dict", options=dict(name=dict(type="str"))))
    with pytest.raises(SystemExit):
        make_module(monkeypatch, {"sql_login_password": "Pa55-w0rd-x", "databases": "app",
                                  "secret": "Azur3-s3cret", "container_url": "https://a.blob.core.windows.net/c?sv=1&sig=SiGnAtUrE"},
                    spec=spec)
    out = capsys.readouterr().out
    assert json.loads(out)["failed"] is True
    for secret in ("Pa55-w0rd-x", "Azur3-s3cret", "SiGnAtUrE"):
        assert secret not in out


def test_a_failure_after_writes_reports_changed_and_the_statements(monkeypatch, capsys):
    module = make_module(monkeypatch, {})
    module._sql_sessions.append(types.SimpleNamespace(writes_done=["CREATE LOGIN [x] ... /* holds a secret, not shown */"],
                                                      writes_in_doubt=["ALTER SERVER ROLE [dbcreator] ADD MEMBER [x]"]))

    def broken(_module):
        raise InvalidInputError("it broke.")

    code, result = finish(capsys, lambda: module.run(broken))
    assert code == 1 and result["changed"] is True
    assert result["statements_done"] == ["CREATE LOGIN [x] ... /* holds a secret, not shown */"]
    assert "may have run" in result["msg"] and "ALTER SERVER ROLE" in result["msg"]


class _Session:
    """What run_sql needs of a SQL session: close, check_mode, and the writes a failure reports."""

    def __init__(self, check_mode):
        self.check_mode = check_mode
        self.closed = False
        self.writes_done, self.writes_in_doubt = [], []

    def close(self):
        self.closed = True


def _sql_module(monkeypatch, args=None, check=False, diff=False):
    module = make_module(monkeypatch, args, check=check, diff=diff)
    opened = []

    def connect(**_overrides):
        session = _Session(module.check_mode)
        opened.append(session)
        module._sql_sessions.append(session)
        return session
    monkeypatch.setattr(module, "sql_connect", connect)
    return module, opened


def _backend(validate=lambda params: None, ensure=None, read=None):
    backend = types.SimpleNamespace(validate=validate)
    if ensure is not None:
        backend.ensure = ensure
    if read is not None:
        backend.read = read
    return backend


def test_run_sql_refuses_bad_input_before_any_login(monkeypatch, capsys):
    module, opened = _sql_module(monkeypatch, {"name": "x"})

    def validate(params):
        raise InvalidInputError("name %r is wrong." % params["name"])

    code, result = finish(capsys, lambda: module.run_sql(_backend(validate, ensure=lambda *a: pytest.fail("ran"))))
    assert code == 1 and "name 'x' is wrong." in result["msg"] and opened == []


def test_run_sql_ensures_closes_and_finishes_with_the_result(monkeypatch, capsys):
    module, opened = _sql_module(monkeypatch, {"name": "x"}, check=True, diff=True)
    calls = []

    def ensure(session, params, check_mode, **options):
        calls.append((params["name"], check_mode, options))
        return Result(True, {}, {"name": "x"}, ["mind the gap"], login={"name": "x"}, statements=["CREATE ..."])

    warned = []  # ansible-core keeps warnings per process: recorded where they are given
    monkeypatch.setattr(module, "warn", warned.append)
    code, result = finish(capsys, lambda: module.run_sql(_backend(ensure=ensure), principal_kind="lookup"))
    assert code == 0 and calls == [("x", True, {"principal_kind": "lookup"})]
    assert result["changed"] is True and result["login"] == {"name": "x"} and result["statements"] == ["CREATE ..."]
    assert result["diff"] == {"before": {}, "after": {"name": "x"}} and warned == ["mind the gap"]
    assert len(opened) == 1 and opened[0].closed


def test_run_sql_reads_through_a_session_that_refuses_writes(monkeypatch, capsys):
    module, opened = _sql_module(monkeypatch, {"name": "x"}, check=False)
    seen = []

    def read(session, params):
        seen.append(session.check_mode)
        return Result(False, ready=True)

    code, result = finish(capsys, lambda: module.run_sql(_backend(read=read)))
    assert code == 0 and result["changed"] is False and result["ready"] is True and "diff" not in result
    assert seen == [True] and opened[0].closed


def test_run_sql_closes_and_lists_the_writes_done_when_it_fails_after_writes(monkeypatch, capsys):
    module, opened = _sql_module(monkeypatch, {"name": "x"})

    def ensure(session, _params, _check_mode):
        session.writes_done.append("CREATE LOGIN [x] FROM EXTERNAL PROVIDER")
        raise InvalidInputError("role 'r' does not exist.")

    code, result = finish(capsys, lambda: module.run_sql(_backend(ensure=ensure)))
    assert code == 1 and result["changed"] is True and opened[0].closed
    assert result["statements_done"] == ["CREATE LOGIN [x] FROM EXTERNAL PROVIDER"] and result["statements_in_doubt"] == []
