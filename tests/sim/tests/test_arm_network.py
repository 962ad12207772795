"""Microsoft.Network networkInterfaces / publicIPAddresses (azsim/network.py) through azure-core's ARM pipeline
(azure-mgmt-network is not among the test requirements): shapes of networkInterface.json / publicIpAddress.json,
paging with nextLink, the NIC each VM's networkProfile names, api-version checks, Reader access."""
import types

import pytest
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, HeadersPolicy, RetryPolicy
from azure.core.rest import HttpRequest
from azure.mgmt.core import ARMPipelineClient

from tests.sim.azsim import network, scenario
from tests.sim.azsim.world import World
from simclients import arm_scope, credential, readonly_credential, sub_path

VERSION = "2024-05-01"


class Arm:
    """GETs through azure-core's ARMPipelineClient (no retries: the world's answers reach the assertions)."""

    def __init__(self, world, cred=None):
        self.client = ARMPipelineClient(base_url=world.env["SIM_ARM_URL"], policies=[
            HeadersPolicy(), RetryPolicy(retry_total=0),
            BearerTokenCredentialPolicy(cred or credential(world), arm_scope(world))])
        self.base = world.env["SIM_ARM_URL"]

    def get(self, path, version=VERSION):
        url = path if path.startswith("http") else self.base + path
        if version:
            url += ("&" if "?" in url else "?") + "api-version=" + version
        return self.client.send_request(HttpRequest("GET", url))

    def list_all(self, path, version=VERSION):
        items, pages, response = [], 1, self.get(path, version)
        while True:
            assert response.status_code == 200, response.text()
            body = response.json()
            items += body["value"]
            if not body.get("nextLink"):
                return items, pages
            response = self.get(body["nextLink"], version=None)
            pages += 1


def test_every_vm_has_the_nic_its_network_profile_names(sim):
    sim.admin.settings(arm_page_size=3)
    arm = Arm(sim)
    nics, pages = arm.list_all(sub_path(sim) + "/providers/Microsoft.Network/networkInterfaces")
    vms, _pages = arm.list_all(sub_path(sim) + "/providers/Microsoft.Compute/virtualMachines", version="2024-07-01")
    assert pages == -(-len(nics) // 3) > 1
    by_id = {nic["id"].lower(): nic for nic in nics}
    assert len(by_id) == len(nics) == len(vms)
    for vm in vms:
        (ref,) = vm["properties"]["networkProfile"]["networkInterfaces"]
        nic = by_id[ref["id"].lower()]
        assert nic["type"] == "Microsoft.Network/networkInterfaces" and nic["name"] == vm["name"] + "-nic"
        assert nic["properties"]["virtualMachine"]["id"].lower() == vm["id"].lower()
        (config,) = nic["properties"]["ipConfigurations"]
        props = config["properties"]
        assert props["primary"] is True and props["privateIPAddressVersion"] == "IPv4"
        assert props["privateIPAddress"].startswith("10.0.")
        assert props["subnet"]["id"] == (sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.Network/"
                                         "virtualNetworks/rg-sql-vnet/subnets/default")
        assert "publicIPAddress" not in props
    addresses = [n["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"] for n in nics]
    assert len(set(addresses)) == len(addresses) and "10.0.0.4" in addresses  # .0-.3 are reserved by Azure
    assert [e["route"] for e in sim.admin.requests(service="arm")][:pages] == \
        ["/subscriptions/{subscriptionId}/providers/Microsoft.Network/networkInterfaces"] * pages


def test_list_in_a_resource_group_and_get_one(sim):
    arm = Arm(sim)
    group = sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.Network/networkInterfaces"
    nics, _pages = arm.list_all(group)
    assert {n["name"] for n in nics} >= {"sqlvm-ready-nic", "app-vm-nic"}
    one = arm.get(group + "/sqlvm-ready-nic")
    assert one.status_code == 200 and one.json() == next(n for n in nics if n["name"] == "sqlvm-ready-nic")
    missing = arm.get(group + "/nope-nic")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    other_group = arm.get(sub_path(sim) + "/resourceGroups/rg-nope/providers/Microsoft.Network/networkInterfaces")
    assert other_group.status_code == 404 and other_group.json()["error"]["code"] == "ResourceGroupNotFound"
    public, _pages = arm.list_all(sub_path(sim) + "/providers/Microsoft.Network/publicIPAddresses")
    assert public == []  # the default scenario gives no VM a public IP


def test_api_version_is_checked(sim):
    arm = Arm(sim)
    path = sub_path(sim) + "/providers/Microsoft.Network/networkInterfaces"
    assert arm.get(path, version=None).json()["error"]["code"] == "MissingApiVersionParameter"
    assert arm.get(path, version="2010-01-01").json()["error"]["code"] == "NoRegisteredProviderFound"


def test_a_reader_lists_network_interfaces(sim):
    arm = Arm(sim, readonly_credential(sim))
    nics, _pages = arm.list_all(sub_path(sim) + "/providers/Microsoft.Network/networkInterfaces")
    assert nics


def _model(raw_vms):
    world = World(scenario.normalise({"subscriptions": [{"resource_groups": [{"name": "rg-a", "vms": raw_vms}]}]}))
    return network.Network(types.SimpleNamespace(world=world))._resources()  # pylint: disable=protected-access


def test_scenario_keys_private_ip_subnet_and_public_ip():
    resources = _model([
        {"name": "vm1", "private_ip": "10.1.2.3", "public_ip": True},
        {"name": "vm2", "subnet": "data", "public_ip": "52.1.2.3"},
        {"name": "vm3", "subnet": "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/sql"},
    ])
    nics = {b["name"]: b["properties"]["ipConfigurations"][0]["properties"] for b in resources.values()
            if b["type"] == network.NIC_TYPE}
    public = {b["name"]: b for b in resources.values() if b["type"] == network.PUBLIC_IP_TYPE}
    assert nics["vm1-nic"]["privateIPAddress"] == "10.1.2.3" and nics["vm1-nic"]["privateIPAllocationMethod"] == "Static"
    assert nics["vm2-nic"]["privateIPAddress"] == "10.0.0.5"  # second VM of its group
    assert nics["vm2-nic"]["subnet"]["id"].endswith("/resourceGroups/rg-a/providers/Microsoft.Network/virtualNetworks/"
                                                    "rg-a-vnet/subnets/data")
    assert nics["vm3-nic"]["subnet"]["id"].endswith("/virtualNetworks/hub/subnets/sql")
    assert sorted(public) == ["vm1-ip", "vm2-ip"]
    assert public["vm2-ip"]["properties"]["ipAddress"] == "52.1.2.3"
    assert nics["vm1-nic"]["publicIPAddress"]["id"] == public["vm1-ip"]["id"]
    assert public["vm1-ip"]["properties"]["ipConfiguration"]["id"].endswith("/vm1-nic/ipConfigurations/ipconfig1")
    assert "publicIPAddress" not in nics["vm3-nic"]


@pytest.mark.parametrize("vm, message", [
    ({"name": "vm1", "private_ip": "10.0.0.300"}, "private_ip"),
    ({"name": "vm1", "public_ip": "yes please"}, "public_ip"),
    ({"name": "vm1", "subnet": 7}, "subnet"),
])
def test_bad_network_keys_are_reported_with_their_path(vm, message):
    with pytest.raises(scenario.ScenarioError, match=r"vms\[0\]\.%s" % message):
        scenario.normalise({"subscriptions": [{"resource_groups": [{"name": "rg-a", "vms": [vm]}]}]})
