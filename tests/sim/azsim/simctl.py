"""simctl start|stop|status --state-dir DIR [--scenario FILE | --generate N]"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _read_pid(state_dir):
    try:
        with open(os.path.join(state_dir, "sim.pid")) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def start(state_dir, scenario=None, generate=None, timeout=60, watch_pid=None):
    """Starts a world; with watch_pid it stops by itself when that process ends (so a crashed test
    runner leaves nothing behind)."""
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    pid = _read_pid(state_dir)
    if pid and _alive(pid):
        raise SystemExit("simctl: a world is already running from %s (pid %d); stop it first" % (state_dir, pid))
    for name in ("ready.json", "env.sh", "env.json"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass
    cmd = [sys.executable, "-m", "azsim.server", "--state-dir", state_dir]
    if scenario:
        cmd += ["--scenario", os.path.abspath(scenario)]
    if generate:
        cmd += ["--generate", str(generate)]
    if watch_pid:
        cmd += ["--watch-pid", str(watch_pid)]
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with open(os.path.join(state_dir, "sim.log"), "ab") as log:
        process = subprocess.Popen(cmd, cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    with open(os.path.join(state_dir, "sim.pid"), "w") as handle:
        handle.write(str(process.pid))
    deadline = time.monotonic() + timeout
    ready = os.path.join(state_dir, "ready.json")
    while time.monotonic() < deadline:
        if os.path.exists(ready):
            with open(ready) as handle:
                return json.load(handle)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    stop(state_dir)
    with open(os.path.join(state_dir, "sim.log"), "rb") as handle:
        tail = handle.read()[-4000:].decode("utf-8", "replace")
    raise SystemExit("simctl: the world did not start:\n" + tail)


def stop(state_dir, timeout=15):
    state_dir = os.path.abspath(state_dir)
    pid = _read_pid(state_dir)
    azurite_pid = None
    try:
        with open(os.path.join(state_dir, "ready.json")) as handle:
            azurite_pid = json.load(handle).get("azurite_pid")
    except (OSError, ValueError):
        pass
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    # Whatever the world started runs in its process group; make sure nothing is left behind.
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if azurite_pid and _alive(azurite_pid):
        os.kill(azurite_pid, signal.SIGKILL)
    for name in ("sim.pid", "ready.json"):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            pass


def status(state_dir):
    state_dir = os.path.abspath(state_dir)
    pid = _read_pid(state_dir)
    if not pid or not _alive(pid):
        return {"running": False}
    try:
        with open(os.path.join(state_dir, "ready.json")) as handle:
            ready = json.load(handle)
        with urllib.request.urlopen(ready["urls"]["admin"] + "/health", timeout=5) as response:
            healthy = response.status == 200
    except (OSError, ValueError, KeyError):
        return {"running": True, "pid": pid, "healthy": False}
    return {"running": True, "pid": pid, "healthy": healthy, "urls": ready["urls"]}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="simctl", description="Start, stop or inspect the test world.")
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--state-dir", required=True)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scenario", help="a scenario YAML file (default: tests/sim/scenarios/default.yml)")
    group.add_argument("--generate", type=int, metavar="N", help="a generated fleet of N SQL VMs")
    args = parser.parse_args(argv)
    if args.command == "start":
        info = start(args.state_dir, args.scenario, args.generate)
        print("world started in %.2fs; source %s" % (info["seconds"], os.path.join(
            os.path.abspath(args.state_dir), "env.sh")))
        if info.get("sql_error"):
            print("WARNING: the SQL Server side did not start (see sim.log):\n" + info["sql_error"], file=sys.stderr)
    elif args.command == "stop":
        stop(args.state_dir)
    else:
        info = status(args.state_dir)
        print(json.dumps(info, indent=1))
        return 0 if info.get("healthy") else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
