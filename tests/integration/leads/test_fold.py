"""The lead fold through the running service: lead facts on
clinicflow.leads.raw.v1 (the contract the intake produces, README.md of
services/leads) become leads on clinicflow.leads.v1 and rows in
leads.leads: a request opens a lead, another from any of its contact keys
within the merge window merges into it (a phone gained later included),
one after the window opens a new lead, the first response stops the clock
once, a provider retry changes nothing, the first outcome closes the
lead, a patient's tombstone erases that person's data from the leads, and
two instances folding one person's requests at once open one lead. A
response or status naming a lead not stored yet waits in
leads.pending_facts without holding the fold: it is applied when the
lead comes, or goes to the DLQ after CLINICFLOW_LEADS_PENDING_EXPIRE_S
(and a replay of its entry once the lead is stored applies it); a fact of
another network never touches a lead.

Site forms go through the running service's generic channel; the other
facts are written to leads.raw directly, as the intake and the events
route write them, so each rule is driven by exactly the fact it reads."""
import base64
import contextlib
import datetime
import json
import os
import re
import subprocess
import threading
import time
import uuid

import cfstack
import common

RAW = "clinicflow.leads.raw.v1"
LEADS = "clinicflow.leads.v1"
PATIENTS = "clinicflow.patients.v1"
WINDOW_S = 3600  # the clinic's merge window
EXPIRE_S = 2  # how long a fact naming a lead not stored yet waits, where it is short
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md
DLQ = "clinicflow.dlq.v1"
NET = cfstack.demo_network()
CLINIC = "demo-center"  # Europe/Moscow, 09:00-14:00 and 15:00-21:00 on weekdays
FORM = "it-form"  # the generic channel of common.py, at demo-center


def key_of(text):
    return common.contact_key(text)


def phone(e164):
    return {"phone": {"raw": e164, "kind": "e164", "e164": e164}}


wait_until = common.wait_until


