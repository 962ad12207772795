"""The collection's metadata agrees with its layout and with the requirement files."""
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_galaxy_names_the_collection_sqlvm_backup():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("sqlvm", "backup")


def test_every_runtime_requirement_is_pinned_for_tests():
    runtime = [
        line.split(">=")[0].strip().lower()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (ROOT / "tests" / "requirements.txt").read_text().splitlines()
        if "==" in line
    }
    assert set(runtime) <= pinned, set(runtime) - pinned
