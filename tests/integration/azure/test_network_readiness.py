"""network_readiness.network_checks through the product's real session (azure-identity, azure-core pipeline,
token cache) against a world started from tests/sim/scenarios/network.yml; its verdicts agree with what the world's
storage firewall does (world.blob_network_denial), and a fleet reads every network resource once."""
import os

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import AuthSettings
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.session import AzureSession
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import network_readiness

from tests.sim.azsim import scenario
from tests.sim.azsim.world import World
from tests.sim.fixtures import running_world

SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sim", "scenarios", "network.yml")

# VM -> (storage_network, outbound_storage, outbound_entra) with True/False/None (cannot tell)
EXPECTED = {
    "vm-open": (True, True, True),
    "vm-vnet": (True, True, True),             # virtual network rule + Microsoft.Storage service endpoint
    "vm-noendpoint": (False, True, True),      # virtual network rule, no service endpoint
    "vm-private": (True, True, True),          # public access disabled, private endpoint in its network
    "vm-hub": (None, True, True),              # private endpoint in a network not peered with the VM's
    "vm-peered": (True, True, True),           # private endpoint in a peered network
    "vm-pending": (False, True, True),         # private endpoint connection Pending
    "vm-nostorage": (True, False, True),       # subnet NSG denies Storage 443
    "vm-noentra": (True, True, False),         # Storage.westeurope allowed, then Internet denied
    "vm-cidr": (True, None, None),             # a public CIDR against the service tags' ranges
}


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    cache = tmp_path_factory.mktemp("xdg")
    with running_world(tmp_path_factory.mktemp("networld"), scenario=SCENARIO) as running:
        saved = dict(os.environ)
        os.environ.update(running.env)
        os.environ["XDG_CACHE_HOME"] = str(cache)
        try:
            yield running
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture
def session(net, tmp_path):
    net.admin.reset()
    settings = AuthSettings.from_options_and_env({}, environ=net.env)
    return AzureSession(settings, environ=net.env, token_cache_dir=str(tmp_path / "tokens"))


def _vm(session, name):
    return arm.arm_get(session, arm.vm_id(session.subscription_id, "rg-net", name),
                       arm.api_version(arm.VIRTUAL_MACHINES))


_BACKUP = {"vm-open": "stopen", "vm-vnet": "stvnet", "vm-noendpoint": "stvnet", "vm-private": "stprivate",
           "vm-hub": "sthub", "vm-peered": "stpeered", "vm-pending": "stpending", "vm-nostorage": "stopen", "vm-noentra": "stopen",
           "vm-cidr": "stopen"}


def test_checks_of_every_vm_with_one_shared_cache(net, session):
    cache = network_readiness.NetworkReadCache()
    vms = {name: _vm(session, name) for name in EXPECTED}
    net.admin.clear_log()
    got = {}
    for name, vm in vms.items():
        scope = arm.storage_scope(session.subscription_id, "rg-net", _BACKUP[name], "backups")
        checks = network_readiness.network_checks(session, vm, scope, cache)
        got[name] = tuple(checks[k]["ready"] for k in ("storage_network", "outbound_storage", "outbound_entra"))
        for check in checks.values():
            assert check["reason"] and (check["fix"] is None) is (check["ready"] is True), check
    assert got == EXPECTED
    # each NIC, virtual network, NSG, storage account and approved private endpoint read once, nothing written
    log = net.admin.requests(service="arm")
    assert all(e["method"] == "GET" for e in log)
    paths = [e["path"].split("?")[0].lower() for e in log]
    assert len(paths) == len(set(paths))
    routes = sorted({e["route"].rsplit("/", 1)[0].rsplit("/", 1)[-1] for e in log})
    assert routes == ["networkInterfaces", "networkSecurityGroups", "privateEndpoints", "storageAccounts",
                      "virtualNetworks"]
    assert len(paths) == 10 + 1 + 3 + 6 + 3  # NICs, rg-net-vnet, the 3 NSGs, the 6 accounts, 3 approved endpoints


