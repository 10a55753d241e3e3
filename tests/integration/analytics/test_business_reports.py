"""The business reports of clinicflow-analytics end to end, every figure
computed by hand (proto/README.md, "Analytics reports": "Funnel",
"Sources" with spend, "Operators and doctors", "Load", "Reminders and
recall", "Cohorts", "The records behind a row, and the worklist").

One network's week, two clinics (demo-center C, demo-north N), fed as
the real producers feed analytics:
- patients and appointments through the reminders service's MIS record
  API (clinicflow-reminders, PUT /v1/patients/{id} and
  /v1/appointments/{id} with the ingest key): its relay puts them on
  clinicflow.patients.v1 and clinicflow.appointments.v1 (every message is
  checked against its schema as it is read);
- calls and callback tasks on clinicflow.calls.v1 / clinicflow.tasks.v1,
  leads on clinicflow.leads.v1, reminder outcomes, campaign members and
  NPS answers on clinicflow.reminders.outcomes.v1: valid envelopes
  produced directly, as the calls, leads and reminders services would
  (their own tests drive those producers end to end);
- ad spend through PUT /v1/spend and POST /v1/spend.csv.
Then the test waits until the four analytics consumer groups have stored,
in analytics.consumer_offsets, every partition's end of their topics, and
asks every report.

Why the week is not a fixed calendar week: the MIS API stamps each
appointment.upserted with the moment the reminders service stored it
(services/reminders/mis_events.c), and a booking counts when its
appointment was first seen. So every booking of this test is dated
today (T, Moscow), and "booked within 14 days of the first contact"
(new_persons_booked) can only be tested with contacts of the last days:
the week is D1..D7, the seven Moscow days before T. Figures that rest on
the weekday (load) are placed by the days' own weekdays: a seven-day range
holds each weekday once. The cohorts use fixed months of 2026.

The network is the demo one (Europe/Moscow, UTC+3, no daylight saving)
with re-invites, surveys and recalls switched off (reminder_policies), so
the reminders service puts nothing on reminders.outcomes.v1 of its own:
that topic holds exactly what this test produced (checked).
"""
import csv
import io
import json
import math
import subprocess
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cfstack
import contract
from common import (CALLS, DLQ, NET, TASKS, Stack, call_event, cf_uuid5, contact_key,
                    csv_cell_matches, iso, party, produce_many, same_number, task_event,
                    topic_ends, wait_until)

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
#  and 13:00:05 sms_delivered; s4 A3 call D5 12:00 confirmed (confirmed); s5 A5 call D4
#  11:00 busy; s6 A5 call D4 12:00 no_reply (not_confirmed); s7 A9 call D6 09:00 confirmed
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

# --- the expected figures, by hand ---------------------------------------------------

FUNNEL_FIELDS = ["contacts", "unique_contacts", "new_persons", "new_persons_booked",
                 "first_contact_conversion_new", "bookings", "arrivals", "no_shows",
                 "cancellations", "show_rate", "plans_proposed", "plans_accepted",
                 "plan_acceptance", "repeat_visits"]
FUNNEL_COUNTS = set(FUNNEL_FIELDS) - {"first_contact_conversion_new", "show_rate",
                                      "plan_acceptance"}


def ratio(num, den):
    return num / den if den else None


def funnel(contacts, unique, new, booked, bookings, arrivals, no_shows, cancellations,
           proposed, accepted, repeat):
    return {"contacts": contacts, "unique_contacts": unique, "new_persons": new,
            "new_persons_booked": booked, "first_contact_conversion_new": ratio(booked, new),
            "bookings": bookings, "arrivals": arrivals, "no_shows": no_shows,
            "cancellations": cancellations, "show_rate": ratio(arrivals, arrivals + no_shows),
            "plans_proposed": proposed, "plans_accepted": accepted,
            "plan_acceptance": ratio(accepted, proposed), "repeat_visits": repeat}


# Range D1..T.
# contacts: ended inbound calls K1 K3 K4 K7 ANON1-7 K15 = 12, leads L1-L5 = 5 -> 17
#   (RING never ended; CB is outbound).
# unique: X1 ANNA X3 X5 X6 X2 X4 = 7 people + 7 anonymous callers = 14.
# new_persons (first contact in range, class new): X1 X2 X3 X4 X5 X6 = 6 (ANNA: repeat).
# new_persons_booked: X1 (A2 A3 through x1's phone), X2 (A4 names L1), X3 (A5 names K4),
#   X4 (A6 names L2), X5 (A7 through x5's phone): all first seen at T, within 14 days
#   after D1..D3; X6's only appointment A8 was first seen at D1 09:00, before X6's first
#   contact (D5): not booked. 5 of 6.
# bookings: the 20 appointments (19 at T, A8 at D1).
# arrivals: A1 A2 A4 A5 A7 A8 AR1 = 7; no_shows A3 A9 = 2; cancellations A6 = 1.
# plans: A1 accepted, A2 proposed, A4 declined, A5 accepted: 4 proposed, 2 accepted.
# repeat_visits: A1 (anna's first_visit_at 2026-01-15), AR1 (r1's 2025-12-01) = 2.
FUNNEL_TOTAL = funnel(17, 14, 6, 5, 20, 7, 2, 1, 4, 2, 2)
# group_by=clinic
#  C: contacts K1 K3 K7 L2 L3 L5 = 6; people X1 ANNA X5 X4 = 4; new X1 X4 X5 (first
#     contact at C) = 3, all booked; bookings A1 A2 A3 A6 A7 A9 AR1 AR2 AR5 + q1's 3 +
#     q2's 2 = 14; arrivals A1 A2 A7 AR1 = 4; no_shows A3 A9 = 2; cancellations A6;
#     plans A1 (accepted) A2 = 2, 1; repeat A1 AR1 = 2.
#  N: contacts K4 ANON1-7 K15 L1 L4 = 11; people X3 X6 X2 + 7 anonymous = 10; new X2 X3
#     X6 = 3, booked X2 X3 = 2; bookings A4 A5 A8 + q3's 3 = 6; arrivals A4 A5 A8 = 3;
#     plans A4 (declined) A5 (accepted) = 2, 1; repeat 0.
#  (6 + 11 = 17, 3 + 3 = 6, 3 + 2 = 5, 14 + 6 = 20, 4 + 3 = 7.)
FUNNEL_CLINIC = {C: funnel(6, 4, 3, 3, 14, 4, 2, 1, 2, 1, 2),
                 N: funnel(11, 10, 3, 2, 6, 3, 0, 0, 2, 1, 0)}