class Stack(common.Stack):
    """The leads tests' stack (common.py), the clinic with a short merge
    window, and what this test writes to leads.raw counted."""

    def __init__(self, instances=1, expire_s=None):
        env = {
            "CLINICFLOW_LEADS_MERGE_WINDOW_S": "86400",  # the clinic's wins
            # its leads are dated in the past: the SLA sweeper (test_tasks.py)
            # would breach them; it waits this long before its first sweep
            "CLINICFLOW_LEADS_SWEEP_INTERVAL_MS": "3600000",
        }
        if expire_s is not None:
            env["CLINICFLOW_LEADS_PENDING_EXPIRE_S"] = str(expire_s)
        if instances > 1:
            # one fold runner each: the share each instance folds is read
            # from its log (assigned); the two runners of the default race
            # for partitions as two instances do (test_requests_fold_at_once)
            env["CLINICFLOW_LEADS_FOLD_RUNNERS"] = "1"
        super().__init__(instances=0, extra_env=env, network_b=True)
        net = common.test_network()
        next(c for c in net["clinics"] if c["id"] == CLINIC)["lead_merge_window_s"] = WINDOW_S
        common.apply_doc(self.dsn, net)
        self.produced = 0
        self.produced_lock = threading.Lock()
        self.holding, self.held = False, []
        for _ in range(instances):
            self.services.append(self.start_service())
        self.svc = self.services[0]

    def fact(self, kind, event_key, data, keys=None, time="2026-11-24T07:00:00Z",
             event_id=None, network=None):
        """Writes one lead fact to leads.raw as the intake keys it (by its
        messenger account, else by its contact key, the strongest of keys)
        and returns its envelope."""
        keys = keys or {}
        main = keys.get("phone") or keys.get("email") or keys.get("messenger")
        body = {"kind": kind, "provider": "generic", "channel": "web-form",
                "provider_event_id": event_key, **data}
        if keys:
            body["contact_key"] = main
            body["contact_keys"] = keys
        fact_id = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "fact/" + event_key))
        ev = {"specversion": "1.0", "id": fact_id,
              "subject": keys.get("messenger") or main or data.get("lead_id") or fact_id,
              "source": "/clinicflow/leads/generic/web-form",
              "type": "clinicflow.lead.reported",
              "time": time, "networkid": network or NET["id"], "clinicid": CLINIC,
              "data": body}
        if not self.holding:
            self.write([ev])
        else:
            self.held.append(ev)
        return ev

    @contextlib.contextmanager
    def together(self):
        """Facts made inside it are written when it ends, all with one
        kcat: one key's facts then reach the broker, and a consumer's fetch,
        as one set (a runner takes them in one batch)."""
        self.holding, self.held = True, []
        try:
            yield
        finally:
            self.holding = False
        self.write(self.held)

    def write(self, evs):
        lines = "".join(ev["subject"] + "\t" + json.dumps(ev) + "\n" for ev in evs)
        p = subprocess.run(["kcat", "-b", self.broker.bootstrap, "-P", "-t", RAW, "-K", "\t"],
                           input=lines.encode(), capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        with self.produced_lock:  # tests produce from threads
            self.produced += len(evs)

    def wait_folded(self, timeout=60):
        """Waits until the fold has committed every message written to leads.raw."""
        wait_until(lambda: int(cfstack.psql(
            self.dsn, "SELECT coalesce(sum(next_offset), 0) FROM leads.consumer_offsets"
            " WHERE group_id = 'clinicflow-leads-fold'")[0][0]) >= self.produced,
            timeout, "the fold to apply %d facts" % self.produced)

    def events(self):
        # every event checked against its schema in proto/ as it is read
        out = []
        for m in cfstack.TopicReader(self.broker.bootstrap, LEADS).read():
            ev = json.loads(m["payload"])
            assert m["key"] == ev["subject"] == ev["data"]["lead_id"], m
            out.append(ev)
        return out

    def events_of(self, ckey):
        """The lead events about leads that any event says hold ckey."""
        evs = self.events()
        ids = set(e["subject"] for e in evs
                  if e["data"].get("contact_key") == ckey
                  or ckey in (e["data"].get("contact_keys") or {}).values())
        return [e for e in evs if e["subject"] in ids]

    def post_site_form(self, body):
        """Posts a site form to the generic channel; the fact it makes
        counts as produced once the route answered."""
        st, _, reply = self.post_form(FORM, body)
        assert 200 <= st < 300, (st, reply)
        self.produced += 1

    def reader_dlq(self):
        return cfstack.TopicReader(self.broker.bootstrap, DLQ).read()

    def dlq_of(self, fact_id):
        """The DLQ entries (their data) of the leads.raw fact fact_id."""
        return [json.loads(m["payload"])["data"] for m in self.reader_dlq()
                if json.loads(base64.b64decode(json.loads(m["payload"])["data"]["value_b64"]))
                ["id"] == fact_id]

    def pending(self, lead_id):
        """The networks of the facts waiting for lead_id, in their order."""
        return [r[0] for r in cfstack.psql(
            self.dsn, "SELECT network_id FROM leads.pending_facts WHERE lead_id = '%s'"
            " ORDER BY raw_partition, raw_offset" % lead_id)]

    def expired(self):
        return sum(self.metric("clinicflow_leads_pending_expired_total", svc=s)
                   for s in self.services)

    def row(self, lead_id):
        return cfstack.psql(self.dsn, "SELECT status, messages, doc::text FROM leads.leads"
                            " WHERE lead_id = '%s'" % lead_id)


def test_consumer_threads_carry_their_groups_names(stack):
    """An operator's top -H or ps -L tells the consumers apart: each
    consumer thread is named after its group without the suite's prefix,
    one per fold runner (README.md, Architecture)."""
    pid = stack.svc.proc.pid
    names = []
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            names.append(f.read().strip())
    runners = int(stack.svc.env.get("CLINICFLOW_LEADS_FOLD_RUNNERS", "2"))
    assert names.count("leads-fold") == runners, names
    for group in ("leads-patients", "leads-calls", "leads-notify"):
        assert names.count(group) == 1, (group, names)


def lead_of(fact):
    """The lead id a request fact opens (README.md)."""
    return str(uuid.uuid5(NS, "\x1f".join([fact["networkid"], "lead", fact["id"]])))


def new_fact_id():
    return str(uuid.uuid4())


def types(evs):
    return [e["type"][len("clinicflow.lead."):] for e in evs]


def test_received_merged_and_a_new_lead_after_the_window(stack):
    kp = key_of("+79160000001")
    first = stack.fact("request", "r1", {"contact": {"name": "Anna", **phone("+79160000001")},
                                         "text": "a crown, how much?",
                                         "tags": {"utm_source": "yandex", "utm_campaign": "c1"}},
                       keys={"phone": kp}, time="2026-11-24T07:00:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received"], evs
    lead = evs[0]["data"]
    assert lead["status"] == "open" and lead["patient_class"] == "new", lead
    assert lead["attribution"] == "tags" and lead["tags"]["utm_source"] == "yandex", lead
    assert lead["received_at"] == "2026-11-24T07:00:00.000Z", lead
    assert lead["contact"]["name"] == "Anna" and lead["text"] == "a crown, how much?", lead
    assert evs[0]["source"] == "/clinicflow/leads/fold", evs[0]
    lead_id = lead["lead_id"]

    # 59 minutes later: the same lead, no new one, the clock not restarted
    # (its text cut at intake: the merge says so, as its schema allows)
    stack.fact("request", "r2", {"contact": phone("+79160000001"), "text": "and implants?",
                                 "text_truncated": True},
               keys={"phone": kp}, time="2026-11-24T07:59:00Z")
    # a provider retry of the first request: the same id, nothing new
    stack.fact("request", "r1", {"contact": phone("+79160000001"), "text": "a crown, how much?"},
               keys={"phone": kp}, event_id=first["id"])
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "merged"], evs
    merged = evs[1]["data"]
    assert merged["lead_id"] == lead_id and merged["messages"] == 2, merged
    assert merged["merged_at"] == "2026-11-24T07:59:00.000Z", merged
    assert merged["text"] == "and implants?" and merged["text_truncated"] is True, merged
    status, messages, doc = stack.row(lead_id)[0]
    assert status == "open" and messages == "2", (status, messages)
    assert json.loads(doc)["received_at"] == "2026-11-24T07:00:00.000Z", doc

    # past the window after the last request: a new lead
    stack.fact("request", "r3", {"contact": phone("+79160000001"), "text": "still there?"},
               keys={"phone": kp}, time="2026-11-24T09:00:01Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "merged", "received"], evs
    assert evs[2]["subject"] != lead_id, evs
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.leads WHERE contact_key = '%s'"
                        % kp)
    assert rows == [["2"]], rows


def test_a_request_told_late_merges_into_the_lead_that_came_after_it(stack):
    """The person's lead of the morning (open: no status came) is past the
    window; they fill in a form at 08:30 and write in a messenger at 09:00,
    and the messenger's message is folded first (another partition, or
    the form retried late): it opens a lead at 09:00. The 08:30 form is
    past the morning lead's window, but within the window before the
    09:00 lead, which it came just before: it merges into that one, as
    folded in order it would have opened it, not a third lead."""
    kp, km = key_of("+79160000041"), "ab" * 32
    stack.fact("request", "late-1", {"contact": phone("+79160000041")}, keys={"phone": kp},
               time="2026-11-25T07:00:00Z")
    stack.wait_folded()
    later = stack.fact("request", "late-2", {"contact": phone("+79160000041")},
                       keys={"phone": kp, "messenger": km}, time="2026-11-25T09:00:00Z")
    stack.wait_folded()
    stack.fact("request", "late-3", {"contact": phone("+79160000041"), "text": "a form"},
               keys={"phone": kp}, time="2026-11-25T08:30:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "received", "merged"], evs
    merged = evs[2]
    assert merged["subject"] == lead_of(later), (merged, lead_of(later))
    assert merged["data"]["merged_at"] == "2026-11-25T08:30:00.000Z", merged
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.leads WHERE contact_key = '%s'"
                        % kp)
    assert rows == [["2"]], rows


