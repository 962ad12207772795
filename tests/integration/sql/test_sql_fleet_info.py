"""sql_fleet_info against the world's SQL Servers: each host's facts are sql_info's, one server's failure is its
host's entry only, nothing is written, no secret reaches the output, bad input is refused before any login, and a
generated fleet is read in one task with one login per server."""
import socket

import pytest
import yaml

import world as world_lib
from _sqlworld import _VMS, CONTAINER, FREETDS, MS_DRIVER, SA_PASSWORD, task
from playbook_runner import AnsibleRunner

WORLD_SA_PASSWORD = "Sim-Passw0rd!"    # tests/sim/scenarios/default.yml and generated worlds
AUTOMATION = "sqlvm-automation"        # the automation principal of the default scenario (env.sh's AZURE_CLIENT_ID)

# sql_info's return values that are not facts of the server.
NOT_FACTS = ("changed", "invocation")


def _facts(result):
    return {key: value for key, value in dict(result).items() if key not in NOT_FACTS and not key.startswith("_ansible")}


def _entry(sqlworld, vm, **extra):
    entry = dict(host=vm, sql_host="127.0.0.1", sql_port=sqlworld.port(vm))
    entry.update(extra)
    return entry


def _defaults(sqlworld, **extra):
    """The task-wide connection options (every entry inherits them): SQL auth as sa over TLS, FreeTDS."""
    options = sqlworld.connection()
    for per_server in ("sql_host", "sql_port"):
        options.pop(per_server)
    options.update(extra)
    return options


def _logins(sqlworld):
    return [r for r in sqlworld.backend.requests if r.get("service") == "tds" and r.get("method") == "LOGIN"]


