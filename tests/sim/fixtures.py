"""Pytest helpers to run a world: import from tests.sim.fixtures (pytest.ini puts the repo root on
sys.path).

    from tests.sim.fixtures import running_world

    @pytest.fixture(scope="session")
    def world(tmp_path_factory):
        with running_world(tmp_path_factory.mktemp("world")) as w:
            yield w

`w.env` is env.sh as a dict, `w.admin` a SimAdmin, `w.state_dir` the directory; `w.environ()` is
os.environ plus env.sh, for subprocesses.
"""
import contextlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from azsim import simctl  # noqa: E402
from tests.sim.client import SimAdmin  # noqa: E402


class RunningWorld:
    def __init__(self, state_dir, info):
        self.state_dir = str(state_dir)
        self.info = info
        with open(os.path.join(self.state_dir, "env.json")) as handle:
            self.env = json.load(handle)
        self.admin = SimAdmin(self.env["SIM_ADMIN_URL"])
        self.urls = info["urls"]

    def environ(self, **extra):
        env = dict(os.environ)
        env.update(self.env)
        env.update({k: str(v) for k, v in extra.items()})
        return env


@contextlib.contextmanager
def running_world(state_dir, scenario=None, generate=None):
    info = simctl.start(str(state_dir), scenario, generate, watch_pid=os.getpid())
    try:
        yield RunningWorld(state_dir, info)
    finally:
        simctl.stop(str(state_dir))
