# Copyright (c) sqlvm.backup developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTTP pipeline for Azure Resource Manager and Microsoft Graph, on azure-core.

One retry layer for everything: azure-core's RetryPolicy (429, 408, 500, 502, 503, 504 and
connection errors; Retry-After / retry-after-ms honoured) with two changes - every wait and every
attempt is bounded by the task's deadline (the `timeout` option), so a task never outlives it, and a
Retry-After beyond the deadline fails at once instead of sleeping in vain; and throttling (429) is
waited out rather than counted: ARM's limits are token buckets per principal and subscription
(Azure Resource Manager "Understand how Azure Resource Manager throttles requests"), so when a whole
fleet converges at once many tasks of the same principal meet an empty bucket together. Each one
waits what Retry-After says plus a random share of a spread that doubles with every 429 it meets
(throttle_delay), so the forks do not all come back in the same second and empty the bucket again;
only the deadline (and a generous count, so a clock that does not move cannot loop) ends the wait. Long-running operations
are polled with azure-mgmt-core's ARMPolling (Azure-AsyncOperation, Location, provisioningState), in
the task's own thread and under the same deadline. Every failure becomes an AzureApiError naming the
operation, the resource and Azure's error code.

Azure SDK imports happen inside functions: a module pays for azure-core only when it talks to Azure
and for azure-mgmt-core only when it waits for a long-running operation.
"""

from __future__ import annotations

import json
import random
import re

from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import (  # noqa: F401 - Deadline re-exported
    AADSTS_FIXES,
    AADSTS_TRANSIENT,
    SIGN_IN_GENERIC_FIX,
    SIGN_IN_TRANSIENT_FIX,
    AuthenticationError,
    AzureApiError,
    Deadline,
    InvalidInputError,
    TimeoutExceeded,
)

USER_AGENT = "sqlvm.backup/0.1.0"
CONNECT_TIMEOUT_SECONDS = 10
READ_TIMEOUT_SECONDS = 120
LRO_DEFAULT_POLL_SECONDS = 5
# Counts per kind of failure; the deadline bounds the total time whatever the counts.
RETRY_SETTINGS = dict(retry_total=8, retry_connect=4, retry_read=4, retry_status=6,
                      retry_backoff_factor=0.5, retry_backoff_max=20)
# Throttled (429) attempts are not counted in RETRY_SETTINGS: the deadline bounds them. The count is only
# a backstop for a Retry-After of 0 answered forever.
MAX_THROTTLED_RETRIES = 500
# The random spread added to a throttled wait: THROTTLE_SPREAD_SECONDS for the first 429 of a request,
# doubling with each further one up to THROTTLE_SPREAD_MAX_SECONDS. ARM refills a write bucket at 10 tokens
# a second, so spreading the retries of ten forks over half a second to a few seconds keeps them under it.
THROTTLE_SPREAD_SECONDS = 0.5
THROTTLE_SPREAD_MAX_SECONDS = 8.0


def throttle_delay(retry_after, attempt, fraction, backoff_factor=RETRY_SETTINGS["retry_backoff_factor"],
                   backoff_max=RETRY_SETTINGS["retry_backoff_max"]):
    """Seconds to wait before retrying a request after its `attempt`-th 429 (1 for the first).

    `retry_after` is the server's Retry-After in seconds (None when absent: then exponential back-off,
    backoff_factor * 2**(attempt-1) up to backoff_max); `fraction` in [0, 1) picks the random share of
    the spread added on top, so concurrent tasks throttled together retry at different moments."""
    attempt = max(1, int(attempt))
    fraction = min(max(float(fraction), 0.0), 1.0)
    if retry_after is None:
        base = min(backoff_max, backoff_factor * 2 ** (attempt - 1))
    else:
        base = max(0.0, float(retry_after))
    spread = min(THROTTLE_SPREAD_MAX_SECONDS, THROTTLE_SPREAD_SECONDS * 2 ** (attempt - 1))
    return base + fraction * spread


class DeadlineExceeded(Exception):
    """Raised inside a pipeline when waiting longer would pass the task's deadline; `step` names the
    part of the task that was waiting (sign-in, cloud metadata, Azure Resource Manager, Microsoft Graph)."""

    def __init__(self, seconds, last_status=None, step=None):
        super().__init__("deadline of %s s reached" % seconds)
        self.seconds = seconds
        self.last_status = last_status
        self.step = step


class ApiResponse:
    """What send_json returns: status, parsed JSON body (None when empty), headers."""

    __slots__ = ("status", "body", "headers")

    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers

    def __repr__(self):
        return "ApiResponse(%r)" % self.status


_RETRY_POLICY_CLASS = None


def bounded_retry_policy(deadline, **settings):
    """azure-core's RetryPolicy whose attempts and waits stay within `deadline`."""
    global _RETRY_POLICY_CLASS  # pylint: disable=global-statement
    if _RETRY_POLICY_CLASS is None:
        from azure.core.pipeline.policies import RequestHistory, RetryPolicy

        from azure.core.exceptions import AzureError

        class BoundedRetryPolicy(RetryPolicy):
            def __init__(self, deadline, replay_methods=(), service=None, **kwargs):
                self.deadline = deadline
                self.service = service
                super().__init__(**kwargs)
                self._method_whitelist = self._method_whitelist | frozenset(replay_methods)

            def send(self, request):
                try:
                    return super().send(request)
                except AzureError as exc:
                    # A timeout, or the retries' own time limit: what ran out was the task's time.
                    if self.deadline.expired():
                        raise DeadlineExceeded(self.deadline.seconds, None, self.service) from exc
                    raise

            def configure_retries(self, options):
                retry_settings = super().configure_retries(options)
                remaining = self.deadline.remaining()
                retry_settings["timeout"] = remaining
                options["read_timeout"] = min(options.get("read_timeout", READ_TIMEOUT_SECONDS),
                                              max(remaining, 0.001))
                return retry_settings

            def increment(self, settings, response=None, error=None):
                if error is None and _status(response) == 429:
                    # Throttling: waited out within the deadline, not counted against the retry counts.
                    settings["throttled"] = settings.get("throttled", 0) + 1
                    settings["history"].append(RequestHistory(response.http_request,
                                                              http_response=response.http_response))
                    return settings["throttled"] <= MAX_THROTTLED_RETRIES
                return super().increment(settings, response=response, error=error)

            def sleep(self, settings, transport, response=None):
                retry_after = self.get_retry_after(response) if response is not None else None
                last_status = _status(response)
                if last_status == 429:
                    earliest = retry_after or 0.0
                    delay = throttle_delay(retry_after, settings.get("throttled", 1), random.random())
                else:
                    delay = earliest = retry_after if retry_after is not None else self.get_backoff_time(settings)
                remaining = self.deadline.remaining()
                if earliest >= remaining:
                    # Not an AzureError, so RetryPolicy.send does not retry it.
                    raise DeadlineExceeded(self.deadline.seconds, last_status, self.service)
                # Leave the retried attempt half of what is left after the earliest allowed moment.
                delay = min(delay, earliest + (remaining - earliest) / 2)
                if delay > 0:
                    transport.sleep(delay)

        _RETRY_POLICY_CLASS = BoundedRetryPolicy
    merged = dict(RETRY_SETTINGS)
    merged.update(settings)
    return _RETRY_POLICY_CLASS(deadline, **merged)


