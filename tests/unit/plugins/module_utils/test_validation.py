"""check_text refuses what a user cannot have meant, naming the option; nested_shape_problem names the option
whose value is not the list of dicts (or dict) it takes."""
import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.base import nested_shape_problem
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.common.validation import check_text, has_control_character


@pytest.mark.parametrize("value, fragment", [
    ("name\n", "line break"), ("na\rme", "line break"), ("na\tme", "line break"), ("x\x00", "line break"),
    ("x\x85", "line break"), (" name", "blanks"), ("name ", "blanks"), (3, "must be a string"),
])
def test_check_text_refuses_naming_the_option(value, fragment):
    with pytest.raises(InvalidInputError, match="^my_option .*%s" % fragment):
        check_text(value, "my_option")


def test_check_text_keeps_good_text():
    assert check_text("Storage Blob Data Contributor", "role") == "Storage Blob Data Contributor"
    assert not has_control_character("ünïcode-ok (1)")


SPEC = dict(password=dict(type="str", no_log=True),
            databases=dict(type="list", elements="dict", options=dict(
                name=dict(type="str"), grants=dict(type="list", elements="dict", options=dict(role=dict(type="str"))))),
            settings=dict(type="dict", options=dict(items=dict(type="list", elements="dict"))))


@pytest.mark.parametrize("params, problem", [
    (dict(databases="app", password="S3cret"), "databases must be a list of dicts (for example [{name: ...}]), not a str."),
    (dict(databases=["app"]), "databases[0] must be a dict, not a str."),
    (dict(databases=[{"name": "a", "grants": "x"}]), "databases[0].grants must be a list of dicts"),
    (dict(settings={"items": 5}), "settings.items must be a list of dicts"),
    (dict(databases=[{"name": "a"}], settings={"items": [{}]}), None),
    (dict(databases=None), None),
])
def test_nested_shape_problem_names_the_option_never_the_value(params, problem):
    found = nested_shape_problem(SPEC, params)
    if problem is None:
        assert found is None
    else:
        assert found.startswith(problem) and "S3cret" not in found and "app" not in found
