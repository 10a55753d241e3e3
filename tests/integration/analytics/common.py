"""Shared set-up for the analytics service's integration tests: a fresh
database with the demo network and its keys, an own devbroker (what is on
calls.v1 and tasks.v1 belongs to this test alone), clinicflow-analytics (and,
for the end-to-end scenario, clinicflow-calls) as real processes; helpers to
ask for the calls report, to wait until analytics has consumed everything,
to produce calls.v1 / tasks.v1 events as the calls service would, and to
compare report rows with figures computed by hand (proto/README.md,
"Analytics reports: the calls report")."""
import csv
import io
import json
import math
import select
import subprocess
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone

import cfstack
import contract

NET = "demo"
GROUP = "clinicflow-analytics-calls"
CALLS = "clinicflow.calls.v1"
TASKS = "clinicflow.tasks.v1"
DLQ = "clinicflow.dlq.v1"
TOPICS = (CALLS, TASKS)
# proto/README.md "Ids": every id is a UUIDv5 in this namespace.
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")

# The figures of a row and of the totals, in the order the contract's
# tables list them.
COUNT_FIELDS = ["inbound", "outbound", "answered", "unique", "targeted", "missed", "abandoned",
                "answered_call_center", "answered_reception", "talk_seconds",
                "callback_tasks", "called_back", "called_back_on_time", "lost"]
RATIO_FIELDS = ["call_center_share", "callback_rate", "time_to_callback_median_s",
                "time_to_callback_p90_s", "called_back_within_15_min_share"]
FIELDS = ["inbound", "outbound", "answered", "unique", "targeted", "missed", "abandoned",
          "answered_call_center", "answered_reception", "call_center_share", "talk_seconds",
          "callback_tasks", "called_back", "called_back_on_time", "lost", "callback_rate",
          "time_to_callback_median_s", "time_to_callback_p90_s",
          "called_back_within_15_min_share"]
assert sorted(FIELDS) == sorted(COUNT_FIELDS + RATIO_FIELDS)

# calls_hourly's count columns (services/analytics/migrations.c) by the
# report field they add up to.
HOURLY_COLUMNS = {"inbound": "inbound", "outbound": "outbound", "answered": "answered",
                  "unique": "unique_calls", "targeted": "targeted", "missed": "missed",
                  "abandoned": "abandoned", "answered_call_center": "answered_call_center",
                  "answered_reception": "answered_reception", "talk_seconds": "talk_seconds"}
CALL_COUNT_FIELDS = list(HOURLY_COLUMNS)

wait_until = cfstack.wait_until
contact_key = cfstack.contact_key


def cf_uuid5(*parts):
    return str(uuid.uuid5(NS, "\x1f".join(parts)))


# --- expected figures -------------------------------------------------------

def figures(calls, share, tasks, rate, median, p90, within15):
    """One row's (or the totals') figures as written by hand:
    calls = (inbound, outbound, answered, unique, targeted, missed,
             abandoned, answered_call_center, answered_reception, talk_seconds),
    tasks = (callback_tasks, called_back, called_back_on_time, lost)."""
    inbound, outbound, answered, unique, targeted, missed, abandoned, cc, rec, talk = calls
    callback_tasks, called_back, on_time, lost = tasks
    return {"inbound": inbound, "outbound": outbound, "answered": answered, "unique": unique,
            "targeted": targeted, "missed": missed, "abandoned": abandoned,
            "answered_call_center": cc, "answered_reception": rec, "call_center_share": share,
            "talk_seconds": talk, "callback_tasks": callback_tasks, "called_back": called_back,
            "called_back_on_time": on_time, "lost": lost, "callback_rate": rate,
            "time_to_callback_median_s": median, "time_to_callback_p90_s": p90,
            "called_back_within_15_min_share": within15}


