"""Microsoft Graph v1.0 subset (placeholder until the Graph step lands)."""
from .httpd import Response


class GraphService:
    def __init__(self, sim):
        self.sim = sim

    def __call__(self, request):
        return Response(404, {"error": {"code": "Request_ResourceNotFound", "message": "Not implemented yet."}})
