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