def test_site_forms_through_the_generic_channel(stack):
    kp = key_of("+79160000009")
    form = {"name": "Maria", "phone": "8 916 000-00-09", "comment": "whitening",
            "utm_source": "google", "gclid": "g-1"}
    stack.post_site_form(form)
    stack.post_site_form(form)  # the browser's retry: the same event, nothing new
    stack.post_site_form({**form, "comment": "and a check-up"})
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "merged"], evs
    lead = evs[0]["data"]
    assert lead["contact"]["phone"]["e164"] == "+79160000009", lead
    assert lead["contact_key"] == kp and lead["clinic_id"] == CLINIC, lead
    assert lead["attribution"] == "tags" and lead["tags"]["gclid"] == "g-1", lead
    assert lead["channel"] == FORM and lead["provider"] == "generic", lead
    assert evs[1]["data"]["messages"] == 2 and evs[1]["data"]["text"] == "and a check-up", evs


def test_a_request_without_a_key_opens_a_lead_of_its_own(stack):
    raw = {"contact": {"phone": {"raw": "call me at work", "kind": "invalid"}}, "text": "?"}
    a = stack.fact("request", "nokey-1", raw, time="2026-11-24T07:00:00Z")
    b = stack.fact("request", "nokey-2", raw, time="2026-11-24T07:01:00Z")
    stack.wait_folded()
    assert a["subject"] == a["id"] and b["subject"] == b["id"]  # keyed by their own ids
    evs = [e for e in stack.events() if e["data"].get("text") == "?"]
    assert types(evs) == ["received", "received"], evs
    assert evs[0]["subject"] != evs[1]["subject"], evs
    assert "contact_key" not in evs[0]["data"], evs[0]
    assert "contact_keys" not in evs[0]["data"], evs[0]


def test_a_phone_arriving_later_is_gained(stack):
    km = key_of("telegram:5550001")
    kp = key_of("+79160000002")
    stack.fact("request", "m1", {"contact": {"handle": "@olga", "user_id": "5550001"},
                                 "text": "hello"},
               keys={"messenger": km}, time="2026-11-24T08:00:00Z")
    # the same chat shares its contact: the lead gains the phone's key
    stack.fact("request", "m2", {"contact": {"user_id": "5550001", **phone("+79160000002")}},
               keys={"messenger": km, "phone": kp}, time="2026-11-24T08:01:00Z")
    stack.wait_folded()
    # a form with that phone alone joins the same lead
    stack.fact("request", "m3", {"contact": phone("+79160000002"), "text": "form"},
               keys={"phone": kp}, time="2026-11-24T08:02:00Z")
    stack.wait_folded()
    evs = stack.events_of(km)
    assert types(evs) == ["received", "merged", "merged"], evs
    assert evs[1]["data"]["contact_key"] == kp, evs[1]
    assert evs[1]["data"]["contact_keys"] == {"messenger": km, "phone": kp}, evs[1]
    assert evs[2]["data"]["messages"] == 3, evs[2]
    kinds = cfstack.psql(stack.dsn, "SELECT kind FROM leads.lead_contacts WHERE lead_id = '%s'"
                         " ORDER BY kind" % evs[0]["subject"])
    assert kinds == [["messenger"], ["phone"]], kinds


def test_response_once_and_status(stack):
    kp = key_of("+79160000003")
    # Tuesday 10:00 in Moscow, in the clinic's hours
    stack.fact("request", "s1", {"contact": phone("+79160000003")}, keys={"phone": kp},
               time="2026-11-24T07:00:00Z")
    # staff answered before? no: a response before the lead does not count
    stack.fact("response", "s0", {"via": "telegram", "staff_id": "early"}, keys={"phone": kp},
               time="2026-11-24T06:59:00Z")
    stack.fact("response", "s2", {"via": "call", "staff_id": "op-1"}, keys={"phone": kp},
               time="2026-11-24T07:10:00Z")
    stack.fact("response", "s3", {"via": "call", "staff_id": "op-2"}, keys={"phone": kp},
               time="2026-11-24T07:20:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded"], evs
    r = evs[1]["data"]
    assert r["response_seconds"] == 600 and r["working_seconds"] == 600, r
    assert r["via"] == "call" and r["staff_id"] == "op-1", r
    assert r["responded_at"] == "2026-11-24T07:10:00.000Z", r
    lead_id = evs[0]["subject"]

    # Tuesday 20:55 in Moscow, answered Wednesday 09:05: 10 working minutes
    kn = key_of("+79160000033")
    stack.fact("request", "n1", {"contact": phone("+79160000033")}, keys={"phone": kn},
               time="2026-11-24T17:55:00Z")
    stack.fact("response", "n2", {"via": "whatsapp"}, keys={"phone": kn},
               time="2026-11-25T06:05:00Z")
    stack.wait_folded()
    r = [e for e in stack.events_of(kn) if e["type"].endswith("responded")][0]["data"]
    assert r["working_seconds"] == 600 and r["response_seconds"] == 12 * 3600 + 600, r

    stack.fact("status", "st1", {"lead_id": lead_id, "status": "booked",
                                 "appointment_id": "appt-1"}, time="2026-11-24T07:30:00Z")
    stack.fact("status", "st2", {"lead_id": lead_id, "status": "lost", "reason": "price"},
               time="2026-11-24T07:40:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded", "status_changed"], evs
    assert evs[2]["data"]["status"] == "booked", evs[2]
    assert evs[2]["data"]["appointment_id"] == "appt-1", evs[2]
    assert stack.row(lead_id)[0][0] == "booked"
    # requests dated while it was open, told after it closed (a provider's
    # retry hours late), were part of it: merged, the lead still booked, no
    # new lead overdue at once. The second is written twice in one set, so
    # its batch goes message by message (the run's plan refuses a fact
    # twice) and both of the fold's ways are driven.
    stack.fact("request", "s5", {"contact": phone("+79160000003"), "text": "late one"},
               keys={"phone": kp}, time="2026-11-24T07:20:00Z")
    stack.wait_folded()
    with stack.together():
        for _ in range(2):
            stack.fact("request", "s6", {"contact": phone("+79160000003"), "text": "late two"},
                       keys={"phone": kp}, time="2026-11-24T07:25:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded", "status_changed", "merged", "merged"], evs
    assert all(e["subject"] == lead_id for e in evs), evs
    assert [e["data"]["messages"] for e in evs[3:]] == [2, 3], evs
    status, messages, doc = stack.row(lead_id)[0]
    assert (status, messages) == ("booked", "3"), (status, messages)
    assert json.loads(doc)["last_message_at"] == "2026-11-24T07:25:00.000Z", doc
    # two more in one run (the run's path): one dated 10 minutes before the
    # lead came (within its window: its first message, retried late), one
    # while it was open; the run reads the lead for both, as one by one
    with stack.together():
        stack.fact("request", "s7", {"contact": phone("+79160000003"), "text": "late three"},
                   keys={"phone": kp}, time="2026-11-24T06:50:00Z")
        stack.fact("request", "s8", {"contact": phone("+79160000003"), "text": "late four"},
                   keys={"phone": kp}, time="2026-11-24T07:28:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded", "status_changed"] + ["merged"] * 4, evs
    assert all(e["subject"] == lead_id for e in evs), evs
    assert stack.row(lead_id)[0][:2] == ["booked", "5"], stack.row(lead_id)
    # a closed lead takes no more requests: the next one opens a lead
    stack.fact("request", "s4", {"contact": phone("+79160000003")}, keys={"phone": kp},
               time="2026-11-24T07:50:00Z")
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded", "status_changed"] + ["merged"] * 4 + [
        "received"], evs
    assert evs[7]["subject"] != lead_id, evs


