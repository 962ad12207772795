"""Fidelity tests of the test world through independent real clients (azure-identity, azure-mgmt-*,
azure-storage-blob, plain HTTP for Graph). One world per xdist worker, reset before each test."""
import os

import pytest

from tests.sim.fixtures import running_world


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    with running_world(tmp_path_factory.mktemp("world")) as running:
        saved = dict(os.environ)
        # The SDKs read the CA bundle from the environment.
        os.environ["REQUESTS_CA_BUNDLE"] = running.env["REQUESTS_CA_BUNDLE"]
        os.environ["SSL_CERT_FILE"] = running.env["SSL_CERT_FILE"]
        try:
            yield running
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture
def sim(world):
    """The world, back to its scenario (throttling off unless a test turns it on)."""
    world.admin.reset()
    world.admin.settings(throttling=False)
    world.admin.clear_log()
    return world
