import json
import os

import pytest

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import cloud as cloud_mod
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS, resolve_cloud
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import InvalidInputError

STACK = {
    "name": "AzureStackLab",
    "resourceManager": "https://management.local.azurestack.external/",
    "authentication": {"loginEndpoint": "https://adfs.local.azurestack.external/adfs/",
                       "audiences": ["https://management.adfs.azurestack.local/4de154de-0000"],
                       "tenant": "adfs", "identityProvider": "ADFS"},
    "microsoftGraphResourceId": "https://graph.local.azurestack.external/",
    "suffixes": {"storage": "local.azurestack.external", "sqlServerHostname": ".sql.local.azurestack.external"},
}


@pytest.mark.parametrize("name, arm, authority, graph, storage, sql", [
    ("AzureCloud", "https://management.azure.com/", "https://login.microsoftonline.com/",
     "https://graph.microsoft.com/", "core.windows.net", "database.windows.net"),
    ("azureusgovernment", "https://management.usgovcloudapi.net/", "https://login.microsoftonline.us/",
     "https://graph.microsoft.us/", "core.usgovcloudapi.net", "database.usgovcloudapi.net"),
    ("AzureChinaCloud", "https://management.chinacloudapi.cn/", "https://login.chinacloudapi.cn/",
     "https://microsoftgraph.chinacloudapi.cn/", "core.chinacloudapi.cn", "database.chinacloudapi.cn"),
    ("AzurePublicCloud", "https://management.azure.com/", "https://login.microsoftonline.com/",
     "https://graph.microsoft.com/", "core.windows.net", "database.windows.net"),
])
def test_known_clouds_by_name(name, arm, authority, graph, storage, sql):
    cloud = resolve_cloud(name, fetch_metadata=pytest.fail)
    assert (cloud.arm_endpoint, cloud.authority_host, cloud.graph_endpoint, cloud.storage_suffix,
            cloud.sql_suffix) == (arm, authority, graph, storage, sql)
    assert cloud.is_known
    assert cloud.graph_scope == graph + ".default"
    assert cloud.sql_scope == "https://%s/.default" % sql


def test_default_is_public_cloud():
    assert resolve_cloud(None, fetch_metadata=pytest.fail) is KNOWN_CLOUDS["AzureCloud"]


def test_known_arm_url_needs_no_metadata():
    assert resolve_cloud("https://management.usgovcloudapi.net", fetch_metadata=pytest.fail).name == "AzureUSGovernment"


def test_unknown_name_says_what_to_use():
    with pytest.raises(InvalidInputError) as caught:
        resolve_cloud("AzureGermanCloud")
    assert "AzureUSGovernment" in caught.value.msg


def test_plain_http_refused():
    with pytest.raises(InvalidInputError, match="https"):
        resolve_cloud("http://127.0.0.1:1234/")


def test_custom_cloud_follows_metadata_everywhere(tmp_path):
    fetched = []

    def fetch(url):
        fetched.append(url)
        return [KNOWN_CLOUDS_DOC, STACK]  # a list, as the 2022-09-01 document is

    cloud = resolve_cloud("https://management.local.azurestack.external", fetch_metadata=fetch,
                          cache_dir=str(tmp_path))
    assert fetched == ["https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01"]
    assert cloud.name == "AzureStackLab" and not cloud.is_known
    assert cloud.authority_host == "https://adfs.local.azurestack.external/adfs/"
    assert cloud.arm_scope == "https://management.adfs.azurestack.local/4de154de-0000/.default"
    assert cloud.graph_endpoint == "https://graph.local.azurestack.external/"
    assert cloud.storage_suffix == "local.azurestack.external"
    assert cloud.blob_endpoint("acct") == "https://acct.blob.local.azurestack.external/"
    assert cloud.sql_suffix == "sql.local.azurestack.external"
    assert cloud.sql_audience == "https://sql.local.azurestack.external/"


KNOWN_CLOUDS_DOC = {"name": "AzureCloud", "resourceManager": "https://management.azure.com/",
                    "authentication": {"loginEndpoint": "https://login.microsoftonline.com/",
                                       "audiences": ["https://management.core.windows.net/"]},
                    "microsoftGraphResourceId": "https://graph.microsoft.com/", "suffixes": {}}


def test_metadata_url_is_accepted_and_single_document_too(tmp_path):
    cloud = resolve_cloud("https://management.local.azurestack.external/metadata/endpoints?api-version=2019-05-01",
                          fetch_metadata=lambda url: STACK, cache_dir=str(tmp_path))
    assert cloud.arm_endpoint == "https://management.local.azurestack.external/"


def test_metadata_is_cached_for_a_day(tmp_path):
    calls = []

    def fetch(url):
        calls.append(url)
        return STACK

    url = "https://management.local.azurestack.external/"
    first = resolve_cloud(url, fetch_metadata=fetch, cache_dir=str(tmp_path))
    second = resolve_cloud(url, fetch_metadata=fetch, cache_dir=str(tmp_path))
    assert first == second and len(calls) == 1
    # A day later the document is read again.
    resolve_cloud(url, fetch_metadata=fetch, cache_dir=str(tmp_path),
                  now=__import__("time").time() + cloud_mod.METADATA_CACHE_SECONDS + 10)
    assert len(calls) == 2
    files = os.listdir(str(tmp_path))
    assert len(files) == 1 and json.loads((tmp_path / files[0]).read_text())["name"] == "AzureStackLab"


def test_metadata_for_another_endpoint_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="does not describe"):
        resolve_cloud("https://arm.example.test/", fetch_metadata=lambda url: [KNOWN_CLOUDS_DOC, STACK],
                      cache_dir=str(tmp_path))


def test_incomplete_metadata_names_what_is_missing(tmp_path):
    with pytest.raises(InvalidInputError, match="authentication"):
        resolve_cloud("https://arm.example.test/", fetch_metadata=lambda url: {"name": "x"},
                      cache_dir=str(tmp_path))
