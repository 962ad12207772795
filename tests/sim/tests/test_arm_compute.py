"""Microsoft.Compute virtualMachines and Microsoft.ManagedIdentity through azure-mgmt-compute / -msi."""
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute import ComputeManagementClient
from azure.mgmt.msi import ManagedServiceIdentityClient

from simclients import arm_session, mgmt, readonly_credential, sub_path


def test_get_vm_parses_with_identity(sim):
    compute = mgmt(sim, ComputeManagementClient)
    vm = compute.virtual_machines.get("rg-sql", "sqlvm-2025")
    assert vm.identity.type == "SystemAssigned, UserAssigned"
    assert vm.identity.principal_id and vm.identity.tenant_id == sim.env["AZURE_TENANT"]
    (rid, uami), = vm.identity.user_assigned_identities.items()
    assert rid.endswith("/userAssignedIdentities/uami-2025") and uami.client_id
    assert vm.storage_profile.os_disk.os_type == "Windows"
    assert compute.virtual_machines.get("rg-sql", "sqlvm-fresh").identity is None
    names = {v.name for v in compute.virtual_machines.list("rg-sql")}
    assert {"sqlvm-ready", "app-vm"} <= names


def test_enable_system_identity_is_a_long_running_update(sim):
    compute = mgmt(sim, ComputeManagementClient)
    result = compute.virtual_machines.begin_update("rg-sql", "sqlvm-fresh", {"identity": {"type": "SystemAssigned"}}).result()
    assert result.identity.type == "SystemAssigned" and result.provisioning_state == "Succeeded"
    log = sim.admin.requests(service="arm")
    assert [e["kind"] for e in log if e["method"] == "PATCH"] == ["write"]
    assert any("/operations/" in e["path"] for e in log)
    assert sim.admin.state()["vms"]["sqlvm-fresh"]["identities"]["system"]["principal_id"] == result.identity.principal_id


def test_attach_user_assigned_identity_keeps_the_others(sim):
    compute = mgmt(sim, ComputeManagementClient)
    msi = mgmt(sim, ManagedServiceIdentityClient)
    uami = msi.user_assigned_identities.create_or_update("rg-sql", "uami-new", {"location": "westeurope"})
    assert uami.client_id and uami.principal_id
    result = compute.virtual_machines.begin_update("rg-sql", "sqlvm-ready", {"identity": {
        "type": "SystemAssigned, UserAssigned", "userAssignedIdentities": {uami.id: {}}}}).result()
    assert result.identity.principal_id  # the system identity stayed
    assert list(result.identity.user_assigned_identities) == [uami.id]
    # null removes one user-assigned identity (PATCH semantics of the userAssignedIdentities map)
    result = compute.virtual_machines.begin_update("rg-sql", "sqlvm-ready", {"identity": {
        "type": "SystemAssigned", "userAssignedIdentities": None}}).result()
    assert result.identity.type == "SystemAssigned" and not result.identity.user_assigned_identities


def test_unknown_user_assigned_identity_is_rejected(sim):
    compute = mgmt(sim, ComputeManagementClient)
    missing = sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.ManagedIdentity/userAssignedIdentities/nope"
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_update("rg-sql", "sqlvm-fresh", {"identity": {
            "type": "UserAssigned", "userAssignedIdentities": {missing: {}}}}).result()
    assert info.value.status_code == 400 and info.value.error.code == "FailedIdentityOperation"


def test_missing_vm_and_resource_group(sim):
    compute = mgmt(sim, ComputeManagementClient)
    with pytest.raises(ResourceNotFoundError) as info:
        compute.virtual_machines.get("rg-sql", "nope")
    assert info.value.error.code == "ResourceNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        compute.virtual_machines.get("rg-nope", "sqlvm-ready")
    assert info.value.error.code == "ResourceGroupNotFound"


def test_arm_rejects_malformed_requests(sim):
    session = arm_session(sim)
    arm = sim.env["SIM_ARM_URL"]
    vm = sub_path(sim) + "/resourceGroups/rg-sql/providers/Microsoft.Compute/virtualMachines/sqlvm-ready"
    cases = [
        ("/subscriptions/not-a-guid/resourceGroups/rg-sql/providers/Microsoft.Compute/virtualMachines/x?api-version=2024-07-01",
         None, 400, "InvalidSubscriptionId"),
        ("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Compute/"
         "virtualMachines/x?api-version=2024-07-01", None, 404, "SubscriptionNotFound"),
        (vm, None, 400, "MissingApiVersionParameter"),
        (vm + "?api-version=1999-01-01", None, 400, "NoRegisteredProviderFound"),
        (vm + "?api-version=banana", None, 400, "InvalidApiVersionParameter"),
    ]
    for path, body, status, code in cases:
        response = session.get(arm + path)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), path
    response = session.put(arm + vm + "?api-version=2024-07-01", json={"identity": {"type": "SystemAssigned"}})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "LocationRequired")
    response = session.patch(arm + vm + "?api-version=2024-07-01", json={"identity": {"type": "Bogus"}})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "InvalidIdentityType")
    response = session.patch(arm + vm + "?api-version=2024-07-01", data="{not json",
                             headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["error"]["code"]) == (400, "InvalidRequestContent")
    anonymous = session.get(arm + vm + "?api-version=2024-07-01", headers={"Authorization": ""})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"
    assert "WWW-Authenticate" in anonymous.headers


