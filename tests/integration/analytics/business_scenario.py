"""The analytics business scenario: one network's week, two clinics, fed to
clinicflow-analytics as the real producers feed it (see the scenario below and
test_business_reports.py, which checks every report against figures computed
by hand). feed(stack) plays it on a BizStack; the dashboard's browser test
(tests/integration/dashboard) reuses it to have real numbers on screen."""
import json
import subprocess
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cfstack
import contract
from common import (CALLS, NET, TASKS, Stack, call_event, cf_uuid5, contact_key, iso, party,
                    produce_many, task_event, wait_groups_consumed, wait_until)


MSK = ZoneInfo("Europe/Moscow")
LEADS = "clinicflow.leads.v1"
APPTS = "clinicflow.appointments.v1"
PATIENTS = "clinicflow.patients.v1"
OUTCOMES = "clinicflow.reminders.outcomes.v1"
# proto/README.md "Analytics reports": analytics' consumer groups and their topics.
GROUPS = {
    "clinicflow-analytics-calls": (CALLS, TASKS),
    "clinicflow-analytics-leads": (LEADS,),
    "clinicflow-analytics-mis": (APPTS, PATIENTS),
    "clinicflow-analytics-reminders": (OUTCOMES,),
}

C, N = "demo-center", "demo-north"
IVANOVA, PETROV, SIDOROVA = "dr-ivanova", "dr-petrov", "dr-sidorova"
ANNA_OP, BORIS_OP = "op-anna", "op-boris"  # call centre, reception

PHONE = {"X1": "+79161110001", "X2": "+79161110002", "X3": "+79161110003",
         "X5": "+79161110005", "X6": "+79161110006", "ANNA": "+79161110009"}
X4_TELEGRAM = "5550004"  # X4 writes in Telegram only: a messenger key, no phone
# The demo network's tracking numbers (deploy/local/demo-network.json).
TRACKING = {"yandex_direct": ("+74950000301", "cpc", "implants-2026"),
            "site": ("+74950000304", "organic", None),
            "prodoctorov": ("+74950000305", "aggregator", None)}
CLINIC_PHONE = {C: "+74950000101", N: "+74950000102"}


def network():
    """The demo network; the reminders service plans no re-invite, survey
    or recall of its own (its campaign.member events would mix with
    this test's)."""
    doc = cfstack.demo_network()
    doc["reminder_policies"].update({"reinvite": False, "nps": False, "recall": False})
    return doc


# --- ids ---------------------------------------------------------------------------

def patient_uuid(mis):
    return cf_uuid5(NET, "mis", "patient", mis)


def appointment_uuid(mis):
    return cf_uuid5(NET, "mis", "appointment", mis)


def mis_event_id(kind, mis, version):
    return cf_uuid5(NET, "mis", kind, mis, "v%d" % version)


def call_id(tag):
    return cf_uuid5(NET, "generic", "call", tag)


def lead_id(name):
    return cf_uuid5(NET, "lead", cf_uuid5(NET, "api", "lead-event", "bz-" + name))


def job_id(name):
    return cf_uuid5("bz-job", name)


def send_id(name):
    return cf_uuid5(job_id(name), "1")


