"""The collection as users get it: the tarball `ansible-galaxy collection build` makes from this repository,
installed into an empty collections path, with ansible run so that only that installed copy is visible."""
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENV_BIN = ROOT / ".venv" / "bin"


def clean_environment(home, collections_path=None):
    """The environment of a user's shell: no ANSIBLE_* settings of the test run (which point at the repository)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    environ.update({
        "PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")),
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "false",
    })
    if collections_path is not None:
        environ["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path)
    return environ


def run(args, environ, cwd, timeout=300):
    completed = subprocess.run([str(VENV_BIN / args[0])] + [str(a) for a in args[1:]], env=environ, cwd=str(cwd),
                               capture_output=True, text=True, timeout=timeout, check=False)
    assert completed.returncode == 0, "%s failed (rc %s):\n%s\n%s" % (
        " ".join(str(a) for a in args), completed.returncode, completed.stdout[-4000:], completed.stderr[-4000:])
    return completed.stdout


def build_tarball(output_dir):
    """`ansible-galaxy collection build` of the repository; returns the tarball's path."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    run(["ansible-galaxy", "collection", "build", "--force", "--output-path", output_dir, ROOT],
        clean_environment(output_dir / "ansible-home"), cwd=output_dir)
    (tarball,) = output_dir.glob("sqlvm-backup-*.tar.gz")
    return tarball
