"""One person, several keys (proto/README.md, "Leads and calls, one
person"): a lead that began in Telegram is keyed by the Telegram account
until the person shares a phone; its lead.merged then names the phone's
key as the lead's contact_key, with the account's among its contact_keys.
Analytics counts that person once, under the phone's key, with the first
touch the Telegram message made: their calls, their later Telegram leads
(which the leads service keys by the account alone), the bookings of the
patient with that phone and those naming any of their leads go under the
source that first brought them.

Two people, each taking one of the two orders in which analytics can learn
of an alias:
- A writes in Telegram from a VK ad and shares their phone in the same
  chat; then they call from the site's number, write again in Telegram
  from a Google ad days later, and a patient with their phone is booked
  and comes. The alias is stored before A's later lead is read.
- B's later Telegram lead (no ad) is stored first, under the account's
  key; then B's first lead (a Yandex ad) and the merge that brings B's
  phone are read: what was stored under the account moves to the phone.
  B's booking names the later lead.

Every figure below is counted by hand from these events, which this test
produces on analytics' topics as the leads, calls and reminders services
would."""
import json
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

import cfstack
from common import (CALLS, NET, Stack, call_event, cf_uuid5, contact_key, iso, produce_many,
                    simple_call, wait_groups_consumed)

MSK = ZoneInfo("Europe/Moscow")  # the demo network's zone
LEADS = "clinicflow.leads.v1"
PATIENTS = "clinicflow.patients.v1"
APPTS = "clinicflow.appointments.v1"
GROUPS = {"clinicflow-analytics-calls": (CALLS,),
          "clinicflow-analytics-leads": (LEADS,),
          "clinicflow-analytics-mis": (APPTS, PATIENTS)}
CLINIC = "demo-center"
RANGE = {"from": "2026-11-02", "to": "2026-11-08"}

PHONE_A, PHONE_B = "+79163330001", "+79163330002"
TG_A, TG_B = "7770001", "7770002"
P_A, P_B = contact_key(PHONE_A), contact_key(PHONE_B)
M_A, M_B = contact_key("telegram:" + TG_A), contact_key("telegram:" + TG_B)
VK = {"utm_source": "vk", "utm_medium": "cpc"}
GOOGLE = {"utm_source": "google", "utm_medium": "cpc"}
YANDEX = {"utm_source": "yandex_direct", "utm_medium": "cpc"}


def at(day, hm):
    h, m = (int(x) for x in hm.split(":"))
    return datetime(2026, 11, day, h, m, tzinfo=MSK)


def lead_id(name):
    return cf_uuid5(NET, "test-person-keys", "lead", name)


def envelope(etype, subject, when, data, event_id):
    return {"specversion": "1.0", "id": event_id, "source": "/clinicflow/leads/fold",
            "type": "clinicflow." + etype, "subject": subject, "time": iso(when),
            "datacontenttype": "application/json", "networkid": NET, "clinicid": CLINIC,
            "data": data}


def received(name, tg_user, when, tags=None):
    """A Telegram lead as it opened: keyed by the account alone."""
    d = {"lead_id": lead_id(name), "clinic_id": CLINIC, "provider": "telegram",
         "channel": "demo-telegram",
         "contact": {"name": "Person " + name, "user_id": tg_user},
         "contact_key": contact_key("telegram:" + tg_user),
         "contact_keys": {"messenger": contact_key("telegram:" + tg_user)},
         "text": "Хочу записаться", "attribution": "tags" if tags else "none",
         "received_at": iso(when), "patient_class": "new", "status": "open"}
    if tags:
        d["tags"] = tags
    return envelope("lead.received", d["lead_id"], when, d,
                    cf_uuid5(d["lead_id"], "lead.received"))