# ==================================================================================
# The scenario. D1..D7: the seven Moscow days before today T; times are Moscow.
# ==================================================================================
#
# PEOPLE (contact keys: their phones; X4 a Telegram account; 7 anonymous callers)
#  X1    new       K1 call C D1 10:15 yandex_direct; L3 lead C D3 14:00 google
#                  -> first touch yandex_direct, last non-direct google
#  X2    new       L1 lead N D1 12:00 yandex_direct
#  ANNA  patient   K3 call C D2 11:05 yandex_direct (class repeat); L5 lead C D4 18:00
#                  google (repeat) -> first yandex_direct, last non-direct google
#  X3    new       K4 call N D2 11:20 prodoctorov; L4 lead N D6 10:00 direct (no tags)
#                  -> first and last non-direct prodoctorov
#  X4    new       L2 Telegram lead C D3 09:30, direct -> no source at all
#  X5    new       K7 call C D3 15:10 site, missed; called back (CB, outbound) 15:20;
#                  RING: a call C D5 09:00 that never ended (only call.started)
#  X6    new       K15 call N D5 16:00 prodoctorov
#  anon  -         ANON1..6 N D4 10:05..10:55 answered 240 s each, ANON7 N D4 10:50
#                  missed: no number, no contact key (each a person of its own)
#
# CALLS (ended unless said): clinic, start, outcome, talk, agent
#  K1  C D1 10:15 answered 120 s op-anna (call centre)  (started, answered, ended)
#  K3  C D2 11:05 answered 200 s op-boris (reception)
#  K4  N D2 11:20 answered  90 s op-boris
#  K7  C D3 15:10 missed (rang 40 s)
#  CB  C D3 15:20 OUTBOUND to X5, answered 60 s op-anna
#  ANON1-6 N D4 10:05 10:12 10:20 10:31 10:44 10:55 answered 240 s op-boris
#  ANON7   N D4 10:50 missed
#  K15 N D5 16:00 answered 45 s op-boris
#  RING C D5 09:00 never ended: counts nowhere
#
# LEADS (lead.received): L1 N cf7 D1 12:00, L2 C telegram D3 09:30, L3 C form D3 14:00,
#  L4 N cf7 D6 10:00, L5 C form D4 18:00 (patient_class repeat).
#
# PATIENTS (MIS): anna (phone ANNA, first_visit_at 2026-01-15), x1 (X1), x2 (no phone),
#  x3 (no phone), x4 (no phone), x5 (X5), x6 (X6), r1 (first_visit_at 2025-12-01),
#  r2..r7, q1..q3 (phones none of the contacts have).
#
# APPOINTMENTS (MIS; latest version), booked (first seen) at T unless said:
#  id   patient clinic doctor   start      status     paid  plan            operator source
#  A1   anna    C      ivanova  D2 14:00   completed  5000  accepted 120000 boris    call K3
#  A2   x1      C      ivanova  D4 12:00   arrived    3000  proposed 80000  anna     call K1
#  A3   x1      C      petrov   D6 12:00   no_show       -  -               anna     lead L3
#  A4   x2      N      sidorova D3 10:00   completed  4000  declined 50000  boris    lead L1
#  A5   x3      N      sidorova D5 11:00   arrived    2500  accepted 30000  boris    call K4
#  A6   x4      C      petrov   D5 15:00   cancelled     -  -               anna     lead L2
#  A7   x5      C      petrov   D7 10:00   completed  1500  -               anna     call K7
#       (v1 booked D5 10:00, v2 rescheduled to D7 10:00, v3 completed)
#  A8   x6      N      sidorova D6 16:00   arrived    2000  -               boris    walk_in
#       (v2 through the API; v1 refused there (409), then v1's event produced after v2's
#        on appointments.v1 with time D1 09:00 and doctor petrov, operator anna, status
#        booked: it changes nothing but moves A8's booking to D1 09:00)
#  A9   anna    C      ivanova  D7 09:00   no_show       -  -               -        online
#  AR1  r1      C      petrov   D6 09:00   arrived    3500  -               -        recall
#  AR2  r2      C      ivanova  D7 17:00   booked        -  -               -        recall
#  AR5  r5      C      ivanova  D7 12:00   booked        -  -               -        online
#  cohorts (outside the week): q1 C 2026-03-10 completed 1000, 2026-04-20 arrived 500,
#   2026-06-05 completed 700; q2 C 2026-03-25 arrived 2000, 2026-05-05 cancelled;
#   q3 N 2026-04-02 completed 1200, 2026-04-28 arrived 400, 2026-05-15 arrived 300.
#  20 appointments: 19 first seen at T, A8 at D1.
#
# SPEND: yandex_direct network-wide D1 2500 then (the same key again) 3000; yandex_direct
#  network-wide D2 2000; prodoctorov N D2 1200; google network-wide D7 500; CSV: google C
#  D3 400 then (a later line of the same key) 450, prodoctorov network-wide D5 900.
#
# REMINDER SENDS (kind reminder): s1 A1 call D1 14:00 confirmed (status confirmed);
#  s2 A2 call D3 12:00 no_answer; s3 A2 sms D3 13:00 sms_sent (2 segments, 700 kopecks)
#  and D4 08:00 sms_delivered; s4 A3 call D5 12:00 confirmed (confirmed); s5 A5 call D4
#  11:00 busy; s6 A5 call D4 12:00 no_reply (not_confirmed); s12 A5 sms D4 13:00 failed
#  (the gateway refused it); s7 A9 call D6 09:00 confirmed
#  (confirmed); s11 A9's 2-hour reminder call D7 07:00 declined (declined: A9's last
#  status); s8 A6 call D4 15:00 reschedule (reschedule_requested); s9 A8 call D5 16:00
#  skipped (no_consent); s10 A4 call D2 10:00 opt_out_calls.
# RECALL (campaign.member, recall): R1 r1 C D1 12:00 target, R2 r2 C D1 12:05 target,
#  R3 r3 N D2 09:00 target, R4 r4 N D2 09:05 target, R5 r5 C D1 12:10 holdout, R6 r6 N
#  D3 09:00 holdout, R7 r7 C D3 09:10 holdout. Their sends (kind recall): R1 sms_sent;
#  R2 sms_sent then confirmed; R3 sms_sent then opt_out_sms; R4 skipped.
#  R8: reinvite, target, x1 (missed A3), C, at T after every appointment was stored.
# NPS: A1 ivanova 10 (D3), A2 ivanova 6 (D5), A4 sidorova 9 (D4), A5 sidorova 8 (D6),
#  A7 petrov 3 (D7).
#
# TASKS: T1 callback C (K7) closed by CB (568 s); T2 respond C (L2) due D3 09:40, open;
#  T4 reminder N (A5, not_confirmed) due D5 10:00, open; T5 respond N (L4) due D6 10:10,
#  open; T3 reminder C (recall, r2) opened 10 min ago, due in 2 hours, open.

# --- the stack -------------------------------------------------------------------------

class BizStack(Stack):
    """The analytics tests' stack (a fresh database with the demo network and keys, a
    devbroker of its own) with this test's network, clinicflow-reminders (the MIS API)
    and clinicflow-analytics."""

    def __init__(self):
        super().__init__()
        cfstack.apply_network(self.dsn, network())
        self.reminders = cfstack.Service("reminders", self.env_for())
        self.reminders.start(timeout=60)
        self.running.append(self.reminders)
        self.start_analytics()

    def sql(self, query):
        return cfstack.psql(self.dsn, query)

    # -- the MIS API --

    def mis(self, method, path, body=None):
        st, _, raw = cfstack.http(method, self.reminders.url(path), body,
                                  {"Authorization": "Bearer " + self.keys["ingest"]})
        return st, raw

    # -- analytics --

    def get(self, path, params, headers=None):
        hdrs = {"Authorization": "Bearer " + self.keys["read"]}
        hdrs.update(headers or {})
        url = self.analytics.url(path + "?" + urllib.parse.urlencode(params))
        return cfstack.http("GET", url, headers=hdrs)

    def ingest(self, method, path, body, content_type):
        st, _, raw = cfstack.http(method, self.analytics.url(path), body,
                                  {"Authorization": "Bearer " + self.keys["ingest"],
                                   "Content-Type": content_type})
        return st, raw

    def rows_of(self, table, where="TRUE", order="1"):
        """A table's rows (as JSON lines) for a failure's message."""
        rows = self.sql("SELECT row_to_json(t)::text FROM analytics.%s t WHERE %s ORDER BY %s"
                        " LIMIT 80" % (table, where, order))
        return "\n".join("    " + r[0] for r in rows)

    def wait_consumed(self, timeout=90):
        """Until every analytics group has consumed every topic (as it is now)."""
        wait_groups_consumed(self, GROUPS, timeout)