def lead_with_events(stack, number, fact_id, bodies, upper=False):
    """A lead opened by number's request at 07:00, then the events route's
    bodies posted for it (its id in capitals with upper): the lead's id and
    its events once folded."""
    key = key_of(number)
    stack.fact("request", fact_id, {"contact": phone(number)}, keys={"phone": key},
               time="2026-11-24T07:00:00Z")
    stack.wait_folded()
    lead_id = stack.events_of(key)[0]["subject"]
    for body in bodies:
        st, _, reply = stack.post_event(lead_id.upper() if upper else lead_id, body)
        assert 200 <= st < 300, (st, reply)
        stack.produced += 1
    stack.wait_folded()
    return lead_id, stack.events_of(key)


def test_the_events_route_answers_and_closes_a_lead(stack):
    lead_id, evs = lead_with_events(stack, "+79160000006", "ev1", (
        {"event_id": "ev-r", "type": "responded", "staff_id": "op-7", "channel": "telegram",
         "time": "2026-11-24T07:03:00Z"},
        {"event_id": "ev-l", "type": "lost", "reason": "chose_other_clinic",
         "time": "2026-11-24T07:30:00Z"}), upper=True)
    assert types(evs) == ["received", "responded", "status_changed"], evs
    r, c = evs[1]["data"], evs[2]["data"]
    assert r["via"] == "telegram" and r["staff_id"] == "op-7", r
    assert r["response_seconds"] == 180 and r["working_seconds"] == 180, r
    assert c["status"] == "lost" and c["reason"] == "chose_other_clinic", c
    assert "staff_id" not in c, c  # the response's staff did not lose it
    assert stack.row(lead_id)[0][0] == "lost"

    # the other order: booked by op-1, then a response that names nobody,
    # dated before the booking (told late)
    _, evs = lead_with_events(stack, "+79160000016", "ev2", (
        {"event_id": "ev2-b", "type": "booked", "staff_id": "op-1",
         "time": "2026-11-24T07:05:00Z"},
        {"event_id": "ev2-r", "type": "responded", "time": "2026-11-24T07:04:00Z"}))
    assert types(evs) == ["received", "status_changed", "responded"], evs
    assert evs[1]["data"]["staff_id"] == "op-1", evs[1]
    assert "staff_id" not in evs[2]["data"], evs[2]
    assert evs[2]["data"]["response_seconds"] == 240, evs[2]

    # a reply dated after the booking (the visit confirmed in the chat) is
    # not the lead's response: its clock stopped when it closed
    lead_id, evs = lead_with_events(stack, "+79160000026", "ev3", (
        {"event_id": "ev3-b", "type": "booked", "time": "2026-11-24T07:05:00Z"},
        {"event_id": "ev3-r", "type": "responded", "staff_id": "op-2",
         "time": "2026-11-24T07:06:00Z"}))
    assert types(evs) == ["received", "status_changed"], evs
    status, _, doc = stack.row(lead_id)[0]
    assert status == "booked" and "responded_at" not in json.loads(doc), doc


def test_a_status_before_its_lead_is_applied_when_the_lead_comes(stack):
    # a replay: the events route's response and status reach leads.raw
    # before the request that opens their lead; they wait, and the lead
    # gets them, in their order, when it comes
    kp = key_of("+79160000005")
    req_id = new_fact_id()
    lead_id = str(uuid.uuid5(NS, "\x1f".join([NET["id"], "lead", req_id])))
    resp = stack.fact("response", "w1", {"lead_id": lead_id, "via": "telegram",
                                         "staff_id": "op-5"}, time="2026-11-24T07:10:00Z")
    stack.fact("status", "w2", {"lead_id": lead_id, "status": "booked",
                                "appointment_id": "appt-5"}, time="2026-11-24T07:30:00Z")
    stack.wait_folded()  # taken: waiting for their lead
    req = stack.fact("request", "w3", {"contact": phone("+79160000005")}, keys={"phone": kp},
                     time="2026-11-24T07:00:00Z", event_id=req_id)
    assert lead_of(req) == lead_id
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded", "status_changed"], evs
    assert all(e["subject"] == lead_id for e in evs), evs
    r = evs[1]["data"]
    assert r["response_seconds"] == 600 and r["via"] == "telegram", r
    assert r["staff_id"] == "op-5", r
    assert evs[1]["id"] == str(uuid.uuid5(NS, "\x1f".join([resp["id"], "lead.responded"]))), evs
    assert evs[2]["data"]["status"] == "booked", evs[2]
    assert evs[2]["data"]["appointment_id"] == "appt-5", evs[2]
    assert stack.row(lead_id)[0][0] == "booked"
    assert stack.pending(lead_id) == []