def _closed_port():
    """A loopback port nobody listens on (bound, then released): a stopped SQL Server's."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def test_each_hosts_facts_are_what_sql_info_returns(sqlworld, ansible):
    vms = sorted(_VMS)
    per_host = [task("sql_info", dict(sqlworld.connection(vm), container_url=CONTAINER)) for vm in vms]
    fleet = task("sql_fleet_info", dict(_defaults(sqlworld), container_url=CONTAINER,
                                        servers=[_entry(sqlworld, vm) for vm in vms]))
    result = ansible(per_host + [fleet])
    outcome = result[len(vms)]
    assert not outcome.failed, outcome.get("msg")
    assert outcome["changed"] is False
    assert outcome["summary"] == dict(servers=len(vms), read=len(vms), failed=0)
    assert sorted(outcome["hosts"]) == vms
    for vm, single in zip(vms, result.tasks[:len(vms)]):
        assert not single.failed, single.get("msg")
        assert outcome["hosts"][vm] == _facts(single), vm
    # The world's scenario differs per server: the comparison is not of identical dicts.
    assert outcome["hosts"]["linux"]["instance"]["host_platform"] == "Linux"
    assert outcome["hosts"]["cu14"]["ready"] is False and outcome["hosts"]["vm1"]["instance"]["release"] == "2022"


def test_a_server_that_refuses_or_cannot_be_reached_is_its_hosts_failure_only(sqlworld, ansible):
    stopped = _closed_port()
    servers = [_entry(sqlworld, "vm1"), _entry(sqlworld, "nopri", login_password="Wr0ng-" + SA_PASSWORD),
               _entry(sqlworld, "norole"), dict(host="stopped", sql_host="127.0.0.1", sql_port=stopped, login_timeout=5)]
    outcome = ansible([task("sql_fleet_info", dict(_defaults(sqlworld), servers=servers))])[0]
    assert not outcome.failed, outcome.get("msg")
    hosts = outcome["hosts"]
    assert outcome["summary"] == dict(servers=4, read=2, failed=2)
    wrong = hosts["nopri"]
    assert wrong["failed"] is True and wrong["error"]["number"] == 18456
    assert "Login failed for user 'sa'" in wrong["msg"] and "Fix:" in wrong["msg"] and "login_password" in wrong["msg"]
    down = hosts["stopped"]
    assert down["failed"] is True and "127.0.0.1:%d" % stopped in down["msg"] and "Fix:" in down["msg"]
    assert "NSG / firewall" in down["msg"] or "firewall" in down["msg"]
    for vm in ("vm1", "norole"):
        assert "failed" not in hosts[vm] and hosts[vm]["instance"]["server_name"]
    # The server refused one login; the two it accepted were read.
    statuses = sorted(r["status"] for r in _logins(sqlworld))
    assert statuses == [0, 0, 18456]


def test_the_fleet_read_writes_nothing_in_check_mode_or_not(sqlworld, ansible):
    servers = [_entry(sqlworld, vm) for vm in sorted(_VMS)]
    result = ansible([task("sql_fleet_info", dict(_defaults(sqlworld), servers=servers))])
    checked = ansible([task("sql_fleet_info", dict(_defaults(sqlworld), servers=servers))], check=True, diff=True)
    for outcome in (result[0], checked[0]):
        assert not outcome.failed and outcome["changed"] is False and "diff" not in outcome
        assert outcome["summary"]["read"] == len(_VMS)
    assert sqlworld.statements(), "the world logged no statement: the test would prove nothing"
    assert sqlworld.writes() == []
    assert {r["kind"] for r in sqlworld.statements()} == {"read"}
    # One login per server and run.
    assert len(_logins(sqlworld)) == 2 * len(_VMS)


def test_no_secret_in_verbose_output_even_when_an_entry_has_a_type_error(sqlworld, ansible):
    own = "Own-" + SA_PASSWORD
    secrets = dict(sa_password=SA_PASSWORD, own_password=own, wrong_password="Wr0ng-Pa55")
    defaults = _defaults(sqlworld, login_password="{{ sa_password }}")
    good = [_entry(sqlworld, "vm1"), _entry(sqlworld, "nopri", login_password="{{ wrong_password }}"),
            _entry(sqlworld, "norole", login_user="sa", login_password="{{ own_password }}")]
    typo = [_entry(sqlworld, "vm1", sql_port="not-a-port", login_password="{{ own_password }}"),
            _entry(sqlworld, "nopri", login_password="{{ wrong_password }}")]
    result = ansible([task("sql_fleet_info", dict(defaults, servers=good)),
                      task("sql_fleet_info", dict(defaults, servers=typo)),
                      task("sql_fleet_info", dict(defaults, servers="not a list", login_user="{{ own_password }}"))],
                     verbosity=3, extra_vars=secrets)
    assert not result[0].failed and result[0]["hosts"]["nopri"]["error"]["number"] == 18456
    assert result[0]["hosts"]["norole"]["failed"] and result[0]["hosts"]["vm1"]["instance"]
    assert result[1].failed and "sql_port" in result[1]["msg"]
    # The entry's type error stopped ansible-core's own masking midway: the other entry's password is masked too.
    masked = result[1]["invocation"]["module_args"]["servers"]
    assert [entry["login_password"] for entry in masked] == ["VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"] * 2, masked
    assert result[2].failed and "servers must be a list of dicts" in result[2]["msg"]
    # -vvv prints invocation.module_args: the passwords are masked there, in every entry.
    assert "invocation" in result.output and "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in result.output
    for secret in secrets.values():
        assert secret not in result.output, "a secret reached the output"
        assert all(secret not in str(dict(t)) for t in result.tasks)


# (servers, task-wide options, what the message must say). Each fails before any login.
BAD = [
    ([dict(host="a", sql_host="127.0.0.1"), dict(host="a", sql_host="127.0.0.2")], {}, "servers[1].host 'a' is also"),
    ([dict(host="a", sql_host="127.0.0.1"), dict(host="b")], {}, "servers[1].sql_host is missing"),
    ([dict(sql_host="127.0.0.1")], {}, "servers[0].host is missing"),
    ([dict(host="a", sql_host="127.0.0.1"), dict(host="b", sql_host="db.internal\n")], {}, "servers[1].sql_host"),
    ([dict(host="a\r", sql_host="127.0.0.1")], {}, "control character"),
    ([dict(host="a", sql_host="127.0.0.1", container_url=CONTAINER + "?sv=2022-11-02&sig=U2VjcmV0")], {},
     "servers[0].container_url"),
    ([dict(host="a", sql_host="127.0.0.1", container_url="https://u:p4ss@acct1.blob.core.windows.net/backups")], {},
     "user name or password"),
    ([dict(host="a", sql_host="127.0.0.1", sql_port=70000)], {}, "servers[0].sql_port 70000"),
    ([dict(host="a", sql_host="127.0.0.1", login_password="")], {}, "servers[0].login_password is empty"),
    ([dict(host="a", sql_host="127.0.0.1")], {"container_url": CONTAINER + "/"}, "container_url (the task's"),
    ([dict(host="a", sql_host="127.0.0.1")], {"concurrency": 0}, "concurrency 0"),
    ([], {}, "servers is empty"),
]


def test_bad_input_is_refused_before_any_login(sqlworld, ansible):
    defaults = _defaults(sqlworld)
    result = ansible([task("sql_fleet_info", dict(defaults, servers=servers, **options))
                      for servers, options, _needle in BAD])
    assert len(result) == len(BAD) >= 6
    for (servers, options, needle), outcome in zip(BAD, result):
        assert outcome.failed, (servers, options)
        assert needle in outcome["msg"], (needle, outcome["msg"])
        assert outcome["error"]["kind"] == "invalid_input"
        assert "U2VjcmV0" not in outcome["msg"] and "p4ss" not in outcome["msg"]
    # Validation comes before connecting: the world saw no login and no statement at all.
    assert sqlworld.backend.requests == []


# The full test world (tests/sim: Azure and SQL Server, scenarios/default.yml) --------------------------------------

def _inventory(world):
    with open(world.env["SIM_INVENTORY"]) as handle:
        return yaml.safe_load(handle)["all"]["children"]["sql_vms"]["hosts"]


def _world_sa(**extra):
    options = dict(sql_auth="sql", login_user="sa", login_password=WORLD_SA_PASSWORD, odbc_driver=FREETDS,
                   trust_server_certificate=True, login_timeout=10)
    options.update(extra)
    return options


def _world_logins(requests):
    return [r for r in requests if r.get("service") == "tds" and r.get("method") == "LOGIN"]


def test_every_sql_server_of_the_default_scenario_reads_as_sql_info_reads_it(world, ansible):
    hosts = _inventory(world)
    names = sorted(hosts)
    assert len(names) >= 10
    per_host = [task("sql_info", _world_sa(sql_host=hosts[n]["sql_host"], sql_port=hosts[n]["sql_port"],
                                           container_url=hosts[n]["container_url"])) for n in names]
    servers = [dict(host=n, sql_host=hosts[n]["sql_host"], sql_port=hosts[n]["sql_port"],
                    container_url=hosts[n]["container_url"]) for n in names]
    result = ansible(per_host + [task("sql_fleet_info", _world_sa(servers=servers))])
    fleet = result[len(names)]
    assert not fleet.failed, fleet.get("msg")
    assert fleet["summary"] == dict(servers=len(names), read=len(names), failed=0)
    for name, single in zip(names, result.tasks[:len(names)]):
        assert not single.failed, single.get("msg")
        assert fleet["hosts"][name] == _facts(single), name
    assert {fleet["hosts"][n]["managed_identity_backup_supported"] for n in names} == {True, False}
    assert world.writes() == []


def test_entra_logins_share_one_token_and_a_server_without_the_login_is_its_hosts_failure(world, ansible, tmp_path):
    hosts = _inventory(world)
    names = ["sqlvm-ready", "sqlvm-2025", "sqlvm-fresh"]
    # An existing sysadmin (sa) gives the automation principal a login on two of the three servers.
    created = ansible([task("sql_login", _world_sa(sql_host=hosts[n]["sql_host"], sql_port=hosts[n]["sql_port"],
                                                   name=AUTOMATION, server_roles=["sysadmin"])) for n in names[:2]])
    assert all(t["changed"] for t in created), created.tasks
    world.admin.clear_log()
    servers = [dict(host=n, sql_host=hosts[n]["sql_host"], sql_port=hosts[n]["sql_port"]) for n in names]
    fleet = ansible([task("sql_fleet_info", dict(sql_auth="entra", odbc_driver=MS_DRIVER, host_name_in_certificate="localhost",
                                                 login_timeout=10, servers=servers))],
                    env={"XDG_CACHE_HOME": str(tmp_path / "cache")})[0]   # no token cached by an earlier test
    assert not fleet.failed, fleet.get("msg")
    assert fleet["summary"] == dict(servers=3, read=2, failed=1)
    for name in names[:2]:
        assert fleet["hosts"][name]["instance"]["login_name"] == AUTOMATION
    refused = fleet["hosts"]["sqlvm-fresh"]
    assert refused["failed"] and refused["error"]["number"] == 18456
    assert "application (client) id %s" % world.env["AZURE_CLIENT_ID"] in refused["msg"]
    assert "sqlvm.backup.sql_login" in refused["msg"]
    log = world.requests()
    # One token for the three logins: one request to the token endpoint.
    assert [e["status"] for e in log if e["service"] == "login" and e["method"] == "POST"] == [200], log
    assert sorted(e["status"] for e in _world_logins(log)) == [0, 0, 18456]


# A generated world with many SQL Servers (azsim.scenario.generate) ----------------------------------------------------

FLEET_SIZE = 50


@pytest.fixture(scope="module")
def generated_world(tmp_path_factory):
    if not world_lib.available():
        pytest.skip("the test world (tests/sim) is not in this branch yet")
    started = world_lib.World(tmp_path_factory.mktemp("fleet%d" % FLEET_SIZE), generate=FLEET_SIZE).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.mark.extended
def test_a_generated_fleet_is_read_in_one_task_with_one_login_per_server(generated_world, tmp_path):
    generated_world.reset()
    hosts = _inventory(generated_world)
    assert len(hosts) == FLEET_SIZE
    servers = [dict(host=n, sql_host=v["sql_host"], sql_port=v["sql_port"], container_url=v["container_url"])
               for n, v in sorted(hosts.items())]
    runner = AnsibleRunner(tmp_path / "ansible", base_env=generated_world.env)
    result = runner([task("sql_fleet_info", _world_sa(servers=servers, concurrency=16,
                                                      storage_suffix=generated_world.env["SIM_STORAGE_SUFFIX"]))])
    fleet = result[0]
    assert not fleet.failed, fleet.get("msg")
    assert fleet["summary"] == dict(servers=FLEET_SIZE, read=FLEET_SIZE, failed=0)
    assert sorted(fleet["hosts"]) == sorted(hosts)
    # The generated fleet: SQL Server 2022 CU17+ and 2025 ready for managed identities, CU16 not.
    versions = {n: h["instance"]["product_version"] for n, h in fleet["hosts"].items()}
    assert versions == {n: v["sql_version"] for n, v in hosts.items()}
    assert {h["managed_identity_backup_supported"] for h in fleet["hosts"].values()} == {True, False}
    requests = generated_world.requests()
    logins = _world_logins(requests)
    assert len(logins) == FLEET_SIZE and {e["status"] for e in logins} == {0}
    assert len({e.get("vm") for e in logins}) == FLEET_SIZE      # one login per server, none twice
    assert [e for e in requests if e.get("kind") == "write"] == []