def produce_keyed(brokers, topic, pairs):
    """Writes (key, envelope) pairs to topic with one kcat, in order, each checked
    against the contract first (reminders.outcomes.v1 is keyed by the patient id,
    not by the subject)."""
    lines = []
    for key, ev in pairs:
        value = json.dumps(ev, separators=(",", ":"))
        contract.validate_message(topic, key, value)
        lines.append(key + "\t" + value)
    p = subprocess.run(["kcat", "-b", brokers, "-P", "-t", topic, "-K", "\\t"],
                       input=("\n".join(lines) + "\n").encode(), capture_output=True,
                       timeout=60)
    assert p.returncode == 0, "kcat -P %s: %s" % (topic, p.stderr.decode(errors="replace"))


def envelope(etype, source, subject, at, data, clinic, event_id):
    ev = {"specversion": "1.0", "id": event_id, "source": source,
          "type": "clinicflow." + etype, "subject": subject, "time": at,
          "datacontenttype": "application/json", "networkid": NET, "data": data}
    if clinic:
        ev["clinicid"] = clinic
    return ev


# --- the scenario's events ----------------------------------------------------------------

class Days:
    """D1..D7 (the seven Moscow days before today) and T (today)."""

    def __init__(self, today):
        self.T = today
        self.d = {"D%d" % k: today - timedelta(days=8 - k) for k in range(1, 8)}
        self.d["T"] = today

    def __getitem__(self, name):
        return self.d[name]

    def s(self, name):
        return self[name].isoformat()

    def at(self, name, hm):
        """name's day at hh:mm[:ss] in Moscow (an aware datetime)."""
        parts = [int(x) for x in hm.split(":")] + [0]
        day = self[name]
        return datetime(day.year, day.month, day.day, parts[0], parts[1], parts[2],
                        tzinfo=MSK)

    def wd(self, name):
        return self[name].isoweekday()


def call_data(tag, clinic, start, phone=None, direction="inbound", outcome="answered",
              talk=0, ring=8, agent=None, group=None, source=None, cls=None, patient=None,
              status="ended"):
    """A call's data as the calls service folds it (call.json)."""
    d = {"call_id": call_id(tag), "clinic_id": clinic, "direction": direction,
         "status": status, "started_at": iso(start), "provider": "generic",
         "provider_call_id": tag, "facts": 1}
    them = party(phone) if phone else {"raw": "anonymous", "kind": "anonymous"}
    ours = CLINIC_PHONE[clinic]
    if direction == "inbound":
        d["caller"] = them
        d["called"] = party(TRACKING[source][0] if source else ours)
    else:
        d["caller"], d["called"] = party(ours), them
    if phone:
        d["contact_key"] = contact_key(phone)
    if status == "ended":
        if outcome == "answered":
            d.update(answered_at=iso(start + timedelta(seconds=ring)), ring_seconds=ring,
                     talk_seconds=talk, ended_at=iso(start + timedelta(seconds=ring + talk)),
                     outcome="answered")
            if agent:
                d.update(agent_id=agent, agent_group=group)
        else:
            d.update(ring_seconds=ring, ended_at=iso(start + timedelta(seconds=ring)),
                     outcome=outcome)
    if direction == "inbound":
        if phone:
            d["unique"] = True
        d["targeted"] = status == "ended" and outcome == "answered" and talk >= 20
        if source:
            number, medium, campaign = TRACKING[source]
            d["tracking_number"] = number
            d["attribution"] = {"kind": "static", "tracking_number": number, "source": source,
                                "medium": medium}
            if campaign:
                d["attribution"]["campaign"] = campaign
        if cls:
            d["patient"] = {"class": cls}
            if patient:
                d["patient"]["patient_id"] = patient
    return d