def _status(response):
    http_response = getattr(response, "http_response", None)
    return http_response.status_code if http_response is not None else None


_BEARER_POLICY_CLASS = None


def bearer_policy(credential, scope):
    """azure-core's BearerTokenCredentialPolicy that, when the service refuses a token the disk cache
    served (401), drops it and retries once with a token from a fresh sign-in."""
    global _BEARER_POLICY_CLASS  # pylint: disable=global-statement
    if _BEARER_POLICY_CLASS is None:
        from azure.core.pipeline.policies import BearerTokenCredentialPolicy

        class CachingBearerPolicy(BearerTokenCredentialPolicy):
            def on_challenge(self, request, response):
                if super().on_challenge(request, response):
                    return True
                forget = getattr(self._credential, "forget", None)
                if forget is None or len(self._scopes) != 1 or not forget(self._scopes[0]):
                    return False
                self.authorize_request(request, *self._scopes)
                return True

        _BEARER_POLICY_CLASS = CachingBearerPolicy
    return _BEARER_POLICY_CLASS(credential, scope)


def pipeline_client(base_url, deadline, credential=None, scope=None, transport=None, replay_methods=(), service=None):
    """A PipelineClient with our policies: user agent, bounded retries, bearer token (after retry,
    so every attempt carries a valid token). No redirects: ARM and Graph do not redirect, and a
    token must not follow one. `replay_methods` are replayed after a connection lost mid-answer
    besides azure-core's idempotent ones (GET, PUT, DELETE, ...)."""
    from azure.core import PipelineClient
    from azure.core.pipeline.policies import (
        HeadersPolicy,
        RequestIdPolicy,
        UserAgentPolicy,
    )
    if transport is None:
        from ansible_collections.sqlvm.backup.plugins.module_utils.azure.transport import stdlib_transport
        transport = stdlib_transport(connection_timeout=min(CONNECT_TIMEOUT_SECONDS, deadline.seconds),
                                     read_timeout=READ_TIMEOUT_SECONDS)
    policies = [
        RequestIdPolicy(),
        HeadersPolicy({"Accept": "application/json"}),
        UserAgentPolicy(base_user_agent=USER_AGENT),
        bounded_retry_policy(deadline, replay_methods=replay_methods, service=service),
    ]
    if credential is not None:
        policies.append(bearer_policy(credential, scope))
    return PipelineClient(base_url=base_url, policies=policies, transport=transport)


