"""A handle on the test world (tests/sim, from the sim-azure / sim-sql branches).

    world = World(state_dir).start()   # tests.sim.fixtures.running_world underneath
    world.env      -> the variables env.sh exports (AZURE_* as AWX injects them, CA bundle, SIM_*)
    world.admin    -> tests/sim/client.py SimAdmin (reset, requests, writes, inject, ...)
    world.reset(); world.writes(); world.http_requests(); world.stop()

Contract in docs/design.md ("Test world"). Used by tests/integration/conftest.py (`world` fixture)
and by bench/run.py.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "tests" / "sim"


def available():
    return (SIM / "fixtures.py").exists() and (SIM / "client.py").exists()


class World:
    def __init__(self, state_dir, scenario=None, generate=None):
        self.state_dir = Path(state_dir)
        self.scenario = scenario
        self.generate = generate
        self._context = None
        self._running = None

    def start(self):
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from tests.sim.fixtures import running_world  # pylint: disable=import-outside-toplevel
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._context = running_world(self.state_dir, self.scenario, self.generate)
        self._running = self._context.__enter__()  # pylint: disable=unnecessary-dunder-call
        return self

    def stop(self):
        if self._context is not None:
            context, self._context = self._context, None
            context.__exit__(None, None, None)

    @property
    def env(self):
        return dict(self._running.env)

    @property
    def admin(self):
        return self._running.admin

    def reset(self):
        self.admin.reset()

    def requests(self, since=None):
        return list(self.admin.requests(since=since))

    def writes(self, since=None):
        return [entry for entry in self.requests(since) if entry.get("kind") == "write"]

    def http_requests(self, since=None):
        """Requests to Azure endpoints (ARM, Graph, login, IMDS, metadata) - TDS excluded."""
        return [entry for entry in self.requests(since) if entry.get("service") != "tds"]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
