"""The leads report end to end, every figure computed by hand: the real
clinicflow-leads takes fifteen leads through its public hooks (the generic
form with UTM tags, Telegram updates of two channels), responses and
outcomes through POST /v1/leads/{id}/events, and its patients view from
clinicflow.patients.v1; it folds them into lead.* events on
clinicflow.leads.v1 (merges, first responses with their working seconds,
outcomes, SLA breaches). clinicflow-analytics, on the same database, Redis
and devbroker, consumes leads.v1 (group clinicflow-analytics-leads);
GET /v1/reports/leads must then answer exactly the figures below
(proto/README.md, "Analytics reports", "### Leads"), in JSON and in CSV.

How the times are made certain (services/leads/README.md):
- A Telegram request is received at its message's `date`, which the test
  chooses: those leads are dated on the two local days before today
  (D1, D2). A form is received when the service takes it (now, day T):
  its response is posted at its received_at (read from lead.received)
  plus a whole number of seconds, in a clinic whose working hours are the
  whole day, so its working and wall seconds are exactly that number.
- A response or outcome naming a lead not stored yet waits in
  leads.pending_facts, and the request that opens the lead applies it in
  its own transaction. The Telegram leads' responses are posted (and
  folded) before their requests: the fold's record holds the response
  when the lead opens, so whether the SLA sweeper breaches a lead depends
  only on the response's time against the due time, never on timing.
  Outcomes of leads that merge later requests are posted after those
  requests (an outcome closes the lead; a later request would open a new
  one).
- Every working_seconds and response_seconds below is computed by hand
  from the clinic's hours; the test also checks that the leads service's
  lead.responded events say the same (a difference there is the leads
  service's or this test's, not analytics').

The network is in Europe/Moscow (UTC+3, no daylight saving); local days
are Moscow days.
"""
import csv
import io
import json
import math
import random
import subprocess
import time
import urllib.parse
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cfstack
import contract
from common import csv_cell_matches, same_number

NET = "demo"
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md "Ids"
MSK = ZoneInfo("Europe/Moscow")
RAW = "clinicflow.leads.raw.v1"
LEADS = "clinicflow.leads.v1"
PATIENTS = "clinicflow.patients.v1"
GROUP = "clinicflow-analytics-leads"

FORM = "lr-form"                      # generic form channel, clinic demo-north
FORM_TOKEN = "lr-form-token-0001"
TG_CENTER = "demo-telegram"           # the demo network's Telegram channel, demo-center
TG_CENTER_SECRET = "demo-telegram-secret-0001"
TG_NORTH = "lr-telegram-north"        # a Telegram channel of demo-north
TG_NORTH_SECRET = "lr-telegram-north-secret-01"

ALL_DAY = ["00:00-24:00"]
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

LEADS_ENV = {
    "CLINICFLOW_LEADS_SWEEP_INTERVAL_MS": 200,
    # every form of this test comes from 127.0.0.1; the shared Redis counts
    # other tests' posts too
    "CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE": 0,
    "CLINICFLOW_LEADS_FORM_PER_CONTACT_PER_HOUR": 0,
}

# The report's fields, in the contract's order (proto/README.md "### Leads").
FIELDS = ["leads", "merged", "responded", "unanswered", "first_response_median_working_s",
          "first_response_p90_working_s", "first_response_median_s",
          "responded_within_10_min_share", "sla_breaches", "booked", "lost", "spam",
          "existing_patient_share"]
COUNTS = {"leads", "merged", "responded", "unanswered", "sla_breaches", "booked", "lost",
          "spam"}


def network():
    """The demo network with this test's clinic rules and channels:
    - demo-center: open 09:00-18:00 every day, no holidays; leads due in
      300 working seconds (shortened from 600); merge window 1 hour;
    - demo-north: open all day every day (working time = wall clock), due
      in 600 s, the default merge window (24 h);
    - demo-south: open all day, due in 2 s: a short SLA that an
      unanswered form lead breaches while the test runs."""
    doc = cfstack.demo_network()
    clinics = {c["id"]: c for c in doc["clinics"]}
    center, north, south = clinics["demo-center"], clinics["demo-north"], clinics["demo-south"]
    center["working_hours"] = {d: ["09:00-18:00"] for d in WEEK}
    center["holidays"] = []
    center["lead_response_due_s"] = 300
    center["lead_merge_window_s"] = 3600
    north["working_hours"] = {d: ALL_DAY for d in WEEK}
    north["holidays"] = []
    north["lead_response_due_s"] = 600
    north.pop("lead_merge_window_s", None)
    south["working_hours"] = {d: ALL_DAY for d in WEEK}
    south["holidays"] = []
    south["lead_response_due_s"] = 2
    doc["channels"] += [
        {"id": FORM, "kind": "form", "provider": "generic", "clinic_id": "demo-north",
         "credentials": {"token": FORM_TOKEN}},
        {"id": TG_NORTH, "kind": "messenger", "provider": "telegram",
         "clinic_id": "demo-north", "credentials": {"secret_token": TG_NORTH_SECRET}},
    ]
    return doc


# --- ids, times ------------------------------------------------------------------

def uuid5(*parts):
    return str(uuid.uuid5(NS, "\x1f".join(parts)))


def lead_of_fact(fact_id):
    """A lead's id: uuid5(network, "lead", the id of the request that opened it)."""
    return uuid5(NET, "lead", fact_id)


def tg_fact(channel, update_id):
    return uuid5(NET, "telegram", channel, str(update_id))


def form_fact(event_id):
    return uuid5(NET, "generic", FORM, event_id)


def iso(dt):
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def local(day, hms):
    """day (a date) at hh:mm:ss in Moscow."""
    h, m, s = (int(x) for x in hms.split(":"))
    return datetime(day.year, day.month, day.day, h, m, s, tzinfo=MSK)


