"""What a process tried to reach beyond this machine, read from ``strace -f -e trace=connect,sendto,sendmsg``.

A network call is *egress* when it targets an IPv4/IPv6 address outside loopback, any address on port 53 (a DNS
query, even to a local resolver: the name it asks for is on its way out), or the C library's name-service socket
(``/var/run/nscd/socket``: a name lookup handed to a daemon). Unix sockets otherwise and netlink (the C library
asking the kernel for its own interfaces) stay on the machine. Native libraries are included: strace sees the system
calls, whoever makes them.
"""

from __future__ import annotations

import ipaddress
import re
import shutil

TRACE = ("strace", "-f", "--seccomp-bpf", "-qq", "-s", "128", "-e", "trace=connect,sendto,sendmsg")
_INET = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_UNIX = re.compile(r'sun_path="([^"]+)"')
NAME_SERVICE_SOCKETS = ("/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/io.systemd.Resolve")


def strace_command(log_path: str) -> tuple[str, ...] | None:
    """The prefix that traces a command's network calls into ``log_path``; None where strace is not installed."""
    return (*TRACE, "-o", str(log_path)) if shutil.which("strace") else None


def egress(trace: str) -> list[str]:
    """The lines of an strace log that reach beyond the machine (see the module's rule)."""
    out = []
    for line in trace.splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg)\(", line):
            continue
        for port, host in _INET.findall(line) + _INET6.findall(line):
            if port == "53" or not _loopback(host):
                out.append(line.strip())
                break
        else:
            if any(path in NAME_SERVICE_SOCKETS for path in _UNIX.findall(line)):
                out.append(line.strip())
    return out


def _loopback(host: str) -> bool:
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_loopback
