"""Which writes the shared retry policy sends again, and why (the Azure audit's decision).

- PUT and DELETE: retried after connection errors and on 408/429/5xx - idempotent by HTTP and by the
  ARM resource provider contract (Azure/azure-resource-manager-rpc v1.0/resource-api-reference.md).
- PATCH on ARM: JSON merge-patch (same document, "Patch Resource"), so a replay of the same body ends
  in the same state; our PATCHes (identity of VMs and vaults) must survive a connection reset too.
  azure-core's RetryPolicy leaves PATCH out of its default retry_on_methods; http.arm_client adds it
  (ARM_REPLAY_METHODS).
- POST (Graph grants): not replayed by the policy; directory._grant sends a grant once more itself,
  since Graph answers a repeated grant with "already exists" instead of duplicating it.
"""
import pytest
import requests

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError
from fake_transport import FakeClock, ScriptedTransport, StaticCredential
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2024-07-01"
OK = (200, {"id": "vm1"})


def _arm(answers):
    clock = FakeClock()
    transport = ScriptedTransport(answers, clock=clock)
    client = http.arm_client(StaticCredential(), KNOWN_CLOUDS["AzureCloud"], http.Deadline(300, clock=clock), transport)
    return client, transport


def _reset():
    return requests.exceptions.ConnectionError("Connection aborted: reset by peer")


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("failure", ["reset", 429, 500, 502, 503])
def test_put_and_delete_are_sent_again(method, failure):
    first = _reset() if failure == "reset" else (failure, {"error": {"code": "Busy"}}, {"Retry-After": "1"} if failure == 429 else {})
    client, transport = _arm([first, OK])
    assert http.send_json(client, method, VM, body={} if method == "PUT" else None, expected=(200,)).status == 200
    assert len(transport.requests) == 2


@pytest.mark.parametrize("failure", [(429, None, {"Retry-After": "1"}), (500, None, {}), (503, None, {})])
def test_patch_is_sent_again_on_throttling_and_server_errors(failure):
    client, transport = _arm([failure, OK])
    assert http.send_json(client, "PATCH", VM, body={"identity": {"type": "SystemAssigned"}}).status == 200
    assert len(transport.requests) == 2


@pytest.mark.parametrize("failure", ["reset", 502])
def test_patch_is_sent_again_after_a_connection_reset_or_502(failure):
    first = _reset() if failure == "reset" else (502, {"error": {"code": "BadGateway"}}, {})
    client, transport = _arm([first, OK])
    assert http.send_json(client, "PATCH", VM, body={"identity": {"type": "SystemAssigned"}}).status == 200
    assert len(transport.requests) == 2


def test_post_is_left_to_the_backend():
    client, transport = _arm([_reset(), OK])
    with pytest.raises(AzureApiError) as caught:
        http.send_json(client, "POST", "/x?api-version=1", body={})
    assert caught.value.code == "ConnectionError" and len(transport.requests) == 1