# group_by=day (each step on its own date):
#  D1: K1 L1 = 2 contacts, 2 people, new X1 X2 both booked; booking A8 (moved to D1).
#  D2: K3 K4 = 2, 2 people, new X3 (ANNA is not new), booked; visit A1 completed with an
#      accepted plan, a repeat visit.
#  D3: K7 L2 L3 = 3, 3 people, new X5 X4 both booked; visit A4 completed, plan declined.
#  D4: ANON1-7 + L5 = 8 contacts, 8 people, nobody new; visit A2 arrived, plan proposed.
#  D5: K15 = 1, new X6 not booked (0/1); visits A5 arrived (plan accepted), A6 cancelled.
#  D6: L4 = 1, X3 (not new); visits A3 no_show, A8 arrived, AR1 arrived (repeat).
#  D7: nothing but visits: A7 completed, A9 no_show (AR2 AR5 booked: none of the steps).
#  T:  the 19 other bookings.
#  (contacts 2+2+3+8+1+1 = 17; new 2+1+2+1 = 6; booked 2+1+2 = 5; bookings 1+19 = 20;
#   arrivals 1+1+1+1+2+1 = 7; no_shows 1+1 = 2.)
FUNNEL_DAY = {"D1": funnel(2, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0),
              "D2": funnel(2, 2, 1, 1, 0, 1, 0, 0, 1, 1, 1),
              "D3": funnel(3, 3, 2, 2, 0, 1, 0, 0, 1, 0, 0),
              "D4": funnel(8, 8, 0, 0, 0, 1, 0, 0, 1, 0, 0),
              "D5": funnel(1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0),
              "D6": funnel(1, 1, 0, 0, 0, 2, 1, 0, 0, 0, 1),
              "D7": funnel(0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0),
              "T": funnel(0, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0)}

SOURCES_FIELDS = ["contacts", "unique_contacts", "existing_patient_share", "leads", "bookings",
                  "arrivals", "arrived_new_patients", "revenue", "spend",
                  "cost_per_unique_contact", "cost_per_lead", "cost_per_booking",
                  "cost_per_arrived_new_patient", "romi"]
SOURCES_COUNTS = {"contacts", "unique_contacts", "leads", "bookings", "arrivals",
                  "arrived_new_patients"}


def sources(contacts, unique, existing, leads, bookings, arrivals, arrived_new, revenue,
            spend):
    """existing: contacts whose patient_class was repeat or lapsed; the costs are spend
    over each count, null when the count is 0 (no spend: 0 per each)."""
    def cost(n):
        return spend / n if n else None
    return {"contacts": contacts, "unique_contacts": unique,
            "existing_patient_share": ratio(existing, contacts), "leads": leads,
            "bookings": bookings, "arrivals": arrivals, "arrived_new_patients": arrived_new,
            "revenue": revenue, "spend": spend, "cost_per_unique_contact": cost(unique),
            "cost_per_lead": cost(leads), "cost_per_booking": cost(bookings),
            "cost_per_arrived_new_patient": cost(arrived_new),
            "romi": (revenue - spend) / spend if spend else None}


# Range D1..T. Contacts under their own source:
#  yandex_direct K1 (X1) K3 (ANNA, repeat) L1 (X2): 3 contacts, 3 people, 1 existing, 1 lead
#  google        L3 (X1) L5 (ANNA, repeat): 2, 2 people, 1 existing, 2 leads
#  prodoctorov   K4 (X3) K15 (X6): 2, 2, 0, 0 leads
#  site          K7 (X5): 1, 1, 0, 0
#  none          ANON1-7 L2 (X4) L4 (X3): 9, 9 people, 0, 2 leads
# Spend (the range's days): yandex_direct 3000 (D1, the second PUT replaced 2500) + 2000
#  (D2) = 5000; google 500 (D7) + 450 (D3, the CSV's later line) = 950; prodoctorov 1200
#  (D2) + 900 (D5) = 2100; site none.
# The person of each appointment (the call or lead its booking names, else the patient's
# phones): A1 A9 -> ANNA, A2 A3 -> X1, A4 -> X2, A5 -> X3, A6 -> X4, A7 -> X5, A8 -> X6;
# AR1 AR2 AR5 and the cohorts' 8 -> nobody (no source).
# Arrivals in range: A1 5000 (ANNA, not new: first_visit_at), A2 3000 new, A4 4000 new,
# A5 2500 new, A7 1500 new, A8 2000 new, AR1 3500 (not new: first_visit_at 2025-12-01).
#
# attribution=first_touch (X1 yandex_direct, ANNA yandex_direct, X2 yandex_direct,
# X3 prodoctorov, X5 site, X6 prodoctorov, X4 none):
#  yandex_direct: bookings A1 A2 A3 A4 A9 = 5; arrivals A1 A2 A4 = 3, new A2 A4 = 2,
#    revenue 5000+3000+4000 = 12000; spend 5000: per person 5000/3, per lead 5000/1,
#    per booking 5000/5 = 1000, per new patient 5000/2 = 2500, romi (12000-5000)/5000 = 1.4
#  google: no bookings; spend 950: per person 950/2 = 475, per lead 950/2 = 475, romi
#    (0-950)/950 = -1
#  prodoctorov: bookings A5 A8 = 2 (A8's at D1 is in range); arrivals A5 A8 new, revenue
#    4500; spend 2100: 1050 per person, booking, new patient; romi 2400/2100
#  site: A7: 1 booking, 1 new arrival, 1500; no spend: costs 0 (0 over 1), no lead to
#    divide by, no romi
#  none: A6 AR1 AR2 AR5 + 8 = 12 bookings; arrival AR1 (not new) 3500; no spend: costs 0,
#    no new arrival to divide by, no romi
#  (bookings 5+2+1+12 = 20; arrivals 3+2+1+1 = 7; revenue 12000+4500+1500+3500 = 21500)
SOURCES_FIRST = {"yandex_direct": sources(3, 3, 1, 1, 5, 3, 2, 12000, 5000),
                 "google": sources(2, 2, 1, 2, 0, 0, 0, 0, 950),
                 "prodoctorov": sources(2, 2, 0, 0, 2, 2, 2, 4500, 2100),
                 "site": sources(1, 1, 0, 0, 1, 1, 1, 1500, 0),
                 None: sources(9, 9, 0, 2, 12, 1, 0, 3500, 0)}
