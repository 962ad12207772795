"""Microsoft.Network virtualNetworks (+ subnets), networkSecurityGroups and privateEndpoints, read-only, and the
network side of Microsoft.Storage storageAccounts, as the REST specifications describe them:
specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/virtualNetwork.json,
networkSecurityGroup.json (defaultSecurityRules, example NetworkSecurityGroupGet.json), privateEndpoint.json;
specification/storage/.../storage.json (NetworkRuleSet, publicNetworkAccess, PrivateEndpointConnection).

Scenario keys (scenario.py keeps them; the default scenario has none, so everything is open):

    resource_groups[].virtual_networks: [{name, address_prefixes: [cidr], subnets: [{name, address_prefix, nsg,
                                          service_endpoints: [Microsoft.Storage | Microsoft.Storage.Global]}],
                                          peerings: [virtual network name (same group) or id]}]  (Connected,
                                          both sides)
    resource_groups[].network_security_groups: [{name, rules: [{name, priority, access, direction (Outbound),
                                          protocol (Tcp), destination (prefix or list), ports (443, "400-500", list),
                                          source ("*")}]}]
    resource_groups[].private_endpoints: [{name, subnet, storage_account, group_id (blob), status (Approved),
                                          private_ip}]
    resource_groups[].storage_accounts[].network: {public_network_access (Enabled), default_action (Allow),
                                          bypass (AzureServices), virtual_network_rules: [subnet], ip_rules: [cidr]}

A subnet is named `name` (in the group's `{group}-vnet`), `vnet/name`, or by id. Every group with VMs has the
virtual network `{group}-vnet` (10.0.0.0/16) with the subnet `default` (10.0.0.0/16) the VMs' NICs use
(network.py), unless the scenario declares it.

`storage_denial(world, vm_key, account)` is what Azure Storage's firewall decides for blob requests coming from
the VM ("Configure Azure Storage firewalls and virtual networks"): the SQL Servers of the world ask it before a
BACKUP/RESTORE TO URL, as the real storage service answers 403 AuthorizationFailure.
"""
import ipaddress
import uuid

from .httpd import Response
from .network import default_public_ip

VNET_TYPE = "Microsoft.Network/virtualNetworks"
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
PE_TYPE = "Microsoft.Network/privateEndpoints"

_DEFAULT_RULES = (  # "Network security groups": the default security rules
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "Deny all inbound traffic"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet", "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "Deny all outbound traffic"),
)


# ---------------------------------------------------------------------------------------------
# scenario keys