def the_calls(days):
    """The calls' events on calls.v1 (each call's events in order) and their final
    data by name."""
    D = days.at
    calls = {
        "K1": call_data("bz-k1", C, D("D1", "10:15"), PHONE["X1"], talk=120, agent=ANNA_OP,
                        group="call_center", source="yandex_direct", cls="new"),
        "K3": call_data("bz-k3", C, D("D2", "11:05"), PHONE["ANNA"], talk=200, agent=BORIS_OP,
                        group="reception", source="yandex_direct", cls="repeat",
                        patient=patient_uuid("bz-anna")),
        "K4": call_data("bz-k4", N, D("D2", "11:20"), PHONE["X3"], talk=90, agent=BORIS_OP,
                        group="reception", source="prodoctorov", cls="new"),
        "K7": call_data("bz-k7", C, D("D3", "15:10"), PHONE["X5"], outcome="missed", ring=40,
                        source="site", cls="new"),
        "CB": call_data("bz-cb", C, D("D3", "15:20"), PHONE["X5"], direction="outbound",
                        talk=60, agent=ANNA_OP, group="call_center"),
        "K15": call_data("bz-k15", N, D("D5", "16:00"), PHONE["X6"], talk=45, agent=BORIS_OP,
                         group="reception", source="prodoctorov", cls="new"),
        "RING": call_data("bz-ring", C, D("D5", "09:00"), PHONE["X5"], status="ringing",
                          source="site", cls="new"),
    }
    for i, hm in enumerate(["10:05", "10:12", "10:20", "10:31", "10:44", "10:55"], 1):
        calls["ANON%d" % i] = call_data("bz-anon-%d" % i, N, D("D4", hm), talk=240,
                                        agent=BORIS_OP, group="reception")
    calls["ANON7"] = call_data("bz-anon-7", N, D("D4", "10:50"), outcome="missed", ring=40)
    events = []
    # K1 as the fold reports it: started, answered, ended (the latest is its state)
    k1 = calls["K1"]
    started = {k: v for k, v in k1.items() if k not in (
        "answered_at", "talk_seconds", "ended_at", "outcome", "agent_id", "agent_group",
        "ring_seconds")}
    started.update(status="ringing", targeted=False)
    answered = {k: v for k, v in k1.items() if k not in ("talk_seconds", "ended_at", "outcome")}
    answered.update(status="in_progress", targeted=False)
    events.append(call_event("started", started, time=k1["started_at"]))
    events.append(call_event("answered", answered, time=k1["answered_at"]))
    events.append(call_event("ended", k1))
    for name, d in calls.items():
        if name == "K1":
            continue
        events.append(call_event("ended" if d["status"] == "ended" else "started", d))
    return events, calls


def lead_data(name, clinic, provider, channel, at, cls, phone=None, tags=None, patient=None):
    contact = {"name": "Person " + name}
    keys = {}
    if phone:
        contact["phone"] = party(phone)
        keys["phone"] = contact_key(phone)
        key = keys["phone"]
    else:  # Telegram
        contact["user_id"] = X4_TELEGRAM
        keys["messenger"] = contact_key("telegram:" + X4_TELEGRAM)
        key = keys["messenger"]
    d = {"lead_id": lead_id(name), "clinic_id": clinic, "provider": provider,
         "channel": channel, "contact": contact, "contact_key": key, "contact_keys": keys,
         "text": "Хочу записаться", "attribution": "tags" if tags else "none",
         "received_at": iso(at), "patient_class": cls, "status": "open"}
    if tags:
        d["tags"] = tags
    if patient:
        d["patient_id"] = patient
    return envelope("lead.received", "/clinicflow/leads/fold", d["lead_id"], iso(at), d,
                    clinic, cf_uuid5(d["lead_id"], "lead.received"))


def the_leads(days):
    D = days.at
    yandex = {"utm_source": "yandex_direct", "utm_medium": "cpc",
              "utm_campaign": "implants-2026"}
    google = {"utm_source": "google", "utm_medium": "cpc"}
    return [
        lead_data("L1", N, "cf7", "demo-cf7", D("D1", "12:00"), "new", PHONE["X2"], yandex),
        lead_data("L2", C, "telegram", "demo-telegram", D("D3", "09:30"), "new"),
        lead_data("L3", C, "generic", "demo-form", D("D3", "14:00"), "new", PHONE["X1"],
                  google),
        lead_data("L4", N, "cf7", "demo-cf7", D("D6", "10:00"), "new", PHONE["X3"]),
        lead_data("L5", C, "generic", "demo-form", D("D4", "18:00"), "repeat", PHONE["ANNA"],
                  google, patient_uuid("bz-anna")),
    ]


PATIENT_RECORDS = [
    # mis, clinic, phones, first_visit_at
    ("bz-anna", C, [PHONE["ANNA"]], "2026-01-15T10:00:00+03:00"),
    ("bz-x1", C, [PHONE["X1"]], None),
    ("bz-x2", N, [], None),
    ("bz-x3", N, [], None),
    ("bz-x4", C, [], None),
    ("bz-x5", C, [PHONE["X5"]], None),
    ("bz-x6", N, [PHONE["X6"]], None),
    ("bz-r1", C, ["+79161110101"], "2025-12-01T10:00:00+03:00"),
    ("bz-r2", C, ["+79161110102"], None),
    ("bz-r3", N, ["+79161110103"], None),
    ("bz-r4", N, ["+79161110104"], None),
    ("bz-r5", C, ["+79161110105"], None),
    ("bz-r6", N, ["+79161110106"], None),
    ("bz-r7", C, ["+79161110107"], None),
    ("bz-q1", C, ["+79161110201"], None),
    ("bz-q2", C, ["+79161110202"], None),
    ("bz-q3", N, ["+79161110203"], None),
]


def appt(version, clinic, patient, doctor, start, status, paid=None, plan=None, source=None,
         call=None, lead=None, operator=None):
    body = {"version": version, "clinic_id": clinic, "patient_id": patient,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat(),
            "status": status, "service_category": "therapy"}
    if doctor:
        body["doctor_id"] = doctor
    if paid is not None:
        body["amount_paid"] = paid
    if plan:
        body["treatment_plan"] = {"status": plan[0], "amount": plan[1]}
    if source:
        body["booking_source"] = source
    if call:
        body["call_id"] = call
    if lead:
        body["lead_id"] = lead
    if operator:
        body["operator_id"] = operator
    return body