# attribution=last_non_direct (X1 google, ANNA google; the others as above; X3's last
# contact L4 had no source, so his stays prodoctorov):
#  yandex_direct: only X2's A4: 1 booking, 1 new arrival, 4000; per booking and per new
#    patient 5000, romi (4000-5000)/5000 = -0.2
#  google: A1 A2 A3 A9 = 4 bookings; arrivals A1 A2 = 2, new A2 = 1, revenue 8000;
#    per booking 950/4 = 237.5, per new patient 950, romi (8000-950)/950
#  prodoctorov, site, none: as under first_touch. (4+1+2+1+12 = 20 bookings.)
SOURCES_LAST = {"yandex_direct": sources(3, 3, 1, 1, 1, 1, 1, 4000, 5000),
                "google": sources(2, 2, 1, 2, 4, 2, 1, 8000, 950),
                "prodoctorov": SOURCES_FIRST["prodoctorov"],
                "site": SOURCES_FIRST["site"],
                None: SOURCES_FIRST[None]}
# totals (either attribution): 17 contacts, 14 people, 2 existing (K3 L5), 5 leads,
# 20 bookings, 7 arrivals, 5 new, 21500 revenue, spend 5000+950+2100 = 8050.
SOURCES_TOTAL = sources(17, 14, 2, 5, 20, 7, 5, 21500, 8050)
# group_by=clinic: a network-wide amount split among the clinics by their contacts from
# its source that day:
#  yandex_direct D1 3000: K1 (C) and L1 (N), one each -> C 1500, N 1500
#  yandex_direct D2 2000: K3 (C) alone -> C 2000
#  prodoctorov D5 900 (CSV): K15 (N) alone -> N 900
#  google D7 500: no google contact that day -> stays without a clinic (null)
#  clinic-own: google C D3 450, prodoctorov N D2 1200
#  C: 1500+2000+450 = 3950; N: 1500+1200+900 = 3600; null: 500 (3950+3600+500 = 8050).
#  C: contacts K1 K3 K7 L2 L3 L5 = 6, people 4, existing K3 L5 = 2, leads L2 L3 L5 = 3,
#     bookings 14, arrivals A1 A2 A7 AR1 = 4 (new A2 A7), revenue 5000+3000+1500+3500
#     = 13000
#  N: contacts 11, people 10, existing 0, leads L1 L4 = 2, bookings 6, arrivals A4 A5 A8
#     (all new), revenue 4000+2500+2000 = 8500
#  null: the 500 alone: romi (0-500)/500 = -1, nothing to divide it by.
SOURCES_CLINIC = {C: sources(6, 4, 2, 3, 14, 4, 2, 13000, 3950),
                  N: sources(11, 10, 0, 2, 6, 3, 3, 8500, 3600),
                  None: sources(0, 0, 0, 0, 0, 0, 0, 0, 500)}

OPERATOR_FIELDS = ["calls_handled", "inbound_answered", "outbound", "talk_seconds",
                   "mean_talk_s", "bookings", "booking_conversion"]
OPERATOR_COUNTS = {"calls_handled", "inbound_answered", "outbound", "talk_seconds", "bookings"}


def operator(handled, inbound, outbound, talk, bookings):
    return {"calls_handled": handled, "inbound_answered": inbound, "outbound": outbound,
            "talk_seconds": talk, "mean_talk_s": ratio(talk, handled), "bookings": bookings,
            "booking_conversion": ratio(bookings, handled)}


# Range D1..T, a row per operator:
#  op-anna: K1 (inbound, 120 s) and CB (outbound, 60 s): 2 handled, 180 s, mean 90;
#    booked A2 A3 A6 A7 = 4: 4/2 = 2.0
#  op-boris: K3 200 + K4 90 + ANON1-6 6x240 = 1440 + K15 45 = 1775 s over 9 inbound calls,
#    mean 1775/9; booked A1 A4 A5 A8 = 4 (A8's latest version's operator, not v1's anna):
#    4/9
#  null: the missed calls K7, ANON7 (handled 0: no mean, no conversion); the bookings
#    without an operator: A9 AR1 AR2 AR5 + 8 cohort visits = 12
#  totals: 11 handled, 10 inbound answered, 1 outbound, 1955 s, 1955/11; 20 bookings, 20/11
OPERATORS = {ANNA_OP: operator(2, 1, 1, 180, 4),
             BORIS_OP: operator(9, 9, 0, 1775, 4),
             None: operator(0, 0, 0, 0, 12)}
OPERATORS_TOTAL = operator(11, 10, 1, 1955, 20)

DOCTOR_FIELDS = ["arrivals", "no_shows", "show_rate", "plans_proposed", "plans_accepted",
                 "plan_acceptance", "revenue", "accepted_plans_amount", "nps_answers", "nps"]
DOCTOR_COUNTS = {"arrivals", "no_shows", "plans_proposed", "plans_accepted", "nps_answers"}


def doctor(arrivals, no_shows, proposed, accepted, revenue, accepted_amount, answers,
           promoters, detractors):
    return {"arrivals": arrivals, "no_shows": no_shows,
            "show_rate": ratio(arrivals, arrivals + no_shows), "plans_proposed": proposed,
            "plans_accepted": accepted, "plan_acceptance": ratio(accepted, proposed),
            "revenue": revenue, "accepted_plans_amount": accepted_amount,
            "nps_answers": answers,
            "nps": 100.0 * (promoters - detractors) / answers if answers else None}


# Range D1..D7 (visits by start, answers when given):
#  ivanova: A1 completed 5000 (plan accepted 120000), A2 arrived 3000 (proposed), A9
#    no_show, AR2 AR5 booked: 2 arrivals, 1 no-show, show 2/3; plans 2, accepted 1;
#    revenue 8000; accepted amount 120000; answers 10 and 6: (1-1)/2 = 0
#  petrov: A3 no_show, A6 cancelled, A7 completed 1500, AR1 arrived 3500: 2, 1; no plans;
#    revenue 5000; answer 3: (0-1)/1 = -100
#  sidorova: A4 completed 4000 (declined 50000), A5 arrived 2500 (accepted 30000), A8
#    arrived 2000 (v1's petrov changed nothing): 3, 0, show 1; plans 2, 1; revenue 8500;
#    accepted 30000; answers 9 and 8: (1-0)/2 = 50
#  totals: 7, 2; plans 4, 2; revenue 21500; accepted 150000; answers 5, 2 promoters
#    (10, 9), 2 detractors (6, 3): 0
DOCTORS = {IVANOVA: doctor(2, 1, 2, 1, 8000, 120000, 2, 1, 1),
           PETROV: doctor(2, 1, 0, 0, 5000, 0, 1, 0, 1),
           SIDOROVA: doctor(3, 0, 2, 1, 8500, 30000, 2, 1, 0)}
DOCTORS_TOTAL = doctor(7, 2, 4, 2, 21500, 150000, 5, 2, 2)

LOAD_FIELDS = ["contacts", "inbound_calls", "leads", "answered", "missed", "missed_share",
               "mean_talk_s", "hours", "calls_per_hour", "operators_needed"]