def check_group_network(rg, where, fail):
    """The network keys of one scenario resource group -> normalised lists (`fail(where, message)` on errors)."""
    out = {"virtual_networks": [], "network_security_groups": [], "private_endpoints": []}
    for index, vnet in enumerate(rg.get("virtual_networks") or []):
        vwhere = "%s.virtual_networks[%d]" % (where, index)
        if not isinstance(vnet, dict) or not vnet.get("name"):
            fail(vwhere, "name is required")
        subnets = []
        for sindex, subnet in enumerate(vnet.get("subnets") or []):
            if isinstance(subnet, str):
                subnet = {"name": subnet}
            for endpoint in subnet.get("service_endpoints") or []:
                if endpoint not in ("Microsoft.Storage", "Microsoft.Storage.Global"):
                    fail("%s.subnets[%d].service_endpoints" % (vwhere, sindex), "%r is not modelled" % (endpoint,))
            subnets.append({"name": subnet["name"], "address_prefix": subnet.get("address_prefix", "10.0.%d.0/24" % sindex),
                            "nsg": subnet.get("nsg"), "service_endpoints": list(subnet.get("service_endpoints") or [])})
        out["virtual_networks"].append({"name": vnet["name"], "subnets": subnets,
                                        "peerings": [str(p) for p in vnet.get("peerings") or []],
                                        "address_prefixes": list(vnet.get("address_prefixes") or ["10.0.0.0/16"])})
    for index, nsg in enumerate(rg.get("network_security_groups") or []):
        nwhere = "%s.network_security_groups[%d]" % (where, index)
        if not isinstance(nsg, dict) or not nsg.get("name"):
            fail(nwhere, "name is required")
        rules = []
        for rindex, rule in enumerate(nsg.get("rules") or []):
            rwhere = "%s.rules[%d]" % (nwhere, rindex)
            priority = rule.get("priority")
            if not isinstance(priority, int) or not 100 <= priority <= 4096:
                fail(rwhere + ".priority", "must be a number from 100 to 4096")
            if rule.get("access") not in ("Allow", "Deny"):
                fail(rwhere + ".access", "must be Allow or Deny")
            rules.append({"name": rule.get("name") or "rule-%d" % rindex, "priority": priority, "access": rule["access"],
                          "direction": rule.get("direction", "Outbound"), "protocol": rule.get("protocol", "Tcp"),
                          "destination": rule.get("destination", "*"), "ports": rule.get("ports", "*"),
                          "source": rule.get("source", "*")})
        out["network_security_groups"].append({"name": nsg["name"], "rules": rules})
    for index, endpoint in enumerate(rg.get("private_endpoints") or []):
        ewhere = "%s.private_endpoints[%d]" % (where, index)
        if not isinstance(endpoint, dict) or not endpoint.get("name") or not endpoint.get("storage_account"):
            fail(ewhere, "name and storage_account are required")
        status = endpoint.get("status", "Approved")
        if status not in ("Approved", "Pending", "Rejected", "Disconnected"):
            fail(ewhere + ".status", "must be Approved, Pending, Rejected or Disconnected")
        out["private_endpoints"].append({"name": endpoint["name"], "subnet": endpoint.get("subnet", "default"),
                                         "storage_account": endpoint["storage_account"],
                                         "group_id": endpoint.get("group_id", "blob"), "status": status,
                                         "private_ip": endpoint.get("private_ip", "10.0.255.%d" % (4 + index))})
    return out


def check_storage_network(account, where, fail):
    network = account.get("network") or {}
    if not isinstance(network, dict):
        fail(where + ".network", "must be a mapping")
    public = network.get("public_network_access", "Enabled")
    default = network.get("default_action", "Allow")
    if public not in ("Enabled", "Disabled"):
        fail(where + ".network.public_network_access", "must be Enabled or Disabled")
    if default not in ("Allow", "Deny"):
        fail(where + ".network.default_action", "must be Allow or Deny")
    for value in network.get("ip_rules") or []:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            fail(where + ".network.ip_rules", "%r is not an IP address or range" % (value,))
    return {"public_network_access": public, "default_action": default, "bypass": network.get("bypass", "AzureServices"),
            "virtual_network_rules": list(network.get("virtual_network_rules") or []),
            "ip_rules": [str(v) for v in network.get("ip_rules") or []]}


# ---------------------------------------------------------------------------------------------
# the model, derived from the (normalised) scenario

def _rg_id(sub, group):
    return "/subscriptions/%s/resourceGroups/%s" % (sub, group)


def subnet_id(sub, group, ref):
    """A subnet reference of the scenario -> its id."""
    if ref.startswith("/"):
        return ref
    vnet, _sep, name = ref.rpartition("/")
    return "%s/providers/Microsoft.Network/virtualNetworks/%s/subnets/%s" % (_rg_id(sub, group), vnet or group + "-vnet", name)


def _vnet_of(sid):
    return sid.lower().split("/subnets/")[0]


def model_of(world):
    """The world's Model, built once per loaded scenario (the network is read-only; a reset loads a new one)."""
    key = (id(world.scenario), tuple(world.vms), tuple(world.storage))
    built = getattr(world, "_network_security_model", (None, None))
    if built[0] != key:
        built = (key, Model(world))
        world._network_security_model = built  # pylint: disable=protected-access
    return built[1]


