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
import re
import time
import urllib.parse
from datetime import date, datetime, timedelta

import cfstack
from business_scenario import (ANNA_OP, BORIS_OP, C, IVANOVA, N, PETROV, SIDOROVA, BizStack,
                               appointment_uuid, feed)
from common import csv_cell_matches, same_number

# The scenario (people, calls, leads, appointments, spend, reminders, tasks) is
# written out in business_scenario.py; the figures below are computed from it.

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
#    without an operator (A9 AR1 AR2 AR5 and 8 cohort visits) are nobody's: 0
#  totals: 11 handled, 10 inbound answered, 1 outbound, 1955 s, 1955/11; 8 bookings, 8/11
OPERATORS = {ANNA_OP: operator(2, 1, 1, 180, 4),
             BORIS_OP: operator(9, 9, 0, 1775, 4),
             None: operator(0, 0, 0, 0, 0)}
OPERATORS_TOTAL = operator(11, 10, 1, 1955, 8)

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
#  sent: every send but s9 (skipped): s1 s2 s3 s4 s5 s6 s7 s8 s10 s11 s12 = 11 (s3's
#    two outcomes are one send); calls 9, sms s3 s12 = 2
#  not_reached: the calls s2 (no_answer) s5 (busy) s6 (no_reply) = 3 (s12, an SMS the
#    gateway refused, is none)
#  statuses: confirmed s1 s4 s7 = 3, declined s11, reschedule_requested s8, not_confirmed
#    s6; opt_outs s10
#  SMS: s3's 2 segments, 700 kopecks = 7.00; per confirmation 7/3
#  reminded visits starting in the range (a send that went out), by their last status:
#    confirmed: A1 completed, A3 no_show -> 2, show 1/2
#    not confirmed: A2 arrived (no status), A4 completed (opted out), A5 arrived
#    (not_confirmed), A9 no_show (confirmed on D6, declined on D7: last declined) -> 4,
#    show 3/4. (A6 was cancelled; A8's only send was skipped: not reminded.)
REMINDERS_TOTAL = reminders(11, 9, 2, 3, 3, 1, 1, 1, 1, 2, 7.0, 1, 1, 3, 1)
# group_by=clinic:
#  C: s1 s2 s3 s4 s7 s8 s11 = 7 sent, 6 calls, 1 sms; not reached s2; confirmed 3,
#     declined 1, reschedule 1; SMS 2 segments 7.00; visits A1 (conf, came), A3 (conf,
#     no), A2 (came), A9 (no)
#  N: s5 s6 s10 s12 = 4 sent: 3 calls (s9 skipped), 1 sms; not reached s5 s6;
#     not_confirmed s6, opt-out s10;
#     no SMS; no confirmation: no cost per one; visits A4 A5 came, unconfirmed
REMINDERS_CLINIC = {C: reminders(7, 6, 1, 1, 3, 1, 1, 0, 0, 2, 7.0, 1, 1, 1, 1),
                    N: reminders(4, 3, 1, 2, 0, 0, 0, 1, 1, 0, 0.0, 0, 0, 2, 0)}
# group_by=day, sends by the day they went out: D1 s1, D2 s10, D3 s2 s3, D4 s5 s6 s8 s12
#  (s3's delivery that morning is no send), D5 s4 (s9 skipped), D6 s7, D7 s11
REMINDERS_SENT_DAY = {"D1": 1, "D2": 1, "D3": 2, "D4": 4, "D5": 1, "D6": 1, "D7": 1}

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
    assert sum(REMINDERS_SENT_DAY.values()) == REMINDERS_TOTAL["sent"]
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