LOAD_COUNTS = {"contacts", "inbound_calls", "leads", "answered", "missed", "hours",
               "operators_needed"}


def load(inbound, leads, answered, missed, talk, hours, operators_needed):
    return {"contacts": inbound + leads, "inbound_calls": inbound, "leads": leads,
            "answered": answered, "missed": missed, "missed_share": ratio(missed, inbound),
            "mean_talk_s": ratio(talk, answered), "hours": hours,
            "calls_per_hour": inbound / hours, "operators_needed": operators_needed}


# Range D1..D7, group_by=weekday,hour (seven days: each weekday once, so a cell covers
# 1 hour). Erlang C with N operators at traffic A = calls_per_hour * mean_talk / 3600:
#   P(wait) = (A^N/N! * N/(N-A)) / (sum_{i<N} A^i/i! + A^N/N! * N/(N-A))
#   served within 20 s = 1 - P(wait) * exp(-(N-A) * 20 / mean_talk); the fewest N > A
#   whose served share is at least 0.8.
#  (weekday of D4, 10): ANON1-7: 7 inbound, 6 answered (240 s each), ANON7 missed: missed
#    share 1/7, mean talk 240, 7 calls an hour. A = 7*240/3600 = 0.46667.
#    N=1: P(wait) = A = 0.46667; served = 1 - 0.46667*exp(-0.53333*20/240) = 1 - 0.46667
#    *0.95653 = 0.5536 < 0.8. N=2: A^2/2 * 2/(2-A) = 0.10889*1.30435 = 0.14203; P(wait) =
#    0.14203/(1 + 0.46667 + 0.14203) = 0.08829; served = 1 - 0.08829*exp(-1.53333*20/240)
#    = 1 - 0.08829*0.88005 = 0.9223 >= 0.8 -> 2 operators.
#  (weekday of D2, 11): K3 (200 s) K4 (90 s): 2 answered, mean 145, 2 an hour: A =
#    2*145/3600 = 0.080556; N=1: served = 1 - 0.080556*exp(-0.919444*20/145) = 1 -
#    0.080556*0.88089 = 0.929 -> 1 operator.
#  (weekday of D3, 15): K7 missed alone (CB is outbound): 1 inbound, 0 answered, missed
#    share 1, no talk time: no mean, no operators figure.
#  (weekday of D3, 9): L2 alone: a lead, no calls: 0 calls an hour, no shares.
# totals: 12 inbound, 5 leads, answered K1 K3 K4 ANON1-6 K15 = 1+1+1+6+1 = 10, missed K7
#  ANON7 = 2; talk 120+200+90+1440+45 = 1895 over 10 = 189.5; hours 7*24 = 168; 12/168
#  calls an hour: A = (12/168)*189.5/3600 = 0.0037599; N=1: served = 1 - 0.0037599
#  *exp(-0.99624*20/189.5) = 1 - 0.0037599*0.90036 = 0.9966 -> 1.
LOAD_CELLS = {("D4", 10): load(7, 0, 6, 1, 1440, 1, 2),
              ("D2", 11): load(2, 0, 2, 0, 290, 1, 1),
              ("D3", 15): load(1, 0, 0, 1, 0, 1, None),
              ("D3", 9): load(0, 1, 0, 0, 0, 1, None)}
# every (day, hour) with a contact: K1 D1 10, L1 D1 12, K3 K4 D2 11, L2 D3 9, L3 D3 14,
# K7 D3 15, ANON1-7 D4 10, L5 D4 18, K15 D5 16, L4 D6 10 (RING, D5 9, never ended).
LOAD_KEYS = [("D1", 10), ("D1", 12), ("D2", 11), ("D3", 9), ("D3", 14), ("D3", 15),
             ("D4", 10), ("D4", 18), ("D5", 16), ("D6", 10)]
LOAD_TOTAL = load(12, 5, 10, 2, 1895, 168, 1)

REMINDER_FIELDS = ["sent", "calls", "sms", "not_reached", "confirmed", "declined",
                   "reschedule_requested", "not_confirmed", "opt_outs", "sms_segments",
                   "sms_cost", "cost_per_confirmed", "confirmed_visits", "show_rate_confirmed",
                   "unconfirmed_visits", "show_rate_unconfirmed"]
REMINDER_COUNTS = {"sent", "calls", "sms", "not_reached", "confirmed", "declined",
                   "reschedule_requested", "not_confirmed", "opt_outs", "sms_segments",
                   "confirmed_visits", "unconfirmed_visits"}


def reminders(sent, calls, sms, not_reached, confirmed, declined, resched, not_confirmed,
              opt_outs, segments, cost, conf_came, conf_no_show, unconf_came, unconf_no_show):
    return {"sent": sent, "calls": calls, "sms": sms, "not_reached": not_reached,
            "confirmed": confirmed, "declined": declined, "reschedule_requested": resched,
            "not_confirmed": not_confirmed, "opt_outs": opt_outs, "sms_segments": segments,
            "sms_cost": cost, "cost_per_confirmed": cost / confirmed if confirmed else None,
            "confirmed_visits": conf_came + conf_no_show,
            "show_rate_confirmed": ratio(conf_came, conf_came + conf_no_show),
            "unconfirmed_visits": unconf_came + unconf_no_show,
            "show_rate_unconfirmed": ratio(unconf_came, unconf_came + unconf_no_show)}


# Range D1..D7, the visits' reminders (kind reminder; the recall's SMS are not):
#  sent: every send but s9 (skipped): s1 s2 s3 s4 s5 s6 s7 s8 s10 s11 = 10 (s3's two
#    outcomes are one send); calls 9, sms s3 = 1
#  not_reached: s2 (no_answer) s5 (busy) s6 (no_reply) = 3
#  statuses: confirmed s1 s4 s7 = 3, declined s11, reschedule_requested s8, not_confirmed
#    s6; opt_outs s10
#  SMS: s3's 2 segments, 700 kopecks = 7.00; per confirmation 7/3
#  reminded visits starting in the range (a send that went out), by their last status:
#    confirmed: A1 completed, A3 no_show -> 2, show 1/2
#    not confirmed: A2 arrived (no status), A4 completed (opted out), A5 arrived
#    (not_confirmed), A9 no_show (confirmed on D6, declined on D7: last declined) -> 4,
#    show 3/4. (A6 was cancelled; A8's only send was skipped: not reminded.)
REMINDERS_TOTAL = reminders(10, 9, 1, 3, 3, 1, 1, 1, 1, 2, 7.0, 1, 1, 3, 1)
# group_by=clinic:
#  C: s1 s2 s3 s4 s7 s8 s11 = 7 sent, 6 calls, 1 sms; not reached s2; confirmed 3,
#     declined 1, reschedule 1; SMS 2 segments 7.00; visits A1 (conf, came), A3 (conf,
#     no), A2 (came), A9 (no)
#  N: s5 s6 s10 = 3 calls (s9 skipped); not reached s5 s6; not_confirmed s6, opt-out s10;
#     no SMS; no confirmation: no cost per one; visits A4 A5 came, unconfirmed
REMINDERS_CLINIC = {C: reminders(7, 6, 1, 1, 3, 1, 1, 0, 0, 2, 7.0, 1, 1, 1, 1),
                    N: reminders(3, 3, 0, 2, 0, 0, 0, 1, 1, 0, 0.0, 0, 0, 2, 0)}

