"""The fleet modules' DOCUMENTATION (with fragments, as ansible-doc renders it) matches their argument specs: names,
types, defaults, choices, required, no_log'd options, elements and the list suboptions - what validate-modules
checks (sql_fleet_info's servers, backup_ready_fleet's hosts)."""
import json
import os
import subprocess
from pathlib import Path

import yaml

from ansible_collections.sqlvm.backup.plugins.module_utils.backends import backup_ready_fleet, sql_fleet_info
from ansible_collections.sqlvm.backup.plugins.module_utils.base import AUTH_ARGUMENT_SPEC

ROOT = Path(__file__).resolve().parents[4]


def _doc(module="sql_fleet_info"):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"))
    name = "sqlvm.backup." + module
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "ansible-doc"), "--json", name],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)[name]


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


def test_documentation_matches_argument_spec_and_examples_parse():
    rendered = _doc()
    spec = dict(AUTH_ARGUMENT_SPEC)
    spec.update(sql_fleet_info.argument_spec())
    _compare(spec, rendered["doc"]["options"], "sql_fleet_info")
    assert yaml.safe_load(rendered["examples"])
    returns = rendered["return"]
    assert set(returns) == {"hosts", "summary"} and set(returns["summary"]["contains"]) == {"servers", "read", "failed"}


def test_every_password_option_is_no_log():
    spec = sql_fleet_info.argument_spec()
    assert spec["login_password"].get("no_log") and spec["servers"]["options"]["login_password"].get("no_log")


def test_backup_ready_fleet_documentation_matches_argument_spec_and_examples_parse():
    rendered = _doc("backup_ready_fleet")
    spec = dict(AUTH_ARGUMENT_SPEC)
    spec.update(backup_ready_fleet.argument_spec())
    _compare(spec, rendered["doc"]["options"], "backup_ready_fleet")
    assert yaml.safe_load(rendered["examples"])
    assert {"hosts", "failed_hosts", "summary"} <= set(rendered["return"])


def test_backup_ready_fleet_password_options_are_no_log():
    spec = backup_ready_fleet.argument_spec()
    assert spec["login_password"].get("no_log") and spec["hosts"]["options"]["login_password"].get("no_log")