def test_a_made_up_lead_id_does_not_hold_the_fold(stack):
    # a status naming a lead that never comes waits in the table; a
    # request after it is folded at once (the fold goes on)
    ghost = str(uuid.uuid4())
    stack.fact("status", "g1", {"lead_id": ghost, "status": "spam"}, time="2026-11-24T07:05:00Z")
    kp = key_of("+79160000007")
    stack.fact("request", "g2", {"contact": phone("+79160000007")}, keys={"phone": kp},
               time="2026-11-24T07:06:00Z")
    begun = time.monotonic()
    # the fold takes well under a second; 10 s is far below the whole
    # minute a wait for the lead would have held the batch
    wait_until(lambda: types(stack.events_of(kp)) == ["received"], 10,
               "the request's lead.received")
    took = time.monotonic() - begun
    stack.wait_folded()
    assert stack.pending(ghost) == [NET["id"]], took
    assert not [e for e in stack.events() if e["subject"] == ghost]


def test_another_networks_fact_never_touches_a_lead(stack):
    # B's key names A's lead (lead ids are not secret): after the lead is
    # stored, B's status goes to the DLQ at once; A's lead stays open
    kp = key_of("+79160000008")
    req = stack.fact("request", "b1", {"contact": phone("+79160000008")}, keys={"phone": kp},
                     time="2026-11-24T07:00:00Z")
    stack.wait_folded()
    lead_id = lead_of(req)
    theirs = stack.fact("status", "b2", {"lead_id": lead_id, "status": "spam"},
                        time="2026-11-24T07:01:00Z", network=common.NETWORK_B["id"])
    theirs_resp = stack.fact("response", "b3", {"lead_id": lead_id, "via": "vk"},
                             time="2026-11-24T07:02:00Z", network=common.NETWORK_B["id"])
    stack.wait_folded()
    for fact in (theirs, theirs_resp):
        dead = stack.dlq_of(fact["id"])
        assert len(dead) == 1 and "another network" in dead[0]["reason"], dead
    assert types(stack.events_of(kp)) == ["received"]
    status, _, doc = stack.row(lead_id)[0]
    assert status == "open" and "responded_at" not in json.loads(doc), doc
    assert stack.pending(lead_id) == []


def test_requests_fold_at_once(stack):
    # the fold's batch apply takes a run of requests at once (counted by
    # way), one person writing twice in it included (merged in memory); a
    # response after them goes message by message, with the same rules
    def at_once():
        return stack.metric('clinicflow_leads_fold_messages_total{way="at_once"}')

    before = at_once()
    phones = ["+7916200%04d" % i for i in range(8)]
    people = [key_of(e164) for e164 in phones]
    posts = [("batch-%d" % i, e164, "2026-11-24T07:00:00Z") for i, e164 in enumerate(phones)]
    posts.append(("batch-again", phones[1], "2026-11-24T07:02:00Z"))
    threads = [threading.Thread(target=stack.fact, args=(
        "request", name, {"contact": phone(e164), "text": "hi"}, {"phone": key_of(e164)}, at))
        for name, e164, at in posts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stack.wait_folded()
    for kp in people:
        want = ["received", "merged"] if kp == people[1] else ["received"]
        assert types(stack.events_of(kp)) == want, stack.events_of(kp)
    status, _, doc = stack.row(stack.events_of(people[1])[0]["subject"])[0]
    assert status == "open" and json.loads(doc)["messages"] == 2, doc
    assert at_once() > before, before
    # the burst's tasks came in the fold's transactions: once it is folded,
    # one open respond task a lead, with the lead's key
    leads = sorted(set(stack.events_of(kp)[0]["subject"] for kp in people))
    ids = ",".join("'%s'" % i for i in leads)
    rows = cfstack.psql(stack.dsn, "SELECT lead_id, status, contact_key FROM leads.tasks"
                        " WHERE kind = 'respond' AND lead_id IN (%s) ORDER BY lead_id" % ids)
    assert len(rows) == len(people) and all(r[1] == "open" for r in rows), rows
    assert sorted(r[2] for r in rows) == sorted(people), rows
    stack.fact("response", "batch-r", {"via": "call"}, keys={"phone": people[0]},
               time="2026-11-24T07:01:00Z")
    stack.wait_folded()
    assert types(stack.events_of(people[0])) == ["received", "responded"]
    # and its respond task closed with it, in the same transaction
    lead0 = stack.events_of(people[0])[0]["subject"]
    assert cfstack.psql(stack.dsn, "SELECT status, doc->>'closed_by' FROM leads.tasks"
                        " WHERE kind = 'respond' AND lead_id = '%s'" % lead0) == [
        ["closed", "response"]]


class Held:
    """A lock held in a psql session of its own (named, to be found in
    pg_locks) until close, which ends the session."""

    def __init__(self, dsn, name, sql):
        self.name = name
        self.p = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, text=True,
                                  env=dict(os.environ, PGAPPNAME=name))
        self.p.stdin.write(sql + "\n")
        self.p.stdin.flush()

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=30)


def locks(dsn, where):
    """How many locks of pg_locks (l) and pg_stat_activity (a) match where."""
    return int(cfstack.psql(dsn, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a"
                            " USING (pid) WHERE %s" % where)[0][0])