def percentile_cont(values, q):
    """PostgreSQL's percentile_cont: linear interpolation between the two
    nearest ranks (None over no values)."""
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def model_figures(calls, tasks):
    """The figures of a selection computed from the calls' and tasks' final
    states as this test produced them (the contract's definitions), for the
    tests that produce hundreds of calls. calls: the data of each call's
    latest event; tasks: the data of each task's latest event (callback
    tasks of missed calls only)."""
    ended = [c for c in calls if c["status"] == "ended"]
    inbound = [c for c in ended if c["direction"] == "inbound"]
    answered = [c for c in inbound if c.get("outcome") == "answered"]
    cc = sum(1 for c in answered if c.get("agent_group") == "call_center")
    rec = sum(1 for c in answered if c.get("agent_group") == "reception")
    called = [t for t in tasks if t["status"] == "closed"]
    secs = [t["seconds_to_callback"] for t in called]
    n_tasks = len(tasks)
    return figures(
        (len(inbound), len(ended) - len(inbound), len(answered),
         sum(1 for c in inbound if c.get("unique") is True),
         sum(1 for c in ended if c.get("targeted") is True),
         sum(1 for c in inbound if c.get("outcome") in ("missed", "abandoned", "busy", "failed",
                                                          "voicemail")),
         sum(1 for c in inbound if c.get("outcome") == "abandoned"), cc, rec,
         sum(c.get("talk_seconds", 0) for c in ended if c.get("outcome") == "answered")),
        cc / (cc + rec) if cc + rec else None,
        (n_tasks, len(called), sum(1 for t in called if t.get("on_time") is True),
         sum(1 for t in tasks if t["status"] == "expired")),
        len(called) / n_tasks if n_tasks else None,
        percentile_cont(secs, 0.5), percentile_cont(secs, 0.9),
        sum(1 for s in secs if s <= 900) / n_tasks if n_tasks else None)


def same_number(got, want):
    """Equal numbers (the service prints 15 significant digits), or both
    null."""
    if want is None or got is None:
        return got is None and want is None
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return False
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


def csv_cell_matches(cell, want):
    """A CSV cell says what the JSON value want says: empty for null, the
    same text, or the same number."""
    if want is None:
        return cell == ""
    if isinstance(want, str):
        return cell == want
    try:
        return cell != "" and same_number(float(cell), float(want))
    except ValueError:
        return False


def assert_figures(got, want, what, groups=()):
    """got (a report row or totals) has exactly the fields of the contract
    (and the group columns named), each equal to want's; counts are
    integers, shares and durations numbers within rounding, null where
    want has None."""
    assert isinstance(got, dict), (what, got)
    keys = set(FIELDS) | set(groups)
    assert set(got) == keys, "%s: fields %s, expected %s" % (
        what, sorted(got), sorted(keys))
    bad = []
    for f in FIELDS:
        w, g = want[f], got[f]
        if f in COUNT_FIELDS:
            ok = type(g) is int and g == w
        else:
            ok = same_number(g, w)
        if not ok:
            bad.append("%s: got %r, expected %r" % (f, g, w))
    assert not bad, "%s:\n  %s\n  row: %s" % (what, "\n  ".join(bad), json.dumps(got))


def group_key(row, groups):
    return tuple(row[g] for g in groups)


def assert_sorted_groups(rows, groups, what):
    """Rows are sorted by their group values; a null value sorts to one end
    (the contract does not say which), consistently."""
    keys = [group_key(r, groups) for r in rows]
    assert len(set(keys)) == len(keys), "%s: a group twice: %s" % (what, keys)

    def ordered(nulls_last):
        null = (1 if nulls_last else -1, "")
        return sorted(keys, key=lambda k: tuple(null if v is None else (0, v) for v in k))

    assert keys in (ordered(True), ordered(False)), "%s: rows not sorted by %s: %s" % (
        what, groups, keys)