def merged(name, tg_user, phone, when):
    """The lead's second message: the person shares their phone."""
    d = {"lead_id": lead_id(name), "merged_at": iso(when), "provider": "telegram",
         "channel": "demo-telegram", "messages": 2, "contact_key": contact_key(phone),
         "contact_keys": {"phone": contact_key(phone),
                          "messenger": contact_key("telegram:" + tg_user)}}
    return envelope("lead.merged", d["lead_id"], when, d, cf_uuid5(d["lead_id"], "lead.merged"))


def patient(mis, phone):
    pid = cf_uuid5(NET, "mis", "patient", mis)
    d = {"patient_id": pid, "mis_id": mis, "version": 1, "clinic_id": CLINIC,
         "phones": [phone], "contact_keys": [contact_key(phone)],
         "consents": {"calls": True, "sms": True, "messengers": False}}
    ev = envelope("patient.upserted", pid, at(2, "08:00"), d,
                  cf_uuid5(NET, "mis", "patient", mis, "1"))
    ev["source"] = "/clinicflow/reminders/mis/api"
    return ev


def appointment(mis, patient_mis, booked, starts, status, paid=None, lead=None):
    aid = cf_uuid5(NET, "mis", "appointment", mis)
    d = {"appointment_id": aid, "mis_id": mis, "version": 1,
         "patient_id": cf_uuid5(NET, "mis", "patient", patient_mis),
         "mis_patient_id": patient_mis, "clinic_id": CLINIC, "doctor_id": "dr-ivanova",
         "starts_at": iso(starts), "ends_at": iso(starts.replace(hour=starts.hour + 1)),
         "status": status, "booking_source": "lead" if lead else "online"}
    if paid is not None:
        d["amount_paid"] = paid
    if lead:
        d["lead_id"] = lead
    ev = envelope("appointment.upserted", aid, booked, d,
                  cf_uuid5(NET, "mis", "appointment", mis, "1"))
    ev["source"] = "/clinicflow/reminders/mis/api"
    return ev


def report(stack, name, **params):
    q = dict(RANGE, **params)
    st, _, body = cfstack.http(
        "GET", stack.analytics.url("/v1/reports/%s?%s" % (name, urllib.parse.urlencode(q))),
        headers={"Authorization": "Bearer " + stack.keys["read"]})
    assert st == 200, (name, q, st, body[:1000])
    return json.loads(body)


def aliases(stack):
    """{alias: person key} of analytics.person_keys."""
    return dict(cfstack.psql(stack.dsn, "SELECT contact_key, person_key FROM"
                             " analytics.person_keys WHERE network_id = '%s'" % NET))


def persons(stack):
    """{person key: (first touch's Moscow time, first source, last source)}."""
    return {r[0]: tuple(r[1:]) for r in cfstack.psql(
        stack.dsn, "SELECT contact_key, first_at AT TIME ZONE 'Europe/Moscow', first_source,"
        " last_source FROM analytics.persons WHERE network_id = '%s'" % NET)}


def lead_keys(stack):
    """{lead id: the key its person is counted under}."""
    return dict(cfstack.psql(stack.dsn, "SELECT lead_id, contact_key FROM analytics.leads"))


def by_source(rep):
    return {r["source"] or "": r for r in rep["rows"]}


