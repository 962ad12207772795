# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""AzureSession: what one task needs to talk to Azure - the cloud, the credential (the disk token cache
in front of azure-identity), ARM and Graph pipeline clients and the subscription - each built on first
use and all bounded by the task's one deadline.

It composes the layers below it (cloud.py, auth.py, token_cache.py, pipeline.py) and is built by
SqlvmModule.azure; nothing below it imports it.
"""

from __future__ import annotations

import os

from ansible_collections.sqlvm.backup.plugins.module_utils.azure.arm import SUBSCRIPTIONS_PATH, api_version
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import Deadline, InvalidInputError
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.pipeline import (
    DeadlineExceeded, arm_client, error_from_exception, fetch_cloud_metadata, graph_client, list_paged)


class DeadlineCredential:
    """A TokenCredential that signs in only within the task's deadline: azure-identity's own timeouts
    (a read waits up to a minute, and is retried) do not know the task's `timeout`. The sign-in
    transport bounds each request by the time left (auth.sign_in_transport); this names the step."""

    def __init__(self, credential, deadline):
        self.credential = credential
        self.deadline = deadline

    def get_token(self, *scopes, **kwargs):
        if self.deadline.expired():
            raise DeadlineExceeded(self.deadline.seconds, step="sign-in")
        try:
            return self.credential.get_token(*scopes, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            if self.deadline.expired():
                raise DeadlineExceeded(self.deadline.seconds, step="sign-in") from exc
            raise

    def forget(self, scope):
        forget = getattr(self.credential, "forget", None)
        return bool(forget and forget(scope))


class AzureSession:
    """Everything a module needs to talk to Azure, each part built on first use.

    settings: auth.AuthSettings. `deadline`: the task's (SqlvmModule starts it with the task); without
    one, it starts when the session is created.
    """

    def __init__(self, settings, environ=None, transport=None, token_cache_dir=None, deadline=None):
        self.settings = settings
        self._token_cache_dir = token_cache_dir
        self.deadline = deadline or Deadline(settings.timeout)
        self._environ = environ
        self._transport = transport
        self._cloud = self._credential = self._arm = self._graph = None  # each built on first use
        self._subscription_id = settings.subscription_id

    @property
    def cloud(self):
        if self._cloud is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import resolve_cloud
            self._cloud = resolve_cloud(self.settings.cloud_environment,
                                        fetch_metadata=lambda url: fetch_cloud_metadata(url, self.deadline))
        return self._cloud

    @property
    def resolved_cloud(self):
        """The cloud if a step has needed it already, else None (reading it never sends a request)."""
        return self._cloud

    @property
    def credential(self):
        """A TokenCredential: the disk token cache in front of azure-identity (token_cache.py), or
        azure-identity alone when the cache is off. azure-identity is imported only on a cache miss."""
        if self._credential is None:
            from ansible_collections.sqlvm.backup.plugins.module_utils.azure.auth import build_credential, choose_auth_source
            environ = os.environ if self._environ is None else self._environ
            source = choose_auth_source(self.settings, environ) if self.settings.token_cache else None
            if source is None:
                credential = build_credential(self.settings, self.cloud, environ, deadline=self.deadline)
            else:
                from ansible_collections.sqlvm.backup.plugins.module_utils.azure import token_cache
                credential = token_cache.CachingCredential(
                    lambda: build_credential(self.settings, self.cloud, environ, source=source, deadline=self.deadline),
                    lambda scope: token_cache.cache_key(source, self.settings, self.cloud.authority_host, scope,
                                                        environ),
                    token_cache.TokenCache(self._token_cache_dir or token_cache.default_directory()))
            self._credential = DeadlineCredential(credential, self.deadline)
        return self._credential

    @property
    def arm(self):
        if self._arm is None:
            self._arm = arm_client(self.credential, self.cloud, self.deadline, self._transport)
        return self._arm

    @property
    def graph(self):
        if self._graph is None:
            self._graph = graph_client(self.credential, self.cloud, self.deadline, self._transport)
        return self._graph

    @property
    def subscription_id(self):
        """The subscription: as configured, else the only one the identity can see."""
        if self._subscription_id is None:
            subscriptions = list_paged(self.arm, SUBSCRIPTIONS_PATH,
                                       params={"api-version": api_version("Microsoft.Resources/subscriptions")},
                                       operation="list subscriptions")
            if len(subscriptions) != 1:
                raise InvalidInputError(
                    "subscription_id is not set and the identity sees %d subscriptions."
                    % len(subscriptions),
                    fix="set subscription_id (or AZURE_SUBSCRIPTION_ID).")
            self._subscription_id = subscriptions[0]["subscriptionId"]
        return self._subscription_id

    def token(self, scope):
        """An access token string for `scope` (e.g. cloud.sql_scope), errors as domain errors."""
        from azure.core.exceptions import AzureError
        try:
            return self.credential.get_token(scope).token
        except (AzureError, DeadlineExceeded) as exc:
            raise error_from_exception("get a token for %s" % scope, None, exc) from None
