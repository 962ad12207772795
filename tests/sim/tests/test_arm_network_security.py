"""Microsoft.Network virtualNetworks, networkSecurityGroups, privateEndpoints and the storage account's network
properties (azsim/network_security.py), through azure-core's ARM pipeline (azure-mgmt-network is not among the test
requirements), in a world started from tests/sim/scenarios/network.yml; and what the storage firewall does to a
BACKUP TO URL of the world's SQL Servers."""
import importlib.util
import os
import sys

import pytest
import yaml
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, RetryPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.core import ARMPipelineClient

from tests.sim.azsim import network_security, scenario
from tests.sim.azsim.world import World
from tests.sim.fixtures import running_world
from simclients import arm_scope, credential, sub_path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SCENARIO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios", "network.yml")
VERSION = "2024-05-01"
SA = "Sim-Passw0rd!"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with running_world(tmp_path_factory.mktemp("networld"), scenario=SCENARIO) as running:
        saved = dict(os.environ)
        os.environ["REQUESTS_CA_BUNDLE"] = running.env["REQUESTS_CA_BUNDLE"]
        os.environ["SSL_CERT_FILE"] = running.env["SSL_CERT_FILE"]
        try:
            yield running
        finally:
            os.environ.clear()
            os.environ.update(saved)


class Arm:
    def __init__(self, world):
        self.client = ARMPipelineClient(base_url=world.env["SIM_ARM_URL"], policies=[
            HeadersPolicy(), RetryPolicy(retry_total=0),
            BearerTokenCredentialPolicy(credential(world), arm_scope(world))])
        self.base = world.env["SIM_ARM_URL"] + sub_path(world)

    def get(self, path, version=VERSION):
        response = self.client.send_request(HttpRequest("GET", self.base + path + "?api-version=" + version))
        return response.status_code, response.json()


GROUP = "/resourceGroups/rg-net/providers/Microsoft.Network"


def test_virtual_network_with_subnets_as_virtualNetwork_json(net):
    arm = Arm(net)
    status, vnet = arm.get(GROUP + "/virtualNetworks/rg-net-vnet")
    assert status == 200 and vnet["type"] == "Microsoft.Network/virtualNetworks"
    assert vnet["properties"]["addressSpace"]["addressPrefixes"] == ["10.0.0.0/16"]
    subnets = {s["name"]: s for s in vnet["properties"]["subnets"]}
    assert subnets["default"]["properties"]["serviceEndpoints"] == [
        {"service": "Microsoft.Storage", "locations": ["westeurope"], "provisioningState": "Succeeded"}]
    assert subnets["nostorage"]["properties"]["networkSecurityGroup"]["id"].endswith("/networkSecurityGroups/nsg-deny-storage")
    assert "networkSecurityGroup" not in subnets["default"]["properties"]
    # the NICs the VMs' network interfaces put there (network.py) are the subnet's ipConfigurations
    assert [c["id"].split("/")[8] for c in subnets["noendpoint"]["properties"]["ipConfigurations"]] == ["vm-noendpoint-nic"]
    status, one = arm.get(GROUP + "/virtualNetworks/rg-net-vnet/subnets/default")
    assert status == 200 and one == subnets["default"]
    status, listed = arm.get(GROUP + "/virtualNetworks/rg-net-vnet/subnets")
    assert [s["name"] for s in listed["value"]] == list(subnets)
    status, body = arm.get(GROUP + "/virtualNetworks/nope")
    assert status == 404 and body["error"]["code"] == "ResourceNotFound"
    status, body = arm.get("/providers/Microsoft.Network/virtualNetworks")
    assert status == 200 and sorted(v["name"] for v in body["value"]) == ["hub-vnet", "rg-net-vnet", "shared-vnet"]
    # a peering shows on both sides, Connected
    (peering,) = vnet["properties"]["virtualNetworkPeerings"]
    assert peering["properties"]["remoteVirtualNetwork"]["id"].endswith("/virtualNetworks/shared-vnet")
    assert peering["properties"]["peeringState"] == "Connected" and peering["properties"]["allowVirtualNetworkAccess"]
    assert peering["properties"]["remoteAddressSpace"] == {"addressPrefixes": ["10.20.0.0/16"]}
    status, shared = arm.get(GROUP + "/virtualNetworks/shared-vnet")
    assert [p["properties"]["remoteVirtualNetwork"]["id"] for p in shared["properties"]["virtualNetworkPeerings"]] == [vnet["id"]]
    status, hub = arm.get(GROUP + "/virtualNetworks/hub-vnet")
    assert hub["properties"]["virtualNetworkPeerings"] == []


def test_nsg_with_its_rules_and_the_six_default_rules(net):
    status, nsg = Arm(net).get(GROUP + "/networkSecurityGroups/nsg-deny-entra")
    assert status == 200 and nsg["type"] == "Microsoft.Network/networkSecurityGroups"
    rules = nsg["properties"]["securityRules"]
    assert [(r["name"], r["properties"]["priority"], r["properties"]["access"], r["properties"]["direction"])
            for r in rules] == [("allow-storage", 100, "Allow", "Outbound"), ("deny-internet", 300, "Deny", "Outbound")]
    assert rules[0]["properties"]["destinationAddressPrefix"] == "Storage.westeurope"
    assert rules[0]["properties"]["destinationPortRange"] == "443" and rules[0]["properties"]["protocol"] == "Tcp"
    defaults = {r["name"]: r["properties"] for r in nsg["properties"]["defaultSecurityRules"]}
    assert {(n, p["priority"], p["direction"]) for n, p in defaults.items()} == {
        ("AllowVnetInBound", 65000, "Inbound"), ("AllowAzureLoadBalancerInBound", 65001, "Inbound"),
        ("DenyAllInBound", 65500, "Inbound"), ("AllowVnetOutBound", 65000, "Outbound"),
        ("AllowInternetOutBound", 65001, "Outbound"), ("DenyAllOutBound", 65500, "Outbound")}
    assert defaults["AllowInternetOutBound"]["destinationAddressPrefix"] == "Internet"
    assert [s["id"].rsplit("/", 1)[1] for s in nsg["properties"]["subnets"]] == ["noentra"]