def test_least_privilege_principal_gets_403(sim):
    compute = mgmt(sim, ComputeManagementClient, cred=readonly_credential(sim))
    assert compute.virtual_machines.get("rg-sql", "sqlvm-fresh").name == "sqlvm-fresh"  # Reader may read
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_update("rg-sql", "sqlvm-fresh", {"identity": {"type": "SystemAssigned"}})
    assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"
    assert "Microsoft.Compute/virtualMachines/write" in info.value.error.message
    assert sim.admin.state()["vms"]["sqlvm-fresh"]["identities"]["system"] is None


def test_assigning_a_user_assigned_identity_needs_the_linked_permission(sim):
    # A principal with Virtual Machine Contributor only: may write the VM but not assign the identity.
    from azure.mgmt.authorization import AuthorizationManagementClient
    import uuid
    state = sim.admin.state()
    operator = next(p for p in state["directory"] if p["display_name"] == "sqlvm-readonly")
    auth = mgmt(sim, AuthorizationManagementClient)
    scope = sub_path(sim) + "/resourceGroups/rg-sql"
    auth.role_assignments.create(scope, str(uuid.uuid4()), {
        "role_definition_id": sub_path(sim) + "/providers/Microsoft.Authorization/roleDefinitions/"
        "9980e02c-c2be-4d73-94e8-173b1dc7cf3c", "principal_id": operator["object_id"], "principal_type": "ServicePrincipal"})
    compute = mgmt(sim, ComputeManagementClient, cred=readonly_credential(sim))
    uami = next(rid for rid in state["user_assigned_identities"] if rid.endswith("uami-sqlbackup"))
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_update("rg-sql", "sqlvm-fresh", {"identity": {
            "type": "UserAssigned", "userAssignedIdentities": {uami: {}}}})
    assert info.value.status_code == 403 and info.value.error.code == "LinkedAuthorizationFailed"


def test_instance_view_as_arm_returns_it(sim):
    """GET …/instanceView and GET ?$expand=instanceView through azure-mgmt-compute: statuses, VM agent and the
    guest's OS for a running VM; a deallocated VM reports its power state and no guest agent."""
    compute = mgmt(sim, ComputeManagementClient)
    view = compute.virtual_machines.instance_view("rg-sql", "sqlvm-ready")
    codes = [s.code for s in view.statuses]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    assert [s.display_status for s in view.statuses] == ["Provisioning succeeded", "VM running"]
    assert all(s.level == "Info" for s in view.statuses)
    assert view.computer_name == "sqlvm-ready" and view.os_name.startswith("Windows Server")
    assert view.os_version.startswith("Microsoft Windows NT 10.0.")
    agent = view.vm_agent
    assert agent.vm_agent_version and [s.display_status for s in agent.statuses] == ["Ready"]
    assert [h.type for h in agent.extension_handlers] == ["Microsoft.SqlServer.Management.SqlIaaSAgent"]
    assert view.disks[0].name.endswith("_OsDisk_1") and view.hyper_v_generation == "V2"

    vm = compute.virtual_machines.get("rg-sql", "sqlvm-ready", expand="instanceView")
    assert [s.code for s in vm.instance_view.statuses] == codes
    assert vm.instance_view.vm_agent.vm_agent_version == agent.vm_agent_version
    assert compute.virtual_machines.get("rg-sql", "sqlvm-ready").instance_view is None

    off = compute.virtual_machines.instance_view("rg-sql", "app-vm")
    assert [s.code for s in off.statuses] == ["ProvisioningState/succeeded", "PowerState/deallocated"]
    assert off.vm_agent is None and off.computer_name is None and off.os_name is None
    assert compute.virtual_machines.get("rg-sql", "app-vm", expand="instanceView").instance_view.statuses[1].code \
        == "PowerState/deallocated"
    routes = {e["route"] for e in sim.admin.requests(service="arm")}
    assert any(r.endswith("/virtualMachines/{vmName}/instanceView") for r in routes)


def test_instance_view_of_a_missing_vm_and_a_bad_expand(sim):
    compute = mgmt(sim, ComputeManagementClient)
    with pytest.raises(ResourceNotFoundError):
        compute.virtual_machines.instance_view("rg-sql", "nope")
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.get("rg-sql", "sqlvm-ready", expand="everything")
    assert info.value.status_code == 400 and info.value.error.code == "InvalidParameter"


@pytest.mark.parametrize("os_name,power,agent", [
    ("linux", "stopped", "Not Ready"), ("windows", "stopped", "Not Ready"), ("linux", "running", "Ready")])
def test_instance_view_per_power_state_reads_as_the_sdk_model(os_name, power, agent):
    """Every scenario power state gives a body azure-mgmt-compute's VirtualMachineInstanceView reads: a stopped
    VM keeps its guest details and an unresponsive agent (level Warning)."""
    import sys
    import types
    from pathlib import Path
    from azure.mgmt.compute.models import VirtualMachineInstanceView
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from azsim.arm import ArmService
    from azsim.scenario import normalise
    from azsim.world import World
    world = World(normalise({"subscriptions": [{"resource_groups": [{"name": "rg", "vms": [
        {"name": "vm1", "os": os_name, "power_state": power, "sql": {"version": "16.0.4175.1"}}]}]}]}))
    vm = next(iter(world.vms.values()))
    view = VirtualMachineInstanceView(ArmService(types.SimpleNamespace(world=world))._vm_instance_view(vm))
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/" + power]
    assert view.computer_name == "vm1" and view.vm_agent.statuses[0].display_status == agent
    assert view.vm_agent.statuses[0].level == ("Info" if agent == "Ready" else "Warning")
    assert view.os_name == ("ubuntu" if os_name == "linux" else "Windows Server 2022 Datacenter")
    handler = "SqlIaaSAgentLinux" if os_name == "linux" else "SqlIaaSAgent"
    assert view.vm_agent.extension_handlers[0].type.endswith(handler)
