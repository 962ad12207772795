"""Metadata, Entra token service and managed-identity endpoints through azure-identity and MSAL."""
import base64
import json

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from simclients import arm_scope, credential, managed_identity_env, patched_env


def _claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_metadata_endpoints_describe_the_world(sim):
    env, verify = sim.env, sim.env["REQUESTS_CA_BUNDLE"]
    url = env["AZURE_CLOUD_ENVIRONMENT"] + "/metadata/endpoints"
    single = requests.get(url, params={"api-version": "2022-09-01"}, verify=verify).json()
    assert single["resourceManager"] == env["SIM_ARM_URL"] + "/"
    assert single["authentication"]["loginEndpoint"] == env["SIM_LOGIN_URL"] + "/"
    assert single["authentication"]["audiences"][0] == env["SIM_ARM_AUDIENCE"]
    assert single["microsoftGraphResourceId"] == env["SIM_GRAPH_URL"] + "/"
    assert single["suffixes"]["storage"] == env["SIM_STORAGE_SUFFIX"]
    assert single["suffixes"]["sqlServerHostname"]
    old = requests.get(url, params={"api-version": "2015-01-01"}, verify=verify).json()
    assert old["authentication"]["loginEndpoint"] == single["authentication"]["loginEndpoint"]
    listing = requests.get(url, params={"api-version": "2019-05-01"}, verify=verify).json()
    assert isinstance(listing, list) and listing[0]["name"] == single["name"]
    bad = requests.get(url, params={"api-version": "2010-01-01"}, verify=verify)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert {e["service"] for e in sim.admin.requests()} == {"metadata"}


def test_client_secret_credential_gets_a_signed_jwt(sim):
    token = credential(sim).get_token(arm_scope(sim)).token
    claims = _claims(token)
    tenant = sim.env["AZURE_TENANT"]
    assert claims["iss"] == "https://sts.windows.net/%s/" % tenant
    assert claims["tid"] == tenant and claims["appid"] == sim.env["AZURE_CLIENT_ID"]
    # The scope minus "/.default", as Entra sets aud for v1.0 resources requested with a v2 scope.
    assert claims["aud"] == sim.env["SIM_ARM_AUDIENCE"].rstrip("/")
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert claims["oid"] == sim.admin.state()["automation_object_id"]
    # The signature verifies with the published JWKS.
    verify = sim.env["REQUESTS_CA_BUNDLE"]
    oidc = requests.get("%s/%s/v2.0/.well-known/openid-configuration" % (sim.env["SIM_LOGIN_URL"], tenant),
                        verify=verify).json()
    key = requests.get(oidc["jwks_uri"], verify=verify).json()["keys"][0]
    head = token.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert header["kid"] == key["kid"]

    def num(text):
        return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")
    public = rsa.RSAPublicNumbers(num(key["e"]), num(key["n"])).public_key()
    head, body, signature = token.split(".")
    public.verify(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), (head + "." + body).encode(),
                  padding.PKCS1v15(), hashes.SHA256())


def test_wrong_secret_answers_aadsts7000215(sim):
    with pytest.raises(ClientAuthenticationError) as info:
        credential(sim, secret="not-the-secret").get_token(arm_scope(sim))
    assert "AADSTS7000215" in str(info.value)
    raw = requests.post("%s/%s/oauth2/v2.0/token" % (sim.env["SIM_LOGIN_URL"], sim.env["AZURE_TENANT"]),
                        data={"grant_type": "client_credentials", "client_id": sim.env["AZURE_CLIENT_ID"],
                              "client_secret": "wrong", "scope": arm_scope(sim)},
                        verify=sim.env["REQUESTS_CA_BUNDLE"])
    assert raw.status_code == 401
    assert raw.json()["error"] == "invalid_client" and raw.json()["error_codes"] == [7000215]


def test_unknown_client_answers_aadsts700016(sim):
    with pytest.raises(ClientAuthenticationError) as info:
        credential(sim, client_id="00000000-0000-0000-0000-00000000abcd").get_token(arm_scope(sim))
    assert "AADSTS700016" in str(info.value)


def test_imds_token_for_a_vm_system_identity(sim):
    vm = sim.admin.state()["vms"]["sqlvm-ready"]
    with patched_env(**managed_identity_env(sim, "sqlvm-ready")):
        token = ManagedIdentityCredential().get_token("https://storage.azure.com/.default").token
    claims = _claims(token)
    assert claims["oid"] == vm["identities"]["system"]["principal_id"]
    assert claims["appid"] == vm["identities"]["system"]["client_id"]
    assert claims["aud"] == "https://storage.azure.com"
    assert claims["xms_mirid"] == vm["resource_id"]
    assert sim.admin.requests()[-1]["service"] == "imds"


