"""meta/: the action group, runtime requirements and execution-environment files agree with the collection."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = {"sqlvm_identity", "entra_directory_reader", "role_assignment", "backup_vault_identity", "sqlvm_info",
           "sql_login", "sql_credential", "sql_backup", "sql_restore", "sql_info"}


def test_action_group_lists_every_module_of_the_collection():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    group = set(runtime["action_groups"]["azure"])
    assert group == MODULES
    shipped = {path.stem for path in (ROOT / "plugins" / "modules").glob("*.py")} if (ROOT / "plugins" / "modules").is_dir() else set()
    assert shipped <= group, "modules missing from the action group: %s" % (shipped - group)
    assert runtime["requires_ansible"].startswith(">=2.16")


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
