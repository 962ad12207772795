"""Assertions shared by the Azure modules' integration tests."""


def assert_no_writes(writes):
    assert writes == [], "unexpected writes: %s" % [(w["method"], w.get("path") or w["route"]) for w in writes]


def _mark():
    """A task that reads the world's request log, so writes can be split between the tasks around it."""
    return {"name": "mark", "ansible.builtin.uri": {"url": "{{ sim_admin_url }}/requests", "return_content": False},
            "check_mode": False}


def _segments(result, log):
    """Writes (ARM/Graph) between consecutive mark tasks, and the module tasks in order."""
    marks, tasks = [], []
    for task in result.tasks:
        if task.name == "mark":
            marks.append(max([e["seq"] for e in task["json"]] or [0]))
        else:
            tasks.append(task)
    writes = []
    for low, high in zip(marks, marks[1:]):
        writes.append([e for e in log if low < e["seq"] <= high and e["kind"] == "write"
                       and e["service"] in ("arm", "graph")])
    return tasks, writes


def four_way(az, module, args):
    """In one playbook: check+diff on a fresh world (changed, zero writes), real (changed, writes),
    check and real again (not changed, zero writes). Returns (check task, real task)."""
    name = "sqlvm.backup.%s" % module
    az.admin.clear_log()
    result = az.runner([
        _mark(),
        {"name": "check", name: args, "check_mode": True, "diff": True},
        _mark(),
        {"name": "real", name: args},
        _mark(),
        {"name": "check again", name: args, "check_mode": True},
        {"name": "real again", name: args},
        _mark(),
    ], extra_vars={"sim_admin_url": az.env["SIM_ADMIN_URL"]})
    tasks, writes = _segments(result, az.admin.requests())
    assert [t.name for t in tasks] == ["check", "real", "check again", "real again"], result.output[-3000:]
    first, real, check_again, real_again = tasks
    assert not first.failed and first["changed"] is True, dict(first)
    assert first.get("diff") and first["diff"]["before"] != first["diff"]["after"], dict(first)
    assert_no_writes(writes[0])
    assert not real.failed and real["changed"] is True, dict(real)
    assert writes[1], "a change was reported but nothing was written"
    assert [t.status for t in (check_again, real_again)] == ["ok", "ok"], result
    assert [check_again["changed"], real_again["changed"]] == [False, False], (dict(check_again), dict(real_again))
    assert_no_writes(writes[2])
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


def assert_faults_consumed(az):
    """Every injected fault was met by a request: a fault aimed at nothing would prove nothing."""
    left = az.admin.faults()
    assert left == [], "faults never hit: %s" % left


class WriteNotReplayed(Exception):
    """A write (PATCH/POST) lost to a connection reset was not sent again: the task failed with
    code ConnectionError. Raised only for that cause, so an xfail on it hides nothing else."""


def raise_if_write_not_replayed(task):
    error = task.get("error") or {}
    if task.failed and error.get("code") == "ConnectionError":
        raise WriteNotReplayed(task["msg"])
