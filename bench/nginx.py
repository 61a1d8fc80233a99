"""A reverse proxy in front of the app as a Hugging Face Space has one: Debian's nginx, appending the peer to
``X-Forwarded-For`` (``$proxy_add_x_forwarded_for``), HTTP/1.1 to the app with pooled keep-alive connections, and
server-sent events and streamed answers passed on unbuffered (``proxy_buffering off``). Used by the Space rehearsal
(tests/test_space.py) and the capacity bench (bench/capacity.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from bench.server import free_port

CONF = """\
{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 4096; }}
http {{
  log_format timing '$remote_addr "$request" $status $request_length $request_time $upstream_connect_time '
                    '$upstream_header_time $upstream_response_time';
  access_log {tmp}/access.log timing;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  client_max_body_size 200m;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream app {{ server 127.0.0.1:{app_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;  # with its port, as the browser sent it
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 300s;
      proxy_send_timeout 300s;
    }}
  }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


@contextmanager
def nginx_proxy(app_url: str, tmp: str | os.PathLike):
    """Yield the proxy's URL (on 127.0.0.1, a free port) in front of ``app_url``; stopped afterwards."""
    binary = nginx_binary()
    if binary is None:
        raise FileNotFoundError("nginx is not installed (Debian: apt-get install nginx)")
    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(CONF.format(user="user root;\n" if os.geteuid() == 0 else "", tmp=tmp, port=port,
                                app_port=app_url.rsplit(":", 1)[1].rstrip("/")))
    proc = subprocess.Popen([binary, "-c", str(conf), "-e", str(tmp / "error.log"), "-p", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {(tmp / 'error.log').read_text()[-500:]}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
