"""sql_fleet_info against the world's SQL Servers: each host's facts are sql_info's, one server's failure is its
host's entry only, nothing is written, no secret reaches the output, bad input is refused before any login, and a
generated fleet is read in one task with one login per server."""
import socket

import pytest

from _sqlworld import _VMS, CONTAINER, SA_PASSWORD, task

# sql_info's return values that are not facts of the server.
NOT_FACTS = ("changed", "invocation", "warnings", "deprecations")


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