def the_appointments(days):
    """The PUTs, in order: (MIS id, body)."""
    D = days.at
    K = {n: call_id(t) for n, t in (("K1", "bz-k1"), ("K3", "bz-k3"), ("K4", "bz-k4"),
                                    ("K7", "bz-k7"))}

    def q(day_text, hm):
        y, m, d = (int(x) for x in day_text.split("-"))
        h, mi = (int(x) for x in hm.split(":"))
        return datetime(y, m, d, h, mi, tzinfo=MSK)
    puts = [
        ("bz-a1", appt(1, C, "bz-anna", IVANOVA, D("D2", "14:00"), "completed", 5000,
                       ("accepted", 120000), "call", call=K["K3"], operator=BORIS_OP)),
        ("bz-a2", appt(1, C, "bz-x1", IVANOVA, D("D4", "12:00"), "arrived", 3000,
                       ("proposed", 80000), "call", call=K["K1"], operator=ANNA_OP)),
        ("bz-a3", appt(1, C, "bz-x1", PETROV, D("D6", "12:00"), "no_show", source="lead",
                       lead=lead_id("L3"), operator=ANNA_OP)),
        ("bz-a4", appt(1, N, "bz-x2", SIDOROVA, D("D3", "10:00"), "completed", 4000,
                       ("declined", 50000), "lead", lead=lead_id("L1"), operator=BORIS_OP)),
        ("bz-a5", appt(1, N, "bz-x3", SIDOROVA, D("D5", "11:00"), "arrived", 2500,
                       ("accepted", 30000), "call", call=K["K4"], operator=BORIS_OP)),
        ("bz-a6", appt(1, C, "bz-x4", PETROV, D("D5", "15:00"), "cancelled", source="lead",
                       lead=lead_id("L2"), operator=ANNA_OP)),
        # the rescheduled one: booked for D5, moved to D7, completed
        ("bz-a7", appt(1, C, "bz-x5", PETROV, D("D5", "10:00"), "booked", source="call",
                       call=K["K7"], operator=ANNA_OP)),
        ("bz-a7", appt(2, C, "bz-x5", PETROV, D("D7", "10:00"), "rescheduled", source="call",
                       call=K["K7"], operator=ANNA_OP)),
        ("bz-a7", appt(3, C, "bz-x5", PETROV, D("D7", "10:00"), "completed", 1500,
                       source="call", call=K["K7"], operator=ANNA_OP)),
        # version 2 first (version 1 comes after it, below)
        ("bz-a8", appt(2, N, "bz-x6", SIDOROVA, D("D6", "16:00"), "arrived", 2000,
                       source="walk_in", operator=BORIS_OP)),
        ("bz-a9", appt(1, C, "bz-anna", IVANOVA, D("D7", "09:00"), "no_show", source="online")),
        ("bz-ar1", appt(1, C, "bz-r1", PETROV, D("D6", "09:00"), "arrived", 3500,
                        source="recall")),
        ("bz-ar2", appt(1, C, "bz-r2", IVANOVA, D("D7", "17:00"), "booked", source="recall")),
        ("bz-ar5", appt(1, C, "bz-r5", IVANOVA, D("D7", "12:00"), "booked", source="online")),
        ("bz-qa1", appt(1, C, "bz-q1", IVANOVA, q("2026-03-10", "10:00"), "completed", 1000)),
        ("bz-qa2", appt(1, C, "bz-q1", IVANOVA, q("2026-04-20", "10:00"), "arrived", 500)),
        ("bz-qa3", appt(1, C, "bz-q1", IVANOVA, q("2026-06-05", "10:00"), "completed", 700)),
        ("bz-qb1", appt(1, C, "bz-q2", IVANOVA, q("2026-03-25", "11:00"), "arrived", 2000)),
        ("bz-qb2", appt(1, C, "bz-q2", IVANOVA, q("2026-05-05", "11:00"), "cancelled")),
        ("bz-qc1", appt(1, N, "bz-q3", SIDOROVA, q("2026-04-02", "12:00"), "completed", 1200)),
        ("bz-qc2", appt(1, N, "bz-q3", SIDOROVA, q("2026-04-28", "12:00"), "arrived", 400)),
        ("bz-qc3", appt(1, N, "bz-q3", SIDOROVA, q("2026-05-15", "12:00"), "arrived", 300)),
    ]
    # A8's version 1: the visit as first booked (another doctor and operator, booked)
    a8_v1 = appt(1, N, "bz-x6", PETROV, D("D6", "16:00"), "booked", source="walk_in",
                 operator=ANNA_OP)
    return puts, a8_v1


def a8_v1_event(body, at):
    """appointment.upserted of A8's version 1 as the relay would have produced it
    (the same id), with time at."""
    aid = appointment_uuid("bz-a8")
    data = {k: v for k, v in body.items()}
    data["starts_at"] = iso(datetime.fromisoformat(body["starts_at"]))
    data["ends_at"] = iso(datetime.fromisoformat(body["ends_at"]))
    data.update(appointment_id=aid, mis_id="bz-a8", patient_id=patient_uuid("bz-x6"),
                mis_patient_id="bz-x6")
    return envelope("appointment.upserted", "/clinicflow/reminders/mis/api", aid, iso(at),
                    data, body["clinic_id"], mis_event_id("appointment", "bz-a8", 1))


def outcome(name, job, kind, patient, clinic, channel, attempt, result, at, appointment=None,
            status=None, reason=None, sms=None, duration=None):
    """A reminder.outcome: (key, envelope). name: the send."""
    sid = send_id(name)
    d = {"send_id": sid, "job_id": job_id(job), "kind": kind, "patient_id": patient_uuid(patient),
         "clinic_id": clinic, "channel": channel, "attempt": attempt,
         "gateway": "smsru" if channel == "sms" else "webhook", "outcome": result}
    if appointment:
        d["appointment_id"] = appointment_uuid(appointment)
    if status:
        d["reminder_status"] = status
    if reason:
        d["reason"] = reason
    if sms:
        d["sms"] = {"segments": sms[0], "cost_minor": sms[1], "currency": "RUB"}
    if duration is not None:
        d["duration_s"] = duration
    return d["patient_id"], envelope("reminder.outcome", "/clinicflow/reminders/outcomes", sid,
                                     iso(at), d, clinic,
                                     cf_uuid5(sid, "reminder.outcome", result))


