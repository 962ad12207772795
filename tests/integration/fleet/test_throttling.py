"""Throttling at fleet scale: with ARM's write bucket shrunk in the world (setting throttle_limits; Azure's is
200 burst, 10/s), concurrent writers meet HTTP 429 and every one of them still succeeds, waiting as Retry-After
says (module_utils/azure/pipeline.py, throttle_delay)."""
from _fleet import ELIGIBLE


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
