"""A requests adapter that answers from a script, so azure-core's real RequestsTransport, retry
policy and polling run without any network. Sleeps are recorded, not slept."""
import io
import json

import requests
from azure.core.pipeline.transport import RequestsTransport
from requests.adapters import BaseAdapter
from urllib3.response import HTTPResponse


class Scripted(BaseAdapter):
    """answers: list of (status, body, headers) tuples or exception instances, consumed in order;
    the last one repeats. Every request is recorded as (method, url)."""

    def __init__(self, answers):
        super().__init__()
        self.answers = list(answers)
        self.requests = []
        self.headers = []

    def send(self, request, **kwargs):  # pylint: disable=arguments-differ
        self.requests.append((request.method, request.url, request.body))
        self.headers.append(dict(request.headers))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = (tuple(answer) + (None, None))[:3]
        response = requests.Response()
        response.status_code = status
        response.url = request.url
        response.request = request
        response.headers.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            response.headers.setdefault("Content-Type", "application/json")
        content = body.encode() if isinstance(body, str) else (body or b"")
        response.raw = HTTPResponse(body=io.BytesIO(content), headers=dict(response.headers), status=status,
                                    preload_content=False)
        response.reason = "scripted"
        return response

    def close(self):
        pass


class ScriptedTransport(RequestsTransport):
    def __init__(self, answers, clock=None):
        self.adapter = Scripted(answers)
        session = requests.Session()
        session.mount("https://", self.adapter)
        session.mount("http://", self.adapter)
        super().__init__(session=session, session_owner=False)
        self.sleeps = []
        self.clock = clock

    def sleep(self, duration):
        self.sleeps.append(duration)
        if self.clock is not None:
            self.clock.advance(duration)

    @property
    def requests(self):
        return self.adapter.requests


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class StaticCredential:
    """A TokenCredential that never talks to anyone."""

    def __init__(self):
        self.calls = []

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken
        self.calls.append(scopes)
        return AccessToken("t0ken", 4102444800)
