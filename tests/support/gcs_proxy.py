"""Loopback HTTPS proxy that lets TensorFlow's gs:// reach a GCS emulator.

TensorFlow's GCS filesystem has hard-coded HTTPS endpoints
(`https://www.googleapis.com/...`, `https://storage.googleapis.com/...`) but
its libcurl honours `https_proxy` and `CURL_CA_BUNDLE`. This script is that
proxy: it answers `CONNECT host:443`, terminates TLS with a certificate from
a throwaway test CA, and forwards each tunnelled request as plain HTTP to the
emulator (fake-gcs-server), keeping the original `Host` header so the
emulator's host-based routes (`storage.googleapis.com/<bucket>/<object>`)
still match.

It also repairs the places where TensorFlow's requests and fake-gcs-server
disagree:

* `POST ...?uploadType=resumable` is sent with `Transfer-Encoding: identity`
  (fake-gcs-server answers 501), so hop-by-hop framing headers are dropped and
  a correct `Content-Length` is sent instead.
* The upload `PUT` carries both `Transfer-Encoding: chunked` and a
  `Content-Length` plus `Expect: 100-continue`; the body is de-chunked here
  (chunked framing wins, per RFC 9112) and re-sent with its real length.

`X-Forwarded-Proto: https` makes the emulator return `https://` session URIs
in `Location`, so the follow-up `PUT` also comes back through this proxy.

One endpoint is answered here because fake-gcs-server lacks it:
`GET /storage/v1/b/<bucket>/storageLayout`. TensorFlow 2.21 asks for it before
renaming a directory (to use the folder-rename API on hierarchical-namespace
buckets); a 404 there makes the whole rename fail. The reply says
"hierarchical namespace disabled", which is what a classic bucket answers,
after checking with the emulator that the bucket exists.

Run it as its own process, never as a thread inside the TensorFlow process:
a proxy thread next to TensorFlow's blocking libcurl calls deadlocked when
that was tried on this project's machines.

  python tests/gcs_proxy.py --listen-port 0 --upstream http://127.0.0.1:4443 \
      --cert server.pem --key server.key --ready-file ready.txt \
      [--log requests.log] [--companion-pid EMULATOR_PID]

With `--listen-port 0` the OS picks the port; the chosen port is written to
`--ready-file` (atomically) once the socket is listening. `--log` gets one
line per request: `METHOD host path status milliseconds`. The proxy exits
when its parent process disappears, SIGTERMing `--companion-pid` first.
"""

import argparse
import http.client
import http.server
import json
import os
import re
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

# Hosts TensorFlow (and google-auth, should it ever be used) may tunnel to.
# Anything else is refused so unexpected traffic shows up in the log instead
# of failing later as an obscure TLS error.
DEFAULT_ALLOWED_HOSTS = (
    "www.googleapis.com",
    "storage.googleapis.com",
    "oauth2.googleapis.com",
)

# Hop-by-hop and framing headers: they describe one connection, not the
# message, so they must not be copied to the other side (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
    "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    "Expect", "Content-Length"))

STORAGE_LAYOUT_PATH = re.compile(
    r"^/storage/v1/b/([^/?]+)/storageLayout(\?.*)?$")


