"""ARM throttling (token buckets) and fault injection, seen through azure-core's pipeline."""
import time

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.mgmt.compute import ComputeManagementClient

from simclients import arm_session, mgmt, sub_path


def _vm_url(sim, name="sqlvm-ready"):
    return "%s%s/resourceGroups/rg-sql/providers/Microsoft.Compute/virtualMachines/%s?api-version=2024-07-01" % (
        sim.env["SIM_ARM_URL"], sub_path(sim), name)


def test_read_bucket_empties_and_answers_429(sim):
    sim.admin.settings(throttling=True)
    session = arm_session(sim)
    url = _vm_url(sim)
    statuses = []
    for _attempt in range(700):
        response = session.get(url)
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses[-1] == 429, "no 429 after %d reads" % len(statuses)
    assert len(statuses) > 250  # the bucket holds 250 reads
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "TooManyRequests"
    # Writes have their own bucket.
    patch = session.patch(url, json={"tags": {"a": "b"}})
    assert patch.status_code == 200
    time.sleep(float(response.headers["Retry-After"]))
    assert session.get(url).status_code == 200


def test_injected_status_body_and_count(sim):
    sim.admin.inject(method="GET", path="*/virtualMachines/sqlvm-ready", status=503, count=2,
                     body={"error": {"code": "ServiceUnavailable", "message": "try later"}})
    session = arm_session(sim)
    assert [session.get(_vm_url(sim)).status_code for _attempt in range(3)] == [503, 503, 200]
    assert sim.admin.faults() == []


def test_retry_after_is_honoured_by_azure_core(sim):
    sim.admin.inject(method="GET", path="*/virtualMachines/sqlvm-ready", status=429, retry_after=1)
    compute = mgmt(sim, ComputeManagementClient, retry_total=3)
    started = time.monotonic()
    assert compute.virtual_machines.get("rg-sql", "sqlvm-ready").name == "sqlvm-ready"
    assert time.monotonic() - started >= 1.0
    gets = [e["status"] for e in sim.admin.requests(service="arm") if e["method"] == "GET"]
    assert gets == [429, 200]


def test_latency_and_connection_reset(sim):
    sim.admin.inject(method="GET", path="*/virtualMachines/sqlvm-ready", latency=0.5)
    session = arm_session(sim)
    started = time.monotonic()
    assert session.get(_vm_url(sim)).status_code == 200
    assert time.monotonic() - started >= 0.5
    sim.admin.inject(method="GET", path="*/virtualMachines/sqlvm-ready", reset=True)
    compute = mgmt(sim, ComputeManagementClient)
    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        compute.virtual_machines.get("rg-sql", "sqlvm-ready")
    assert sim.admin.requests()[-1]["status"] == "reset"


def test_request_log_counts(sim):
    compute = mgmt(sim, ComputeManagementClient)
    compute.virtual_machines.get("rg-sql", "sqlvm-ready")
    compute.virtual_machines.begin_update("rg-sql", "sqlvm-ready", {"tags": {"x": "y"}}).result()
    counts = sim.admin.counts()
    assert counts["by_service"]["arm"]["write"] == 1
    route = ("arm PATCH /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/"
             "Microsoft.Compute/virtualMachines/{vmName}")
    assert counts["by_route"][route] == 1
    sim.admin.clear_log()
    assert sim.admin.counts()["total"] == 0


def test_faults_match_only_their_route(sim):
    sim.admin.inject(method="PATCH", path="*/virtualMachines/sqlvm-ready", status=500)
    compute = mgmt(sim, ComputeManagementClient)
    assert compute.virtual_machines.get("rg-sql", "sqlvm-ready")  # GET is not matched
    with pytest.raises(HttpResponseError) as info:
        compute.virtual_machines.begin_update("rg-sql", "sqlvm-ready", {"tags": {}})
    assert info.value.status_code == 500
