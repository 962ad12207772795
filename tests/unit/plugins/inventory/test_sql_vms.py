"""The pure parts of the inventory plugin sqlvm.backup.sql_vms: settings, filters, host names and variables,
and which lists read_azure asks for (arm.list_all replaced by a recorder)."""
import threading
import types

import pytest

from ansible_collections.sqlvm.backup.plugins.inventory import sql_vms
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import arm

SUB = "11111111-1111-4111-8111-111111111111"
SUB2 = "22222222-2222-4222-8222-222222222222"


def rid(group, kind, name, sub=SUB):
    return "/subscriptions/%s/resourceGroups/%s/providers/%s/%s" % (sub, group, kind, name)


def vm(name, group="rg-a", sub=SUB, nics=None, identity=None, tags=None, os_type="Windows"):
    body = {"id": rid(group, "Microsoft.Compute/virtualMachines", name, sub), "name": name, "location": "westeurope",
            "tags": tags or {},
            "properties": {"vmId": "vm-id-" + name, "hardwareProfile": {"vmSize": "Standard_E4ds_v5"},
                           "osProfile": {"computerName": name[:15]},
                           "storageProfile": {"osDisk": {"osType": os_type},
                                              "imageReference": {"publisher": "MicrosoftSQLServer", "offer": "sql2022-ws2022",
                                                                 "sku": "enterprise-gen2", "version": "latest"}},
                           "networkProfile": {"networkInterfaces": nics if nics is not None else [
                               {"id": rid(group, "Microsoft.Network/networkInterfaces", name + "-nic", sub)}]}}}
    if identity:
        body["identity"] = identity
    return body


def nic(name, group="rg-a", address="10.0.0.4", public=None, configs=None):
    config = {"privateIPAddress": address, "primary": True,
              "subnet": {"id": rid(group, "Microsoft.Network/virtualNetworks", "vnet/subnets/default")}}
    if public:
        config["publicIPAddress"] = {"id": rid(group, "Microsoft.Network/publicIPAddresses", public)}
    return {"id": rid(group, "Microsoft.Network/networkInterfaces", name),
            "properties": {"ipConfigurations": configs or [{"name": "ipconfig1", "properties": config}]}}


def sql_vm(name, group="rg-a", sub=SUB, vm_name=None, tags=None):
    return {"id": rid(group, "Microsoft.SqlVirtualMachine/sqlVirtualMachines", name, sub), "name": name,
            "location": "westeurope", "tags": tags or {},
            "properties": {"virtualMachineResourceId": rid(group, "Microsoft.Compute/virtualMachines", vm_name or name, sub),
                           "sqlImageOffer": "SQL2022-WS2022", "sqlImageSku": "Enterprise",
                           "sqlServerLicenseType": "PAYG", "sqlManagement": "Full", "provisioningState": "Succeeded"}}


def settings(**values):
    base = {"subscriptions": None, "resource_groups": [], "include_tags": {}, "exclude_tags": {},
            "hostnames": "vm_name", "sql_host_source": "private_ip", "sql_vm_details": False, "concurrency": 8}
    base.update(values)
    return sql_vms.check_settings(base)


# ------------------------------------------------------------------------------------------ settings

def test_settings_are_normalised():
    checked = settings(subscriptions=["ALL"], include_tags={"env": "prod", "team": ["a", "b"], "any": None})
    assert checked["subscriptions"] == "all"
    assert checked["include_tags"] == {"env": ("prod",), "team": ("a", "b"), "any": None}
    assert settings(subscriptions=[SUB.upper()])["subscriptions"] == [SUB.upper()]
    assert settings()["subscriptions"] is None


@pytest.mark.parametrize("values, words", [
    ({"subscriptions": ["prod"]}, "'prod' is not a subscription id"),
    ({"subscriptions": ["all", SUB]}, "cannot be combined"),
    ({"resource_groups": ["rg\nx"]}, "resource_groups"),
    ({"include_tags": ["env"]}, "include_tags must be a mapping"),
    ({"exclude_tags": {"env": {"a": 1}}}, "exclude_tags.env"),
    ({"hostnames": "fqdn"}, "hostnames must be one of"),
    ({"sql_host_source": "dns"}, "sql_host_source must be one of"),
    ({"concurrency": 0}, "concurrency=0"),
    ({"concurrency": True}, "concurrency=True"),
])
def test_bad_settings_say_what_to_write(values, words):
    with pytest.raises(sql_vms.InventoryConfigError, match=words.replace("(", r"\(")):
        settings(**values)


