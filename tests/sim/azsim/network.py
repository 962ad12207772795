"""Microsoft.Network networkInterfaces and publicIPAddresses, read-only, as the REST specification describes them:
specification/network/resource-manager/Microsoft.Network/stable/2024-05-01/networkInterface.json and
publicIpAddress.json (examples NetworkInterfaceListAll.json, NetworkInterfaceGet.json, PublicIpAddressListAll.json).

Every VM of the scenario has one network interface, `{vm}-nic`, in the VM's resource group - the one its
networkProfile references (arm.py `_vm_body`) - with one IP configuration `ipconfig1` (primary) on the subnet
`default` of the virtual network `{resource group}-vnet`. Scenario keys of a VM (scenario.py `_vm`):
`private_ip` (default: 10.0.<n>.<m>, from the VM's place in its resource group, starting at .4 as Azure does -
the first four addresses of a subnet are reserved), `subnet` (a subnet id, or a subnet name in the group's
virtual network) and `public_ip` (false; true = a Standard static public IP `{vm}-ip`; or the address itself).

Routes (ArmService registers them with `add_routes`): list per subscription, list per resource group, GET one
(404 ResourceNotFound as the other providers), for both types; each needs `<type>/read` at its scope.
Paging is the ARM router's (`arm_page_size`, nextLink with $skipToken).
"""
import hashlib
import ipaddress

from .httpd import Response

# Stable api-versions of Microsoft.Network in azure-rest-api-specs (specification/network/resource-manager/
# Microsoft.Network/stable/*), the recent ones.
API_VERSIONS = {"2022-07-01", "2022-09-01", "2022-11-01", "2023-02-01", "2023-04-01", "2023-05-01", "2023-06-01",
                "2023-09-01", "2023-11-01", "2024-01-01", "2024-03-01", "2024-05-01", "2024-07-01", "2024-10-01",
                "2025-01-01", "2025-03-01"}

NIC_TYPE = "Microsoft.Network/networkInterfaces"
PUBLIC_IP_TYPE = "Microsoft.Network/publicIPAddresses"