def assert_rows(report, groups, want, what):
    """report's rows are exactly want ({group values tuple: figures}), one
    per group, sorted; each row holds its group columns."""
    rows = report["rows"]
    got_keys = [group_key(r, groups) for r in rows]
    extra = [r for r in rows if group_key(r, groups) not in want]
    assert sorted(got_keys, key=repr) == sorted(want, key=repr), (
        "%s: groups %s, expected %s; rows of groups not expected: %s"
        % (what, got_keys, sorted(want, key=repr), json.dumps(extra)))
    assert_sorted_groups(rows, groups, what)
    for r in rows:
        k = group_key(r, groups)
        assert_figures(r, want[k], "%s, row %s" % (what, k), groups)


# --- the stack --------------------------------------------------------------

class Stack(cfstack.ServiceStack):
    """A database with the demo network and keys, a devbroker of its own,
    and the services a test starts (analytics instances, and calls for the
    end-to-end scenario)."""

    def __init__(self):
        super().__init__()
        self.broker = cfstack.Devbroker()
        self.running = []  # services started and not yet stopped or killed
        self.analytics = None  # the instance report() asks

    def analytics_env(self, **extra):
        return self.env_for(**{k: str(v) for k, v in extra.items()})

    def start_analytics(self, **extra):
        """Starts one clinicflow-analytics (extra: CLINICFLOW_* values) and
        makes it the one report() asks if none is."""
        # a failed test's processes were killed by cfstack.run
        self.running = [s for s in self.running if s.proc.poll() is None]
        svc = cfstack.Service("analytics", self.analytics_env(**extra))
        svc.start(timeout=60)
        self.running.append(svc)
        if self.analytics is None or self.analytics not in self.running:
            self.analytics = svc
        return svc

    def start_calls(self, **extra):
        svc = cfstack.Service("calls", self.env_for(**{k: str(v) for k, v in extra.items()}))
        svc.start(timeout=60)
        self.running.append(svc)
        return svc

    def stop(self, svc, timeout=20):
        """SIGTERM; asserts a clean exit (0, no sanitizer report)."""
        self.running.remove(svc)
        svc.stop(timeout=timeout)
        if self.analytics is svc:
            self.analytics = next((s for s in self.running if s.name == "analytics"), None)

    def reap(self, svc, timeout=30):
        """Waits for a service sent SIGTERM to exit; asserts a clean exit."""
        try:
            svc.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("clinicflow-%s did not exit within %ss of SIGTERM:\n%s"
                                 % (svc.name, timeout, svc.logs()[-4000:]))
        self.stop(svc)

    def kill(self, svc):
        """SIGKILL, as a crash; the process is gone when this returns."""
        self.running.remove(svc)
        svc.signal(9)
        svc.wait(30)
        if self.analytics is svc:
            self.analytics = next((s for s in self.running if s.name == "analytics"), None)

    def stop_all(self):
        """Stops every service still running, the last started first."""
        while self.running:
            self.stop(self.running[-1])

    def close(self):
        try:
            # a failed test's processes were killed by cfstack.run already
            self.running = [s for s in self.running if s.proc.poll() is None]
            self.stop_all()
        finally:
            self.broker.stop()

    # -- the report --

    def report_raw(self, params, key=None, headers=None, svc=None):
        """GET /v1/reports/calls with params (a dict or pairs); key None is the
        demo read key, "" none at all. Returns (status, headers, body)."""
        hdrs = dict(headers or {})
        key = self.keys["read"] if key is None else key
        if key:
            hdrs["Authorization"] = "Bearer " + key
        qs = urllib.parse.urlencode(params)
        svc = svc or self.analytics
        return cfstack.http("GET", svc.url("/v1/reports/calls?" + qs), headers=hdrs)

    def report(self, params, key=None, svc=None):
        """The JSON report for params; asserts its envelope."""
        st, hdrs, body = self.report_raw(params, key, svc=svc)
        assert st == 200, (params, st, body[:2000])
        assert hdrs.get("content-type", "").startswith("application/json"), hdrs
        rep = json.loads(body)
        assert rep.get("report") == "calls", rep
        assert isinstance(rep.get("params"), dict), rep
        assert isinstance(rep.get("rows"), list) and isinstance(rep.get("totals"), dict), rep
        return rep

    def report_changed(self, params, check, timeout=5):
        """The report for params once check(report) passes: for a selection
        asked before the data changed, whose cached answer the batch that
        changed it makes stale as it commits (the offsets that wait_consumed
        sees may be a moment ahead of that). check raises AssertionError
        until it passes; after timeout its last error is raised."""
        deadline = time.monotonic() + timeout
        while True:
            rep = self.report(params)
            try:
                check(rep)
                return rep
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def report_csv(self, params, key=None, accept=False):
        """The CSV report: format=csv, or (accept) an Accept: text/csv
        header. Returns (header, rows as lists of strings)."""
        if accept:
            st, hdrs, body = self.report_raw(params, key, headers={"Accept": "text/csv"})
        else:
            st, hdrs, body = self.report_raw(list(_pairs(params)) + [("format", "csv")], key)
        assert st == 200, (params, st, body[:2000])
        assert hdrs.get("content-type", "").startswith("text/csv"), hdrs
        table = list(csv.reader(io.StringIO(body.decode("utf-8"))))
        assert table, "an empty CSV body"
        return table[0], table[1:]

    # -- what analytics has consumed --

    def reader(self, topic, validate=True):
        """Reads a whole topic; every message is checked against its schema."""
        return cfstack.TopicReader(self.broker.bootstrap, topic, validate=validate)

    def topic_ends(self, topic):
        return topic_ends(self.broker.bootstrap, topic)

    def stored_offsets(self, topic):
        return dict((int(p), int(o)) for p, o in cfstack.psql(
            self.dsn, "SELECT partition, next_offset FROM analytics.consumer_offsets"
            " WHERE group_id = '%s' AND topic = '%s'" % (GROUP, topic)))

    def all_ends(self):
        """{topic: {partition: end offset}} of analytics' two topics now."""
        return {t: self.topic_ends(t) for t in TOPICS}

    def progress(self, ends=None):
        """(messages analytics has committed, messages on its two topics);
        ends: all_ends() taken once while nothing is produced (a cheaper
        poll: one query)."""
        ends = ends or self.all_ends()
        rows = cfstack.psql(self.dsn, "SELECT topic, partition, next_offset"
                            " FROM analytics.consumer_offsets WHERE group_id = '%s'" % GROUP)
        stored = {(t, int(p)): int(o) for t, p, o in rows}
        done = total = 0
        for topic, parts in ends.items():
            for p, end in parts.items():
                done += min(stored.get((topic, p), 0), end)
                total += end
        return done, total

    def wait_consumed(self, timeout=60, dead_letters_expected=False):
        """Waits until analytics' group has committed, in its own offsets
        table, every message now on calls.v1 and tasks.v1 (and, unless a
        test sent poison on purpose, that none went to the DLQ)."""
        ends = {t: self.topic_ends(t) for t in TOPICS}

        def reached():
            for topic in TOPICS:
                stored = self.stored_offsets(topic)
                if any(stored.get(p, 0) < end for p, end in ends[topic].items()):
                    return False
            return True

        wait_until(reached, timeout, "analytics to consume calls.v1 and tasks.v1 to %s" % ends,
                   interval=0.2)
        if not dead_letters_expected:
            self.assert_no_dead_letters()

    def assert_no_dead_letters(self):
        """Nothing analytics consumed went to the DLQ: every event of these
        tests is valid, so a dead letter is an event left uncounted."""
        dead = []
        for m in self.reader(DLQ).read():
            data = json.loads(m["payload"])["data"]
            if data["group_id"] == GROUP:
                dead.append("%s/%s/%s: %s: %s" % (data["topic"], data["partition"],
                                                   data["offset"], data["reason_code"],
                                                   data["reason"]))
        assert not dead, "%d events analytics sent to the DLQ, e.g.:\n%s" % (
            len(dead), "\n".join(dead[:5]))

    def hourly_sums(self, where="TRUE", table="calls_hourly"):
        """A rollup's counts (calls_hourly's, or calls_clinic_hourly's) summed
        over the rows matching where, by report field name."""
        cols = ", ".join("coalesce(sum(%s), 0)" % c for c in HOURLY_COLUMNS.values())
        row = cfstack.psql(self.dsn, "SELECT %s FROM analytics.%s WHERE %s"
                           % (cols, table, where))[0]
        return dict(zip(HOURLY_COLUMNS, (int(v) for v in row)))