RECALL_FIELDS = ["members", "target", "holdout", "contacted", "agreed", "opt_outs",
                 "booked_target", "booked_holdout", "booked_share_target",
                 "booked_share_holdout", "uplift", "arrived_target", "revenue_target"]
RECALL_COUNTS = {"members", "target", "holdout", "contacted", "agreed", "opt_outs",
                 "booked_target", "booked_holdout", "arrived_target"}


def recall(members, target, holdout, contacted, agreed, opt_outs, booked_t, booked_h,
           arrived_t, revenue_t):
    return {"members": members, "target": target, "holdout": holdout,
            "contacted": contacted, "agreed": agreed, "opt_outs": opt_outs,
            "booked_target": booked_t, "booked_holdout": booked_h,
            "booked_share_target": ratio(booked_t, target),
            "booked_share_holdout": ratio(booked_h, holdout),
            "uplift": booked_t / target - booked_h / holdout if target and holdout else None,
            "arrived_target": arrived_t, "revenue_target": revenue_t}


# Range D1..D7 (R8 joined at T: not in it):
#  members R1-R7 = 7: target R1-R4, holdout R5-R7; contacted (a send that went out) R1
#  R2 R3 (R4's was skipped) = 3; agreed (confirmed) R2; opt-out R3; booked again (an
#  appointment first seen after joining, at T): target R1 (AR1) R2 (AR2) = 2 of 4 = 0.5,
#  holdout R5 (AR5) = 1 of 3; uplift 1/2 - 1/3 = 1/6; came: R1 (AR1, 3500).
RECALL_TOTAL = recall(7, 4, 3, 3, 1, 1, 2, 1, 1, 3500)
# group_by=clinic: C R1 R2 (target) R5 R7 (holdout): contacted R1 R2, agreed R2, booked
#  2/2 and 1/2: uplift 1 - 0.5 = 0.5, AR1 3500. N R3 R4 (target) R6 (holdout): contacted
#  R3 (opted out); nobody booked: 0/2 - 0/1 = 0.
RECALL_CLINIC = {C: recall(4, 2, 2, 2, 1, 0, 2, 1, 1, 3500),
                 N: recall(3, 2, 1, 1, 0, 1, 0, 0, 0, 0)}
# Range D1..T, group_by=campaign: recall as above; reinvite R8 (x1, missed A3), joined at T
#  after x1's appointments were first seen: nothing booked since; no holdout: no uplift.
#  totals: 8 members, 5 target: booked 2/5 - 1/3 = 1/15.
RECALL_CAMPAIGN = {"recall": RECALL_TOTAL,
                   "reinvite": recall(1, 1, 0, 0, 0, 0, 0, 0, 0, 0)}
RECALL_CAMPAIGN_TOTAL = recall(8, 5, 3, 3, 1, 1, 2, 1, 1, 3500)

COHORT_FIELDS = ["cohort", "months_since", "patients", "returning", "returning_share",
                 "revenue_cumulative", "revenue_per_patient"]


def cohort(month, k, patients, returning, revenue):
    """returning: None in month 0 (the first visit itself)."""
    return {"cohort": month, "months_since": k, "patients": patients, "returning": returning,
            "returning_share": ratio(returning, patients) if returning is not None else None,
            "revenue_cumulative": revenue, "revenue_per_patient": revenue / patients}


# from=2026-03-01 to=2026-04-30 picks the cohorts of March (q1 2026-03-10, q2 2026-03-25)
# and April (q3 2026-04-02):
#  2026-03: 2 patients. k0: 1000 + 2000 = 3000 (1500 each); k1 (April): q1 came (500):
#   1 of 2, 3500; k2 (May): q2's visit was cancelled: 0 of 2, 3500; k3 (June): q1 (700):
#   1 of 2, 4200 (2100 each). Months up to the last with a visit: 0..3.
#  2026-04: 1 patient. k0: 1200 + 400 (28 April, the same month) = 1600; k1 (May): 300,
#   1 of 1, 1900.
COHORTS = [cohort("2026-03", 0, 2, None, 3000), cohort("2026-03", 1, 2, 1, 3500),
           cohort("2026-03", 2, 2, 0, 3500), cohort("2026-03", 3, 2, 1, 4200),
           cohort("2026-04", 0, 1, None, 1600), cohort("2026-04", 1, 1, 1, 1900)]


def erlang_c_agents(calls_per_hour, aht_s, target=0.8, within_s=20.0):
    """The Erlang C staffing of proto/README.md "Load", in its textbook form."""
    a = calls_per_hour * aht_s / 3600.0
    n = 1
    while True:
        if n > a:
            top = a ** n / math.factorial(n) * n / (n - a)
            wait = top / (sum(a ** i / math.factorial(i) for i in range(n)) + top)
            if 1.0 - wait * math.exp(-(n - a) * within_s / aht_s) >= target:
                return n
        n += 1


