"""The SQL modules' DOCUMENTATION (with fragments, as ansible-doc renders it) matches their argument specs:
names, types, defaults, choices, no_log, elements and suboptions - what validate-modules checks. The fleet modules
too (sql_fleet_info's servers, backup_ready_fleet's hosts): they take no sql_host and document their list entries."""
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_credential as sql_credentials

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_login as sql_logins

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import sql_backup_info, sql_restore
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_ready_fleet, sql_fleet_info
from ansible_collections.sqlvm.backup.plugins.module_utils.base import AUTH_ARGUMENT_SPEC
from ansible_collections.sqlvm.backup.plugins.module_utils.sql.connection import connection_argument_spec

ROOT = Path(__file__).resolve().parents[4]
SPECS = {
    "sql_login": sql_logins.argument_spec(),
    "sql_credential": sql_credentials.argument_spec(),
    "sql_backup": sql_backup.argument_spec(),
    "sql_restore": sql_restore.argument_spec(),
    "sql_backup_info": sql_backup_info.argument_spec(),
    "sql_info": dict(container_url=dict(type="str"), storage_suffix=dict(type="str")),
}


FLEET_SPECS = {
    "sql_fleet_info": sql_fleet_info.argument_spec(),
    "backup_ready_fleet": backup_ready_fleet.argument_spec(),
}
FLEET_RETURNS = {"sql_fleet_info": {"hosts", "summary"}, "backup_ready_fleet": {"hosts", "failed_hosts", "summary"}}


@pytest.fixture(scope="module")
def rendered():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"))
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-doc"), "--json"] +
                         ["sqlvm.backup." + m for m in list(SPECS) + list(FLEET_SPECS)],
                         capture_output=True, text=True, env=env, check=True)
    return {k.split(".")[-1]: v for k, v in json.loads(out.stdout).items()}


@pytest.fixture(scope="module")
def docs(rendered):
    return {name: value["doc"] for name, value in rendered.items()}


def _compare(spec, documented, where):
    assert set(spec) == set(documented), (where, set(spec) ^ set(documented))
    for name, arg in spec.items():
        doc = documented[name]
        assert doc.get("type", "str") == arg.get("type", "str"), (where, name)
        assert doc.get("default") == arg.get("default"), (where, name, doc.get("default"), arg.get("default"))
        assert doc.get("choices") == arg.get("choices"), (where, name)
        assert bool(doc.get("required")) == bool(arg.get("required")), (where, name)
        assert doc.get("elements") == arg.get("elements"), (where, name)
        assert sorted(doc.get("aliases") or []) == sorted(arg.get("aliases") or []), (where, name)
        assert doc.get("description"), (where, name)
        if arg.get("options"):
            _compare(arg["options"], doc["suboptions"], where + "." + name)


@pytest.mark.parametrize("module", sorted(SPECS))
def test_documentation_matches_argument_spec(docs, module):
    spec = dict(AUTH_ARGUMENT_SPEC)
    spec.update(connection_argument_spec())
    spec.update(SPECS[module])
    _compare(spec, docs[module]["options"], module)


@pytest.mark.parametrize("module", sorted(SPECS))
def test_secrets_are_no_log(module):
    spec = dict(connection_argument_spec(), **SPECS[module])
    for name, arg in spec.items():
        if any(word in name for word in ("password", "token", "secret")) and not name.startswith("update_"):
            assert arg.get("no_log") is True, name


@pytest.mark.parametrize("module", sorted(FLEET_SPECS))
def test_fleet_module_documentation_matches_argument_spec_and_examples_parse(rendered, module):
    spec = dict(AUTH_ARGUMENT_SPEC)
    spec.update(FLEET_SPECS[module])
    _compare(spec, rendered[module]["doc"]["options"], module)
    assert yaml.safe_load(rendered[module]["examples"])
    assert FLEET_RETURNS[module] <= set(rendered[module]["return"])
    if module == "sql_fleet_info":
        assert set(rendered[module]["return"]["summary"]["contains"]) == {"servers", "read", "failed"}


@pytest.mark.parametrize("module, entries", [("sql_fleet_info", "servers"), ("backup_ready_fleet", "hosts")])
def test_fleet_module_passwords_are_no_log(module, entries):
    spec = FLEET_SPECS[module]
    assert spec["login_password"].get("no_log") and spec[entries]["options"]["login_password"].get("no_log")
