"""meta/: the action groups, runtime requirements and execution-environment files agree with the collection."""
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SQL_MODULES = {"sql_login", "sql_credential", "sql_backup", "sql_restore", "sql_info", "sql_backup_info"}
# Log in to SQL Server but take no sql_host (a list of servers instead): not in the sql group.
SQL_FLEET_MODULES = {"sql_fleet_info"}
MODULES = ({"sqlvm_identity", "entra_directory_reader", "role_assignment", "backup_vault_identity", "sqlvm_info",
            "sqlvm_fleet_info", "blob_retention", "backup_ready_fleet"} | SQL_MODULES | SQL_FLEET_MODULES)


def _runtime():
    return yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())


def _options(module):
    """The option names a module documents, its doc fragments' included."""
    text = (ROOT / "plugins" / "modules" / (module + ".py")).read_text()
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r?"""(.*?)"""', text, re.S).group(1))
    options = set(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or ():
        name = fragment.split(".")[2]  # sqlvm.backup.<file>[.<variable>]
        fragment_text = (ROOT / "plugins" / "doc_fragments" / (name + ".py")).read_text()
        fragment_doc = yaml.safe_load(re.search(r'DOCUMENTATION = r?"""(.*?)"""', fragment_text, re.S).group(1))
        options |= set((fragment_doc or {}).get("options") or {})
    return options


def test_action_groups_list_the_modules_of_the_collection():
    runtime = _runtime()
    assert set(runtime["action_groups"]) == {"azure", "sql"}
    # group/sqlvm.backup.azure: every module (all take the Azure authentication options), as since 0.1.0.
    group = set(runtime["action_groups"]["azure"])
    assert group == MODULES
    shipped = {path.stem for path in (ROOT / "plugins" / "modules").glob("*.py")} if (ROOT / "plugins" / "modules").is_dir() else set()
    assert shipped <= group, "modules missing from the action group: %s" % (shipped - group)
    # group/sqlvm.backup.sql: the modules that log in to SQL Server.
    assert set(runtime["action_groups"]["sql"]) == SQL_MODULES
    assert {module for module in shipped if module.startswith("sql_")} == SQL_MODULES | SQL_FLEET_MODULES
    assert runtime["requires_ansible"].startswith(">=2.16")


@pytest.mark.parametrize("group, fragment", [("azure", "azure_auth"), ("sql", "sql_connection")])
def test_every_module_of_a_group_takes_the_options_the_group_sets(group, fragment):
    """module_defaults for a group passes its options to every module of the group: each must take them all."""
    fragment_text = (ROOT / "plugins" / "doc_fragments" / (fragment + ".py")).read_text()
    shared = set(yaml.safe_load(re.search(r'DOCUMENTATION = r?"""(.*?)"""', fragment_text, re.S).group(1))["options"])
    assert shared
    for module in _runtime()["action_groups"][group]:
        assert shared <= _options(module), "%s lacks %s" % (module, shared - _options(module))


def test_execution_environment_dependencies_exist():
    ee = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    for key in ("python", "system"):
        assert (ROOT / ee["dependencies"][key]).is_file()
    full = yaml.safe_load((ROOT / "meta" / "ee" / "execution-environment.yml").read_text())
    assert full["version"] == 3
    assert any("msodbcsql18" in step for step in full["additional_build_steps"]["append_final"])
    # Python and system packages come from the installed collection's meta/execution-environment.yml
    # (checked above); the EE file names only the collection itself.
    assert not {"python", "system"} & set(full["dependencies"])
    assert (ROOT / "meta" / "ee" / full["dependencies"]["galaxy"]).resolve().is_file()
