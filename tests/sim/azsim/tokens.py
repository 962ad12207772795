"""JWTs as Entra issues them (v1.0 access tokens, RS256), signed by the world's key."""
import base64
import json
import time
import uuid

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

TOKEN_LIFETIME = 3600


class TokenError(Exception):
    """code is an ARM-style code (InvalidAuthenticationToken, ExpiredAuthenticationToken, ...)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, pki, tenant_id):
        self._key = pki.signing_key
        self._public = pki.signing_key.public_key()
        self.kid = pki.kid
        self.tenant_id = tenant_id
        self.issuer = "https://sts.windows.net/%s/" % tenant_id

    def mint(self, claims, audience, lifetime=TOKEN_LIFETIME):
        now = int(time.time())
        body = {
            "aud": audience, "iss": self.issuer, "iat": now, "nbf": now, "exp": now + lifetime,
            "tid": self.tenant_id, "uti": _b64url(uuid.uuid4().bytes), "ver": "1.0",
        }
        body.update(claims)
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(body, separators=(",", ":")).encode())
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature), body

    def mint_raw(self, claims, lifetime=TOKEN_LIFETIME):
        """A JWT with exactly these claims plus iat/nbf/exp (e.g. a federated workload token)."""
        now = int(time.time())
        body = dict({"iat": now, "nbf": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}, **claims)
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        signing_input = _b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            _b64url(json.dumps(body, separators=(",", ":")).encode())
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def verify_signature(self, token):
        """Claims of a token signed by the world's key (no issuer/audience/time checks), else TokenError."""
        try:
            head, payload, signature = token.split(".")
            header = json.loads(_unb64url(head))
            claims = json.loads(_unb64url(payload))
            self._public.verify(_unb64url(signature), (head + "." + payload).encode("ascii"),
                                padding.PKCS1v15(), hashes.SHA256())
        except (ValueError, TypeError, InvalidSignature):
            raise TokenError("InvalidAuthenticationToken", "The token is not signed by a known key.")
        if header.get("kid") != self.kid:
            raise TokenError("InvalidAuthenticationToken", "Unknown signing key.")
        return claims

    def verify(self, token, audiences=None):
        """Returns the claims, or raises TokenError with the code ARM would answer."""
        try:
            head, payload, signature = token.split(".")
            header = json.loads(_unb64url(head))
            claims = json.loads(_unb64url(payload))
            raw_signature = _unb64url(signature)
        except (ValueError, TypeError):
            raise TokenError("InvalidAuthenticationToken", "The access token is invalid.")
        if header.get("alg") != "RS256" or header.get("kid") != self.kid:
            raise TokenError("InvalidAuthenticationToken",
                             "The access token has been obtained from wrong issuer or is not signed by a known key.")
        try:
            self._public.verify(raw_signature, (head + "." + payload).encode("ascii"),
                                padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise TokenError("InvalidAuthenticationToken", "The access token signature is invalid.")
        now = time.time()
        if claims.get("exp", 0) < now:
            raise TokenError("ExpiredAuthenticationToken",
                             "The access token expiry UTC time is earlier than current UTC time.")
        if claims.get("nbf", 0) > now + 300:
            raise TokenError("InvalidAuthenticationToken", "The access token is not yet valid.")
        if claims.get("iss") != self.issuer:
            raise TokenError("InvalidAuthenticationTokenTenant",
                             "The access token is from the wrong issuer '%s'. It must match the tenant '%s' "
                             "associated with this subscription." % (claims.get("iss"), self.issuer))
        if audiences is not None and claims.get("aud") not in audiences:
            raise TokenError("InvalidAuthenticationTokenAudience",
                             "The access token has been obtained for wrong audience or resource '%s'. It should "
                             "exactly match with one of the allowed audiences '%s'." % (
                                 claims.get("aud"), "','".join(sorted(audiences))))
        return claims
