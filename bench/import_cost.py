"""Import cost of what a module loads, median of fresh interpreters (what every Ansible task pays).

    .venv/bin/python bench/import_cost.py [runs]
"""
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COLLECTIONS = ROOT / "build" / "collections"
MU = "ansible_collections.sqlvm.backup.plugins.module_utils"

CASES = [
    ("interpreter start (baseline, subtracted)", "pass"),
    ("AnsibleModule (every module)", "from ansible.module_utils.basic import AnsibleModule"),
    ("SqlvmModule + auth settings + clouds", "from %s import base; from %s.azure import auth, cloud" % (MU, MU)),
    ("azure.core pipeline + requests transport",
     "from azure.core import PipelineClient; from azure.core.pipeline.transport import RequestsTransport"),
    ("azure.identity (package)", "import azure.identity"),
    ("azure.identity ClientSecretCredential from its submodule",
     "from azure.identity._credentials.client_secret import ClientSecretCredential"),
    ("azure.mgmt.core ARMPolling (only when waiting for an LRO)",
     "from azure.mgmt.core.polling.arm_polling import ARMPolling"),
    ("azure.core pipeline + our http.client transport",
     "from azure.core import PipelineClient; from %s.azure import transport; transport.stdlib_transport()" % MU),
    ("a read-only Azure task, token cached: base + session + token_cache + transport",
     "from %s import base; from %s.azure import session, token_cache, transport; from azure.core import PipelineClient; "
     "transport.stdlib_transport()" % (MU, MU)),
    ("a read-only Azure task, signing in: the above + azure.identity",
     "from %s import base; from %s.azure import session, token_cache, transport; from azure.core import PipelineClient; "
     "transport.stdlib_transport(); import azure.identity" % (MU, MU)),
    ("a writing Azure task, token cached: the cached one + ARMPolling",
     "from %s import base; from %s.azure import session, token_cache, transport; from azure.core import PipelineClient; "
     "transport.stdlib_transport(); from azure.mgmt.core.polling.arm_polling import ARMPolling" % (MU, MU)),
]


def wall(statement, runs):
    code = "import sys; sys.path.insert(0, %r); %s" % (str(COLLECTIONS), statement)
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    base = wall("pass", runs)
    print("%-62s %8s" % ("import (median of %d fresh interpreters)" % runs, "ms"))
    for label, statement in CASES:
        cost = wall(statement, runs)
        shown = cost * 1000 if statement == "pass" else (cost - base) * 1000
        print("%-62s %8.0f" % (label, shown))


if __name__ == "__main__":
    main()