def default_private_ip(index):
    """The n-th address Azure hands out in 10.0.0.0/16: .0-.3 of a subnet are reserved, so the first is 10.0.0.4."""
    host = index + 4
    return "10.0.%d.%d" % (host // 256, host % 256)


def default_public_ip(resource_id):
    """A stable address in 20.0.0.0/8 (a range Azure public IPs come from) for a public IP resource id."""
    digest = hashlib.sha256(resource_id.lower().encode("utf-8")).digest()
    return "20.%d.%d.%d" % (digest[0], digest[1], max(1, digest[2] % 255))


def check_vm_network(vm, where, fail):
    """Scenario keys of one VM -> {private_ip, subnet, public_ip} (None when not given); `fail(where, message)`."""
    out = {"private_ip": None, "subnet": vm.get("subnet"), "public_ip": vm.get("public_ip", False)}
    if vm.get("private_ip") is not None:
        try:
            out["private_ip"] = str(ipaddress.IPv4Address(str(vm["private_ip"])))
        except ValueError:
            fail(where + ".private_ip", "%r is not an IPv4 address" % (vm["private_ip"],))
    public = out["public_ip"]
    if public not in (True, False, None):
        try:
            out["public_ip"] = str(ipaddress.IPv4Address(str(public)))
        except ValueError:
            fail(where + ".public_ip", "must be true, false or an IPv4 address, not %r" % (public,))
    if out["subnet"] is not None and not isinstance(out["subnet"], str):
        fail(where + ".subnet", "must be a subnet name or a subnet resource id")
    return out


class Network:
    """The network resources of the world's VMs, derived from the scenario (they are read-only)."""

    def __init__(self, arm):
        self.arm = arm
        self.world = arm.world
        self._built = (None, None)

    def add_routes(self, router, sub, rg, prefix):
        for type_name, rtype, item_name in (("networkInterfaces", NIC_TYPE, "networkInterfaceName"),
                                            ("publicIPAddresses", PUBLIC_IP_TYPE, "publicIpAddressName")):
            in_group = rg + r"/providers/Microsoft\.Network/" + type_name
            router.add("GET", in_group, self._lister(rtype), prefix + "Microsoft.Network/" + type_name)
            router.add("GET", sub + r"/providers/Microsoft\.Network/" + type_name, self._lister(rtype),
                       "/subscriptions/{subscriptionId}/providers/Microsoft.Network/" + type_name)
            router.add("GET", in_group + r"/(?P<name>[^/]+)", self._getter(rtype),
                       prefix + "Microsoft.Network/%s/{%s}" % (type_name, item_name))

    # ------------------------------------------------------------------ the model
    def _resources(self):
        """{lower id: body} of every network interface and public IP, in scenario order. Built once per loaded
        scenario and set of VMs (they are read-only; a reset loads the same scenario again)."""
        w = self.world
        key = (id(w.scenario), tuple(w.vms))
        if self._built[0] != key:
            self._built = (key, self._build())
        return self._built[1]

    def _build(self):
        w = self.world
        out = {}
        for sub in w.scenario["subscriptions"]:
            for group in sub["resource_groups"]:
                for index, vm in enumerate(group["vms"]):
                    if w.vms.get(_vm_id(sub["id"], group["name"], vm["name"]).lower()) is None:
                        continue
                    nic, public_ip = self._bodies(sub["id"], group["name"], index, vm)
                    out[nic["id"].lower()] = nic
                    if public_ip is not None:
                        out[public_ip["id"].lower()] = public_ip
        return out

    def _bodies(self, sub, group, index, vm):
        w = self.world
        net = vm.get("network") or {}
        base = rg_id(sub, group) + "/providers/Microsoft.Network"
        nic_id = "%s/networkInterfaces/%s-nic" % (base, vm["name"])
        subnet = net.get("subnet") or "default"
        if not subnet.startswith("/"):
            subnet = "%s/virtualNetworks/%s-vnet/subnets/%s" % (base, group, subnet)
        ip_config = {"provisioningState": "Succeeded", "privateIPAddress": net.get("private_ip") or default_private_ip(index),
                     "privateIPAllocationMethod": "Static" if net.get("private_ip") else "Dynamic",
                     "subnet": {"id": subnet}, "primary": True, "privateIPAddressVersion": "IPv4"}
        public_body = None
        if net.get("public_ip"):
            public_id = "%s/publicIPAddresses/%s-ip" % (base, vm["name"])
            address = net["public_ip"] if isinstance(net["public_ip"], str) else default_public_ip(public_id)
            ip_config["publicIPAddress"] = {"id": public_id}
            public_body = {
                "name": vm["name"] + "-ip", "id": public_id, "type": PUBLIC_IP_TYPE, "location": vm["location"],
                "sku": {"name": "Standard", "tier": "Regional"},
                "properties": {"provisioningState": "Succeeded", "ipAddress": address,
                               "publicIPAddressVersion": "IPv4", "publicIPAllocationMethod": "Static",
                               "idleTimeoutInMinutes": 4, "ipTags": [],
                               "ipConfiguration": {"id": nic_id + "/ipConfigurations/ipconfig1"}}}
        mac = hashlib.sha256(nic_id.lower().encode("utf-8")).hexdigest()[:6].upper()
        nic = {
            "name": vm["name"] + "-nic", "id": nic_id, "type": NIC_TYPE, "location": vm["location"], "tags": {},
            "properties": {
                "provisioningState": "Succeeded",
                "ipConfigurations": [{"name": "ipconfig1", "id": nic_id + "/ipConfigurations/ipconfig1",
                                      "type": NIC_TYPE + "/ipConfigurations", "properties": ip_config}],
                "dnsSettings": {"dnsServers": [], "appliedDnsServers": [],
                                "internalDomainNameSuffix": "%s.ax.internal.cloudapp.net" % w.tenant_id[:8]},
                "macAddress": "00-0D-3A-%s-%s-%s" % (mac[0:2], mac[2:4], mac[4:6]),
                "enableAcceleratedNetworking": True, "enableIPForwarding": False, "disableTcpStateTracking": False,
                "vnetEncryptionSupported": False, "primary": True, "nicType": "Standard",
                "virtualMachine": {"id": _vm_id(sub, group, vm["name"])},
            },
        }
        return nic, public_body

    # ------------------------------------------------------------------ handlers
    def _lister(self, rtype):
        def handler(request, sub, rg=None):
            scope = rg_id(sub, rg) if rg else "/subscriptions/" + sub
            if rg:
                self.arm._rg(sub, rg)  # pylint: disable=protected-access
            self.arm._authorize(request, rtype + "/read", scope)  # pylint: disable=protected-access
            with self.world.lock:
                items = [body for body in self._resources().values()
                         if body["type"] == rtype and scope_covers(scope, body["id"])]
            return self.arm._page(request, items)  # pylint: disable=protected-access
        return handler

    def _getter(self, rtype):
        from .arm import not_found  # arm.py imports this module

        def handler(request, sub, rg, name):
            self.arm._rg(sub, rg)  # pylint: disable=protected-access
            rid = "%s/providers/%s/%s" % (rg_id(sub, rg), rtype, name)
            with self.world.lock:
                body = self._resources().get(rid.lower())
            if body is None:
                return not_found(rtype, name, rg)
            self.arm._authorize(request, rtype + "/read", body["id"])  # pylint: disable=protected-access
            return Response(200, body)
        return handler


def rg_id(sub, group):
    return "/subscriptions/%s/resourceGroups/%s" % (sub, group)


def scope_covers(scope, target):
    # world.py's rule; not imported from there because world.py -> scenario.py -> this module.
    scope, target = scope.lower().rstrip("/"), target.lower().rstrip("/")
    return target == scope or target.startswith(scope + "/")


def _vm_id(sub, group, name):
    return "%s/providers/Microsoft.Compute/virtualMachines/%s" % (rg_id(sub, group), name)
