"""Throttling (HTTP 429) at fleet scale: Retry-After honoured (seconds and HTTP-date), retries spread with
jitter, waited out within the task's deadline rather than counted."""
import email.utils
import time

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError
from fake_transport import FakeClock, ScriptedTransport, StaticCredential

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
OK = (200, {"id": VM})
THROTTLED = {"error": {"code": "TooManyRequests", "message": "The request is being throttled"}}


def client(answers, timeout=300):
    clock = FakeClock()
    transport = ScriptedTransport(answers, clock=clock)
    arm = http.arm_client(StaticCredential(), KNOWN_CLOUDS["AzureCloud"], http.Deadline(timeout, clock=clock),
                          transport)
    return arm, transport


def patch(arm):
    return http.send_json(arm, "PATCH", VM + "?api-version=2024-07-01", body={"identity": {"type": "SystemAssigned"}},
                          operation="update VM", resource=VM)


@pytest.mark.parametrize("retry_after, attempt, fraction, expected", [
    (1, 1, 0.0, 1.0),                     # Retry-After is the earliest moment
    (1, 1, 0.999, 1.0 + 0.999 * http.THROTTLE_SPREAD_SECONDS),
    (1, 3, 0.5, 1.0 + 0.5 * 4 * http.THROTTLE_SPREAD_SECONDS),   # the spread doubles per 429 met
    (1, 30, 1.0, 1.0 + http.THROTTLE_SPREAD_MAX_SECONDS),        # up to its maximum
    (None, 1, 0.0, 0.5),                  # no Retry-After: exponential back-off
    (None, 4, 0.0, 4.0),
    (None, 20, 0.0, 20.0),                # capped
    (-3, 1, 0.0, 0.0),                    # a negative Retry-After is no wait
])
def test_throttle_delay(retry_after, attempt, fraction, expected):
    assert http.throttle_delay(retry_after, attempt, fraction) == pytest.approx(expected)


def test_throttle_delay_spreads_concurrent_retries():
    delays = {round(http.throttle_delay(2, 1, n / 10.0), 3) for n in range(10)}
    assert len(delays) == 10 and min(delays) >= 2.0


def test_a_throttled_write_is_retried_past_the_status_count_until_it_passes():
    count = http.RETRY_SETTINGS["retry_status"] * 3
    arm, transport = client([(429, THROTTLED, {"Retry-After": "1"})] * count + [OK])
    assert patch(arm).status == 200
    assert len(transport.requests) == count + 1
    assert all(delay >= 1.0 for delay in transport.sleeps)
    # The spread grew with each 429 this request met (jitter may draw small shares, the bound grows).
    assert max(transport.sleeps) <= 1.0 + http.THROTTLE_SPREAD_MAX_SECONDS


def test_throttling_that_outlasts_the_deadline_fails_naming_the_timeout_and_429():
    arm, transport = client([(429, THROTTLED, {"Retry-After": "5"})], timeout=60)
    with pytest.raises(AzureApiError) as caught:
        patch(arm)
    assert sum(transport.sleeps) <= 60
    assert caught.value.code == "Timeout" and caught.value.status == 429
    assert "timeout of 60 s" in caught.value.msg


def test_an_http_date_retry_after_is_honoured():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    arm, transport = client([(429, THROTTLED, {"Retry-After": when}), OK])
    assert patch(arm).status == 200
    assert len(transport.sleeps) == 1 and 25 <= transport.sleeps[0] <= 31 + http.THROTTLE_SPREAD_SECONDS


def test_a_retry_after_of_zero_forever_still_ends():
    arm, transport = client([(429, THROTTLED, {"Retry-After": "0"})], timeout=10 ** 9)
    with pytest.raises(AzureApiError) as caught:
        patch(arm)
    assert caught.value.status == 429
    assert len(transport.requests) == 1 + http.MAX_THROTTLED_RETRIES


def test_other_transient_statuses_are_still_counted():
    arm, transport = client([(503, None, {"Retry-After": "1"})], timeout=10 ** 6)
    with pytest.raises(AzureApiError):
        patch(arm)
    assert len(transport.requests) == 1 + http.RETRY_SETTINGS["retry_status"]