def check_hand_figures():
    """The hand-written figures agree with each other: groups add up to the totals
    (for the counts that add up), and the Erlang figures written by hand are what the
    formula gives."""
    def add(rows, fields):
        return {f: sum(r[f] for r in rows) for f in fields}
    additive = ["contacts", "new_persons", "new_persons_booked", "bookings", "arrivals",
                "no_shows", "cancellations", "plans_proposed", "plans_accepted",
                "repeat_visits"]
    for what, rows in (("funnel by clinic", FUNNEL_CLINIC), ("funnel by day", FUNNEL_DAY)):
        got = add(rows.values(), additive)
        assert got == {f: FUNNEL_TOTAL[f] for f in additive}, (what, got)
    for what, rows in (("first touch", SOURCES_FIRST), ("last non-direct", SOURCES_LAST),
                       ("by clinic", SOURCES_CLINIC)):
        got = add(rows.values(), ["contacts", "leads", "bookings", "arrivals",
                                  "arrived_new_patients", "revenue", "spend"])
        assert got == {f: SOURCES_TOTAL[f] for f in got}, ("sources " + what, got)
    got = add(OPERATORS.values(), OPERATOR_COUNTS)
    assert got == {f: OPERATORS_TOTAL[f] for f in got}, ("operators", got)
    got = add(DOCTORS.values(), ["arrivals", "no_shows", "plans_proposed", "plans_accepted",
                                 "revenue", "accepted_plans_amount", "nps_answers"])
    assert got == {f: DOCTORS_TOTAL[f] for f in got}, ("doctors", got)
    got = add(REMINDERS_CLINIC.values(), REMINDER_COUNTS)
    assert got == {f: REMINDERS_TOTAL[f] for f in got}, ("reminders", got)
    got = add(RECALL_CLINIC.values(), RECALL_COUNTS)
    assert got == {f: RECALL_TOTAL[f] for f in got}, ("recall", got)
    for key, cell in list(LOAD_CELLS.items()) + [("total", LOAD_TOTAL)]:
        if cell["operators_needed"] is not None:
            erl = erlang_c_agents(cell["calls_per_hour"], cell["mean_talk_s"])
            assert erl == cell["operators_needed"], ("Erlang C by hand", key, erl)


# --- comparing ------------------------------------------------------------------------

def figure_errors(got, want, fields, counts, groups=()):
    """What differs between a row (or totals) and want: exactly the contract's
    fields (and the group columns), counts as integers, the rest numbers within
    1e-9 relative, null where want has None (strings, for the cohorts' month,
    equal)."""
    if not isinstance(got, dict):
        return ["not an object: %r" % (got,)]
    errs = []
    keys = set(fields) | set(groups)
    if set(got) != keys:
        errs.append("members %s, expected %s" % (sorted(got), sorted(keys)))
    for f in fields:
        if f not in got or f not in want:
            continue
        g, w = got[f], want[f]
        if isinstance(w, str):
            ok = g == w
        elif f in counts and w is not None:
            ok = type(g) is int and g == w
        else:
            ok = same_number(g, w)
        if not ok:
            errs.append("%s: got %r, expected %r" % (f, g, w))
    return errs


def sort_key(key):
    """Rows sort by their group values, a null value after the others."""
    return tuple((1, "") if v is None else (0, v) for v in key)


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
        """Until every analytics group has stored, in analytics.consumer_offsets,
        every partition's end of each of its topics (as they are now)."""
        ends = {(g, t): topic_ends(self.broker.bootstrap, t)
                for g, topics in GROUPS.items() for t in topics}
        behind = []

        def reached():
            stored = {(g, t, int(p)): int(o) for g, t, p, o in self.sql(
                "SELECT group_id, topic, partition, next_offset FROM analytics.consumer_offsets")}
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
        for m in self.reader(DLQ).read():
            data = json.loads(m["payload"])["data"]
            if data["group_id"] in GROUPS:
                dead.append("%s %s/%s/%s: %s: %s" % (data["group_id"], data["topic"],
                                                     data["partition"], data["offset"],
                                                     data["reason_code"], data["reason"]))
        assert not dead, "events analytics sent to the DLQ:\n%s" % "\n".join(dead)


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
                D("D3", "13:00:05"), "bz-a2"),
        outcome("s5", "j-a5", "reminder", "bz-x3", N, "call", 1, "busy", D("D4", "11:00"),
                "bz-a5"),
        outcome("s6", "j-a5", "reminder", "bz-x3", N, "call", 2, "no_reply", D("D4", "12:00"),
                "bz-a5", "not_confirmed", duration=9),
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


def test_business_reports(stack):
    check_hand_figures()
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

    check_reports(stack, days)
    check_records(stack, days)
    check_worklist(stack, days, tasks)


class Asker:
    """Asks analytics for a report and compares it with the hand figures; a failure
    names the request, the answer and the analytics rows behind it."""

    def __init__(self, stack, days):
        self.stack, self.days = stack, days

    def fail(self, what, path, params, detail, body, tables):
        dump = "".join("\n  analytics.%s:\n%s" % (t, self.stack.rows_of(t)) for t in tables)
        raise AssertionError("%s\n  GET %s?%s\n  %s\n  answer: %s%s" % (
            what, path, urllib.parse.urlencode(params), detail,
            body[:6000].decode("utf-8", "replace") if isinstance(body, bytes) else body, dump))

    def report(self, name, params, what, tables):
        path = "/v1/reports/" + name
        st, hdrs, body = self.stack.get(path, params)
        if st != 200 or not hdrs.get("content-type", "").startswith("application/json"):
            self.fail(what, path, params, "status %s, content-type %r" % (
                st, hdrs.get("content-type")), body, tables)
        rep = json.loads(body)
        if not (isinstance(rep, dict) and rep.get("report") == name
                and isinstance(rep.get("params"), dict) and isinstance(rep.get("rows"), list)
                and isinstance(rep.get("totals"), dict)):
            self.fail(what, path, params, "not a %s report answer" % name, body, tables)
        return rep, body

    def check(self, name, params, groups, want_rows, want_totals, fields, counts, what,
              tables, ask_groups=True):
        """The JSON answer: the totals, and exactly the rows wanted (a dict of group
        values tuple -> figures), sorted by their group values, nulls last. groups: the
        rows' group columns, asked as group_by unless ask_groups is false (the
        report's own rows: operators, doctors)."""
        params = list(params) + ([("group_by", ",".join(groups))]
                                 if groups and ask_groups else [])
        path = "/v1/reports/" + name
        rep, body = self.report(name, params, what, tables)
        if want_totals is not None:
            errs = figure_errors(rep["totals"], want_totals, fields, counts)
            if errs:
                self.fail(what + ": totals", path, params, "; ".join(errs), body, tables)
        keys = sorted(want_rows, key=sort_key)
        got_keys = [tuple(r.get(g) for g in groups) if isinstance(r, dict) else None
                    for r in rep["rows"]]
        if got_keys != keys:
            self.fail(what + ": rows", path, params, "groups %s, expected %s (in this order)"
                      % (got_keys, keys), body, tables)
        for r, k in zip(rep["rows"], keys):
            errs = figure_errors(r, want_rows[k], fields, counts, groups)
            if errs:
                self.fail("%s: row %s" % (what, k), path, params, "; ".join(errs), body, tables)
        return rep


