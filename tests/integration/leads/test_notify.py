"""A clinic's outgoing webhook (services/leads/notify.c, notify_send.c)
through the running service: lead events on clinicflow.leads.v1 of a
clinic whose network config names a lead_webhook reach a small HTTP
receiver in this process, signed (X-Clinicflow-Timestamp and
X-Clinicflow-Signature, checked here with Python's hmac), a 2xx answer
delivers however long its body, and a receiver that fails is retried
with a doubling backoff until it answers 2xx, or given up (counted in
/metrics) after the configured attempts. Two instances never send one
delivery twice.

Most events are written to leads.v1 by this test (as the fold or the
sweeper emits them), so the webhook is tested apart from the rest of the
data path; one form lead goes the whole way through intake and the fold,
and its person's erasure (a patient's tombstone) takes its delivery and the
number its callback task held."""
import hashlib
import hmac
import http.server
import json
import random
import subprocess
import threading
import time
import uuid

import cfstack

LEADS = "clinicflow.leads.v1"
PATIENTS = "clinicflow.patients.v1"
SECRET = "whsec-notify-test-0123456789"
CLINIC = "demo-center"  # has the webhook
OTHER = "demo-north"    # has none
SOUTH = "demo-south"    # has none
BACKOFF_MS = 300
MAX_ATTEMPTS = 4
FORM_CHANNEL = "notify-test-form"
FORM_TOKEN = "notify-test-form-token-0001"
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md