# ------------------------------------------------------------------------------------------ filters

@pytest.mark.parametrize("tags, include, exclude, kept", [
    ({"env": "prod"}, {"env": ("prod",)}, {}, True),
    ({"Env": "prod"}, {"ENV": ("prod",)}, {}, True),          # names without case
    ({"env": "Prod"}, {"env": ("prod",)}, {}, False),         # values with case
    ({"env": "qa"}, {"env": ("prod", "qa")}, {}, True),
    ({"env": "x"}, {"env": None}, {}, True),
    ({}, {"env": None}, {}, False),
    ({"env": "prod"}, {"env": ("prod",), "team": None}, {}, False),
    ({"env": "prod", "backup": "skip"}, {"env": None}, {"backup": None}, False),
    ({"env": "prod", "backup": "on"}, {}, {"backup": ("skip",)}, True),
])
def test_tag_filters(tags, include, exclude, kept):
    assert sql_vms.tags_selected(tags, include, exclude) is kept


def test_sql_vm_tags_win_over_the_vms():
    assert sql_vms.merged_tags({"tags": {"env": "sql"}}, {"tags": {"env": "vm", "team": "dba"}}) == \
        {"env": "sql", "team": "dba"}


# ------------------------------------------------------------------------------------------ network

def test_primary_nic_and_ip_configuration():
    first, second = nic("a-nic1", address="10.0.0.9"), nic("a-nic2", configs=[
        {"name": "secondary", "properties": {"privateIPAddress": "10.0.1.9", "primary": False}},
        {"name": "main", "properties": {"privateIPAddress": "10.0.1.4", "primary": True}}])
    machine = vm("a", nics=[{"id": first["id"]}, {"id": second["id"].upper(), "properties": {"primary": True}}])
    found, config = sql_vms.primary_ip_configuration(machine, sql_vms.by_id([first, second]))
    assert found is second and config["name"] == "main"
    assert sql_vms.primary_ip_configuration(vm("b", nics=[]), {}) == (None, None)
    assert sql_vms.primary_ip_configuration(vm("c"), {}) == (None, None)  # its NIC not listed


# ------------------------------------------------------------------------------------------ variables

def test_identity_and_entra_facts():
    uami = rid("rg-id", "Microsoft.ManagedIdentity/userAssignedIdentities", "uami-b")
    facts = sql_vms.identity_facts(vm("a", identity={
        "type": "SystemAssigned, UserAssigned", "principalId": "p-system", "tenantId": "t",
        "userAssignedIdentities": {uami: {"principalId": "p-user", "clientId": "C-USER"}}}))
    assert facts == {"sqlvm_identity_type": "SystemAssigned, UserAssigned",
                     "sqlvm_system_assigned_principal_id": "p-system", "sqlvm_identity_tenant_id": "t",
                     "sqlvm_user_assigned_identities": [{"resource_id": uami, "name": "uami-b",
                                                         "principal_id": "p-user", "client_id": "C-USER"}]}
    assert sql_vms.identity_facts(vm("b"))["sqlvm_identity_type"] == "None"

    def details(entra):
        settings_ = {"sqlConnectivityUpdateSettings": {"port": 1433}}
        if entra is not None:
            settings_["azureAdAuthenticationSettings"] = entra
        return {"properties": {"serverConfigurationsManagementSettings": settings_}}
    assert sql_vms.entra_facts(details(None), facts) == {"sqlvm_entra_auth_enabled": False,
                                                         "sqlvm_entra_primary_identity": None}
    assert sql_vms.entra_facts(details({"clientId": ""}), facts)["sqlvm_entra_primary_identity"] == {
        "kind": "system", "client_id": None, "principal_id": "p-system", "resource_id": None}
    assert sql_vms.entra_facts(details({"clientId": "c-user"}), facts)["sqlvm_entra_primary_identity"] == {
        "kind": "user", "client_id": "c-user", "principal_id": "p-user", "resource_id": uami}
    assert sql_vms.entra_facts(details({"clientId": "other"}), facts)["sqlvm_entra_primary_identity"]["principal_id"] is None


