"""clinicflow-analytics, each figure beside a baseline measured in the same
run (bench/run analytics; bench/RESULTS.md records a run):

  apply    clinicflow.calls.v1 filled on a fresh devbroker with call.ended
           events (the loader's mix, over 30 days), as many as its ~5 MB a
           partition keeps, none dropped (checked); then one instance of
           clinicflow-analytics, timed until its group
           clinicflow-analytics-calls has committed every partition's end
           to analytics.consumer_offsets; beside kcat -C -e reading the same
           topic from the beginning to the end (events/s).
  reports  10,000,000 calls of a year (3 clinics, 6 sources, 20 operators,
           ~5% missed with their callback tasks) loaded through COPY as the
           service would hold them (bench/analytics/loader.c: analytics.calls,
           calls_hourly, tasks with their missed calls' dimensions, persons;
           calls_clinic_hourly summed from calls_hourly), the indexes built,
           VACUUM ANALYZE;
           then GET /v1/reports/calls and /v1/reports/funnel for a month and
           for the year, grouped by clinic,day and (the calls report; the
           funnel has no source: a 400) by source, one request at a time:
           uncached (the first ask on an instance with the cache, then asks
           of an instance with CLINICFLOW_ANALYTICS_CACHE_TTL_S=0, about 8 s
           of them a query) and cached (the same query again and again on the
           instance with the cache); beside the bare hello-world server asked
           the same way. The slow month statements' plans with their actual
           times come from an instance of their own whose connections load
           auto_explain (the server log's plans).
  webhook  calls posted one at a time (50 a second for 20 s) to the calls
           service's generic webhook, each answered with an operator of its
           own; the time from each 202 until the calls report (cache off,
           grouped by operator: a row a call) counts it; beside the time from
           the 202 until a kcat consumer has the call's event on calls.v1.

Run by bench/run (its PostgreSQL, Redis and hello-world; release binaries):
CF_BENCH_ANALYTICS=apply,reports,webhook picks the parts, CF_BENCH_CALLS the
calls loaded (10,000,000), CF_BENCH_WEBHOOK_RATE and CF_BENCH_WEBHOOK_S the
webhook part's rate (50 a second) and duration (20 s), CF_BENCH_SERVICE_ENV
extra settings (NAME=VALUE separated by spaces, as bench/run takes them), and
CF_BENCH_PERF=1 a perf profile of the apply.
"""
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from datetime import datetime, timedelta, timezone

import cfstack

BIN = os.environ["CLINICFLOW_BIN_DIR"]
ROOT = os.environ["CLINICFLOW_SOURCE_DIR"]
WORK = os.environ["CF_BENCH_WORK"]
BASE_DSN = os.environ["CF_BENCH_PG_DSN"]
REDIS_URL = os.environ["CF_BENCH_REDIS_URL"]
HELLO_PORT = int(os.environ["CF_BENCH_HELLO_PORT"])
PG_LOG = os.environ.get("CF_BENCH_PG_LOG", "")
PG_STATS = os.environ.get("CF_BENCH_PG_STATS", "0") == "1"
LOADER = os.path.join(BIN, "clinicflow-bench-analytics-loader")

CALLS = "clinicflow.calls.v1"
GROUP = "clinicflow-analytics-calls"
PARTITIONS = 6
PARTITION_BYTES = 5 * 1024 * 1024  # what the devbroker keeps of a partition
MSK = timezone(timedelta(hours=3))

_procs = []  # (Popen, name) still running


def say(*parts):
    print("  ", *parts, flush=True)


def extra_env():
    out = {}
    for item in os.environ.get("CF_BENCH_SERVICE_ENV", "").split():
        name, _, value = item.partition("=")
        out[name] = value
    return out


def pct(values, q):
    """Nearest rank: the smallest value with at least q of them at or below."""
    s = sorted(values)
    return s[max(0, math.ceil(q * len(s)) - 1)] if s else float("nan")


def ms(seconds):
    return "%.1f" % (seconds * 1000)


def ratio(a, b):
    return "%.2f" % (a / b) if b else "n/a"


def stop(proc, name, timeout=20):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            say("(%s did not stop within %d s of SIGTERM: killed)" % (name, timeout))
    _procs[:] = [p for p in _procs if p[0] is not proc]


def stop_all():
    for proc, name in reversed(list(_procs)):
        stop(proc, name)