# ARM PATCH bodies are JSON merge patches (ARM resource provider contract, RPC-Patch; RFC 7396): applying
# the same one twice leaves the resource as applying it once, so a PATCH whose answer was lost is
# replayed like a PUT.
ARM_REPLAY_METHODS = ("PATCH",)


def arm_client(credential, cloud, deadline, transport=None):
    return pipeline_client(cloud.arm_endpoint, deadline, credential, cloud.arm_scope, transport,
                           replay_methods=ARM_REPLAY_METHODS, service="Azure Resource Manager")


def graph_client(credential, cloud, deadline, transport=None):
    return pipeline_client(cloud.graph_endpoint + "v1.0/", deadline, credential, cloud.graph_scope, transport,
                           service="Microsoft Graph")


# Errors -------------------------------------------------------------------------------------------

def parse_error_body(text):
    """(code, message) from an ARM or Graph error body, tolerant of every shape seen in the wild:
    {"error": {"code", "message"}}, {"code", "message"}, {"odata.error": {...}}, LRO status bodies
    {"status": "Failed", "error": {...}}."""
    try:
        body = json.loads(text) if isinstance(text, (str, bytes)) and text else text
    except ValueError:
        return None, (text[:300] if isinstance(text, str) else None)
    if not isinstance(body, dict):
        return None, None
    error = body.get("error") or body.get("odata.error") or body
    if not isinstance(error, dict):
        return None, str(error)
    message = error.get("message")
    if isinstance(message, dict):
        message = message.get("value")
    code = error.get("code")
    details = error.get("details")
    # ARM wraps the useful error in details when the outer one is generic (e.g. InvalidTemplate).
    if isinstance(details, list) and details and isinstance(details[0], dict) and details[0].get("code"):
        if code in (None, "", "BadRequest", "InvalidRequestContent"):
            code, message = details[0].get("code"), details[0].get("message", message)
    return code, message


def error_from_response(operation, resource, status, text, headers=None):
    code, message = parse_error_body(text)
    if not code and headers:
        code = headers.get("x-ms-error-code")
    if not code and status == 429:
        code = "TooManyRequests"
    return AzureApiError(operation, resource, status, code, message)