class Receiver:
    """An HTTP server on a free port that records every POST (time, headers,
    body) and answers each event id with the statuses it was told, in
    turn (200 once they run out), and the body it was told ("ok" if none)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.got = []       # (monotonic time, headers dict lower-case, body bytes)
        self.plans = {}     # event id -> [status, ...]
        self.bodies = {}    # event id -> the answer's body
        self.delay_s = 0.0  # how long each answer takes
        self.delays = {}    # event id -> how long its answer takes (over delay_s)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hdrs = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.got.append((time.monotonic(), hdrs, body))
                    plan = receiver.plans.get(hdrs.get("x-clinicflow-event-id"), [])
                    status = plan.pop(0) if plan else 200
                    answer = receiver.bodies.get(hdrs.get("x-clinicflow-event-id"), b"ok")
                    delay = receiver.delays.get(hdrs.get("x-clinicflow-event-id"),
                                                receiver.delay_s)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender stopped reading a long answer

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", cfstack.free_port()), Handler)
        self.url = "http://127.0.0.1:%d/hooks/leads" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, event_id):
        with self.lock:
            return [g for g in self.got if g[1].get("x-clinicflow-event-id") == event_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Stack(cfstack.ServiceStack):
    """A database with the demo network (its first clinic naming the
    receiver as its lead_webhook), an own devbroker, the leads service."""

    def __init__(self, receiver, instances=1):
        super().__init__()
        self.receiver = receiver
        self.set_webhook(True)
        self.start(instances)

    def set_webhook(self, on, slow=None):
        """Applies the network with the clinic's webhook (and each clinic
        of slow, a dict, with the url it gives), or without any."""
        net = cfstack.demo_network()
        for c in net["clinics"]:
            if c["id"] == CLINIC and on:
                c["lead_webhook"] = {"url": self.receiver.url, "secret": SECRET}
            if c["id"] in (slow or {}) and on:
                c["lead_webhook"] = {"url": slow[c["id"]], "secret": SECRET}
        net["channels"].append({"id": FORM_CHANNEL, "kind": "form", "provider": "generic",
                                "clinic_id": CLINIC, "credentials": {"token": FORM_TOKEN}})
        cfstack.apply_network(self.dsn, net)

    def config_version(self):
        return min(cfstack.metric(svc, "clinicflow_config_version") for svc in self.services)

    def start_service(self):
        return cfstack.Service("leads", self.env_for(
            CLINICFLOW_LEADS_NOTIFY_BACKOFF_MS=str(BACKOFF_MS),
            CLINICFLOW_LEADS_NOTIFY_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
            CLINICFLOW_LEADS_NOTIFY_INTERVAL_MS="50",
            CLINICFLOW_LEADS_NOTIFY_TIMEOUT_MS="1000",
        )).start()


def lead_event(etype="lead.received", clinic=CLINIC):
    """A lead event as the fold (or the sweeper) emits it; written to
    leads.v1 as it is. Returns (event id, the bytes written)."""
    lead_id = str(uuid.uuid4())
    eid = str(uuid.uuid5(NS, "notify-test\x1f" + lead_id + "\x1f" + etype))
    data = {"lead_id": lead_id, "clinic_id": clinic, "provider": "generic", "channel": "demo-form",
            "received_at": "2026-12-03T10:00:00.000Z", "contact_key": "0" * 64}
    if etype == "lead.received":
        data.update({"status": "open", "attribution": "none", "patient_class": "new"})
    elif etype == "lead.sla_breached":
        data.update({"due_at": "2026-12-03T10:10:00.000Z"})
    elif etype == "lead.merged":
        data = {"lead_id": lead_id, "merged_at": "2026-12-03T10:05:00.000Z", "provider": "generic",
                "channel": "demo-form", "messages": 2, "contact_key": "0" * 64}
    ev = {"specversion": "1.0", "id": eid,
          "source": "/clinicflow/leads/" + ("sweeper" if "breached" in etype else "fold"),
          "type": "clinicflow." + etype, "subject": lead_id, "time": "2026-12-03T10:00:00.000Z",
          "networkid": "demo", "clinicid": clinic, "datacontenttype": "application/json",
          "data": data}
    return eid, json.dumps(ev, separators=(",", ":")).encode()


def publish(stack, etype="lead.received", clinic=CLINIC):
    eid, value = lead_event(etype, clinic)
    cfstack.produce(stack.broker.bootstrap, LEADS, json.loads(value)["subject"], value)
    return eid, value


def verify(hdrs, body):
    """What a receiver does (services/leads/README.md): the signature over
    the timestamp and the body, and the timestamp near now."""
    t = hdrs["x-clinicflow-timestamp"]
    want = "v1=" + hmac.new(SECRET.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hdrs["x-clinicflow-signature"], want), (hdrs, want)
    assert abs(int(t) - time.time()) < 60, t


def metric(svc, name, clinic=CLINIC):
    return cfstack.metric(svc, '%s{clinic="%s"}' % (name, clinic))


def delivery(stack, eid):
    rows = cfstack.psql(stack.dsn, "SELECT status, attempts, coalesce(last_status::text, '')"
                        " FROM leads.deliveries WHERE event_id = '%s'" % eid)
    return tuple(rows[0]) if rows else None


def a_patient(stack, phone):
    """A patient with phone, as the reminders service sends one, once the
    leads service's patients view has them: (patient id, contact key)."""
    pid = str(uuid.uuid4())
    key = cfstack.contact_key(phone)
    patient = {"specversion": "1.0", "id": str(uuid.uuid4()),
               "source": "/clinicflow/reminders/mis/test", "type": "clinicflow.patient.upserted",
               "subject": pid, "time": "2026-12-03T08:00:00.000Z",
               "datacontenttype": "application/json", "networkid": "demo",
               "data": {"patient_id": pid, "phones": [phone], "contact_keys": [key],
                        "consents": {"calls": True, "sms": True, "messengers": False}}}
    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, json.dumps(patient).encode())
    cfstack.wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM"
                                            " leads.patient_contacts WHERE contact_key = '%s'"
                                            % key) == [["1"]], 30, "the patient in the view")
    return pid, key


