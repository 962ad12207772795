"""Fixtures of the security acceptance tests (issue 10): the worker's world (tests/integration/conftest.py)
and a store that runs each batch once per test session across xdist workers."""
import pytest

from _security import SharedResults


@pytest.fixture(scope="session")
def shared_results(tmp_path_factory, worker_id):
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's basetemp is <session basetemp>/popen-gwN: the parent is shared by the
    # workers of this session only.
    root = base.parent if worker_id != "master" else base
    return SharedResults(root / "security-batches")


@pytest.fixture(scope="session")
def security_world(_world_session):
    """The worker's world, back at its scenario with no faults (each batch resets it again)."""
    _world_session.reset()
    return _world_session
