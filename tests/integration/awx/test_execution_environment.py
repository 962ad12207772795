"""ansible-builder accepts the collection's execution-environment metadata, and `make ee` writes a build context
for an execution environment with the collection and Microsoft ODBC Driver 18 (no container engine, no network)."""
import json
import shutil
import subprocess
import tarfile
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


def _checkout(destination):
    """A clean checkout of the working tree: its tracked and not-ignored files, no build output."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=str(ROOT),
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    return destination


def _final_stage(containerfile):
    return containerfile[containerfile.index("FROM base AS final"):]


def test_make_ee_writes_a_context_that_installs_the_odbc_driver_and_the_collection(tmp_path):
    checkout = _checkout(tmp_path / "checkout")
    assert not (checkout / "build").exists()

    completed = subprocess.run(["make", "-s", "ee", "VENV=%s" % (ROOT / ".venv")], cwd=str(checkout),
                               capture_output=True, text=True, timeout=300, check=False)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    context = checkout / "build" / "ee" / "context"
    final = _final_stage((context / "Containerfile").read_text())
    # Microsoft ODBC Driver 18 from Microsoft's RHEL 9 repository, EULA accepted, in the image that runs jobs.
    driver = [line for line in final.splitlines() if "msodbcsql18" in line]
    assert len(driver) == 1 and driver[0].startswith("RUN ")
    assert "https://packages.microsoft.com/config/rhel/9/prod.repo" in driver[0]
    assert "ACCEPT_EULA=Y dnf install -y msodbcsql18" in driver[0]
    assert final.index("msodbcsql18") < final.index("USER 1000")  # installed as root
    # The collection built from this checkout, installed by the galaxy stage and copied into the final image.
    assert "COPY --from=galaxy /usr/share/ansible /usr/share/ansible" in final
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": "collections/sqlvm-backup.tar.gz", "type": "file"}]
    tarball = context / "_build" / "collections" / "sqlvm-backup.tar.gz"
    with tarfile.open(str(tarball)) as archive:
        info = json.load(archive.extractfile("MANIFEST.json"))["collection_info"]
        archive.extractall(str(tmp_path / "installed" / "ansible_collections" / "sqlvm" / "backup"), filter="data")
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert (info["namespace"], info["name"], info["version"]) == ("sqlvm", "backup", version)

    # What the builder stage runs on the installed collection: its Python and system dependencies.
    introspected = subprocess.run([str(BUILDER), "introspect", "--sanitize", str(tmp_path / "installed")],
                                  capture_output=True, text=True, timeout=120, check=False)

    assert introspected.returncode == 0, introspected.stderr
    data = yaml.safe_load(introspected.stdout)
    assert any(line.startswith("pyodbc") for line in data["python"])
    assert any(line.startswith("unixODBC") and "platform:rpm" in line for line in data["system"])