def test_one_person_under_their_phone(stack):
    stack.start_analytics()
    # 1. A's first lead and the merge that brings A's phone, in one partition's
    #    order; B's later lead alone, keyed by B's account.
    produce_many(stack.broker.bootstrap, LEADS, [
        received("A1", TG_A, at(2, "10:00"), VK),
        merged("A1", TG_A, PHONE_A, at(2, "10:05")),
        received("B2", TG_B, at(5, "15:00")),
    ])
    wait_groups_consumed(stack, GROUPS)
    keys = aliases(stack)
    assert keys == {M_A: P_A}, keys

    # 2. A's call and later Telegram lead, B's first lead and its merge (after
    #    B's later lead was stored under the account), the patients and their
    #    visits.
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", simple_call(
        NET, CLINIC, "pk-a", at(3, "09:00"), talk=60, phone=PHONE_A, source="site"))])
    produce_many(stack.broker.bootstrap, LEADS, [
        received("A2", TG_A, at(4, "12:00"), GOOGLE),
        received("B1", TG_B, at(2, "11:00"), YANDEX),
        merged("B1", TG_B, PHONE_B, at(2, "11:10")),
    ])
    produce_many(stack.broker.bootstrap, PATIENTS,
                 [patient("pk-pa", PHONE_A), patient("pk-pb", PHONE_B)])
    produce_many(stack.broker.bootstrap, APPTS, [
        # A's: found through the patient's phone
        appointment("pk-aa", "pk-pa", at(5, "10:00"), at(6, "10:00"), "arrived", paid=3000),
        # B's: it names B's later lead
        appointment("pk-ab", "pk-pb", at(5, "16:00"), at(7, "10:00"), "booked",
                    lead=lead_id("B2")),
    ])
    wait_groups_consumed(stack, GROUPS)

    # The store: two people, each under their phone's key, with the first
    # touch that brought them and their last one with a source.
    keys = aliases(stack)
    assert keys == {M_A: P_A, M_B: P_B}, keys
    people = persons(stack)
    assert people == {P_A: ("2026-11-02 10:00:00", "vk", "google"),
                      P_B: ("2026-11-02 11:00:00", "yandex_direct", "yandex_direct")}, people
    leads = lead_keys(stack)
    assert leads == {lead_id("A1"): P_A, lead_id("A2"): P_A, lead_id("B1"): P_B,
                     lead_id("B2"): P_B}, leads

    # The funnel: five contacts, two people, both new and booked within 14 days.
    t = report(stack, "funnel")["totals"]
    got = {k: t[k] for k in ("contacts", "unique_contacts", "new_persons", "new_persons_booked",
                             "bookings", "arrivals")}
    assert got == {"contacts": 5, "unique_contacts": 2, "new_persons": 2,
                   "new_persons_booked": 2, "bookings": 2, "arrivals": 1}, t

    # Sources: each contact under its own source, each person once per source
    # they came by, the bookings under the person's first touch ...
    want = {  # contacts, unique_contacts, leads, bookings, arrivals, revenue
        "vk": (1, 1, 1, 1, 1, 3000), "google": (1, 1, 1, 0, 0, 0),
        "yandex_direct": (1, 1, 1, 1, 0, 0), "site": (1, 1, 0, 0, 0, 0), "": (1, 1, 1, 0, 0, 0)}
    fields = ("contacts", "unique_contacts", "leads", "bookings", "arrivals", "revenue")

    def figures(rep):
        return {s: tuple(int(r[f]) for f in fields) for s, r in by_source(rep).items()}
    rep = report(stack, "sources", group_by="source")
    assert figures(rep) == want, rep["rows"]
    # ... or their last touch with a source: A's Google lead
    want["vk"], want["google"] = (1, 1, 1, 0, 0, 0), (1, 1, 1, 1, 1, 3000)
    rep = report(stack, "sources", group_by="source", attribution="last_non_direct")
    assert figures(rep) == want, rep["rows"]

    # leads.v1 read again from its start, as services/analytics/README.md
    # tells an upgrade to do: nothing counts twice, nothing moves
    stack.stop(stack.analytics)
    cfstack.psql(stack.dsn, "BEGIN; UPDATE analytics.consumer_offsets SET next_offset = 0"
                 " WHERE group_id = 'clinicflow-analytics-leads'; DELETE FROM"
                 " analytics.applied_events WHERE group_id = 'clinicflow-analytics-leads';"
                 " COMMIT")
    stack.start_analytics()
    wait_groups_consumed(stack, GROUPS)
    assert aliases(stack) == keys
    assert persons(stack) == people
    assert lead_keys(stack) == leads
    t = report(stack, "funnel")["totals"]
    assert {k: t[k] for k in got} == got, t
    assert figures(report(stack, "sources", group_by="source",
                          attribution="last_non_direct")) == want


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_one_person_under_their_phone])
