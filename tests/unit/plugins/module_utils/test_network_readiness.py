"""Network readiness verdicts (pure) and the read plan of network_checks (a fake session-free arm_get)."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm
from ansible_collections.sqlvm.backup.plugins.module_utils.backends import network_readiness as n

SUB = "00000000-1111-2222-3333-444444444444"
NET = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Network" % SUB
VNET = NET + "/virtualNetworks/rg-vnet"
SUBNET = VNET + "/subnets/default"
OTHER_SUBNET = NET + "/virtualNetworks/hub-vnet/subnets/pe"
ACCOUNT_ID = "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct" % SUB
PE_ID = NET + "/privateEndpoints/acct-pe"
STORAGE_EP = [{"service": "Microsoft.Storage", "locations": ["westeurope"], "provisioningState": "Succeeded"}]


def _vm_net(**over):
    net = {"subnet_id": SUBNET, "location": "westeurope", "service_endpoints": [], "public_ip": None}
    net.update(over)
    return net


def _account(public="Enabled", default="Allow", vnet_rules=(), ip_rules=(), connections=(), bypass="AzureServices",
             location="westeurope"):
    return {"id": ACCOUNT_ID, "location": location, "properties": {
        "publicNetworkAccess": public,
        "networkAcls": {"defaultAction": default, "bypass": bypass, "virtualNetworkRules": list(vnet_rules),
                        "ipRules": list(ip_rules)},
        "privateEndpointConnections": list(connections)}}


def _connection(status="Approved", pe=PE_ID):
    return {"properties": {"privateEndpoint": {"id": pe},
                           "privateLinkServiceConnectionState": {"status": status}}}


def _pe(subnet=SUBNET, group="blob", address="10.0.1.5"):
    return {"id": PE_ID, "properties": {
        "subnet": {"id": subnet},
        "privateLinkServiceConnections": [{"properties": {"groupIds": [group], "privateLinkServiceId": ACCOUNT_ID}}],
        "customDnsConfigs": [{"fqdn": "acct.blob.core.windows.net", "ipAddresses": [address]}]}}


@pytest.mark.parametrize("vm_net, account, endpoints, ready, path, fragment", [
    (_vm_net(), _account(), {}, True, "public", "allows all networks"),
    (_vm_net(), _account(default="Deny"), {}, False, None, "not in the account's virtual network rules"),
    (_vm_net(), _account(default="Deny"), {}, False, None, "AzureServices exception does not cover"),
    (_vm_net(service_endpoints=STORAGE_EP), _account(default="Deny", vnet_rules=[{"id": SUBNET.upper(), "action": "Allow",
                                                                                  "state": "Succeeded"}]),
     {}, True, "virtual_network_rule", "service endpoint"),
    (_vm_net(), _account(default="Deny", vnet_rules=[{"id": SUBNET, "state": "Succeeded"}]), {}, False, None,
     "no Microsoft.Storage service endpoint"),
    (_vm_net(service_endpoints=STORAGE_EP), _account(default="Deny", vnet_rules=[{"id": SUBNET, "state": "NetworkSourceDeleted"}]),
     {}, False, None, "NetworkSourceDeleted"),
    (_vm_net(service_endpoints=STORAGE_EP), _account(default="Deny", vnet_rules=[{"id": SUBNET}], location="eastus"),
     {}, None, None, "paired region"),
    (_vm_net(service_endpoints=[{"service": "Microsoft.Storage.Global"}]),
     _account(default="Deny", vnet_rules=[{"id": SUBNET}], location="eastus"), {}, True, "virtual_network_rule", "Global"),
    # IP rules: only from another region, and only when the public IP is known
    (_vm_net(public_ip="20.1.2.3", location="northeurope"), _account(default="Deny", ip_rules=[{"value": "20.1.2.0/24"}]),
     {}, True, "ip_rule", "20.1.2.3"),
    (_vm_net(public_ip="20.1.2.3"), _account(default="Deny", ip_rules=[{"value": "20.1.2.3"}]), {}, False, None,
     "own region"),
    (_vm_net(location="northeurope"), _account(default="Deny", ip_rules=[{"value": "20.1.2.3"}]), {}, None, None,
     "no public IP"),
    # private endpoints
    (_vm_net(), _account(default="Deny", connections=[_connection()]), {PE_ID.lower(): _pe()}, True,
     "private_endpoint", "private endpoint"),
    (_vm_net(), _account(public="Disabled", connections=[_connection()]), {PE_ID.lower(): _pe()}, True,
     "private_endpoint", "public network access is disabled"),
    (_vm_net(), _account(public="Disabled"), {}, False, None, "no private endpoint"),
    (_vm_net(), _account(public="Disabled", connections=[_connection("Pending")]), {}, False, None, "Pending"),
    (_vm_net(), _account(public="Disabled", connections=[_connection()]), {PE_ID.lower(): _pe(OTHER_SUBNET)}, None, None,
     "peered"),
    (_vm_net(peered_networks=[NET + "/virtualNetworks/HUB-vnet"]), _account(public="Disabled", connections=[_connection()]),
     {PE_ID.lower(): _pe(OTHER_SUBNET)}, True, "private_endpoint", "peered with the VM's"),
    (_vm_net(), _account(public="Disabled", connections=[_connection()]), {PE_ID.lower(): _pe(group="file")}, False, None,
     "no private endpoint"),
    # public access disabled wins over an allow-all firewall
    (_vm_net(), _account(public="Disabled", default="Allow"), {}, False, None, "disabled"),
    (_vm_net(), _account(public="SecuredByPerimeter"), {}, None, None, "perimeter"),
    (_vm_net(), None, {}, None, None, "could not be read"),
])
def test_storage_network_check(vm_net, account, endpoints, ready, path, fragment):
    got = n.storage_network_check(vm_net, account, endpoints)
    assert got["ready"] is ready, got
    assert fragment in got["reason"], got["reason"]
    assert got.get("path") == path
    assert (got["fix"] is None) is (ready is True)


def _rule(name, priority, access, dest="*", port="*", protocol="*", source="*", **extra):
    props = {"priority": priority, "direction": extra.pop("direction", "Outbound"), "access": access, "protocol": protocol,
             "sourcePortRange": "*", "sourceAddressPrefix": source}
    if isinstance(dest, list):
        props["destinationAddressPrefixes"] = dest
    else:
        props["destinationAddressPrefix"] = dest
    if isinstance(port, list):
        props["destinationPortRanges"] = port
    else:
        props["destinationPortRange"] = port
    props.update(extra)
    return {"name": name, "properties": props}


def _nsg(*rules):
    return {"properties": {"securityRules": list(rules)}}  # defaultSecurityRules filled from DEFAULT_OUTBOUND_RULES


SOURCE = {"address": "10.0.0.4", "application_security_groups": []}
STORAGE = n.storage_destination({"location": "westeurope"}, "public")
ENTRA = n.entra_destination()


@pytest.mark.parametrize("rules, destination, access, why", [
    ((), STORAGE, "Allow", "AllowInternetOutBound"),
    ((), ENTRA, "Allow", "AllowInternetOutBound"),
    ((_rule("deny-internet", 4000, "Deny", "Internet"),), STORAGE, "Deny", "deny-internet"),
    ((_rule("deny-internet", 4000, "Deny", "Internet"), _rule("storage", 300, "Allow", "Storage", "443", "Tcp")),
     STORAGE, "Allow", "storage"),
    ((_rule("deny-internet", 4000, "Deny", "Internet"), _rule("storage", 300, "Allow", "Storage.westeurope", "443")),
     STORAGE, "Allow", "storage"),
    ((_rule("deny-internet", 4000, "Deny", "Internet"), _rule("storage", 300, "Allow", "Storage.eastus", "443")),
     STORAGE, "Deny", "deny-internet"),
    ((_rule("deny-internet", 4000, "Deny", "Internet"), _rule("storage", 300, "Allow", "Storage", "443")),
     ENTRA, "Deny", "deny-internet"),
    ((_rule("deny-all", 4096, "Deny"), _rule("aad", 200, "Allow", "AzureActiveDirectory", ["80", "443"])),
     ENTRA, "Allow", "aad"),
    ((_rule("deny-all", 4096, "Deny"), _rule("aad", 200, "Allow", "AzureActiveDirectory", "1-442")), ENTRA, "Deny", "deny-all"),
    ((_rule("deny-all", 4096, "Deny"), _rule("aad", 200, "Allow", "AzureActiveDirectory", "400-500", "Udp")),
     ENTRA, "Deny", "deny-all"),
    ((_rule("deny-443", 100, "Deny", "*", "443", "Tcp"),), STORAGE, "Deny", "deny-443"),
    ((_rule("deny-in", 100, "Deny", direction="Inbound"),), STORAGE, "Allow", "AllowInternetOutBound"),
    # a rule for another source does not apply to the VM; one for its address does
    ((_rule("deny-other", 100, "Deny", source="10.9.0.0/16"),), STORAGE, "Allow", "AllowInternetOutBound"),
    ((_rule("deny-mine", 100, "Deny", source="10.0.0.0/24"),), STORAGE, "Deny", "deny-mine"),
    # private CIDRs never hold a public service; a public CIDR vs a service tag cannot be told
    ((_rule("deny-private", 100, "Deny", ["10.0.0.0/8", "192.168.0.0/16"]),), STORAGE, "Allow", "AllowInternetOutBound"),
    ((_rule("deny-cidr", 100, "Deny", "20.0.0.0/8"),), STORAGE, None, "deny-cidr"),
    ((_rule("allow-cidr", 100, "Allow", "20.0.0.0/8"),), STORAGE, "Allow", "AllowInternetOutBound"),  # same outcome either way
    ((_rule("deny-vnet", 100, "Deny", "VirtualNetwork"),), STORAGE, None, "deny-vnet"),
    ((_rule("deny-cloud", 100, "Deny", "AzureCloud"),), ENTRA, None, "deny-cloud"),
])
def test_nsg_decision(rules, destination, access, why):
    got, reason = n.nsg_decision(_nsg(*rules), SOURCE, destination)
    assert got == access and why in reason, (got, reason)


def test_nsg_private_endpoint_destination_is_exact():
    destination = n.storage_destination({}, "private_endpoint", "10.0.1.5")
    nsg = _nsg(_rule("deny-pe", 100, "Deny", "10.0.1.0/24", "443"), _rule("deny-internet", 200, "Deny", "Internet"))
    assert n.nsg_decision(nsg, SOURCE, destination) == ("Deny", "deny-pe")
    nsg = _nsg(_rule("deny-internet", 200, "Deny", "Internet"))
    assert n.nsg_decision(nsg, SOURCE, destination) == ("Allow", "AllowVnetOutBound")


NSG_A = NET + "/networkSecurityGroups/nic-nsg"
NSG_B = NET + "/networkSecurityGroups/subnet-nsg"


@pytest.mark.parametrize("nsgs, ready, fragment", [
    ([], True, "no network security group"),
    ([("network interface", NSG_A, _nsg()), ("subnet", NSG_B, _nsg())], True, "and the subnet"),
    ([("network interface", NSG_A, _nsg()), ("subnet", NSG_B, _nsg(_rule("no-web", 100, "Deny", "*", "443")))], False,
     "subnet's NSG subnet-nsg denies"),
    ([("network interface", NSG_A, _nsg(_rule("no-web", 100, "Deny", "*", "443"))), ("subnet", NSG_B, _nsg())], False,
     "network interface's NSG nic-nsg denies"),
    ([("network interface", NSG_A, None)], None, "could not be read"),
    ([("subnet", NSG_B, _nsg(_rule("deny-cidr", 100, "Deny", "20.0.0.0/8")))], None, "cannot tell"),
])
def test_outbound_check_needs_both_nsgs(nsgs, ready, fragment):
    got = n.outbound_check(nsgs, SOURCE, STORAGE, "Storage")
    assert got["ready"] is ready and fragment in got["reason"], got
    assert (got["fix"] is None) is (ready is True)


# ---------------------------------------------------------------------------------------------
# read plan: every resource read once per cache

VM = {"id": "/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1" % SUB,
      "location": "westeurope",
      "properties": {"networkProfile": {"networkInterfaces": [{"id": NET + "/networkInterfaces/vm1-nic"}]}}}
VM2 = {"id": VM["id"][:-1] + "2", "location": "westeurope",
       "properties": {"networkProfile": {"networkInterfaces": [{"id": NET + "/networkInterfaces/vm2-nic"}]}}}


def _nic(name, address, nsg=None):
    props = {"ipConfigurations": [{"properties": {"primary": True, "privateIPAddress": address, "subnet": {"id": SUBNET}}}]}
    if nsg:
        props["networkSecurityGroup"] = {"id": nsg}
    return {"id": NET + "/networkInterfaces/" + name, "properties": props}


WORLD = {
    NET + "/networkInterfaces/vm1-nic": _nic("vm1-nic", "10.0.0.4", NSG_A),
    NET + "/networkInterfaces/vm2-nic": _nic("vm2-nic", "10.0.0.5"),
    VNET: {"id": VNET, "properties": {"subnets": [{"id": SUBNET, "properties": {
        "networkSecurityGroup": {"id": NSG_B}, "serviceEndpoints": STORAGE_EP}}]}},
    NSG_A: _nsg(_rule("no-aad", 100, "Deny", "AzureActiveDirectory", "443")),
    NSG_B: _nsg(),
    ACCOUNT_ID: _account(default="Deny", vnet_rules=[{"id": SUBNET, "state": "Succeeded"}]),
}


@pytest.fixture
def reads(monkeypatch):
    seen = []

    def fake_get(session, path, version, params=None):
        seen.append((path, version))
        return WORLD.get(path)
    monkeypatch.setattr(arm, "arm_get", fake_get)
    return seen


def test_network_checks_reads_each_resource_once_per_fleet(reads):
    cache = n.NetworkReadCache()
    one = n.network_checks(None, VM, ACCOUNT_ID + "/blobServices/default/containers/backups", cache)
    assert one["storage_network"]["ready"] is True and one["storage_network"]["path"] == "virtual_network_rule"
    assert one["outbound_storage"]["ready"] is True
    assert one["outbound_entra"]["ready"] is False and "no-aad" in one["outbound_entra"]["reason"]
    two = n.network_checks(None, VM2, ACCOUNT_ID, cache)
    assert two["outbound_entra"]["ready"] is True and two["storage_network"]["ready"] is True
    paths = [p for p, _v in reads]
    assert len(paths) == len(set(paths)) == 6  # 2 NICs, the VNet, 2 NSGs, the account
    assert all(v == "2024-05-01" for p, v in reads if "Microsoft.Network" in p)
    assert dict(reads)[ACCOUNT_ID] == arm.api_version("Microsoft.Storage/storageAccounts")


def test_network_checks_primed_cache_reads_nothing_more(reads):
    cache = n.NetworkReadCache()
    cache.prime([dict(body, id=rid) for rid, body in WORLD.items()])
    n.network_checks(None, VM, ACCOUNT_ID, cache)
    assert reads == []


def test_network_checks_without_nic(reads):
    got = n.network_checks(None, {"properties": {"networkProfile": {"networkInterfaces": [{"id": NET + "/networkInterfaces/gone"}]}}},
                           ACCOUNT_ID)
    assert set(got) == {"storage_network", "outbound_storage", "outbound_entra"}
    assert all(c["ready"] is None for c in got.values())


def test_connected_peerings():
    def peering(state, access=True):
        return {"properties": {"peeringState": state, "allowVirtualNetworkAccess": access,
                               "remoteVirtualNetwork": {"id": "/x/" + state + str(access)}}}
    vnet = {"properties": {"virtualNetworkPeerings": [peering("Connected"), peering("Initiated"), peering("Connected", False)]}}
    assert n.connected_peerings(vnet) == ["/x/ConnectedTrue"]
    assert n.connected_peerings(None) == []


def test_arm_helpers():
    assert arm.virtual_network_of(SUBNET) == VNET
    assert arm.virtual_network_of(VNET) is None and arm.virtual_network_of("nonsense") is None
    assert arm.storage_account_of(ACCOUNT_ID + "/blobServices/default/containers/x") == ACCOUNT_ID
    assert arm.storage_account_of(VNET) is None
    assert arm.api_version("Microsoft.Network/virtualNetworks/subnets") == "2024-05-01"


def test_forbidden_reads_make_the_checks_unknown_not_failed(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError

    def fake_get(session, path, version, params=None):
        if "networkSecurityGroups" in path or "storageAccounts" in path:
            raise AzureApiError("read", path, 403, "AuthorizationFailed", "no")
        return WORLD.get(path)
    monkeypatch.setattr(arm, "arm_get", fake_get)
    got = n.network_checks(None, VM, ACCOUNT_ID)
    assert got["outbound_storage"]["ready"] is None and "nic-nsg could not be read" in got["outbound_storage"]["reason"]
    assert got["storage_network"]["ready"] is None
    assert "could not be read (HTTP 403 AuthorizationFailed)" in got["storage_network"]["reason"]


def test_unreadable_nic_or_subnet(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError

    def no_nic(session, path, version, params=None):
        if "networkInterfaces" in path:
            raise AzureApiError("read", path, 403, "AuthorizationFailed", "no")
        return WORLD.get(path)
    monkeypatch.setattr(arm, "arm_get", no_nic)
    got = n.network_checks(None, VM, ACCOUNT_ID)
    assert all(c["ready"] is None and "403" in c["reason"] and "Reader" in c["fix"] for c in got.values())

    def no_vnet(session, path, version, params=None):
        return None if "virtualNetworks" in path else WORLD.get(path)
    monkeypatch.setattr(arm, "arm_get", no_vnet)
    got = n.network_checks(None, VM2, ACCOUNT_ID)  # no NIC NSG; the subnet (and its NSG) unknown
    assert got["outbound_storage"]["ready"] is None and "subnet could not be read" in got["outbound_storage"]["reason"]
    assert got["storage_network"]["ready"] is None and "service endpoints" in got["storage_network"]["reason"]
