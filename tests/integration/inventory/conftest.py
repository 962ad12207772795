"""Fixtures of the inventory tests (helpers in _inventory.py): one world of scenario.yml per xdist worker, reset
before each test; ansible-inventory and ansible-playbook run with the world's environment (AWX's variables)."""
from pathlib import Path

import pytest

from _inventory import SCENARIO, Inventory

ROOT = Path(__file__).resolve().parents[3]

if not (ROOT / "tests" / "sim" / "fixtures.py").exists():
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def _inventory_world(tmp_path_factory):
    from tests.sim.fixtures import running_world

    with running_world(tmp_path_factory.mktemp("inventory-world"), scenario=str(SCENARIO)) as world:
        yield world


@pytest.fixture
def inv(_inventory_world, tmp_path, tmp_path_factory):
    _inventory_world.admin.reset()
    return Inventory(_inventory_world, tmp_path, cache_dir=tmp_path_factory.getbasetemp() / "inventory-cache")
