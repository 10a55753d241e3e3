"""Test harness for clinicflow's integration tests: the real binaries on
ephemeral ports against the PostgreSQL, Redis and devbroker that ./tests/run
started (CLINICFLOW_TEST_* variables), HTTP without exceptions on error
statuses, topic reads with kcat (every message checked against its schema),
a private devbroker for fault tests, psql and clinicflowctl runners, and a
tiny test runner that prints "N passed, N failed".

Design choice: a missing server or binary is a failure, never a skip, and
every wait has a deadline. Processes started here are tracked and stopped
when a test is done, so one failing test leaves nothing running for the next
one (and nothing holding ctest's output open).
"""
import atexit
import hashlib
import hmac
import http.client as httpclient
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")

# Lowered Kafka consumer timings so tests do not wait for the defaults (a
# killed member blocks its group for a whole session timeout).
SERVICE_TEST_DEFAULTS = {
    "CLINICFLOW_HTTP_HOST": "127.0.0.1",
    "CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "CLINICFLOW_CONFIG_RELOAD_MS": "200",
    # the reminders' batch listener on a free port: tests run side by side
    "CLINICFLOW_REMINDERS_BATCH_PORT": "0",
}

_live = []  # started Service and Devbroker objects not yet stopped


class StackError(AssertionError):
    """The test stack is missing or misbehaving (always a failure)."""


def source_dir():
    """The repository root (CLINICFLOW_SOURCE_DIR, or found from this file)."""
    d = os.environ.get("CLINICFLOW_SOURCE_DIR")
    if d:
        return d
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bin_path(name):
    """Absolute path of a built binary in CLINICFLOW_BIN_DIR; fails if absent."""
    d = os.environ.get("CLINICFLOW_BIN_DIR")
    if not d:
        raise StackError("CLINICFLOW_BIN_DIR is not set (run the tests through ./tests/run)")
    p = os.path.join(d, name)
    if not os.access(p, os.X_OK):
        raise StackError("binary %s not found or not executable" % p)
    return p


def _ephemeral_low():
    """The first port of the kernel's range for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago, below the range
    the kernel gives outgoing connections: one taken from that range (as
    a bind to port 0 does) could be any client's local port by the time
    its server binds it, and tests run in parallel connect a lot. Here
    only another test's pick could take it, drawn at random from about
    12,000."""
    low = _ephemeral_low()
    for _ in range(100):
        port = secrets.randbelow(max(low - 20000, 1000)) + 20000 if low > 21000 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env():
    """The shared test stack from ./tests/run: a dict with pg_dsn, redis_url,
    brokers and devbroker_control. A missing variable is a failure."""
    names = {
        "pg_dsn": "CLINICFLOW_TEST_PG_DSN",
        "redis_url": "CLINICFLOW_TEST_REDIS_URL",
        "brokers": "CLINICFLOW_TEST_BROKERS",
        "devbroker_control": "CLINICFLOW_TEST_DEVBROKER_CONTROL",
    }
    out, missing = {}, []
    for key, var in names.items():
        value = os.environ.get(var, "")
        if not value:
            missing.append(var)
        out[key] = value
    if missing:
        raise StackError("test stack not available: %s unset (run the tests through ./tests/run)"
                         % ", ".join(missing))
    return out


