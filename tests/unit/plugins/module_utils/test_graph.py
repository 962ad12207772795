from ansible_collections.sqlvm.backup.plugins.module_utils.azure import graph
from ansible_collections.sqlvm.backup.plugins.module_utils.azure import pipeline as http
from ansible_collections.sqlvm.backup.plugins.module_utils.azure.cloud import KNOWN_CLOUDS
from fake_transport import FakeClock, ScriptedTransport, StaticCredential


def client(answers):
    clock = FakeClock()
    transport = ScriptedTransport(answers, clock=clock)
    credential = StaticCredential()
    return http.graph_client(credential, KNOWN_CLOUDS["AzureUSGovernment"], http.Deadline(60, clock), transport), \
        transport, credential


def test_graph_calls_go_to_v1_of_the_clouds_graph_with_its_audience():
    graph_client, transport, credential = client([(200, {"id": "sp1"})])
    assert graph.get(graph_client, "servicePrincipals/sp1") == {"id": "sp1"}
    assert transport.requests[0][1] == "https://graph.microsoft.us/v1.0/servicePrincipals/sp1"
    assert credential.calls == [("https://graph.microsoft.us/.default",)]


def test_list_all_follows_odata_next_link_and_survives_throttling():
    graph_client, transport, _credential = client([
        (200, {"value": [{"id": 1}], "@odata.nextLink": "https://graph.microsoft.us/v1.0/groups?$skiptoken=x"}),
        (429, {"error": {"code": "TooManyRequests", "message": "slow"}}, {"Retry-After": "2"}),
        (200, {"value": [{"id": 2}]}),
    ])
    assert graph.list_all(graph_client, "groups") == [{"id": 1}, {"id": 2}]
    # Retry-After 2 s, plus the random spread of a first 429 (pipeline.throttle_delay)
    assert len(transport.sleeps) == 1 and 2.0 <= transport.sleeps[0] <= 2.0 + http.THROTTLE_SPREAD_SECONDS
    assert len(transport.requests) == 3


def test_missing_object_and_delete_semantics():
    graph_client, _transport, _credential = client([
        (404, {"error": {"code": "Request_ResourceNotFound", "message": "gone"}})])
    assert graph.get(graph_client, "servicePrincipals/x", missing_ok=True) is None
    assert graph.delete(graph_client, "groups/g/members/x/$ref") is False


def test_post_returns_created_object():
    graph_client, transport, _credential = client([(201, {"id": "new"})])
    assert graph.post(graph_client, "groups/g/members/$ref", {"@odata.id": "x"}) == {"id": "new"}
    assert transport.requests[0][0] == "POST"