def test_business_reports(stack):
    check_hand_figures()
    days, tasks = feed(stack)

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
    by_day = week + [("group_by", "day")]
    rep, body = ask.report("reminders", by_day, "reminders by day", rem_tables)
    sent = {r["day"]: r["sent"] for r in rep["rows"] if r["sent"]}
    want = {s(d): n for d, n in REMINDERS_SENT_DAY.items()}
    if sent != want or rep["totals"]["sent"] != REMINDERS_TOTAL["sent"]:
        ask.fail("reminders by day: sends by the day they went out", "/v1/reports/reminders",
                 by_day, "sent %s (totals %s), expected %s (totals %s)" % (
                     sent, rep["totals"]["sent"], want, REMINDERS_TOTAL["sent"]), body,
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
        # a cohort's patients: their first visits, in its month (and clinic)
        for w in want:
            if w["months_since"]:
                continue
            y, m = map(int, w["cohort"].split("-"))
            last = (date(y + m // 12, m % 12 + 1, 1) - timedelta(days=1)).isoformat()
            # asked with the month's bounds, or with the report's own range
            # (the range picks whole months: a month it touches is all in)
            for start, end in ((w["cohort"] + "-01", last), (last, last),
                               ("2026-03-01", "2026-04-30")):
                rparams = [("from", start), ("to", end), ("month", w["cohort"]),
                           ("only", "first_arrival")] + [p for p in params if p[0] == "clinic"]
                st, _, rbody = stack.get("/v1/records/appointments", rparams)
                n = len(json.loads(rbody)["records"]) if st == 200 else None
                if n != w["patients"]:
                    ask.fail("%s: %s's patients" % (what, w["cohort"]),
                             "/v1/records/appointments", rparams,
                             "%s records, the report %s" % (n, w["patients"]), rbody,
                             ["appointments"])
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
    # one figure's records: "only" narrows the row's records to what it counts
    check_page(base + [("doctor", PETROV), ("only", "arrived")],
               [("bz-ar1", "arrived", D("D6", "09:00")), ("bz-a7", "completed", D("D7", "10:00"))],
               True, "dr-petrov's arrivals")
    check_page(base + [("doctor", PETROV), ("only", "no_show")],
               [("bz-a3", "no_show", D("D6", "12:00"))], True, "dr-petrov's no-shows")
    st, _, body = stack.get("/v1/records/appointments", base + [("only", "missed")])
    err = json.loads(body)["error"] if st == 400 else {}
    if err.get("field") != "only" or "no_show" not in err.get("message", ""):
        ask.fail("an unknown only", "/v1/records/appointments", base + [("only", "missed")],
                 "status %s" % st, body, [])
    # and as many records as the report's figure, for every narrowing the
    # calls and leads pages link
    for kind, report, pairs in (
            ("calls", "calls", (("inbound", "inbound"), ("outbound", "outbound"),
                                ("answered", "answered"), ("missed", "missed"),
                                ("unique", "unique"), ("targeted", "targeted"),
                                ("call_center", "answered_call_center"),
                                ("reception", "answered_reception"))),
            ("calls", "operators", (("handled", "calls_handled"), ("answered", "inbound_answered"),
                                    ("outbound", "outbound"))),
            ("bookings", "operators", (("operator_booked", "bookings"),)),
            ("tasks", "calls", (("callback", "callback_tasks"), ("callback_closed", "called_back"),
                                ("callback_on_time", "called_back_on_time"),
                                ("callback_expired", "lost"))),
            ("leads", "leads", (("unanswered", "unanswered"), ("responded", "responded"),
                                ("sla_breached", "sla_breaches"), ("booked", "booked"))),
            ("contacts", "funnel", ((None, "contacts"), ("unique", "unique_contacts"))),
            ("persons", "funnel", (("new", "new_persons"), ("new_booked", "new_persons_booked"))),
            ("nps", "doctors", ((None, "nps_answers"),)),
            ("members", "recall", ((None, "members"), ("target", "target"), ("holdout", "holdout"),
                                   ("contacted", "contacted"), ("agreed", "agreed"),
                                   ("opt_outs", "opt_outs"), ("booked_target", "booked_target"),
                                   ("booked_holdout", "booked_holdout"),
                                   ("arrived_target", "arrived_target"))),
            ("reminders", "reminders", (("sent", "sent"), ("calls", "calls"), ("sms", "sms"),
                                        ("not_reached", "not_reached"),
                                        ("confirmed", "confirmed"), ("declined", "declined"),
                                        ("reschedule_requested", "reschedule_requested"),
                                        ("not_confirmed", "not_confirmed"),
                                        ("opt_outs", "opt_outs"))),
            ("appointments", "reminders", (("reminded_confirmed", "confirmed_visits"),
                                           ("reminded_unconfirmed", "unconfirmed_visits"))),
            ("appointments", "funnel", (("arrived", "arrivals"), ("no_show", "no_shows"),
                                        ("cancelled", "cancellations"), ("plan", "plans_proposed"),
                                        ("plan_accepted", "plans_accepted"),
                                        ("repeat", "repeat_visits")))):
        st, _, body = stack.get("/v1/reports/" + report, base)
        totals = json.loads(body)["totals"]
        if not any(totals[field] for _, field in pairs):
            ask.fail("the scenario's %s figures" % kind, "/v1/reports/" + report, base,
                     "all zero: nothing to compare records with", body, [])
        for only, field in pairs:
            params = base + ([("only", only)] if only else []) + [("limit", "1000")]
            st, _, body = stack.get("/v1/records/" + kind, params)
            n = len(json.loads(body)["records"]) if st == 200 else None
            if n != totals[field]:
                ask.fail("%s only=%s against the %s report's %s" % (kind, only, report, field),
                         "/v1/records/" + kind, params, "%s records, the report %s" % (
                             n, totals[field]), body, [kind])
    # what a share is taken over: the show rate's visits, the call centre's
    # share's answered calls
    for kind, only, report, fields in (
            ("appointments", "arrived_or_no_show", "funnel", ("arrivals", "no_shows")),
            ("calls", "answered_grouped", "calls", ("answered_call_center",
                                                    "answered_reception"))):
        st, _, body = stack.get("/v1/reports/" + report, base)
        want = sum(json.loads(body)["totals"][f] for f in fields)
        params = base + [("only", only), ("limit", "1000")]
        st, _, body = stack.get("/v1/records/" + kind, params)
        n = len(json.loads(body)["records"]) if st == 200 else None
        if not want or n != want:
            ask.fail("%s only=%s against the %s report's %s" % (kind, only, report,
                                                                " + ".join(fields)),
                     "/v1/records/" + kind, params, "%s records, the report %s" % (n, want),
                     body, [kind])
    # the SMS figures: the charged events add up to the report's segments
    # and cost
    st, _, body = stack.get("/v1/reports/reminders", base)
    totals = json.loads(body)["totals"]
    params = base + [("only", "sms_charged"), ("limit", "1000")]
    st, _, body = stack.get("/v1/records/reminders", params)
    recs = json.loads(body)["records"] if st == 200 else []
    got = (sum(r["sms_segments"] or 0 for r in recs), sum(float(r["sms_cost"] or 0) for r in recs))
    if not totals["sms_segments"] or got != (totals["sms_segments"], totals["sms_cost"]):
        ask.fail("reminders only=sms_charged against the reminders report's SMS segments and"
                 " cost", "/v1/records/reminders", params, "records %s, the report %s" % (
                     got, (totals["sms_segments"], totals["sms_cost"])), body, ["reminders"])
    # the calls report's callback tasks of each source (none: the row
    # without one), by their missed calls' sources kept on the tasks
    st, _, body = stack.get("/v1/reports/calls", base + [("group_by", "source")])
    rows = json.loads(body)["rows"]
    if not any(r["callback_tasks"] and r["source"] for r in rows):
        ask.fail("the scenario's callback tasks by source", "/v1/reports/calls", base,
                 "none with a source", body, ["tasks"])
    for row in rows:
        for only, field in (("callback", "callback_tasks"), ("callback_closed", "called_back")):
            params = base + [("source", row["source"] or ""), ("only", only), ("limit", "1000")]
            st, _, body = stack.get("/v1/records/tasks", params)
            recs = json.loads(body)["records"] if st == 200 else None
            if recs is None or len(recs) != row[field] or any(
                    r["source"] != row["source"] for r in recs):
                ask.fail("tasks only=%s of source %s against the calls report's %s" % (
                    only, row["source"], field), "/v1/records/tasks", params,
                    "%s records, the report %s" % (None if recs is None else len(recs),
                                                   row[field]), body, ["tasks"])
    # the sources page's contacts and unique contacts of each source (none:
    # the row without one), and each day's unique contacts (the people
    # counted once a day, a person of two days in both)
    for group, field_of in (("source", lambda r: [("source", r["source"] or "")]),
                            ("day", lambda r: [("day", r["day"])])):
        report = "sources" if group == "source" else "funnel"
        st, _, body = stack.get("/v1/reports/" + report, base + [("group_by", group)])
        rows = json.loads(body)["rows"]
        if len(rows) < 2:
            ask.fail("the scenario's %s rows" % group, "/v1/reports/" + report, base, "one row",
                     body, [])
        for row in rows:
            for only, field in ((None, "contacts"), ("unique", "unique_contacts")):
                if group == "day" and only is None:
                    continue
                params = base + field_of(row) + ([("only", only)] if only else []) + [
                    ("limit", "1000")]
                st, _, body = stack.get("/v1/records/contacts", params)
                n = len(json.loads(body)["records"]) if st == 200 else None
                if n != row[field]:
                    ask.fail("%s of %s %r" % (field, group, row[group]), "/v1/records/contacts",
                             params, "%s records, the report %s" % (n, row[field]), body,
                             ["calls", "leads"])
    # each source's bookings, arrivals, arrived new patients and revenue under
    # either attribution: the appointments whose person counts under it
    for attribution in ("first_touch", "last_non_direct"):
        st, _, body = stack.get("/v1/reports/sources", base + [
            ("group_by", "source"), ("attribution", attribution)])
        rows = json.loads(body)["rows"]
        if not any(r["bookings"] for r in rows) or not any(r["revenue"] for r in rows):
            ask.fail("the scenario's attributed bookings", "/v1/reports/sources", base,
                     "no bookings or no revenue: nothing to compare records with", body, [])
        for row in rows:
            for kind, only, field in (("attributed_bookings", None, "bookings"),
                                      ("attributed_visits", "arrived", "arrivals"),
                                      ("attributed_visits", "arrived_new",
                                       "arrived_new_patients"),
                                      ("attributed_visits", "arrived", "revenue")):
                params = base + [("source", row["source"] or ""), ("attribution", attribution),
                                 ("limit", "1000")] + ([("only", only)] if only else [])
                st, _, body = stack.get("/v1/records/" + kind, params)
                recs = json.loads(body)["records"] if st == 200 else None
                got = None if recs is None else (
                    sum(float(r["amount_paid"]) for r in recs) if field == "revenue"
                    else len(recs))
                if got is None or abs(got - row[field]) > 1e-6:
                    ask.fail("%s of source %r (%s)" % (field, row["source"], attribution),
                             "/v1/records/" + kind, params, "records %s, the report %s" % (
                                 got, row[field]), body, ["appointments"])
    # each source's spend: its rows, network-wide ones whole (no clinic asked)
    st, _, body = stack.get("/v1/reports/sources", base + [("group_by", "source")])
    rows = json.loads(body)["rows"]
    if not any(r["spend"] for r in rows):
        ask.fail("the scenario's spend", "/v1/reports/sources", base, "no spend", body, [])
    for row in rows:
        params = base + [("source", row["source"] or ""), ("limit", "1000")]
        st, _, body = stack.get("/v1/records/spend", params)
        got = sum(float(r["amount"]) for r in json.loads(body)["records"]) if st == 200 else None
        if got is None or abs(got - row["spend"]) > 1e-6:
            ask.fail("spend of source %r" % row["source"], "/v1/records/spend", params,
                     "records %s, the report %s" % (got, row["spend"]), body, ["spend"])
    # the records without a clinic (clinic= empty): the network-wide spend
    # rows, whole (yandex_direct D1 3000 and D2 2000, prodoctorov D5 900,
    # google D7 500: 6400), which the sources report splits among clinics
    params = base + [("clinic", ""), ("limit", "1000")]
    st, _, body = stack.get("/v1/records/spend", params)
    recs = json.loads(body)["records"] if st == 200 else []
    got = sum(float(r["amount"]) for r in recs)
    if st != 200 or got != 6400 or any(r["clinic_id"] is not None for r in recs):
        ask.fail("spend without a clinic", "/v1/records/spend", params,
                 "records %s, the scenario's network-wide spend 6400" % got, body, ["spend"])
    # money as it was written, 1234.56, not a double's 17 digits (1234.5599999999999);
    # on a day none of the reports above reaches
    st, raw = stack.ingest("PUT", "/v1/spend", json.dumps(
        {"day": "2020-01-06", "source": "precision", "amount": 1234.56, "currency": "RUB"}),
        "application/json")
    assert st == 200, (st, raw)
    params = [("from", "2020-01-06"), ("to", "2020-01-06"), ("source", "precision")]
    st, _, body = stack.get("/v1/records/spend", params)
    assert st == 200 and re.search(rb'"amount":1234\.56[,}]', body), (st, body)


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
    worklist([("limit", "2")], ["T2", "T4"], "the worklist's first two")
    # the counts are of every open task asked for, whatever the limit
    for params, open_, overdue in (([("limit", "2")], ["T2", "T4", "T5", "T3"], 3),
                                   ([("clinic", N), ("limit", "1")], ["T4", "T5"], 2)):
        want = {"open": len(open_), "overdue": overdue}
        for kind in ("callback", "respond", "reminder"):
            want[kind] = sum(1 for n in open_ if tasks[n]["kind"] == kind)
        st, _, body = stack.get("/v1/worklist", params)
        got = json.loads(body).get("totals") if st == 200 else None
        if got != want:
            ask.fail("the worklist's counts", "/v1/worklist", params,
                     "totals %s, expected %s" % (got, want), body, ["tasks"])


if __name__ == "__main__":
    cfstack.run_on_stack(BizStack, [test_business_reports])
