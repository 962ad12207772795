"""Real clients pointed at a running world."""
import os

import requests
from azure.identity import ClientSecretCredential


def credential(world, client_id=None, secret=None):
    env = world.env
    return ClientSecretCredential(env["AZURE_TENANT"], client_id or env["AZURE_CLIENT_ID"],
                                  secret or env["AZURE_SECRET"], authority=env["SIM_LOGIN_URL"],
                                  disable_instance_discovery=True)


def arm_scope(world):
    return world.env["SIM_ARM_AUDIENCE"] + ".default"


def mgmt(world, client_class, cred=None, **kwargs):
    env = world.env
    # Retries would hide the world's answers from the assertions.
    kwargs.setdefault("retry_total", 0)
    return client_class(cred or credential(world), env["AZURE_SUBSCRIPTION_ID"], base_url=env["SIM_ARM_URL"],
                        credential_scopes=[arm_scope(world)], polling_interval=1, **kwargs)


def readonly_credential(world):
    state = world.admin.state()
    app_id = next(p["app_id"] for p in state["directory"] if p["display_name"] == "sqlvm-readonly")
    return credential(world, app_id, "readonly-secret")


class Graph:
    """Graph v1.0 over plain requests with a client-credentials token."""

    def __init__(self, world, cred=None):
        self.base = world.env["SIM_GRAPH_URL"] + "/v1.0"
        token = (cred or credential(world)).get_token(world.env["SIM_GRAPH_URL"] + "/.default").token
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + token
        self.session.verify = world.env["REQUESTS_CA_BUNDLE"]

    def get(self, path, **params):
        return self.session.get(self.base + path, params=params or None, timeout=30)

    def post(self, path, body):
        return self.session.post(self.base + path, json=body, timeout=30)

    def delete(self, path):
        return self.session.delete(self.base + path, timeout=30)

    def list_all(self, path, **params):
        items, response = [], self.get(path, **params)
        pages = 1
        while True:
            response.raise_for_status()
            body = response.json()
            items += body["value"]
            if "@odata.nextLink" not in body:
                return items, pages
            response = self.session.get(body["@odata.nextLink"], timeout=30)
            pages += 1


def arm_session(world, cred=None):
    token = (cred or credential(world)).get_token(arm_scope(world)).token
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    session.verify = world.env["REQUESTS_CA_BUNDLE"]
    return session


def sub_path(world):
    return "/subscriptions/" + world.env["AZURE_SUBSCRIPTION_ID"]


def vm_state(world, name):
    return world.admin.state()["vms"][name]


def managed_identity_env(world, vm):
    return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": world.env["SIM_IMDS_URL"] + "/vms/" + vm}


class patched_env:
    def __init__(self, **values):
        self.values = values

    def __enter__(self):
        self.saved = {k: os.environ.get(k) for k in self.values}
        for key, value in self.values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
