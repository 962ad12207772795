# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure pipeline clients for the fleet modules' worker threads.

The collection's HTTP transport keeps one connection per host and is not shared between threads, so each worker
thread gets its own ARM or Graph pipeline client (same credential, cloud and task deadline); the thread that
starts the workers keeps the session's own. Before the workers start, the task signs in once (they then find the
token) and imports what a request needs: a first import of azure-core modules from several threads at once can
fail ("partially initialized module"), as seen here with azure.core.rest.
"""
from __future__ import annotations

import threading


class ThreadClients:
    """``client(kind)``, kind 'arm' or 'graph': the session's client in the thread that made this object, else one
    per worker thread, built by ``make_client(kind)`` (default: pipeline.arm_client / graph_client)."""

    def __init__(self, session, make_client=None):
        self._session = session
        self._owner = threading.get_ident()
        self._local = threading.local()
        self._make_client = make_client

    def client(self, kind):
        if threading.get_ident() == self._owner:
            return getattr(self._session, kind)
        found = getattr(self._local, kind, None)
        if found is None:
            if self._make_client is not None:
                found = self._make_client(kind)
            else:
                from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline
                build = pipeline.arm_client if kind == "arm" else pipeline.graph_client
                found = build(self._session.credential, self._session.cloud, self._session.deadline)
            setattr(self._local, kind, found)
        return found


def prepare_for_threads(session, kinds=("arm",)):
    """Sign in for each kind's scope in this thread, build this thread's ARM client (its policies and transport are
    imported then) and import the azure-core modules a request needs, before any worker thread starts."""
    for kind in kinds:
        session.token(getattr(session.cloud, kind + "_scope"))
    session.arm  # pylint: disable=pointless-statement  # builds the pipeline client: policies, transport
    import azure.core.exceptions  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel
    import azure.core.rest  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel
