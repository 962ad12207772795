"""`timeout` is one deadline for the whole task: a slow sign-in authority or cloud metadata endpoint
fails the task with the step named, instead of waiting for azure-identity's or the metadata fetch's
own limits; `timeout: 0` is refused before anything is sent."""
import time

import pytest

TASK = {"resource_group": "rg-sql", "vm_name": "sqlvm-ready", "check_directory": False}
SLOW = 10  # seconds each injected answer waits: far beyond the task's timeout below
INJECTED = 4


def _drain(az, method, path_suffix):
    """Wait until the world has answered every request the task left waiting on the injected latency, so
    none of them lands in the next test's request log (the world logs a request when it answers)."""
    remaining = sum(fault["remaining"] for fault in az.admin.faults())
    taken = INJECTED - remaining
    az.admin.clear_faults()
    give_up = time.monotonic() + SLOW * (taken + 2)
    while time.monotonic() < give_up:
        answered = [e for e in az.requests() if e["method"] == method and str(e.get("path") or "").endswith(path_suffix)]
        if len(answered) >= taken:
            return
        time.sleep(0.5)
    raise AssertionError("the world did not answer the %d delayed requests: %r" % (taken, az.requests()))


def test_a_slow_token_endpoint_fails_within_the_timeout_naming_sign_in(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"  # no cached token: the task must sign in
    az.admin.inject(service="login", method="POST", path="*/token", latency=SLOW, count=INJECTED)
    result, writes = az.task("sqlvm_info", dict(TASK, timeout=4))
    _drain(az, "POST", "/token")
    assert result.failed and writes == []
    assert "timeout of 4 s ran out during sign-in" in result["msg"], result["msg"]
    assert "sign-in authority" in result["msg"]


def test_a_slow_cloud_metadata_endpoint_fails_within_the_timeout_naming_it(az, tmp_path):
    az.runner.cache_dir = tmp_path / "cache"  # no cached metadata document
    if not az.env.get("AZURE_CLOUD_ENVIRONMENT", "").startswith("https://"):
        pytest.skip("the world's cloud is a known cloud: no metadata document is read")
    az.admin.inject(path="*/metadata/endpoints", method="GET", latency=SLOW, count=INJECTED)
    result, writes = az.task("sqlvm_info", dict(TASK, timeout=4))
    _drain(az, "GET", "/metadata/endpoints")
    assert result.failed and writes == []
    assert "timeout of 4 s ran out during cloud metadata" in result["msg"], result["msg"]


def test_timeout_zero_is_refused_before_any_request(az):
    result, _writes = az.task("sqlvm_info", dict(TASK, timeout=0))
    assert result.failed and "timeout=0 is not accepted" in result["msg"]
    assert [e for e in az.requests() if e["service"] != "tds"] == []
