"""pytest fixtures shared by tests/sim/tests/test_sql_*.py (imported with `from sqlserver.fixtures import *`)."""
from __future__ import annotations

import pytest

from .service import reset_sql_service, start_sql_service, stop_sql_service
from .testing import Azurite, azurite_backend_class, build_backend


@pytest.fixture(scope="module")
def sql_world():
    backend = build_backend()
    handle = start_sql_service(backend)
    yield backend, handle
    stop_sql_service(handle)


@pytest.fixture
def world(sql_world):
    backend, handle = sql_world
    reset_sql_service(handle)
    backend.faults.clear()
    backend.requests.clear()
    return backend, handle


@pytest.fixture(scope="module")
def azurite():
    az = Azurite()
    yield az
    az.stop()


@pytest.fixture(scope="module")
def blob_world(azurite):
    backend = build_backend(azurite_backend_class(azurite))
    azurite.create_container("backupacct", "backups")
    handle = start_sql_service(backend)
    yield backend, handle, azurite
    stop_sql_service(handle)


@pytest.fixture
def bworld(blob_world):
    backend, handle, az = blob_world
    reset_sql_service(handle)
    backend.faults.clear()
    backend.requests.clear()
    return backend, handle, az
