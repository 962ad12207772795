"""simctl start/stop/status, env.sh, the inventory, scenarios and the generator."""
import os
import subprocess
import time

import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SIMCTL = os.path.join(os.path.dirname(HERE), "simctl")
ENV_NAMES = {"AZURE_CLOUD_ENVIRONMENT", "AZURE_SUBSCRIPTION_ID", "AZURE_TENANT", "AZURE_CLIENT_ID", "AZURE_SECRET",
             "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "SIM_ADMIN_URL", "SIM_INVENTORY"}


def _children(pid):
    """Live processes of the world's process group (zombies are dead; reaping them is init's job)."""
    out = subprocess.run(["ps", "-eo", "pid,pgid,stat,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()[1:]
            if line.split()[1] == str(pid) and not line.split()[2].startswith("Z")]


def _env(path):
    out = subprocess.run(["bash", "-c", "set -a; . %s; env" % path], capture_output=True, text=True, check=True)
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def test_start_status_stop_leaves_nothing_behind(tmp_path):
    started = time.monotonic()
    subprocess.run([SIMCTL, "start", "--state-dir", str(tmp_path)], check=True, capture_output=True)
    print("default scenario started in %.2fs" % (time.monotonic() - started))
    pid = int((tmp_path / "sim.pid").read_text())
    try:
        env = _env(tmp_path / "env.sh")
        assert ENV_NAMES <= set(env)
        assert "AZURE_POD_IDENTITY_AUTHORITY_HOST" not in (tmp_path / "env.sh").read_text()
        assert env["AZURE_CLOUD_ENVIRONMENT"].startswith("https://127.0.0.1:")
        bundle = open(env["REQUESTS_CA_BUNDLE"]).read()
        assert bundle.count("BEGIN CERTIFICATE") > 1 and open(tmp_path / "ca.pem").read() in bundle
        status = subprocess.run([SIMCTL, "status", "--state-dir", str(tmp_path)], capture_output=True, text=True,
                                check=False)
        assert status.returncode == 0 and '"healthy": true' in status.stdout
        assert any("azurite" in line for line in _children(pid))
        again = subprocess.run([SIMCTL, "start", "--state-dir", str(tmp_path)], capture_output=True, text=True,
                               check=False)
        assert again.returncode != 0 and "already running" in again.stderr
    finally:
        subprocess.run([SIMCTL, "stop", "--state-dir", str(tmp_path)], check=True)
    assert _children(pid) == []
    status = subprocess.run([SIMCTL, "status", "--state-dir", str(tmp_path)], capture_output=True, text=True,
                            check=False)
    assert status.returncode == 3 and '"running": false' in status.stdout


def test_inventory_host_vars(world):
    inventory = yaml.safe_load(open(world.env["SIM_INVENTORY"]))
    hosts = inventory["all"]["children"]["sql_vms"]["hosts"]
    assert "app-vm" not in hosts  # no SQL Server, not in the inventory
    ready = hosts["sqlvm-ready"]
    for key in ("subscription_id", "resource_group", "vm_name", "sql_vm_name", "location", "os_type",
                "sql_version", "storage_account", "storage_container", "container_url", "expected_reason"):
        assert ready[key] is not None, key
    assert ready["container_url"] == "https://stsqlbackup01.blob.%s/backups" % world.env["SIM_STORAGE_SUFFIX"]
    assert hosts["sqlvm-linux"]["os_type"] == "Linux"


def test_default_scenario_expectations_match_the_world(world):
    world.admin.reset()
    scenario = yaml.safe_load(open(os.path.join(os.path.dirname(HERE), "scenarios", "default.yml")))
    expected = {vm["name"]: vm["expect"] for rg in scenario["subscriptions"][0]["resource_groups"]
                for vm in rg["vms"] if vm.get("expect")}
    actual = world.admin.readiness()
    reasons = {name: actual[name]["reason"] for name in expected}
    assert reasons == {name: e["reason"] for name, e in expected.items()}
    # Every documented failure is present.
    assert set(reasons.values()) >= {"no_identity", "sql_version_unsupported", "sql_build_too_old",
                                     "os_not_supported", "fci_not_supported", "no_storage_role",
                                     "no_directory_read", "entra_auth_disabled", "ready"}


def test_scenario_validation_errors():
    import sys
    sys.path.insert(0, os.path.dirname(HERE))
    from azsim.scenario import ScenarioError, normalise
    base = {"subscriptions": [{"resource_groups": [{"name": "rg", "vms": [
        {"name": "vm1", "sql": {"version": "16.0.4175.1"}}]}]}]}
    assert normalise(base)["subscriptions"][0]["resource_groups"][0]["vms"][0]["sql_vm"]["registered"]
    bad_version = {"subscriptions": [{"resource_groups": [{"name": "rg", "vms": [
        {"name": "vm1", "sql": {"version": "2022"}}]}]}]}
    with pytest.raises(ScenarioError, match="build number"):
        normalise(bad_version)
    with pytest.raises(ScenarioError, match="unknown keys"):
        normalise(dict(base, settings={"throttle": False}))
    with pytest.raises(ScenarioError, match="not a GUID"):
        normalise(dict(base, tenant={"id": "nope"}))
    vm = normalise(base)["subscriptions"][0]["resource_groups"][0]["vms"][0]
    assert vm["power_state"] == "running"
    off = {"subscriptions": [{"resource_groups": [{"name": "rg", "vms": [
        {"name": "vm1", "power_state": "Deallocated"}]}]}]}
    assert normalise(off)["subscriptions"][0]["resource_groups"][0]["vms"][0]["power_state"] == "deallocated"
    off["subscriptions"][0]["resource_groups"][0]["vms"][0]["power_state"] = "hibernated"
    with pytest.raises(ScenarioError, match="power_state: must be one of running, stopped, deallocated"):
        normalise(off)


@pytest.mark.slow
def test_generated_fleet_starts_quickly(tmp_path):
    """Prints start/stop times and memory for 1000 VMs (figures, not assertions; the default scenario's
    start time is printed by test_start_status_stop_leaves_nothing_behind)."""
    for count in (1000,):
        state = tmp_path / str(count)
        started = time.monotonic()
        subprocess.run([SIMCTL, "start", "--state-dir", str(state), "--generate", str(count)], check=True,
                       capture_output=True)
        seconds = time.monotonic() - started
        pid = int((state / "sim.pid").read_text())
        try:
            rss = sum(int(open("/proc/%s/status" % line.split()[0]).read().split("VmRSS:")[1].split()[0])
                      for line in _children(pid))
            hosts = yaml.safe_load(open(state / "inventory.yml"))["all"]["children"]["sql_vms"]["hosts"]
            assert len(hosts) == count
            print("%d VMs: started in %.2fs, RSS %d MB (world + Azurite)" % (count, seconds, rss // 1024))
        finally:
            started = time.monotonic()
            subprocess.run([SIMCTL, "stop", "--state-dir", str(state)], check=True)
            print("%d VMs: stopped in %.2fs" % (count, time.monotonic() - started))
        assert _children(pid) == []
