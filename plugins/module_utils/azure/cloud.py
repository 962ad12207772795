# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure clouds: the endpoints, authority and token audiences every other part follows.

A cloud is named (AzureCloud, AzureUSGovernment, AzureChinaCloud) or given as the URL of its Azure
Resource Manager endpoint (Azure Stack Hub style, or any ARM-compatible endpoint). For a URL the
cloud's description is read from `{arm}/metadata/endpoints?api-version=2022-09-01` - the document
`az cloud register --endpoint-resource-manager` reads - and cached for a day, so repeated tasks do
not pay a request for it.
"""

from __future__ import annotations

import hashlib
import json
import os

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

METADATA_API_VERSION = "2022-09-01"
METADATA_CACHE_SECONDS = 24 * 3600


class Cloud:
    """Endpoints of one Azure cloud. URLs end with '/', suffixes have no leading dot."""

    __slots__ = ("name", "arm_endpoint", "authority_host", "arm_audience", "graph_endpoint",
                 "graph_audience", "storage_suffix", "sql_suffix", "sql_audience", "is_known")

    def __init__(self, name, arm_endpoint, authority_host, arm_audience, graph_endpoint,
                 graph_audience, storage_suffix, sql_suffix, sql_audience, is_known=False):
        self.name = name
        self.arm_endpoint = _slash(arm_endpoint)
        self.authority_host = _slash(authority_host)
        self.arm_audience = arm_audience
        self.graph_endpoint = _slash(graph_endpoint)
        self.graph_audience = graph_audience
        self.storage_suffix = storage_suffix.lstrip(".")
        self.sql_suffix = sql_suffix.lstrip(".")
        self.sql_audience = sql_audience
        self.is_known = is_known

    @property
    def arm_scope(self):
        return scope_for(self.arm_audience)

    @property
    def graph_scope(self):
        return scope_for(self.graph_audience)

    @property
    def sql_scope(self):
        return scope_for(self.sql_audience)

    def blob_endpoint(self, account):
        return "https://%s.blob.%s/" % (account, self.storage_suffix)

    def as_dict(self):
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other):
        return isinstance(other, Cloud) and self.as_dict() == other.as_dict()

    def __repr__(self):
        return "Cloud(%r, %r)" % (self.name, self.arm_endpoint)


def scope_for(audience):
    """OAuth2 v2 scope for a v1 resource/audience: 'https://x/' -> 'https://x/.default'."""
    return audience.rstrip("/") + "/.default"


def _slash(url):
    return url if url.endswith("/") else url + "/"


# Endpoints of the three public clouds, as azure-cli lists them (src/azure-cli-core/azure/cli/core/
# cloud.py, AZURE_PUBLIC_CLOUD / AZURE_CHINA_CLOUD / AZURE_US_GOV_CLOUD) and as each cloud's own
# /metadata/endpoints document returns them.
KNOWN_CLOUDS = {
    "AzureCloud": Cloud(
        "AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com/",
        "https://management.azure.com/", "https://graph.microsoft.com/",
        "https://graph.microsoft.com/", "core.windows.net", "database.windows.net",
        "https://database.windows.net/", is_known=True),
    "AzureUSGovernment": Cloud(
        "AzureUSGovernment", "https://management.usgovcloudapi.net/",
        "https://login.microsoftonline.us/", "https://management.usgovcloudapi.net/",
        "https://graph.microsoft.us/", "https://graph.microsoft.us/", "core.usgovcloudapi.net",
        "database.usgovcloudapi.net", "https://database.usgovcloudapi.net/", is_known=True),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud", "https://management.chinacloudapi.cn/",
        "https://login.chinacloudapi.cn/", "https://management.chinacloudapi.cn/",
        "https://microsoftgraph.chinacloudapi.cn/", "https://microsoftgraph.chinacloudapi.cn/",
        "core.chinacloudapi.cn", "database.chinacloudapi.cn", "https://database.chinacloudapi.cn/",
        is_known=True),
}

# Other spellings users bring from msrestazure, azure.azcollection and PowerShell.
_ALIASES = {
    "azurepubliccloud": "AzureCloud",
    "public": "AzureCloud",
    "azureusgovernmentcloud": "AzureUSGovernment",
    "usgovernment": "AzureUSGovernment",
    "azurechina": "AzureChinaCloud",
    "china": "AzureChinaCloud",
}


def cloud_by_name(name):
    """A known cloud by (case-insensitive) name or alias, else None."""
    key = (name or "").strip().lower()
    for known in KNOWN_CLOUDS:
        if known.lower() == key:
            return KNOWN_CLOUDS[known]
    alias = _ALIASES.get(key)
    return KNOWN_CLOUDS[alias] if alias else None


PUBLIC_CLOUD = "AzureCloud"
ENTRA_ON_SQL_VM_DOC = "Enable Microsoft Entra authentication for SQL Server on Azure VMs"


def is_public_cloud(cloud):
    """True for Azure's public cloud: AzureCloud by name, or a cloud whose ARM endpoint or sign-in authority
    is the public one (an ARM URL whose metadata describes the public cloud)."""
    public = KNOWN_CLOUDS[PUBLIC_CLOUD]
    return (cloud.name == PUBLIC_CLOUD or cloud.arm_endpoint.lower() == public.arm_endpoint
            or cloud.authority_host.lower() == public.authority_host)


def entra_on_sql_vm_warning(cloud):
    """The warning for a task that enables or uses Microsoft Entra authentication on SQL Server on an Azure
    VM in a cloud other than the public one, or None. Microsoft's "Enable Microsoft Entra authentication for
    SQL Server on Azure VMs" (Limitations) supports it only for SQL Server 2022 on Windows VMs registered with
    the SQL IaaS Agent extension and deployed to the public cloud."""
    if is_public_cloud(cloud):
        return None
    return ("cloud_environment is %s, not the public cloud (%s): Microsoft supports Microsoft Entra authentication "
            "for SQL Server on Azure VMs only for VMs deployed to the public cloud (\"%s\", Limitations). Enabling it, "
            "or signing in to SQL Server with a Microsoft Entra token, may fail in this cloud; use SQL authentication "
            "(sql_auth: sql) there." % (cloud.name, PUBLIC_CLOUD, ENTRA_ON_SQL_VM_DOC))


def arm_base_url(url):
    """The ARM endpoint of a URL given by the user: accepts the endpoint itself or its metadata URL."""
    url = url.strip()
    marker = url.lower().find("/metadata/endpoints")
    if marker >= 0:
        url = url[:marker]
    return _slash(url)


def cloud_from_metadata(document, arm_endpoint):
    """Build a Cloud from a /metadata/endpoints document (a list of clouds, or one cloud).

    The entry whose resourceManager equals `arm_endpoint` wins; a single entry is taken as is.
    """
    entries = document if isinstance(document, list) else [document]
    entries = [entry for entry in entries if isinstance(entry, dict)]
    wanted = _slash(arm_endpoint).lower()
    chosen = None
    for entry in entries:
        if _slash(str(entry.get("resourceManager", ""))).lower() == wanted:
            chosen = entry
            break
    if chosen is None and len(entries) == 1:
        chosen = entries[0]
    if chosen is None:
        raise InvalidInputError(
            "The cloud metadata at %s does not describe the endpoint %s." % (arm_endpoint, arm_endpoint),
            fix="set cloud_environment to the Azure Resource Manager endpoint of your cloud.")
    try:
        auth = chosen["authentication"]
        suffixes = chosen.get("suffixes") or {}
        arm = chosen.get("resourceManager") or arm_endpoint
        audiences = auth.get("audiences") or [arm]
        graph = chosen.get("microsoftGraphResourceId") or chosen.get("graph")
        sql_suffix = suffixes.get("sqlServerHostname") or "database.windows.net"
        return Cloud(
            name=chosen.get("name") or arm_endpoint,
            arm_endpoint=arm,
            authority_host=auth["loginEndpoint"],
            arm_audience=audiences[0],
            graph_endpoint=graph,
            graph_audience=chosen.get("microsoftGraphResourceId") or graph,
            storage_suffix=suffixes.get("storage") or "core.windows.net",
            sql_suffix=sql_suffix,
            sql_audience="https://%s/" % sql_suffix.lstrip("."),
        )
    except (KeyError, TypeError, IndexError, AttributeError) as exc:
        raise InvalidInputError(
            "The cloud metadata at %s lacks %s." % (arm_endpoint, exc),
            fix="check cloud_environment: it must be an Azure Resource Manager endpoint whose "
                "/metadata/endpoints document lists loginEndpoint, audiences and "
                "microsoftGraphResourceId.")


def _cache_path(arm_endpoint, cache_dir):
    digest = hashlib.sha256(arm_endpoint.lower().encode("utf-8")).hexdigest()[:24]
    return os.path.join(cache_dir, "cloud-%s.json" % digest)


def default_cache_dir():
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files import default_root
    return default_root()


def _read_cache(cache_dir, path, now):
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files import read_file
    body = read_file(cache_dir, path, max_age=METADATA_CACHE_SECONDS, now=now)
    try:
        return json.loads(body.decode("utf-8")) if body is not None else None
    except ValueError:
        return None


def _write_cache(cache_dir, path, document):
    # The metadata is public; a cache that cannot be written only costs a request next time.
    from ansible_collections.sqlvm.backup.plugins.module_utils.common.private_files import write_file
    write_file(cache_dir, path, json.dumps(document))


def resolve_cloud(name_or_url, fetch_metadata=None, cache_dir=None, now=None):
    """The Cloud for a name or an ARM endpoint URL.

    fetch_metadata(url) -> parsed JSON is called for URLs that are not a known cloud's ARM endpoint
    and not in the cache (callers pass pipeline.fetch_cloud_metadata bound to their deadline: this
    module sends nothing itself, so it sits below the HTTP pipeline).
    """
    value = (name_or_url or "AzureCloud").strip()
    if not value.lower().startswith(("https://", "http://")):
        cloud = cloud_by_name(value)
        if cloud is None:
            raise InvalidInputError(
                "Unknown cloud_environment %r." % value,
                fix="use AzureCloud, AzureUSGovernment or AzureChinaCloud, or the https:// URL of "
                    "your cloud's Azure Resource Manager endpoint.")
        return cloud
    arm = arm_base_url(value)
    if not arm.lower().startswith("https://"):
        raise InvalidInputError(
            "cloud_environment %s is not an https:// URL." % value,
            fix="Azure refuses bearer tokens over plain http; use the https:// endpoint.")
    for cloud in KNOWN_CLOUDS.values():
        if cloud.arm_endpoint.lower() == arm.lower():
            return cloud
    cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
    path = _cache_path(arm, cache_dir)
    document = _read_cache(cache_dir, path, now)
    if document is None:
        if fetch_metadata is None:
            raise ValueError("resolve_cloud needs fetch_metadata to read %s's metadata" % arm)
        url = "%smetadata/endpoints?api-version=%s" % (arm, METADATA_API_VERSION)
        document = fetch_metadata(url)
        cloud = cloud_from_metadata(document, arm)
        _write_cache(cache_dir, path, document)
        return cloud
    return cloud_from_metadata(document, arm)