class Broker:
    """A fresh devbroker under WORK (as deploy/local/lib.sh starts one: bench/run
    stops a leftover at exit)."""

    def __init__(self, tag):
        self.dir = os.path.join(WORK, "kafka-analytics-%s" % tag)
        os.makedirs(self.dir, exist_ok=True)
        boot, ctl = os.path.join(self.dir, "bootstrap"), os.path.join(self.dir, "control")
        log = open(os.path.join(self.dir, "devbroker.log"), "wb")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "clinicflow-devbroker"), "--catalogue",
             os.path.join(ROOT, "proto", "topics.json"), "--bootstrap-file", boot,
             "--control-file", ctl], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
        _procs.append((self.proc, "devbroker"))
        with open(os.path.join(self.dir, "devbroker.pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)

        def ready():
            try:
                with open(boot) as b, open(ctl) as c:
                    lb, lc = b.readline(), c.readline()
                return lb.endswith("\n") and lc.endswith("\n") and lb.strip()
            except FileNotFoundError:
                return None
        cfstack.wait_until(ready, 30, "the devbroker's bootstrap file")
        time.sleep(0.1)
        with open(boot) as b:
            self.bootstrap = b.readline().strip()

    def stop(self):
        stop(self.proc, "devbroker")

    def watermarks(self, topic):
        """[(low, high)] of each partition."""
        out = []
        for which in (-2, -1):
            cmd = ["kcat", "-b", self.bootstrap, "-Q"]
            for p in range(PARTITIONS):
                cmd += ["-t", "%s:%d:%d" % (topic, p, which)]
            text = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                  timeout=30).stdout
            got = {}
            for line in text.splitlines():
                parts = line.split()  # "clinicflow.calls.v1 [3] offset 17"
                if len(parts) == 4 and parts[0] == topic:
                    got[int(parts[1].strip("[]"))] = int(parts[3])
            out.append([got[p] for p in range(PARTITIONS)])
        return list(zip(out[0], out[1]))


class Db:
    """A fresh database on bench/run's server, migrated, with the demo
    network and keys."""

    def __init__(self):
        self.dsn = cfstack.new_database(BASE_DSN)
        self.keys = cfstack.setup_demo(self.dsn)
        self.name = urllib.parse.urlsplit(self.dsn).path.lstrip("/")

    def sql(self, text, timeout=600):
        return cfstack.psql(self.dsn, text, timeout=timeout)

    def one(self, text, timeout=600):
        rows = self.sql(text, timeout)
        return rows[0][0] if rows else None

    def drop(self):
        """Dropped (the year's is gigabytes), unless KEEP=1 keeps the run's
        folder and what is in it."""
        if os.environ.get("KEEP", "0") != "1":
            cfstack.psql(BASE_DSN, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name,
                         timeout=300)


class Session:
    """One psql kept open, for polling without a process and a connection
    each time."""

    def __init__(self, dsn):
        self.proc = subprocess.Popen(["psql", "-X", "-A", "-t", "-q", "-F", "\t", "-d", dsn],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)

    def rows(self, text):
        self.proc.stdin.write(text.rstrip().rstrip(";") + ";\n\\echo __end__\n")
        self.proc.stdin.flush()
        out = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == "__end__":
                return out
            if line:
                out.append(line.split("\t"))
        raise RuntimeError("psql ended: %s" % self.proc.stderr.read())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def start_service(name, db, broker, tag, dsn=None, **settings):
    """clinicflow-<name> on a free port, as bench/run starts its services
    (extra settings, then CF_BENCH_SERVICE_ENV); returns (Popen, base URL)."""
    port = cfstack.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICFLOW_")}
    env.update({"CLINICFLOW_HTTP_PORT": str(port), "CLINICFLOW_PG_DSN": dsn or db.dsn,
                "CLINICFLOW_KAFKA_BROKERS": broker.bootstrap, "CLINICFLOW_REDIS_URL": REDIS_URL,
                "CLINICFLOW_LOG_LEVEL": "warn"})
    if name == "calls":
        env.update({"CLINICFLOW_CALLS_PUBLIC_BASE_URL": "http://127.0.0.1:%d" % port,
                    "CLINICFLOW_CALLS_DNI_IP_PER_MINUTE": "1000000",
                    "CLINICFLOW_CALLS_DNI_CLINIC_PER_SECOND": "1000000",
                    "CLINICFLOW_CALLS_DNI_NEW_HOLDS_PER_ADDRESS": "0"})
    env.update({k: str(v) for k, v in settings.items()})
    env.update(extra_env())
    log = open(os.path.join(broker.dir, "%s-%s.log" % (name, tag)), "ab")
    proc = subprocess.Popen([os.path.join(BIN, "clinicflow-" + name)], env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    _procs.append((proc, name))
    url = "http://127.0.0.1:%d" % port

    def ready():
        if proc.poll() is not None:
            raise RuntimeError("clinicflow-%s exited with %s (log: %s)" % (name, proc.returncode,
                                                                           log.name))
        try:
            return cfstack.http("GET", url + "/readyz", timeout=2)[0] == 200
        except OSError:
            return False
    cfstack.wait_until(ready, 60, "clinicflow-%s /readyz" % name, interval=0.05)
    return proc, url


def cpu_s(pid):
    """User + system seconds a process has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_cpu_s():
    """User + system seconds of bench/run's PostgreSQL: its postmaster's
    children now running (a backend that exited is not counted)."""
    try:
        with open(os.path.join(WORK, "pg", "data", "postmaster.pid")) as f:
            master = int(f.readline())
    except (OSError, ValueError):
        return 0.0
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == master or int(d) == master:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            pass
    return total


def pg_profile_reset(db):
    if PG_STATS:
        db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        db.sql("SELECT pg_stat_statements_reset()")


def pg_profile(db, what, limit=8):
    if not PG_STATS:
        return
    say("PostgreSQL, %s: the statements that took the most time (calls, total ms, mean ms,"
        " rows, statement):" % what)
    for r in db.sql("SELECT calls, round(total_exec_time), round(mean_exec_time::numeric, 3),"
                    " rows, left(regexp_replace(query, '\\s+', ' ', 'g'), 150)"
                    " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database()) ORDER BY total_exec_time DESC"
                    " LIMIT %d" % limit):
        say("  " + " | ".join(r))


def perf_begin(tag):
    """With CF_BENCH_PERF=1: the whole machine sampled (perf record -a -g)."""
    if os.environ.get("CF_BENCH_PERF", "0") == "0":
        return None
    path = os.path.join(WORK, "perf-%s.data" % tag)
    proc = subprocess.Popen(["perf", "record", "-a", "-g", "-F", "499", "-o", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, path


def perf_end(perf, pid):
    """The CPU by process, and the busiest functions of the process pid."""
    if perf is None:
        return
    proc, path = perf
    proc.send_signal(signal.SIGINT)
    proc.wait(60)

    def report(*args):
        out = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "-g",
                              "none"] + list(args), capture_output=True, text=True,
                             timeout=300).stdout
        return [ln for ln in out.splitlines() if ln.strip() and ln.lstrip()[0].isdigit()
                and "%" in ln]
    say("perf: the samples by process:")
    for ln in report("--sort", "comm")[:8]:
        say("   " + ln.strip())
    say("perf: the busiest functions of clinicflow-analytics (pid %d):" % pid)
    for ln in report("--pid", str(pid), "--sort", "dso,sym")[:25]:
        say("   " + ln.strip()[:150])


# ---- 1. apply rate ---------------------------------------------------------

def fill(broker):
    """calls.v1 filled with what a partition keeps: the loader's events in
    order, each to its key's partition (librdkafka's default partitioner:
    CRC-32 of the key), skipped once that partition has its share. Returns
    (events, bytes, per-partition counts, seconds to produce them, kinds of
    event checked against the contract)."""
    text = subprocess.run([LOADER, "events", "60000", "30"], capture_output=True, check=True,
                          timeout=120).stdout.decode()
    budget = PARTITION_BYTES * 0.93  # the record batches' own bytes on top
    used = [0] * PARTITIONS
    counts = [0] * PARTITIONS
    chosen = []
    for line in text.splitlines():
        key, value = line.split("\t", 1)
        p = zlib.crc32(key.encode()) % PARTITIONS
        size = len(key) + len(value) + 20
        if used[p] + size > budget:
            continue
        used[p] += size
        counts[p] += 1
        chosen.append(line)
    path = os.path.join(broker.dir, "calls.txt")
    with open(path, "w") as f:
        f.write("\n".join(chosen) + "\n")
    # one event of each kind checked against the contract
    import contract
    seen = set()
    for line in chosen:
        key, value = line.split("\t", 1)
        d = json.loads(value)["data"]
        kind = (d["direction"], d["outcome"], "attribution" in d)
        if kind not in seen:
            contract.validate_message(CALLS, key, value)
            seen.add(kind)
    t0 = time.time()
    with open(path, "rb") as f:
        subprocess.run(["kcat", "-b", broker.bootstrap, "-P", "-t", CALLS, "-K", "\t",
                        "-X", "linger.ms=20", "-X", "batch.num.messages=2000"], stdin=f,
                       check=True, timeout=300)
    return len(chosen), sum(len(x) + 1 for x in chosen), counts, time.time() - t0, len(seen)


def apply_rate():
    print("== analytics apply: calls.v1 filled on a fresh devbroker, then one clinicflow-analytics"
          " until its group has committed every partition's end; beside kcat -C -e", flush=True)
    broker = Broker("apply")
    db = Db()
    try:
        n, nbytes, predicted, fill_s, kinds = fill(broker)
        marks = broker.watermarks(CALLS)
        on_topic = sum(h - lo for lo, h in marks)
        dropped = sum(lo for lo, _ in marks)
        say("filled: %d call.ended events (%.1f MB, %d per partition: %s) in %.1f s; on the"
            " topic %d, dropped by the devbroker %d (low watermarks %s); %d kinds of event"
            " checked against the contract"
            % (n, nbytes / 1e6, round(n / PARTITIONS), ", ".join(str(h) for _, h in marks),
               fill_s, on_topic, dropped, [lo for lo, _ in marks], kinds))
        if [h for _, h in marks] != predicted:
            say("(partitions differ from the key hash's: %s)" % predicted)
        ends = [h for _, h in marks]

        # kcat reading the same topic: the floor of any consumer's cost.
        # Timed to its last message (at the end, -e waits for a fetch that
        # finds nothing, which the devbroker answers when the fetch's wait
        # expires), with the service's fetch wait (100 ms).
        kcat = []
        for _ in range(3):
            t0 = time.time()
            kc = subprocess.Popen(["kcat", "-b", broker.bootstrap, "-C", "-t", CALLS, "-o",
                                   "beginning", "-e", "-q", "-X", "fetch.wait.max.ms=100", "-f",
                                   "%o\n"], stdout=subprocess.PIPE, text=True)
            got, first, last = 0, None, None
            for _line in kc.stdout:
                got += 1
                if first is None:
                    first = time.time()
                if got == on_topic:
                    last = time.time()
            kc.wait(60)
            exit_t = time.time()
            if last is None:  # fewer than were put there: counted to its exit
                last = exit_t
                first = first or t0
            kcat.append((on_topic / (last - t0), on_topic / (last - first), last - t0,
                         last - first, exit_t - t0, got))
        kcat.sort()
        k_rate, k_rate_first, k_s, k_first_s, k_exit_s, k_got = kcat[1]
        t0 = time.time()
        subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", CALLS, "-o", "beginning",
                        "-e", "-q", "-f", "%o\n"], stdout=subprocess.DEVNULL, check=True,
                       timeout=120)
        k_default_s = time.time() - t0
        say("kcat -C -e, median of 3: %d events in %.2f s from its start = %.0f events/s, %.2f s"
            " from its first message = %.0f events/s (it exited %.2f s after its start; runs: %s"
            " events/s); with librdkafka's fetch wait (500 ms) it exited after %.2f s"
            % (k_got, k_s, k_rate, k_first_s, k_rate_first, k_exit_s,
               ", ".join("%.0f" % r[0] for r in kcat), k_default_s))

        pg_profile_reset(db)
        perf = perf_begin("apply")
        poll = Session(db.dsn)
        pg0 = pg_cpu_s()
        t0 = time.time()
        # a line a batch with its steps' times (the runner's debug log)
        proc, url = start_service("analytics", db, broker, "apply", CLINICFLOW_LOG_LEVEL="debug")
        t_ready = time.time()
        done_at = None
        deadline = t0 + 180
        while time.time() < deadline:
            rows = poll.rows("SELECT partition, next_offset FROM analytics.consumer_offsets"
                             " WHERE group_id = '%s' AND topic = '%s'" % (GROUP, CALLS))
            now = time.time()
            stored = {int(p): int(o) for p, o in rows}
            if all(stored.get(p, 0) >= ends[p] for p in range(PARTITIONS)):
                done_at = now
                break
            time.sleep(0.05)
        perf_end(perf, proc.pid)
        a_cpu = cpu_s(proc.pid)
        pg_cpu = pg_cpu_s() - pg0
        b_cpu = cpu_s(broker.proc.pid)
        first_batch, last_batch, batches, applied = poll.rows(
            "SELECT extract(epoch FROM min(applied_at)), extract(epoch FROM max(applied_at)),"
            " count(DISTINCT applied_at), count(*) FROM analytics.applied_events"
            " WHERE group_id = '%s'" % GROUP)[0]
        first_batch, last_batch = float(first_batch or 0), float(last_batch or 0)
        calls, hourly, persons = poll.rows(
            "SELECT (SELECT count(*) FROM analytics.calls), (SELECT coalesce(sum(inbound +"
            " outbound), 0) FROM analytics.calls_hourly), (SELECT count(*) FROM"
            " analytics.persons)")[0]
        poll.close()
        if done_at is None:
            say("NOT DONE after 180 s: %s" % stored)
            return
        dead = subprocess.run(["kcat", "-b", broker.bootstrap, "-C", "-t", "clinicflow.dlq.v1",
                               "-o", "beginning", "-e", "-q", "-f", ".\n"], capture_output=True,
                              timeout=60).stdout.count(b"\n")
        total = done_at - t0
        from_first = done_at - first_batch
        rate_total = on_topic / total
        rate_first = on_topic / from_first
        say("clinicflow-analytics: ready %.2f s after its start, first batch began %.2f s after"
            " it, every end committed %.2f s after it (polled every 50 ms)"
            % (t_ready - t0, first_batch - t0, total))
        say("  %s events applied in %s batches (%.0f a batch); analytics.calls %s rows, the"
            " rollup counts %s calls, persons %s; dead letters %d"
            % (applied, batches, int(applied) / max(1, int(batches)), calls, hourly, persons,
               dead))
        say("  CPU meanwhile: clinicflow-analytics %.1f s, PostgreSQL %.1f s, devbroker %.1f s"
            " (of %.1f s x 2 cores)" % (a_cpu, pg_cpu, b_cpu, total))
        say("apply: %.0f events/s from the first batch's start (%.2f s) = %sx kcat from its"
            " first message; %.0f events/s from the process start (%.2f s, start-up and group"
            " join included) = %sx kcat from its start (goal >= 0.3x)"
            % (rate_first, from_first, ratio(rate_first, k_rate_first), rate_total, total,
               ratio(rate_total, k_rate)))
        batch_ms = []
        with open(os.path.join(broker.dir, "analytics-apply.log"), errors="replace") as f:
            for ln in f:
                if "clinicflow-analytics-calls: batch of" in ln and " in ms: " in ln:
                    msg = json.loads(ln)["msg"]
                    n_ = int(msg.split("batch of ")[1].split()[0])
                    t = [int(x.split()[-1]) for x in msg.split(" in ms: ")[1].split(",")]
                    batch_ms.append((n_, t))
        full = [t for n_, t in batch_ms if n_ >= 900]
        if full:
            say("  a batch of 1,000 (the runner's debug log, %d of them): apply p50 %d ms, max %d"
                " (the service's work and its statements), produce p50 %d ms, offsets and commit"
                " p50 %d ms" % (len(full), pct([t[0] for t in full], .5), max(t[0] for t in full),
                                pct([t[1] for t in full], .5), pct([t[2] for t in full], .5)))
        pg_profile(db, "the apply")
        stop(proc, "analytics")
        fidelity(db)
    finally:
        stop_all()
        broker.stop()
        db.drop()


CALL_COLUMNS = (
    "call_id, network_id, hour, clinic_id, source, medium, campaign, operator, patient_class,"
    " channel, started_at, direction, status, outcome, agent_group, contact_key, inbound,"
    " outbound, answered, unique_calls, targeted, missed, abandoned, answered_call_center,"
    " answered_reception, talk_seconds, handled, inbound_talk_seconds")


def call_rows(dsn):
    text = subprocess.run(["psql", "-X", "-q", "-d", dsn, "-c", "COPY (SELECT %s FROM"
                           " analytics.calls) TO STDOUT" % CALL_COLUMNS], capture_output=True,
                          check=True, timeout=120).stdout.decode()
    return {ln.split("\t", 1)[0]: ln for ln in text.splitlines()}


def fidelity(db):
    """The loader's analytics.calls rows (what the reports part loads) for
    the calls the service just applied, against the service's own."""
    ours = call_rows(db.dsn)
    scratch = cfstack.new_database(BASE_DSN)
    try:
        cfstack.clinicflowctl(scratch, "migrate")
        subprocess.run([LOADER, "copy", scratch, "60000", "30", "1", "c"], check=True,
                       timeout=120)
        theirs = call_rows(scratch)
    finally:
        cfstack.psql(BASE_DSN, "DROP DATABASE IF EXISTS %s WITH (FORCE)"
                     % urllib.parse.urlsplit(scratch).path.lstrip("/"))
    same = sum(1 for k, v in ours.items() if theirs.get(k) == v)
    say("the loader's analytics.calls rows for these %d calls: %d the same as the service's,"
        " column for column" % (len(ours), same))


# ---- 2. report latency -----------------------------------------------------

class Client:
    """One keep-alive connection; each request timed from before it is sent
    to the last byte of the answer."""

    def __init__(self, base, key=None):
        self.parts = urllib.parse.urlsplit(base)
        self.headers = {"Authorization": "Bearer " + key} if key else {}
        self.connect()

    def connect(self):
        import http.client
        self.conn = http.client.HTTPConnection(self.parts.hostname, self.parts.port, timeout=300)

    def get(self, path):
        """(seconds, status, body); a keep-alive connection the server closed
        while it was idle (its CLINICFLOW_HTTP_TIMEOUT_S) is opened again and
        the request sent again, the failed attempt not counted."""
        import http.client
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                self.conn.request("GET", path, headers=self.headers)
                resp = self.conn.getresponse()
                body = resp.read()
                return time.perf_counter() - t0, resp.status, body
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.conn.close()
                self.connect()
                if attempt == 2:
                    raise

    def close(self):
        self.conn.close()


def timed(client, path, n, budget_s, least=2):
    """Latencies of path asked n times (fewer once budget_s has passed, at
    least `least`), every answer a 200."""
    out = []
    start = time.time()
    while len(out) < n and (len(out) < least or time.time() - start < budget_s):
        s, st, body = client.get(path)
        if st != 200:
            raise RuntimeError("%s: %s %s" % (path, st, body[:300]))
        out.append(s)
    return out


def load_year(db, n_calls):
    """The loader's calls through COPY, with the indexes dropped first and
    built again after (their definitions as the migrations made them)."""
    tables = ["analytics.calls", "analytics.calls_hourly", "analytics.tasks",
              "analytics.persons"]
    oids = ", ".join("'%s'::regclass" % t for t in tables)
    cons = db.sql("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                  " FROM pg_constraint WHERE conrelid IN (%s) AND contype = 'p'" % oids)
    idx = db.sql("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index"
                 " WHERE indrelid IN (%s) AND NOT indisprimary" % oids)
    db.sql("; ".join(["ALTER TABLE %s DROP CONSTRAINT %s" % (t, c) for t, c, _ in cons]
                     + ["DROP INDEX %s" % i for i, _ in idx]))
    t0 = time.time()
    subprocess.run([LOADER, "copy", db.dsn, str(n_calls), "365", "2"], check=True, timeout=1200)
    # the rollup by clinic and hour alone, as the service keeps it (what its
    # migration fills it with)
    db.sql("INSERT INTO analytics.calls_clinic_hourly SELECT network_id, hour, clinic_id, %s"
           " FROM analytics.calls_hourly GROUP BY 1, 2, 3"
           % ", ".join("sum(%s)" % c for c in ROLLUP_COUNTS))
    t1 = time.time()
    # the indexes in two sessions: analytics.calls' secondary ones (its
    # contact keys: the longest build) in one, the rest in the other
    pks = ["ALTER TABLE %s ADD CONSTRAINT %s %s" % (t, c, d) for t, c, d in cons]
    sessions = [[d for _, d in idx if " ON analytics.calls " in d],
                pks + [d for _, d in idx if " ON analytics.calls " not in d]]
    procs = [subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db.dsn, "-c",
                               "SET maintenance_work_mem = '512MB'; " + "; ".join(s)])
             for s in sessions if s]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("index builds failed")
    t2 = time.time()
    procs = [subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db.dsn, "-c",
                               "VACUUM ANALYZE " + t]) for t in (
        "analytics.calls", "analytics.calls_hourly, analytics.calls_clinic_hourly, analytics.tasks,"
        " analytics.persons")]
    if any(p.wait() != 0 for p in procs):
        raise RuntimeError("VACUUM ANALYZE failed")
    t3 = time.time()
    return t1 - t0, t2 - t1, t3 - t2