def member(job, campaign, patient, clinic, group, at, appointment=None, missed_at=None):
    pid = patient_uuid(patient)
    d = {"campaign": campaign, "job_id": job_id(job), "patient_id": pid, "clinic_id": clinic,
         "group": group, "holdout_percent": 10}
    if appointment:
        d["appointment_id"] = appointment_uuid(appointment)
    if missed_at:
        d["missed_visit_at"] = iso(missed_at)
    if group == "target":
        d["due_at"] = iso(at + timedelta(hours=2))
    return pid, envelope("campaign.member", "/clinicflow/reminders/campaigns", pid, iso(at), d,
                         clinic, cf_uuid5(job_id(job), "campaign.member"))


def nps(job, patient, appointment, clinic, doctor_id, score, at):
    pid = patient_uuid(patient)
    category = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
    d = {"job_id": job_id(job), "patient_id": pid, "appointment_id": appointment_uuid(appointment),
         "clinic_id": clinic, "doctor_id": doctor_id, "score": score, "category": category,
         "has_comment": False, "answered_at": iso(at)}
    return pid, envelope("nps.answered", "/clinicflow/reminders/nps", pid, iso(at), d, clinic,
                         cf_uuid5(job_id(job), "nps.answered"))


def the_outcomes(days):
    D = days.at
    return [
        outcome("s1", "j-a1", "reminder", "bz-anna", C, "call", 1, "confirmed",
                D("D1", "14:00"), "bz-a1", "confirmed", duration=25),
        outcome("s10", "j-a4", "reminder", "bz-x2", N, "call", 1, "opt_out_calls",
                D("D2", "10:00"), "bz-a4", duration=12),
        outcome("s2", "j-a2", "reminder", "bz-x1", C, "call", 1, "no_answer",
                D("D3", "12:00"), "bz-a2"),
        outcome("s3", "j-a2", "reminder", "bz-x1", C, "sms", 2, "sms_sent", D("D3", "13:00"),
                "bz-a2", sms=(2, 700)),
        outcome("s3", "j-a2", "reminder", "bz-x1", C, "sms", 2, "sms_delivered",
                D("D4", "08:00"), "bz-a2"),
        outcome("s5", "j-a5", "reminder", "bz-x3", N, "call", 1, "busy", D("D4", "11:00"),
                "bz-a5"),
        outcome("s6", "j-a5", "reminder", "bz-x3", N, "call", 2, "no_reply", D("D4", "12:00"),
                "bz-a5", "not_confirmed", duration=9),
        outcome("s12", "j-a5", "reminder", "bz-x3", N, "sms", 3, "failed", D("D4", "13:00"),
                "bz-a5", reason="gateway_refused"),
        outcome("s8", "j-a6", "reminder", "bz-x4", C, "call", 1, "reschedule",
                D("D4", "15:00"), "bz-a6", "reschedule_requested", duration=20),
        outcome("s4", "j-a3", "reminder", "bz-x1", C, "call", 1, "confirmed", D("D5", "12:00"),
                "bz-a3", "confirmed", duration=22),
        outcome("s9", "j-a8", "reminder", "bz-x6", N, "call", 1, "skipped", D("D5", "16:00"),
                "bz-a8", reason="no_consent"),
        outcome("s7", "j-a9", "reminder", "bz-anna", C, "call", 1, "confirmed",
                D("D6", "09:00"), "bz-a9", "confirmed", duration=18),
        outcome("s11", "j-a9-2h", "reminder", "bz-anna", C, "call", 1, "declined",
                D("D7", "07:00"), "bz-a9", "declined", duration=15),
        # the recall campaign: members, then their sends (kind recall)
        member("r1", "recall", "bz-r1", C, "target", D("D1", "12:00")),
        member("r2", "recall", "bz-r2", C, "target", D("D1", "12:05")),
        member("r5", "recall", "bz-r5", C, "holdout", D("D1", "12:10")),
        member("r3", "recall", "bz-r3", N, "target", D("D2", "09:00")),
        member("r4", "recall", "bz-r4", N, "target", D("D2", "09:05")),
        member("r6", "recall", "bz-r6", N, "holdout", D("D3", "09:00")),
        member("r7", "recall", "bz-r7", C, "holdout", D("D3", "09:10")),
        outcome("rs1", "r1", "recall", "bz-r1", C, "sms", 1, "sms_sent", D("D1", "12:30"),
                sms=(1, 350)),
        outcome("rs2", "r2", "recall", "bz-r2", C, "sms", 1, "sms_sent", D("D1", "12:35"),
                sms=(1, 350)),
        outcome("rs2", "r2", "recall", "bz-r2", C, "sms", 1, "confirmed", D("D1", "14:00")),
        outcome("rs3", "r3", "recall", "bz-r3", N, "sms", 1, "sms_sent", D("D2", "09:30"),
                sms=(1, 350)),
        outcome("rs3", "r3", "recall", "bz-r3", N, "sms", 1, "opt_out_sms", D("D2", "10:00")),
        outcome("rs4", "r4", "recall", "bz-r4", N, "sms", 1, "skipped", D("D2", "09:35"),
                reason="no_consent"),
        # survey answers
        nps("n1", "bz-anna", "bz-a1", C, IVANOVA, 10, D("D3", "10:00")),
        nps("n3", "bz-x2", "bz-a4", N, SIDOROVA, 9, D("D4", "09:00")),
        nps("n2", "bz-x1", "bz-a2", C, IVANOVA, 6, D("D5", "10:00")),
        nps("n4", "bz-x3", "bz-a5", N, SIDOROVA, 8, D("D6", "09:00")),
        nps("n5", "bz-x5", "bz-a7", C, PETROV, 3, D("D7", "19:00")),
    ]


