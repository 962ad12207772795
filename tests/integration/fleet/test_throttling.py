"""Throttling at fleet scale: with ARM's write bucket shrunk in the world (setting throttle_limits; Azure's is
200 burst, 10/s), concurrent writers meet HTTP 429 and every one of them still succeeds, waiting as Retry-After
says (module_utils/azure/pipeline.py, throttle_delay)."""
import pytest

from _fleet import ELIGIBLE

# CI runs these after make test (make test-extended): each waits out many throttled writes.
pytestmark = pytest.mark.extended


def test_concurrent_writers_meet_throttling_and_all_succeed(fleet):
    fleet.admin.settings(throttle_limits={"write": [1, 0.25]})

    run = fleet.play("backup_ready.yml", forks=10)

    assert run.rc == 0, run
    assert all(recap["failed"] == 0 for recap in run.recap.values()), run
    throttled = [entry for entry in run.requests if entry.get("status") == 429]
    assert throttled, "the small write bucket never answered 429: the test proves nothing"
    assert {entry["kind"] for entry in throttled} == {"write"}
    verdicts = fleet.admin.readiness()
    assert {vm: verdicts[vm]["ready"] for vm in ELIGIBLE} == dict.fromkeys(ELIGIBLE, True)


def test_a_write_throttled_more_often_than_the_retry_count_still_succeeds(fleet):
    # Ten 429s in a row on the storage grant: more than the 6 status retries a throttled request used to get.
    vm = "sqlvm-nostorage"
    fleet.admin.inject(path="*/roleAssignments/*", method="PUT", status=429, retry_after=1, count=10)

    run = fleet.play("backup_ready.yml", limit=vm, tags="storage")

    assert run.rc == 0, run
    throttled = [e for e in run.requests if e.get("status") == 429 and "roleassignments" in (e.get("path") or "").lower()]
    assert len(throttled) == 10, throttled
    assert fleet.admin.readiness()[vm]["ready"] is True  # its one missing Azure step, the storage grant, went through
    assert run.changed_modules(vm) == ["role_assignment"]
