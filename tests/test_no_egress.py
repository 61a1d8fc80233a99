"""Nothing leaves the machine: the app, run through a whole use under ``strace -f``, makes no connection and no name
lookup beyond loopback (native libraries included), even when its environment asks for telemetry. Skips where strace
is not installed (CI installs it: .ci/run)."""

import pytest

from bench.egress import egress, strace_command
from bench.server import running_app
from bench.visit import whole_use

TRACE_SAMPLE = """\
101 connect(7, {sa_family=AF_INET, sin_port=htons(51234), sin_addr=inet_addr("127.0.0.1")}, 16) = 0
101 connect(8, {sa_family=AF_INET6, sin6_port=htons(7860), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
101 sendto(9, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR}], 20, 0, {sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20
101 connect(10, {sa_family=AF_UNIX, sun_path="/tmp/x.sock"}, 110) = 0
102 connect(3, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)
102 connect(3, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.11")}, 16) = 0
102 sendto(3, "\\x12\\x34", 40, MSG_NOSIGNAL, NULL, 0) = 40
103 connect(4, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("13.69.109.130")}, 16) = -1 EINPROGRESS
103 connect(5, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2603:1020::1", &sin6_addr), sin6_scope_id=0}, 28) = 0
103 connect(6, {sa_family=AF_INET6, sin6_port=htons(80), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0
"""


def test_egress_reads_strace_lines():
    found = egress(TRACE_SAMPLE)
    assert [line.split()[0] for line in found] == ["102", "102", "103", "103"]
    assert "nscd" in found[0] and "htons(53)" in found[1] and "13.69.109.130" in found[2] and "2603:1020::1" in found[3]


def test_a_whole_use_sends_nothing_out(tmp_path):
    prefix = strace_command(tmp_path / "trace.log")
    if prefix is None:
        pytest.skip("strace not installed")
    (tmp_path / "gradio").mkdir()
    # An environment that asks for every telemetry: the app must switch it off itself.
    asked = dict(ORT_DISABLE_TELEMETRY="0", GRADIO_ANALYTICS_ENABLED="True", HF_HUB_DISABLE_TELEMETRY="0", DO_NOT_TRACK="0",
                 HF_HUB_OFFLINE="0", EMOTION_RATE_LIMIT="0")
    with running_app(tmp_path / "gradio", tmp_path / "server.log", prefix=prefix, startup_timeout=300, **asked) as (url, _, _):
        steps = whole_use(url)
    assert set(steps.values()) == {"ok"}, steps
    trace = (tmp_path / "trace.log").read_text()
    assert "sendto(" in trace  # the trace saw the server answering (Python's socket.send is sendto(2))
    assert egress(trace) == [], "\n".join(egress(trace)[:20])
