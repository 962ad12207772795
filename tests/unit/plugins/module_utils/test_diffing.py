import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.common.diffing import DifferenceTracker, satisfies


@pytest.mark.parametrize("current, desired, mode, expected", [
    ("a", "a", "strict", True),
    ("A", "a", "strict", False),
    ("/Subscriptions/X", "/subscriptions/x", "ignore_case", True),
    (["b", "a"], ["a", "b"], "set", True),
    (["a", "b", "c"], ["a", "b"], "set", False),
    (["a", "b", "c"], ["B"], "subset", True),
    (["a"], ["a", "b"], "subset", False),
    ({"type": "SystemAssigned", "x": 1}, {"type": "systemassigned"}, "subset", True),
    ({"type": "None"}, {"type": "SystemAssigned"}, "subset", False),
    (None, [], "subset", True),
    (None, ["a"], "set", False),
    ("anything", None, "strict", True),
])
def test_comparison_modes(current, desired, mode, expected):
    assert satisfies(current, desired, mode) is expected


def test_unknown_mode_is_a_programming_error():
    with pytest.raises(ValueError):
        satisfies(1, 1, "fuzzy")


def test_tracker_collects_changes_and_builds_the_diff():
    tracker = DifferenceTracker()
    tracker.add("primary_client_id", "", "abc")
    tracker.add("scope", "/SUBSCRIPTIONS/x", "/subscriptions/x", mode="ignore_case")
    tracker.add("identities", ["a", "b"], ["a"], mode="subset")
    assert tracker.has_differences and tracker.changed_names() == ["primary_client_id"]
    assert tracker.differences == [dict(name="primary_client_id", before="", after="abc")]
    assert tracker.diff(only_changed=True) == dict(before={"primary_client_id": ""}, after={"primary_client_id": "abc"})
    full = tracker.diff()
    assert full["after"]["scope"] == "/SUBSCRIPTIONS/x"  # unchanged values keep their current form


def test_tracker_without_differences():
    tracker = DifferenceTracker()
    tracker.add("x", 1, 1)
    tracker.add("y", 1, 2, differs=False)
    assert not tracker.has_differences and tracker.differences == []


def test_of_states_gives_both_states_back_with_only_their_own_keys():
    tracker = DifferenceTracker.of_states({}, {"name": "a", "roles": ["x"]})
    assert tracker.has_differences and tracker.before() == {} and tracker.after() == {"name": "a", "roles": ["x"]}
    tracker = DifferenceTracker.of_states({"name": "a", "state": None}, {"name": "a", "state": None, "flag": True})
    assert tracker.before() == {"name": "a", "state": None}
    assert tracker.after() == {"name": "a", "state": None, "flag": True} and tracker.changed_names() == ["flag"]
    same = DifferenceTracker.of_states({"name": "a", "sid": None}, {"name": "a", "sid": None})
    assert not same.has_differences and same.after() == {"name": "a", "sid": None}
    assert DifferenceTracker.of_states({"name": "a"}, {}).after() == {}