def test_a_fact_a_run_applies_is_not_the_expirys(stack):
    # a run of requests reads the facts waiting for the leads it may open,
    # and applies them before it commits: while it is at it, the expiry
    # (which takes rows FOR UPDATE SKIP LOCKED) must not find them, or a
    # fact would be both applied and sent to the DLQ. The run is held
    # right after that read (its patients' look-up waits for a lock the
    # test holds), and the expiry's own take finds nothing.
    def at_once():
        return stack.metric('clinicflow_leads_fold_messages_total{way="at_once"}')

    kp = key_of("+79160000013")
    req_id = new_fact_id()
    lead_id = str(uuid.uuid5(NS, "\x1f".join([NET["id"], "lead", req_id])))
    fact = stack.fact("response", "lk1", {"lead_id": lead_id, "via": "telegram",
                                          "staff_id": "op-9"}, time="2026-11-24T07:10:00Z")
    stack.wait_folded()
    assert stack.pending(lead_id) == [NET["id"]]
    before = at_once()
    key_lock = "hashtextextended('%s/%s', 2)" % (NET["id"], kp)
    person = Held(stack.dsn, "cf-test-person", "SELECT pg_advisory_lock(%s);" % key_lock)
    patients = None
    try:
        wait_until(lambda: locks(stack.dsn, "a.application_name = 'cf-test-person'"
                                 " AND l.locktype = 'advisory' AND l.granted"), 30,
                   "the person's key held")
        # the runner of the person's partition busy with an earlier fact of
        # theirs (a response before any lead: ignored), so that the two
        # requests after it come in its next batch, one run
        stack.fact("response", "lk0", {"via": "call"}, keys={"phone": kp},
                   time="2026-11-24T06:50:00Z")
        wait_until(lambda: locks(stack.dsn, "l.locktype = 'advisory' AND NOT l.granted"), 30,
                   "the fold waiting for the person's key")
        # both requests in one set on the broker: fetched together, whenever
        # the runner gets to them, they are one batch
        with stack.together():
            stack.fact("request", "lk2", {"contact": phone("+79160000013")}, keys={"phone": kp},
                       time="2026-11-24T07:00:00Z", event_id=req_id)
            stack.fact("request", "lk3", {"contact": phone("+79160000013"), "text": "again"},
                       keys={"phone": kp},
                       time="2026-11-24T07:05:00Z")
        patients = Held(stack.dsn, "cf-test-patients",
                        "BEGIN; LOCK TABLE leads.patient_contacts IN ACCESS EXCLUSIVE MODE;")
        wait_until(lambda: locks(stack.dsn, "a.application_name = 'cf-test-patients'"
                                 " AND l.relation = 'leads.patient_contacts'::regclass"
                                 " AND l.granted"), 30, "the patients' contacts locked")
        person.close()
        wait_until(lambda: locks(stack.dsn, "l.relation = 'leads.patient_contacts'::regclass"
                                 " AND NOT l.granted"
                                 " AND a.query LIKE '%jsonb_to_recordset%patient_contacts%'"),
                   30, "the run waiting for its patients, the waiting fact read")
        taken = cfstack.psql(stack.dsn, "SELECT count(*) FROM (SELECT event_id"
                             " FROM leads.pending_facts WHERE event_id = '%s'"
                             " FOR UPDATE SKIP LOCKED) AS t" % fact["id"])
    finally:
        person.close()
        if patients:
            patients.close()
    stack.wait_folded()
    assert at_once() - before == 2, "the two requests were not one run"
    assert taken == [["0"]], "the expiry could take a fact the run was applying"
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "responded", "merged"], evs
    assert all(e["subject"] == lead_id for e in evs), evs
    assert evs[1]["data"]["staff_id"] == "op-9", evs[1]
    assert stack.pending(lead_id) == []


def upsert_patient(stack, pid, phones):
    """Writes the patient's upsert with those numbers (as the MIS's
    latest: the view's numbers become these) and waits for the view."""
    keys = [key_of(p) for p in phones]
    ev = {"specversion": "1.0", "id": str(uuid.uuid4()),
          "source": "/clinicflow/reminders/mis/test", "type": "clinicflow.patient.upserted",
          "subject": pid, "time": "2026-11-20T08:00:00.000Z",
          "datacontenttype": "application/json", "networkid": NET["id"],
          "data": {"patient_id": pid, "phones": phones, "contact_keys": keys,
                   "last_visit_at": "2026-10-01T10:00:00.000Z",
                   "consents": {"calls": True, "sms": True, "messengers": False}}}
    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, json.dumps(ev).encode())
    wait_until(lambda: sorted(r[0] for r in cfstack.psql(
        stack.dsn, "SELECT contact_key FROM leads.patient_contacts WHERE patient_id = '%s'"
        % pid)) == sorted(keys), 60, "the patient's numbers in the leads view")


def test_patient_class_and_tombstone_erasure(stack):
    kp = key_of("+79160000004")
    pid = str(uuid.uuid4())
    upsert_patient(stack, pid, ["+79160000004"])
    stack.fact("request", "p1", {"contact": {"name": "Ivan", "email": "ivan@example.org",
                                             **phone("+79160000004")},
                                 "text": "my tooth", "subject": "urgent",
                                 "external": {"user_id": "tg-4004", "chat_id": "tg-4004"},
                                 "tags": {"utm_source": "vk"}},
               keys={"phone": kp, "email": key_of("email:ivan@example.org")},
               time="2026-11-24T07:00:00Z")
    stack.wait_folded()
    lead = stack.events_of(kp)[0]["data"]
    assert lead["patient_class"] == "repeat" and lead["patient_id"] == pid, lead

    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, None)  # the right to erasure
    wait_until(lambda: "contact" not in json.loads(stack.row(lead["lead_id"])[0][2]), 60,
               "the lead's contact to be erased")
    doc = json.loads(stack.row(lead["lead_id"])[0][2])
    for gone in ("contact", "text", "subject", "external"):
        assert gone not in doc, doc
    assert "Ivan" not in json.dumps(doc) and "ivan@" not in json.dumps(doc), doc
    assert "tg-4004" not in json.dumps(doc), doc
    assert doc["contact_key"] == kp and doc["tags"] == {"utm_source": "vk"}, doc
    assert doc["lead_id"] == lead["lead_id"] and doc["received_at"], doc
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.patients") == [["0"]]