def the_tasks(days, calls, now):
    """Tasks on tasks.v1: T1 closed; T2, T4, T5 open and overdue; T3 open, due later."""
    D = days.at
    k7, cb = calls["K7"], calls["CB"]
    k7_end = datetime.fromisoformat(k7["ended_at"].replace("Z", "+00:00"))
    cb_answer = datetime.fromisoformat(cb["answered_at"].replace("Z", "+00:00"))
    t1 = {"task_id": cf_uuid5(NET, "callback", k7["contact_key"], k7["call_id"]),
          "kind": "callback", "status": "open", "clinic_id": C, "contact": k7["caller"],
          "contact_key": k7["contact_key"], "source_call_id": k7["call_id"],
          "opened_at": k7["ended_at"], "due_at": iso(k7_end + timedelta(seconds=900)),
          "missed_calls": 1}
    secs = int((cb_answer - k7_end).total_seconds())  # 15:20:08 - 15:10:40 = 568
    assert secs == 568, secs
    t1_closed = dict(t1, status="closed", closed_at=cb["answered_at"], on_time=True,
                     seconds_to_callback=secs, closing_call_id=cb["call_id"])
    t2 = {"task_id": cf_uuid5(NET, "lead-task", "respond", lead_id("L2")), "kind": "respond",
          "status": "open", "clinic_id": C, "lead_id": lead_id("L2"),
          "contact_key": contact_key("telegram:" + X4_TELEGRAM),
          "opened_at": iso(D("D3", "09:30")), "due_at": iso(D("D3", "09:40"))}
    t5 = {"task_id": cf_uuid5(NET, "lead-task", "respond", lead_id("L4")), "kind": "respond",
          "status": "open", "clinic_id": N, "lead_id": lead_id("L4"),
          "contact": party(PHONE["X3"]), "contact_key": contact_key(PHONE["X3"]),
          "opened_at": iso(D("D6", "10:00")), "due_at": iso(D("D6", "10:10"))}
    t4 = {"task_id": cf_uuid5(job_id("j-a5"), "task", "not_confirmed"), "kind": "reminder",
          "status": "open", "clinic_id": N, "appointment_id": appointment_uuid("bz-a5"),
          "patient_id": patient_uuid("bz-x3"), "reason": "not_confirmed",
          "opened_at": iso(D("D4", "12:00")), "due_at": iso(D("D5", "10:00"))}
    t3 = {"task_id": cf_uuid5(job_id("r2"), "task", "recall"), "kind": "reminder",
          "status": "open", "clinic_id": C, "patient_id": patient_uuid("bz-r2"),
          "reason": "recall", "opened_at": iso(now - timedelta(minutes=10)),
          "due_at": iso(now + timedelta(hours=2))}
    events = [task_event("opened", t1), task_event("closed", t1_closed)]
    for t, source in ((t2, "/clinicflow/leads/fold"), (t5, "/clinicflow/leads/fold"),
                      (t4, "/clinicflow/reminders/outcomes"),
                      (t3, "/clinicflow/reminders/outcomes")):
        ev = task_event("opened", t)
        ev["source"] = source
        events.append(ev)
    return events, {"T1": t1_closed, "T2": t2, "T3": t3, "T4": t4, "T5": t5}


# --- the test ---------------------------------------------------------------------------

def today_msk_after_midnight_guard():
    """Today in Moscow, waiting first (at most a minute) when midnight is less than
    a minute away: every booking of this test is stamped while it runs and must fall
    on one local day."""
    now = datetime.now(MSK)
    midnight = datetime(now.year, now.month, now.day, tzinfo=MSK) + timedelta(days=1)
    left = (midnight - now).total_seconds()
    if left < 60:
        time.sleep(left + 1)
    return datetime.now(MSK).date()


