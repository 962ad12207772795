"""A handle on the test world (tests/sim, built on the sim-azure / sim-sql branches).

    world = World(state_dir); world.start(); world.env -> the variables env.sh exports
    world.admin -> tests/sim/client.py SimAdmin; world.reset(); world.writes(); world.stop()

Contract in docs/design.md ("Test world"). Used by tests/integration/conftest.py (`world` fixture)
and by bench/run.py.
"""
import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tests" / "sim"
SIMCTL = SIM / "simctl"


def available():
    return SIMCTL.exists() and (SIM / "client.py").exists()


def parse_env_file(text):
    """Variables from an env.sh of `export NAME=value` lines (shell-quoted values)."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):]
        words = shlex.split(line)
        if words and "=" in words[0]:
            name, _sep, value = words[0].partition("=")
            env[name] = value
    return env


def _load_client():
    spec = importlib.util.spec_from_file_location("sqlvm_sim_client", SIM / "client.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sqlvm_sim_client", module)
    spec.loader.exec_module(module)
    return module


class World:
    def __init__(self, state_dir, scenario=None, generate=None, python=None):
        self.state_dir = Path(state_dir)
        self.scenario = scenario
        self.generate = generate
        self.python = python or sys.executable
        self.env = {}
        self.admin = None

    def start(self, timeout=180):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [self.python, str(SIMCTL), "start", "--state-dir", str(self.state_dir)]
        if self.scenario:
            command += ["--scenario", str(self.scenario)]
        if self.generate:
            command += ["--generate", str(self.generate)]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if completed.returncode != 0:
            raise RuntimeError("simctl start failed (%s):\n%s\n%s" % (completed.returncode, completed.stdout,
                                                                     completed.stderr))
        self.env = parse_env_file((self.state_dir / "env.sh").read_text())
        self.admin = _load_client().SimAdmin(self.env["SIM_ADMIN_URL"])
        return self

    def stop(self):
        subprocess.run([self.python, str(SIMCTL), "stop", "--state-dir", str(self.state_dir)],
                       capture_output=True, text=True, timeout=60, check=False)

    def reset(self):
        self.admin.reset()

    def requests(self, since=None):
        return list(self.admin.requests(since=since) if since is not None else self.admin.requests())

    def writes(self, since=None):
        return [entry for entry in self.requests(since) if entry.get("kind") == "write"]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
