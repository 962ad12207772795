# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only module (never shipped): exercises SqlvmModule end to end under ansible-playbook.

It reads an ARM path or fails on purpose, so the harness can prove option handling, error exits,
check/diff handling and secret masking without any real module."""

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlvm_base_probe
short_description: Test probe for the SqlvmModule base (not shipped)
description: Test probe for the SqlvmModule base.
options:
  action:
    description: What to do.
    type: str
    choices: [settings, get, graph_get, fail_input, fail_azure, change]
    default: settings
  path:
    description: ARM path to GET for O(action=get), Graph v1.0 path for O(action=graph_get).
    type: str
author: sqlvm.backup developers
extends_documentation_fragment:
  - sqlvm.backup.azure_auth
"""

from ansible_collections.sqlvm.backup.plugins.module_utils.base import SqlvmModule
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AzureApiError, InvalidInputError


def _probe(module):
    action = module.params["action"]
    if action == "settings":
        settings = module.auth_settings
        return dict(changed=False, origin=settings.origin, auth_source=settings.auth_source,
                    has_secret=bool(settings.secret), cloud=module.azure.cloud.name,
                    imported_azure=_azure_modules())
    if action == "get":
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import send_json
        body = send_json(module.azure.arm, "GET", module.params["path"], operation="read probe",
                         resource=module.params["path"]).body
        return dict(changed=False, body=body)
    if action == "graph_get":
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure import graph
        return dict(changed=False, body=graph.get(module.azure.graph, module.params["path"]))
    if action == "fail_input":
        raise InvalidInputError("probe input is wrong (secret is %s)." % module.auth_settings.secret,
                                fix="pass a better probe.")
    if action == "fail_azure":
        raise AzureApiError("read probe", "/subscriptions/x", 403, "AuthorizationFailed", "denied")
    module.exit(changed=True, before={"value": "old"}, after={"value": "new"}, check_mode=module.check_mode)
    return None


def _azure_modules():
    import sys
    return sorted(name for name in sys.modules if name.startswith("azure.") and name.count(".") == 1)


def main():
    actions = ["settings", "get", "graph_get", "fail_input", "fail_azure", "change"]
    module = SqlvmModule(dict(action=dict(type="str", default="settings", choices=actions),
                              path=dict(type="str")))
    module.run(_probe)


if __name__ == "__main__":
    main()
