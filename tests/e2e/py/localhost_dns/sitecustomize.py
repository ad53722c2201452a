# Resolves *.localhost to 127.0.0.1, as RFC 6761 asks and as browsers and systemd-resolved do; glibc without
# nss-myhostname does not. The Python twin of tests/e2e/node/localhost-dns.cjs: on PYTHONPATH, Python imports it
# at start, so the application itself is unchanged.
import socket

_original = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and (host == "localhost" or host.endswith(".localhost")):
        host = "127.0.0.1"
    return _original(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
