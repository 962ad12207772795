"""The layers of plugins/module_utils: imports only go down, no import cycle, and loading any file
pulls in no Azure SDK or ODBC library (a task pays for those only when it uses them).

    common   errors, redaction, private files, diffing          (imports nothing of ours above it)
    azure    clouds, credentials, disk caches, HTTP pipeline, ARM, Graph, the Azure session
    sql      connection, T-SQL text, SQL Server error messages   (may read azure's cloud table)
    backends one per module, named after it
    base     the module base (SqlvmModule)
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PACKAGE = "ansible_collections.sqlvm.backup.plugins.module_utils"
RANK = {"common": 0, "azure": 1, "sql": 2, "backends": 3, "base": 4}


def _name(path):
    return ".".join(path.relative_to(MODULE_UTILS).with_suffix("").parts)


def _layer(name):
    return name.split(".", 1)[0]


def _imports(path):
    """Our module_utils modules that `path` imports, at load time or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            base = node.module[len(PACKAGE):].lstrip(".")
            for alias in node.names:
                candidate = "%s.%s" % (base, alias.name) if base else alias.name
                found.add(candidate if (MODULE_UTILS / (candidate.replace(".", "/") + ".py")).exists() else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name[len(PACKAGE) + 1:] for alias in node.names if alias.name.startswith(PACKAGE + "."))
    return {name for name in found if name}


FILES = sorted(path for path in MODULE_UTILS.rglob("*.py") if path.name != "__init__.py")
GRAPH = {_name(path): _imports(path) for path in FILES}


def test_every_file_belongs_to_a_layer():
    assert {_layer(name) for name in GRAPH} <= set(RANK), sorted(GRAPH)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_imports_only_go_down(name):
    upward = sorted(target for target in GRAPH[name] if RANK[_layer(target)] > RANK[_layer(name)])
    assert not upward, "%s imports from a higher layer: %s" % (name, upward)


def test_no_import_cycle():
    seen, on_path, cycles = set(), [], []

    def visit(node):
        if node in on_path:
            cycles.append(on_path[on_path.index(node):] + [node])
            return
        if node in seen:
            return
        seen.add(node)
        on_path.append(node)
        for target in sorted(GRAPH.get(node, ())):
            visit(target)
        on_path.pop()

    for node in sorted(GRAPH):
        visit(node)
    assert not cycles, " ; ".join(" -> ".join(cycle) for cycle in cycles)


def test_loading_any_file_imports_no_sdk_or_driver():
    code = """
import importlib, json, sys
heavy = ("azure", "msal", "pyodbc", "requests", "cryptography")
out = {}
for name in %r:
    before = set(sys.modules)
    importlib.import_module(name)
    out[name] = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy)
print(json.dumps(out))
""" % ["%s.%s" % (PACKAGE, name) for name in sorted(GRAPH)]
    collections = ROOT / "build" / "collections"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(collections), "PATH": "/usr/bin:/bin"})
    loaded = {name: mods for name, mods in json.loads(result.stdout).items() if mods}
    assert not loaded, loaded
