import pytest
import requests

from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS
from ansible_collections.sqlvm.backup.plugins.module_utils.common.errors import AuthenticationError, AzureApiError
from fake_transport import FakeClock, ScriptedTransport, StaticCredential

VM = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
OK = (200, {"id": VM})


def client(answers, timeout=300, credential=None):
    clock = FakeClock()
    transport = ScriptedTransport(answers, clock=clock)
    deadline = http.Deadline(timeout, clock=clock)
    arm = http.arm_client(credential or StaticCredential(), KNOWN_CLOUDS["AzureCloud"], deadline, transport)
    return arm, transport


def get(arm):
    return http.send_json(arm, "GET", VM + "?api-version=2024-07-01", operation="read VM", resource=VM)


def test_plain_success_sends_one_request_with_a_bearer_token():
    credential = StaticCredential()
    arm, transport = client([OK], credential=credential)
    response = get(arm)
    assert response.status == 200 and response.body == {"id": VM}
    assert len(transport.requests) == 1 and transport.requests[0][1].startswith("https://management.azure.com/")
    assert credential.calls == [("https://management.azure.com/.default",)]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_honouring_retry_after(status):
    arm, transport = client([(status, {"error": {"code": "Busy", "message": "later"}}, {"Retry-After": "7"}), OK])
    assert get(arm).status == 200
    assert len(transport.requests) == 2
    # A throttled request waits Retry-After plus a random share of the spread (test_throttling.py).
    assert len(transport.sleeps) == 1
    assert 7.0 <= transport.sleeps[0] <= 7.0 + (http.THROTTLE_SPREAD_SECONDS if status == 429 else 0)


def test_retry_after_ms_is_honoured():
    arm, transport = client([(429, None, {"retry-after-ms": "1500"}), OK])
    get(arm)
    assert len(transport.sleeps) == 1 and 1.5 <= transport.sleeps[0] <= 1.5 + http.THROTTLE_SPREAD_SECONDS


def test_connection_resets_are_retried():
    arm, transport = client([requests.exceptions.ConnectionError("reset by peer"), OK])
    assert get(arm).status == 200
    assert len(transport.requests) == 2


def test_post_is_not_replayed_after_a_connection_error():
    arm, transport = client([requests.exceptions.ConnectionError("reset by peer"), OK])
    with pytest.raises(AzureApiError) as caught:
        http.send_json(arm, "POST", "/x?api-version=1", body={}, operation="start job", resource="job")
    assert caught.value.code == "ConnectionError" and len(transport.requests) == 1


def test_arm_patch_is_replayed_after_a_connection_error_as_a_merge_patch_may_be():
    arm, transport = client([requests.exceptions.ConnectionError("reset by peer"), OK])
    assert http.send_json(arm, "PATCH", VM + "?api-version=1", body={"identity": {"type": "SystemAssigned"}}).status == 200
    assert [method for method, _url, _body in transport.requests] == ["PATCH", "PATCH"]


def test_graph_patch_is_not_replayed():
    clock = FakeClock()
    transport = ScriptedTransport([requests.exceptions.ConnectionError("reset by peer"), OK], clock=clock)
    graph = http.graph_client(StaticCredential(), KNOWN_CLOUDS["AzureCloud"], http.Deadline(300, clock=clock), transport)
    with pytest.raises(AzureApiError):
        http.send_json(graph, "PATCH", "groups/g", body={"description": "x"})
    assert len(transport.requests) == 1


def test_retry_after_beyond_the_deadline_fails_at_once():
    arm, transport = client([(429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
                              {"Retry-After": "3600"})], timeout=60)
    with pytest.raises(AzureApiError) as caught:
        get(arm)
    assert transport.sleeps == [] and len(transport.requests) == 1
    error = caught.value
    assert error.code == "Timeout" and error.status == 429
    assert "timeout of 60 s" in error.msg and "read VM" in error.msg and VM in error.msg
    assert "timeout" in error.fix