ROLLUP_COUNTS = ["inbound", "outbound", "answered", "unique_calls", "targeted", "missed",
                 "abandoned", "answered_call_center", "answered_reception", "talk_seconds",
                 "handled", "inbound_talk_seconds"]


def check_rollup(db):
    """calls_hourly against the calls it sums: every count's total, and one
    day's rows exactly (both ways); calls_clinic_hourly's totals against
    the same calls; that day's callback tasks' copies of their missed
    calls' dimensions against those calls."""
    counts = ROLLUP_COUNTS
    dims = "network_id, hour, clinic_id, source, medium, campaign, operator, patient_class, channel"
    sums = ", ".join("sum(%s)" % c for c in counts)
    a = db.sql("SELECT %s FROM analytics.calls" % sums)
    b = db.sql("SELECT %s FROM analytics.calls_hourly" % sums)
    day = "hour >= '2026-06-15' AND hour < '2026-06-16'"
    diff = db.one("SELECT count(*) FROM ((SELECT %(d)s, %(s)s FROM analytics.calls WHERE %(w)s"
                  " GROUP BY %(d)s EXCEPT SELECT %(d)s, %(c)s FROM analytics.calls_hourly WHERE"
                  " %(w)s) UNION ALL (SELECT %(d)s, %(c)s FROM analytics.calls_hourly WHERE %(w)s"
                  " EXCEPT SELECT %(d)s, %(s)s FROM analytics.calls WHERE %(w)s GROUP BY %(d)s))"
                  " x" % {"d": dims, "s": sums, "c": ", ".join(counts), "w": day})
    c = db.sql("SELECT %s FROM analytics.calls_clinic_hourly" % sums)
    odd = db.one("SELECT count(*) FROM analytics.tasks t LEFT JOIN analytics.calls c"
                 " ON c.call_id = t.source_call_id AND c.missed = 1 WHERE t.network_id = 'demo' AND"
                 " t.kind = 'callback' AND t.lead_id IS NULL AND t.hour >= '2026-06-15' AND"
                 " t.hour < '2026-06-16' AND"
                 " (t.call_source, t.call_medium, t.call_campaign, t.call_operator,"
                 " t.call_patient_class, t.call_channel) IS DISTINCT FROM (c.source, c.medium,"
                 " c.campaign, c.operator, c.patient_class, c.channel)")
    return a == b == c and diff == "0" and odd == "0", a[0]