def test_storage_verdicts_agree_with_the_worlds_firewall():
    """Where the check says ready or not, the world's storage firewall (what a BACKUP TO URL meets) says the same."""
    world = World(scenario.load_file(SCENARIO))
    for name, (storage, _out, _entra) in EXPECTED.items():
        denial = world.blob_network_denial(name, _BACKUP[name])
        if storage is None:
            assert denial  # in the world nothing else routes to the hub's endpoint
        else:
            assert (denial is None) is storage, (name, denial)


def test_reasons_and_fixes_name_the_cause(net, session):
    scope = arm.storage_scope(session.subscription_id, "rg-net", "stvnet", "backups")
    checks = network_readiness.network_checks(session, _vm(session, "vm-noendpoint"), scope)
    storage = checks["storage_network"]
    assert "no Microsoft.Storage service endpoint" in storage["reason"]
    assert "AzureServices exception does not cover SQL Server" in storage["reason"]
    assert "--service-endpoints Microsoft.Storage" in storage["fix"]
    checks = network_readiness.network_checks(session, _vm(session, "vm-nostorage"))
    assert set(checks) == {"outbound_storage", "outbound_entra"}  # no storage scope: no firewall check
    assert "deny-storage" in checks["outbound_storage"]["reason"]
    assert checks["outbound_storage"]["denied_by"].endswith("/networkSecurityGroups/nsg-deny-storage")


def test_primed_cache_for_a_fleet(net, session):
    cache = network_readiness.NetworkReadCache()
    network_readiness.prime_subscription(session, cache, session.subscription_id)
    vm = _vm(session, "vm-noentra")
    net.admin.clear_log()
    checks = network_readiness.network_checks(session, vm, arm.storage_scope(session.subscription_id, "rg-net", "stopen"),
                                              cache)
    assert checks["outbound_entra"]["ready"] is False
    assert [e["route"].rsplit("/", 2)[-2] for e in net.admin.requests(service="arm")] == ["storageAccounts"]


def _module_checks(result):
    return tuple(result["checks"][k]["ready"] for k in ("storage_network", "outbound_storage", "outbound_entra"))


def test_modules_report_the_network_checks(net, tmp_path):
    """sqlvm_info (per VM) and sqlvm_fleet_info (all at once, four listings for the network) give the verdicts above
    as checks, through ansible-playbook; no write."""
    from playbook_runner import AnsibleRunner

    net.admin.reset()
    runner = AnsibleRunner(tmp_path / "runs", base_env=net.env)
    sub = net.env["AZURE_SUBSCRIPTION_ID"]

    def scope(name):
        return arm.storage_scope(sub, "rg-net", _BACKUP[name], "backups")

    tasks = [{"name": "info " + name, "sqlvm.backup.sqlvm_info": {
        "resource_group": "rg-net", "vm_name": name, "storage_scope": scope(name), "check_directory": False}}
        for name in ("vm-noendpoint", "vm-nostorage", "vm-cidr")]
    tasks.append({"name": "fleet", "sqlvm.backup.sqlvm_fleet_info": {"check_directory": False, "vms": [
        {"host": name, "resource_group": "rg-net", "vm_name": name, "storage_scope": scope(name)} for name in EXPECTED]}})
    net.admin.clear_log()
    result = runner(tasks)
    assert result.rc == 0, result.output[-3000:]
    by_name = {task.name: task for task in result.tasks}
    for name in ("vm-noendpoint", "vm-nostorage", "vm-cidr"):
        assert _module_checks(by_name["info " + name]) == EXPECTED[name], name
    fleet = by_name["fleet"]["hosts"]
    assert {name: _module_checks(fleet[name]) for name in EXPECTED} == EXPECTED
    assert "storage_network" in fleet["vm-noendpoint"]["not_ready"] and fleet["vm-open"]["ready"] is True
    assert by_name["fleet"]["requests"]["network"] <= 4 + 6 + 3  # listings, the accounts, the approved endpoints
    assert not [e for e in net.admin.requests() if e["kind"] == "write"]
