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


def _budget(az, vms, **options):
    """Run the fleet over `vms`; return (task, {kind: requests} from the world's log)."""
    task, writes = az.task("sqlvm_fleet_info", _fleet(vms, **options), check=True)
    assert_no_writes(writes)
    assert not task.failed, dict(task)
    log = _log(az)
    sqlvm_gets = [e for e in log if e["service"] == "arm" and "/sqlVirtualMachines/" in (e["path"] or "")]
    counted = {"sqlvm_gets": len(sqlvm_gets),
               "arm_other": sum(1 for e in log if e["service"] == "arm") - len(sqlvm_gets),
               "graph": sum(1 for e in log if e["service"] == "graph")}
    return task, counted


def test_lists_and_graph_reads_do_not_grow_with_the_fleet(az):
    az.admin.settings(arm_page_size=4, graph_page_size=2)  # paging is followed, whatever the fleet's size
    every = [(name, dict(args, storage_scope=az.storage_scope())) for name, args in _scenario_vms(az)]
    assert len(every) >= 12, every
    small_task, small = _budget(az, every[:3])
    big_task, big = _budget(az, every)
    assert small["sqlvm_gets"] == 3 and big["sqlvm_gets"] == len(every), (small, big)  # one $expand GET per VM
    assert small["arm_other"] == big["arm_other"], (small, big)  # VM list pages + one scope's role assignments
    assert small["graph"] == big["graph"], (small, big)
    assert big["arm_other"] >= 1 + (len(az.state()["vms"]) + 3) // 4, big  # the VM list has several pages
    # The module counts what the world saw.
    for task, seen in ((small_task, small), (big_task, big)):
        assert task["requests"] == {"gets": seen["sqlvm_gets"], "lists": seen["arm_other"], "graph": seen["graph"]}
    # The report of a VM does not depend on the rest of the fleet.
    for name, _args in every[:3]:
        assert small_task["hosts"][name] == big_task["hosts"][name], name


def test_one_unreadable_vm_is_that_hosts_failure(az):
    every = _scenario_vms(az)
    ready = dict(every)["sqlvm-ready"]
    vms = [("ready", ready), ("uami", dict(every)["sqlvm-uami"]),
           ("denied", dict(ready, vm_name="sqlvm-noentra")),  # its SQL VM resource answers 403 below
           ("unregistered", dict(ready, vm_name="app-vm")),  # a VM without a SQL VM resource
           ("no-such-vm", dict(ready, vm_name="sqlvm-nosuch")),
           ("bad-scope", dict(ready, storage_scope=az.storage_scope("nosuchaccount")))]
    az.admin.inject(path="*/sqlVirtualMachines/sqlvm-noentra", method="GET", status=403, count=50, body={
        "error": {"code": "AuthorizationFailed", "message": "The client does not have authorization to perform "
                  "action 'Microsoft.SqlVirtualMachine/sqlVirtualMachines/read'; see "
                  "https://example.invalid/x?sv=2024-01-01&sig=S3cretSignatureValue0"}})
    result, writes = az.run([{"name": "fleet", "sqlvm.backup.sqlvm_fleet_info": _fleet(vms)}])
    assert_no_writes(writes)
    task = result.tasks[0]
    assert not task.failed and task["changed"] is False, dict(task)
    hosts = task["hosts"]
    assert hosts["ready"]["ready"] is True, hosts["ready"]
    assert hosts["uami"].get("failed") is None and "checks" in hosts["uami"], hosts["uami"]
    denied = hosts["denied"]
    assert denied["failed"] is True and "AuthorizationFailed" in denied["msg"] and "Fix:" in denied["msg"], denied
    assert "S3cretSignatureValue0" not in result.output and "sig=REDACTED" in denied["msg"], denied
    # Not registered / no such SQL VM: what sqlvm_info says of it, a verdict rather than a failure.
    for host in ("unregistered", "no-such-vm"):
        assert hosts[host]["not_ready"] == ["sql_vm_resource"] and hosts[host]["ready"] is False, hosts[host]
    assert hosts["bad-scope"]["failed"] is True and "does not exist" in hosts["bad-scope"]["msg"], hosts["bad-scope"]