def wait_until(predicate, timeout, what="condition", interval=0.1):
    """Polls predicate() until it returns a true value, which is returned;
    raises AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(interval)


def http(method, url, body=None, headers=None, timeout=10):
    """One HTTP request. body: bytes, str (UTF-8) or a JSON-able object (sent
    as application/json). Returns (status, headers with lower-case names,
    body bytes); error statuses are returned, not raised."""
    parts = urllib.parse.urlsplit(url)
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, bytearray, str)):
        body = json.dumps(body).encode()
        if not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = "application/json"
    elif isinstance(body, str):
        body = body.encode()
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    conn = httpclient.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        out = {}
        for k, v in resp.getheaders():
            k = k.lower()
            out[k] = out[k] + ", " + v if k in out else v
        return resp.status, out, data
    finally:
        conn.close()


def _check_sanitizers(what, text):
    for mark in SANITIZER_MARKS:
        if mark in text:
            raise AssertionError("%s: sanitizer report in its output:\n%s" % (what, text[-6000:]))


class Service:
    """One clinicflow service binary (clinicflow-<name>) as a real process.

    env: overrides of the environment (a value of None removes a variable).
    By default it talks to the shared test stack and listens on an ephemeral
    port (CLINICFLOW_HTTP_PORT=0) that it reports in a port file."""

    def __init__(self, name, env=None, port=0):
        self.name = name
        self.binary = bin_path("clinicflow-" + name)
        self.dir = tempfile.mkdtemp(prefix="cf-%s-" % name)
        self.port_file = os.path.join(self.dir, "port")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self.requested_port = port
        self.port = None
        self.proc = None
        self.returncode = None
        self._final_logs = None
        self.env = self._environment(env or {})

    def _environment(self, overrides):
        e = {k: v for k, v in os.environ.items() if not k.startswith("CLINICFLOW_")
             or k in ("CLINICFLOW_BIN_DIR", "CLINICFLOW_SOURCE_DIR")}
        stack = env()
        e.update({
            "CLINICFLOW_PG_DSN": stack["pg_dsn"],
            "CLINICFLOW_REDIS_URL": stack["redis_url"],
            "CLINICFLOW_KAFKA_BROKERS": stack["brokers"],
        })
        e.update(SERVICE_TEST_DEFAULTS)
        if self.requested_port:
            e["CLINICFLOW_HTTP_PORT"] = str(self.requested_port)
        else:
            e["CLINICFLOW_HTTP_PORT"] = "0"
            e["CLINICFLOW_HTTP_PORT_FILE"] = self.port_file
        for k, v in overrides.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = str(v)
        return e

    def start(self, timeout=30):
        """Starts the process and waits until /readyz answers 200. Raises
        with the process's log when it exits or the deadline passes."""
        assert self.proc is None, "%s already started" % self.name
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([self.binary], env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err, start_new_session=True)
        _live.append(self)
        deadline = time.monotonic() + timeout
        if self.requested_port:
            self.port = self.requested_port
        else:
            last = None
            while self.port is None:
                self._check_alive("before writing its port file")
                try:
                    with open(self.port_file) as f:
                        text = f.read()
                    # complete when newline-terminated or unchanged since the last look
                    if text.strip() and (text.endswith("\n") or text == last):
                        self.port = int(text.strip())
                        break
                    last = text
                except (FileNotFoundError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    self._fail_start("did not write its port file within %ss" % timeout)
                time.sleep(0.05)
        status = None
        while True:
            self._check_alive("before /readyz answered 200")
            try:
                status = http("GET", self.url("/readyz"), timeout=2)[0]
                if status == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self._fail_start("/readyz not 200 within %ss (last status %s)" % (timeout, status))
            time.sleep(0.1)

    def _check_alive(self, when):
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            _forget(self)
            raise StackError("clinicflow-%s exited with %s %s:\n%s"
                             % (self.name, self.returncode, when, self.logs()[-4000:]))

    def _fail_start(self, why):
        self.kill()
        raise StackError("clinicflow-%s %s:\n%s" % (self.name, why, self.logs()[-4000:]))

    def url(self, path="/"):
        assert self.port, "%s is not started" % self.name
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def logs(self):
        """Everything the process wrote so far (stderr, then stdout); still
        available after stop()."""
        if self._final_logs is not None:
            return self._final_logs
        text = ""
        for p in (self.stderr_path, self.stdout_path):
            try:
                with open(p, "rb") as f:
                    text += f.read().decode("utf-8", "replace")
            except FileNotFoundError:
                pass
        return text

    def log_records(self):
        """The JSON-lines log records on stderr (other lines skipped)."""
        out = []
        for line in self.logs().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def signal(self, sig):
        """Sends a signal without waiting (e.g. SIGKILL for crash tests)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for the process to exit; returns its exit code."""
        self.returncode = self.proc.wait(timeout=timeout)
        _forget(self)
        return self.returncode

    def stop(self, timeout=15, check=True, expect=0):
        """SIGTERM, then waits up to `timeout` s (SIGKILL after that, a
        failure). With check, asserts the exit code is `expect` and that
        the output holds no sanitizer report. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stacks = thread_stacks(self.proc.pid) if check else ""
                self.proc.kill()
                self.proc.wait()
                _forget(self)
                if check:
                    raise AssertionError("clinicflow-%s did not exit within %ss of SIGTERM:\n%s\n%s"
                                         % (self.name, timeout, self.logs()[-4000:], stacks))
        self.returncode = self.proc.returncode
        _forget(self)
        if check:
            _check_sanitizers("clinicflow-" + self.name, self.logs())
            if self.returncode != expect:
                raise AssertionError("clinicflow-%s exited with %s (expected %s):\n%s"
                                     % (self.name, self.returncode, expect, self.logs()[-4000:]))
        return self.returncode

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _forget(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(check=exc_type is None)


def _forget(obj):
    """Drops a finished process from the live list and its temporary folder
    from the disk (its output is kept in memory for logs())."""
    if obj in _live:
        _live.remove(obj)
    if obj._final_logs is None and obj.proc is not None and obj.proc.poll() is not None:
        obj._final_logs = obj.logs()
        shutil.rmtree(obj.dir, ignore_errors=True)


def _stop_leftovers():
    while _live:
        obj = _live.pop()
        try:
            obj.kill()
        except Exception:  # best effort on the way out
            pass


atexit.register(_stop_leftovers)


class Devbroker:
    """A private clinicflow-devbroker (for tests that take brokers down or
    inject errors, or want topics of their own). Started on construction;
    .bootstrap is its broker list, .control its host:port."""

    def __init__(self, brokers=3, timeout=30):
        self.dir = tempfile.mkdtemp(prefix="cf-devbroker-")
        self._final_logs = None
        self.proc = None
        self.log_path = os.path.join(self.dir, "devbroker.log")
        boot = os.path.join(self.dir, "bootstrap")
        ctl = os.path.join(self.dir, "control")
        cat = os.path.join(source_dir(), "proto", "topics.json")
        cmd = [bin_path("clinicflow-devbroker"), "--catalogue", cat, "--brokers", str(brokers),
               "--bootstrap-file", boot, "--control-file", ctl]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        _live.append(self)
        self.returncode = None
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                _forget(self)
                raise StackError("devbroker exited with %s during start-up:\n%s"
                                 % (self.proc.returncode, self.logs()))
            now = (_first_line(boot), _first_line(ctl))
            # complete once both hold a line that ends in a newline or that
            # did not change since the previous look
            if all(now) and (all(x[1] for x in now) or now == last):
                self.bootstrap, self.control = now[0][0], now[1][0]
                break
            last = now
            if time.monotonic() > deadline:
                self.kill()
                raise StackError("devbroker wrote no bootstrap/control file within %ss:\n%s"
                                 % (timeout, self.logs()))
            time.sleep(0.05)

    def logs(self):
        if self._final_logs is not None:
            return self._final_logs
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def _control(self, method, path, body=None):
        st, _, data = http(method, "http://%s%s" % (self.control, path), body)
        if st // 100 != 2:
            raise StackError("devbroker control %s %s -> %s %r" % (method, path, st, data))
        return json.loads(data) if data.strip() else None

    def down(self, broker_id=None):
        """Takes one broker (or all) down."""
        path = "/brokers/down" if broker_id is None else "/brokers/%d/down" % broker_id
        return self._control("POST", path)

    def up(self, broker_id=None):
        path = "/brokers/up" if broker_id is None else "/brokers/%d/up" % broker_id
        return self._control("POST", path)

    def brokers(self):
        """[{"id": 1, "up": True}, ...]"""
        return self._control("GET", "/brokers")["brokers"]

    def inject_errors(self, api, errors, count=1):
        """Makes the next `count` requests of `api` ("Produce", ...) fail
        with the given Kafka error names."""
        return self._control("POST", "/errors", {"api": api, "errors": list(errors),
                                                 "count": count})

    def clear_errors(self):
        return self._control("DELETE", "/errors")

    def stop(self, timeout=15, check=True):
        """SIGTERM; asserts a clean exit (0, no sanitizer report)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                if check:
                    raise AssertionError("devbroker did not exit within %ss of SIGTERM"
                                         % timeout)
        self.returncode = self.proc.returncode
        _forget(self)
        if check:
            _check_sanitizers("devbroker", self.logs())
            if self.returncode != 0:
                raise AssertionError("devbroker exited with %s:\n%s"
                                     % (self.returncode, self.logs()[-4000:]))
        return self.returncode

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        _forget(self)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop(check=exc_type is None)


def _first_line(path):
    """(first line stripped, whether it ended with a newline), or None."""
    try:
        with open(path) as f:
            line = f.readline()
    except FileNotFoundError:
        return None
    return (line.strip(), line.endswith("\n")) if line.strip() else None


class TopicReader:
    """Reads a whole topic from the beginning with kcat (partitions assigned
    directly, no consumer group). Every message is validated against the
    topic's schema (tests/lib/contract.py); an invalid one fails the test.
    validate=False is only for a topic into which the test itself wrote
    poison on purpose."""

    def __init__(self, brokers, topic, timeout=30, validate=True):
        self.brokers = brokers
        self.topic = topic
        self.timeout = timeout
        self.validate = validate

    def read(self):
        """All messages now on the topic: a list of dicts with partition,
        offset, key and payload (str, or None for a null value)."""
        cmd = ["kcat", "-b", self.brokers, "-C", "-t", self.topic, "-o", "beginning", "-e",
               "-J", "-q"]
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise StackError("kcat on %s did not reach the end within %ss"
                             % (self.topic, self.timeout))
        if p.returncode != 0:
            raise StackError("kcat on %s exited with %s: %s"
                             % (self.topic, p.returncode, p.stderr.decode(errors="replace")))
        import contract  # written beside this file; imported late so it stays optional here

        out = []
        for line in p.stdout.decode("utf-8", "replace").splitlines():
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            msg = {"partition": rec["partition"], "offset": rec["offset"],
                   "key": rec.get("key"), "payload": rec.get("payload")}
            if self.validate:
                contract.validate_message(self.topic, msg["key"], msg["payload"])
            out.append(msg)
        out.sort(key=lambda m: (m["partition"], m["offset"]))
        return out

    def wait_for(self, predicate, timeout=30, interval=0.3):
        """Polls until a message satisfies predicate(msg) and returns it."""
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.read()
            seen = len(msgs)
            for m in msgs:
                if predicate(m):
                    return m
            if time.monotonic() > deadline:
                raise AssertionError("no matching message on %s within %ss (%d messages seen)"
                                     % (self.topic, timeout, seen))
            time.sleep(interval)

    def wait_count(self, predicate, count, timeout=30, interval=0.3):
        """Polls until at least `count` messages satisfy predicate; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            hits = [m for m in self.read() if predicate(m)]
            if len(hits) >= count:
                return hits
            if time.monotonic() > deadline:
                raise AssertionError("%d of %d matching messages on %s within %ss"
                                     % (len(hits), count, self.topic, timeout))
            time.sleep(interval)


def produce(brokers, topic, key, value, timeout=30):
    """Writes one message with kcat, as a foreign producer would. value None
    writes a tombstone (a null value)."""
    if value is None:
        # kcat skips empty lines; "key:" with -K: and -Z is a null value.
        cmd = ["kcat", "-b", brokers, "-P", "-t", topic, "-K:", "-Z"]
        value = key.encode() + b":\n"
    else:
        cmd = ["kcat", "-b", brokers, "-P", "-t", topic, "-k", key, "-Z"]
    p = subprocess.run(cmd, input=value, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise StackError("kcat -P on %s exited with %s: %s"
                         % (topic, p.returncode, p.stderr.decode(errors="replace")))


class OwnRedis:
    """A Redis server of a test's own (one whose state the test changes:
    stopped, paused), on a free loopback port, keeping nothing on disk."""

    def __init__(self):
        self.port = free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self._start()

    def _start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: self._ping(), 10, "the test's redis")

    def restart(self):
        """Stopped and started again on the same port: without persistence,
        with none of its data."""
        self.close()
        self._start()

    def _ping(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.CalledProcessError:
            return False

    def cli(self, *args):
        p = subprocess.run(["redis-cli", "-p", str(self.port)] + [str(a) for a in args],
                           capture_output=True, timeout=10, check=True)
        return p.stdout.decode().strip()

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def psql(dsn, sql, timeout=30):
    """Runs SQL (ON_ERROR_STOP) and returns the last statement's rows as
    lists of strings (NULL as ""). A failure raises with psql's message."""
    cmd = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-F", "\x1f", "-R", "\x1e",
           "-d", dsn, "-c", sql]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise StackError("psql failed (%s): %s" % (sql[:200], p.stderr.decode(errors="replace")))
    text = p.stdout.decode()
    if text.endswith("\n"):
        text = text[:-1]
    if not text:
        return []
    return [r.split("\x1f") for r in text.split("\x1e")]