# --- the leads ----------------------------------------------------------------------
#
# D1 = the day before yesterday, D2 = yesterday, T = today (Moscow).
# demo-center: open 09:00-18:00, due 300 working s, merge window 3600 s.
# demo-north, demo-south: open all day (working = wall), due 600 s / 2 s.
#
#  lead clinic channel  received       who   merged  first response   working   wall breach outcome
#  L1   center telegram D1 10:00:00    U101  +2 (*)  D1 10:04:00          240    240 no     booked
#  L2   center telegram D1 17:50:00    U102  -       D2 09:10:00 (a)     1200  55200 yes    lost (2)
#  L3   center telegram D1 20:30:00    U103  -       D2 09:03:00 (b)      180  45180 no     -
#  L4   center telegram D2 12:00:00    U104  -       never                  -      - yes    -
#  L5   center telegram D2 14:00:00    U105  -       D2 14:08:00 (c)      480    480 yes    spam
#  L6   center telegram D2 13:30:00    U104  - (**)  D2 13:32:00          120    120 no     -
#  L7   north  telegram D1 23:55:00    U201  -       D2 00:04:00 (d)      540    540 no     -
#  L8   north  telegram D2 08:00:00    U202  +1 (+)  never                  -      - yes    lost (1)
#  L9   north  generic  T now (R9)     P1    -       R9 + 30 s             30     30 no     booked
#  L10  north  generic  T now (R10)    P2    +1 (++) R10 + 150 s          150    150 no     -
#  L11  north  generic  T now (R11)    P3    -       R11 + 270 s          270    270 no     -
#  L12  north  generic  T now          P4    -       never                  -      - no     -
#  L13  center generic  T now          P5    -       never                  -      - no (e) -
#  L14  south  generic  T now          P6    -       never                  -      - yes (f) -
#  L15  north  telegram T now (whole s) U203 -       received + 60 s       60     60 no     -
#
# (*)    U101 writes again at D1 10:20 (20 min after 10:00) and 11:00 (40 min after
#        10:20): both within demo-center's hour, merged: messages 3.
# (**)   U104 writes again at D2 13:30, 90 min after L4's only request: past the
#        hour, so a new lead, L6 (L4 stays open).
# (+)    U202 again at D2 08:30: merged (24 h window): messages 2.
# (++)   P2 posts the form twice (the second with utm_source=google): merged,
#        messages 2; the lead keeps the tags it arrived with (yandex).
# (a)    working: D1 17:50-18:00 = 600 + D2 09:00-09:10 = 600 -> 1200;
#        wall: D1 17:50 -> 24:00 = 6h10m = 22200, + 9h10m = 33000 -> 55200.
#        Due 300 working s after 17:50 = D1 17:55: answered later, breached.
# (b)    received after closing: working D2 09:00-09:03 = 180; wall 3h30m = 12600
#        + 9h03m = 32580 -> 45180. Due D2 09:05: answered in time.
# (c)    due 14:05; answered 14:08: breached, yet 480 <= 600 working s.
# (d)    D1 23:55 -> D2 00:04 = 300 + 240 = 540 s (all-day hours); due 00:05.
#        Counted on D1, the day it arrived.
# (e)    due 300 working s after it arrived: later than this test lasts.
# (f)    due 2 s after it arrived: the sweeper breaches it while the test runs.
# (1)    lost with reason no_answer.  (2) lost with reason price.
#
# Tags (form fields): L9 yandex/cpc/implants, L10 yandex/cpc/implants (then
# google, merged), L11 google/cpc, L14 yandex; the others have none (source null).
# Patients (clinicflow.patients.v1): P3 last visited 30 days ago -> L11 `repeat`;
# P4 400 days ago (over 183) -> L12 `lapsed`; everybody else `new`.

# name: (clinic, provider, day, source, medium, campaign, patient_class,
#        messages, working_s, wall_s, breached, status)
TABLE = {
    "L1": ("demo-center", "telegram", "D1", None, None, None, "new", 3, 240, 240, False,
           "booked"),
    "L2": ("demo-center", "telegram", "D1", None, None, None, "new", 1, 1200, 55200, True,
           "lost"),
    "L3": ("demo-center", "telegram", "D1", None, None, None, "new", 1, 180, 45180, False,
           "open"),
    "L4": ("demo-center", "telegram", "D2", None, None, None, "new", 1, None, None, True,
           "open"),
    "L5": ("demo-center", "telegram", "D2", None, None, None, "new", 1, 480, 480, True, "spam"),
    "L6": ("demo-center", "telegram", "D2", None, None, None, "new", 1, 120, 120, False,
           "open"),
    "L7": ("demo-north", "telegram", "D1", None, None, None, "new", 1, 540, 540, False, "open"),
    "L8": ("demo-north", "telegram", "D2", None, None, None, "new", 2, None, None, True,
           "lost"),
    "L9": ("demo-north", "generic", "T", "yandex", "cpc", "implants", "new", 1, 30, 30, False,
           "booked"),
    "L10": ("demo-north", "generic", "T", "yandex", "cpc", "implants", "new", 2, 150, 150,
            False, "open"),
    "L11": ("demo-north", "generic", "T", "google", "cpc", None, "repeat", 1, 270, 270, False,
            "open"),
    "L12": ("demo-north", "generic", "T", None, None, None, "lapsed", 1, None, None, False,
            "open"),
    "L13": ("demo-center", "generic", "T", None, None, None, "new", 1, None, None, False,
            "open"),
    "L14": ("demo-south", "generic", "T", "yandex", None, None, "new", 1, None, None, True,
            "open"),
    "L15": ("demo-north", "telegram", "T", None, None, None, "new", 1, 60, 60, False, "open"),
}


# --- the expected figures, by hand --------------------------------------------------
#
# percentile_cont(q) over n sorted values v[0..n-1]: position q*(n-1), linear
# between the two neighbours. Shares are over ALL the selection's leads.

def F(leads, merged, responded, med_w, p90_w, med_s, within, breaches, booked, lost, spam,
      existing):
    """A row's figures. within and existing: the numerators of the two
    shares (over leads; null when leads is 0); unanswered = leads - responded."""
    return {"leads": leads, "merged": merged, "responded": responded,
            "unanswered": leads - responded, "first_response_median_working_s": med_w,
            "first_response_p90_working_s": p90_w, "first_response_median_s": med_s,
            "responded_within_10_min_share": within / leads if leads else None,
            "sla_breaches": breaches, "booked": booked, "lost": lost, "spam": spam,
            "existing_patient_share": existing / leads if leads else None}


# All 15: merged 2 (L1) + 1 (L8) + 1 (L10) = 4. Answered: L1 L2 L3 L5 L6 L7 L9 L10 L11
# L15 = 10, unanswered L4 L8 L12 L13 L14 = 5.
# working sorted: 30 60 120 150 180 240 270 480 540 1200: median at 4.5 = (180+240)/2 = 210;
#   p90 at 8.1 = 540 + 0.1*(1200-540) = 606.
# wall sorted: 30 60 120 150 240 270 480 540 45180 55200: median at 4.5 = (240+270)/2 = 255.
# within 600 working s: all answered but L2 = 9 (of 15). Breaches L2 L4 L5 L8 L14 = 5.
# booked L1 L9, lost L2 L8, spam L5. Existing patients L11 (repeat), L12 (lapsed) = 2.
TOTAL = F(15, 4, 10, 210, 606, 255, 9, 5, 2, 2, 1, 2)

