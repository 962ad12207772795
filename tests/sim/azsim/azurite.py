"""Azurite (the Azure Storage emulator, npm azurite 3.35.0) as the world's blob service.

One Azurite blob process per world: HTTPS with the world's certificate, `--oauth basic` (accepts
the world's JWTs: issuer https://sts.windows.net/..., audience https://storage.azure.com), one account
per scenario storage account (AZURITE_ACCOUNTS), path-style URLs only:

    https://<account>.blob.<storage suffix>/<container>/<blob>   (what Azure and SQL Server see)
 →  https://127.0.0.1:<azurite port>/<account>/<container>/<blob>   (where Azurite serves it)

Azurite does not enforce RBAC: World.blob_access_allowed decides who may read or write.
"""
import concurrent.futures
import http.client
import os
import re
import signal
import ssl
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AZURITE_BIN = os.path.join(HERE, "node_modules", ".bin", "azurite-blob")
X_MS_VERSION = "2021-08-06"


def _die_with_parent():
    """Azurite gets SIGTERM if the world process dies without stopping it (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


class AzuriteError(RuntimeError):
    pass


class Azurite:
    def __init__(self, state_dir, cert_path, key_path, ca_path, accounts):
        self.state_dir = state_dir
        self.cert_path, self.key_path = cert_path, key_path
        self.accounts = dict(accounts)   # name -> base64 key
        self.process = None
        self.port = None
        self.url = None
        self._ssl = ssl.create_default_context(cafile=ca_path)
        self._token = None
        self._output = []

    def start(self, timeout=30):
        self.launch()
        self.wait_ready(timeout)

    def launch(self):
        """Starts the process. Call it from a thread that lives as long as the world: the parent-death
        signal fires when the *thread* that forked the child ends (prctl(2) PR_SET_PDEATHSIG)."""
        if not os.path.exists(AZURITE_BIN):
            raise AzuriteError("Azurite is not installed at %s: run `make deps`" % AZURITE_BIN)
        env = dict(os.environ)
        # AZURITE_ACCOUNTS: "name1:key1;name2:key2" (Azurite README, "Customized Storage Accounts & Keys").
        env["AZURITE_ACCOUNTS"] = ";".join("%s:%s" % item for item in self.accounts.items())
        location = os.path.join(self.state_dir, "azurite")
        os.makedirs(location, exist_ok=True)
        cmd = [AZURITE_BIN, "--blobHost", "127.0.0.1", "--blobPort", "0", "--inMemoryPersistence",
               "--skipApiVersionCheck", "--disableProductStyleUrl", "--loose",
               "--oauth", "basic", "--cert", self.cert_path, "--key", self.key_path, "--disableTelemetry",
               "--extentMemoryLimit", "512"]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                        stdin=subprocess.DEVNULL, cwd=location, preexec_fn=_die_with_parent)
        self._found = threading.Event()

        def pump():
            for raw in self.process.stdout:
                line = raw.decode("utf-8", "replace").rstrip()
                if len(self._output) < 200:
                    self._output.append(line)
                match = re.search(r"successfully listens on (https?)://127\.0\.0\.1:(\d+)", line)
                if match and not self._found.is_set():
                    self.port = int(match.group(2))
                    self._found.set()
            self._found.set()  # the process ended: stop waiting
        threading.Thread(target=pump, daemon=True, name="azurite-stdout").start()

    def wait_ready(self, timeout=30):
        if not self._found.wait(timeout) or self.port is None:
            self.stop()
            raise AzuriteError("Azurite did not start: %s" % "\n".join(self._output[-20:]))
        self.url = "https://127.0.0.1:%d" % self.port

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    # ------------------------------------------------------------- container management
    def set_token_source(self, mint):
        """mint() -> a bearer token for https://storage.azure.com (the world's automation principal)."""
        self._mint = mint

    def _request(self, method, path, headers=None):
        token = self._mint()
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self._ssl, timeout=30)
        try:
            all_headers = {"Authorization": "Bearer " + token, "x-ms-version": X_MS_VERSION,
                           "x-ms-date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
                           "Content-Length": "0"}
            all_headers.update(headers or {})
            conn.request(method, path, headers=all_headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def create_container(self, account, container):
        status, body = self._request("PUT", "/%s/%s?restype=container" % (account, container))
        if status not in (201, 409):
            raise AzuriteError("creating container %s/%s: %s %s" % (account, container, status, body[:300]))

    def list_containers(self, account):
        status, body = self._request("GET", "/%s?comp=list" % account)
        if status != 200:
            raise AzuriteError("listing containers of %s: %s %s" % (account, status, body[:300]))
        return [el.text for el in ET.fromstring(body).iter("Name")]

    def delete_container(self, account, container):
        self._request("DELETE", "/%s/%s?restype=container" % (account, container))

    def sync_containers(self, wanted, empty=False):
        """wanted: {account: [containers]}. With empty=True every existing container is deleted first
        (reset: back to the scenario with no blobs)."""
        def one_account(account):
            if empty:
                for name in self.list_containers(account):
                    self.delete_container(account, name)
            for container in wanted[account]:
                self.create_container(account, container)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one_account, list(wanted)))