def check_reports(stack, days):
    ask = Asker(stack, days)
    s = days.s
    week_and_today = [("from", s("D1")), ("to", s("T"))]
    week = [("from", s("D1")), ("to", s("D7"))]
    funnel_tables = ["appointments", "persons", "patient_keys"]

    # Funnel.
    ask.check("funnel", week_and_today, [], {(): FUNNEL_TOTAL}, FUNNEL_TOTAL, FUNNEL_FIELDS,
              FUNNEL_COUNTS, "funnel D1..T", funnel_tables)
    ask.check("funnel", week_and_today, ["clinic"], {(k,): v for k, v in FUNNEL_CLINIC.items()},
              FUNNEL_TOTAL, FUNNEL_FIELDS, FUNNEL_COUNTS, "funnel by clinic", funnel_tables)
    ask.check("funnel", week_and_today, ["day"],
              {(s(k),): v for k, v in FUNNEL_DAY.items()}, FUNNEL_TOTAL, FUNNEL_FIELDS,
              FUNNEL_COUNTS, "funnel by day", funnel_tables)

    # Sources, under both attributions (the default is first_touch).
    src_tables = ["appointments", "persons", "spend"]
    by_source_first = {(k,): v for k, v in SOURCES_FIRST.items()}
    ask.check("sources", week_and_today, ["source"], by_source_first, SOURCES_TOTAL,
              SOURCES_FIELDS, SOURCES_COUNTS, "sources by source (default attribution)",
              src_tables)
    ask.check("sources", week_and_today + [("attribution", "first_touch")], ["source"],
              by_source_first, SOURCES_TOTAL, SOURCES_FIELDS, SOURCES_COUNTS,
              "sources by source, first_touch", src_tables)
    last_params = week_and_today + [("attribution", "last_non_direct")]
    rep = ask.check("sources", last_params, ["source"],
                    {(k,): v for k, v in SOURCES_LAST.items()}, SOURCES_TOTAL, SOURCES_FIELDS,
                    SOURCES_COUNTS, "sources by source, last_non_direct", src_tables)
    check_csv(stack, ask, "sources", last_params + [("group_by", "source")], rep, ["source"])
    ask.check("sources", week_and_today, ["clinic"],
              {(k,): v for k, v in SOURCES_CLINIC.items()}, SOURCES_TOTAL, SOURCES_FIELDS,
              SOURCES_COUNTS, "sources by clinic (network-wide spend split)", src_tables)

    # Operators and doctors (a row each unless grouped otherwise).
    # (no group_by: a row per operator, per doctor, each with its group column)
    ask.check("operators", week_and_today, ["operator"],
              {(k,): v for k, v in OPERATORS.items()}, OPERATORS_TOTAL, OPERATOR_FIELDS,
              OPERATOR_COUNTS, "operators", ["appointments", "calls_hourly"], ask_groups=False)
    ask.check("doctors", week, ["doctor"], {(k,): v for k, v in DOCTORS.items()},
              DOCTORS_TOTAL, DOCTOR_FIELDS, DOCTOR_COUNTS, "doctors",
              ["appointments", "nps_answers"], ask_groups=False)

    # Load: four cells of the week's heatmap, the cells there are, the totals.
    load_params = week + [("group_by", "weekday,hour")]
    rep, body = ask.report("load", load_params, "load by weekday and hour", ["calls_hourly"])
    errs = figure_errors(rep["totals"], LOAD_TOTAL, LOAD_FIELDS, LOAD_COUNTS)
    if errs:
        ask.fail("load: totals", "/v1/reports/load", load_params, "; ".join(errs), body,
                 ["calls_hourly"])
    got = {(r.get("weekday"), r.get("hour")): r for r in rep["rows"]}
    keys = [(r.get("weekday"), r.get("hour")) for r in rep["rows"]]
    want_keys = sorted((days.wd(d), h) for d, h in LOAD_KEYS)
    if keys != want_keys:
        ask.fail("load: rows", "/v1/reports/load", load_params, "cells %s, expected %s" % (
            keys, want_keys), body, ["calls_hourly"])
    for (d, h), want in LOAD_CELLS.items():
        errs = figure_errors(got[(days.wd(d), h)], want, LOAD_FIELDS, LOAD_COUNTS,
                             ("weekday", "hour"))
        if errs:
            ask.fail("load: cell %s %d:00 (weekday %d)" % (d, h, days.wd(d)),
                     "/v1/reports/load", load_params, "; ".join(errs), body, ["calls_hourly"])

    # Reminders and recall.
    rem_tables = ["reminder_outcomes", "appointments"]
    ask.check("reminders", week, [], {(): REMINDERS_TOTAL}, REMINDERS_TOTAL, REMINDER_FIELDS,
              REMINDER_COUNTS, "reminders", rem_tables)
    ask.check("reminders", week, ["clinic"], {(k,): v for k, v in REMINDERS_CLINIC.items()},
              REMINDERS_TOTAL, REMINDER_FIELDS, REMINDER_COUNTS, "reminders by clinic",
              rem_tables)
    rec_tables = ["campaign_members", "reminder_outcomes", "appointments"]
    ask.check("recall", week, ["clinic"], {(k,): v for k, v in RECALL_CLINIC.items()},
              RECALL_TOTAL, RECALL_FIELDS, RECALL_COUNTS, "recall by clinic", rec_tables)
    ask.check("recall", week_and_today, ["campaign"],
              {(k,): v for k, v in RECALL_CAMPAIGN.items()}, RECALL_CAMPAIGN_TOTAL,
              RECALL_FIELDS, RECALL_COUNTS, "recall by campaign", rec_tables)

    # Cohorts: a row per cohort and month since.
    counts = {"months_since", "patients", "returning"}
    for params, want, what in (
            ([("from", "2026-03-01"), ("to", "2026-04-30")], COHORTS, "cohorts Mar-Apr 2026"),
            ([("from", "2026-03-01"), ("to", "2026-04-30"), ("clinic", N)],
             [r for r in COHORTS if r["cohort"] == "2026-04"], "cohorts of demo-north")):
        rep, body = ask.report("cohorts", params, what, ["appointments"])
        got = [(r.get("cohort"), r.get("months_since")) for r in rep["rows"]]
        if got != [(r["cohort"], r["months_since"]) for r in want]:
            ask.fail(what + ": rows", "/v1/reports/cohorts", params, "rows %s" % got, body,
                     ["appointments"])
        for r, w in zip(rep["rows"], want):
            errs = figure_errors(r, w, COHORT_FIELDS, counts)
            if errs:
                ask.fail("%s: %s month %d" % (what, w["cohort"], w["months_since"]),
                         "/v1/reports/cohorts", params, "; ".join(errs), body, ["appointments"])
    # the totals of the selection: 3 patients (q1 q2 q3), everything they paid:
    # 4200 + 1900 = 6100, 6100/3 each
    rep, body = ask.report("cohorts", [("from", "2026-03-01"), ("to", "2026-04-30")],
                           "cohorts' totals", [])
    t = rep["totals"]
    if not (t.get("patients") == 3 and type(t.get("patients")) is int
            and same_number(t.get("revenue_cumulative"), 6100)
            and same_number(t.get("revenue_per_patient"), 6100 / 3)):
        ask.fail("cohorts' totals", "/v1/reports/cohorts", [], "totals %s" % t, body,
                 ["appointments"])