def wait_groups_consumed(stack, groups, timeout=90):
    """Until each of analytics' groups ({group: its topics}) has stored, in
    analytics.consumer_offsets, every partition's end of each of its topics (as
    they are now), and none sent an event to the DLQ."""
    ends = {(g, t): topic_ends(stack.broker.bootstrap, t)
            for g, topics in groups.items() for t in topics}
    behind = []

    def reached():
        stored = {(g, t, int(p)): int(o) for g, t, p, o in cfstack.psql(
            stack.dsn, "SELECT group_id, topic, partition, next_offset"
            " FROM analytics.consumer_offsets")}
        behind[:] = ["%s %s[%d] %d/%d" % (g, t, p, stored.get((g, t, p), 0), end)
                     for (g, t), parts in ends.items() for p, end in parts.items()
                     if stored.get((g, t, p), 0) < end]
        return not behind
    try:
        wait_until(reached, timeout, "analytics to consume every topic", interval=0.2)
    except AssertionError:
        raise AssertionError("analytics did not consume everything within %ss: %s"
                             % (timeout, behind))
    dead = []
    for m in stack.reader(DLQ).read():
        data = json.loads(m["payload"])["data"]
        if data["group_id"] in groups:
            dead.append("%s %s/%s/%s: %s: %s" % (data["group_id"], data["topic"],
                                                 data["partition"], data["offset"],
                                                 data["reason_code"], data["reason"]))
    assert not dead, "events analytics sent to the DLQ:\n%s" % "\n".join(dead)