class Model:
    """Every virtual network, NSG and private endpoint body, by lower id, and the facts the firewall needs.
    Handlers must not change the bodies (they are shared; Response serialises them)."""

    def __init__(self, world):
        self.world = world
        self.bodies = {}
        self.accounts = {}        # account name -> (account network keys, [private endpoint facts])
        self.vms = {}             # vm name lower -> {"subnet", "public_ip", "location"}
        self.peerings = set()     # (lower vnet id, lower remote vnet id), both directions
        subnet_refs = {}          # lower subnet id -> [ip configuration ids]
        for sub in world.scenario["subscriptions"]:
            for group in sub["resource_groups"]:
                self._load_group(sub["id"], group, subnet_refs)
        self._peer()
        for sid, configs in subnet_refs.items():
            body = self.bodies.get(sid)
            if body is not None:
                body["properties"]["ipConfigurations"] = [{"id": c} for c in configs]

    def _load_group(self, sub, group, subnet_refs):
        name = group["name"]
        base = _rg_id(sub, name) + "/providers/Microsoft.Network"
        vnets = list(group.get("virtual_networks") or [])
        if group["vms"] and not any(v["name"].lower() == (name + "-vnet").lower() for v in vnets):
            vnets.append({"name": name + "-vnet", "address_prefixes": ["10.0.0.0/16"], "peerings": [],
                          "subnets": [{"name": "default", "address_prefix": "10.0.0.0/16", "nsg": None,
                                       "service_endpoints": []}]})
        nsg_subnets = {}
        for vnet in vnets:
            vnet_id = "%s/virtualNetworks/%s" % (base, vnet["name"])
            subnets = []
            for subnet in vnet["subnets"]:
                sid = "%s/subnets/%s" % (vnet_id, subnet["name"])
                props = {"provisioningState": "Succeeded", "addressPrefix": subnet["address_prefix"],
                         "serviceEndpoints": [{"service": e, "locations": ["*"] if e.endswith(".Global") else [group["location"]],
                                               "provisioningState": "Succeeded"} for e in subnet["service_endpoints"]],
                         "delegations": [], "privateEndpointNetworkPolicies": "Disabled",
                         "privateLinkServiceNetworkPolicies": "Enabled"}
                if subnet.get("nsg"):
                    nsg_id = "%s/networkSecurityGroups/%s" % (base, subnet["nsg"])
                    props["networkSecurityGroup"] = {"id": nsg_id}
                    nsg_subnets.setdefault(nsg_id.lower(), []).append({"id": sid})
                body = {"name": subnet["name"], "id": sid, "type": VNET_TYPE + "/subnets", "properties": props}
                self.bodies[sid.lower()] = body
                subnets.append(body)
            for remote in vnet.get("peerings") or []:
                remote_id = remote if remote.startswith("/") else "%s/virtualNetworks/%s" % (base, remote)
                self.peerings.add((vnet_id.lower(), remote_id.lower()))
                self.peerings.add((remote_id.lower(), vnet_id.lower()))
            self.bodies[vnet_id.lower()] = {
                "name": vnet["name"], "id": vnet_id, "type": VNET_TYPE, "location": group["location"], "tags": {},
                "properties": {"provisioningState": "Succeeded", "addressSpace": {"addressPrefixes": vnet["address_prefixes"]},
                               "subnets": subnets, "virtualNetworkPeerings": [], "enableDdosProtection": False}}
        for nsg in group.get("network_security_groups") or []:
            nsg_id = "%s/networkSecurityGroups/%s" % (base, nsg["name"])
            self.bodies[nsg_id.lower()] = {
                "name": nsg["name"], "id": nsg_id, "type": NSG_TYPE, "location": group["location"], "tags": {},
                "properties": {"provisioningState": "Succeeded", "securityRules": [_rule_body(nsg_id, r) for r in nsg["rules"]],
                               "defaultSecurityRules": [_default_rule_body(nsg_id, r) for r in _DEFAULT_RULES],
                               "subnets": nsg_subnets.get(nsg_id.lower(), []), "networkInterfaces": []}}
        for index, vm in enumerate(group["vms"]):
            net = vm.get("network") or {}
            sid = subnet_id(sub, name, net.get("subnet") or "default")
            nic_id = "%s/networkInterfaces/%s-nic" % (base, vm["name"])
            subnet_refs.setdefault(sid.lower(), []).append(nic_id + "/ipConfigurations/ipconfig1")
            public = net.get("public_ip")
            if public is True:
                public = default_public_ip("%s/publicIPAddresses/%s-ip" % (base, vm["name"]))
            self.vms[vm["name"].lower()] = {"subnet": sid, "public_ip": public or None, "location": vm["location"],
                                            "index": index}
        for account in group["storage_accounts"]:
            self.accounts.setdefault(account["name"], [None, [], None])
            self.accounts[account["name"]][0] = dict(account.get("network") or check_storage_network({}, "", None),
                                                     subnets=[subnet_id(sub, name, ref).lower() for ref in
                                                              (account.get("network") or {}).get("virtual_network_rules") or []])
            self.accounts[account["name"]][2] = account["location"]
        for endpoint in group.get("private_endpoints") or []:
            pe_id = "%s/privateEndpoints/%s" % (base, endpoint["name"])
            sid = subnet_id(sub, name, endpoint["subnet"])
            account_id = self.world.storage[endpoint["storage_account"]]["id"] \
                if endpoint["storage_account"] in self.world.storage else None
            self.bodies[pe_id.lower()] = _pe_body(pe_id, endpoint, sid, account_id, group["location"],
                                                  "%s.blob.%s" % (endpoint["storage_account"], self.world.storage_suffix))
            self.accounts.setdefault(endpoint["storage_account"], [None, [], None])[1].append(dict(endpoint, id=pe_id, subnet_id=sid))

    def _peer(self):
        """virtualNetworkPeerings on both sides of each peering whose networks exist (virtualNetwork.json,
        example VirtualNetworkPeeringGet.json)."""
        for local, remote in sorted(self.peerings):
            local_body, remote_body = self.bodies.get(local), self.bodies.get(remote)
            if local_body is None or remote_body is None:
                continue
            name = "%s-to-%s" % (local_body["name"], remote_body["name"])
            space = {"addressPrefixes": list(remote_body["properties"]["addressSpace"]["addressPrefixes"])}
            local_body["properties"]["virtualNetworkPeerings"].append({
                "name": name, "id": "%s/virtualNetworkPeerings/%s" % (local_body["id"], name),
                "type": VNET_TYPE + "/virtualNetworkPeerings",
                "properties": {"provisioningState": "Succeeded", "peeringState": "Connected",
                               "peeringSyncLevel": "FullyInSync", "allowVirtualNetworkAccess": True,
                               "allowForwardedTraffic": False, "allowGatewayTransit": False, "useRemoteGateways": False,
                               "remoteVirtualNetwork": {"id": remote_body["id"]}, "remoteAddressSpace": space,
                               "remoteVirtualNetworkAddressSpace": space}})

    # -------------------------------------------------------------------- storage account properties
    def storage_properties(self, account_name):
        """networkAcls, publicNetworkAccess, privateEndpointConnections of a storage account body."""
        network, endpoints, _location = self.accounts.get(account_name) or (None, [], None)
        network = network or check_storage_network({}, "", None)
        acls = {"bypass": network["bypass"], "resourceAccessRules": [], "defaultAction": network["default_action"],
                "virtualNetworkRules": [{"id": sid_of(self, s), "action": "Allow", "state": "Succeeded"}
                                        for s in network.get("subnets") or []],
                "ipRules": [{"value": v, "action": "Allow"} for v in network["ip_rules"]]}
        account = self.world.storage.get(account_name) or {}
        connections = []
        for endpoint in endpoints:
            name = "%s.%s" % (endpoint["name"], uuid.uuid5(uuid.NAMESPACE_URL, endpoint["id"].lower()))
            connections.append({
                "id": "%s/privateEndpointConnections/%s" % (account.get("id"), name), "name": name,
                "type": "Microsoft.Storage/storageAccounts/privateEndpointConnections",
                "properties": {"provisioningState": "Succeeded", "privateEndpoint": {"id": endpoint["id"]},
                               "privateLinkServiceConnectionState": {"status": endpoint["status"],
                                                                     "description": "Auto-Approved" if endpoint["status"] ==
                                                                     "Approved" else "", "actionRequired": "None"}}})
        return {"networkAcls": acls, "publicNetworkAccess": network["public_network_access"],
                "privateEndpointConnections": connections}

    # -------------------------------------------------------------------- what the firewall decides
    def storage_denial(self, vm_name, account_name):
        """None when Azure Storage's firewall lets blob requests from the VM through, else why not."""
        vm = self.vms.get(vm_name.lower())
        network, endpoints, location = self.accounts.get(account_name) or (None, [], None)
        if vm is None or network is None:
            return None
        vm_vnet = _vnet_of(vm["subnet"])
        reach = {vm_vnet} | {remote for local, remote in self.peerings if local == vm_vnet}
        private = any(e["status"] == "Approved" and e["group_id"] == "blob" and _vnet_of(e["subnet_id"]) in reach
                      for e in endpoints)
        if network["public_network_access"] == "Disabled":
            return None if private else "public network access is disabled"
        if network["default_action"] == "Allow" or private:
            return None
        subnet = self.bodies.get(vm["subnet"].lower()) or {"properties": {}}
        services = {e["service"] for e in subnet["properties"].get("serviceEndpoints") or []}
        if vm["subnet"].lower() in (network.get("subnets") or []) and \
                ("Microsoft.Storage.Global" in services or
                 ("Microsoft.Storage" in services and (location or "").lower() == vm["location"].lower())):
            return None
        if vm["public_ip"] and (location or "").lower() != vm["location"].lower() and any(
                ipaddress.ip_address(vm["public_ip"]) in ipaddress.ip_network(r, strict=False) for r in network["ip_rules"]):
            return None
        return "the firewall denies the VM's network"


