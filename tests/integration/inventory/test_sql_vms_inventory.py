"""sqlvm.backup.sql_vms through the real ansible-inventory / ansible-playbook against the world of scenario.yml,
authenticated as AWX's Azure credential would (the world's AZURE_* environment)."""
import json
import math
from pathlib import Path

from _inventory import DR, PRODUCTION

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION_HOSTS = ["sqlvm-a1", "sqlvm-a2", "sqlvm-a3", "sqlvm-a4", "sqlvm-b1"]
LIST_ROUTES = {"/subscriptions/{subscriptionId}/providers/" + t: t for t in (
    "Microsoft.SqlVirtualMachine/sqlVirtualMachines", "Microsoft.Compute/virtualMachines",
    "Microsoft.Network/networkInterfaces")}


def test_lists_pages_only_and_sets_the_role_inputs(inv):
    inv.admin.settings(arm_page_size=2)
    run = inv.list()

    assert run.rc == 0, run
    assert run.group("sql_vms") == PRODUCTION_HOSTS  # no app-a (no SQL Server), no sqlvm-b2 (not registered)
    # Requests: list pages only - 5 SQL VMs, 7 VMs, 7 NICs at 2 a page - and not one read of a single resource.
    assert run.routes() == {
        "/subscriptions/{subscriptionId}/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines": math.ceil(5 / 2),
        "/subscriptions/{subscriptionId}/providers/Microsoft.Compute/virtualMachines": math.ceil(7 / 2),
        "/subscriptions/{subscriptionId}/providers/Microsoft.Network/networkInterfaces": math.ceil(7 / 2)}, \
        [(e["status"], e["path"], e.get("query")) for e in run.arm]
    state = inv.admin.state()
    a1, a2, a3, a4 = (run.hostvars[name] for name in ("sqlvm-a1", "sqlvm-a2", "sqlvm-a3", "sqlvm-a4"))
    assert {key: a1[key] for key in ("subscription_id", "resource_group", "vm_name", "sql_vm_name", "os_type",
                                     "sql_host", "ansible_connection")} == {
        "subscription_id": PRODUCTION, "resource_group": "rg-sql-a", "vm_name": "sqlvm-a1", "sql_vm_name": "sqlvm-a1",
        "os_type": "Windows", "sql_host": "127.0.0.1", "ansible_connection": "local"}
    assert a1["sqlvm_identity_type"] == "SystemAssigned"
    assert a1["sqlvm_system_assigned_principal_id"] == state["vms"]["sqlvm-a1"]["identities"]["system"]["principal_id"]
    assert a1["sqlvm_sql_image_offer"] == "SQL2022-WS2022" and a1["sqlvm_location"] == "westeurope"
    assert a1["sqlvm_subnet_id"].endswith("/resourceGroups/rg-sql-a/providers/Microsoft.Network/virtualNetworks/"
                                          "rg-sql-a-vnet/subnets/default")
    (uami,) = state["vms"]["sqlvm-a2"]["identities"]["user_assigned"]
    assert a2["sqlvm_user_assigned_identities"] == [{"resource_id": uami["resource_id"], "name": "uami-a",
                                                     "principal_id": uami["principal_id"],
                                                     "client_id": uami["client_id"]}]
    assert a2["sql_host"] == "10.0.0.5"  # the generated private address of the second VM of its group
    assert a3["os_type"] == "Linux"
    assert (a4["vm_name"], a4["sql_vm_name"]) == ("sqlvm-a4", "sqlvm-a4-registered")
    assert "sqlvm_entra_auth_enabled" not in a1  # the list does not carry the Entra settings


