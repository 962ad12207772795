"""The built tarball (once per test session and worker) and its installation into an empty collections path."""
import pytest

from _collection import build_tarball, clean_environment, run


@pytest.fixture(scope="session")
def tarball(tmp_path_factory):
    return build_tarball(tmp_path_factory.mktemp("galaxy-build"))


@pytest.fixture(scope="session")
def installed(tarball, tmp_path_factory):
    """(collections path, environment, working directory) with only the installed tarball visible to ansible."""
    base = tmp_path_factory.mktemp("galaxy-install")
    collections = base / "collections"
    environ = clean_environment(base / "ansible-home", collections)
    run(["ansible-galaxy", "collection", "install", "--offline", "-p", collections, tarball], environ, cwd=base)
    return collections, environ, base
