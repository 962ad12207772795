"""Fixtures of the fleet tests (helpers in _fleet.py): one small world (scenario.yml) per xdist
worker, reset before each test; the playbooks run against the world's own generated inventory."""
from pathlib import Path

import pytest

from _fleet import SCENARIO, Fleet

ROOT = Path(__file__).resolve().parents[3]

if not (ROOT / "tests" / "sim" / "fixtures.py").exists():  # the world arrives with the sim-azure branch
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def _fleet_world(tmp_path_factory):
    from tests.sim.fixtures import running_world

    with running_world(tmp_path_factory.mktemp("fleet-world"), scenario=str(SCENARIO)) as world:
        yield world


@pytest.fixture
def fleet(_fleet_world, tmp_path, tmp_path_factory):
    _fleet_world.admin.reset()
    return Fleet(_fleet_world, tmp_path, cache_dir=tmp_path_factory.getbasetemp() / "fleet-cache")
