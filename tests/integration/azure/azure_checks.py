"""Assertions shared by the Azure modules' integration tests."""


def assert_no_writes(writes):
    assert writes == [], "unexpected writes: %s" % [(w["method"], w.get("path") or w["route"]) for w in writes]


def four_way(az, module, args, changed_key=None):
    """check+diff on a fresh world (changed, zero writes), real (changed), check and real again
    (not changed, zero writes). Returns the real run's result."""
    first, writes = az.task(module, args, check=True, diff=True)
    assert not first.failed, first
    assert first["changed"] is True, first
    assert first.get("diff"), first
    assert_no_writes(writes)

    real, writes = az.task(module, args)
    assert not real.failed, real
    assert real["changed"] is True, real
    assert writes, "a change was reported but nothing was written"

    again, writes = az.run([
        {"name": "check again", "sqlvm.backup.%s" % module: args, "check_mode": True},
        {"name": "real again", "sqlvm.backup.%s" % module: args},
    ])
    assert [t.status for t in again.tasks] == ["ok", "ok"], again
    assert [t["changed"] for t in again.tasks] == [False, False], again
    assert_no_writes(writes)
    return first, real


def failures(az, module, cases):
    """Each args dict fails (clear message fragment) with zero writes overall; one playbook run."""
    tasks = [{"name": "case %d" % i, "sqlvm.backup.%s" % module: args, "ignore_errors": True}
             for i, (args, _fragment) in enumerate(cases)]
    result, writes = az.run(tasks)
    assert len(result.tasks) == len(cases), result
    for task, (args, fragment) in zip(result.tasks, cases):
        assert task.failed, (args, dict(task))
        assert fragment.lower() in task["msg"].lower(), (args, task["msg"])
        assert "Traceback" not in task["msg"]
    assert_no_writes(writes)
    return result