def test_host_variables_and_sql_host_sources():
    machine = vm("sql1", tags={"env": "prod"})
    nics = sql_vms.by_id([nic("sql1-nic", address="10.0.0.7", public="sql1-ip")])
    publics = sql_vms.by_id([{"id": rid("rg-a", "Microsoft.Network/publicIPAddresses", "sql1-ip"),
                              "properties": {"ipAddress": "20.1.2.3"}}])
    resource = sql_vm("sql1-registered", vm_name="sql1")
    private = sql_vms.host_variables(resource, machine, nics, publics, "private_ip")
    assert {k: private[k] for k in ("subscription_id", "resource_group", "vm_name", "sql_vm_name", "os_type",
                                    "sql_host")} == {
        "subscription_id": SUB, "resource_group": "rg-a", "vm_name": "sql1", "sql_vm_name": "sql1-registered",
        "os_type": "Windows", "sql_host": "10.0.0.7"}
    assert private["sqlvm_tags"] == {"env": "prod"} and private["sqlvm_vm_size"] == "Standard_E4ds_v5"
    assert private["sqlvm_image"]["offer"] == "sql2022-ws2022" and "sqlvm_public_ip" not in private
    assert "sqlvm_power_state" not in private and "sqlvm_entra_auth_enabled" not in private
    # Every variable that is not a role input carries the sqlvm_ prefix.
    assert {k for k in private if not k.startswith("sqlvm_")} == {
        "subscription_id", "resource_group", "vm_name", "sql_vm_name", "os_type", "sql_host"}
    public = sql_vms.host_variables(resource, machine, nics, publics, "public_ip")
    assert public["sql_host"] == public["sqlvm_public_ip"] == "20.1.2.3"
    assert "sql_host" not in sql_vms.host_variables(resource, machine, nics, publics, "none")
    # A SQL VM whose VM is not in the list: what the SQL VM resource says, no guesses.
    alone = sql_vms.host_variables(resource, None, {}, {}, "private_ip")
    assert alone["vm_name"] == "sql1" and "os_type" not in alone and "sql_host" not in alone


def test_power_state_only_when_listed():
    machine = vm("a")
    assert sql_vms.power_state(machine) is None
    machine["properties"]["instanceView"] = {"statuses": [{"code": "ProvisioningState/succeeded"},
                                                          {"code": "PowerState/deallocated"}]}
    assert sql_vms.power_state(machine) == "deallocated"


# ------------------------------------------------------------------------------------------ hosts

def data_of_two_groups():
    return {"sql_vms": [sql_vm("sql2", "rg-b"), sql_vm("sql1", "rg-a", tags={"env": "prod"})],
            "vms": [vm("sql1", "rg-a"), vm("sql2", "rg-b", tags={"env": "qa"})],
            "nics": [nic("sql1-nic", "rg-a"), nic("sql2-nic", "rg-b", address="10.0.0.5")], "public_ips": []}


def test_build_hosts_filters_and_names():
    hosts = sql_vms.build_hosts(data_of_two_groups(), settings())
    assert [name for name, _variables in hosts] == ["sql1", "sql2"]
    assert [name for name, _variables in sql_vms.build_hosts(data_of_two_groups(), settings(resource_groups=["RG-B"]))] == ["sql2"]
    assert [name for name, _variables in sql_vms.build_hosts(data_of_two_groups(),
                                                    settings(include_tags={"env": "prod"}))] == ["sql1"]
    by_id = sql_vms.build_hosts(data_of_two_groups(), settings(hostnames="resource_id"))
    assert by_id[0][0] == rid("rg-a", "Microsoft.SqlVirtualMachine/sqlVirtualMachines", "sql1")


def test_two_sql_vms_with_one_name_fail_unless_named_by_id():
    data = data_of_two_groups()
    data["sql_vms"].append(sql_vm("SQL1", "rg-c", sub=SUB2))
    with pytest.raises(sql_vms.InventoryConfigError, match="two SQL VMs would both be the host 'SQL1'.*hostnames: resource_id"):
        sql_vms.build_hosts(data, settings())
    assert len(sql_vms.build_hosts(data, settings(hostnames="resource_id"))) == 3


def test_details_give_the_entra_state():
    data = data_of_two_groups()
    data["details"] = {data["sql_vms"][1]["id"].lower(): {"properties": {"serverConfigurationsManagementSettings": {
        "azureAdAuthenticationSettings": {"clientId": ""}}}}}
    hosts = dict(sql_vms.build_hosts(data, settings(sql_vm_details=True)))
    assert hosts["sql1"]["sqlvm_entra_auth_enabled"] is True
    assert hosts["sql2"]["sqlvm_entra_auth_enabled"] is False