def test_hostnames_compose_groups_and_keyed_groups(inv):
    run = inv.list({"hostnames": "sql_vm_name",
                    "compose": {"storage_account": "'st' ~ vm_name | replace('-', '')"},
                    "groups": {"linux": "os_type == 'Linux'"},
                    "keyed_groups": [{"key": "sqlvm_location", "prefix": "location"},
                                     {"key": "sqlvm_tags.environment | default('untagged')", "prefix": "env"}]})

    assert run.rc == 0, run
    assert "sqlvm-a4-registered" in run.group("sql_vms") and "sqlvm-a4" not in run.group("sql_vms")
    assert run.hostvars["sqlvm-a1"]["storage_account"] == "stsqlvma1"
    assert run.group("linux") == ["sqlvm-a3"]
    assert run.group("location_northeurope") == ["sqlvm-b1"]
    assert run.group("env_prod") == ["sqlvm-a1", "sqlvm-a3", "sqlvm-a4-registered", "sqlvm-b1"]
    assert run.group("env_untagged") == ["sqlvm-a2"]  # its tag is spelled Environment

    by_id = inv.list({"hostnames": "resource_id"})
    assert by_id.rc == 0, by_id
    assert ("/subscriptions/%s/resourceGroups/rg-sql-a/providers/Microsoft.SqlVirtualMachine/sqlVirtualMachines/"
            "sqlvm-a4-registered" % PRODUCTION) in by_id.group("sql_vms")


def test_subscriptions_resource_groups_and_tag_filters(inv):
    every = inv.list({"subscriptions": "all"})
    assert every.rc == 0, every
    assert every.group("sql_vms") == sorted(PRODUCTION_HOSTS + ["sqlvm-dr1"])
    assert every.hostvars["sqlvm-dr1"]["subscription_id"] == DR
    assert every.routes()["/subscriptions"] == 1

    dr = inv.list({"subscriptions": [DR]})
    assert dr.rc == 0, dr
    assert dr.group("sql_vms") == ["sqlvm-dr1"]

    group = inv.list({"resource_groups": ["RG-SQL-B"]})
    assert group.rc == 0, group
    assert group.group("sql_vms") == ["sqlvm-b1"]
    assert set(group.routes()) == {"/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + t
                                   for t in LIST_ROUTES.values()}

    tagged = inv.list({"include_tags": {"environment": "prod"}, "exclude_tags": {"backup": None}})
    assert tagged.rc == 0, tagged
    assert tagged.group("sql_vms") == ["sqlvm-a1", "sqlvm-a4", "sqlvm-b1"]
    names_without_case = inv.list({"include_tags": {"ENVIRONMENT": ["test", "qa"]}})
    assert names_without_case.group("sql_vms") == ["sqlvm-a2"]

    missing = inv.list({"resource_groups": ["rg-sql-b", "rg-gone"]})
    assert missing.rc == 0, missing
    assert missing.group("sql_vms") == ["sqlvm-b1"]
    assert "/resourceGroups/rg-gone does not exist" in missing.output


def test_sql_host_from_the_public_ip(inv):
    run = inv.list({"sql_host_source": "public_ip"})

    assert run.rc == 0, run
    a2 = run.hostvars["sqlvm-a2"]
    assert a2["sql_host"] == a2["sqlvm_public_ip"] and a2["sql_host"].startswith("20.")
    assert "sql_host" not in run.hostvars["sqlvm-a1"]  # no public IP: no sql_host rather than a wrong one
    assert run.routes()["/subscriptions/{subscriptionId}/providers/Microsoft.Network/publicIPAddresses"] == 1

    none = inv.list({"sql_host_source": "none", "compose": {"sql_host": "vm_name ~ '.corp.example'"}})
    assert none.hostvars["sqlvm-a1"]["sql_host"] == "sqlvm-a1.corp.example"


def test_entra_state_only_with_sql_vm_details(inv):
    run = inv.list({"sql_vm_details": True, "concurrency": 4})

    assert run.rc == 0, run
    state = inv.admin.state()
    a1, a2, b1 = (run.hostvars[name] for name in ("sqlvm-a1", "sqlvm-a2", "sqlvm-b1"))
    assert a1["sqlvm_entra_auth_enabled"] is True and a1["sqlvm_entra_primary_identity"]["kind"] == "system"
    assert a1["sqlvm_entra_primary_identity"]["principal_id"] == a1["sqlvm_system_assigned_principal_id"]
    uami = state["vms"]["sqlvm-a2"]["identities"]["user_assigned"][0]
    assert a2["sqlvm_entra_primary_identity"] == {"kind": "user", "client_id": uami["client_id"],
                                                  "principal_id": uami["principal_id"],
                                                  "resource_id": uami["resource_id"]}
    assert b1["sqlvm_entra_auth_enabled"] is False and b1["sqlvm_entra_primary_identity"] is None
    one = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" \
          "Microsoft.SqlVirtualMachine/sqlVirtualMachines/{sqlVirtualMachineName}"
    assert run.routes()[one] == len(PRODUCTION_HOSTS), [(e["status"], e["path"], e.get("query")) for e in run.arm]