class ProxyHandler(http.server.BaseHTTPRequestHandler):
  """Handles one client connection: a CONNECT, then requests inside TLS."""

  protocol_version = "HTTP/1.1"
  # Set on the server class by `main`.
  server: "ProxyServer"

  def setup(self):
    super().setup()
    # Headers and body go out as separate writes; with Nagle on, the body
    # waits for libcurl's delayed ACK, adding ~40 ms to every request.
    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    self.tunnel_host = None

  def handle(self):
    # Clients (libcurl) close tunnels abruptly; that is normal here and must
    # not print tracebacks into the log that make real failures hard to see.
    try:
      super().handle()
    except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
      self.close_connection = True

  def finish(self):
    try:
      super().finish()
    except (ConnectionError, ssl.SSLError, OSError):
      pass
    if isinstance(self.connection, ssl.SSLSocket):
      # wrap_socket detached the original socket, so the server's own
      # shutdown_request no longer closes the file descriptor.
      try:
        self.connection.close()
      except OSError:
        pass

  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    # The default writes every request to stderr; the request log below is
    # the useful record, so keep stderr for errors only.
    pass

  def do_CONNECT(self):
    host, _, port = self.path.rpartition(":")
    if self.tunnel_host is not None or host not in self.server.allowed_hosts:
      self.server.log_request_line("CONNECT", host, port, 403, 0.0)
      self.send_error(403, "tunnel to %s not allowed" % self.path)
      self.close_connection = True
      return
    self.send_response_only(200, "Connection established")
    self.end_headers()
    tls = self.server.tls_context.wrap_socket(self.connection, server_side=True)
    # From here on, BaseHTTPRequestHandler.handle keeps reading requests, now
    # from the decrypted stream.
    self.connection = tls
    self.rfile = tls.makefile("rb", self.rbufsize)
    self.wfile = tls.makefile("wb", 0)
    self.tunnel_host = host
    self.close_connection = False

  def _read_body(self):
    """Returns the request body, de-chunked if it was chunked."""
    encodings = [e.strip().lower() for e in
                 self.headers.get("Transfer-Encoding", "").split(",") if e]
    body = bytearray()  # Grows in place: large uploads stay linear.
    if "chunked" in encodings:
      while True:
        size_line = self.rfile.readline(65537)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
          # Skip optional trailers up to the blank line.
          while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass
          break
        body += self.rfile.read(size)
        self.rfile.readline(65537)  # CRLF after each chunk.
    else:
      length = int(self.headers.get("Content-Length") or 0)
      if length:
        body += self.rfile.read(length)
    return body

  def _forward(self):
    if self.tunnel_host is None:
      # Plain requests are not part of the contract: TF only uses HTTPS, and
      # the Python client goes to the emulator directly.
      self.send_error(400, "only CONNECT tunnels are supported")
      self.close_connection = True
      return
    start = time.monotonic()
    body = self._read_body()
    layout = STORAGE_LAYOUT_PATH.match(self.path)
    if self.command == "GET" and layout:
      self._storage_layout(layout.group(1), start)
      return
    upstream = self.server.upstream
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port,
                                      timeout=self.server.upstream_timeout)
    try:
      conn.putrequest(self.command, self.path, skip_host=True,
                      skip_accept_encoding=True)
      for name, value in self.headers.items():
        if name.lower() not in HOP_BY_HOP:
          conn.putheader(name, value)
      conn.putheader("X-Forwarded-Proto", "https")
      if body or self.command in ("POST", "PUT", "PATCH"):
        conn.putheader("Content-Length", str(len(body)))
      conn.endheaders(bytes(body) if body else None)
      response = conn.getresponse()
      data = response.read()
      self.send_response_only(response.status, response.reason)
      for name, value in response.getheaders():
        if name.lower() not in HOP_BY_HOP:
          self.send_header(name, value)
      if self.command == "HEAD":
        length = response.getheader("Content-Length", "0")
      else:
        length = str(len(data))
      self.send_header("Content-Length", length)
      self.end_headers()
      if self.command != "HEAD" and data:
        self.wfile.write(data)
      status = response.status
    except (OSError, http.client.HTTPException) as e:
      self.send_error(502, "upstream error: %s" % e)
      self.close_connection = True
      status = 502
    finally:
      conn.close()
    self.server.log_request_line(self.command, self.tunnel_host, self.path,
                                 status, time.monotonic() - start)

  def _storage_layout(self, bucket, start):
    """Answers storageLayout from the bucket's metadata (see module doc)."""
    upstream = self.server.upstream
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port,
                                      timeout=self.server.upstream_timeout)
    try:
      conn.request("GET", "/storage/v1/b/" + bucket)
      response = conn.getresponse()
      metadata = response.read()
      status = response.status
    finally:
      conn.close()
    if status == 200:
      info = json.loads(metadata)
      payload = {
          "kind": "storage#storageLayout",
          "bucket": info.get("name", bucket),
          "location": info.get("location", "US-CENTRAL1"),
          "locationType": info.get("locationType", "region"),
          "hierarchicalNamespace": {"enabled": False},
      }
      data = json.dumps(payload).encode()
    else:
      data = metadata
    self.send_response_only(status)
    self.send_header("Content-Type", "application/json")
    self.send_header("Content-Length", str(len(data)))
    self.end_headers()
    self.wfile.write(data)
    self.server.log_request_line(self.command, self.tunnel_host, self.path,
                                 status, time.monotonic() - start)

  do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward


