"""Result carries changed, before/after from the tracker, warnings and values; finish() exits with them."""
import json

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.sqlvm.backup.plugins.module_utils import base
from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import IGNORE_CASE, DifferenceTracker
from ansible_collections.sqlvm.backup.plugins.module_utils.common.result import Result

import pytest


def test_from_tracker_takes_changed_and_the_diff():
    tracker = DifferenceTracker()
    tracker.add("primary", "abc", "ABC", IGNORE_CASE)
    tracker.add("enabled", False, True)
    result = Result.from_tracker(tracker, warnings=["w1"], principal_id="p")
    assert result.changed and result.before == {"primary": "abc", "enabled": False}
    assert result.after == {"primary": "abc", "enabled": True}
    assert result.warn("w2").warnings == ["w1", "w2"] and result.values == {"principal_id": "p"}
    assert not Result.from_tracker(DifferenceTracker()).changed


@pytest.mark.parametrize("diff", [False, True])
def test_finish_exits_with_warnings_diff_and_values(monkeypatch, capsys, diff):
    args = {"ANSIBLE_MODULE_ARGS": {"_ansible_diff": diff}}
    monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps(args)))
    monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    module = base.SqlvmModule({})
    warned = []
    monkeypatch.setattr(module, "warn", warned.append)
    with pytest.raises(SystemExit):
        module.finish(Result(True, {"a": 1}, {"a": 2}, ["careful"], thing="x"))
    out = json.loads(capsys.readouterr().out)
    assert out["changed"] and out["thing"] == "x" and warned == ["careful"]
    assert ("diff" in out) == diff and (not diff or out["diff"] == {"before": {"a": 1}, "after": {"a": 2}})