def feed(stack):
    """Plays the scenario on stack (a BizStack): patients and appointments through
    the MIS API, calls, tasks, leads and reminder outcomes on their topics, spend
    through the API; returns (days, tasks) once analytics has consumed it all."""
    days = Days(today_msk_after_midnight_guard())

    # 1. Patients and appointments through the MIS API.
    expected_ids = {APPTS: set(), PATIENTS: set()}
    for mis, clinic, phones, first_visit in PATIENT_RECORDS:
        body = {"version": 1, "clinic_id": clinic, "first_name": "P" + mis[3:],
                "language": "ru", "consents": {"calls": True, "sms": True}}
        if phones:
            body["phones"] = phones
        if first_visit:
            body["first_visit_at"] = first_visit
        st, raw = stack.mis("PUT", "/v1/patients/" + mis, body)
        assert st == 200 and json.loads(raw)["result"] == "created", (mis, st, raw)
        expected_ids[PATIENTS].add(mis_event_id("patient", mis, 1))
    puts, a8_v1 = the_appointments(days)
    for mis, body in puts:
        st, raw = stack.mis("PUT", "/v1/appointments/" + mis, body)
        assert st == 200, (mis, body["version"], st, raw)
        got = json.loads(raw)
        assert got["result"] == ("created" if mis != "bz-a7" or body["version"] == 1
                                 else "updated"), (mis, got)
        expected_ids[APPTS].add(mis_event_id("appointment", mis, body["version"]))
    # A8's version 1 after its version 2: the API refuses it (a newer one is stored)
    st, raw = stack.mis("PUT", "/v1/appointments/bz-a8", a8_v1)
    assert st == 409, ("PUT of A8's version 1 after its version 2", st, raw)
    assert datetime.now(MSK).date() == days.T, "the bookings straddled Moscow midnight"

    # Until the relay has put every stored version on its topic (each message is
    # checked against its schema as it is read).
    def relayed():
        for topic, ids in expected_ids.items():
            have = {json.loads(m["payload"])["id"] for m in stack.reader(topic).read()
                    if m["payload"] is not None}
            if not ids <= have:
                return False
        return True
    wait_until(relayed, 60, "the reminders relay to produce every patient and appointment",
               interval=0.3)

    # 2. What the other services would produce, directly. A8's version 1 lands on
    # appointments.v1 after its version 2 (one key, one partition).
    after_puts = datetime.now(timezone.utc)
    assert after_puts.astimezone(MSK).date() == days.T
    produce_many(stack.broker.bootstrap, APPTS, [a8_v1_event(a8_v1, days.at("D1", "09:00"))])
    call_events, calls = the_calls(days)
    produce_many(stack.broker.bootstrap, CALLS, call_events)
    task_events, tasks = the_tasks(days, calls, after_puts)
    produce_many(stack.broker.bootstrap, TASKS, task_events)
    produce_many(stack.broker.bootstrap, LEADS, the_leads(days))
    outcomes = the_outcomes(days)
    # R8: x1 joins the re-invite campaign for the missed A3 now, after every appointment
    # of x1 was stored (as the reminders service emits it with the no_show's change)
    outcomes.append(member("r8", "reinvite", "bz-x1", C, "target", after_puts, "bz-a3",
                           days.at("D6", "12:00")))
    produce_keyed(stack.broker.bootstrap, OUTCOMES, outcomes)

    # 3. Spend.
    def put_spend(body):
        st, raw = stack.ingest("PUT", "/v1/spend", json.dumps(body), "application/json")
        assert (st, json.loads(raw)) == (200, {"stored": 1}), (body, st, raw)
    yandex = {"source": "yandex_direct", "medium": "cpc", "campaign": "implants-2026",
              "currency": "RUB"}
    put_spend(dict(yandex, day=days.s("D1"), amount=2500))
    put_spend(dict(yandex, day=days.s("D1"), amount=3000))  # the same key: replaces 2500
    put_spend(dict(yandex, day=days.s("D2"), amount=2000))
    put_spend({"day": days.s("D2"), "source": "prodoctorov", "medium": "aggregator",
               "clinic": N, "amount": 1200, "currency": "RUB"})
    put_spend({"day": days.s("D7"), "source": "google", "medium": "cpc", "amount": 500,
               "currency": "RUB"})
    # spend in another currency than the network's (RUB) is refused and
    # stored nowhere: the reports below would add the 700 dollars to roubles
    # (a file's line too, one a later line of its key would replace)
    for path, body, ctype, field in (
            ("/v1/spend", json.dumps({"day": days.s("D7"), "source": "facebook",
                                      "amount": 700, "currency": "USD"}), "application/json",
             "currency"),
            ("/v1/spend.csv", "source,day,amount,currency\r\nfacebook,%s,700,RUB\r\n"
             "facebook,%s,700,USD\r\n" % (days.s("D6"), days.s("D7")), "text/csv",
             "line 3: currency"),
            ("/v1/spend.csv", "source,day,amount,currency\r\nfacebook,%s,700,USD\r\n"
             "facebook,%s,700,RUB\r\n" % (days.s("D6"), days.s("D6")), "text/csv",
             "line 2: currency")):
        st, raw = stack.ingest("PUT" if path == "/v1/spend" else "POST", path, body, ctype)
        err = json.loads(raw)["error"]
        assert st == 400 and err["code"] == "invalid_field" and err["field"] == field, (
            path, st, raw)
        assert "RUB" in err["message"], err
    # a file with a column misspelt (the records' clinic_id for clinic), or a
    # quote inside a quoted value not doubled, is refused whole: read as not
    # given, the clinic's spend would be stored as the network's
    for body, field in (
            ("day,source,amount,currency,clinic_id\r\n%s,facebook,1000,RUB,%s\r\n"
             % (days.s("D6"), N), "line 1: clinic_id"),
            ('day,source,campaign,amount,currency\r\n%s,facebook,"spring" sale,1000,RUB\r\n'
             % days.s("D6"), "line 2: campaign")):
        st, raw = stack.ingest("POST", "/v1/spend.csv", body, "text/csv")
        err = json.loads(raw)["error"]
        assert st == 400 and err["code"] == "invalid_field" and err["field"] == field, (st, raw)
    # columns in another order; the third line has the first's key and replaces it
    csv_body = ("source,day,amount,currency,clinic,medium\r\n"
                "google,%s,400,RUB,demo-center,cpc\r\n"
                "prodoctorov,%s,900,RUB,,aggregator\r\n"
                "google,%s,450,RUB,demo-center,cpc\r\n" % (days.s("D3"), days.s("D5"),
                                                           days.s("D3")))
    st, raw = stack.ingest("POST", "/v1/spend.csv", csv_body, "text/csv")
    assert (st, json.loads(raw)) == (200, {"stored": 2}), ("POST /v1/spend.csv", st, raw)

    # 4. Until analytics has consumed everything.
    stack.wait_consumed()
    # reminders.outcomes.v1 holds exactly what this test produced (the reminders
    # service added nothing of its own), appointments.v1 the relay's 22 versions and
    # A8's version 1.
    assert len(stack.reader(OUTCOMES).read()) == len(outcomes), "reminders.outcomes.v1"
    assert len(stack.reader(APPTS).read()) == len(puts) + 1, "appointments.v1"
    return days, tasks