def test_total_waiting_stays_within_the_deadline():
    arm, transport = client([(503, None, {"Retry-After": "20"})], timeout=100)
    with pytest.raises(AzureApiError):
        get(arm)
    assert sum(transport.sleeps) <= 100
    assert len(transport.requests) <= 1 + http.RETRY_SETTINGS["retry_status"]


def test_retries_are_counted_not_endless():
    arm, transport = client([(500, {"error": {"code": "InternalServerError", "message": "boom"}})], timeout=10 ** 6)
    with pytest.raises(AzureApiError) as caught:
        get(arm)
    assert len(transport.requests) == 1 + http.RETRY_SETTINGS["retry_status"]
    assert caught.value.status == 500 and "run the task again" in caught.value.fix


@pytest.mark.parametrize("status, body, code, fix_word", [
    (403, {"error": {"code": "AuthorizationFailed", "message": "The client 'x' does not have authorization"}},
     "AuthorizationFailed", "role"),
    (404, {"error": {"code": "ResourceNotFound", "message": "not found"}}, "ResourceNotFound", "resource name"),
    (400, {"error": {"code": "BadRequest", "message": "outer",
                     "details": [{"code": "PrincipalNotFound", "message": "inner"}]}},
     "PrincipalNotFound", "replicate"),
    (400, {"code": "InvalidSubscriptionId", "message": "bad"}, "InvalidSubscriptionId", "GUID"),
    (403, {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges"}},
     "Authorization_RequestDenied", "Graph"),
])
def test_errors_name_operation_resource_code_and_fix(status, body, code, fix_word):
    arm, _transport = client([(status, body)])
    with pytest.raises(AzureApiError) as caught:
        get(arm)
    error = caught.value
    assert (error.status, error.code) == (status, code)
    assert error.msg.startswith("read VM failed for %s: HTTP %s %s" % (VM, status, code))
    assert fix_word in error.fix
    result = error.to_result()
    assert result["error"]["code"] == code and result["msg"] == error.msg


def test_non_json_error_body_still_reports_status():
    arm, _transport = client([(502, "<html>Bad gateway</html>")] * 10)
    with pytest.raises(AzureApiError) as caught:
        get(arm)
    assert caught.value.status == 502 and "Bad gateway" in caught.value.msg


def test_expected_404_is_returned_not_raised():
    arm, _transport = client([(404, {"error": {"code": "ResourceNotFound", "message": "x"}})])
    response = http.send_json(arm, "GET", VM, expected=(200, 404))
    assert response.status == 404


def test_credential_failure_becomes_authentication_error():
    from azure.core.exceptions import ClientAuthenticationError

    class Refusing(StaticCredential):
        def get_token(self, *scopes, **kwargs):
            raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")

    arm, transport = client([OK], credential=Refusing())
    with pytest.raises(AuthenticationError) as caught:
        get(arm)
    assert "AADSTS7000215" in caught.value.msg and "secret" in caught.value.fix
    assert transport.requests == []


def test_list_paged_follows_next_link():
    arm, transport = client([
        (200, {"value": [1, 2], "nextLink": "https://management.azure.com/page2?skip=2"}),
        (200, {"value": [3]}),
    ])
    assert http.list_paged(arm, "/things?api-version=1") == [1, 2, 3]
    assert transport.requests[1][1] == "https://management.azure.com/page2?skip=2"


def test_lro_is_polled_to_the_end_honouring_retry_after():
    status_url = "https://management.azure.com/operations/op1?api-version=2023-10-01"
    arm, transport = client([
        (201, {"properties": {"provisioningState": "Updating"}},
         {"Azure-AsyncOperation": status_url, "Retry-After": "3"}),
        (200, {"status": "InProgress"}, {"Retry-After": "4"}),
        (200, {"status": "Succeeded"}),
        (200, {"id": VM, "properties": {"provisioningState": "Succeeded"}}),
    ])
    result = http.wait_for_lro(arm, "PUT", VM + "?api-version=2023-10-01", body={"location": "x"},
                               deadline=http.Deadline(300, clock=transport.clock), operation="update SQL VM",
                               resource=VM)
    assert result["properties"]["provisioningState"] == "Succeeded"
    assert [method for method, _url, _body in transport.requests] == ["PUT", "GET", "GET", "GET"]
    # ARMPolling checks once at once, then waits as each status answer says.
    assert transport.sleeps == [4.0]


def test_lro_failure_names_azure_error_code():
    status_url = "https://management.azure.com/operations/op1?api-version=2023-10-01"
    arm, _transport = client([
        (202, None, {"Azure-AsyncOperation": status_url, "Retry-After": "1"}),
        (200, {"status": "Failed", "error": {"code": "Ext_AuthenticationError", "message": "no identity"}}),
    ])
    with pytest.raises(AzureApiError) as caught:
        http.wait_for_lro(arm, "PUT", VM, body={}, operation="update SQL VM", resource=VM)
    assert caught.value.code == "Ext_AuthenticationError" and "update SQL VM" in caught.value.msg


def test_lro_longer_than_the_deadline_says_it_may_still_finish():
    status_url = "https://management.azure.com/operations/op1?api-version=2023-10-01"
    arm, transport = client([
        (202, None, {"Azure-AsyncOperation": status_url, "Retry-After": "30"}),
        (200, {"status": "InProgress"}, {"Retry-After": "30"}),
    ], timeout=100)
    with pytest.raises(AzureApiError) as caught:
        http.wait_for_lro(arm, "PUT", VM, body={}, deadline=http.Deadline(100, clock=transport.clock),
                          operation="update SQL VM", resource=VM)
    assert caught.value.code == "Timeout" and "may still complete" in caught.value.msg
    assert sum(transport.sleeps) <= 100


def test_managed_identity_failure_says_to_assign_an_identity():
    from azure.identity import CredentialUnavailableError

    class NoIdentity(StaticCredential):
        def get_token(self, *scopes, **kwargs):
            raise CredentialUnavailableError("ManagedIdentityCredential authentication unavailable. No identity "
                                             "has been assigned to this resource.")

    arm, _transport = client([OK], credential=NoIdentity())
    with pytest.raises(AuthenticationError) as caught:
        get(arm)
    assert "managed identity" in caught.value.fix


@pytest.mark.parametrize("status,code,fragment", [
    ("Canceled", "OperationCanceled", "Azure canceled the operation before it finished"),
    ("Failed", "OperationFailed", "Failed without an error code"),
])
def test_lro_canceled_or_failed_without_error_says_what_happened(status, code, fragment):
    status_url = "https://management.azure.com/operations/op1?api-version=2023-10-01"
    arm, _transport = client([
        (202, None, {"Azure-AsyncOperation": status_url, "Retry-After": "1"}),
        (200, {"status": status}),
    ])
    with pytest.raises(AzureApiError) as caught:
        http.wait_for_lro(arm, "PUT", VM, body={}, operation="update SQL VM", resource=VM)
    assert caught.value.code == code and fragment in caught.value.msg
    assert "(no message)" not in caught.value.msg and "Activity Log" in caught.value.fix


@pytest.mark.parametrize("text,transient,fix_fragment", [
    ("ClientSecretCredential: Authentication failed: HTTP Error: 500", True, "run the task again"),
    ("Authentication failed: HTTP Error: 503", True, "run the task again"),
    ("AADSTS90055: TenantThrottlingError", True, "run the task again"),
    ("AADSTS7000215: Invalid client secret provided.", False, "secret is wrong"),
    ("AADSTS7000222: The provided client secret keys are expired.", False, "expired"),
    ("AADSTS700016: Application with identifier 'x' was not found in the directory 'y'.", False, "client_id"),
    ("AADSTS50126: Error validating credentials due to invalid username or password.", False, "password"),
    ("AADSTS99999: Something new.", False, "check client_id"),
])
def test_sign_in_failures_blame_the_credentials_only_when_the_code_says_so(text, transient, fix_fragment):
    error = http.sign_in_error("read VM", text)
    assert isinstance(error, AuthenticationError) and fix_fragment in error.fix
    assert ("transiently" in error.msg) is transient
    if transient:
        assert "client_id" not in error.fix and "secret" not in error.fix