def new_database(base_dsn):
    """Creates an empty database (on the server of base_dsn) for one test, so
    tests run in parallel without seeing each other's rows; returns its DSN."""
    name = "t_%s" % secrets.token_hex(6)
    psql(base_dsn, "CREATE DATABASE %s" % name)
    parts = urllib.parse.urlsplit(base_dsn)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


class HeldSession:
    """A psql session that runs sql and stays open, so the locks it took (a
    session's advisory lock, or the row locks of a transaction it began) are
    held until release(): a consumer that needs them waits there, and the
    test sees it wait (waiters()) instead of guessing with a sleep."""

    def __init__(self, dsn, sql, timeout=30):
        self.dsn = dsn
        self.proc = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        # One line once the locks are taken: "held <pid>" (a second line
        # could sit in the pipe's reader buffer, where select cannot see it).
        self.proc.stdin.write("\\o /dev/null\n%s\n\\o\n\\t on\n\\a\n"
                              "SELECT 'held ' || pg_backend_pid();\n" % sql)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline().split() if ready else []
        if len(line) != 2 or line[0] != "held" or not line[1].isdigit():
            self.proc.kill()
            raise AssertionError("psql did not take its locks (%r): %s"
                                 % (line, self.proc.stderr.read()))
        self.pid = int(line[1])

    def waiters(self):
        """Sessions of the database waiting for a lock this session holds."""
        return int(psql(self.dsn, "SELECT count(*) FROM pg_stat_activity"
                                " WHERE datname = current_database()"
                                " AND %d = ANY(pg_blocking_pids(pid))" % self.pid)[0][0])

    def run(self, sql, timeout=30):
        """Runs more sql in the session (its transaction goes on, or ends
        with a COMMIT in sql): True once done, False when it failed (psql
        stops at an error, a deadlock PostgreSQL broke by aborting it)."""
        self.proc.stdin.write("\\o /dev/null\n%s\n\\o\nSELECT 'done';\n" % sql)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return bool(ready) and self.proc.stdout.readline().strip() == "done"

    def release(self):
        """Ends the session; its transaction rolls back, its locks go."""
        if self.proc.poll() is None:
            _, err = self.proc.communicate("\\q\n", timeout=30)
            assert self.proc.returncode == 0, err


