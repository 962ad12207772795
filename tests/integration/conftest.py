"""Fixtures for integration tests.

`ansible` runs real ansible-playbook (tests/lib/playbook_runner.py). In a test that also uses `world`,
it runs with the world's environment (env.sh: AZURE_* as AWX would inject them, CA bundle, ...).
`world` is the simulated Azure + SQL Server (tests/sim): one started world per xdist worker, reset to
its scenario (request log cleared) before each test. Tests that need it are skipped while the test
world is not merged into this branch.
"""
import pytest

import world as world_lib
from playbook_runner import AnsibleRunner


@pytest.fixture(scope="session")
def _ansible_cache(tmp_path_factory):
    # One cache per worker: the cloud metadata document is fetched once, as on a real controller.
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="session")
def _world_session(tmp_path_factory):
    if not world_lib.available():
        pytest.skip("the test world (tests/sim) is not in this branch yet")
    started = world_lib.World(tmp_path_factory.mktemp("world")).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def world(_world_session):
    _world_session.reset()
    return _world_session


@pytest.fixture
def ansible(request, tmp_path, _ansible_cache):
    base_env = request.getfixturevalue("world").env if "world" in request.fixturenames else None
    return AnsibleRunner(tmp_path / "ansible", base_env=base_env, cache_dir=_ansible_cache)
