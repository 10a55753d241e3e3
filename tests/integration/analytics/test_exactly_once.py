"""Analytics counts every call and task exactly once: calls.v1 and tasks.v1
events are produced here as the calls service writes them (whole-state
envelopes keyed by the entity id, checked against the contract), hundreds
of calls at a time, and the calls report and both rollups
(analytics.calls_hourly and calls_clinic_hourly) must then hold exact
counts, whatever happened on the way:

  (a) the same event (same id) produced twice;
  (b) the service stopped (SIGTERM) in the middle of a backlog, restarted;
  (c) the service killed (SIGKILL) in the middle of a batch, restarted;
  (d) instances joining the group one after another while a backlog is
      consumed, one of them stopped midway (rebalances);
  (e) out of order: a call.updated moving a call to another clinic and
      taking its unique flag, a task seen before its source call, and
      before its call's missed state and answer, in one batch;
  (f) the group sent back by an operator while it runs.

Each case has a local day of its own, so its figures are that day's.
The backlogs move only as far as the test lets them: it holds
analytics.consumer_offsets (a lock in a psql session of its own), so a
runner that has applied a batch's effects waits, its transaction open, to
write its offsets; the test sees it wait (pg_blocking_pids), lets the
waiting batches commit a few at a time, and stops or kills the service
while batches are open. No sleeping and hoping, however fast the service.
"""
import signal
import time
from datetime import datetime, timedelta, timezone

import cfstack
from common import (CALLS, CALL_COUNT_FIELDS, GROUP, NET, TASKS, Stack, assert_figures,
                    assert_rows, cf_uuid5, call_event, contact_key, figures, iso, OffsetsGate,
                    model_figures, party, produce_many, task_event, wait_until)

MSK = timezone(timedelta(hours=3))  # the demo network's zone (Europe/Moscow)
CLINICS = ["demo-center", "demo-north"]
SOURCES = ["site", "yandex_direct", None]
TRACKING = {"site": "+74950000304", "yandex_direct": "+74950000301", "avito": "+74950000306"}


def call_uuid(tag):
    # proto/README.md "Ids": network id, provider, "call", the provider's call id
    return cf_uuid5(NET, "generic", "call", tag)


def attribution(source):
    return {"kind": "static", "tracking_number": TRACKING[source], "source": source,
            "medium": "cpc"}


class Call:
    """One call of a data set: its final state (data) and the events that
    lead to it (each with the whole call as folded so far)."""

    def __init__(self, tag, i, day):
        self.id = call_uuid("%s-%d" % (tag, i))
        clinic = CLINICS[i % 2]
        inbound = i % 7 != 0
        phone = "+7926%07d" % (i * 7919 % 10 ** 7)
        start = datetime.strptime(day, "%Y-%m-%d").replace(hour=8, tzinfo=MSK) + timedelta(
            seconds=i * 37 % (10 * 3600))  # 08:00 to 18:00 local: the same day in UTC
        clinic_phone = "+7495000010%d" % (1 + i % 2)
        d = {"call_id": self.id, "clinic_id": clinic,
             "direction": "inbound" if inbound else "outbound", "status": "ringing",
             "caller": party(phone if inbound else clinic_phone),
             "called": party(clinic_phone if inbound else phone),
             "contact_key": contact_key(phone), "started_at": iso(start),
             "provider": "generic", "provider_call_id": "%s-%d" % (tag, i), "facts": 1}
        source = SOURCES[i % 3]
        if inbound and source:
            d["tracking_number"] = TRACKING[source]
            d["called"] = party(TRACKING[source])
            d["attribution"] = attribution(source)
        if inbound:
            d["unique"] = i % 4 != 1
            outcome = ["answered", "answered", "answered", "missed", "abandoned"][i % 5]
        else:
            outcome = "answered" if i % 2 else "failed"
        end = start + timedelta(seconds=40)
        d.update(status="ended", outcome=outcome, ended_at=iso(end), facts=2)
        if outcome == "answered":
            talk = 5 + i * 13 % 300
            end = start + timedelta(seconds=8 + talk)
            d.update(answered_at=iso(start + timedelta(seconds=8)), ended_at=iso(end),
                     ring_seconds=8, talk_seconds=talk, agent_id="op-%d" % (i % 5))
            if inbound and i % 11:
                d["agent_group"] = "call_center" if i % 3 == 0 else "reception"
            if inbound:
                d["targeted"] = talk >= 20
        else:
            d["ring_seconds"] = 5 if outcome == "abandoned" else 40
            if inbound:
                d["targeted"] = False
        self.start, self.end, self.data = start, end, d
        self.events = [call_event("started", started_of(d)), call_event("ended", d)]

    @property
    def missed(self):
        return self.data["direction"] == "inbound" and self.data["outcome"] in (
            "missed", "abandoned")


