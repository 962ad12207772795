"""Fixtures for integration tests: `ansible` runs real ansible-playbook (tests/lib/playbook_runner.py).

`world` (the simulated Azure + SQL Server, tests/sim) arrives with the test world's branch; until
then `ansible` runs with an empty base environment.
"""
import pytest

from playbook_runner import AnsibleRunner


@pytest.fixture(scope="session")
def _ansible_cache(tmp_path_factory):
    # One cache per worker: the cloud metadata document is fetched once, as on a real controller.
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture
def ansible(tmp_path, _ansible_cache):
    return AnsibleRunner(tmp_path / "ansible", cache_dir=_ansible_cache)
