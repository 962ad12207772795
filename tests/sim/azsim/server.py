"""The world process: loads a scenario, starts every listener, Azurite and (if present) the SQL
Server side, writes env.sh / env.json / inventory.yml into the state dir, serves until SIGTERM."""
import argparse
import importlib
import importlib.util
import json
import os
import secrets
import signal
import sys
import threading
import time

import yaml

from . import scenario as scenario_mod
from .admin import AdminService
from .arm import ArmService
from .azurite import Azurite
from .graph import GraphService
from .httpd import Listener, server_ssl_context
from .imds import ImdsService
from .login import LoginService
from .pki import Pki
from .throttle import Throttle
from .tokens import TokenSigner
from .world import STORAGE_AUDIENCE, World


def load_scenario(path=None, generate=None):
    if generate:
        return scenario_mod.normalise(scenario_mod.generate(int(generate)), source="--generate %s" % generate)
    return scenario_mod.load_file(path or scenario_mod.DEFAULT_SCENARIO)


class Sim:
    def __init__(self, state_dir, scenario, with_azurite=True, with_sql=True):
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.scenario = scenario
        self.world = World(scenario)
        self.pki = Pki(self.state_dir)
        self.world.signer = TokenSigner(self.pki, self.world.tenant_id)
        self.world.jwks = self.pki.jwks
        self.world.ca_bundle_path = self.pki.bundle_path
        self.world._tls_files = (self.pki.cert_path, self.pki.key_path, self.pki.bundle_path)
        self.throttle = Throttle()
        self.identity_header = secrets.token_hex(16)
        self.with_azurite = with_azurite
        self.with_sql = with_sql
        self.listeners = {}
        self.sql_module = None
        self.sql_handle = None
        self.sql_ports = {}
        self.sql_error = None
        self.env = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        ctx = server_ssl_context(self.pki.cert_path, self.pki.key_path)
        w = self.world
        azurite_error = []
        if self.with_azurite:
            self.azurite = Azurite(self.state_dir, self.pki.cert_path, self.pki.key_path, self.pki.bundle_path,
                                   {a["name"]: a["key"] for a in w.storage.values()})
            self.azurite.launch()  # in the main thread (see Azurite.launch)
            azurite_thread = threading.Thread(target=self._start_azurite, args=(azurite_error,), daemon=True)
            azurite_thread.start()
        self.imds = ImdsService(w, self.identity_header)
        for name, app, tls in (("arm", ArmService(self), ctx), ("login", LoginService(w), ctx),
                               ("graph", GraphService(self), ctx), ("imds", self.imds, None),
                               ("admin", AdminService(self), None)):
            listener = Listener(name, app, w, tls)
            self.listeners[name] = listener
            w.urls[name] = listener.url
        for listener in self.listeners.values():
            listener.start()
        # The SQL side needs neither Azurite nor its URL to start: boot both at once.
        self._start_sql()
        if self.with_azurite:
            azurite_thread.join()
            if azurite_error:
                self.stop()
                raise azurite_error[0]
            w.azurite = self.azurite
            w.urls["azurite"] = self.azurite.url
        self._write_files()

    def _start_azurite(self, errors):
        try:
            self.azurite.wait_ready()
            self.azurite.set_token_source(lambda: self.world.mint_token(self.world.automation_id, STORAGE_AUDIENCE))
            self.azurite.sync_containers({a["name"]: list(a["containers"]) for a in self.world.storage.values()})
        except Exception as exc:  # reported by start()
            errors.append(exc)

    def _start_sql(self):
        if not self.with_sql:
            return
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if here not in sys.path:
            sys.path.insert(0, here)
        if importlib.util.find_spec("sqlserver") is None or importlib.util.find_spec("sqlserver.service") is None:
            return
        try:
            self.sql_module = importlib.import_module("sqlserver.service")
            self.sql_handle = self.sql_module.start_sql_service(self.world, host="127.0.0.1")
        except Exception:  # the Azure side stays usable; the failure is reported, not hidden
            import traceback
            self.sql_error = traceback.format_exc()
            sys.stderr.write("SQL Server side failed to start:\n" + self.sql_error)
            self.sql_module = self.sql_handle = None
            return
        ports = self.sql_handle if isinstance(self.sql_handle, dict) else getattr(self.sql_handle, "ports", {})
        self.sql_ports = dict(ports or {})

    def stop(self):
        if self.sql_module is not None and self.sql_handle is not None:
            try:
                self.sql_module.stop_sql_service(self.sql_handle)
            except Exception:  # keep stopping the rest
                import traceback
                traceback.print_exc()
            self.sql_handle = None
        for listener in self.listeners.values():
            try:
                listener.stop()
            except Exception:
                pass
        self.listeners = {}
        if getattr(self, "azurite", None) is not None:
            self.azurite.stop()

    def reset(self):
        """Back to the scenario: state reloaded (same ids), log and faults cleared, throttling buckets
        refilled, Azurite containers emptied, the SQL side told to reset."""
        w = self.world
        with w.lock:
            w.load(self.scenario)
            w.log.clear()
            w.faults.clear()
        self.throttle.reset()
        self.imds.current_vm = None
        if getattr(self, "azurite", None) is not None and self.azurite.process is not None:
            self.azurite.sync_containers({a["name"]: list(a["containers"]) for a in w.storage.values()}, empty=True)
        if self.sql_module is not None and hasattr(self.sql_module, "reset_sql_service"):
            self.sql_module.reset_sql_service(self.sql_handle)
        w.log.clear()

    # ------------------------------------------------------------------ files for clients
    def _write_files(self):
        w = self.world
        auto = self.scenario["automation"]
        env = {
            "AZURE_CLOUD_ENVIRONMENT": w.urls["arm"],
            "AZURE_SUBSCRIPTION_ID": w.default_subscription,
            "AZURE_TENANT": w.tenant_id,
            "AZURE_CLIENT_ID": auto["app_id"],
            "AZURE_SECRET": auto["secret"],
            "REQUESTS_CA_BUNDLE": self.pki.bundle_path,
            "SSL_CERT_FILE": self.pki.bundle_path,
            "SIM_ADMIN_URL": w.urls["admin"],
            "SIM_INVENTORY": os.path.join(self.state_dir, "inventory.yml"),
            # Extras for tests (not read by the product).
            "SIM_STATE_DIR": self.state_dir,
            "SIM_ARM_URL": w.urls["arm"],
            "SIM_LOGIN_URL": w.urls["login"],
            "SIM_GRAPH_URL": w.urls["graph"],
            "SIM_IMDS_URL": w.urls["imds"],
            "SIM_IDENTITY_HEADER": self.identity_header,
            "SIM_AZURITE_URL": w.urls.get("azurite", ""),
            "SIM_CA_CERT": self.pki.ca_path,
            "SIM_TENANT_DOMAIN": w.domain,
            "SIM_ARM_AUDIENCE": w.settings["arm_audience"],
            "SIM_STORAGE_SUFFIX": w.storage_suffix,
            "SIM_FEDERATION_ISSUER": w.urls["login"] + "/federation",
        }
        self.env = env
        _atomic_write(os.path.join(self.state_dir, "inventory.yml"),
                      yaml.dump(self.inventory(), Dumper=_DUMPER, sort_keys=False, default_flow_style=False))
        lines = ["# Written by tests/sim/simctl start; source it to talk to this world."]
        lines += ["export %s=%s" % (key, _shell_quote(value)) for key, value in env.items()]
        _atomic_write(os.path.join(self.state_dir, "env.sh"), "\n".join(lines) + "\n")
        _atomic_write(os.path.join(self.state_dir, "env.json"), json.dumps(env, indent=1))

    def inventory(self):
        w = self.world
        hosts = {}
        for key in w.vm_keys():
            vm = w.vm(key)
            if not vm["sql"]:
                continue
            ready, reason = w.expected_readiness(key)
            backup = vm["backup"]
            account, container = backup.get("storage_account"), backup.get("container")
            sql_vm_name = vm["sql_vm_resource_id"].rsplit("/", 1)[1] if vm["sql_vm_resource_id"] else None
            host = {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                "subscription_id": vm["subscription_id"], "resource_group": vm["resource_group"],
                "vm_name": vm["name"], "sql_vm_name": sql_vm_name, "location": vm["location"],
                "os_type": vm["os_type"], "sql_version": vm["sql"]["version"],
                "sql_clustered": bool(vm["sql"].get("clustered", False)),
                "storage_account": account, "storage_container": container,
                "container_url": w.container_url(account, container) if account and container else None,
                "expected_ready": ready, "expected_reason": reason,
            }
            if key in self.sql_ports:
                host["sql_host"] = "127.0.0.1"
                host["sql_port"] = self.sql_ports[key]
            hosts[key] = host
        return {"all": {"children": {"sql_vms": {"hosts": hosts}}}}


# libyaml's emitter: the pure-Python one needs ~8 s for a 1000-host inventory.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _shell_quote(value):
    return "'" + str(value).replace("'", "'\"'\"'") + "'"


def _atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _watch(pid, stop):
    while not stop.wait(1.0):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            stop.set()
        except PermissionError:
            pass


def main(argv=None):
    parser = argparse.ArgumentParser(prog="azsim.server")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--scenario")
    parser.add_argument("--generate", type=int)
    parser.add_argument("--watch-pid", type=int, help="stop when this process is gone (test runners)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    if args.watch_pid:
        threading.Thread(target=_watch, args=(args.watch_pid, stop), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    started = time.monotonic()
    sim = Sim(args.state_dir, load_scenario(args.scenario, args.generate))
    try:
        sim.start()
        _atomic_write(os.path.join(sim.state_dir, "ready.json"), json.dumps({
            "pid": os.getpid(), "azurite_pid": sim.azurite.process.pid if getattr(sim, "azurite", None) else None,
            "urls": sim.world.urls, "seconds": round(time.monotonic() - started, 3),
            "sql_error": sim.sql_error, "sql_ports": len(sim.sql_ports)}))
        stop.wait()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
