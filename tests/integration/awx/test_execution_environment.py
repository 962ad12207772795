"""ansible-builder accepts the collection's execution-environment metadata (no container engine needed)."""
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
BUILDER = ROOT / ".venv" / "bin" / "ansible-builder"


def test_introspect_reads_the_collections_python_and_system_dependencies():
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}

    completed = subprocess.run([str(BUILDER), "introspect", "--sanitize", str(ROOT / "build" / "collections")],
                               capture_output=True, text=True, timeout=120, check=False)

    assert completed.returncode == 0, completed.stderr
    data = yaml.safe_load(completed.stdout)
    python = " ".join(data["python"])
    for package in ("azure-core", "azure-identity", "pyodbc"):
        assert package in python and "from collection sqlvm.backup" in python
    assert any(line.startswith("unixodbc") for line in data["system"])


def test_create_writes_a_build_context_for_the_ee_definition(tmp_path):
    # The EE definition copies the built collection in; a placeholder file stands for it here.
    tarball = ROOT / "build" / "ee" / "sqlvm-backup.tar.gz"
    made = not tarball.exists()
    made_dir = not tarball.parent.exists()
    if made:
        tarball.parent.mkdir(parents=True, exist_ok=True)
        tarball.write_bytes(b"")
    try:
        completed = subprocess.run([str(BUILDER), "create", "-f", str(ROOT / "meta" / "ee" / "execution-environment.yml"),
                                    "--context", str(tmp_path / "context"), "--output-filename", "Containerfile"],
                                   capture_output=True, text=True, timeout=120, check=False, cwd=str(ROOT))
    finally:
        if made:
            tarball.unlink()
        if made_dir:
            tarball.parent.rmdir()
    assert completed.returncode == 0, completed.stdout + completed.stderr
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert "msodbcsql18" in containerfile
    assert (tmp_path / "context" / "_build" / "requirements.txt").exists()
    assert (tmp_path / "context" / "_build" / "bindep.txt").exists()