def check_csv(stack, ask, name, params, rep, groups):
    """The CSV answer is the JSON's rows: a header of the group names then the
    fields (in the JSON row's order), a line per row in the same order, an empty
    cell for null, numbers equal."""
    path = "/v1/reports/" + name
    st, hdrs, body = stack.get(path, list(params) + [("format", "csv")])
    if st != 200 or not hdrs.get("content-type", "").startswith("text/csv"):
        ask.fail("CSV", path, params, "status %s, content-type %r" % (
            st, hdrs.get("content-type")), body, [])
    table = list(csv.reader(io.StringIO(body.decode("utf-8"))))
    rows = rep["rows"]
    errs = []
    header = list(groups) + [k for k in rows[0] if k not in groups]
    if not table or table[0] != header:
        errs.append("header %s, expected %s" % (table[:1], header))
    elif len(table) - 1 != len(rows):
        errs.append("%d lines, %d JSON rows" % (len(table) - 1, len(rows)))
    else:
        for i, (cells, row) in enumerate(zip(table[1:], rows)):
            for col, cell in zip(header, cells):
                want = row[col]
                ok = csv_cell_matches(cell, want)
                if not ok:
                    errs.append("line %d, %s: CSV %r, JSON %r" % (i + 1, col, cell, want))
    if errs:
        ask.fail("CSV against JSON", path, list(params) + [("format", "csv")],
                 "; ".join(errs[:10]), body, [])


def check_records(stack, days):
    """GET /v1/records/appointments?doctor=...: that doctor's visits starting in the
    range, in start order, a page at a time."""
    ask = Asker(stack, days)
    base = [("from", days.s("D1")), ("to", days.s("D7"))]

    def page(params):
        st, _, body = stack.get("/v1/records/appointments", params)
        if st != 200:
            ask.fail("records", "/v1/records/appointments", params, "status %s" % st, body,
                     ["appointments"])
        got = json.loads(body)
        if set(got) != {"records", "next_cursor"}:
            ask.fail("records: members", "/v1/records/appointments", params, sorted(got), body,
                     [])
        return got, body

    def check_page(params, want, last, what):
        got, body = page(params)
        ids = [r.get("appointment_id") for r in got["records"]]
        if ids != [appointment_uuid(m) for m, _, _ in want]:
            ask.fail(what, "/v1/records/appointments", params, "appointments %s, expected %s"
                     % (ids, [m for m, _, _ in want]), body, ["appointments"])
        for r, (mis, status, start) in zip(got["records"], want):
            starts = r.get("starts_at")
            same = isinstance(starts, str) and datetime.fromisoformat(
                starts.replace("Z", "+00:00")) == start
            if r.get("status") != status or not same:
                ask.fail(what, "/v1/records/appointments", params, "%s: %s" % (mis, r), body,
                         ["appointments"])
        if last != (got["next_cursor"] is None):
            ask.fail(what, "/v1/records/appointments", params, "next_cursor %r" % (
                got["next_cursor"],), body, [])
        return got["next_cursor"]

    D = days.at
    # dr-ivanova's visits of D1..D7: A1 (D2 14:00), A2 (D4 12:00), A9 (D7 09:00),
    # AR5 (D7 12:00), AR2 (D7 17:00): pages of 2, 2, 1.
    ivanova = [("bz-a1", "completed", D("D2", "14:00")), ("bz-a2", "arrived", D("D4", "12:00")),
               ("bz-a9", "no_show", D("D7", "09:00")), ("bz-ar5", "booked", D("D7", "12:00")),
               ("bz-ar2", "booked", D("D7", "17:00"))]
    params = base + [("doctor", IVANOVA), ("limit", "2")]
    cursor = check_page(params, ivanova[0:2], False, "dr-ivanova's visits, page 1")
    cursor = check_page(params + [("cursor", cursor)], ivanova[2:4], False,
                        "dr-ivanova's visits, page 2")
    check_page(params + [("cursor", cursor)], ivanova[4:], True, "dr-ivanova's visits, page 3")
    # dr-petrov's: A6 (D5 15:00), AR1 (D6 09:00), A3 (D6 12:00), A7 (D7 10:00, where it
    # was moved); not A8, whose version 1 (consumed last) named him.
    check_page(base + [("doctor", PETROV)],
               [("bz-a6", "cancelled", D("D5", "15:00")), ("bz-ar1", "arrived", D("D6", "09:00")),
                ("bz-a3", "no_show", D("D6", "12:00")), ("bz-a7", "completed", D("D7", "10:00"))],
               True, "dr-petrov's visits")


def check_worklist(stack, days, tasks):
    """GET /v1/worklist: the open tasks, the overdue first, oldest due time first."""
    ask = Asker(stack, days)

    def worklist(params, want, what):
        before = time.time()
        st, _, body = stack.get("/v1/worklist", params)
        after = time.time()
        if st != 200:
            ask.fail(what, "/v1/worklist", params, "status %s" % st, body, ["tasks"])
        got = json.loads(body)["tasks"]
        ids = [t.get("task_id") for t in got]
        if ids != [tasks[n]["task_id"] for n in want]:
            names = {t["task_id"]: n for n, t in tasks.items()}
            ask.fail(what, "/v1/worklist", params, "tasks %s, expected %s" % (
                [names.get(i, i) for i in ids], want), body, ["tasks"])
        for t, n in zip(got, want):
            due = datetime.fromisoformat(tasks[n]["due_at"].replace("Z", "+00:00")).timestamp()
            overdue = due < before
            lo, hi = (before - due - 1, after - due + 1) if overdue else (0, 0)
            secs = t.get("overdue_seconds")
            if (t.get("sla") != ("overdue" if overdue else "due") or t.get("kind") !=
                    tasks[n]["kind"] or type(secs) is not int or not lo <= secs <= hi):
                ask.fail("%s: %s" % (what, n), "/v1/worklist", params,
                         "%s (overdue_seconds expected in [%d, %d])" % (t, lo, hi), body, [])

    # T2 (due D3 09:40), T4 (D5 10:00), T5 (D6 10:10) overdue; T3 due in two hours;
    # T1 is closed.
    worklist([], ["T2", "T4", "T5", "T3"], "the worklist")
    worklist([("clinic", N)], ["T4", "T5"], "demo-north's worklist")


if __name__ == "__main__":
    cfstack.run_on_stack(BizStack, [test_business_reports])