def started_of(d):
    """What a call.started carries of the call d: no answer, end or outcome."""
    out = {k: v for k, v in d.items() if k not in (
        "outcome", "ended_at", "answered_at", "ring_seconds", "talk_seconds", "agent_id",
        "agent_group", "targeted")}
    out.update(status="ringing", facts=1)
    return out


def callback_task(call, i, closed):
    """The callback task a missed call opened, and its events: opened, then
    closed by a callback (on time or late) or expired."""
    d = {"task_id": cf_uuid5(NET, "callback", call.data["contact_key"], call.id),
         "kind": "callback", "status": "open", "clinic_id": call.data["clinic_id"],
         "contact": call.data["caller"], "contact_key": call.data["contact_key"],
         "source_call_id": call.id, "opened_at": iso(call.end),
         "due_at": iso(call.end + timedelta(seconds=900)), "missed_calls": 1}
    opened = dict(d)
    if closed:
        secs = 60 + i * 97 % 1800
        d.update(status="closed", closed_at=iso(call.end + timedelta(seconds=secs)),
                 on_time=secs <= 900, seconds_to_callback=secs,
                 closing_call_id=call_uuid("callback-%s" % call.id))
        last = task_event("closed", d)
    else:
        d["status"] = "expired"
        last = task_event("expired", d, time=iso(call.end + timedelta(seconds=86400)))
    return d, [task_event("opened", opened), last]


def data_set(tag, day, n, tasks=True):
    """n calls on a local day, with a callback task (two in three closed,
    the rest expired) for each missed one: (calls, tasks, call events, task
    events)."""
    calls = [Call(tag, i, day) for i in range(n)]
    task_rows, task_events = [], []
    if tasks:
        for i, c in enumerate(calls):
            if c.missed:
                row, evs = callback_task(c, i, i % 3 != 0)
                task_rows.append(row)
                task_events += evs
    call_events = [ev for c in calls for ev in c.events]
    return calls, task_rows, call_events, task_events