def test_erasure_reaches_a_number_given_up(stack):
    """The view holds a patient's latest numbers only. A patient's
    tombstone still erases the leads the patient sent from a number given
    up since, and those from it that named nobody (sent before the patient
    was known) up to the patient's last lead from it, their callback tasks'
    numbers too; a stranger who has the number since keeps their lead, and
    another patient who had the patient's new number before keeps theirs."""
    old, new = "+79160000021", "+79160000022"
    kold, knew = key_of(old), key_of(new)
    pid = str(uuid.uuid4())

    def request(key, name, number, text, time):
        return stack.fact("request", key, {"contact": {"name": name, **phone(number)},
                                           "text": text},
                          keys={"phone": key_of(number)}, time=time)

    early = request("gave-up-1", "Olga", old, "before she was a patient", "2026-11-01T07:00:00Z")
    stack.wait_folded()
    upsert_patient(stack, pid, [old])
    hers = request("gave-up-2", "Olga", old, "from her old number", "2026-11-10T07:00:00Z")
    # her new number was another patient's before it was hers: that
    # patient's lead from it is theirs
    other = str(uuid.uuid4())
    upsert_patient(stack, other, [new])
    theirs = request("gave-up-5", "Petr", new, "his, before she had it", "2026-11-12T07:00:00Z")
    stack.wait_folded()
    upsert_patient(stack, pid, [new])  # the old number given up, the new one hers
    stranger = request("gave-up-3", "Stas", old, "the number is mine now", "2026-11-20T07:00:00Z")
    latest = request("gave-up-4", "Olga", new, "from her new number", "2026-11-21T07:00:00Z")
    stack.wait_folded()

    def doc(fact):
        return json.loads(stack.row(lead_of(fact))[0][2])

    def callback_contact(fact):  # the number the lead's callback task has to call
        return cfstack.psql(stack.dsn, "SELECT coalesce(doc->'contact'->>'e164', '-')"
                            " FROM leads.tasks WHERE lead_id = '%s' AND kind = 'callback'"
                            % lead_of(fact))

    leads = (early, hers, theirs, stranger, latest)
    assert [doc(f).get("patient_id") for f in leads] == [None, pid, other, None, pid], \
        [doc(f) for f in leads]
    assert callback_contact(early) == [[old]], callback_contact(early)

    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, None)
    wait_until(lambda: doc(latest).get("erased"), 60, "the patient's leads erased")
    for f in (early, hers, latest):
        d = doc(f)
        assert d.get("erased") and "contact" not in d and "text" not in d, d
        assert "Olga" not in json.dumps(d), d
        assert callback_contact(f) == [["-"]], callback_contact(f)
    d = doc(stranger)
    assert not d.get("erased") and d["contact"]["name"] == "Stas", d
    assert d["text"] == "the number is mine now", d
    assert callback_contact(stranger) == [[old]], callback_contact(stranger)
    d = doc(theirs)
    assert not d.get("erased") and d["contact"]["name"] == "Petr", d
    assert callback_contact(theirs) == [[new]], callback_contact(theirs)


def test_a_request_folded_after_its_persons_erasure_is_stored_erased(stack):
    """A request the person sent before their tombstone, still on
    leads.raw when the erasure ran (the fold behind), was stored whole:
    the erasure had looked at the leads stored by then. It is now stored
    as the erasure left the person's other leads, and its event says
    nothing of them either. A stranger's request from another number, the
    person's own written after the erasure, and one from a family's phone
    another patient still holds (the lead is theirs), are kept."""
    mine, strangers, family = "+79160000031", "+79160000032", "+79160000033"
    kmine = key_of(mine)
    pid, sister = str(uuid.uuid4()), str(uuid.uuid4())
    upsert_patient(stack, pid, [mine, family])

    def request(key, name, number, text, time):
        return stack.fact("request", key, {"contact": {"name": name, **phone(number)},
                                           "text": text, "callback_requested": True,
                                           "external": {"user_id": "tg-" + number[-4:],
                                                        "chat_id": "tg-" + number[-4:]}},
                          keys={"phone": key_of(number)}, time=time)

    first = request("erased-late-1", "Nina", mine, "her first", "2026-11-01T07:00:00Z")
    from_family = request("erased-late-7", "Nina", family, "from home", "2026-11-21T07:00:00Z")
    stack.wait_folded()
    assert json.loads(stack.row(lead_of(first))[0][2])["patient_id"] == pid
    assert json.loads(stack.row(lead_of(from_family))[0][2])["patient_id"] == pid
    # the home phone is her sister's now
    upsert_patient(stack, pid, [mine])
    upsert_patient(stack, sister, [family])
    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, None)
    wait_until(lambda: json.loads(stack.row(lead_of(first))[0][2]).get("erased"), 60,
               "the patient's lead erased")
    # sent days before the erasure (two at once, as a backlog comes), and
    # folded only now
    late = [request("erased-late-2", "Nina", mine, "sent before she was erased",
                    "2026-11-20T07:00:00Z"),
            request("erased-late-3", "Nina", mine, "and once more", "2026-11-25T07:00:00Z")]
    stranger = request("erased-late-4", "Stas", strangers, "not hers", "2026-11-20T07:00:00Z")
    sisters = request("erased-late-6", "Vera", family, "her sister's", "2026-11-20T07:00:00Z")
    after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
    again = request("erased-late-5", "Nina", mine, "written after the erasure",
                    after.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
    stack.wait_folded()

    def doc(fact):
        return json.loads(stack.row(lead_of(fact))[0][2])

    for f in late:
        d = doc(f)
        assert d.get("erased") and not d.get("contact") and "text" not in d, d
        assert "external" not in d and "0031" not in json.dumps(d), d
        assert d["contact_key"] == kmine and d.get("patient_id") is None, d
        received = [e for e in stack.events() if e["subject"] == lead_of(f)
                    and e["type"] == "clinicflow.lead.received"]
        assert len(received) == 1 and received[0]["data"]["contact"] == {}, received
        assert received[0]["data"]["erased"] is True, received
        assert "Nina" not in json.dumps(received) and "before she" not in json.dumps(received)
        assert "tg-0031" not in json.dumps(received), received
        # its callback task has no number to call
        assert cfstack.psql(stack.dsn, "SELECT coalesce(doc->'contact'->>'e164', '-')"
                            " FROM leads.tasks WHERE lead_id = '%s' AND kind = 'callback'"
                            % lead_of(f)) in ([["-"]], []), lead_of(f)
    d = doc(stranger)
    assert not d.get("erased") and d["contact"]["name"] == "Stas", d
    d = doc(sisters)
    assert not d.get("erased") and d["contact"]["name"] == "Vera", d
    assert d["patient_id"] == sister, d
    d = doc(again)
    assert not d.get("erased") and d["text"] == "written after the erasure", d
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.erasures WHERE contact_key = '%s'"
                        % kmine) == [["1"]]


def partitions(stack):
    p = subprocess.run(["kcat", "-b", stack.broker.bootstrap, "-L", "-t", RAW, "-J"],
                       capture_output=True, timeout=30)
    return len(json.loads(p.stdout)["topics"][0]["partitions"])


def assigned(svc):
    found = re.findall(r"consumer clinicflow-leads-fold: assigned (\d+) partitions", svc.logs())
    return int(found[-1]) if found else 0