# channel telegram: L1-L8, L15 = 9; merged 2+1 = 3; answered L1 L2 L3 L5 L6 L7 L15 = 7.
#   working sorted 60 120 180 240 480 540 1200: median v[3] = 240; p90 at 5.4 =
#   540 + 0.4*660 = 804. wall sorted 60 120 240 480 540 45180 55200: median v[3] = 480.
#   within: L1 L3 L5 L6 L7 L15 = 6; breaches L2 L4 L5 L8 = 4; booked L1, lost L2 L8, spam L5;
#   existing 0.
TELEGRAM = F(9, 3, 7, 240, 804, 480, 6, 4, 1, 2, 1, 0)
# channel generic: L9-L14 = 6; merged 1 (L10); answered L9 L10 L11 = 3 (30 150 270):
#   median 150; p90 at 1.8 = 150 + 0.8*120 = 246; wall the same, median 150; within 3;
#   breach L14 = 1; booked L9; existing L11 L12 = 2.
GENERIC = F(6, 1, 3, 150, 246, 150, 3, 1, 1, 0, 0, 2)
# 9 + 6 = 15 leads, 3 + 1 = 4 merged, 4 + 1 = 5 breaches.

# day D1: L1 L2 L3 L7 = 4; merged 2; all answered: working 180 240 540 1200: median at 1.5 =
#   (240+540)/2 = 390; p90 at 2.7 = 540 + 0.7*660 = 1002; wall 240 540 45180 55200: median
#   (540+45180)/2 = 22860; within L1 L3 L7 = 3; breach L2; booked L1; lost L2.
DAY1 = F(4, 2, 4, 390, 1002, 22860, 3, 1, 1, 1, 0, 0)
# day D2: L4 L5 L6 L8 = 4; merged 1 (L8); answered L5 L6 (480 120): median (120+480)/2 = 300;
#   p90 at 0.9 = 120 + 0.9*360 = 444; wall the same, median 300; within L5 L6 = 2;
#   breaches L4 L5 L8 = 3; lost L8; spam L5.
DAY2 = F(4, 1, 2, 300, 444, 300, 2, 3, 0, 1, 1, 0)
# day T: L9-L15 = 7; merged 1 (L10); answered L9 L10 L11 L15: 30 60 150 270: median at 1.5 =
#   (60+150)/2 = 105; p90 at 2.7 = 150 + 0.7*120 = 234; wall the same; within 4; breach L14;
#   booked L9; existing L11 L12 = 2.
DAYT = F(7, 1, 4, 105, 234, 105, 4, 1, 1, 0, 0, 2)
# 4 + 4 + 7 = 15, merged 2 + 1 + 1 = 4, breaches 1 + 3 + 1 = 5.

# group_by=source: yandex L9 L10 L14 = 3; merged 1; answered L9 L10 (30 150): median 90;
#   p90 at 0.9 = 30 + 0.9*120 = 138; wall median 90; within 2; breach L14; booked L9.
YANDEX = F(3, 1, 2, 90, 138, 90, 2, 1, 1, 0, 0, 0)
# google: L11 alone: 270 everywhere; within 1; existing (repeat) 1 of 1.
GOOGLE = F(1, 0, 1, 270, 270, 270, 1, 0, 0, 0, 0, 1)
# no source: L1-L8, L12, L13, L15 = 11; merged 2 + 1 = 3; answered L1 L2 L3 L5 L6 L7 L15 = 7
#   (the telegram set: median 240, p90 804, wall median 480); within 6; breaches L2 L4 L5 L8
#   = 4; booked L1; lost L2 L8; spam L5; existing L12 = 1.
NO_SOURCE = F(11, 3, 7, 240, 804, 480, 6, 4, 1, 2, 1, 1)
# 3 + 1 + 11 = 15.

# source=yandex, group_by=clinic: demo-north L9 L10 (2): merged 1; answered both: median 90,
#   p90 138; within 2 of 2; no breach; booked L9. demo-south L14 (1): unanswered: the
#   percentiles null, within 0 of 1 = 0; breach 1.
YANDEX_NORTH = F(2, 1, 2, 90, 138, 90, 2, 0, 1, 0, 0, 0)
YANDEX_SOUTH = F(1, 0, 0, None, None, None, 0, 1, 0, 0, 0, 0)

# clinic=demo-north: L7 L8 L9 L10 L11 L12 L15 = 7; merged L8 1 + L10 1 = 2; answered L7 L9
#   L10 L11 L15: 30 60 150 270 540: median 150; p90 at 3.6 = 270 + 0.6*270 = 432; wall the
#   same; within 5; breach L8; booked L9; lost L8; existing L11 L12 = 2.
NORTH = F(7, 2, 5, 150, 432, 150, 5, 1, 1, 1, 0, 2)
#   by day: D1 L7 (540); D2 L8 (merged 1, unanswered, breached, lost: within 0 of 1);
#   T: L9 L10 L11 L12 L15 = 5: merged 1; answered 30 60 150 270: median 105, p90 234;
#   within 4; booked L9; existing 2 of 5.
NORTH_D1 = F(1, 0, 1, 540, 540, 540, 1, 0, 0, 0, 0, 0)
NORTH_D2 = F(1, 1, 0, None, None, None, 0, 1, 0, 1, 0, 0)
NORTH_T = F(5, 1, 4, 105, 234, 105, 4, 0, 1, 0, 0, 2)

# clinic=demo-center and demo-south: L1-L6, L13, L14 = 8; merged 2; answered L1 L2 L3 L5 L6:
#   120 180 240 480 1200: median 240; p90 at 3.6 = 480 + 0.6*720 = 912; wall 120 240 480
#   45180 55200: median 480; within L1 L3 L5 L6 = 4; breaches L2 L4 L5 L14 = 4; booked L1;
#   lost L2; spam L5. (7 north + 8 = 15.)
CENTER_SOUTH = F(8, 2, 5, 240, 912, 480, 4, 4, 1, 1, 1, 0)
#   by clinic: demo-center L1-L6, L13 = 7: the same answered set; within 4 of 7; breaches
#   L2 L4 L5 = 3. demo-south: L14 alone, as above.
CENTER = F(7, 2, 5, 240, 912, 480, 4, 3, 1, 1, 1, 0)
SOUTH = F(1, 0, 0, None, None, None, 0, 1, 0, 0, 0, 0)


def percentile_cont(values, q):
    if not values:
        return None
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def model(pick):
    """The figures of the leads of TABLE that pick(row) keeps, by the
    contract's definitions: a cross-check of the hand arithmetic above."""
    rows = [r for r in TABLE.values() if pick(r)]
    answered = [r for r in rows if r[8] is not None]
    work = [r[8] for r in answered]
    wall = [r[9] for r in answered]
    return F(len(rows), sum(r[7] - 1 for r in rows), len(answered),
             percentile_cont(work, 0.5), percentile_cont(work, 0.9), percentile_cont(wall, 0.5),
             sum(1 for w in work if w <= 600), sum(1 for r in rows if r[10]),
             sum(1 for r in rows if r[11] == "booked"), sum(1 for r in rows if r[11] == "lost"),
             sum(1 for r in rows if r[11] == "spam"),
             sum(1 for r in rows if r[6] in ("repeat", "lapsed")))