def test_a_vm_missing_behind_its_sql_vm_resource_fails_only_that_host(az):
    """A SQL VM resource whose VM is gone (deleted outside the SQL IaaS Agent): the VM list answers without it."""
    import requests
    from azure.identity import ClientSecretCredential

    env = az.env
    credential = ClientSecretCredential(env["AZURE_TENANT"], env["AZURE_CLIENT_ID"], env["AZURE_SECRET"],
                                        authority=env["SIM_LOGIN_URL"], disable_instance_discovery=True,
                                        connection_verify=env["REQUESTS_CA_BUNDLE"])
    path = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachines" % (az.subscription_id, RG)
    listed = requests.get(env["SIM_ARM_URL"].rstrip("/") + path, params={"api-version": "2024-07-01"},
                          headers={"Authorization": "Bearer " + credential.get_token(
                              env["SIM_ARM_AUDIENCE"] + ".default").token},
                          verify=env["REQUESTS_CA_BUNDLE"], timeout=30).json()
    assert "nextLink" not in listed
    without = [vm for vm in listed["value"] if vm["name"] != "sqlvm-uami"]
    az.admin.inject(path=path, method="GET", status=200, body={"value": without}, count=1)
    every = dict(_scenario_vms(az))
    task, writes = az.task("sqlvm_fleet_info", _fleet([(n, every[n]) for n in ("sqlvm-ready", "sqlvm-uami")]))
    assert_no_writes(writes)
    assert not task.failed, dict(task)
    gone = task["hosts"]["sqlvm-uami"]
    assert gone["failed"] is True and "virtual machine" in gone["msg"] and "not found" in gone["msg"], gone
    assert task["hosts"]["sqlvm-ready"]["ready"] is True, task["hosts"]["sqlvm-ready"]


def test_bad_input_is_refused_before_any_request(az):
    ready = dict(_scenario_vms(az))["sqlvm-ready"]
    cases = [
        ([dict(ready, host="a"), dict(ready, host="a")], "vms[1].host 'a' is also vms[0].host"),
        ([dict(ready, host="a"), dict(ready, host="b"), {"host": "c", "vm_name": "x"}], "vms[2].resource_group"),
        ([dict(ready, host="a"), dict(ready, host="b", vm_name="bad name")], "vms[1].vm_name"),
        ([dict(ready, host="a", storage_scope="stsqlbackup01")], "vms[0].storage_scope"),
        ([dict(ready, host="a", storage_scope="/subscriptions/99999999-1111-2222-3333-444444444444")],
         "vms[0].storage_scope"),
        ([dict(ready, host="a", sql_version="2022")], "vms[0].sql_version"),
    ]
    az.admin.clear_log()
    result = az.runner([{"name": "case %d" % i, "sqlvm.backup.sqlvm_fleet_info": {"vms": vms}, "ignore_errors": True}
                        for i, (vms, _fragment) in enumerate(cases)])
    assert len(result.tasks) == len(cases), result.output[-3000:]
    for task, (_vms, fragment) in zip(result.tasks, cases):
        assert task.failed and fragment in task["msg"], (fragment, dict(task))
    assert [e for e in az.requests() if e["service"] in ("arm", "graph", "login")] == []


def test_no_secret_in_verbose_output(az):
    vms = _scenario_vms(az)[:4]
    result = az.runner([{"name": "fleet", "sqlvm.backup.sqlvm_fleet_info": _fleet(vms)}], verbosity=3)
    task = result.tasks[0]
    assert not task.failed, dict(task)
    assert az.env["AZURE_SECRET"] not in result.output
    assert "eyJ" not in result.output  # no access token (a JWT) either