def sid_of(model, lower_id):
    body = model.bodies.get(lower_id)
    return body["id"] if body else lower_id


def _rule_body(nsg_id, rule):
    props = {"provisioningState": "Succeeded", "protocol": rule["protocol"], "sourcePortRange": "*",
             "access": rule["access"], "priority": rule["priority"], "direction": rule["direction"],
             "sourcePortRanges": [], "destinationPortRanges": [], "sourceAddressPrefixes": [],
             "destinationAddressPrefixes": []}
    for key, value in (("destinationAddressPrefix", rule["destination"]), ("destinationPortRange", rule["ports"]),
                       ("sourceAddressPrefix", rule["source"])):
        if isinstance(value, list):
            props[key + "es" if key.endswith("Prefix") else key + "s"] = [str(v) for v in value]
        else:
            props[key] = str(value)
    return {"name": rule["name"], "id": "%s/securityRules/%s" % (nsg_id, rule["name"]),
            "type": NSG_TYPE + "/securityRules", "properties": props}


def _default_rule_body(nsg_id, rule):
    name, priority, direction, access, source, destination, description = rule
    return {"name": name, "id": "%s/defaultSecurityRules/%s" % (nsg_id, name), "type": NSG_TYPE + "/defaultSecurityRules",
            "properties": {"provisioningState": "Succeeded", "description": description, "protocol": "*",
                           "sourcePortRange": "*", "destinationPortRange": "*", "sourceAddressPrefix": source,
                           "destinationAddressPrefix": destination, "access": access, "priority": priority,
                           "direction": direction, "sourcePortRanges": [], "destinationPortRanges": [],
                           "sourceAddressPrefixes": [], "destinationAddressPrefixes": []}}


