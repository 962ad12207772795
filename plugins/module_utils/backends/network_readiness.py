# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network prerequisites of backup to URL and Microsoft Entra authentication for one SQL VM (docs/network.md).

Three checks, each ``{"ready": True | False | None, "reason": str, "fix": str | None, ...facts}``; ``None`` means
"cannot tell" from what Azure Resource Manager shows (the report's ``unknown``):

* ``storage_network``: the storage account's firewall (Microsoft Learn "Configure Azure Storage firewalls and
  virtual networks") and public network access, against the VM's subnet, its public IP and the account's
  private endpoints;
* ``outbound_storage`` / ``outbound_entra``: the effective outbound decision of the VM's network security groups
  (NIC and subnet, "How network security groups filter network traffic") for TCP 443 to the ``Storage`` and
  ``AzureActiveDirectory`` service tags ("Virtual network service tags"; "Enable Microsoft Entra authentication
  for SQL Server on Azure VMs" asks for outbound access to Microsoft Entra ID).

The verdicts (``storage_network_check``, ``outbound_check``) are pure; ``network_checks`` reads what they need
through arm.py with a ``NetworkReadCache`` a fleet can share, so every NIC, virtual network, NSG, public IP,
storage account and private endpoint is read at most once.
"""
from __future__ import annotations

import ipaddress

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError

# The checks network_checks returns, in report order.
NETWORK_CHECKS = ("storage_network", "outbound_storage", "outbound_entra")
STORAGE_TAG = "Storage"
ENTRA_TAG = "AzureActiveDirectory"
HTTPS_PORT = 443

# The default rules every NSG holds ("Network security groups", default security rules); ARM returns them as
# defaultSecurityRules. Used when a body comes without them.
DEFAULT_OUTBOUND_RULES = (
    {"name": "AllowVnetOutBound", "properties": {
        "priority": 65000, "direction": "Outbound", "access": "Allow", "protocol": "*", "sourcePortRange": "*",
        "destinationPortRange": "*", "sourceAddressPrefix": "VirtualNetwork",
        "destinationAddressPrefix": "VirtualNetwork"}},
    {"name": "AllowInternetOutBound", "properties": {
        "priority": 65001, "direction": "Outbound", "access": "Allow", "protocol": "*", "sourcePortRange": "*",
        "destinationPortRange": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "Internet"}},
    {"name": "DenyAllOutBound", "properties": {
        "priority": 65500, "direction": "Outbound", "access": "Deny", "protocol": "*", "sourcePortRange": "*",
        "destinationPortRange": "*", "sourceAddressPrefix": "*", "destinationAddressPrefix": "*"}},
)

# Address space a public service endpoint never lies in (RFC 1918, RFC 6598 shared space, link-local).
_PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"))


def network_check(ready, reason, fix=None, **facts):
    """A check row: ready is True, False or None (cannot tell); fix says what to do when it is not True."""
    facts.update(ready=ready, reason=reason, fix=None if ready else fix)
    return facts


def _lower(value):
    return str(value or "").lower()


def _props(body):
    return (body or {}).get("properties") or {}


# ---------------------------------------------------------------------------------------------
# storage firewall

def _blob_private_endpoints(account, private_endpoints):
    """[(private endpoint id, its subnet id or None, status)] of the account's blob private endpoints."""
    out = []
    for connection in _props(account).get("privateEndpointConnections") or ():
        cprops = _props(connection)
        pe_id = ((cprops.get("privateEndpoint") or {}).get("id")) or ""
        status = (cprops.get("privateLinkServiceConnectionState") or {}).get("status") or "Unknown"
        endpoint = (private_endpoints or {}).get(_lower(pe_id))
        subnet = None
        groups = None
        if endpoint:
            eprops = _props(endpoint)
            subnet = (eprops.get("subnet") or {}).get("id")
            groups = set()
            for link in (eprops.get("privateLinkServiceConnections") or []) + \
                    (eprops.get("manualPrivateLinkServiceConnections") or []):
                groups.update(_lower(g) for g in _props(link).get("groupIds") or ())
        if groups is not None and "blob" not in groups:
            continue  # a private endpoint for another sub-resource (file, queue, dfs...) does not carry blob traffic
        out.append((pe_id, subnet, status))
    return out


def _private_endpoint_path(vm_net, account, private_endpoints):
    """(ready True/False/None, reason) for reaching the account through one of its private endpoints."""
    endpoints = _blob_private_endpoints(account, private_endpoints)
    if not endpoints:
        return False, "the account has no private endpoint"
    vm_vnet = _lower(arm.virtual_network_of(vm_net.get("subnet_id")))
    approved = [e for e in endpoints if e[2] == "Approved"]
    if not approved:
        return False, "its private endpoint connections are %s, none Approved" % ", ".join(sorted({e[2] for e in endpoints}))
    dns = ("the account's name must resolve to its private IP: a privatelink.blob DNS zone linked to the network; "
           "not checked")
    peered = {_lower(v) for v in vm_net.get("peered_networks") or ()}
    for pe_id, subnet, _status in approved:
        if subnet and _lower(arm.virtual_network_of(subnet)) == vm_vnet:
            return True, "through the approved blob private endpoint %s in the VM's virtual network (%s)" % (pe_id, dns)
    for pe_id, subnet, _status in approved:
        if subnet and _lower(arm.virtual_network_of(subnet)) in peered:
            return True, ("through the approved blob private endpoint %s in a virtual network peered with the VM's "
                          "(peering Connected, virtual network access allowed; %s)" % (pe_id, dns))
    unread = [e[0] for e in approved if e[1] is None]
    if unread:
        return None, "the approved private endpoint %s could not be read" % unread[0]
    return None, ("its approved blob private endpoint %s is in a virtual network the VM's is not peered with; "
                  "other routes to it (a hub's gateway or network virtual appliance, Virtual WAN) are not "
                  "read" % approved[0][0])


def _virtual_network_rule_path(vm_net, acls, account_location):
    subnet_id = _lower(vm_net.get("subnet_id"))
    for rule in acls.get("virtualNetworkRules") or ():
        if _lower(rule.get("id")) != subnet_id or (rule.get("action") or "Allow") != "Allow":
            continue
        state = rule.get("state") or "Succeeded"
        if state != "Succeeded":
            if state in ("Provisioning", "Deprovisioning"):
                return None, "the virtual network rule for the VM's subnet is %s" % state
            return False, "the virtual network rule for the VM's subnet is %s" % state
        if vm_net.get("subnet_read") is False:
            return None, "the VM's subnet is allowed, but the subnet (its service endpoints) could not be read"
        services = {_lower(e.get("service")) for e in vm_net.get("service_endpoints") or ()
                    if (e.get("provisioningState") or "Succeeded") == "Succeeded"}
        if "microsoft.storage.global" in services:
            return True, "the VM's subnet is allowed (virtual network rule, Microsoft.Storage.Global service endpoint)"
        if "microsoft.storage" in services:
            if account_location and vm_net.get("location") and _lower(account_location) != _lower(vm_net["location"]):
                return None, ("the VM's subnet is allowed, but its Microsoft.Storage service endpoint reaches accounts "
                              "in its own and the paired region only, and the account is in %s" % account_location)
            return True, "the VM's subnet is allowed (virtual network rule, Microsoft.Storage service endpoint)"
        return False, ("the VM's subnet has a virtual network rule but no Microsoft.Storage service endpoint, so its "
                       "traffic does not carry the subnet's identity")
    return False, "the VM's subnet is not in the account's virtual network rules"


def _ip_rule_path(vm_net, acls, account_location):
    rules = [r for r in acls.get("ipRules") or () if (r.get("action") or "Allow") == "Allow"]
    if not rules:
        return False, "no IP rule"
    same_region = bool(account_location) and _lower(account_location) == _lower(vm_net.get("location"))
    address = vm_net.get("public_ip")
    if address is None:
        if same_region:
            return False, "IP rules do not apply to requests from the account's own region"
        return None, "the VM has no public IP on its NIC; the address its outbound traffic uses is not known"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None, "the VM's public IP %r is not an address" % address
    for rule in rules:
        try:
            network = ipaddress.ip_network(str(rule.get("value")), strict=False)
        except ValueError:
            continue
        if ip in network:
            if same_region:
                return False, ("an IP rule (%s) lists the VM's public IP, but IP rules do not apply to requests "
                               "from the account's own region" % rule.get("value"))
            return True, "an IP rule (%s) allows the VM's public IP %s" % (rule.get("value"), address)
    return False, "no IP rule matches the VM's public IP %s" % address


def storage_network_check(vm_net, account, private_endpoints=None):
    """Can the VM reach the account's blob endpoint through its firewall?

    vm_net: {"subnet_id", "location", "service_endpoints" (the subnet's), "public_ip" (address or None)};
    account: the storage account body (networkAcls, publicNetworkAccess, privateEndpointConnections);
    private_endpoints: {lower private endpoint id: its body or None (not read)}."""
    if not account:
        return network_check(None, "the storage account could not be read", "check storage_scope and the read "
                             "permission (Microsoft.Storage/storageAccounts/read)")
    props = _props(account)
    acls = props.get("networkAcls") or {}
    public = props.get("publicNetworkAccess") or "Enabled"
    default = acls.get("defaultAction") or "Allow"
    location = account.get("location")
    facts = {"account": account.get("id"), "public_network_access": public, "default_action": default,
             "subnet_id": vm_net.get("subnet_id"), "bypass": acls.get("bypass")}
    pe_fix = ("create a private endpoint for the account's blob sub-resource in the VM's virtual network "
              "(az network private-endpoint create --group-id blob) with a privatelink.blob DNS zone linked to it")
    pe_ready, pe_reason = _private_endpoint_path(vm_net, account, private_endpoints)
    if public == "Disabled":
        if pe_ready:
            return network_check(True, "public network access is disabled; reachable " + pe_reason, path="private_endpoint", **facts)
        return network_check(pe_ready, "public network access is disabled and " + pe_reason, pe_fix, path=None, **facts)
    if public != "Enabled":
        return network_check(None, "public network access is %s (a network security perimeter decides); not "
                                   "evaluated" % public, "check the perimeter's access rules for the VM", path=None, **facts)
    if default == "Allow":
        return network_check(True, "the storage firewall allows all networks", path="public", **facts)
    if pe_ready:
        return network_check(True, "the storage firewall denies by default; reachable " + pe_reason, path="private_endpoint", **facts)
    paths = [("virtual_network_rule",) + _virtual_network_rule_path(vm_net, acls, location),
             ("ip_rule",) + _ip_rule_path(vm_net, acls, location)]
    for name, ready, reason in paths:
        if ready:
            return network_check(True, "the storage firewall denies by default; " + reason, path=name, **facts)
    reasons = [reason for _name, _ready, reason in paths] + [pe_reason]
    bypass = ""
    if "azureservices" in _lower(acls.get("bypass")):
        bypass = "; the AzureServices exception does not cover SQL Server on a VM (it is not a trusted service)"
    fix = ("add the VM's subnet %s to the account's virtual network rules with the Microsoft.Storage service "
           "endpoint on the subnet (az network vnet subnet update --service-endpoints Microsoft.Storage; az storage "
           "account network-rule add --subnet ...), or %s" % (vm_net.get("subnet_id"), pe_fix))
    unknown = [reason for _name, ready, reason in paths if ready is None] + ([pe_reason] if pe_ready is None else [])
    if unknown:
        return network_check(None, "the storage firewall denies by default and it cannot be told whether the VM "
                                   "gets through: " + "; ".join(unknown) + bypass, fix, path=None, **facts)
    return network_check(False, "the storage firewall denies the VM (backup to URL fails with 403): "
                         + "; ".join(reasons) + bypass, fix, path=None, **facts)


# ---------------------------------------------------------------------------------------------
# NSG outbound

def _listed(props, single, plural):
    values = list(props.get(plural) or ())
    if props.get(single) not in (None, ""):
        values.append(props[single])
    return values or ["*"]


def _port_matches(value, port):
    text = str(value).strip()
    if text in ("*", ""):
        return True
    low, _sep, high = text.partition("-")
    try:
        return int(low) <= port <= int(high or low)
    except ValueError:
        return False


def _address_match(prefix, destination):
    """True, False or None (cannot tell) for one destination prefix of a rule against `destination`:
    {"tags": set of lower service tags the destination belongs to, "not_tags": tags it surely is outside of,
    "address": IP string or None, "public": the destination is a public endpoint}."""
    text = str(prefix).strip()
    low = text.lower()
    if low in ("*", "any", "0.0.0.0/0"):
        return True
    if low in destination["tags"]:
        return True
    if low in destination["not_tags"]:
        return False
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        network = None
    if network is not None:
        if destination.get("address"):
            return ipaddress.ip_address(destination["address"]) in network
        if destination.get("public") and any(network.subnet_of(p) for p in _PRIVATE_NETWORKS if p.version == network.version):
            return False  # a public service is never inside private address space
        return None  # a CIDR against a service tag's ranges: the tag's IP ranges are not read
    if low == "virtualnetwork":
        # VirtualNetwork also holds the prefixes of user-defined routes (a 0.0.0.0/0 route makes it everything).
        return None if destination.get("public") else True
    if low == "azureloadbalancer" or low.startswith("storage") or low == "azureactivedirectory":
        return False
    return None  # another service tag: its ranges are not read


def _source_match(prefix, source):
    text = str(prefix).strip()
    low = text.lower()
    if low in ("*", "any", "virtualnetwork", "0.0.0.0/0"):
        return True
    try:
        return ipaddress.ip_address(source["address"]) in ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False if low == "azureloadbalancer" or low == "internet" else None
    except TypeError:
        return None


def _rule_match(props, source, destination, port):
    if _lower(props.get("direction")) != "outbound":
        return False
    if _lower(props.get("protocol")) not in ("tcp", "*", "any"):
        return False
    if not any(_port_matches(p, port) for p in _listed(props, "destinationPortRange", "destinationPortRanges")):
        return False
    verdicts = []
    if props.get("destinationApplicationSecurityGroups"):
        verdicts.append(None if not destination.get("public") else False)
    else:
        found = [_address_match(p, destination) for p in _listed(props, "destinationAddressPrefix", "destinationAddressPrefixes")]
        verdicts.append(True if True in found else (None if None in found else False))
    if props.get("sourceApplicationSecurityGroups"):
        mine = {_lower(g) for g in source.get("application_security_groups") or ()}
        verdicts.append(any(_lower(g.get("id")) in mine for g in props["sourceApplicationSecurityGroups"]))
    else:
        found = [_source_match(p, source) for p in _listed(props, "sourceAddressPrefix", "sourceAddressPrefixes")]
        verdicts.append(True if True in found else (None if None in found else False))
    if not all(str(p).strip() in ("*", "", "0-65535") for p in _listed(props, "sourcePortRange", "sourcePortRanges")):
        verdicts.append(None)  # the client's ephemeral source port is not known
    if False in verdicts:
        return False
    return None if None in verdicts else True


def nsg_decision(nsg, source, destination, port=HTTPS_PORT):
    """(access 'Allow' | 'Deny' | None, rule name or reason) of one NSG for outbound TCP `port` traffic."""
    props = _props(nsg)
    rules = list(props.get("securityRules") or ()) + list(props.get("defaultSecurityRules") or DEFAULT_OUTBOUND_RULES)
    rules.sort(key=lambda r: int(_props(r).get("priority") or 0))
    maybe = []
    for rule in rules:
        rprops = _props(rule)
        matched = _rule_match(rprops, source, destination, port)
        if matched is False:
            continue
        access = rprops.get("access") or "Deny"
        if matched is None:
            maybe.append((rule.get("name"), access))
            continue
        differing = [name for name, other in maybe if other != access]
        if differing:
            return None, ("rule %s may match first (%s), it cannot be told from the rule and the service tag's "
                          "ranges" % (differing[0], ", then ".join("%s %s" % (n, a) for n, a in maybe)))
        return access, rule.get("name")
    return "Deny", "no rule matched"


def outbound_check(nsgs, source, destination, what):
    """The effective decision of the NIC's and the subnet's NSG for outbound TCP 443 to `destination`.

    nsgs: [("network interface" | "subnet", nsg id, body or None when unread)], only those associated;
    source: {"address": the VM's private IP, "application_security_groups": [ids]}; what: 'Storage' etc."""
    facts = {"destination": what, "port": HTTPS_PORT, "nsgs": [nsg_id for _level, nsg_id, _body in nsgs if nsg_id]}
    if not nsgs:
        return network_check(True, "no network security group on the VM's NIC or subnet: outbound TCP 443 to %s "
                                   "is allowed" % what, **facts)
    fix = ("add an outbound rule allowing TCP 443 to the %s service tag with a priority number lower than the "
           "denying rule, on every NSG listed (az network nsg rule create --direction Outbound --access Allow "
           "--protocol Tcp --destination-port-ranges 443 --destination-address-prefixes %s)" % (what, what))
    allowed = []
    unknown = None
    for level, nsg_id, body in nsgs:
        if body is None:
            unknown = unknown or ("the %s's NSG %s could not be read" % (level, nsg_id) if nsg_id else
                                  "the VM's %s could not be read, so its NSG is not known" % level)
            continue
        access, why = nsg_decision(body, source, destination)
        name = arm.parse_resource_id(nsg_id).name
        if access == "Deny":
            return network_check(False, "the %s's NSG %s denies outbound TCP 443 to %s (rule %s)"
                                 % (level, name, what, why), fix, denied_by=nsg_id, rule=why, **facts)
        if access is None:
            unknown = unknown or "the %s's NSG %s: %s" % (level, name, why)
        else:
            allowed.append("%s's NSG %s (rule %s)" % (level, name, why))
    if unknown:
        return network_check(None, "cannot tell whether outbound TCP 443 to %s is allowed: %s" % (what, unknown),
                             fix, **facts)
    return network_check(True, "outbound TCP 443 to %s is allowed by the %s" % (what, " and the ".join(allowed)), **facts)


def storage_destination(account, path, endpoint_address=None):
    """The destination of blob traffic: the account's public endpoint (Storage tags) or a private endpoint's IP."""
    if path == "private_endpoint":
        return {"tags": {"virtualnetwork"}, "not_tags": {"internet"}, "address": endpoint_address, "public": False}
    region = _lower((account or {}).get("location"))
    tags = {"storage", "internet"} | ({"storage." + region} if region else set())
    return {"tags": tags, "not_tags": {"azureactivedirectory"}, "address": None, "public": True}


def entra_destination():
    """Microsoft Entra ID's sign-in endpoints: the AzureActiveDirectory service tag, on the internet."""
    return {"tags": {"azureactivedirectory", "internet"}, "not_tags": set(), "address": None, "public": True}


# ---------------------------------------------------------------------------------------------
# reads

class NetworkReadCache:
    """ARM bodies by lower-case resource id, read once and shared (a fleet passes one cache to every VM).

    ``prime(bodies)`` stores bodies a fleet reader listed in bulk (e.g. every network interface, virtual network
    and NSG of a subscription), so ``network_checks`` then reads nothing for them. A missing resource is stored
    as None (not read again)."""

    def __init__(self):
        self.bodies = {}
        self.errors = {}
        self.reads = 0

    def prime(self, bodies):
        for body in bodies or ():
            if isinstance(body, dict) and body.get("id"):
                self.bodies[_lower(body["id"])] = body

    def get(self, session, resource_id, resource_type):
        key = _lower(resource_id)
        if key not in self.bodies:
            self.reads += 1
            try:
                self.bodies[key] = arm.arm_get(session, arm.normalize_scope(resource_id), arm.api_version(resource_type))
            except AzureApiError as err:  # e.g. 403: the readiness report says "cannot tell" instead of failing
                self.bodies[key] = None
                self.errors[key] = "HTTP %s %s" % (err.status or "-", err.code or "")
        return self.bodies[key]

    def why_missing(self, resource_id):
        """Why get() gave None for `resource_id`: the error it met, or that the resource does not exist."""
        error = self.errors.get(_lower(resource_id))
        return "could not be read (%s)" % error.strip() if error else "does not exist"


def prime_subscription(session, cache, subscription_id):
    """Fill `cache` with every network interface, public IP, virtual network and NSG of a subscription
    (four listings, each paged), for a fleet: then each VM's network reads cost nothing."""
    for resource_type in ("Microsoft.Network/networkInterfaces", "Microsoft.Network/publicIPAddresses",
                          "Microsoft.Network/virtualNetworks", "Microsoft.Network/networkSecurityGroups"):
        path = arm.collection_path(arm.resource_id(subscription_id), resource_type)
        cache.prime(arm.list_all(session, path, arm.api_version(resource_type), operation="list", resource=path))


def connected_peerings(vnet):
    """Ids of the virtual networks a virtual network reaches through a direct peering: peeringState Connected
    and allowVirtualNetworkAccess not false ("Virtual network peering"; virtualNetwork.json)."""
    out = []
    for peering in _props(vnet).get("virtualNetworkPeerings") or ():
        props = _props(peering)
        remote = (props.get("remoteVirtualNetwork") or {}).get("id")
        if remote and props.get("peeringState") == "Connected" and props.get("allowVirtualNetworkAccess", True) is not False:
            out.append(remote)
    return out


def _primary(items):
    items = [i for i in items or () if isinstance(i, dict)]
    for item in items:
        if item.get("primary") or _props(item).get("primary"):
            return item
    return items[0] if items else None


def read_vm_network(session, vm, cache):
    """{"nic_id", "subnet_id", "location", "private_ip", "public_ip", "service_endpoints",
    "application_security_groups", "nsgs": [(level, id, body)]} of the VM's primary NIC, or None (no NIC)."""
    nic_ref = _primary(_props(vm).get("networkProfile", {}).get("networkInterfaces"))
    if not nic_ref or not nic_ref.get("id"):
        return None
    nic = cache.get(session, nic_ref["id"], "Microsoft.Network/networkInterfaces")
    if nic is None:
        return None
    ip_config = _props(_primary(_props(nic).get("ipConfigurations")))
    subnet_id = (ip_config.get("subnet") or {}).get("id")
    public_ip = None
    if (ip_config.get("publicIPAddress") or {}).get("id"):
        public_body = cache.get(session, ip_config["publicIPAddress"]["id"], "Microsoft.Network/publicIPAddresses")
        public_ip = _props(public_body).get("ipAddress")
    subnet = None
    vnet_id = arm.virtual_network_of(subnet_id)
    vnet = None
    if vnet_id:
        vnet = cache.get(session, vnet_id, "Microsoft.Network/virtualNetworks")
        for item in _props(vnet).get("subnets") or ():
            if _lower(item.get("id")) == _lower(subnet_id):
                subnet = _props(item)
    nsgs = []
    for level, ref in (("network interface", _props(nic).get("networkSecurityGroup")),
                       ("subnet", (subnet or {}).get("networkSecurityGroup"))):
        if ref and ref.get("id"):
            nsgs.append((level, ref["id"], cache.get(session, ref["id"], "Microsoft.Network/networkSecurityGroups")))
    if subnet is None:
        nsgs.append(("subnet", None, None))
    return {"nic_id": nic.get("id"), "subnet_id": subnet_id, "location": vm.get("location") or nic.get("location"),
            "private_ip": ip_config.get("privateIPAddress"), "public_ip": public_ip,
            "service_endpoints": (subnet or {}).get("serviceEndpoints") or [], "subnet_read": subnet is not None,
            "peered_networks": connected_peerings(vnet),
            "application_security_groups": [g.get("id") for g in ip_config.get("applicationSecurityGroups") or ()],
            "nsgs": nsgs}


def _read_private_endpoints(session, account, cache):
    out = {}
    for connection in _props(account).get("privateEndpointConnections") or ():
        cprops = _props(connection)
        pe_id = (cprops.get("privateEndpoint") or {}).get("id")
        if pe_id and (cprops.get("privateLinkServiceConnectionState") or {}).get("status") == "Approved":
            out[_lower(pe_id)] = cache.get(session, pe_id, "Microsoft.Network/privateEndpoints")
    return out


def _endpoint_address(private_endpoints, networks):
    for body in private_endpoints.values():
        props = _props(body)
        if _lower(arm.virtual_network_of((props.get("subnet") or {}).get("id"))) not in networks:
            continue
        for config in props.get("customDnsConfigs") or ():
            for address in config.get("ipAddresses") or ():
                return address
    return None


def network_checks(session, vm, storage_scope=None, cache=None):
    """{"storage_network", "outbound_storage", "outbound_entra"} checks of one VM (its ARM body, as GET returns it).

    storage_scope: a storage account id or one of its containers (None: no storage_network check, and the
    outbound check to Storage uses the VM's region). cache: a NetworkReadCache shared across VMs (optional)."""
    cache = cache if cache is not None else NetworkReadCache()
    checks = {}
    net = read_vm_network(session, vm, cache)
    if net is None:
        nic_ref = _primary(_props(vm).get("networkProfile", {}).get("networkInterfaces")) or {}
        nic_id = nic_ref.get("id")
        reason = "the VM's network interface %s %s" % (nic_id or "(none in its networkProfile)", cache.why_missing(nic_id))
        fix = ("give the automation principal read access to the VM's network resources (Reader on their resource "
               "groups: Microsoft.Network/networkInterfaces/read, virtualNetworks/read, networkSecurityGroups/read)")
        for name in NETWORK_CHECKS if storage_scope else NETWORK_CHECKS[1:]:
            checks[name] = network_check(None, reason, fix)
        return checks
    source = {"address": net["private_ip"], "application_security_groups": net["application_security_groups"]}
    account = {"location": vm.get("location")}
    path = "public"
    address = None
    if storage_scope:
        account_id = arm.storage_account_of(storage_scope)
        account = cache.get(session, account_id, "Microsoft.Storage/storageAccounts") if account_id else None
        endpoints = _read_private_endpoints(session, account, cache) if account else {}
        checks["storage_network"] = storage_network_check(net, account, endpoints)
        if account is None:
            checks["storage_network"]["reason"] = "the storage account %s %s" % (account_id or storage_scope,
                                                                                 cache.why_missing(account_id))
        path = checks["storage_network"].get("path") or "public"
        networks = {_lower(arm.virtual_network_of(net["subnet_id"]))} | {_lower(v) for v in net["peered_networks"]}
        address = _endpoint_address(endpoints, networks)
    checks["outbound_storage"] = outbound_check(net["nsgs"], source, storage_destination(account, path, address),
                                                STORAGE_TAG)
    checks["outbound_entra"] = outbound_check(net["nsgs"], source, entra_destination(), ENTRA_TAG)
    return checks
