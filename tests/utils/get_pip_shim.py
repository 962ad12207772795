"""Stand-in for ansible-test's get-pip.py download (ci-files.testing.ansible.com is unreachable here).

ansible-test runs `python quiet_pip.py <pip options> pip==<version> [--no-setuptools] [--no-wheel]` with
GET_PIP pointing at its cached get-pip script; tests/utils/sanity.sh puts this file there. We install pip
from the interpreter's own ensurepip (offline), then move to the requested version through the index pip's
system-wide configuration names (/etc/pip.conf, /etc/xdg/pip/pip.conf keep the CA and index settings, which
survive ansible-test's stripped environment). If the index cannot be reached, the bundled pip stays.
"""
import os
import subprocess
import sys


def main():
    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    environ = dict(os.environ)
    # ansible-test drops PIP_* variables; restore the CA bundle if the machine has one.
    for name in ("PIP_CERT", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"):
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        if name not in environ and os.path.exists(bundle):
            environ[name] = bundle
    try:
        import pip  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], env=environ,
                              stdout=subprocess.DEVNULL)
    wanted = [arg for arg in args if not arg.startswith("-")]
    options = [arg for arg in args if arg.startswith("-")]
    result = subprocess.call([sys.executable, "-m", "pip", "install", "-q"] + options + wanted, env=environ)
    if result != 0:
        sys.stderr.write("get-pip shim: could not install %s; keeping the pip from ensurepip\n" % " ".join(wanted))


if __name__ == "__main__":
    main()
