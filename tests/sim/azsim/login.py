"""Microsoft Entra token service (login endpoint): OIDC discovery, JWKS, instance discovery,
client credentials (secret) and ROPC on the v2.0 and v1 token endpoints.

Shapes follow the Microsoft identity platform docs: "OAuth 2.0 client credentials flow"
(learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow), "OpenID Connect
discovery" and the AADSTS error reference (learn.microsoft.com/entra/identity-platform/reference-error-codes).
"""
import time
import uuid

from .httpd import Response, Router
from .scenario import GUID_RE
from .tokens import TokenError


def _now_stamp():
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())


def aad_error(status, error, code, description):
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    return Response(status, {
        "error": error,
        "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s" % (
            code, description, trace, corr, _now_stamp()),
        "error_codes": [code], "timestamp": _now_stamp(), "trace_id": trace, "correlation_id": corr,
        "error_uri": "%s/error?code=%d" % ("https://login.microsoftonline.com", code)},
        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


class LoginService:
    def __init__(self, world):
        self.world = world
        r = self.router = Router()
        t = r"/(?P<tenant>[^/]+)"
        r.add("GET", t + r"/v2\.0/\.well-known/openid-configuration", self.openid_v2,
              "/{tenant}/v2.0/.well-known/openid-configuration")
        r.add("GET", t + r"/\.well-known/openid-configuration", self.openid_v1,
              "/{tenant}/.well-known/openid-configuration")
        r.add("GET", t + r"/discovery/v2\.0/keys", self.keys, "/{tenant}/discovery/v2.0/keys")
        r.add("GET", t + r"/discovery/keys", self.keys, "/{tenant}/discovery/keys")
        r.add("GET", r"/common/discovery/instance", self.instance_discovery, "/common/discovery/instance")
        r.add("GET", r"/common/userrealm/(?P<user>[^/]+)", self.user_realm, "/common/userrealm/{user}")
        r.add("POST", t + r"/oauth2/v2\.0/token", self.token_v2, "/{tenant}/oauth2/v2.0/token", "read")
        r.add("POST", t + r"/oauth2/token", self.token_v1, "/{tenant}/oauth2/token", "read")

    def __call__(self, request):
        handler, params = self.router.match(request)
        if handler is None:
            return Response(404, {"error": "not_found", "error_description": "No such endpoint."})
        return handler(request, **params)

    @property
    def base(self):
        return self.world.urls["login"]

    def _tenant_ok(self, tenant):
        w = self.world
        return tenant.lower() in (w.tenant_id, w.domain.lower(), "common", "organizations")

    def openid_v2(self, request, tenant):
        if not self._tenant_ok(tenant):
            return aad_error(400, "invalid_tenant", 90002, "Tenant '%s' not found. Check to make sure you have "
                             "the correct tenant ID and are signing into the correct cloud." % tenant)
        tid = self.world.tenant_id if tenant.lower() not in ("common", "organizations") else "{tenantid}"
        base = self.base
        return Response(200, {
            "token_endpoint": "%s/%s/oauth2/v2.0/token" % (base, tenant),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": "%s/%s/discovery/v2.0/keys" % (base, tenant),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "%s/%s/v2.0" % (base, tid),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "%s/oidc/userinfo" % base,
            "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (base, tenant),
            "device_authorization_endpoint": "%s/%s/oauth2/v2.0/devicecode" % (base, tenant),
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": "%s/%s/oauth2/v2.0/logout" % (base, tenant),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver", "oid"],
            "kerberos_endpoint": "%s/%s/kerberos" % (base, tenant),
            "tenant_region_scope": "EU", "cloud_instance_name": "sim.test", "cloud_graph_host_name": "graph.sim.test",
            "msgraph_host": self.world.urls["graph"].split("://", 1)[1], "rbac_url": self.world.urls["arm"],
        })

    def openid_v1(self, request, tenant):
        response = self.openid_v2(request, tenant)
        return response

    def keys(self, request, tenant):
        return Response(200, self.world.jwks)

    def instance_discovery(self, request):
        host = self.base.split("://", 1)[1]
        return Response(200, {
            "tenant_discovery_endpoint": "%s/%s/v2.0/.well-known/openid-configuration" % (
                self.base, self.world.tenant_id),
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]})

    def user_realm(self, request, user):
        domain = user.rpartition("@")[2].lower()
        managed = domain == self.world.domain.lower()
        return Response(200, {"ver": "1.0", "account_type": "Managed" if managed else "Unknown",
                              "domain_name": domain, "cloud_instance_name": "sim.test",
                              "cloud_audience_urn": "urn:federation:MicrosoftOnline"})

    # -------------------------------------------------------------- token endpoints
    def token_v2(self, request, tenant):
        form = request.form()
        scope = form.get("scope", "")
        resources = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
        if len(resources) != 1 or not resources[0].endswith("/.default") and form.get("grant_type") == "client_credentials":
            return aad_error(400, "invalid_scope", 1002012, "The provided value for scope %s is not valid. Client "
                             "credential flows must have a scope value with /.default suffixed to the resource "
                             "identifier (application ID URI)." % scope)
        resource = resources[0]
        audience = resource[:-len("/.default")] if resource.endswith("/.default") else resource.rpartition("/")[0]
        return self._issue(request, tenant, form, audience, v2=True)

    def token_v1(self, request, tenant):
        form = request.form()
        if not form.get("resource"):
            return aad_error(400, "invalid_request", 900144, "The request body must contain the following "
                             "parameter: 'resource'.")
        return self._issue(request, tenant, form, form["resource"], v2=False)

    @property
    def federation_issuer(self):
        return self.world.urls["login"] + "/federation"

    def _check_federated_assertion(self, sp, form):
        """Workload identity federation: the assertion is a JWT from a trusted issuer whose issuer,
        subject and audience match one of the app's federated identity credentials. The world is the
        only issuer it can verify (its own key; tokens from SimAdmin.federated_token)."""
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return aad_error(400, "invalid_request", 90014, "The request body must contain the following "
                             "parameter: 'client_assertion_type'.")
        try:
            claims = self.world.signer.verify_signature(form["client_assertion"])
        except TokenError:
            return aad_error(401, "invalid_client", 700027, "Client assertion failed signature validation.")
        now = time.time()
        if claims.get("exp", 0) < now or claims.get("nbf", 0) > now + 300:
            return aad_error(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        records = sp.get("federated_credentials") or []
        issuer = claims.get("iss")
        matching = [r for r in records if (r["issuer"] or self.federation_issuer) == issuer]
        if not matching:
            return aad_error(401, "invalid_client", 700211, "No matching federated identity record found for "
                             "presented assertion issuer '%s'. Please check your federated identity credential "
                             "Subject, Audience and Issuer against the presented assertion." % issuer)
        audiences = claims.get("aud")
        audiences = audiences if isinstance(audiences, list) else [audiences]
        if not any(r["subject"] == claims.get("sub") and set(audiences) & set(r["audiences"]) for r in matching):
            return aad_error(401, "invalid_client", 70021, "No matching federated identity record found for "
                             "presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion "
                             "Audience: '%s'." % (issuer, claims.get("sub"), ",".join(map(str, audiences))))
        return None

    def _issue(self, request, tenant, form, audience, v2):
        w = self.world
        if not self._tenant_ok(tenant) or tenant.lower() in ("common", "organizations") and \
                form.get("grant_type") == "client_credentials":
            return aad_error(400, "invalid_request", 90002, "Tenant '%s' not found. Check to make sure you have "
                             "the correct tenant ID and are signing into the correct cloud." % tenant)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            client_id = (form.get("client_id") or "").lower()
            with w.lock:
                sp = w.objects.get(w.sp_by_app.get(client_id, "")) if GUID_RE.match(client_id) else None
                if sp is None or sp["servicePrincipalType"] != "Application":
                    return aad_error(400, "unauthorized_client", 700016, "Application with identifier '%s' was "
                                     "not found in the directory '%s'. This can happen if the application has not "
                                     "been installed by the administrator of the tenant or consented to by any "
                                     "user in the tenant. You may have sent your authentication request to the "
                                     "wrong tenant." % (form.get("client_id"), w.domain))
                if form.get("client_assertion"):
                    failure = self._check_federated_assertion(sp, form)
                    if failure is not None:
                        return failure
                elif not sp.get("secret") or form.get("client_secret") != sp["secret"]:
                    return aad_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the "
                                     "secret being sent in the request is the client secret value, not the client "
                                     "secret ID, for a secret added to app '%s'." % sp["appId"])
                object_id = sp["id"]
        elif grant == "password":
            username = (form.get("username") or "").lower()
            with w.lock:
                user = next((o for o in w.objects.values() if o["kind"] == "user"
                             and o["userPrincipalName"].lower() == username), None)
                if user is None:
                    return aad_error(400, "invalid_grant", 50034, "The user account {EUII Hidden} does not exist "
                                     "in the %s directory. To sign into this application, the account must be "
                                     "added to the directory." % w.domain)
                if not user.get("password") or form.get("password") != user["password"]:
                    return aad_error(400, "invalid_grant", 50126, "Error validating credentials due to invalid "
                                     "username or password.")
                object_id = user["id"]
        else:
            return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type "
                             "'%s'." % grant)
        token = w.mint_token(object_id, audience)
        now = int(time.time())
        body = {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}
        if not v2:
            body.update({"expires_in": "3599", "ext_expires_in": "3599", "expires_on": str(now + 3599),
                         "not_before": str(now), "resource": audience})
        if grant == "password":
            body["scope"] = "%s/user_impersonation" % audience.rstrip("/")
        return Response(200, body, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