def test_new_lead_delivered_signed(stack, receiver):
    skipped = [publish(stack, "lead.merged")[0], publish(stack, clinic=OTHER)[0]]
    t0 = time.monotonic()
    eid, value = publish(stack)
    [(at, hdrs, body)] = cfstack.wait_until(lambda: receiver.of(eid), 20, "the delivery")
    assert at - t0 < 10, at - t0  # seconds, not a sweep period
    assert body == value, body  # the event as it is on the topic
    verify(hdrs, body)
    assert hdrs["content-type"] == "application/json", hdrs
    assert hdrs["x-clinicflow-event-type"] == "clinicflow.lead.received", hdrs
    assert hdrs["x-clinicflow-attempt"] == "1", hdrs
    cfstack.wait_until(lambda: delivery(stack, eid) == ("delivered", "1", "200"), 10,
                       "the delivery recorded")
    # A breach is told too.
    bid, bvalue = publish(stack, "lead.sla_breached")
    [(_, bhdrs, bbody)] = cfstack.wait_until(lambda: receiver.of(bid), 20, "the breach")
    assert bbody == bvalue and bhdrs["x-clinicflow-event-type"] == "clinicflow.lead.sla_breached"
    verify(bhdrs, bbody)
    # A merge, and a lead of a clinic without a webhook, are not (both were
    # on the topic before the two above, in the same partition or not: the
    # consumer has passed them once it has the later rows of its offsets).
    for s in skipped:
        assert receiver.of(s) == [] and delivery(stack, s) is None, s
    # A signature from another secret, or over another body, fails the check.
    bad = dict(hdrs, **{"x-clinicflow-signature": "v1=" + "0" * 64})
    try:
        verify(bad, body)
    except AssertionError:
        pass
    else:
        raise AssertionError("a wrong signature verified")


def test_form_lead_delivered(stack, receiver):
    """The whole way: a form posted to the clinic's channel becomes a lead
    (the fold's lead.received), and the clinic's webhook hears of it,
    signed, within seconds."""
    phone = "+7916%07d" % random.randrange(10 ** 7)
    t0 = time.monotonic()
    st, _, body = cfstack.http(
        "POST", stack.svc.url("/v1/hooks/leads/generic/%s" % FORM_CHANNEL),
        {"name": "Webhook", "phone": phone}, {"Authorization": "Bearer " + FORM_TOKEN})
    assert st == 202, (st, body)

    def mine():
        with receiver.lock:
            for at, hdrs, b in receiver.got:
                ev = json.loads(b)
                if (ev["type"] == "clinicflow.lead.received"
                        and ev["data"].get("contact", {}).get("phone", {}).get("e164") == phone):
                    return at, hdrs, b, ev
        return None

    at, hdrs, b, ev = cfstack.wait_until(mine, 30, "the form lead's delivery")
    assert at - t0 < 10, at - t0
    verify(hdrs, b)
    assert hdrs["x-clinicflow-event-id"] == ev["id"] and ev["clinicid"] == CLINIC, ev

    # The person, a patient, is erased (the patient's tombstone): the
    # delivery, which keeps the whole event, goes, and the lead's callback
    # task no longer holds the number to call.
    lead_id = ev["data"]["lead_id"]
    digits = phone[2:]
    assert delivery(stack, ev["id"]) is not None
    assert any(digits in r[0] for r in task_docs(stack, lead_id)), task_docs(stack, lead_id)
    pid, key = a_patient(stack, phone)
    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, None)
    cfstack.wait_until(lambda: delivery(stack, ev["id"]) is None, 30, "the delivery erased")
    docs = task_docs(stack, lead_id)
    assert docs and not any(digits in r[0] or '"contact"' in r[0] for r in docs), docs
    [lead_doc] = cfstack.psql(stack.dsn, "SELECT doc::text FROM leads.leads WHERE lead_id = '%s'"
                              % lead_id)
    assert digits not in lead_doc[0] and '"erased":true' in lead_doc[0].replace(" ", ""), lead_doc


