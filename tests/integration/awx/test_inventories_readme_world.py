"""playbooks/inventories/README.md gives the sa password each test world really has (a wrong one makes every
SQL row of the report read error 18456)."""
import re

import yaml

from _fleet import ROOT, SCENARIO, WORLD_VARS

README = ROOT / "playbooks" / "inventories" / "README.md"
DEFAULT_SCENARIO = ROOT / "tests" / "sim" / "scenarios" / "default.yml"


def _sa_password(scenario):
    return yaml.safe_load(scenario.read_text())["x-sql"]["sa_password"]


def test_world_vars_match_the_fleet_scenario_and_the_readme_overrides_them_for_the_default_world():
    text = README.read_text()
    assert yaml.safe_load(WORLD_VARS.read_text())["sql_login_password"] == _sa_password(SCENARIO)
    assert "--scenario tests/integration/fleet/scenario.yml" in text
    # The default world's command passes the default scenario's password after world.yml.
    default_command = text[text.index("simctl start --state-dir DIR\n"):text.index("With the fleet scenario")]
    assert re.findall(r"-e 'sql_login_password=([^']+)'", default_command) == [_sa_password(DEFAULT_SCENARIO)]
    assert _sa_password(DEFAULT_SCENARIO) != _sa_password(SCENARIO)