QUERIES = [  # (report, range, group_by); the funnel has no source (a 400)
    ("calls", "month", "clinic,day"), ("calls", "month", "source"),
    ("calls", "year", "clinic,day"), ("calls", "year", "source"),
    ("funnel", "month", "clinic,day"), ("funnel", "year", "clinic,day"),
]
RANGES = {"month": ("2026-06-01", "2026-06-30"), "year": ("2026-01-01", "2026-12-31")}


def path_of(report, rng, group):
    f, t = RANGES[rng]
    return "/v1/reports/%s?from=%s&to=%s&group_by=%s" % (report, f, t, group)


def compact_plan(plan, duration):
    """The plan's nodes that took at least 5% of the statement (their
    actual times, rows and loops), the parts of a UNION ALL, and the sorts
    that spilled to disk."""
    out = []
    for ln in plan:
        text = ln.rstrip()
        indent = len(text) - len(text.lstrip())
        body = text.strip()
        if "actual time=" in body:
            name = body.split("  (cost=")[0].replace("->  ", "")
            actual = body.split("(actual time=")[1].rstrip(")")
            try:
                end = float(actual.split("..")[1].split()[0])
            except (IndexError, ValueError):
                end = 0.0
            loops = actual.split("loops=")[-1]
            if end * (int(loops) if loops.isdigit() else 1) >= 0.05 * duration \
                    or "*SELECT*" in name:
                out.append(" " * (indent // 3) + "%s: %s" % (name, actual))
        elif "never executed" in body and "*SELECT*" in body:
            out.append(" " * (indent // 3) + body)
        elif body.startswith("Sort Method: external") or body.startswith("Worker 0:  Sort Method:"
                                                                          " external"):
            out.append(" " * (indent // 3) + "  " + body)
        elif body.startswith("Rows Removed by Filter:") and int(body.split(":")[1]) >= 100000:
            out.append(" " * (indent // 3) + "  " + body)
    return out


def plans(url, key, queries):
    """Each query once on an instance whose connections log every statement
    over 20 ms with its plan and actual times (auto_explain); per query, the
    statements' durations and the slowest one's plan, from the server log."""
    if not PG_LOG or not os.path.exists(PG_LOG):
        return {}
    out = {}
    c = Client(url, key)
    for q in queries:
        with open(PG_LOG, "rb") as f:
            f.seek(0, 2)
            start = f.tell()
        took, _, _ = c.get(path_of(*q))
        time.sleep(0.3)
        with open(PG_LOG, "rb") as f:
            f.seek(start)
            text = f.read().decode("utf-8", "replace")
        stmts = []
        for chunk in text.split("LOG:  duration: ")[1:]:
            head, _, rest = chunk.partition(" ms  plan:")
            try:
                d = float(head)
            except ValueError:
                continue
            lines = [ln[1:] if ln.startswith("\t") else ln for ln in rest.splitlines()]
            query = next((ln for ln in lines if ln.startswith("Query Text:")), "")
            plan = [ln for ln in lines if ln.strip() and not ln.startswith("Query Text:")
                    and not ln.startswith("20")]
            stmts.append((d, query, plan))
        if stmts:
            out[q] = (took, stmts)
    c.close()
    return out


def reports(n_calls):
    print("== analytics reports: %d calls of a year loaded through COPY; GET /v1/reports/{calls,"
          "funnel}, one at a time, uncached and cached, beside the bare hello-world" % n_calls,
          flush=True)
    broker = Broker("reports")
    db = Db()
    try:
        load_s, index_s, vacuum_s = load_year(db, n_calls)
        sizes = db.sql(
            "SELECT c.relname, (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM"
            " analytics.' || c.relname, false, true, '')))[1]::text,"
            " pg_size_pretty(pg_table_size(c.oid)),"
            " pg_size_pretty(pg_indexes_size(c.oid)) FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'analytics' AND c.relname IN"
            " ('calls', 'calls_hourly', 'calls_clinic_hourly', 'tasks', 'persons')"
            " ORDER BY 1")
        say("loaded in %.0f s (COPY, 2 connections), indexes built in %.0f s, VACUUM ANALYZE"
            " %.0f s: %s" % (load_s, index_s, vacuum_s, "; ".join(
                "%s %s rows (%s, indexes %s)" % tuple(r) for r in sizes)))
        ok, _ = check_rollup(db)
        say("rollups against the calls: %s (every count's total, both rollups; 2026-06-15's rows"
            " exactly)"
            % ("the same" if ok else "DIFFERENT"))

        key = db.keys["read"]
        timeout = {"CLINICFLOW_ANALYTICS_REPORT_TIMEOUT_MS": 300000}
        _, url_u = start_service("analytics", db, broker, "uncached",
                                 CLINICFLOW_ANALYTICS_CACHE_TTL_S=0, **timeout)
        _, url_c = start_service("analytics", db, broker, "cached", **timeout)
        hello = Client("http://127.0.0.1:%d" % HELLO_PORT)
        for _ in range(50):
            hello.get("/")
        h = timed(hello, "/", 500, 30)
        hello.close()
        say("hello-world, GET / one at a time: p50 %s ms, p99 %s ms (n=%d)"
            % (ms(pct(h, .5)), ms(pct(h, .99)), len(h)))

        pg_profile_reset(db)
        cu, cc = Client(url_u, key), Client(url_c, key)
        _, st, body = cc.get(path_of("funnel", "month", "source"))
        say("funnel group_by=source: %d %s (the funnel groups by clinic and time only)"
            % (st, json.loads(body).get("error", {}).get("code", body[:80])
               if body.startswith(b"{") else body[:80]))
        rows = []
        for q in QUERIES:
            p = path_of(*q)
            # the cached instance's first ask: computed (a miss) and kept;
            # then the uncached instance (the first ask warmed the pages),
            # each ask computed; then the cached answer again and again
            miss, st, body = cc.get(p)
            if st != 200:
                raise RuntimeError("%s: %s %s" % (p, st, body[:300]))
            nrows = len(json.loads(body)["rows"])
            # uncached: that first ask (computed, then kept) and asks of the
            # uncached instance, for about 8 s in all
            u = [miss] + timed(cu, p, 19, 8 - miss, least=1 if miss < 5 else 0)
            c = timed(cc, p, 100, 5)
            rows.append((q, nrows, u, miss, c))
            say("%-6s %-5s group_by=%-10s %4d rows, %4.0f kB: uncached p50 %7s ms p99 %7s ms"
                " (n=%d); cached p50 %5s ms p99 %5s ms (n=%d)"
                % (q[0], q[1], q[2], nrows, len(body) / 1024, ms(pct(u, .5)), ms(pct(u, .99)),
                   len(u), ms(pct(c, .5)), ms(pct(c, .99)), len(c)))
        cu.close()
        cc.close()
        say("goals: p99 under 300 ms uncached, under 50 ms cached; the bare server's p99 %s ms"
            % ms(pct(h, .99)))
        for q, nrows, u, miss, c in rows:
            say("  %-6s %-5s %-10s uncached p99 %s ms (%s), cached p99 %s ms (%s); uncached p50"
                " = %.0fx the bare server's" % (
                    q[0], q[1], q[2], ms(pct(u, .99)), "met" if pct(u, .99) < .3 else "MISSED",
                    ms(pct(c, .99)), "met" if pct(c, .99) < .05 else "MISSED",
                    pct(u, .5) / pct(h, .5)))
        pg_profile(db, "the reports (every computed ask)")

        # the slow ones' plans, with actual times (an instance of their own):
        # the month's only (the year's read whole tables with parallel
        # sequential scans instead, and would cost another minute)
        slow = [q for q, _, u, _, _ in rows if pct(u, .99) >= .3 and q[1] == "month"]
        if slow and PG_LOG:
            opts = ("-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=20"
                    " -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on"
                    " -c auto_explain.log_timing=on")
            dsn = db.dsn + "?options=" + urllib.parse.quote(opts)
            _, url_p = start_service("analytics", db, broker, "explain", dsn=dsn,
                                     CLINICFLOW_ANALYTICS_CACHE_TTL_S=0, **timeout)
            for q, (took, stmts) in plans(url_p, key, slow).items():
                d, query, plan = max(stmts, key=lambda x: x[0])
                say("plan of %s %s group_by=%s: the ask took %s ms with the instrumentation;"
                    " its statements over 20 ms: %s ms; the slowest (%s...), its nodes over 5%%"
                    " of it (actual ms first..last row, rows, loops):" % (
                        q[0], q[1], q[2], ms(took), ", ".join("%.0f" % x[0] for x in stmts),
                        query[len("Query Text: "):][:60]))
                for ln in compact_plan(plan, d)[:40]:
                    say("   " + ln[:180])
    finally:
        stop_all()
        broker.stop()
        db.drop()


# ---- 3. webhook to report --------------------------------------------------

def z(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (
        dt.microsecond // 1000)


def webhook(rate=50.0, seconds=20.0):
    print("== analytics webhook: %.0f calls/s for %.0f s to POST /v1/hooks/calls/generic, each"
          " from its 202 until GET /v1/reports/calls counts it; beside the time until kcat has"
          " its event on calls.v1" % (rate, seconds), flush=True)
    broker = Broker("webhook")
    db = Db()
    try:
        _, calls_url = start_service("calls", db, broker, "webhook")
        _, an_url = start_service("analytics", db, broker, "webhook",
                                  CLINICFLOW_ANALYTICS_CACHE_TTL_S=0)
        run = "bw%d" % (int(time.time()) % 100000)
        posted = {}    # n -> time of the 202
        on_topic = {}  # n -> (time kcat printed it, the message's timestamp)
        in_report = {}  # n -> time the report counting it was answered
        stop_flag = threading.Event()

        # a consumer of calls.v1 from its end (no group), every event as it comes
        kc = subprocess.Popen(["kcat", "-b", broker.bootstrap, "-C", "-t", CALLS, "-o", "end",
                               "-u", "-q", "-X", "fetch.wait.max.ms=5", "-f", "%T %s\n"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              bufsize=1)
        _procs.append((kc, "kcat"))

        def read_topic():
            for line in kc.stdout:
                t = time.time()
                ts, _, payload = line.partition(" ")
                try:
                    d = json.loads(payload)["data"]
                except ValueError:
                    continue
                tag = d.get("provider_call_id", "")
                if tag.startswith(run + "-") and d.get("status") == "ended":
                    n = int(tag.rsplit("-", 1)[1])
                    on_topic.setdefault(n, (t, int(ts) / 1000.0))
        reader = threading.Thread(target=read_topic, daemon=True)
        reader.start()
        time.sleep(1.0)  # kcat assigned and at the end

        today = datetime.now(MSK).date()
        rpath = "/v1/reports/calls?from=%s&to=%s&group_by=operator" % (
            today - timedelta(days=1), today + timedelta(days=1))
        polls = []

        def poll_report():
            c = Client(an_url, db.keys["read"])
            while not stop_flag.is_set():
                s, st, body = c.get(rpath)
                t = time.time()
                polls.append(s)
                if st == 200:
                    for r in json.loads(body)["rows"]:
                        op = r.get("operator") or ""
                        if op.startswith(run + "-") and r.get("inbound", 0) >= 1:
                            in_report.setdefault(int(op.rsplit("-", 1)[1]), t)
                time.sleep(0.05)
            c.close()
        poller = threading.Thread(target=poll_report, daemon=True)

        c = Client(calls_url, db.keys["ingest"])

        def post(tag, n):
            """One answered inbound call, ended now, with an operator of its
            own; the answer's status."""
            now = datetime.now(timezone.utc)
            body = json.dumps({
                "event_id": "%s-%d-ended" % (tag, n), "clinic_id": "demo-center",
                "call_id": "%s-%d" % (tag, n), "event": "ended", "time": z(now),
                "direction": "inbound", "from": "+7926%07d" % n, "to": "+74950000301",
                "started_at": z(now - timedelta(seconds=60)),
                "answered_at": z(now - timedelta(seconds=52)), "ended_at": z(now),
                "talk_seconds": 52, "outcome": "answered", "agent_id": "%s-%d" % (tag, n),
                "agent_group": "reception"})
            c.conn.request("POST", "/v1/hooks/calls/generic", body=body, headers={
                "Content-Type": "application/json",
                "Authorization": "Bearer " + db.keys["ingest"]})
            resp = c.conn.getresponse()
            resp.read()
            return resp.status

        # one call through the whole path first: every consumer group has
        # joined (a few seconds after the services start) before the measure
        t_w = time.time()
        post(run + "w", 0)
        w = Client(an_url, db.keys["read"])

        def warmed():
            _, st, body = w.get(rpath)
            return st == 200 and any(r.get("operator") == run + "w-0"
                                     for r in json.loads(body)["rows"])
        cfstack.wait_until(warmed, 60, "the warm-up call in the report", interval=0.1)
        w.close()
        warm_s = time.time() - t_w
        time.sleep(1.0)
        poller.start()

        total = int(rate * seconds)
        start = time.time() + 0.2
        bad = 0
        for n in range(total):
            wait = start + n / rate - time.time()
            if wait > 0:
                time.sleep(wait)
            if post(run, n) // 100 == 2:
                posted[n] = time.time()
            else:
                bad += 1
        c.close()
        post_s = time.time() - start
        deadline = time.time() + 60
        while time.time() < deadline and (len(in_report) < len(posted)
                                          or len(on_topic) < len(posted)):
            time.sleep(0.2)
        stop_flag.set()
        poller.join(10)
        stop(kc, "kcat")
        topic = [on_topic[n][0] - posted[n] for n in posted if n in on_topic]
        stamp = [on_topic[n][1] - posted[n] for n in posted if n in on_topic]
        report = [in_report[n] - posted[n] for n in posted if n in in_report]
        share = [in_report[n] - on_topic[n][0] for n in posted if n in in_report and n in on_topic]

        def line(v):
            return "p50 %s ms, p90 %s, p99 %s, max %s (n=%d)" % (
                ms(pct(v, .5)), ms(pct(v, .9)), ms(pct(v, .99)), ms(max(v)) if v else "-", len(v))
        say("a first call through the whole path: counted %.1f s after it was posted (the"
            " consumer groups joining); then posted %d calls in %.1f s (%.1f/s), %d answered"
            " 2xx, %d not" % (warm_s, total, post_s, total / post_s, len(posted), bad))
        say("202 -> on calls.v1, seen by kcat:          " + line(topic))
        say("202 -> on calls.v1, the message's timestamp: " + line(stamp))
        say("202 -> counted by GET /v1/reports/calls:    " + line(report) + " (goal: p99 under"
            " 2 s: %s)" % ("met" if report and pct(report, .99) < 2 else "MISSED"))
        say("on calls.v1 -> counted (analytics' share):  " + line(share))
        with open(os.path.join(broker.dir, "webhook-calls.txt"), "w") as f:
            f.write("n posted_s topic_s stamp_s report_s\n")
            for n in sorted(posted):
                f.write("%d %.3f %s %s %s\n" % (
                    n, posted[n] - start, "%.3f" % (on_topic[n][0] - posted[n])
                    if n in on_topic else "-", "%.3f" % (on_topic[n][1] - posted[n])
                    if n in on_topic else "-", "%.3f" % (in_report[n] - posted[n])
                    if n in in_report else "-"))
        slow = sorted((in_report[n] - posted[n], n) for n in posted if n in in_report)[-10:]
        say("the 10 slowest to be counted were posted %s s into the run (the file"
            " webhook-calls.txt of the run's folder, kept with KEEP=1, has every call)"
            % ", ".join("%.1f" % (posted[n] - start) for _, n in sorted(slow, key=lambda x: x[1])))
        say("the report polled every 50 ms after its answer; an answer took p50 %s ms, p99 %s;"
            " %d calls never counted within 60 s, %d never seen on the topic" % (
                ms(pct(polls, .5)), ms(pct(polls, .99)), len(posted) - len(report),
                len(posted) - len(topic)))
    finally:
        stop_all()
        broker.stop()
        db.drop()


def main():
    # SIGTERM as ^C: the services started here are stopped on the way out
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parts = os.environ.get("CF_BENCH_ANALYTICS", "apply,reports,webhook").split(",")
    try:
        if "apply" in parts:
            apply_rate()
        if "reports" in parts:
            reports(int(os.environ.get("CF_BENCH_CALLS", "10000000")))
        if "webhook" in parts:
            webhook(float(os.environ.get("CF_BENCH_WEBHOOK_RATE", "50")),
                    float(os.environ.get("CF_BENCH_WEBHOOK_S", "20")))
    finally:
        stop_all()


if __name__ == "__main__":
    main()