# ------------------------------------------------------------------------------------------ reading

class Recorder:
    """Stands in for arm.list_all / arm_get: records each path and answers from `answers`."""

    def __init__(self, answers=None):
        self.paths, self.answers, self.lock = [], answers or {}, threading.Lock()

    def list_all(self, session, path, version, params=None, operation=None, resource=None):
        with self.lock:
            self.paths.append(path)
        return self.answers.get(path, [])

    def arm_get(self, session, path, version, params=None):
        with self.lock:
            self.paths.append((path, params))
        return {"id": path}


def read(monkeypatch, answers=None, **values):
    recorder = Recorder(answers)
    monkeypatch.setattr(arm, "list_all", recorder.list_all)
    monkeypatch.setattr(arm, "arm_get", recorder.arm_get)
    session = types.SimpleNamespace(subscription_id=SUB, deadline=None)
    data = sql_vms.read_azure(session, settings(**values), lambda jobs: [job(session) for job in jobs])
    return recorder.paths, data


def test_one_list_per_type_and_subscription(monkeypatch):
    paths, _data = read(monkeypatch)
    assert paths == ["/subscriptions/%s/providers/%s" % (SUB, t) for t in (
        "Microsoft.SqlVirtualMachine/sqlVirtualMachines", "Microsoft.Compute/virtualMachines",
        "Microsoft.Network/networkInterfaces")]
    paths, _data = read(monkeypatch, sql_host_source="public_ip", subscriptions=[SUB, SUB2])
    assert len(paths) == 8 and paths[-1] == "/subscriptions/%s/providers/Microsoft.Network/publicIPAddresses" % SUB2


def test_resource_groups_are_listed_on_their_own_and_missing_ones_reported(monkeypatch):
    group = "/subscriptions/%s/resourceGroups/rg-gone" % SUB
    answers = {group + "/providers/" + t: None for t in (sql_vms.SQL_VMS, sql_vms.VMS, sql_vms.NICS)}
    paths, data = read(monkeypatch, answers, resource_groups=["rg-a", "rg-gone"])
    assert len(paths) == 6 and all("/resourceGroups/rg-" in p for p in paths)
    assert data["missing"] == [group]


def test_all_subscriptions_and_details(monkeypatch):
    answers = {"/subscriptions": [{"subscriptionId": SUB, "state": "Enabled"}, {"subscriptionId": SUB2, "state": "Disabled"}],
               "/subscriptions/%s/providers/%s" % (SUB, sql_vms.SQL_VMS): [sql_vm("sql1")]}
    paths, data = read(monkeypatch, answers, subscriptions=["all"], sql_vm_details=True)
    assert paths[0] == "/subscriptions" and data["subscriptions"] == [SUB]  # a disabled subscription is skipped
    assert paths[-1] == (sql_vm("sql1")["id"], {"$expand": "*"})
    assert list(data["details"]) == [sql_vm("sql1")["id"].lower()]


def test_run_parallel_keeps_order_and_gives_each_thread_its_own_client(monkeypatch):
    from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline
    monkeypatch.setattr(pipeline, "arm_client", lambda credential, cloud, deadline: object())
    session = types.SimpleNamespace(credential=None, cloud=None, deadline=None)
    seen = []

    def job(index):
        def run(thread_session):
            seen.append((threading.get_ident(), id(thread_session.arm)))
            assert thread_session.arm is thread_session.arm
            return index
        return run
    assert sql_vms.run_parallel(session, [job(i) for i in range(20)], 4) == list(range(20))
    by_thread = {}
    for thread, client in seen:
        by_thread.setdefault(thread, set()).add(client)
    assert all(len(clients) == 1 for clients in by_thread.values())
    assert len({client for clients in by_thread.values() for client in clients}) == len(by_thread)

    def boom(_session):
        raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        sql_vms.run_parallel(session, [job(1), boom], 2)


def test_file_names_and_masking():
    plugin = sql_vms.InventoryModule()
    assert not plugin.verify_file("/nonexistent/prod.sql_vms.yml")  # missing files are not ours either
    assert sql_vms.mask("secret=Abcd1234 and Abcd1234", ["Abcd1234", None, ""]) == "secret=******** and ********"