def test_private_endpoint_and_the_storage_accounts_network_properties(net):
    arm = Arm(net)
    status, endpoint = arm.get(GROUP + "/privateEndpoints/stprivate-pe")
    assert status == 200 and endpoint["type"] == "Microsoft.Network/privateEndpoints"
    (link,) = endpoint["properties"]["privateLinkServiceConnections"]
    assert link["properties"]["groupIds"] == ["blob"]
    assert link["properties"]["privateLinkServiceId"].endswith("/storageAccounts/stprivate")
    assert endpoint["properties"]["subnet"]["id"].endswith("/virtualNetworks/rg-net-vnet/subnets/default")
    assert endpoint["properties"]["customDnsConfigs"][0]["ipAddresses"] == ["10.0.0.200"]
    storage = "/resourceGroups/rg-net/providers/Microsoft.Storage/storageAccounts/"
    status, account = arm.get(storage + "stprivate", "2023-05-01")
    props = account["properties"]
    assert props["publicNetworkAccess"] == "Disabled"
    (connection,) = props["privateEndpointConnections"]
    assert connection["properties"]["privateEndpoint"]["id"] == endpoint["id"]
    assert connection["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    status, account = arm.get(storage + "stvnet", "2023-05-01")
    acls = account["properties"]["networkAcls"]
    assert acls["defaultAction"] == "Deny" and acls["bypass"] == "AzureServices" and acls["ipRules"] == []
    assert [(r["id"].rsplit("/", 1)[1], r["action"], r["state"]) for r in acls["virtualNetworkRules"]] == [
        ("default", "Allow", "Succeeded"), ("noendpoint", "Allow", "Succeeded")]
    status, account = arm.get(storage + "stopen", "2023-05-01")
    assert account["properties"]["networkAcls"]["defaultAction"] == "Allow"
    assert account["properties"]["publicNetworkAccess"] == "Enabled"
    assert account["properties"]["privateEndpointConnections"] == []


def _world(groups, **extra):
    raw = {"subscriptions": [{"resource_groups": groups}]}
    raw.update(extra)
    return World(scenario.normalise(raw))


def _group(network=None, vm=None, **keys):
    group = {"name": "rg-a", "location": "westeurope", "storage_accounts": [dict({"name": "acct"}, **(
        {"network": network} if network else {}))], "vms": [dict({"name": "vm1"}, **(vm or {}))]}
    group.update(keys)
    return group


@pytest.mark.parametrize("group, denied", [
    (_group(), False),  # the default: everything open
    (_group({"default_action": "Deny"}), True),
    (_group({"default_action": "Deny", "virtual_network_rules": ["default"]}), True),  # no service endpoint
    (_group({"default_action": "Deny", "virtual_network_rules": ["default"]}, virtual_networks=[
        {"name": "rg-a-vnet", "subnets": [{"name": "default", "service_endpoints": ["Microsoft.Storage"]}]}]), False),
    # the VM's own region: IP rules do not apply; another region: they do
    (_group({"default_action": "Deny", "ip_rules": ["52.1.2.0/24"]}, {"public_ip": "52.1.2.3"}), True),
    (_group({"default_action": "Deny", "ip_rules": ["52.1.2.0/24"]}, {"public_ip": "52.1.2.3", "location": "eastus"}), False),
    (_group({"public_network_access": "Disabled"}), True),
    (_group({"public_network_access": "Disabled"}, private_endpoints=[{"name": "pe", "storage_account": "acct"}]), False),
    (_group({"public_network_access": "Disabled"}, private_endpoints=[{"name": "pe", "storage_account": "acct",
                                                                      "group_id": "file"}]), True),
    # a private endpoint in another network: reachable through a peering only
    (_group({"public_network_access": "Disabled"}, virtual_networks=[{"name": "hub", "subnets": ["pe"]}],
            private_endpoints=[{"name": "pe", "storage_account": "acct", "subnet": "hub/pe"}]), True),
    (_group({"public_network_access": "Disabled"}, virtual_networks=[{"name": "hub", "subnets": ["pe"], "peerings": ["rg-a-vnet"]}],
            private_endpoints=[{"name": "pe", "storage_account": "acct", "subnet": "hub/pe"}]), False),
    (_group({"public_network_access": "Disabled"}, private_endpoints=[{"name": "pe", "storage_account": "acct",
                                                                      "status": "Rejected"}]), True),
])
def test_what_the_storage_firewall_decides(group, denied):
    world = _world([group])
    assert bool(world.blob_network_denial("vm1", "acct")) is denied


def test_expected_readiness_names_the_firewall():
    world = _world([_group({"default_action": "Deny"}, {"identity": "system", "sql": {"version": "16.0.4175.1"},
                                                        "sql_vm": {"entra_auth": "system"},
                                                        "backup": {"storage_account": "acct", "container": "backups"}})],
                   role_assignments=[{"principal": "vm:vm1", "role": "Storage Blob Data Contributor",
                                      "scope": "storage:acct"}])
    world.can_read_directory = lambda principal: True
    assert world.expected_readiness("vm1") == (False, "storage_firewall")


@pytest.mark.parametrize("group, where", [
    ({"network_security_groups": [{"name": "n", "rules": [{"priority": 50, "access": "Deny"}]}]}, "priority"),
    ({"network_security_groups": [{"name": "n", "rules": [{"priority": 200, "access": "Maybe"}]}]}, "access"),
    ({"private_endpoints": [{"name": "pe", "storage_account": "acct", "status": "Sure"}]}, "status"),
    ({"virtual_networks": [{"name": "v", "subnets": [{"name": "s", "service_endpoints": ["Microsoft.Sql"]}]}]},
     "service_endpoints"),
    ({"storage_accounts": [{"name": "acct", "network": {"default_action": "Block"}}]}, "default_action"),
    ({"storage_accounts": [{"name": "acct", "network": {"ip_rules": ["not-an-ip"]}}]}, "ip_rules"),
])
def test_bad_network_keys_are_reported_with_their_path(group, where):
    with pytest.raises(scenario.ScenarioError, match=where):
        scenario.normalise({"subscriptions": [{"resource_groups": [dict({"name": "rg-a"}, **group)]}]})


def test_default_scenario_stays_open():
    world = World(scenario.load_file(scenario.DEFAULT_SCENARIO))
    model = network_security.Model(world)
    assert all(model.storage_denial(vm, world.vm(vm)["backup"]["storage_account"] or "none") is None
               for vm in world.vm_keys())
    assert [b["type"] for b in model.bodies.values() if b["type"] != "Microsoft.Network/virtualNetworks/subnets"] == \
        ["Microsoft.Network/virtualNetworks"]


# ---------------------------------------------------------------------------------------------
# the SQL Server side: BACKUP TO URL through the storage firewall

def _cursor(world, vm):
    from sqlserver.testing import connect
    port = yaml.safe_load(open(world.env["SIM_INVENTORY"]))["all"]["children"]["sql_vms"]["hosts"][vm]["sql_port"]
    return connect("msodbc18", port, "sa", SA).cursor()


@pytest.mark.skipif(importlib.util.find_spec("pyodbc") is None, reason="pyodbc is not installed")
def test_backup_to_url_fails_with_403_when_the_firewall_turns_the_vm_away(net):
    import pyodbc
    url = "https://stvnet.blob.%s/backups" % net.env["SIM_STORAGE_SUFFIX"]
    allowed = _cursor(net, "vm-vnet")        # its subnet is in the rules and has the Microsoft.Storage endpoint
    allowed.execute("CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % url)
    allowed.execute("BACKUP DATABASE appdb TO URL = '%s/vnet.bak'" % url)
    while allowed.nextset():
        pass
    denied = _cursor(net, "vm-noendpoint")   # in the rules, but without the service endpoint
    denied.execute("CREATE CREDENTIAL [%s] WITH IDENTITY = 'Managed Identity'" % url)
    with pytest.raises(pyodbc.Error) as exc:
        denied.execute("BACKUP DATABASE appdb TO URL = '%s/noendpoint.bak'" % url)
        while denied.nextset():
            pass
    assert "(403) This request is not authorized to perform this operation." in str(exc.value)
    assert "(3201)" in str(exc.value)