def test_waiting_facts_expire_to_the_dlq(stack):
    # a fact whose lead never comes goes to the DLQ after the setting, once
    # with two instances sweeping, counted; one of network B waiting for a
    # lead id that A's request then opens is not A's: it is not applied,
    # and expires the same way
    ghost = str(uuid.uuid4())
    lost = stack.fact("status", "x1", {"lead_id": ghost, "status": "lost", "reason": "price"},
                      time="2026-11-24T07:05:00Z")
    kp = key_of("+79160000010")
    req_id = new_fact_id()
    lead_id = str(uuid.uuid5(NS, "\x1f".join([NET["id"], "lead", req_id])))
    theirs = stack.fact("status", "x2", {"lead_id": lead_id, "status": "spam"},
                        time="2026-11-24T07:01:00Z", network=common.NETWORK_B["id"])
    stack.wait_folded()  # B's waits for a lead that is not stored yet
    stack.fact("request", "x3", {"contact": phone("+79160000010")}, keys={"phone": kp},
               time="2026-11-24T07:00:00Z", event_id=req_id)
    stack.wait_folded()
    assert types(stack.events_of(kp)) == ["received"]
    assert stack.row(lead_id)[0][0] == "open"
    for fact in (lost, theirs):
        wait_until(lambda: stack.dlq_of(fact["id"]), 60, "the fact's expiry to the DLQ")
        dead = stack.dlq_of(fact["id"])
        assert len(dead) == 1 and dead[0]["reason_code"] == "unknown_lead", dead
        assert dead[0]["group_id"] == "clinicflow-leads-fold" and dead[0]["topic"] == RAW, dead
        assert fact["data"]["lead_id"] in dead[0]["reason"], dead
    wait_until(lambda: stack.expired() == 2, 30, "the expired facts counted")
    assert stack.pending(ghost) == [] and stack.pending(lead_id) == []
    assert stack.row(lead_id)[0][0] == "open"
    assert len(stack.dlq_of(lost["id"])) == 1  # no second instance sent it again


def test_an_expired_fact_replayed_once_its_lead_is_stored_is_applied(stack):
    # the fold recorded the fact's id as applied when it made it wait; its
    # expiry forgets the id with the row, so the DLQ entry replayed once
    # the lead is stored is applied, not skipped as applied before
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    since = since[:-3] + "Z"  # after every entry of the tests before
    kp = key_of("+79160000012")
    req_id = new_fact_id()
    lead_id = str(uuid.uuid5(NS, "\x1f".join([NET["id"], "lead", req_id])))
    fact = stack.fact("status", "r1", {"lead_id": lead_id, "status": "booked",
                                       "appointment_id": "appt-r"}, time="2026-11-24T07:05:00Z")
    wait_until(lambda: stack.dlq_of(fact["id"]), 60, "the fact's expiry to the DLQ")
    stack.fact("request", "r2", {"contact": phone("+79160000012")}, keys={"phone": kp},
               time="2026-11-24T07:00:00Z", event_id=req_id)
    stack.wait_folded()
    assert types(stack.events_of(kp)) == ["received"]
    p = cfstack.clinicflowctl(stack.dsn, "dlq", "replay", "--topic", RAW,
                              "--group", "clinicflow-leads-fold", "--since", since,
                              env={"CLINICFLOW_KAFKA_BROKERS": stack.broker.bootstrap})
    assert p.stdout == "replayed 1 of 1 message to %s\n" % RAW, (p.stdout, p.stderr)
    stack.produced += 1
    stack.wait_folded()
    evs = stack.events_of(kp)
    assert types(evs) == ["received", "status_changed"], evs
    assert evs[1]["data"]["appointment_id"] == "appt-r", evs[1]
    assert stack.row(lead_id)[0][0] == "booked"
    assert stack.pending(lead_id) == []


def test_two_instances_open_one_lead_per_person(stack):
    total = partitions(stack)
    wait_until(lambda: all(assigned(s) > 0 for s in stack.services)
               and sum(assigned(s) for s in stack.services) == total, 60,
               "both instances to fold a share of leads.raw")
    people = []
    threads = []
    for i in range(16):
        e164, email = "+7916100%04d" % i, "p%d@example.org" % i
        kp, ke = key_of(e164), key_of("email:" + email)
        people.append(kp)
        # one person writes by form (phone and e-mail) and by mail (e-mail
        # alone) at once: keyed apart, so on different partitions
        for key, contact, keys in (
                ("f", {**phone(e164), "email": email}, {"phone": kp, "email": ke}),
                ("e", {"email": email}, {"email": ke})):
            threads.append(threading.Thread(target=stack.fact, args=(
                "request", "two-%d-%s" % (i, key), {"contact": contact, "text": "hi"}, keys,
                "2026-11-24T07:00:00Z")))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stack.wait_folded(90)
    for kp in people:
        evs = stack.events_of(kp)
        assert sorted(types(evs)) == ["merged", "received"], evs
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.leads WHERE contact_key IN (%s)"
                        % ",".join("'%s'" % k for k in people))
    assert rows == [[str(len(people))]], rows


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_received_merged_and_a_new_lead_after_the_window,
            test_a_request_told_late_merges_into_the_lead_that_came_after_it,
            test_site_forms_through_the_generic_channel,
            test_a_request_without_a_key_opens_a_lead_of_its_own,
            test_a_phone_arriving_later_is_gained,
            test_response_once_and_status,
            test_the_events_route_answers_and_closes_a_lead,
            test_a_status_before_its_lead_is_applied_when_the_lead_comes,
            test_a_made_up_lead_id_does_not_hold_the_fold,
            test_another_networks_fact_never_touches_a_lead,
            test_requests_fold_at_once,
            test_a_fact_a_run_applies_is_not_the_expirys,
            test_patient_class_and_tombstone_erasure,
            test_erasure_reaches_a_number_given_up,
            test_a_request_folded_after_its_persons_erasure_is_stored_erased,
            test_consumer_threads_carry_their_groups_names)], exit=False)
    finally:
        s.close()
    s2 = Stack(instances=2, expire_s=EXPIRE_S)
    try:
        cfstack.run([lambda f=f: f(s2) for f in (
            test_waiting_facts_expire_to_the_dlq,
            test_an_expired_fact_replayed_once_its_lead_is_stored_is_applied,
            test_two_instances_open_one_lead_per_person)], exit=False)
    finally:
        s2.close()
    cfstack.exit_status()
