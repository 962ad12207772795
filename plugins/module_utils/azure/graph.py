# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft Graph v1.0 REST through azure-core (pipeline.graph_client): same retry policy, same errors.

msgraph-sdk is deliberately not used: measured here it adds about 1.4 s per task and about 420 MB,
and it is asyncio-only (see README, design notes). Paths are relative to {graph_endpoint}v1.0/.
Paging follows @odata.nextLink (learn.microsoft.com/graph/paging); throttling (429 + Retry-After,
learn.microsoft.com/graph/throttling) is handled by the shared retry policy.
"""

from __future__ import annotations

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import list_paged, send_json

# The Directory Readers role's template id, the same in every tenant (Microsoft Learn "Microsoft Entra
# built-in roles"; learn.microsoft.com/graph/api/resources/directoryrole).
DIRECTORY_READERS_TEMPLATE_ID = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"


def get(client, path, operation=None, resource=None, params=None, headers=None, missing_ok=False):
    """GET one object; with missing_ok, a 404 returns None instead of raising."""
    expected = (200, 404) if missing_ok else (200,)
    response = send_json(client, "GET", path, expected=expected, operation=operation or "read " + path,
                         resource=resource or path, params=params, headers=headers)
    return None if response.status == 404 else response.body


def list_all(client, path, operation=None, resource=None, params=None, headers=None):
    """Every item of a collection, following @odata.nextLink."""
    return list_paged(client, path, operation=operation or "list " + path, resource=resource or path,
                      params=params, headers=headers, next_key="@odata.nextLink")


def post(client, path, body, operation=None, resource=None, expected=(200, 201, 204), headers=None):
    return send_json(client, "POST", path, body=body, expected=expected,
                     operation=operation or "create " + path, resource=resource or path,
                     headers=headers).body


def delete(client, path, operation=None, resource=None, missing_ok=True, headers=None):
    """DELETE; a 404 counts as already gone unless missing_ok is False. Returns True if deleted."""
    expected = (204, 200, 404) if missing_ok else (204, 200)
    response = send_json(client, "DELETE", path, expected=expected,
                         operation=operation or "delete " + path, resource=resource or path,
                         headers=headers)
    return response.status != 404