def test_a_delivery_queued_beside_the_erasure_is_not_sent(stack, receiver):
    """The notify consumer queues a lead's delivery while the person's
    erasure runs, each transaction blind to the other's work: the erasure
    cannot delete a delivery not committed yet, and the sender deletes it
    unsent. A session holding the notify group's offsets keeps its batch
    (the delivery inserted) from committing until the erasure has."""
    group = "clinicflow-leads-notify"

    def offsets():
        return int(cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.consumer_offsets WHERE"
                                " group_id = '%s' AND topic = '%s'" % (group, LEADS))[0][0])
    # a row of the group's for every partition of leads.v1, so that its
    # commit waits whichever partition the lead is on (a merge queues no
    # delivery but moves the offset)
    for _ in range(60):
        if offsets() >= 6:
            break
        publish(stack, "lead.merged")
        time.sleep(0.2)
    assert offsets() >= 6, offsets()

    phone = "+7916%07d" % random.randrange(10 ** 7)
    pid, key = a_patient(stack, phone)
    holder = subprocess.Popen(["psql", "-qAt", "-v", "ON_ERROR_STOP=1", stack.dsn],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        holder.stdin.write("BEGIN;\nWITH l AS (SELECT 1 FROM leads.consumer_offsets"
                           " WHERE group_id = '%s' FOR UPDATE) SELECT count(*) FROM l;\n"
                           "SELECT 'held';\n" % group)
        holder.stdin.flush()
        holder.stdout.readline()
        assert holder.stdout.readline().strip() == "held"
        st, _, body = cfstack.http(
            "POST", stack.svc.url("/v1/hooks/leads/generic/%s" % FORM_CHANNEL),
            {"name": "Erased", "phone": phone}, {"Authorization": "Bearer " + FORM_TOKEN})
        assert st == 202, (st, body)
        cfstack.wait_until(lambda: int(cfstack.psql(
            stack.dsn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE '%consumer_offsets%'")[0][0]) > 0, 30,
            "the notify consumer's batch waiting to commit")
        [[lead_id]] = cfstack.psql(stack.dsn, "SELECT lead_id FROM leads.lead_contacts"
                                   " WHERE contact_key = '%s'" % key)
        cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, None)
        cfstack.wait_until(lambda: cfstack.psql(
            stack.dsn, "SELECT doc->>'erased' FROM leads.leads WHERE lead_id = '%s'" % lead_id)
            == [["true"]], 30, "the lead erased")
    finally:
        holder.stdin.write("ROLLBACK;\n")
        holder.stdin.close()
        holder.wait(30)
    cfstack.wait_until(lambda: cfstack.psql(
        stack.dsn, "SELECT count(*) FROM leads.deliveries WHERE lead_id = '%s'" % lead_id)
        == [["0"]], 30, "the delivery deleted unsent")
    with receiver.lock:
        assert not any(phone in b.decode(errors="replace") for _, _, b in receiver.got)


def task_docs(stack, lead_id):
    return cfstack.psql(stack.dsn, "SELECT doc::text FROM leads.tasks WHERE lead_id = '%s'"
                        % lead_id)


def test_clinic_from_the_data(stack, receiver):
    """An event whose envelope has no clinicid goes by its data's clinic_id."""
    eid, value = lead_event("lead.sla_breached")
    ev = json.loads(value)
    del ev["clinicid"]
    ev["data"]["clinic_id"] = CLINIC
    value = json.dumps(ev, separators=(",", ":")).encode()
    cfstack.produce(stack.broker.bootstrap, LEADS, ev["subject"], value)
    [(_, hdrs, body)] = cfstack.wait_until(lambda: receiver.of(eid), 20, "the delivery")
    assert body == value
    verify(hdrs, body)


def test_failing_receiver_retried_with_backoff(stack, receiver):
    failed_before = metric(stack.svc, "clinicflow_leads_notify_failed_attempts_total")
    eid, value = publish_planned(stack, receiver, [500, 503])
    got = cfstack.wait_until(lambda: len(receiver.of(eid)) >= 3 and receiver.of(eid), 30,
                             "three attempts")
    assert [g[1]["x-clinicflow-attempt"] for g in got] == ["1", "2", "3"], got
    for _, hdrs, body in got:
        assert body == value
        verify(hdrs, body)  # each attempt signed anew
    gaps = [got[i + 1][0] - got[i][0] for i in range(2)]
    # The first retry waits the backoff, the second twice it.
    assert gaps[0] >= BACKOFF_MS / 1000 * 0.9, gaps
    assert gaps[1] >= 2 * BACKOFF_MS / 1000 * 0.9, gaps
    cfstack.wait_until(lambda: delivery(stack, eid) == ("delivered", "3", "200"), 10,
                       "the delivery recorded after its retries")
    assert metric(stack.svc, "clinicflow_leads_notify_failed_attempts_total") - failed_before == 2


def publish_planned(stack, receiver, plan):
    """Publishes a lead.received whose deliveries the receiver answers with
    the statuses of plan in turn (in place before the event is written)."""
    eid, value = lead_event()
    with receiver.lock:
        receiver.plans[eid] = list(plan)
    cfstack.produce(stack.broker.bootstrap, LEADS, json.loads(value)["subject"], value)
    return eid, value


def test_given_up_after_max_attempts(stack, receiver):
    given_before = metric(stack.svc, "clinicflow_leads_notify_given_up_total")
    eid, _ = publish_planned(stack, receiver, [500] * 10)
    cfstack.wait_until(lambda: (delivery(stack, eid) or ("",))[0] == "given_up", 30,
                       "the delivery given up")
    assert delivery(stack, eid) == ("given_up", str(MAX_ATTEMPTS), "500")
    assert len(receiver.of(eid)) == MAX_ATTEMPTS
    assert metric(stack.svc, "clinicflow_leads_notify_given_up_total") - given_before == 1


def test_large_answer_delivers(stack, receiver):
    """A 2xx whose body is longer than the notifier reads (64 KiB) is a
    delivery, the first time: the body is not what the receiver says."""
    failed_before = metric(stack.svc, "clinicflow_leads_notify_failed_attempts_total")
    eid, value = lead_event()
    with receiver.lock:
        receiver.bodies[eid] = b"x" * (100 * 1024)
    cfstack.produce(stack.broker.bootstrap, LEADS, json.loads(value)["subject"], value)
    cfstack.wait_until(lambda: (delivery(stack, eid) or ("",))[0] != "pending"
                       and delivery(stack, eid), 20, "the delivery recorded")
    assert delivery(stack, eid) == ("delivered", "1", "200"), delivery(stack, eid)
    assert len(receiver.of(eid)) == 1
    assert metric(stack.svc, "clinicflow_leads_notify_failed_attempts_total") == failed_before


def test_intake_not_slowed(stack, receiver):
    """While the notifier waits on a receiver that takes its time (each
    answer just under the attempt's timeout), form leads are acknowledged
    as fast as ever: intake never waits for the webhook."""
    def post_form(i):
        t = time.monotonic()
        st, _, body = cfstack.http(
            "POST", stack.svc.url("/v1/hooks/leads/generic/%s" % FORM_CHANNEL),
            {"name": "Test %d" % i, "phone": "+7916%07d" % random.randrange(10 ** 7)},
            {"Authorization": "Bearer " + FORM_TOKEN})
        assert st == 202, (st, body)
        return time.monotonic() - t

    quick = [post_form(i) for i in range(3)]  # the receiver idle
    receiver.delay_s = 0.8
    try:
        ids = [publish(stack)[0] for _ in range(6)]
        cfstack.wait_until(lambda: receiver.of(ids[0]), 20, "the slow deliveries to start")
        busy = [post_form(i) for i in range(10)]
        # The notifier was busy all along: not every slow delivery was over.
        assert not all(delivery(stack, e) == ("delivered", "1", "200") for e in ids)
        assert max(busy) < 0.5, (quick, busy)
        cfstack.wait_until(lambda: all(receiver.of(e) for e in ids), 30, "the slow deliveries")
    finally:
        receiver.delay_s = 0.0


def reload(stack, on, slow=None):
    before = stack.config_version()
    stack.set_webhook(on, slow)
    cfstack.wait_until(lambda: stack.config_version() > before, 20, "the config reloaded")


def test_a_receiver_that_hangs_holds_up_no_other_clinic(stack, receiver):
    """A receiver that answers each delivery just before the attempt's
    timeout (1 s), named by two clinics with eight deliveries queued
    between them: another clinic's new lead, to a receiver of its own,
    does not wait behind them (about seven seconds, one after another,
    before sends ran side by side), and never more than two go to the slow
    receiver at once, whichever clinic they are for (two a clinic before:
    clinics enough on one dead receiver took every send the instance has)."""
    slow_receiver = Receiver()
    slow_receiver.delay_s = 0.9
    reload(stack, True, slow={OTHER: slow_receiver.url, SOUTH: slow_receiver.url})
    try:
        slow = []
        for i in range(8):
            eid, value = lead_event(clinic=(OTHER, SOUTH)[i % 2])
            cfstack.produce(stack.broker.bootstrap, LEADS, json.loads(value)["subject"], value)
            slow.append(eid)
        cfstack.wait_until(lambda: cfstack.psql(
            stack.dsn, "SELECT count(*) FROM leads.deliveries WHERE event_id IN ('%s')"
            % "', '".join(slow)) == [["8"]] and slow_receiver.of(slow[0]), 30,
            "the slow receiver's deliveries queued, the first one sent")
        t0 = time.monotonic()
        eid = publish(stack)[0]
        got = cfstack.wait_until(lambda: receiver.of(eid), 30, "the other clinic's delivery")
        waited = got[0][0] - t0
        # (those begun once the other clinic's lead was out: the wait for
        # the queue above may see several go first on a busy machine)
        sent_before = sum(1 for e in slow for g in slow_receiver.of(e) if t0 <= g[0] < got[0][0])
        # beside the slow receiver's two in flight, not after them
        assert waited < 2.0 and sent_before <= 4, (waited, sent_before)
        cfstack.wait_until(lambda: all(delivery(stack, e) == ("delivered", "1", "200")
                                       for e in slow), 60, "the slow deliveries")
        with slow_receiver.lock:
            starts = sorted(g[0] for g in slow_receiver.got)
        # never more than two to the slow receiver at once, of both clinics
        assert len(starts) == 8, starts
        assert all(starts[i + 2] - starts[i] > 0.5 for i in range(len(starts) - 2)), starts
    finally:
        reload(stack, True)
        slow_receiver.close()


def test_no_webhook_the_group_passes_by(stack, receiver):
    # With no clinic naming a webhook the notify group commits what it
    # reads without reading it; a webhook set again hears of the next lead.
    def passed():
        on_topic = len(cfstack.TopicReader(stack.broker.bootstrap, LEADS, validate=False).read())
        return int(cfstack.psql(stack.dsn, "SELECT coalesce(sum(next_offset), 0) FROM"
                                " leads.consumer_offsets WHERE group_id = 'clinicflow-leads-notify'"
                                )[0][0]) == on_topic

    reload(stack, False)
    try:
        ids = [publish(stack)[0] for _ in range(5)]
        cfstack.wait_until(passed, 30, "the notify group past every event")
        for e in ids:
            assert delivery(stack, e) is None and receiver.of(e) == [], e
    finally:
        reload(stack, True)
    eid = publish(stack)[0]
    cfstack.wait_until(lambda: receiver.of(eid), 20, "the delivery after the webhook came back")


def test_two_instances_send_each_once():
    receiver = Receiver()
    receiver.delay_s = 0.05  # sends overlap between the two instances' rounds
    stack = Stack(receiver, instances=2)
    try:
        ids = [publish(stack)[0] for _ in range(30)]
        cfstack.wait_until(lambda: all(receiver.of(e) for e in ids), 60, "every delivery")
        cfstack.wait_until(lambda: all(delivery(stack, e) == ("delivered", "1", "200")
                                       for e in ids), 20, "every delivery recorded")
        counts = [len(receiver.of(e)) for e in ids]
        assert counts == [1] * len(ids), counts
        # Every delivery of any event the clinic's webhook hears of, once,
        # and counted once.
        cfstack.wait_until(lambda: cfstack.psql(
            stack.dsn, "SELECT count(*) FROM leads.deliveries WHERE status <> 'delivered'"
        )[0][0] == "0", 30, "no delivery pending")

        def sent():
            return sum(metric(svc, "clinicflow_leads_notify_delivered_total")
                       for svc in stack.services)
        cfstack.wait_until(lambda: sent() == len(receiver.got), 10, "every delivery counted")
        with receiver.lock:
            got = [g[1].get("x-clinicflow-event-id") for g in receiver.got]
        assert len(got) == len(set(got)), sorted(e for e in set(got) if got.count(e) > 1)
    finally:
        stack.close()
        receiver.close()


if __name__ == "__main__":
    RECEIVER = Receiver()
    STACK = Stack(RECEIVER)
    try:
        cfstack.run([lambda f=f: f(STACK, RECEIVER) for f in (
            test_new_lead_delivered_signed, test_form_lead_delivered,
            test_a_delivery_queued_beside_the_erasure_is_not_sent, test_clinic_from_the_data,
            test_failing_receiver_retried_with_backoff,
            test_given_up_after_max_attempts, test_large_answer_delivers,
            test_intake_not_slowed,
            test_a_receiver_that_hangs_holds_up_no_other_clinic,
            test_no_webhook_the_group_passes_by)], exit=False)
    finally:
        STACK.close()
        RECEIVER.close()
    cfstack.run([test_two_instances_send_each_once], exit=False)
    cfstack.exit_status()