def _pe_body(pe_id, endpoint, sid, account_id, location, fqdn):
    state = {"status": endpoint["status"], "description": "Auto-Approved" if endpoint["status"] == "Approved" else "",
             "actionsRequired": "None"}
    return {"name": endpoint["name"], "id": pe_id, "type": PE_TYPE, "location": location, "tags": {},
            "properties": {"provisioningState": "Succeeded", "subnet": {"id": sid},
                           "networkInterfaces": [{"id": pe_id.replace("/privateEndpoints/", "/networkInterfaces/") + ".nic"}],
                           "privateLinkServiceConnections": [{
                               "name": endpoint["name"], "id": pe_id + "/privateLinkServiceConnections/" + endpoint["name"],
                               "type": PE_TYPE + "/privateLinkServiceConnections",
                               "properties": {"provisioningState": "Succeeded", "privateLinkServiceId": account_id,
                                              "groupIds": [endpoint["group_id"]],
                                              "privateLinkServiceConnectionState": state}}],
                           "manualPrivateLinkServiceConnections": [],
                           "customDnsConfigs": [{"fqdn": fqdn, "ipAddresses": [endpoint["private_ip"]]}]}}


# ---------------------------------------------------------------------------------------------
# routes

class NetworkSecurity:
    """The ARM handlers (ArmService registers them with `add_routes`)."""

    def __init__(self, arm):
        self.arm = arm
        self.world = arm.world

    def model(self):
        with self.world.lock:
            return model_of(self.world)

    def add_routes(self, router, sub, rg, prefix):
        for type_name, rtype, item in (("virtualNetworks", VNET_TYPE, "virtualNetworkName"),
                                       ("networkSecurityGroups", NSG_TYPE, "networkSecurityGroupName"),
                                       ("privateEndpoints", PE_TYPE, "privateEndpointName")):
            in_group = rg + r"/providers/Microsoft\.Network/" + type_name
            router.add("GET", in_group, self._lister(rtype), prefix + "Microsoft.Network/" + type_name)
            router.add("GET", sub + r"/providers/Microsoft\.Network/" + type_name, self._lister(rtype),
                       "/subscriptions/{subscriptionId}/providers/Microsoft.Network/" + type_name)
            router.add("GET", in_group + r"/(?P<name>[^/]+)", self._getter(rtype, type_name),
                       prefix + "Microsoft.Network/%s/{%s}" % (type_name, item))
        vnet = rg + r"/providers/Microsoft\.Network/virtualNetworks/(?P<vnet>[^/]+)/subnets"
        router.add("GET", vnet, self.list_subnets, prefix + "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets")
        router.add("GET", vnet + r"/(?P<name>[^/]+)", self.get_subnet,
                   prefix + "Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}")

    def _lister(self, rtype):
        def handler(request, sub, rg=None):
            scope = _rg_id(sub, rg) if rg else "/subscriptions/" + sub
            if rg:
                self.arm._rg(sub, rg)  # pylint: disable=protected-access
            self.arm._authorize(request, rtype + "/read", scope)  # pylint: disable=protected-access
            prefix = scope.lower() + "/"
            items = [b for b in self.model().bodies.values() if b["type"] == rtype and b["id"].lower().startswith(prefix)]
            return self.arm._page(request, items)  # pylint: disable=protected-access
        return handler

    def _getter(self, rtype, type_name):
        from .arm import not_found  # arm.py imports this module

        def handler(request, sub, rg, name):
            self.arm._rg(sub, rg)  # pylint: disable=protected-access
            body = self.model().bodies.get(("%s/providers/Microsoft.Network/%s/%s" % (_rg_id(sub, rg), type_name, name)).lower())
            if body is None:
                return not_found(rtype, name, rg)
            self.arm._authorize(request, rtype + "/read", body["id"])  # pylint: disable=protected-access
            return Response(200, body)
        return handler

    def _vnet(self, request, sub, rg, vnet):
        from .arm import not_found  # arm.py imports this module
        self.arm._rg(sub, rg)  # pylint: disable=protected-access
        model = self.model()
        body = model.bodies.get(("%s/providers/Microsoft.Network/virtualNetworks/%s" % (_rg_id(sub, rg), vnet)).lower())
        if body is None:
            return None, not_found(VNET_TYPE, vnet, rg)
        self.arm._authorize(request, VNET_TYPE + "/read", body["id"])  # pylint: disable=protected-access
        return body, None

    def list_subnets(self, request, sub, rg, vnet):
        body, missing = self._vnet(request, sub, rg, vnet)
        return missing or self.arm._page(request, body["properties"]["subnets"])  # pylint: disable=protected-access

    def get_subnet(self, request, sub, rg, vnet, name):
        from .arm import arm_error  # arm.py imports this module
        body, missing = self._vnet(request, sub, rg, vnet)
        if missing:
            return missing
        for subnet in body["properties"]["subnets"]:
            if subnet["name"].lower() == name.lower():
                return Response(200, subnet)
        return arm_error(404, "NotFound", "Resource %s/subnets/%s not found." % (body["id"], name))