def _pairs(params):
    return params.items() if isinstance(params, dict) else params


def topic_ends(brokers, topic):
    """{partition: end offset} of every partition of topic (kcat -Q at -1)."""
    n = contract.catalogue()[topic]["partitions"]
    cmd = ["kcat", "-b", brokers, "-Q"]
    for p in range(n):
        cmd += ["-t", "%s:%d:-1" % (topic, p)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise cfstack.StackError("kcat -Q %s: %s" % (topic, out.stderr))
    ends = {}
    for line in out.stdout.splitlines():
        # "clinicflow.calls.v1 [3] offset 17"
        parts = line.split()
        if len(parts) == 4 and parts[0] == topic and parts[2] == "offset":
            ends[int(parts[1].strip("[]"))] = int(parts[3])
    if len(ends) != n:
        raise cfstack.StackError("kcat -Q %s answered %r" % (topic, out.stdout))
    return ends


def assert_csv_matches(header, rows, report, groups, what):
    """The CSV is the JSON report's rows: the header is the group columns
    in the order asked, then the figures; a row per JSON row in the same
    order; an empty cell is null, numbers equal."""
    assert header[:len(groups)] == list(groups), "%s: header %s" % (what, header)
    assert sorted(header[len(groups):]) == sorted(FIELDS), "%s: header %s, fields %s" % (
        what, header, FIELDS)
    assert len(rows) == len(report["rows"]), "%s: %d CSV rows, %d JSON rows" % (
        what, len(rows), len(report["rows"]))
    for i, (cells, jrow) in enumerate(zip(rows, report["rows"])):
        assert len(cells) == len(header), (what, i, cells)
        for name, cell in zip(header, cells):
            want = jrow[name]
            assert csv_cell_matches(cell, want), "%s: row %d column %s: CSV %r, JSON %r" % (what, i, name, cell, want)


# --- producing calls.v1 and tasks.v1 as the calls service does -----------------

def iso(dt):
    """An aware datetime as the topics write times (UTC, milliseconds)."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def party(e164):
    return {"raw": e164, "kind": "e164", "e164": e164}


def call_event(etype, data, network=NET, time=None, event_id=None):
    """A calls.v1 envelope (etype: started, answered, ended, updated) with
    data, the whole call. The id: uuid5 of the call id and the type unless
    given."""
    ev = {"specversion": "1.0",
          "id": event_id or cf_uuid5(data["call_id"], "call." + etype),
          "source": "/clinicflow/calls/fold",
          "type": "clinicflow.call." + etype,
          "subject": data["call_id"],
          "time": time or data.get("ended_at") or data["started_at"],
          "datacontenttype": "application/json",
          "networkid": network,
          "data": data}
    if "clinic_id" in data:
        ev["clinicid"] = data["clinic_id"]
    return ev


def task_event(etype, data, network=NET, time=None, event_id=None):
    """A tasks.v1 envelope (etype: opened, updated, closed, expired)."""
    ev = {"specversion": "1.0",
          "id": event_id or cf_uuid5(data["task_id"], "task." + etype),
          "source": "/clinicflow/calls/fold",
          "type": "clinicflow.task." + etype,
          "subject": data["task_id"],
          "time": time or data.get("closed_at") or data["opened_at"],
          "datacontenttype": "application/json",
          "networkid": network,
          "data": data}
    if "clinic_id" in data:
        ev["clinicid"] = data["clinic_id"]
    return ev


def produce_many(brokers, topic, events, validate=True, partition=None):
    """Writes events (envelopes, each keyed by its subject) to topic with one
    kcat, in order (a key's messages keep their order on its partition).
    validate: each distinct event type's first message is checked against
    the contract first (all of them when there are few). partition: that
    partition rather than the key's."""
    lines = []
    checked = set()
    for ev in events:
        value = json.dumps(ev, separators=(",", ":"))
        if validate and (len(events) <= 200 or ev["type"] not in checked):
            contract.validate_message(topic, ev["subject"], value)
            checked.add(ev["type"])
        assert "\t" not in ev["subject"] and "\n" not in value
        lines.append(ev["subject"] + "\t" + value)
    if not lines:
        return
    where = [] if partition is None else ["-p", str(partition)]
    p = subprocess.run(["kcat", "-b", brokers, "-P", "-t", topic, "-K", "\\t"] + where,
                       input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=120)
    if p.returncode != 0:
        raise cfstack.StackError("kcat -P on %s exited with %s: %s"
                                 % (topic, p.returncode, p.stderr.decode(errors="replace")))


def latest_by_subject(messages):
    """{subject: latest envelope} of a topic's messages (in offset order)."""
    out = {}
    for m in messages:
        if m["payload"] is None:
            continue
        ev = json.loads(m["payload"])
        out[ev["subject"]] = ev
    return out


class OffsetsGate(cfstack.HeldSession):
    """Holds analytics.consumer_offsets in SHARE mode from one psql session:
    a batch, its effects applied in its open transaction, waits to write
    its offsets (which commit with them); reading the offsets is not held.
    step() lets the batches waiting now commit and holds the next ones
    (COMMIT, then LOCK again at once: PostgreSQL queues a runner's later
    request behind the new lock), so a backlog moves a few batches at a
    time however fast the service is."""

    LOCK = "LOCK TABLE analytics.consumer_offsets IN SHARE MODE;"

    def __init__(self, dsn):
        super().__init__(dsn, "BEGIN; " + self.LOCK)

    def line(self, sql):
        """One line of output of sql, run in the gate's own session (no
        process to start: the gate polls often)."""
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        assert line.endswith("\n"), "psql answered %r to %s" % (line, sql)
        return line.strip()

    def waiters(self):
        return int(self.line("SELECT count(*) FROM pg_stat_activity"
                             " WHERE datname = current_database()"
                             " AND pg_backend_pid() = ANY(pg_blocking_pids(pid));"))

    def stored(self):
        """{(topic, partition): next offset} analytics has committed."""
        text = self.line("SELECT coalesce(string_agg(topic || ' ' || partition || ' '"
                         " || next_offset, ','), '') FROM analytics.consumer_offsets"
                         " WHERE group_id = '%s';" % GROUP)
        out = {}
        for item in filter(None, text.split(",")):
            topic, p, o = item.split()
            out[(topic, int(p))] = int(o)
        return out

    def wait_blocked(self, what, timeout=30):
        """Until a runner waits on the gate."""
        wait_until(lambda: self.waiters() >= 1, timeout, "a batch to wait on the held offsets"
                   " (%s)" % what, interval=0.005)

    def step(self):
        self.proc.stdin.write("\\o /dev/null\nCOMMIT;\nBEGIN;\n%s\n\\o\n"
                              "SELECT 'stepped';\n" % self.LOCK)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline().strip() if ready else ""
        assert line == "stepped", "psql did not take the lock again (%r)" % line
def simple_call(network, clinic, tag, start, direction="inbound", outcome="answered", talk=None,
                group=None, source=None, unique=None, phone="+79260000000", secret=None):
    """A call's final data (status ended) as the calls service folds it, for
    the tests that need a few calls of their own: start an aware datetime;
    answered calls rang 8 s and talked talk seconds, others rang 40 s."""
    call_id = cf_uuid5(network, "generic", "call", tag)
    inbound = direction == "inbound"
    ours = "+74950000101"
    tracking = {"site": "+74950000304", "yandex_direct": "+74950000301"}.get(source, ours)
    d = {"call_id": call_id, "clinic_id": clinic, "direction": direction, "status": "ended",
         "caller": party(phone if inbound else ours),
         "called": party(tracking if inbound else phone),
         "contact_key": contact_key(phone, secret), "started_at": iso(start),
         "provider": "generic", "provider_call_id": tag, "outcome": outcome, "facts": 1}
    if outcome == "answered":
        d.update(answered_at=iso(start + timedelta(seconds=8)), ring_seconds=8,
                 talk_seconds=talk, ended_at=iso(start + timedelta(seconds=8 + talk)))
        if group:
            d.update(agent_id="op-1", agent_group=group)
    else:
        d.update(ring_seconds=40, ended_at=iso(start + timedelta(seconds=40)))
    if inbound:
        d["unique"] = True if unique is None else unique
        d["targeted"] = outcome == "answered" and talk >= 20
        if source:
            d["tracking_number"] = tracking
            d["attribution"] = {"kind": "static", "tracking_number": tracking, "source": source}
    return d


def simple_task(network, call, seconds=None, expired=False):
    """The callback task of the missed call data call, closed after seconds
    (on time up to 900) or expired: its final data."""
    ended = datetime.strptime(call["ended_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc)
    d = {"task_id": cf_uuid5(network, "callback", call["contact_key"], call["call_id"]),
         "kind": "callback", "status": "open", "clinic_id": call["clinic_id"],
         "contact": call["caller"], "contact_key": call["contact_key"],
         "source_call_id": call["call_id"], "opened_at": call["ended_at"],
         "due_at": iso(ended + timedelta(seconds=900)), "missed_calls": 1}
    if expired:
        d["status"] = "expired"
    elif seconds is not None:
        d.update(status="closed", closed_at=iso(ended + timedelta(seconds=seconds)),
                 on_time=seconds <= 900, seconds_to_callback=seconds,
                 closing_call_id=cf_uuid5(network, "generic", "call", "cb-" + call["call_id"]))
    return d
