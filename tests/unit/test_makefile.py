"""`make test` (the README's test command, which CI runs) really runs every suite: a Makefile edit that loses
the target would otherwise leave CI green with nothing tested ("Nothing to be done for 'test'")."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1].parent


def _dry_run(target):
    out = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True, check=True)
    return out.stdout


def test_make_test_runs_every_suite():
    commands = _dry_run("test")
    for needle in ("pytest -q tests/unit", "tests/sim/tests", "tests/integration", "tests/utils/sanity.sh",
                   "ansible-lint", "antsibull-changelog lint"):
        assert needle in commands, "make test does not run %r:\n%s" % (needle, commands)


def test_ci_runs_make_deps_then_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make deps" in ci and "make test" in ci
    assert ci.index("make deps") < ci.index("make test")
    assert "make test-extended" in ci and "make test-lowest" in ci


def test_the_extended_tests_run_in_ci_not_in_make_test():
    assert '-m "not extended"' in _dry_run("integration")
    assert "-m extended" in _dry_run("test-extended")
