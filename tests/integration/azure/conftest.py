"""Fixtures for the Azure modules' integration tests: the worker's world (reset per test).

`az` runs tasks through the real ansible-playbook with only the world's env.sh (the variables AWX's
"Microsoft Azure Resource Manager" credential injects) and reports the world's write requests made
during each run (ARM and Graph; token requests are not counted as writes).
"""
import pytest

from playbook_runner import AnsibleRunner


class Az:
    def __init__(self, world, runner):
        self.world = world
        self.admin = world.admin
        self.runner = runner
        self._state = None

    @property
    def env(self):
        return self.world.env

    @property
    def subscription_id(self):
        return self.world.env["AZURE_SUBSCRIPTION_ID"]

    def state(self):
        return self.admin.state()

    def run(self, tasks, **kwargs):
        """Run tasks (a dict or list); return (PlaybookResult, writes during the run)."""
        self.admin.clear_log()
        result = self.runner(tasks if isinstance(tasks, list) else [tasks], **kwargs)
        writes = [e for e in self.admin.requests() if e["kind"] == "write" and e["service"] in ("arm", "graph")]
        return result, writes

    def task(self, module, args, **kwargs):
        """One task of a module, ignore_errors on; returns (TaskResult, writes)."""
        result, writes = self.run([{"name": module, "sqlvm.backup.%s" % module: args, "ignore_errors": True}],
                                  **kwargs)
        if not result.tasks:
            raise AssertionError("no task result; rc=%s\n%s" % (result.rc, result.output[-4000:]))
        return result.tasks[0], writes

    def requests(self):
        return self.admin.requests()

    # world facts ---------------------------------------------------------------------------
    def vm_principal(self, vm):
        return self.state()["vms"][vm]["identities"]["system"]["principal_id"]

    def uami(self, name):
        for rid, uami in self.state()["user_assigned_identities"].items():
            if uami["name"] == name:
                return dict(uami, id=rid)
        raise KeyError(name)

    def group_id(self, display_name):
        for obj in self.state()["directory"]:
            if obj["kind"] == "group" and obj["display_name"] == display_name:
                return obj["object_id"]
        raise KeyError(display_name)

    def storage_scope(self, account="stsqlbackup01", container=None):
        scope = "/subscriptions/%s/resourceGroups/rg-sql/providers/Microsoft.Storage/storageAccounts/%s" % (
            self.subscription_id, account)
        return scope + ("/blobServices/default/containers/%s" % container if container else "")


@pytest.fixture
def az(world, tmp_path, _ansible_cache):
    """The shared world of this xdist worker (tests/integration/conftest.py), reset for this test."""
    world.admin.clear_faults()
    # Only env.sh: AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT,
    # AZURE_CLOUD_ENVIRONMENT (AWX names) and the CA bundle variables.
    runner = AnsibleRunner(tmp_path / "ansible", base_env=dict(world.env), cache_dir=_ansible_cache)
    return Az(world, runner)
