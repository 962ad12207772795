"""sqlvm_fleet_info against the world: per host exactly sqlvm_info's report, a request budget that does not
grow with the fleet, one unreadable VM is one host's failure, zero writes, bad input refused before any
request, no secret in -vvv output."""
from azure_checks import assert_no_writes

RG = "rg-sql"


def _scenario_vms(az):
    """(name, sqlvm_info args) for every VM of the default scenario, with its storage scope."""
    state = az.state()
    vms = []
    for name in sorted(state["vms"]):
        backup = state["vms"][name].get("backup") or {}
        vms.append((name, {"resource_group": RG, "vm_name": name,
                           "storage_scope": az.storage_scope(backup.get("storage_account", "stsqlbackup01"),
                                                             backup.get("container"))}))
    return vms


def _fleet(vms, **options):
    return dict(options, vms=[dict(args, host=name) for name, args in vms])


def _log(az):
    """The ARM and Graph requests of the last run (token requests are not the budget)."""
    return [e for e in az.requests() if e["service"] in ("arm", "graph")]


def test_every_vm_gets_exactly_sqlvm_infos_report(az):
    vms = [(name, args) for name, args in _scenario_vms(az) if name in az.state()["vms"]]
    tasks = [{"name": name, "sqlvm.backup.sqlvm_info": args, "ignore_errors": True} for name, args in vms]
    tasks.append({"name": "fleet", "sqlvm.backup.sqlvm_fleet_info": _fleet(vms), "check_mode": True})
    result, writes = az.run(tasks)
    assert_no_writes(writes)
    *singles, fleet = result.tasks
    assert not fleet.failed and fleet["changed"] is False, dict(fleet)
    assert sorted(fleet["hosts"]) == sorted(name for name, _args in vms)
    compared = 0
    for (name, _args), single in zip(vms, singles):
        got = fleet["hosts"][name]
        if single.failed:  # sqlvm_info fails the task where the fleet fails only this host
            assert got.get("failed") is True and got["msg"], (name, got)
            continue
        want = {key: single[key] for key in ("checks", "ready", "not_ready", "primary_principal_id") if key in single}
        assert got == want, name
        compared += 1
    assert compared >= 10, compared  # the scenario's VMs are mostly readable: the comparison is not vacuous
    assert any(not h.get("ready") and not h.get("failed") for h in fleet["hosts"].values())
    assert any(h.get("ready") for h in fleet["hosts"].values())
