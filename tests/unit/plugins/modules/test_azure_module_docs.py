"""The Azure modules' documentation: `ansible-doc` renders each one cleanly, DOCUMENTATION matches
the argument spec, and every EXAMPLES task is valid - it parses, passes `ansible-playbook
--syntax-check`, names only documented options (all required ones present), and reads only return
values the registering module documents."""
import importlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ansible_collections.sqlvm.backup.plugins.module_utils.base import AUTH_ARGUMENT_SPEC

ROOT = Path(__file__).resolve().parents[4]
BIN = ROOT / ".venv" / "bin"
AZURE_MODULES = ["sqlvm_identity", "entra_directory_reader", "role_assignment", "backup_vault_identity", "sqlvm_info",
                 "sqlvm_fleet_info"]
# Modules an Azure module's EXAMPLES may use besides these (their docs are checked the same way).
HELPERS = ["sql_info"]
VARIABLE = re.compile(r"{{\s*([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)+)")


def _env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / "build" / "collections"), ANSIBLE_NOCOLOR="1")


@pytest.fixture(scope="module")
def docs():
    out = subprocess.run([str(BIN / "ansible-doc"), "--json"] + ["sqlvm.backup." + m for m in AZURE_MODULES + HELPERS],
                         capture_output=True, text=True, env=_env(), check=True)
    return {k.split(".")[-1]: v for k, v in json.loads(out.stdout).items()}


@pytest.mark.parametrize("module", AZURE_MODULES)
def test_ansible_doc_renders(module):
    out = subprocess.run([str(BIN / "ansible-doc"), "sqlvm.backup." + module], capture_output=True, text=True,
                         env=_env(), check=False)
    assert out.returncode == 0, out.stderr
    assert "WARNING" not in out.stderr and "ERROR" not in out.stderr, out.stderr
    for section in ("OPTIONS", "EXAMPLES", "RETURN VALUES", "ATTRIBUTES"):
        assert section in out.stdout, section
    assert "check_mode" in out.stdout and "diff_mode" in out.stdout


def _compare(spec, documented, where):
    assert set(spec) == set(documented), (where, set(spec) ^ set(documented))
    for name, arg in spec.items():
        doc = documented[name]
        assert doc.get("type", "str") == arg.get("type", "str"), (where, name)
        assert doc.get("default") == arg.get("default"), (where, name)
        assert doc.get("choices") == arg.get("choices"), (where, name)
        assert bool(doc.get("required")) == bool(arg.get("required")), (where, name)
        assert doc.get("elements") == arg.get("elements"), (where, name)
        assert sorted(doc.get("aliases") or []) == sorted(arg.get("aliases") or []), (where, name)
        assert doc.get("description"), (where, name)


@pytest.mark.parametrize("module", AZURE_MODULES)
def test_documentation_matches_argument_spec(docs, module):
    code = importlib.import_module("ansible_collections.sqlvm.backup.plugins.modules." + module)
    spec = dict(AUTH_ARGUMENT_SPEC, **code.ARGUMENT_SPEC)
    _compare(spec, docs[module]["doc"]["options"], module)
    for name, arg in spec.items():
        if any(word in name for word in ("password", "secret", "token")) and arg.get("type") not in ("path", "bool"):
            assert arg.get("no_log") is True, name


def _return_has(returns, path):
    node = {"contains": returns}
    for key in path:
        contains = node.get("contains") or {}
        if key not in contains:
            return node.get("type") in ("dict", "raw") and not contains  # an undocumented free-form dict
        node = contains[key]
    return True


@pytest.mark.parametrize("module", AZURE_MODULES)
def test_examples_use_documented_options_and_return_values(docs, module):
    tasks = yaml.safe_load(docs[module]["examples"])
    assert isinstance(tasks, list) and tasks, module
    registered = {}
    for task in tasks:
        assert task.get("name"), task
        used = [key for key in task if key.startswith("sqlvm.backup.") or key.startswith("ansible.builtin.")]
        assert len(used) == 1, task
        if used[0].startswith("sqlvm.backup."):
            name = used[0].split(".")[-1]
            assert name in docs, "EXAMPLES of %s use %s, which is not checked here" % (module, name)
            options = docs[name]["doc"]["options"]
            known = set(options) | {alias for o in options.values() for alias in o.get("aliases") or ()}
            args = task[used[0]] or {}
            assert set(args) <= known, (module, task["name"], set(args) - known)
            required = {o for o, d in options.items() if d.get("required")}
            assert required <= set(args), (module, task["name"], required - set(args))
            if task.get("register"):
                registered[task["register"]] = name
        for variable, attributes in VARIABLE.findall(json.dumps(task)):
            if variable in registered:
                path = attributes.strip(".").split(".")
                assert _return_has(docs[registered[variable]]["return"], path), (module, variable, path)


def test_examples_pass_syntax_check(tmp_path, docs):
    plays = [{"name": module, "hosts": "localhost", "gather_facts": False,
              "tasks": yaml.safe_load(docs[module]["examples"])} for module in AZURE_MODULES]
    playbook = tmp_path / "examples.yml"
    playbook.write_text(yaml.safe_dump(plays))
    out = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", str(playbook)],
                         capture_output=True, text=True, env=_env(), check=False)
    assert out.returncode == 0, out.stdout + out.stderr
