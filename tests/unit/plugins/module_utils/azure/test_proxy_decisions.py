"""The transport's proxy decisions against requests' own, as the oracle: for every environment and URL
below, StdlibTransport goes to the proxy requests would go to (requests.utils.get_environ_proxies, then
select_proxy), or direct when requests would. The sign-in goes through requests: both must agree."""
import itertools

import pytest
from requests.utils import get_environ_proxies, prepend_scheme_if_needed, select_proxy

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import transport as tr

URLS = [
    "https://management.azure.com/subscriptions?api-version=2022-12-01",
    "https://Management.Azure.com:443/x",
    "https://login.microsoftonline.com/tenant/oauth2/v2.0/token",
    "https://graph.microsoft.com/v1.0/me",
    "https://stsql.blob.core.windows.net/c/b",
    "https://10.1.2.3/x",
    "https://10.1.2.3:8443/x",
    "https://192.168.7.9/x",
    "https://[fd00::5]/x",
    "https://localhost:8443/x",
    "http://169.254.169.254/metadata/identity/oauth2/token",
    "https://arm.contoso.internal:8443/metadata/endpoints",
]
PROXIES = [
    {"HTTPS_PROXY": "http://proxy.corp:3128"},
    {"https_proxy": "proxy.corp:8080"},
    {"HTTPS_PROXY": "https://ops:p%40ss@proxy.corp:3129"},
    {"ALL_PROXY": "http://all.corp:3128", "HTTP_PROXY": "http://plain.corp:80"},
    {"https_proxy": "", "HTTPS_PROXY": "http://upper.corp:3128"},  # an empty lower-case spelling unsets it
    {"https_proxy": "http://lower.corp:1", "HTTPS_PROXY": "http://upper.corp:2"},
    {"HTTP_PROXY": "http://cgi.corp:80", "REQUEST_METHOD": "GET"},  # CGI: HTTP_PROXY may be a header
]
NO_PROXIES = [
    {},
    {"NO_PROXY": "*"},
    {"NO_PROXY": "localhost,*"},
    {"no_proxy": ".azure.com"},
    {"NO_PROXY": "azure.com, .windows.net"},
    {"NO_PROXY": "zure.com"},
    {"NO_PROXY": "Management.Azure.COM"},
    {"NO_PROXY": "management.azure.com:443"},
    {"NO_PROXY": "arm.contoso.internal:8443"},
    {"NO_PROXY": "localhost:8443"},
    {"NO_PROXY": "10.0.0.0/8"},
    {"NO_PROXY": "192.168.0.0/16,10.1.0.0/16"},
    {"NO_PROXY": "10.1.2.3"},
    {"NO_PROXY": "10.1.2.3/33"},
    {"NO_PROXY": "fd00::/8"},
    {"NO_PROXY": "169.254.169.254"},
    {"no_proxy": "", "NO_PROXY": "management.azure.com"},
    {"no_proxy": "graph.microsoft.com", "NO_PROXY": "management.azure.com"},
]
_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD")


def requests_choice(url):
    """The proxy requests uses for `url` under os.environ (RequestsTransport's session trusts the environment)."""
    proxy = select_proxy(url, get_environ_proxies(url))
    return prepend_scheme_if_needed(proxy, "http") if proxy else None


@pytest.mark.parametrize("proxies, no_proxy", list(itertools.product(PROXIES, NO_PROXIES)))
def test_the_transport_chooses_the_proxy_requests_chooses(monkeypatch, proxies, no_proxy):
    import os
    for name in list(os.environ):
        if name.lower() in _VARIABLES:
            monkeypatch.delenv(name)
    for name, value in dict(proxies, **no_proxy).items():
        monkeypatch.setenv(name, value)
    environ = dict(os.environ)
    differences = [(url, tr.proxy_url_for(url, environ), requests_choice(url)) for url in URLS
                   if tr.proxy_url_for(url, environ) != requests_choice(url)]
    assert not differences


def test_an_https_proxy_keeps_its_scheme_and_credentials():
    environ = {"HTTPS_PROXY": "https://ops:p%40ss@proxy.corp:3129"}
    assert tr.proxy_url_for(URLS[0], environ) == "https://ops:p%40ss@proxy.corp:3129"
    assert tr.proxy_for(URLS[0], environ)[:2] == ("proxy.corp", 3129)
    assert tr.proxy_for(URLS[0], {"HTTPS_PROXY": "https://proxy.corp"})[:2] == ("proxy.corp", 443)