def clinicflowctl(dsn, *args, check=True, input=None, timeout=60, env=None):
    """Runs clinicflowctl against dsn; returns the CompletedProcess (text).
    With check, a non-zero exit raises with its stderr."""
    e = dict(os.environ)
    e["CLINICFLOW_PG_DSN"] = dsn
    e.update(env or {})
    p = subprocess.run([bin_path("clinicflowctl")] + [str(a) for a in args], env=e,
                       input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise StackError("clinicflowctl %s exited with %s:\n%s%s"
                         % (" ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
    _check_sanitizers("clinicflowctl", p.stderr)
    return p


def demo_network_path():
    return os.path.join(source_dir(), "deploy", "local", "demo-network.json")


def demo_network():
    with open(demo_network_path()) as f:
        return json.load(f)


def _network_id(doc):
    return doc["id"] if "id" in doc else doc["network"]["id"]


def apply_demo_network(dsn):
    """Migrates the database and applies deploy/local/demo-network.json."""
    clinicflowctl(dsn, "migrate")
    clinicflowctl(dsn, "apply", "-f", demo_network_path())


def create_key(dsn, network_id, scope):
    """Creates an API key and returns it (the last word clinicflowctl prints)."""
    p = clinicflowctl(dsn, "key", "create", "--network", network_id, "--scope", scope)
    words = p.stdout.split()
    if not words:
        raise StackError("clinicflowctl key create printed no key")
    return words[-1]


def setup_demo(dsn):
    """migrate + apply the demo network + an ingest, a read and an admin key.
    Returns {"network_id", "ingest", "read", "admin"}."""
    apply_demo_network(dsn)
    net = _network_id(demo_network())
    keys = {"network_id": net}
    for scope in ("ingest", "read", "admin"):
        keys[scope] = create_key(dsn, net, scope)
    return keys


def contact_key(msg, secret=None):
    """The contact key of an E.164 number, "email:<address>" or
    "<provider>:<user id>": HMAC-SHA256 with the network's secret (the demo
    network's by default)."""
    secret = secret or demo_network()["secret"]
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


def apply_network(dsn, doc):
    """Applies a network document (a dict) with clinicflowctl."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(doc, f)
    try:
        clinicflowctl(dsn, "apply", "-f", f.name)
    finally:
        os.unlink(f.name)


def apply_network_and_wait(dsn, doc, services, timeout=20):
    """Applies doc and waits until every one of services (running Service
    objects) has reloaded its configuration."""
    before = [metric(svc, "clinicflow_config_version") for svc in services]
    apply_network(dsn, doc)
    wait_until(lambda: all(metric(svc, "clinicflow_config_version") > b
                           for svc, b in zip(services, before)), timeout,
               "the network config reloaded")


def small_network(network_id, secret, clinic_id, channels):
    """A second network for the walls between tenants: one clinic (in Kazan,
    Moscow time) and the given channels."""
    return {
        "id": network_id,
        "name": "Other Dental Network",
        "secret": secret,
        "timezone": "Europe/Moscow",
        "clinics": [{
            "id": clinic_id,
            "name": "Other Dental Clinic",
            "address": "Kazan, Baumana st. 1 (test)",
            "timezone": "Europe/Moscow",
            "working_hours": {"mon": ["09:00-18:00"]},
            "default_phone": "+74950007001",
        }],
        "channels": channels,
    }


def service_env(dsn, brokers, redis_url, **extra):
    """The environment a service under test runs with: its database, brokers
    and Redis, config reloaded every 200 ms, short Kafka timeouts; extra
    names more CLINICFLOW_* values."""
    out = {
        "CLINICFLOW_PG_DSN": dsn,
        "CLINICFLOW_KAFKA_BROKERS": brokers,
        "CLINICFLOW_REDIS_URL": redis_url,
        "CLINICFLOW_CONFIG_RELOAD_MS": "200",
        "CLINICFLOW_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "3000",
        "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS": "5000",
    }
    out.update(extra)
    return out


class ServiceStack:
    """A fresh database with the demo network and its keys (self.keys), then
    (start) a devbroker and the services a subclass's start_service starts;
    close stops them all."""

    def __init__(self):
        self.test_env = env()
        self.dsn = new_database(self.test_env["pg_dsn"])
        self.keys = setup_demo(self.dsn)
        self.broker = None
        self.services = []
        self.svc = None

    def env_for(self, **extra):
        """service_env for this stack's database, devbroker and Redis."""
        return service_env(self.dsn, self.broker.bootstrap, self.test_env["redis_url"], **extra)

    def start(self, instances=1):
        """Starts the devbroker and `instances` services; svc is the first."""
        self.broker = Devbroker()
        for _ in range(instances):
            self.services.append(self.start_service())
        self.svc = self.services[0] if self.services else None

    def start_service(self):
        raise NotImplementedError

    def close(self):
        try:
            for svc in self.services:
                svc.stop()
        finally:
            if self.broker:
                self.broker.stop()


def run_on_stack(stack_class, tests, **stack_args):
    """Runs the tests in order on one stack_class(**stack_args), closes it,
    then exits with their status."""
    s = stack_class(**stack_args)
    try:
        run([lambda f=f: f(s) for f in tests], exit=False)
    finally:
        s.close()
    exit_status()


def metric(svc, line_start):
    """The value of svc's /metrics line that starts with line_start, or 0."""
    text = http("GET", svc.url("/metrics"))[2].decode()
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0


class Relay:
    """A TCP relay on a loopback port of its own to host:port (a PostgreSQL
    server), so a test can take the server away from one process only.
    refuse(): the listener and every relayed connection close (clients get
    "connection refused"); stall(): connections are accepted and never
    answered, relayed traffic is held (a host that stopped answering, where
    clients wait out their timeouts); up(): relays again, closing what was
    stalled."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.port = free_port()
        self.mu = threading.Lock()
        self.mode = "up"
        self.conns = []
        self.listener = None
        self._listen()

    def _listen(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return  # refused or closed
            with self.mu:
                if self.listener is not ls:  # refused while accept() waited
                    client.close()
                    return
                if self.mode == "stall":  # accepted, never answered
                    self.conns.append(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.mu:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while True:  # held while stalled; closed by up()
                    with self.mu:
                        if self.mode != "stall":
                            break
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _drop_conns(self):
        with self.mu:
            conns, self.conns = self.conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def dsn(self, dsn):
        """dsn with its host and port replaced by the relay's."""
        parts = urllib.parse.urlsplit(dsn)
        user = parts.netloc.rsplit("@", 1)
        host = "127.0.0.1:%d" % self.port
        return urllib.parse.urlunsplit(parts._replace(
            netloc=(user[0] + "@" + host) if len(user) == 2 else host))

    def refuse(self):
        with self.mu:
            self.mode = "refuse"
            ls, self.listener = self.listener, None
        if ls:
            try:
                ls.shutdown(socket.SHUT_RDWR)  # wakes the accept() waiting on it
            except OSError:
                pass
            ls.close()
        self._drop_conns()

    def stall(self):
        with self.mu:
            self.mode = "stall"

    def up(self):
        with self.mu:
            was, self.mode = self.mode, "up"
        self._drop_conns()  # the stalled ones; clients reconnect
        if was == "refuse":
            self._listen()

    def close(self):
        self.refuse()


# The runner: plain functions, "N passed, N failed" at the end, exit 1 on
# any failure. Several run(..., exit=False) calls add up; exit_status() ends.
_results = {"passed": 0, "failed": 0}


def run(tests, exit=True):
    """Runs each test function in order; a test passes when it returns. After
    each test, processes started during it and not stopped are killed
    (processes started before, shared by several tests, are left alone)."""
    for t in tests:
        name = getattr(t, "__name__", repr(t))
        if name == "<lambda>" and t.__defaults__ and callable(t.__defaults__[0]):
            name = getattr(t.__defaults__[0], "__name__", name)  # lambda f=f: f(stack)
        started = time.monotonic()
        before = list(_live)
        try:
            t()
        except Exception:  # any failure, including AssertionError
            _results["failed"] += 1
            print("FAIL %s (%.1fs)" % (name, time.monotonic() - started), flush=True)
            traceback.print_exc(file=sys.stdout)
            _print_service_logs(stacks_of=[o for o in _live if o not in before])
            sys.stdout.flush()
        else:
            _results["passed"] += 1
            print("ok   %s (%.1fs)" % (name, time.monotonic() - started), flush=True)
        finally:
            for obj in [o for o in _live if o not in before]:
                obj.kill()
    if exit:
        exit_status()


def _print_service_logs(lines=40, stacks_of=()):
    """The last lines each running service wrote, so a failure in a run
    whose processes are gone can still be read; for those in stacks_of,
    where each thread is too (a failure that is a wait which never ended
    shows what the service was doing instead)."""
    for obj in list(_live):
        if isinstance(obj, Service):
            tail = obj.logs().splitlines()[-lines:]
            print("--- last %d lines of clinicflow-%s (pid %s)"
                  % (len(tail), obj.name, obj.proc.pid if obj.proc else "-"))
            print("\n".join(tail))
            if obj in stacks_of and obj.proc is not None and obj.proc.poll() is None:
                print(thread_stacks(obj.proc.pid))


def thread_stacks(pid, frames=12):
    """Each thread's name and innermost frames of a live process, through
    gdb when the machine has it (a diagnosis only: without it, the
    threads' names and kernel wait channels)."""
    out = []
    if shutil.which("gdb"):
        try:
            r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-q",
                                "-ex", "set pagination off",
                                "-ex", "thread apply all bt %d" % frames],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
            text = r.stdout.decode("utf-8", "replace")
            keep = [ln for ln in text.splitlines() if ln.startswith(("Thread ", "#"))]
            if keep:
                return "--- threads of pid %d\n%s" % (pid, "\n".join(keep))
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
            base = "/proc/%d/task/%s/" % (pid, tid)
            with open(base + "comm") as f, open(base + "wchan") as g:
                out.append("%s %s %s" % (tid, f.read().strip(), g.read().strip()))
    except OSError:
        pass
    return "--- threads of pid %d (name, wait channel)\n%s" % (pid, "\n".join(out))


def exit_status():
    """Prints the totals and exits: 1 if anything failed (or nothing ran)."""
    print("%d passed, %d failed" % (_results["passed"], _results["failed"]), flush=True)
    sys.exit(1 if _results["failed"] or not _results["passed"] else 0)