def test_bad_settings_fail_before_any_request(inv):
    # As AWX runs inventory updates: a source that cannot be parsed fails the update.
    strict = {"ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true"}
    for config, words in (({"subscriptions": ["prod"]}, "'prod' is not a subscription id"),
                          ({"subscriptions": ["all", PRODUCTION]}, "cannot be combined"),
                          ({"hostnames": "fqdn"}, "hostnames"),
                          ({"include_tags": ["environment"]}, "include_tags"),
                          ({"concurrency": 0}, "concurrency=0")):
        run = inv.list(config, env=strict)
        assert run.rc != 0, (config, run)
        assert words in run.output, (config, run)
        assert run.arm == [], config


def test_secret_never_in_verbose_output(inv):
    secret = inv.world.env["AZURE_SECRET"]
    ok = inv.list(None, "-vvv")
    assert ok.rc == 0, ok
    assert secret not in ok.output

    in_file = inv.list({"secret": secret, "client_id": inv.world.env["AZURE_CLIENT_ID"]}, "-vvv",
                       env={"AZURE_SECRET": "Wrong-Secret-Value-1234"})
    assert in_file.rc == 0, in_file
    assert secret not in in_file.output and "Wrong-Secret-Value-1234" not in in_file.output

    wrong = "Wrong-Secret-Value-5678"
    refused = inv.list(None, "-vvv", env={"AZURE_SECRET": wrong, "SQLVM_BACKUP_TOKEN_CACHE": "false"})
    assert "sqlvm.backup.sql_vms" in refused.output and wrong not in refused.output, refused
    assert refused.data is None or refused.group("sql_vms") == []


def test_inventory_cache_answers_the_second_run(inv, tmp_path):
    cache_dir = tmp_path / "inventory-cache"
    config = {"cache": True, "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(cache_dir),
              "cache_timeout": 600}
    path = inv.write(config)
    first = inv.list(path=path)
    second = inv.list(path=path)

    assert first.rc == second.rc == 0, (first, second)
    assert first.arm != [] and second.arm == []
    assert second.hostvars == first.hostvars
    flushed = inv.list(None, "--flush-cache", path=path)
    assert flushed.arm != []
    cached = "".join(p.read_text() for p in cache_dir.iterdir())
    assert "sqlvm-a1" in cached and inv.world.env["AZURE_SECRET"] not in cached


def test_tags_are_data_not_templates(inv):
    path = inv.write({})
    playbook = path.parent / "show.yml"
    playbook.write_text("- hosts: sqlvm-a1\n  gather_facts: false\n  tasks:\n"
                        "    - ansible.builtin.debug: {var: sqlvm_tags.note}\n")
    run = inv.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(path), str(playbook)], path)
    assert run.rc == 0, run
    assert "{{ 6 * 7 }}" in run.output and '"42"' not in run.output


def test_feeds_compliance_check_for_one_host(inv, tmp_path):
    path = inv.write({})
    report = tmp_path / "report"
    port = inv.world_hostvars()["sqlvm-a1"]["sql_port"]
    run = inv.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(path), "--check", "-l", "sqlvm-a1",
                   "-e", "@%s" % (ROOT / "playbooks/inventories/world.yml"), "-e", "sql_port=%d" % port,
                   "-e", "compliance_report_dir=%s" % report, str(ROOT / "playbooks/compliance.yml")], path)

    assert run.rc == 0, run
    assert [e for e in run.requests if e.get("kind") == "write"] == []
    summary = json.loads((report / "readiness.json").read_text())
    assert list(summary["vms"]) == ["sqlvm-a1"]
    steps = {row["step"]: row for row in summary["vms"]["sqlvm-a1"]["steps"]}
    assert steps["sql_vm_resource"]["status"] == "pass"
    assert steps["platform"]["status"] == "pass", steps["platform"]  # SQL Server read through the inventory's sql_host
    assert any(e.get("service") == "tds" for e in run.requests)
