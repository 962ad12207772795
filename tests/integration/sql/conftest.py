"""Fixtures of the SQL modules' integration tests (helpers in _sqlworld.py)."""
import pytest

from _sqlworld import SqlWorld, _scenario
from tests.sim.sqlserver.service import start_sql_service, stop_sql_service


@pytest.fixture(scope="session")
def _sql_world():
    backend = _scenario()
    handle = start_sql_service(backend)
    try:
        yield SqlWorld(backend, handle)
    finally:
        stop_sql_service(handle)


@pytest.fixture
def sqlworld(_sql_world):
    _sql_world.reset()
    return _sql_world
