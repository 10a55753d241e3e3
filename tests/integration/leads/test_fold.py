"""The lead fold through the running service: lead facts on
clinicflow.leads.raw.v1 (the contract the intake produces, README.md of
services/leads) become leads on clinicflow.leads.v1 and rows in
leads.leads: a request opens a lead, another from any of its contact keys
within the merge window merges into it (a phone gained later included),
one after the window opens a new lead, the first response stops the clock
once, a provider retry changes nothing, the first outcome closes the
lead, a patient's tombstone erases that person's data from the leads, and
two instances folding one person's requests at once open one lead.

Site forms go through the running service's generic channel; the other
facts are written to leads.raw directly, as the intake and the events
route write them, so each rule is driven by exactly the fact it reads."""
import base64
import json
import re
import subprocess
import threading
import uuid

import cfstack
import common

RAW = "clinicflow.leads.raw.v1"
LEADS = "clinicflow.leads.v1"
PATIENTS = "clinicflow.patients.v1"
WINDOW_S = 3600  # the clinic's merge window
WAIT_S = 10  # how long a fact naming a lead not stored yet waits for it
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

    def __init__(self, instances=1):
        super().__init__(instances=0, extra_env={
            "CLINICFLOW_LEADS_MERGE_WINDOW_S": "86400",  # the clinic's wins
            "CLINICFLOW_LEADS_WAIT_FOR_LEAD_S": str(WAIT_S),
        })
        net = common.test_network()
        next(c for c in net["clinics"] if c["id"] == CLINIC)["lead_merge_window_s"] = WINDOW_S
        common.apply_doc(self.dsn, net)
        self.produced = 0
        for _ in range(instances):
            self.services.append(self.start_service())
        self.svc = self.services[0]

    def fact(self, kind, event_key, data, keys=None, time="2026-11-24T07:00:00Z",
             event_id=None):
        """Writes one lead fact to leads.raw keyed by its contact key (the
        strongest of keys) and returns its envelope."""
        keys = keys or {}
        main = keys.get("phone") or keys.get("email") or keys.get("messenger")
        body = {"kind": kind, "provider": "generic", "channel": "web-form",
                "provider_event_id": event_key, **data}
        if keys:
            body["contact_key"] = main
            body["contact_keys"] = keys
        fact_id = event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "fact/" + event_key))
        ev = {"specversion": "1.0", "id": fact_id,
              "subject": main or data.get("lead_id") or fact_id,
              "source": "/clinicflow/leads/generic/web-form",
              "type": "clinicflow.lead.reported",
              "time": time, "networkid": NET["id"], "clinicid": CLINIC, "data": body}
        cfstack.produce(self.broker.bootstrap, RAW, ev["subject"], json.dumps(ev).encode())
        self.produced += 1
        return ev

    def wait_folded(self, timeout=60):
        """Waits until the fold has committed every message written to leads.raw."""
        wait_until(lambda: int(cfstack.psql(
            self.dsn, "SELECT coalesce(sum(next_offset), 0) FROM leads.consumer_offsets"
            " WHERE group_id = 'clinicflow-leads-fold'")[0][0]) >= self.produced,
            timeout, "the fold to apply %d facts" % self.produced)

    def events(self):
        # lead.* schemas are not in proto/ yet: read without the contract
        out = []
        for m in cfstack.TopicReader(self.broker.bootstrap, LEADS, validate=False).read():
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

    def row(self, lead_id):
        return cfstack.psql(self.dsn, "SELECT status, messages, doc::text FROM leads.leads"
                            " WHERE lead_id = '%s'" % lead_id)


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
    stack.fact("request", "r2", {"contact": phone("+79160000001"), "text": "and implants?"},
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
    raw = {"contact": {"phone": {"raw": "call me at work", "kind": "unknown"}}, "text": "?"}
    a = stack.fact("request", "nokey-1", raw, time="2026-11-24T07:00:00Z")
    b = stack.fact("request", "nokey-2", raw, time="2026-11-24T07:01:00Z")
    stack.wait_folded()
    assert a["subject"] == a["id"] and b["subject"] == b["id"]  # keyed by their own ids
    evs = [e for e in stack.events() if e["data"].get("text") == "?"]
    assert types(evs) == ["received", "received"], evs
    assert evs[0]["subject"] != evs[1]["subject"], evs
    assert "contact_key" not in evs[0]["data"], evs[0]


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
    # a closed lead takes no more requests: the next one opens a lead
    stack.fact("request", "s4", {"contact": phone("+79160000003")}, keys={"phone": kp},
               time="2026-11-24T07:50:00Z")
    stack.wait_folded()
    assert types(stack.events_of(kp)) == ["received", "responded", "status_changed",
                                          "received"]


def test_the_events_route_answers_and_closes_a_lead(stack):
    ke = key_of("+79160000006")
    stack.fact("request", "ev1", {"contact": phone("+79160000006")}, keys={"phone": ke},
               time="2026-11-24T07:00:00Z")
    stack.wait_folded()
    lead_id = stack.events_of(ke)[0]["subject"]
    for body in ({"event_id": "ev-r", "type": "responded", "staff_id": "op-7",
                  "channel": "telegram", "time": "2026-11-24T07:03:00Z"},
                 {"event_id": "ev-l", "type": "lost", "reason": "chose_other_clinic",
                  "time": "2026-11-24T07:30:00Z"}):
        st, _, reply = stack.post_event(lead_id.upper(), body)
        assert 200 <= st < 300, (st, reply)
        stack.produced += 1
    stack.wait_folded()
    evs = stack.events_of(ke)
    assert types(evs) == ["received", "responded", "status_changed"], evs
    r, c = evs[1]["data"], evs[2]["data"]
    assert r["via"] == "telegram" and r["staff_id"] == "op-7", r
    assert r["response_seconds"] == 180 and r["working_seconds"] == 180, r
    assert c["status"] == "lost" and c["reason"] == "chose_other_clinic", c
    assert stack.row(lead_id)[0][0] == "lost"


def test_a_status_for_an_unknown_lead_waits_then_goes_to_the_dlq(stack):
    # a lead that never comes: the fact waits (its lead may be committing
    # on another runner), then goes to the DLQ, and the fold goes on
    ghost = str(uuid.uuid4())
    stack.fact("status", "w2", {"lead_id": ghost, "status": "booked"},
               time="2026-11-24T07:05:00Z")
    kp = key_of("+79160000005")
    stack.fact("request", "w3", {"contact": phone("+79160000005")}, keys={"phone": kp},
               time="2026-11-24T07:00:00Z")
    stack.wait_folded(WAIT_S + 60)
    assert types(stack.events_of(kp)) == ["received"]
    entries = [json.loads(m["payload"]) for m in stack.reader_dlq()]
    mine = [e for e in entries
            if json.loads(base64.b64decode(e["data"]["value_b64"]))["data"].get("lead_id")
            == ghost]
    assert len(mine) == 1 and mine[0]["data"]["group_id"] == "clinicflow-leads-fold", entries
    assert ghost in mine[0]["data"]["reason"], mine
    assert "lead %s is not stored yet" % ghost in stack.services[0].logs()  # it waited first
    assert not [e for e in stack.events() if e["subject"] == ghost]


def test_patient_class_and_tombstone_erasure(stack):
    kp = key_of("+79160000004")
    pid = str(uuid.uuid4())
    ev = {"specversion": "1.0", "id": str(uuid.uuid4()),
          "source": "/clinicflow/reminders/mis/test", "type": "clinicflow.patient.upserted",
          "subject": pid, "time": "2026-11-20T08:00:00.000Z",
          "datacontenttype": "application/json", "networkid": NET["id"],
          "data": {"patient_id": pid, "phones": ["+79160000004"], "contact_keys": [kp],
                   "last_visit_at": "2026-10-01T10:00:00.000Z",
                   "consents": {"calls": True, "sms": True, "messengers": False}}}
    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, json.dumps(ev).encode())
    wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.patient_contacts"
                                    " WHERE contact_key = '%s'" % kp) == [["1"]],
               60, "the patient in the leads view")
    stack.fact("request", "p1", {"contact": {"name": "Ivan", "email": "ivan@example.org",
                                             **phone("+79160000004")},
                                 "text": "my tooth", "subject": "urgent",
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
    for gone in ("contact", "text", "subject"):
        assert gone not in doc, doc
    assert "Ivan" not in json.dumps(doc) and "ivan@" not in json.dumps(doc), doc
    assert doc["contact_key"] == kp and doc["tags"] == {"utm_source": "vk"}, doc
    assert doc["lead_id"] == lead["lead_id"] and doc["received_at"], doc
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM leads.patients") == [["0"]]


def partitions(stack):
    p = subprocess.run(["kcat", "-b", stack.broker.bootstrap, "-L", "-t", RAW, "-J"],
                       capture_output=True, timeout=30)
    return len(json.loads(p.stdout)["topics"][0]["partitions"])


def assigned(svc):
    found = re.findall(r"consumer clinicflow-leads-fold: assigned (\d+) partitions", svc.logs())
    return int(found[-1]) if found else 0


def test_two_instances_open_one_lead_per_person(stack):
    total = partitions(stack)
    wait_until(lambda: all(assigned(s) > 0 for s in stack.services)
               and sum(assigned(s) for s in stack.services) == total, 60,
               "both instances to fold a share of leads.raw")
    people = []
    threads = []
    for i in range(16):
        kp = key_of("+7916100%04d" % i)
        ke = key_of("email:p%d@example.org" % i)
        people.append(kp)
        # one person writes by form (phone and e-mail) and by mail (e-mail
        # alone) at once: keyed apart, so on different partitions
        for key, keys in (("f", {"phone": kp, "email": ke}), ("e", {"email": ke})):
            threads.append(threading.Thread(target=stack.fact, args=(
                "request", "two-%d-%s" % (i, key), {"text": "hi"}, keys, "2026-11-24T07:00:00Z")))
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
            test_site_forms_through_the_generic_channel,
            test_a_request_without_a_key_opens_a_lead_of_its_own,
            test_a_phone_arriving_later_is_gained,
            test_response_once_and_status,
            test_the_events_route_answers_and_closes_a_lead,
            test_a_status_for_an_unknown_lead_waits_then_goes_to_the_dlq,
            test_patient_class_and_tombstone_erasure)], exit=False)
    finally:
        s.close()
    s2 = Stack(instances=2)
    try:
        cfstack.run([lambda: test_two_instances_open_one_lead_per_person(s2)], exit=False)
    finally:
        s2.close()
    cfstack.exit_status()