def day_where(day):
    nxt = (datetime.strptime(day, "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")
    return "network_id = '%s' AND hour >= '%s' AND hour < '%s'" % (NET, day, nxt)


def assert_day(stack, day, calls, tasks, what):
    """The report of the local day (totals and by clinic) and the rollup's
    sums for the day equal the figures of the calls and tasks given."""
    want = model_figures([c.data for c in calls], tasks)
    rep = stack.report({"from": day, "to": day})
    assert_figures(rep["totals"], want, what + ": totals")
    by_clinic = {}
    for clinic in CLINICS:
        cc = [c for c in calls if c.data["clinic_id"] == clinic]
        tt = [t for t in tasks if t["clinic_id"] == clinic]
        if cc or tt:
            by_clinic[(clinic,)] = model_figures([c.data for c in cc], tt)
    rep = stack.report({"from": day, "to": day, "group_by": "clinic"})
    assert_figures(rep["totals"], want, what + ": totals by clinic")
    assert_rows(rep, ["clinic"], by_clinic, what + ": by clinic")
    for table in ("calls_hourly", "calls_clinic_hourly"):
        sums = stack.hourly_sums(day_where(day), table)
        assert sums == {f: want[f] for f in CALL_COUNT_FIELDS}, "%s: %s sums %s, want %s" % (
            what, table, sums, {f: want[f] for f in CALL_COUNT_FIELDS})
    # each callback task's copy of its missed call's dimensions (what the
    # report groups it by), whichever of the two came first and on
    # whichever runner: the call's once it is stored (answered after all
    # too: a task keeps its call as its source), none before
    odd, copied = cfstack.psql(
        stack.dsn, "SELECT count(*) FILTER (WHERE (t.call_source, t.call_medium, t.call_campaign,"
        " t.call_operator, t.call_patient_class, t.call_channel) IS DISTINCT FROM (c.source,"
        " c.medium, c.campaign, c.operator, c.patient_class, c.channel)),"
        " count(*) FILTER (WHERE t.call_source IS NOT NULL) FROM analytics.tasks t"
        " LEFT JOIN analytics.calls c ON c.call_id = t.source_call_id"
        " AND c.network_id = t.network_id WHERE t.source_call_id IS NOT NULL")[0]
    assert odd == "0", "%s: %s tasks' call dimensions differ from their missed calls'" % (
        what, odd)
    assert int(copied) > 0 or not tasks, "%s: no task has its call's dimensions" % what
    stored = int(cfstack.psql(stack.dsn, "SELECT count(*) FROM analytics.calls WHERE call_id IN"
                              " (%s)" % ",".join("'%s'" % c.id for c in calls))[0][0])
    assert stored == len(calls), (what, "analytics.calls rows", stored, len(calls))
    return want


def produce(stack, call_events, task_events):
    produce_many(stack.broker.bootstrap, CALLS, call_events)
    produce_many(stack.broker.bootstrap, TASKS, task_events)


class Backlog:
    """Messages produced while analytics is down: base, what it had
    committed before; ends, the topics' ends once they are all there; gate,
    the offsets held from before the service starts, so that it moves
    through the backlog only as far as the test lets it."""

    def __init__(self, stack, call_events, task_events):
        self.stack = stack
        self.base = stack.progress()[0]
        produce(stack, call_events, task_events)
        self.ends = stack.all_ends()
        self.total = sum(sum(p.values()) for p in self.ends.values())
        assert self.total - self.base == len(call_events) + len(task_events), (
            self.base, self.total)
        self.gate = OffsetsGate(stack.dsn)

    def done(self):
        """How many of the backlog's messages analytics has committed."""
        if self.gate.proc.poll() is not None:
            return self.stack.progress(self.ends)[0] - self.base
        stored = self.gate.stored()
        return sum(min(stored.get((t, p), 0), end) for t, parts in self.ends.items()
                   for p, end in parts.items()) - self.base

    def size(self):
        return self.total - self.base

    def advance(self, share, what):
        """Lets the held batches through, a few at a time, until analytics
        has committed at least share of the backlog; returns with a batch
        waiting on the gate, mid-transaction, and the backlog not done."""
        self.gate.wait_blocked(what)
        while self.done() < share * self.size():
            self.gate.step()
            assert self.done() < self.size(), "%s: the whole backlog went through" % what
            self.gate.wait_blocked(what)
        assert 0 < self.done() < self.size(), (what, self.done(), self.size())

    def advance_until(self, predicate, what, timeout=60):
        """Lets the held batches through, a few at a time, until predicate()
        holds; returns as advance does."""
        deadline = time.monotonic() + timeout
        self.gate.wait_blocked(what)
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting for %s" % what
            self.gate.step()
            assert self.done() < self.size(), "%s: the whole backlog went through" % what
            self.gate.wait_blocked(what)
        assert 0 < self.done() < self.size(), (what, self.done(), self.size())

    def release(self):
        self.gate.release()


def applied(svc):
    """Messages one instance's runners applied and committed (its /metrics)."""
    text = cfstack.http("GET", svc.url("/metrics"))[2].decode()
    prefix = 'clinicflow_consumer_messages_total{group="%s"' % GROUP
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


# --- (a) duplicates ---------------------------------------------------------------

def test_same_event_twice_counts_once(stack):
    day = "2026-10-05"
    stack.resident()
    calls, tasks, call_events, task_events = data_set("dup", day, 60)
    assert len(tasks) >= 10, len(tasks)

    # One more call that moves from the centre to the north clinic (and
    # loses its unique flag) by a call.updated.
    x = Call("dup-moved", 1, day)
    assert x.data["clinic_id"] == "demo-north" and x.data["unique"] is False  # i = 1
    x.data.update(clinic_id="demo-center", unique=True)
    x.events = [call_event("started", started_of(x.data)), call_event("ended", dict(x.data))]
    x.data = dict(x.data, clinic_id="demo-north", unique=False, facts=3)
    update = call_event("updated", x.data, time=x.data["ended_at"])

    produce(stack, call_events + x.events + [update], task_events)
    # Then every event again, same ids, the last ones first: applied again,
    # they would take each call back to ringing (not counted), each task back
    # to open, and x back to the centre as unique.
    again_calls = ([ev for ev in call_events + x.events if ev["type"].endswith(".ended")]
                   + [ev for ev in call_events + x.events if ev["type"].endswith(".started")])
    again_tasks = task_events[1::2] + task_events[0::2]
    assert len(again_calls) == 2 * 61 and len(again_tasks) == 2 * len(tasks)
    produce(stack, again_calls, again_tasks)
    stack.wait_consumed()
    assert_day(stack, day, calls + [x], tasks, "every event twice")
    rows = cfstack.psql(stack.dsn, "SELECT clinic_id, status FROM analytics.calls"
                        " WHERE call_id = '%s'" % x.id)
    assert rows == [["demo-north", "ended"]], rows


# --- (b) SIGTERM in the middle of a backlog ----------------------------------------

def test_stopped_mid_stream_counts_once(stack):
    day = "2026-10-06"
    calls, tasks, call_events, task_events = data_set("term", day, 400)
    stack.stop_all()  # the resident instance of the cases before
    backlog = Backlog(stack, call_events, task_events)
    try:
        svc = stack.start_analytics(CLINICFLOW_ANALYTICS_BATCH_MAX=10)
        backlog.advance(0.2, "SIGTERM")
        svc.signal(signal.SIGTERM)
        # The shutdown stops HTTP first, then the consumers: the batches stay
        # held until the consumers are told to stop, so the service cannot
        # run through the backlog while it drains HTTP.
        wait_until(lambda: "shutdown: stop consumer " + GROUP in svc.logs(), 30,
                   "the service to stop its consumers after SIGTERM")
    finally:
        backlog.release()
    stack.reap(svc)  # exit 0 within the shutdown bound, no sanitizer report
    done = backlog.done()
    assert 0 < done < backlog.size(), ("stopped mid-stream", done, backlog.size())

    svc = stack.start_analytics(CLINICFLOW_ANALYTICS_BATCH_MAX=10)
    stack.wait_consumed(timeout=90)
    assert_day(stack, day, calls, tasks, "after SIGTERM and a restart")
    stack.stop(svc)


# --- (c) SIGKILL in the middle of a batch ------------------------------------------

def test_killed_mid_batch_counts_once(stack):
    day = "2026-10-07"
    calls, tasks, call_events, task_events = data_set("kill", day, 800)
    backlog = Backlog(stack, call_events, task_events)
    try:
        svc = stack.start_analytics(CLINICFLOW_ANALYTICS_BATCH_MAX=20)
        backlog.advance(0.2, "SIGKILL")
        stack.kill(svc)  # batches are open, waiting to write their offsets
        done = backlog.done()
        assert 0 < done < backlog.size(), ("killed mid-stream", done, backlog.size())
    finally:
        backlog.release()
    # What the killed process had applied of its open batches is rolled
    # back with them; the restarted service reads on from the committed
    # offsets.
    svc = stack.start_analytics(CLINICFLOW_ANALYTICS_BATCH_MAX=20)
    stack.wait_consumed(timeout=90)
    assert_day(stack, day, calls, tasks, "after SIGKILL and a restart")
    stack.stop(svc)


# --- (d) rebalances ----------------------------------------------------------------

def test_rebalance_counts_once(stack):
    day = "2026-10-08"
    # a backlog long enough that the first instance, let through a batch
    # at a time while the newcomers join (the devbroker's group joins take
    # seconds), does not finish it before they have batches of their own
    calls, tasks, call_events, task_events = data_set("rebal", day, 2400)
    backlog = Backlog(stack, call_events, task_events)
    env = {"CLINICFLOW_ANALYTICS_BATCH_MAX": 10}
    try:
        first = stack.start_analytics(**env)
        backlog.advance(0.1, "one instance")
        # Two more instances join while the first has batches open: the
        # group rebalances as the first's runners poll again, and the
        # backlog moves on under the new assignment until both newcomers
        # have committed batches of their own.
        second = stack.start_analytics(**env)
        third = stack.start_analytics(**env)
        backlog.advance_until(lambda: applied(second) > 0 and applied(third) > 0,
                              "the joining instances to commit batches")
        # what an operator sees of it: the first instance's partitions were
        # taken back and given again (clinicflow_consumer_rebalances_total)
        changes = 'clinicflow_consumer_rebalances_total{group="%s",change="%s"}'
        assert cfstack.metric(first, changes % (GROUP, "revoked")) >= 1
        assert cfstack.metric(first, changes % (GROUP, "assigned")) >= 2
        # The second leaves midway, with batches open.
        second.signal(signal.SIGTERM)
        wait_until(lambda: "shutdown: stop consumer " + GROUP in second.logs(), 30,
                   "the second instance to stop its consumers after SIGTERM")
    finally:
        backlog.release()
    stack.reap(second)
    stack.wait_consumed(timeout=90)
    assert_day(stack, day, calls, tasks, "after rebalances")
    stack.stop(third)
    stack.stop(first)


# --- (e) out of order ----------------------------------------------------------------

def test_late_update_moves_a_call(stack):
    stack.resident()
    day = "2026-10-09"
    # An inbound call answered in the centre, unique, from the site.
    x = Call("ooo-moved", 2, day)
    assert x.data["direction"] == "inbound" and x.data["outcome"] == "answered", x.data
    answered = datetime.strptime(x.data["answered_at"], "%Y-%m-%dT%H:%M:%S.000Z").replace(
        tzinfo=timezone.utc)
    x.data.update(clinic_id="demo-center", unique=True, targeted=True, talk_seconds=60,
                  ended_at=iso(answered + timedelta(seconds=60)),
                  agent_group="call_center", tracking_number=TRACKING["site"],
                  called=party(TRACKING["site"]), attribution=attribution("site"))
    x.events = [call_event("started", started_of(x.data)), call_event("ended", dict(x.data))]
    produce(stack, x.events, [])
    stack.wait_consumed()
    # figures: 1 inbound, answered, unique, targeted, by the call centre, 60 s
    before = figures((1, 0, 1, 1, 1, 0, 0, 1, 0, 60), 1.0, (0, 0, 0, 0), None, None, None, None)
    by_clinic = {"from": day, "to": day, "group_by": "clinic"}
    by_source = {"from": day, "to": day, "group_by": "source"}
    assert_rows(stack.report(by_clinic), ["clinic"], {("demo-center",): before},
                "before the update")
    assert_rows(stack.report(by_source), ["source"], {("site",): before},
                "before the update, by source")

    # A late call.updated: an earlier call of the contact took the unique
    # flag, and the call is the north clinic's, from Yandex, answered by
    # reception. The centre's share is subtracted, the north's added.
    moved = dict(x.data, clinic_id="demo-north", unique=False, agent_group="reception",
                 tracking_number=TRACKING["yandex_direct"],
                 called=party(TRACKING["yandex_direct"]),
                 attribution=attribution("yandex_direct"), facts=3)
    produce(stack, [call_event("updated", moved, time=x.data["ended_at"])], [])
    stack.wait_consumed()
    # 1 inbound, answered, not unique, targeted, by reception, 60 s
    after = figures((1, 0, 1, 0, 1, 0, 0, 0, 1, 60), 0.0, (0, 0, 0, 0), None, None, None, None)
    stack.report_changed({"from": day, "to": day}, lambda rep: assert_figures(
        rep["totals"], after, "after the update: totals"))
    for clinic, want in (("demo-center", 0), ("demo-north", 1)):
        sums = stack.hourly_sums(day_where(day) + " AND clinic_id = '%s'" % clinic)
        assert sums["inbound"] == sums["answered"] == sums["targeted"] == want, (clinic, sums)
        assert sums["unique"] == 0 and sums["talk_seconds"] == 60 * want, (clinic, sums)
        assert sums["answered_reception"] == want and sums["answered_call_center"] == 0, sums
    # The groups are the call's new ones alone: nothing is left where it was.
    stack.report_changed(by_clinic, lambda rep: assert_rows(
        rep, ["clinic"], {("demo-north",): after}, "after the update, by clinic"))
    stack.report_changed(by_source, lambda rep: assert_rows(
        rep, ["source"], {("yandex_direct",): after}, "after the update, by source"))


def test_task_before_its_source_call(stack):
    """A callback task whose missed call comes after it: grouped under no
    source until the call lands, then under the call's."""
    stack.resident()
    day = "2026-10-10"
    y = Call("ooo-late-source", 3, day)
    assert y.missed and y.data["ring_seconds"] == 40, y.data  # i = 3: missed, rang 40 s
    y.data.update(clinic_id="demo-center", unique=True, tracking_number=TRACKING["avito"],
                  called=party(TRACKING["avito"]), attribution=attribution("avito"))
    y.events = [call_event("ended", dict(y.data))]
    row, task_events = callback_task(y, 0, True)
    assert row["seconds_to_callback"] == 60 and row["on_time"] is True, row
    produce(stack, [], task_events)
    stack.wait_consumed()
    # no call yet: one task, called back 60 s after the miss (on time)
    task_only = figures((0,) * 10, None, (1, 1, 1, 0), 1.0, 60, 60, 1.0)
    by_source = {"from": day, "to": day, "group_by": "source"}
    rep = stack.report(by_source)
    assert_figures(rep["totals"], task_only, "task before its call: totals")
    assert_rows(rep, ["source"], {(None,): task_only}, "task before its call")
    rep = stack.report({"from": day, "to": day, "group_by": "clinic"})
    assert_rows(rep, ["clinic"], {("demo-center",): task_only}, "task before its call, by clinic")

    produce(stack, y.events, [])
    stack.wait_consumed()
    # the missed call (inbound, unique, missed; rang 40 s: not abandoned) and its task
    with_call = figures((1, 0, 0, 1, 0, 1, 0, 0, 0, 0), None, (1, 1, 1, 0), 1.0, 60, 60, 1.0)

    def with_source(rep):
        assert_figures(rep["totals"], with_call, "task after its call: totals")
        assert_rows(rep, ["source"], {("avito",): with_call}, "task after its call")
    stack.report_changed(by_source, with_source)


def test_a_task_whose_call_comes_missed_and_answered_at_once(stack):
    """A callback task saved before its missed call, which then comes in one
    batch with the staff leg's late report that it was answered (a backlog
    read after the service was down): the task still takes the call's
    dimensions, as a task closed before the late answer keeps its call as
    its source (it stayed under no source when the batch, seeing only the
    call's last state, took it for a call no task follows)."""
    day = "2026-10-12"
    svc = stack.start_analytics()
    z = Call("ooo-answered-late", 3, day)
    assert z.missed and z.data["ring_seconds"] == 40, z.data  # i = 3: missed
    z.data.update(clinic_id="demo-center", tracking_number=TRACKING["avito"],
                  called=party(TRACKING["avito"]), attribution=attribution("avito"))
    row, task_events = callback_task(z, 0, True)
    produce(stack, [], task_events)
    stack.wait_consumed()
    assert cfstack.psql(stack.dsn, "SELECT coalesce(call_source, 'none') FROM analytics.tasks"
                        " WHERE task_id = '%s'" % row["task_id"]) == [["none"]]
    stack.stop(svc)

    # down meanwhile: the call's end, missed, then the staff leg's answer
    answered = dict(z.data, outcome="answered", ring_seconds=8, talk_seconds=30, facts=3,
                    answered_at=iso(z.start + timedelta(seconds=8)),
                    ended_at=iso(z.start + timedelta(seconds=38)), targeted=True)
    produce(stack, [call_event("ended", z.data),
                    call_event("updated", answered, time=iso(z.start + timedelta(minutes=5)))],
            [])
    svc = stack.start_analytics()
    stack.wait_consumed(timeout=90)
    assert cfstack.psql(stack.dsn, "SELECT call_source FROM analytics.tasks WHERE task_id = '%s'"
                        % row["task_id"]) == [["avito"]]
    rep = stack.report({"from": day, "to": day, "group_by": "source"})
    got = {r["source"]: (r["answered"], r["called_back"]) for r in rep["rows"]}
    assert got == {"avito": (1, 1)}, rep["rows"]
    stack.stop(svc)


# --- (f) the group sent back while it runs ------------------------------------------

def test_sent_back_while_running_reads_again(stack):
    """An operator sends the group back on calls.v1 (its stored offsets, and
    what it applied forgotten, in one transaction: services/analytics/
    README.md) without stopping it. Its runners' next batches find the
    offsets moved under them and are rolled back, and the group reads
    again from where it was sent: every call event since is applied once
    more, and counts once. A runner whose batch outlived
    max.poll.interval.ms while its partition went to another is refused the
    same way, rather than storing its offsets over the other's."""
    day = "2026-10-11"
    svc = stack.start_analytics()
    calls, _, call_events, _ = data_set("sent-back", day, 40, tasks=False)
    back = stack.topic_ends(CALLS)  # where the group is sent back to
    produce(stack, call_events, [])
    stack.wait_consumed(timeout=90)
    assert_day(stack, day, calls, [], "before the group is sent back")

    cfstack.psql(stack.dsn, "BEGIN; %s DELETE FROM analytics.applied_events WHERE group_id = '%s';"
                 " COMMIT;" % (" ".join(
                     "UPDATE analytics.consumer_offsets SET next_offset = %d WHERE group_id = '%s'"
                     " AND topic = '%s' AND partition = %d;" % (end, GROUP, CALLS, p)
                     for p, end in back.items()), GROUP))
    # one call more on each partition, for each runner to take a batch
    extra = []
    for p in sorted(back):
        x = Call("sent-back", 40 + p, day)
        produce_many(stack.broker.bootstrap, CALLS, x.events, partition=p)
        extra.append(x)
    ids = [ev["id"] for ev in call_events + [ev for x in extra for ev in x.events]]

    def applied_again():
        return int(cfstack.psql(stack.dsn, "SELECT count(*) FROM analytics.applied_events"
                                " WHERE group_id = '%s' AND event_id::text IN (%s)" % (
                                    GROUP, ",".join("'%s'" % i for i in ids)))[0][0])
    wait_until(lambda: applied_again() == len(set(ids)), 90,
               "the group to apply every event since where it was sent back")
    stack.wait_consumed(timeout=90)
    assert_day(stack, day, calls + extra, [], "after the group was sent back")
    fenced = cfstack.metric(svc, 'clinicflow_consumer_fenced_total{group="%s"}' % GROUP)
    assert fenced >= 1, fenced
    stack.stop(svc)


class ResidentStack(Stack):
    """The stack with one clinicflow-analytics started with it, which the
    cases that need no restart share (a process a case starts is stopped
    with the case); the restart cases stop it and start their own."""

    def __init__(self):
        super().__init__()
        try:
            self.start_analytics()
        except BaseException:
            self.close()
            raise

    def resident(self):
        assert self.analytics is not None and self.analytics.proc.poll() is None, (
            "the resident clinicflow-analytics is not running")
        return self.analytics


if __name__ == "__main__":
    cfstack.run_on_stack(ResidentStack, [
        test_same_event_twice_counts_once,
        test_late_update_moves_a_call,
        test_task_before_its_source_call,
        test_stopped_mid_stream_counts_once,
        test_killed_mid_batch_counts_once,
        test_rebalance_counts_once,
        test_a_task_whose_call_comes_missed_and_answered_at_once,
        test_sent_back_while_running_reads_again,
    ])