def check_hand_figures():
    """The hand-written figures agree with the table they were computed from."""
    c = lambda clinic: lambda r: r[0] == clinic  # noqa: E731
    cases = {
        "TOTAL": (TOTAL, lambda r: True),
        "TELEGRAM": (TELEGRAM, lambda r: r[1] == "telegram"),
        "GENERIC": (GENERIC, lambda r: r[1] == "generic"),
        "DAY1": (DAY1, lambda r: r[2] == "D1"),
        "DAY2": (DAY2, lambda r: r[2] == "D2"),
        "DAYT": (DAYT, lambda r: r[2] == "T"),
        "YANDEX": (YANDEX, lambda r: r[3] == "yandex"),
        "GOOGLE": (GOOGLE, lambda r: r[3] == "google"),
        "NO_SOURCE": (NO_SOURCE, lambda r: r[3] is None),
        "YANDEX_NORTH": (YANDEX_NORTH, lambda r: r[3] == "yandex" and r[0] == "demo-north"),
        "YANDEX_SOUTH": (YANDEX_SOUTH, lambda r: r[3] == "yandex" and r[0] == "demo-south"),
        "NORTH": (NORTH, c("demo-north")),
        "NORTH_D1": (NORTH_D1, lambda r: r[0] == "demo-north" and r[2] == "D1"),
        "NORTH_D2": (NORTH_D2, lambda r: r[0] == "demo-north" and r[2] == "D2"),
        "NORTH_T": (NORTH_T, lambda r: r[0] == "demo-north" and r[2] == "T"),
        "CENTER_SOUTH": (CENTER_SOUTH, lambda r: r[0] in ("demo-center", "demo-south")),
        "CENTER": (CENTER, c("demo-center")),
        "SOUTH": (SOUTH, c("demo-south")),
    }
    for name, (hand, pick) in cases.items():
        m = model(pick)
        for f in FIELDS:
            assert same_number(hand[f], m[f]), "hand figure %s.%s = %r, the table gives %r" % (
                name, f, hand[f], m[f])


# --- comparing --------------------------------------------------------------------

def figure_errors(got, want, groups):
    """What differs between a report row (or totals) and want: the exact
    set of members (the group columns and the fields), integer counts,
    numbers within rounding, null where want is None."""
    if not isinstance(got, dict):
        return ["not an object: %r" % (got,)]
    errs = []
    keys = set(FIELDS) | set(groups)
    if set(got) != keys:
        errs.append("members %s, expected %s" % (sorted(got), sorted(keys)))
    for f in FIELDS:
        if f not in got:
            continue
        g, w = got[f], want[f]
        ok = (type(g) is int and g == w) if f in COUNTS else same_number(g, w)
        if not ok:
            errs.append("%s: got %r, expected %r" % (f, g, w))
    return errs


# --- the stack --------------------------------------------------------------------

class Stack(cfstack.ServiceStack):
    """A fresh database with the demo network (this test's version of it)
    and keys, a devbroker of its own, clinicflow-leads and
    clinicflow-analytics."""

    def __init__(self):
        super().__init__()
        cfstack.apply_network(self.dsn, network())
        self.broker = cfstack.Devbroker()
        self.names = {}  # lead id -> L-name (for messages)
        self.leads_svc = self.start_one("leads", LEADS_ENV)
        self.analytics = self.start_one("analytics", {})

    def start_one(self, name, extra):
        svc = cfstack.Service(name, self.env_for(**{k: str(v) for k, v in extra.items()}))
        svc.start(timeout=60)
        self.services.append(svc)
        return svc

    def sql(self, query):
        return cfstack.psql(self.dsn, query)

    # -- posting to clinicflow-leads --

    def telegram(self, channel, secret, update_id, user_id, name, at, text):
        """A Telegram update: a private text message sent at `at`."""
        person = {"id": user_id, "is_bot": False, "first_name": name}
        body = {"update_id": update_id,
                "message": {"message_id": update_id % 100000, "from": person,
                            "chat": {"id": user_id, "type": "private", "first_name": name},
                            "date": int(at.timestamp()), "text": text}}
        st, _, reply = cfstack.http(
            "POST", self.leads_svc.url("/v1/hooks/leads/telegram/" + channel),
            json.dumps(body, ensure_ascii=False).encode(),
            {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret})
        assert (st, reply) == (200, b""), ("telegram", channel, update_id, st, reply)

    def form(self, event_id, fields):
        """A generic form post (JSON, the channel's token as a Bearer)."""
        body = dict(fields, event_id=event_id)
        st, _, reply = cfstack.http(
            "POST", self.leads_svc.url("/v1/hooks/leads/generic/" + FORM),
            json.dumps(body, ensure_ascii=False).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + FORM_TOKEN})
        assert st == 202, ("form", event_id, st, reply)
        got = json.loads(reply)
        assert got.get("lead_event_id") == form_fact(event_id), got

    def event(self, lead_id, body):
        """POST /v1/leads/{id}/events with the ingest key."""
        body = dict(body, event_id="lr-%s-%s" % (body["type"], uuid.uuid4().hex[:12]))
        st, _, reply = cfstack.http(
            "POST", self.leads_svc.url("/v1/leads/%s/events" % lead_id),
            json.dumps(body).encode(),
            {"Content-Type": "application/json",
             "Authorization": "Bearer " + self.keys["ingest"]})
        assert st == 202, ("event", self.names.get(lead_id), body, st, reply)
        assert json.loads(reply)["lead_id"] == lead_id, reply

    # -- topics and progress --

    def ends(self, topic, validate):
        """{partition: end offset} of topic's partitions that hold messages,
        and the messages (read with TopicReader)."""
        msgs = cfstack.TopicReader(self.broker.bootstrap, topic, validate=validate).read()
        ends = {}
        for m in msgs:
            ends[m["partition"]] = max(ends.get(m["partition"], 0), m["offset"] + 1)
        return ends, msgs

    def offsets(self, schema, group, topic):
        return dict((int(p), int(o)) for p, o in self.sql(
            "SELECT partition, next_offset FROM %s.consumer_offsets"
            " WHERE group_id = '%s' AND topic = '%s'" % (schema, group, topic)))

    def wait_folded(self, timeout=60):
        """Until the leads fold has committed every fact now on leads.raw."""
        ends, _ = self.ends(RAW, validate=False)

        def reached():
            got = self.offsets("leads", "clinicflow-leads-fold", RAW)
            return all(got.get(p, 0) >= e for p, e in ends.items())

        cfstack.wait_until(reached, timeout, "the leads fold to reach %s of leads.raw" % ends,
                           interval=0.2)

    def lead_events(self):
        """{lead id: [envelopes in offset order]} of leads.v1 (each message
        checked against its schema)."""
        out = {}
        for m in cfstack.TopicReader(self.broker.bootstrap, LEADS).read():
            ev = json.loads(m["payload"])
            out.setdefault(ev["subject"], []).append(ev)
        return out

    def wait_analytics(self, timeout=60):
        """Until clinicflow-analytics' group has committed, in
        analytics.consumer_offsets, every message now on leads.v1.
        Returns how many messages that is."""
        ends, msgs = self.ends(LEADS, validate=True)

        def reached():
            got = self.offsets("analytics", GROUP, LEADS)
            return all(got.get(p, 0) >= e for p, e in ends.items())

        cfstack.wait_until(reached, timeout, "%s to reach %s of leads.v1" % (GROUP, ends),
                           interval=0.2)
        return len(msgs)

    # -- the report --

    def report_raw(self, report, params, key=None, headers=None):
        """GET /v1/reports/{report}?params (pairs); key None: the read key,
        "": no Authorization at all."""
        hdrs = dict(headers or {})
        key = self.keys["read"] if key is None else key
        if key:
            hdrs["Authorization"] = "Bearer " + key
        url = self.analytics.url("/v1/reports/%s?%s" % (report, urllib.parse.urlencode(params)))
        return cfstack.http("GET", url, headers=hdrs)

    def analytics_rows(self):
        """analytics.leads as text, each row named L1..L15, for failure
        messages."""
        rows = self.sql("SELECT lead_id, clinic_id, provider, hour, source, medium, campaign,"
                        " patient_class, messages, status, responded_at, working_seconds,"
                        " response_seconds, sla_breached FROM analytics.leads ORDER BY hour")
        cols = ["clinic", "provider", "hour", "source", "medium", "campaign", "class",
                "messages", "status", "responded_at", "working_s", "wall_s", "breached"]
        return "\n".join("  %s %s" % (self.names.get(r[0], r[0]), dict(zip(cols, r[1:])))
                         for r in rows)