def test_imds_token_for_a_user_assigned_identity_by_client_id(sim):
    vm = sim.admin.state()["vms"]["sqlvm-2025"]
    uami = vm["identities"]["user_assigned"][0]
    with patched_env(**managed_identity_env(sim, "sqlvm-2025")):
        token = ManagedIdentityCredential(client_id=uami["client_id"]).get_token(arm_scope(sim)).token
    assert _claims(token)["oid"] == uami["principal_id"]


def test_app_service_style_endpoint(sim):
    vm = sim.admin.state()["vms"]["sqlvm-uami"]
    env = {"IDENTITY_ENDPOINT": sim.env["SIM_IMDS_URL"] + "/vms/sqlvm-uami/msi/token",
           "IDENTITY_HEADER": sim.env["SIM_IDENTITY_HEADER"], "AZURE_POD_IDENTITY_AUTHORITY_HOST": None}
    with patched_env(**env):
        token = ManagedIdentityCredential().get_token(sim.env["SIM_GRAPH_URL"] + "/.default").token
    claims = _claims(token)
    assert claims["oid"] == vm["identities"]["user_assigned"][0]["principal_id"]
    assert set(claims["roles"]) == {"User.Read.All", "GroupMember.Read.All", "Application.Read.All"}


def test_vm_without_identity_gets_no_token(sim):
    sim.admin.set_current_vm("sqlvm-fresh")
    with patched_env(AZURE_POD_IDENTITY_AUTHORITY_HOST=sim.env["SIM_IMDS_URL"]):
        with pytest.raises(ClientAuthenticationError):
            ManagedIdentityCredential().get_token("https://storage.azure.com/.default")


def test_username_password_grant(sim):
    """AWX's AZURE_AD_USER / AZURE_PASSWORD (ROPC) at the token endpoint. MSAL's user-realm discovery
    drops the port of the authority (msal/authority.py user_realm_discovery), so MSAL-based clients
    cannot use this flow against a world on a non-443 port; the grant itself answers as Entra does."""
    url = "%s/%s/oauth2/v2.0/token" % (sim.env["SIM_LOGIN_URL"], sim.env["AZURE_TENANT"])
    form = {"grant_type": "password", "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
            "username": "dba1@contoso.onmicrosoft.com", "password": "Dba1-Passw0rd!", "scope": arm_scope(sim)}
    ok = requests.post(url, data=form, verify=sim.env["REQUESTS_CA_BUNDLE"])
    assert ok.status_code == 200
    claims = _claims(ok.json()["access_token"])
    assert claims["upn"] == "dba1@contoso.onmicrosoft.com" and claims["idtyp"] == "user"
    bad = requests.post(url, data=dict(form, password="wrong"), verify=sim.env["REQUESTS_CA_BUNDLE"])
    assert bad.status_code == 400 and bad.json()["error_codes"] == [50126]


def test_workload_identity_federation(sim, tmp_path):
    from azure.identity import WorkloadIdentityCredential
    token_file = tmp_path / "token"
    token_file.write_text(sim.admin.federated_token())
    cred = WorkloadIdentityCredential(tenant_id=sim.env["AZURE_TENANT"], client_id=sim.env["AZURE_CLIENT_ID"],
                                      token_file_path=str(token_file), authority=sim.env["SIM_LOGIN_URL"],
                                      disable_instance_discovery=True)
    assert _claims(cred.get_token(arm_scope(sim)).token)["appid"] == sim.env["AZURE_CLIENT_ID"]
    token_file.write_text(sim.admin.federated_token(subject="system:serviceaccount:other:sa"))
    stranger = WorkloadIdentityCredential(tenant_id=sim.env["AZURE_TENANT"], client_id=sim.env["AZURE_CLIENT_ID"],
                                          token_file_path=str(token_file), authority=sim.env["SIM_LOGIN_URL"],
                                          disable_instance_discovery=True)
    with pytest.raises(ClientAuthenticationError) as info:
        stranger.get_token(arm_scope(sim))
    assert "AADSTS70021" in str(info.value)


def test_instance_discovery_and_token_requests_count_as_reads(sim):
    verify = sim.env["REQUESTS_CA_BUNDLE"]
    body = requests.get(sim.env["SIM_LOGIN_URL"] + "/common/discovery/instance",
                        params={"api-version": "1.1", "authorization_endpoint": "x"}, verify=verify).json()
    assert body["tenant_discovery_endpoint"].startswith(sim.env["SIM_LOGIN_URL"] + "/")
    credential(sim).get_token(arm_scope(sim))
    with patched_env(**managed_identity_env(sim, "sqlvm-ready")):
        ManagedIdentityCredential().get_token("https://storage.azure.com/.default")
    # Getting tokens writes nothing: check-mode tests count writes from this log.
    assert sim.admin.writes() == []
    assert {e["service"] for e in sim.admin.requests()} == {"login", "imds"}
