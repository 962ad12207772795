"""Unit tests import the collection as ansible_collections.sqlvm.backup (the path modules use)."""
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collections_root():
    linked = ROOT / "build" / "collections"
    if (linked / "ansible_collections" / "sqlvm" / "backup" / "plugins").is_dir():
        return linked
    # A checkout without `make deps`: link it into a temporary collections tree.
    tmp = Path(tempfile.mkdtemp(prefix="sqlvm-unit-"))
    (tmp / "ansible_collections" / "sqlvm").mkdir(parents=True)
    os.symlink(ROOT, tmp / "ansible_collections" / "sqlvm" / "backup")
    return tmp


sys.path.insert(0, str(_collections_root()))


import pytest  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(autouse=True)
def _private_cache_home(tmp_path, monkeypatch):
    """Caches the code keeps under XDG_CACHE_HOME (cloud metadata, tokens) go to the test's own directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