class ProxyServer(http.server.ThreadingHTTPServer):
  """Threaded server carrying the proxy's configuration."""

  daemon_threads = True

  def __init__(self, address, tls_context, upstream, allowed_hosts,
               log_path=None, upstream_timeout=120.0):
    super().__init__(address, ProxyHandler)
    self.tls_context = tls_context
    self.upstream = upstream
    self.allowed_hosts = frozenset(allowed_hosts)
    self.upstream_timeout = upstream_timeout
    self._log_lock = threading.Lock()
    self._log_file = open(log_path, "a", encoding="utf-8") if log_path else None

  def log_request_line(self, method, host, path, status, seconds):
    """Appends `METHOD host path status milliseconds` to the request log."""
    if self._log_file is None:
      return
    with self._log_lock:
      self._log_file.write("%s %s %s %s %.1f\n" % (method, host, path, status,
                                                  seconds * 1000))
      self._log_file.flush()


def _watch_parent(parent_pid, server, companion_pid=None):
  """Stops the proxy, and its companion emulator, when the parent is gone.

  A killed test run cannot run its `finally`; without this both processes
  would outlive it.
  """
  while True:
    time.sleep(0.5)
    if os.getppid() != parent_pid:
      if companion_pid:
        _terminate_companion(companion_pid)
      server.shutdown()
      return


def _terminate_companion(pid):
  """SIGTERMs `pid` if it is still a fake-gcs-server (pids get reused)."""
  try:
    with open("/proc/%d/cmdline" % pid, "rb") as f:
      if b"fake-gcs-server" not in f.read():
        return
    os.kill(pid, signal.SIGTERM)
  except OSError:
    pass  # Already gone, or no /proc on this platform.


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--listen-host", default="127.0.0.1")
  parser.add_argument("--listen-port", type=int, required=True,
                      help="0 lets the OS choose; see --ready-file")
  parser.add_argument("--upstream", required=True,
                      help="emulator base URL, e.g. http://127.0.0.1:4443")
  parser.add_argument("--cert", required=True,
                      help="PEM server certificate (chain) for the tunnels")
  parser.add_argument("--key", required=True, help="PEM private key")
  parser.add_argument("--ready-file",
                      help="written with the port once listening")
  parser.add_argument("--log", help="request log, one line per request")
  parser.add_argument("--companion-pid", type=int,
                      help="fake-gcs-server pid to terminate if this proxy's "
                           "parent dies without stopping them")
  parser.add_argument("--allow-host", action="append",
                      help="CONNECT target allowed (repeatable); defaults to "
                           + ", ".join(DEFAULT_ALLOWED_HOSTS))
  args = parser.parse_args(argv)

  upstream = urllib.parse.urlsplit(args.upstream)
  if upstream.scheme != "http" or not upstream.port:
    parser.error("--upstream must be http://HOST:PORT")
  context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
  context.load_cert_chain(args.cert, args.key)

  server = ProxyServer((args.listen_host, args.listen_port), context, upstream,
                       args.allow_host or DEFAULT_ALLOWED_HOSTS, args.log)
  port = server.server_address[1]
  if args.ready_file:
    # Write then rename, so a poller never reads a half-written port.
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      f.write("%d\n" % port)
    os.replace(tmp, args.ready_file)
  print("gcs_proxy listening on %s:%d -> %s" % (args.listen_host, port,
                                                args.upstream), flush=True)
  threading.Thread(target=_watch_parent,
                   args=(os.getppid(), server, args.companion_pid),
                   daemon=True).start()
  try:
    server.serve_forever(poll_interval=0.2)
  except KeyboardInterrupt:
    pass
  finally:
    server.server_close()
  return 0


if __name__ == "__main__":
  sys.exit(main())