# --- the scenario ---------------------------------------------------------------------

def avoid_midnight():
    """Form leads are received now and must share one Moscow day with
    L15: started less than two minutes before Moscow midnight, wait for
    the new day first."""
    def clear():
        now = datetime.now(MSK)
        to_midnight = (24 * 3600) - (now.hour * 3600 + now.minute * 60 + now.second)
        return to_midnight > 120
    cfstack.wait_until(clear, 180, "Moscow midnight to pass", interval=1)


def test_leads_report(stack):
    check_hand_figures()
    avoid_midnight()

    today = datetime.now(MSK).date()
    d1, d2 = today - timedelta(days=2), today - timedelta(days=1)
    days = {"D1": d1.isoformat(), "D2": d2.isoformat(), "T": today.isoformat()}
    rnd = random.Random()
    phones = ["+7916%07d" % n for n in rnd.sample(range(10 ** 7), 6)]
    P1, P2, P3, P4, P5, P6 = phones
    base_user = rnd.randrange(5 * 10 ** 9, 6 * 10 ** 9)
    U = {n: base_user + n for n in (101, 102, 103, 104, 105, 201, 202, 203)}
    next_update = [rnd.randrange(10 ** 8, 9 * 10 ** 8)]

    # Every Telegram message of the scenario: (lead it opens or None, channel, user, time).
    now_s = datetime.fromtimestamp(int(time.time()), MSK)  # L15's message, a whole second
    messages = [
        ("L1", TG_CENTER, U[101], local(d1, "10:00:00")),
        (None, TG_CENTER, U[101], local(d1, "10:20:00")),   # merged into L1
        (None, TG_CENTER, U[101], local(d1, "11:00:00")),   # merged into L1
        ("L2", TG_CENTER, U[102], local(d1, "17:50:00")),
        ("L3", TG_CENTER, U[103], local(d1, "20:30:00")),
        ("L4", TG_CENTER, U[104], local(d2, "12:00:00")),
        ("L6", TG_CENTER, U[104], local(d2, "13:30:00")),   # after the window: a new lead
        ("L5", TG_CENTER, U[105], local(d2, "14:00:00")),
        ("L7", TG_NORTH, U[201], local(d1, "23:55:00")),
        ("L8", TG_NORTH, U[202], local(d2, "08:00:00")),
        (None, TG_NORTH, U[202], local(d2, "08:30:00")),    # merged into L8
        ("L15", TG_NORTH, U[203], now_s),
    ]
    ids = {}
    tg = []
    for name, channel, user, at in messages:
        next_update[0] += 1
        if name:
            ids[name] = lead_of_fact(tg_fact(channel, next_update[0]))
        tg.append((channel, next_update[0], user, at))
    form_events = {n: "lr-%s-%s" % (n, uuid.uuid4().hex[:10])
                   for n in ("L9", "L10", "L10b", "L11", "L12", "L13", "L14")}
    for n in ("L9", "L10", "L11", "L12", "L13", "L14"):
        ids[n] = lead_of_fact(form_fact(form_events[n]))
    stack.names = {v: k for k, v in ids.items()}

    # 1. The patients view: P3 seen 30 days ago (repeat), P4 400 days ago (lapsed).
    for phone, ago in ((P3, 30), (P4, 400)):
        pid = str(uuid.uuid4())
        ev = {"specversion": "1.0", "id": str(uuid.uuid4()),
              "source": "/clinicflow/reminders/mis/api", "type": "clinicflow.patient.upserted",
              "subject": pid, "time": iso(datetime.now(timezone.utc)),
              "datacontenttype": "application/json", "networkid": NET,
              "clinicid": "demo-north",
              "data": {"patient_id": pid, "version": 1, "clinic_id": "demo-north",
                       "phones": [phone], "contact_keys": [cfstack.contact_key(phone)],
                       "last_visit_at": iso(datetime.now(timezone.utc) - timedelta(days=ago)),
                       "consents": {"calls": True, "sms": True, "messengers": False,
                                    "marketing": False}}}
        value = json.dumps(ev)
        contract.validate_message(PATIENTS, pid, value)
        cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, value.encode())
    keys = ", ".join("'%s'" % cfstack.contact_key(p) for p in (P3, P4))
    cfstack.wait_until(lambda: stack.sql(
        "SELECT count(*) FROM leads.patient_contacts WHERE contact_key IN (%s)" % keys)
        == [["2"]], 60, "both patients in the leads service's patients view")

    # 2. The Telegram leads' responses, before their requests: each waits in
    # pending_facts until its lead opens, and is applied in that transaction.
    responses = {
        "L1": local(d1, "10:04:00"),
        "L2": local(d2, "09:10:00"),
        "L3": local(d2, "09:03:00"),
        "L5": local(d2, "14:08:00"),
        "L6": local(d2, "13:32:00"),
        "L7": local(d2, "00:04:00"),
        "L15": now_s + timedelta(seconds=60),
    }
    for name, at in responses.items():
        stack.event(ids[name], {"type": "responded", "time": iso(at), "staff_id": "op-" + name,
                                "channel": "telegram"})
    stack.wait_folded()
    pending = stack.sql("SELECT lead_id FROM leads.pending_facts")
    assert sorted(r[0] for r in pending) == sorted(ids[n] for n in responses), (
        "pending facts", pending)

    # 3. The requests: Telegram messages in time order per person, then the forms.
    for channel, update_id, user, at in tg:
        secret = TG_CENTER_SECRET if channel == TG_CENTER else TG_NORTH_SECRET
        stack.telegram(channel, secret, update_id, user, "U%d" % (user - base_user), at,
                       "Здравствуйте, хочу записаться")
    yandex = {"utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "implants"}
    stack.form(form_events["L9"], dict(yandex, name="P1", phone=P1, comment="имплант"))
    stack.form(form_events["L10"], dict(yandex, name="P2", phone=P2, comment="коронка"))
    stack.form(form_events["L10b"], {"name": "P2", "phone": P2, "comment": "и ещё вопрос",
                                     "utm_source": "google", "utm_medium": "cpc"})
    stack.form(form_events["L11"], {"name": "P3", "phone": P3, "comment": "чистка",
                                    "utm_source": "google", "utm_medium": "cpc"})
    stack.form(form_events["L12"], {"name": "P4", "phone": P4, "comment": "пломба"})
    stack.form(form_events["L13"], {"name": "P5", "phone": P5, "comment": "консультация",
                                    "clinic": "demo-center"})
    stack.form(form_events["L14"], {"name": "P6", "phone": P6, "comment": "срочно",
                                    "clinic": "demo-south", "utm_source": "yandex"})
    stack.wait_folded()
    assert stack.sql("SELECT count(*) FROM leads.pending_facts") == [["0"]], \
        "responses still waiting for their leads: %s" % stack.sql(
            "SELECT lead_id FROM leads.pending_facts")

    # 4. The forms' received_at, then their responses at received_at + 30/150/270 s
    #    (ahead of the clock, within the 5 minutes the events API allows)
    # (in the future: the fold takes a response at or after received_at), and the outcomes.
    found = {}

    def all_received():
        evs = stack.lead_events()
        found.clear()
        for name, lid in ids.items():
            rec = [e for e in evs.get(lid, []) if e["type"] == "clinicflow.lead.received"]
            if rec:
                found[name] = parse_time(rec[0]["data"]["received_at"])
        return len(found) == len(ids)
    try:
        cfstack.wait_until(all_received, 60, "a lead.received for each of the 15 leads")
    except AssertionError:
        raise AssertionError("lead.received only for %s" % sorted(found))
    for name in ("L9", "L10", "L11", "L12", "L13", "L14"):
        assert found[name].astimezone(MSK).date() == today, (name, found[name], today)
    for name, secs in (("L9", 30), ("L10", 150), ("L11", 270)):
        stack.event(ids[name], {"type": "responded", "staff_id": "op-" + name, "channel": "call",
                                "time": iso(found[name] + timedelta(seconds=secs))})
    stack.event(ids["L1"], {"type": "booked", "appointment_id": "apt-L1",
                            "time": iso(local(d1, "11:30:00"))})
    stack.event(ids["L2"], {"type": "lost", "reason": "price", "time": iso(local(d2, "10:00:00"))})
    stack.event(ids["L5"], {"type": "spam", "time": iso(local(d2, "14:30:00"))})
    stack.event(ids["L8"], {"type": "lost", "reason": "no_answer",
                            "time": iso(local(d2, "12:00:00"))})
    stack.event(ids["L9"], {"type": "booked", "appointment_id": "apt-L9",
                            "time": iso(found["L9"] + timedelta(seconds=60))})
    stack.wait_folded()

    # 5. Until leads.v1 holds what the table says: 10 responses, 5 outcomes, the 5
    # breaches (L14's 2 s after it arrived; the others' due times are past).
    want_counts = {"clinicflow.lead.responded": 10, "clinicflow.lead.status_changed": 5,
                   "clinicflow.lead.sla_breached": 5}
    seen = {}

    def settled():
        evs = stack.lead_events()
        seen.clear()
        for t in want_counts:
            seen[t] = sorted(stack.names.get(lid, lid) for lid, es in evs.items()
                             if any(e["type"] == t for e in es))
        return all(len(seen[t]) >= n for t, n in want_counts.items())
    try:
        cfstack.wait_until(settled, 60, "10 responses, 5 outcomes and 5 breaches on leads.v1",
                           interval=0.3)
    except AssertionError:
        raise AssertionError("leads.v1 holds %s" % seen)
    check_leads_service_output(stack, ids, found, today, d1, d2, responses)

    # 6. Until analytics has consumed all of leads.v1.
    consumed = stack.wait_analytics()

    check_report(stack, days)

    # Nothing came after: the figures above are of the whole topic as it stands.
    _, msgs = stack.ends(LEADS, validate=True)
    assert len(msgs) == consumed, "leads.v1 grew from %d to %d messages during the checks" % (
        consumed, len(msgs))

    # 7. A lead's events out of order (its lead.received last, as a replay
    #    of one that had gone to the DLQ comes): what the later events set
    #    stays. A lead that merged and closed, its events copied to a new
    #    lead on a day of its own, the received written after the others.
    by_lead = stack.lead_events()
    lead = next(lead for lead, evs in sorted(by_lead.items())
                if {"clinicflow.lead.merged", "clinicflow.lead.status_changed"}
                <= {e["type"] for e in evs})
    new_id = str(uuid.uuid4())
    copies = []
    for i, ev in enumerate(e for e in by_lead[lead] if e["type"] in (
            "clinicflow.lead.received", "clinicflow.lead.merged",
            "clinicflow.lead.status_changed")):
        ev = json.loads(json.dumps(ev))
        ev["id"], ev["subject"] = str(uuid.uuid4()), new_id
        ev["time"] = "2031-01-10T07:%02d:00.000Z" % i
        ev["data"]["lead_id"] = new_id
        if ev["type"] == "clinicflow.lead.received":
            ev["data"]["received_at"] = ev["time"]
        copies.append(ev)
    copies.sort(key=lambda e: e["type"] == "clinicflow.lead.received")  # received last
    status = next(e["data"]["status"] for e in copies
                  if e["type"] == "clinicflow.lead.status_changed")
    for ev in copies:
        cfstack.produce(stack.broker.bootstrap, LEADS, new_id,
                        json.dumps(ev, separators=(",", ":")).encode())
    stack.wait_analytics()
    st, _, body = stack.report_raw("leads", [("from", "2031-01-10"), ("to", "2031-01-10")])
    totals = json.loads(body)["totals"]
    assert st == 200 and totals["leads"] == 1 and totals[status] == 1, (status, body)

    # 8. The same with the received replayed beside a later merge, in one
    #    write (so most likely one batch): the lead merged a request, then
    #    its received comes back from the DLQ with the next merge. Two
    #    requests merged, whatever the batches.
    merged = next(e for e in copies if e["type"] == "clinicflow.lead.merged")
    received = next(e for e in copies if e["type"] == "clinicflow.lead.received")
    again_id = str(uuid.uuid4())

    def copy(ev, minute, **data):
        ev = json.loads(json.dumps(ev))
        ev["id"], ev["subject"] = str(uuid.uuid4()), again_id
        ev["time"] = "2031-01-11T07:%02d:00.000Z" % minute
        ev["data"].update(lead_id=again_id, **data)
        return ev
    first = copy(merged, 1, messages=2)
    cfstack.produce(stack.broker.bootstrap, LEADS, again_id,
                    json.dumps(first, separators=(",", ":")).encode())
    stack.wait_analytics()
    lines = [copy(received, 0, received_at="2031-01-11T07:00:00.000Z"),
             copy(merged, 2, messages=3)]
    p = subprocess.run(["kcat", "-b", stack.broker.bootstrap, "-P", "-t", LEADS, "-K", "\t"],
                       input="".join("%s\t%s\n" % (again_id, json.dumps(e, separators=(",", ":")))
                                     for e in lines).encode(), capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    stack.wait_analytics()
    st, _, body = stack.report_raw("leads", [("from", "2031-01-11"), ("to", "2031-01-11")])
    totals = json.loads(body)["totals"]
    assert st == 200 and totals["leads"] == 1 and totals["merged"] == 2, body

    # 9. A breach decided before the response was told: the response dated
    #    by the due time (a CRM's late report, a replay of history) was in
    #    time after all, in either order of the two events; one dated after
    #    it, or none, is a breach. Three leads of the copy's received on a
    #    day of their own; the records of only=sla_breached are the same two.
    day = "2031-01-12"
    made = {}

    def lead_event(name, etype, minute, data):
        ev = json.loads(json.dumps(received))
        lid = made.setdefault(name, str(uuid.uuid4()))
        ev["id"], ev["subject"], ev["type"] = str(uuid.uuid4()), lid, etype
        ev["time"] = "%sT07:%02d:00.000Z" % (day, minute)
        ev["data"] = dict(data, lead_id=lid)
        return ev

    def responded(name, minute):
        return lead_event(name, "clinicflow.lead.responded", minute, {
            "received_at": "%sT07:00:00.000Z" % day,
            "responded_at": "%sT07:%02d:00.000Z" % (day, minute), "via": "telegram",
            "response_seconds": minute * 60, "working_seconds": minute * 60})

    def breached(name):
        ev = lead_event(name, "clinicflow.lead.sla_breached", 10, {
            "received_at": "%sT07:00:00.000Z" % day, "due_at": "%sT07:10:00.000Z" % day,
            "provider": received["data"]["provider"], "channel": received["data"]["channel"]})
        ev["source"] = "/clinicflow/leads/sweeper"
        return ev
    lines = []
    for name in ("in_time_told_late", "in_time_first", "late", "unanswered"):
        rec = json.loads(json.dumps(received))
        rec["id"], rec["subject"] = str(uuid.uuid4()), made.setdefault(name, str(uuid.uuid4()))
        rec["time"] = rec["data"]["received_at"] = "%sT07:00:00.000Z" % day
        rec["data"]["lead_id"] = made[name]
        lines.append(rec)
    lines += [breached("in_time_told_late"), responded("in_time_told_late", 10),
              responded("in_time_first", 4), breached("in_time_first"),
              breached("late"), responded("late", 11), breached("unanswered")]
    for ev in lines:
        contract.validate_message(LEADS, ev["subject"], json.dumps(ev))
    p = subprocess.run(["kcat", "-b", stack.broker.bootstrap, "-P", "-t", LEADS, "-K", "\t"],
                       input="".join("%s\t%s\n" % (e["subject"], json.dumps(
                           e, separators=(",", ":"))) for e in lines).encode(),
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    stack.wait_analytics()
    st, _, body = stack.report_raw("leads", [("from", day), ("to", day)])
    totals = json.loads(body)["totals"]
    assert st == 200 and totals["leads"] == 4 and totals["responded"] == 3, body
    assert totals["sla_breaches"] == 2, ("only the late and the unanswered lead", body)
    st, _, body = cfstack.http("GET", stack.analytics.url("/v1/records/leads?" + urllib.parse.urlencode(
        {"from": day, "to": day, "only": "sla_breached"})),
        headers={"Authorization": "Bearer " + stack.keys["read"]})
    assert st == 200, (st, body[:500])
    listed = {r["lead_id"]: r["sla_breached"] for r in json.loads(body)["records"]}
    assert listed == {made["late"]: True, made["unanswered"]: True}, (made, listed)


def check_leads_service_output(stack, ids, received, today, d1, d2, responses):
    """What the figures rest on: the leads service folded each lead as the
    table says (a difference here is the leads service's or this test's,
    not analytics')."""
    evs = stack.lead_events()
    lead_ids = set(ids.values())
    assert set(evs) == lead_ids, "leads on leads.v1: %s, expected %s" % (
        sorted(stack.names.get(k, k) for k in evs), sorted(ids))
    day_of = {"D1": d1, "D2": d2, "T": today}
    problems = []
    for name, row in TABLE.items():
        (clinic, provider, day, source, medium, campaign, cls, messages, working, wall,
         breached, status) = row
        es = evs[ids[name]]
        by_type = {}
        for e in es:
            by_type.setdefault(e["type"][len("clinicflow.lead."):], []).append(e["data"])
        rec = by_type["received"][0]
        tags = rec.get("tags") or {}
        got = dict(clinic=rec.get("clinic_id"), provider=rec.get("provider"),
                   day=parse_time(rec["received_at"]).astimezone(MSK).date(),
                   source=tags.get("utm_source"), medium=tags.get("utm_medium"),
                   campaign=tags.get("utm_campaign"), cls=rec.get("patient_class"),
                   received=len(by_type["received"]),
                   messages=by_type["merged"][-1]["messages"] if "merged" in by_type else 1,
                   working=[d["working_seconds"] for d in by_type.get("responded", [])],
                   wall=[d["response_seconds"] for d in by_type.get("responded", [])],
                   breaches=len(by_type.get("sla_breached", [])),
                   status=[d["status"] for d in by_type.get("status_changed", [])])
        want = dict(clinic=clinic, provider=provider, day=day_of[day], source=source,
                    medium=medium, campaign=campaign, cls=cls, received=1, messages=messages,
                    working=[working] if working is not None else [],
                    wall=[wall] if wall is not None else [], breaches=1 if breached else 0,
                    status=[status] if status != "open" else [])
        if got != want:
            problems.append("%s: leads.v1 says %s\n     the table says %s" % (name, got, want))
        if name in responses and by_type.get("responded"):
            # the responses posted before the lead: applied at their own times
            at = parse_time(by_type["responded"][0]["responded_at"])
            if at != responses[name].astimezone(timezone.utc):
                problems.append("%s: responded_at %s, posted %s" % (name, at, responses[name]))
    # the Telegram leads' received_at are the messages' dates
    for name, hms, day in (("L1", "10:00:00", d1), ("L2", "17:50:00", d1),
                           ("L3", "20:30:00", d1), ("L4", "12:00:00", d2),
                           ("L5", "14:00:00", d2), ("L6", "13:30:00", d2),
                           ("L7", "23:55:00", d1), ("L8", "08:00:00", d2)):
        if received[name] != local(day, hms):
            problems.append("%s: received_at %s, expected %s" % (name, received[name],
                                                                  local(day, hms)))
    assert not problems, "\n".join(problems)


def check_report(stack, days):
    D1, D2, T = days["D1"], days["D2"], days["T"]
    rng = [("from", D1), ("to", T)]

    def fail(what, params, detail, body):
        raise AssertionError("%s\n  GET /v1/reports/leads?%s\n  %s\n  answer: %s\n"
                             "  analytics.leads:\n%s" % (
                                 what, urllib.parse.urlencode(params), detail,
                                 body[:4000].decode("utf-8", "replace") if isinstance(
                                     body, bytes) else body, stack.analytics_rows()))

    def get_json(params, what):
        st, hdrs, body = stack.report_raw("leads", params)
        if st != 200:
            fail(what, params, "status %s" % st, body)
        if not hdrs.get("content-type", "").startswith("application/json"):
            fail(what, params, "content-type %r" % hdrs.get("content-type"), body)
        rep = json.loads(body)
        if not (isinstance(rep, dict) and rep.get("report") == "leads"
                and isinstance(rep.get("params"), dict) and isinstance(rep.get("rows"), list)
                and isinstance(rep.get("totals"), dict)):
            fail(what, params, "not a leads report answer", body)
        return rep, body

    def check(what, params, groups, want_rows, want_totals):
        """JSON: the totals and exactly the rows wanted ([(group values,
        figures)] in the contract's order: sorted, null last); then the
        same selection as CSV, both ways."""
        params = list(params) + ([("group_by", ",".join(groups))] if groups else [])
        rep, body = get_json(params, what)
        errs = figure_errors(rep["totals"], want_totals, ())
        if errs:
            fail(what + ": totals", params, "; ".join(errs), body)
        got_keys = [tuple(r.get(g) for g in groups) if isinstance(r, dict) else None
                    for r in rep["rows"]]
        want_keys = [k for k, _ in want_rows]
        if got_keys != want_keys:
            fail(what + ": rows", params, "groups %s, expected %s (in this order)" % (
                got_keys, want_keys), body)
        for r, (k, w) in zip(rep["rows"], want_rows):
            errs = figure_errors(r, w, groups)
            if errs:
                fail("%s: row %s" % (what, k), params, "; ".join(errs), body)
        for accept in (False, True):
            how = "Accept: text/csv" if accept else "format=csv"
            if accept:
                st, hdrs, cbody = stack.report_raw("leads", params,
                                                   headers={"Accept": "text/csv"})
            else:
                st, hdrs, cbody = stack.report_raw("leads", params + [("format", "csv")])
            if st != 200 or not hdrs.get("content-type", "").startswith("text/csv"):
                fail("%s as CSV (%s)" % (what, how), params, "status %s, content-type %r" % (
                    st, hdrs.get("content-type")), cbody)
            table = list(csv.reader(io.StringIO(cbody.decode("utf-8"))))
            errs = csv_errors(table, rep["rows"], groups)
            if errs:
                fail("%s as CSV (%s)" % (what, how), params, "; ".join(errs[:10]), cbody)
        return rep

    # No group_by: the one row is the totals.
    rep = check("all leads D1..T", rng, [], [((), TOTAL)], TOTAL)
    check("one day, D2 only", [("from", D2), ("to", D2)], [], [((), DAY2)], DAY2)
    check("group_by=channel", rng, ["channel"],
          [(("generic",), GENERIC), (("telegram",), TELEGRAM)], TOTAL)
    check("group_by=day", rng, ["day"], [((D1,), DAY1), ((D2,), DAY2), ((T,), DAYT)], TOTAL)
    check("group_by=source", rng, ["source"],
          [(("google",), GOOGLE), (("yandex",), YANDEX), ((None,), NO_SOURCE)], TOTAL)
    check("source=yandex, group_by=clinic", rng + [("source", "yandex")], ["clinic"],
          [(("demo-north",), YANDEX_NORTH), (("demo-south",), YANDEX_SOUTH)], YANDEX)
    check("clinic=demo-north, group_by=day", rng + [("clinic", "demo-north")], ["day"],
          [((D1,), NORTH_D1), ((D2,), NORTH_D2), ((T,), NORTH_T)], NORTH)
    check("clinic repeated (demo-center, demo-south), group_by=clinic",
          rng + [("clinic", "demo-center"), ("clinic", "demo-south")], ["clinic"],
          [(("demo-center",), CENTER), (("demo-south",), SOUTH)], CENTER_SOUTH)
    check("clinic=demo-center,demo-south", rng + [("clinic", "demo-center,demo-south")], [],
          [((), CENTER_SOUTH)], CENTER_SOUTH)

    # An unknown report is 404; no key (or a key that is none) is 401.
    st, _, body = stack.report_raw("nosuch", rng)
    assert st == 404, ("GET /v1/reports/nosuch", st, body)
    st, _, body = stack.report_raw("leads", rng, key="")
    assert st == 401, ("GET /v1/reports/leads without a key", st, body)
    st, _, body = stack.report_raw("leads", rng, key="cf_not_a_key_0000000000")
    assert st == 401, ("GET /v1/reports/leads with a key that is none", st, body)
    return rep


def csv_errors(table, rows, groups):
    """The CSV is the JSON rows: the header is the group names, then the
    fields in the order of the JSON row; a line per JSON row in the same
    order; an empty cell is null; numbers equal, strings equal."""
    if not table:
        return ["an empty CSV body"]
    header, lines = table[0], table[1:]
    errs = []
    want_header = list(groups) + [k for k in rows[0] if k not in groups]
    if header != want_header:
        errs.append("header %s, expected %s" % (header, want_header))
    if len(lines) != len(rows):
        errs.append("%d CSV lines, %d JSON rows" % (len(lines), len(rows)))
    for i, (cells, row) in enumerate(zip(lines, rows)):
        if len(cells) != len(header):
            errs.append("line %d: %d cells, %d columns" % (i + 1, len(cells), len(header)))
            continue
        for name, cell in zip(header, cells):
            want = row.get(name)
            ok = csv_cell_matches(cell, want)
            if not ok:
                errs.append("line %d, %s: CSV %r, JSON %r" % (i + 1, name, cell, want))
    return errs


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_leads_report])
