"""AWX-style runs: ansible-runner with a project directory, an inventory, extra vars and only the
environment AWX's "Microsoft Azure Resource Manager" credential injects (plus the world's CA bundle)."""
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FLEET = ROOT / "tests" / "integration" / "fleet"
PACKAGING = ROOT / "tests" / "integration" / "packaging"
for _helpers in (FLEET, PACKAGING):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))

if not (ROOT / "tests" / "sim" / "fixtures.py").exists():  # the world arrives with the sim-azure branch
    collect_ignore_glob = ["test_*world*.py"]


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    """The collection as users get it (ansible-galaxy collection build), built once per session and worker."""
    from _collection import build_tarball

    return build_tarball(tmp_path_factory.mktemp("galaxy-build"))


@pytest.fixture(scope="session")
def awx_world(tmp_path_factory):
    from _fleet import SCENARIO
    from tests.sim.fixtures import running_world

    with running_world(tmp_path_factory.mktemp("awx-world"), scenario=str(SCENARIO)) as world:
        yield world


@pytest.fixture
def world(awx_world):
    awx_world.admin.reset()
    return awx_world