def error_from_exception(operation, resource, exc):
    """Turn an azure-core / azure-identity exception into our domain error."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceRequestTimeoutError,
        ServiceResponseError,
        ServiceResponseTimeoutError,
    )
    if isinstance(exc, DeadlineExceeded):
        detail = " (last answer: HTTP %s)" % exc.last_status if exc.last_status else ""
        if exc.step in ("sign-in", "cloud metadata"):
            return TimeoutExceeded(exc.step, exc.seconds, "%s%s" % (operation, detail))
        return AzureApiError(operation, resource, exc.last_status, "Timeout",
                             "no successful answer from %s within the task's timeout of %s s%s"
                             % (exc.step or "Azure", exc.seconds, detail))
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        # Raised by the credential, before any request reached ARM or Graph.
        text = _first_line(exc.message)
        if "ManagedIdentityCredential" in text:
            fix = ("give the machine running the task a managed identity (or pass client_id of a user-assigned "
                   "one), or choose another auth_source.")
        elif "AzureCliCredential" in text:
            fix = "run `az login` as the user that runs the task, or choose another auth_source."
        else:
            return sign_in_error(operation, text)
        return AuthenticationError("Signing in to Azure failed during %s: %s" % (operation, text), fix=fix)
    if isinstance(exc, (ServiceRequestTimeoutError, ServiceResponseTimeoutError)):
        return AzureApiError(operation, resource, None, "Timeout",
                             "no answer within the task's timeout (%s)" % _first_line(str(exc)))
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        return AzureApiError(operation, resource, None, "ConnectionError", _first_line(str(exc)))
    if isinstance(exc, HttpResponseError) and exc.response is not None:
        try:
            text = exc.response.text()
        except Exception:  # pylint: disable=broad-except
            text = None
        error = error_from_response(operation, resource, exc.response.status_code, text,
                                    exc.response.headers)
        if error.code is None and getattr(exc, "error", None) is not None:
            error = AzureApiError(operation, resource, exc.response.status_code,
                                  getattr(exc.error, "code", None), getattr(exc.error, "message", None))
        return error
    return AzureApiError(operation, resource, None, type(exc).__name__, _first_line(str(exc)))


_AADSTS = re.compile(r"AADSTS(\d+)")
_SIGN_IN_HTTP_STATUS = re.compile(r"(?i)\bHTTP(?: Error)?:?\s*(\d{3})\b|status(?: code)?:?\s*(\d{3})\b")


def sign_in_error(operation, text):
    """The sign-in service's refusal or failure, blaming the credentials only when its AADSTS code
    says they are wrong (Microsoft Entra authentication and authorization error codes)."""
    cause = "Signing in to Azure failed during %s: %s" % (operation, text)
    match = _AADSTS.search(text or "")
    if match:
        code = int(match.group(1))
        if code in AADSTS_TRANSIENT:
            return AuthenticationError(
                "The sign-in service failed transiently during %s (AADSTS%d): %s" % (operation, code, text),
                fix=SIGN_IN_TRANSIENT_FIX, transient=True)
        return AuthenticationError(cause, fix=AADSTS_FIXES.get(code, SIGN_IN_GENERIC_FIX))
    status = _SIGN_IN_HTTP_STATUS.search(text or "")
    code = int(status.group(1) or status.group(2)) if status else None
    if code is not None and (code >= 500 or code in (408, 429)):
        return AuthenticationError(
            "The sign-in service failed transiently during %s (HTTP %d from the authority); nothing says the "
            "credentials are wrong: %s" % (operation, code, text),
            fix=SIGN_IN_TRANSIENT_FIX, transient=True)
    return AuthenticationError(cause, fix=SIGN_IN_GENERIC_FIX)


def _first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0] if text else text


def _decode(response):
    text = response.text()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


# Requests -----------------------------------------------------------------------------------------

def _request(client, method, url, body=None, params=None, headers=None):
    from azure.core.rest import HttpRequest
    url = client.format_url(url)  # relative paths join the client's base URL; absolute ones stay
    all_headers = {"Content-Type": "application/json"} if body is not None else {}
    all_headers.update(headers or {})
    return HttpRequest(method, url, params=params, headers=all_headers,
                       content=json.dumps(body) if body is not None else None)


def send_json(client, method, url, body=None, expected=(200,), operation=None, resource=None,
              params=None, headers=None):
    """Send one request; return ApiResponse when the status is in `expected`, else raise
    AzureApiError. `operation` ("update SQL VM") and `resource` (its id) name the failure."""
    from azure.core.exceptions import AzureError
    operation = operation or "%s %s" % (method, url.split("?", 1)[0])
    try:
        response = client.send_request(_request(client, method, url, body, params, headers))
    except (AzureError, DeadlineExceeded) as exc:
        raise error_from_exception(operation, resource, exc) from None
    if response.status_code not in expected:
        raise error_from_response(operation, resource, response.status_code, response.text(),
                                  response.headers)
    return ApiResponse(response.status_code, _decode(response), dict(response.headers))


def list_paged(client, url, operation=None, resource=None, params=None, headers=None,
               next_key="nextLink", max_pages=1000):
    """All items of a paged collection ('value' arrays), following `next_key` links."""
    items = []
    next_url, next_params = url, params
    for _page in range(max_pages):
        page = send_json(client, "GET", next_url, operation=operation, resource=resource,
                         params=next_params, headers=headers).body or {}
        items.extend(page.get("value") or [])
        next_url, next_params = page.get(next_key), None
        if not next_url:
            return items
    raise AzureApiError(operation or "list", resource, None, "TooManyPages",
                        "more than %d pages" % max_pages, fix="narrow the query.")


def wait_for_lro(client, method, url, body=None, deadline=None, operation=None, resource=None,
                 params=None, expected=(200, 201, 202, 204), poll_seconds=LRO_DEFAULT_POLL_SECONDS):
    """Start a long-running ARM operation and poll it to the end; return the final JSON body.

    Polling uses azure-mgmt-core's ARMPolling (Retry-After honoured) in this thread; a wait that
    would pass `deadline` fails with a Timeout AzureApiError saying the operation may still finish.
    """
    from azure.core.exceptions import AzureError
    from azure.mgmt.core.polling.arm_polling import ARMPolling
    operation = operation or "%s %s" % (method, url.split("?", 1)[0])
    try:
        initial = client.send_request(_request(client, method, url, body, params), _return_pipeline_response=True)
    except (AzureError, DeadlineExceeded) as exc:
        raise error_from_exception(operation, resource, exc) from None
    status = initial.http_response.status_code
    if status not in expected:
        raise error_from_response(operation, resource, status, initial.http_response.text(),
                                  initial.http_response.headers)

    class _DeadlineARMPolling(ARMPolling):
        def _sleep(self, delay):
            if deadline is not None and delay >= deadline.remaining():
                raise DeadlineExceeded(deadline.seconds, None)
            super()._sleep(delay)

    polling = _DeadlineARMPolling(timeout=poll_seconds)
    try:
        polling.initialize(client, initial, lambda pipeline_response: _decode(pipeline_response.http_response))
        if not polling.finished():
            polling.run()
        return polling.resource()
    except DeadlineExceeded as exc:
        raise AzureApiError(operation, resource, None, "Timeout",
                            "the operation was still running when the task's timeout of %s s ran "
                            "out; Azure may still complete it" % exc.seconds) from None
    except AzureError as exc:
        error = error_from_exception(operation, resource, exc)
        raise _lro_outcome_error(error, polling) from None


def _lro_outcome_error(error, polling):
    """A clearer error for an operation that ended Canceled, or Failed without saying why: the status
    answer itself was HTTP 200, so `error` alone reads "HTTP 200 (no error code): (no message)"."""
    if error.code:
        return error
    try:
        status = str(polling.status() or "")
    except Exception:  # pylint: disable=broad-except
        return error
    if status.lower() == "canceled":
        return AzureApiError(
            error.operation, error.resource, error.status, "OperationCanceled",
            "Azure canceled the operation before it finished (its status is Canceled): another request changed or "
            "deleted the resource meanwhile (a concurrent deployment, the portal, a policy remediation), or "
            "someone canceled it; nothing is known to be half-done",
            fix="run the task again once nothing else changes the resource; if it is canceled again, look in the "
                "resource's Activity Log for who or what canceled it.")
    if status.lower() == "failed":
        return AzureApiError(
            error.operation, error.resource, error.status, "OperationFailed",
            "Azure reports the operation as Failed without an error code or message",
            fix="look in the resource's Activity Log for the failed operation's details, then run the task again.")
    return error


def fetch_cloud_metadata(url, deadline=None):
    """GET a cloud's /metadata/endpoints document (anonymous) through the same retry layer, within
    the task's deadline (30 s when called without one)."""
    client = pipeline_client(url.split("/metadata/", 1)[0] + "/", deadline or Deadline(30), service="cloud metadata")
    response = send_json(client, "GET", url, operation="read cloud metadata", resource=url)
    if not isinstance(response.body, (dict, list)):
        raise InvalidInputError("The cloud metadata at %s is not JSON." % url,
                                fix="check cloud_environment.")
    return response.body
