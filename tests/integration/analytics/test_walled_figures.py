"""A key limited to some clinics learns nothing of the others, not even
through figures that follow a patient from clinic to clinic
(proto/README.md, "Analytics reports": "Cohorts", "Reminders and recall").

Two patients of the demo network (demo-center C, demo-north N), produced
on analytics' topics as the reminders service would:
- w1 first came to C on 2026-03-10 (paid 1000), then to N on 2026-04-20
  (500), then to C on 2026-05-05 (300);
- w2 became a member of C's recall on 2026-11-20 09:00 (target), then
  booked a visit at N the same day (arrived on 2026-11-23, paid 700).

Asked by a read key of the whole network with clinic=C, the figures follow
the patient anywhere (the documented rule); asked by a key limited to C,
only what happened at C counts. By hand:
- cohorts 2026-03 (w1, one patient), by the whole network's key: month 0
  1000; month 1 (April, at N) 1 returning, 1500; month 2 (May, at C) 1
  returning, 1800. By C's key: month 0 1000; month 1 0 returning, 1000;
  month 2 1 returning, 1300.
- recall, 2026-11-20: one member (target), by the whole network's key:
  booked_target 1, arrived_target 1, revenue_target 700; by C's key: 0, 0,
  0 (its booking was at N). The member records behind booked_target and
  arrived_target: the member for the first key, none for C's.
- the funnel's new person booked (w3, test_a_limited_key_learns_of_no_
  booking_elsewhere).
"""
import json
import urllib.parse
from datetime import datetime
from zoneinfo import ZoneInfo

import cfstack
from common import (CALLS, NET, Stack, call_event, cf_uuid5, contact_key, iso, produce_many,
                    simple_call, wait_groups_consumed)

MSK = ZoneInfo("Europe/Moscow")  # the demo network's zone
PATIENTS = "clinicflow.patients.v1"
APPTS = "clinicflow.appointments.v1"
OUTCOMES = "clinicflow.reminders.outcomes.v1"
GROUPS = {"clinicflow-analytics-mis": (APPTS, PATIENTS),
          "clinicflow-analytics-reminders": (OUTCOMES,)}
C, N = "demo-center", "demo-north"
MIS = "/clinicflow/reminders/mis/api"


def t(y, mo, d, hm):
    h, m = (int(x) for x in hm.split(":"))
    return datetime(y, mo, d, h, m, tzinfo=MSK)


def envelope(etype, source, subject, when, data, clinic, event_id):
    return {"specversion": "1.0", "id": event_id, "source": source,
            "type": "clinicflow." + etype, "subject": subject, "time": iso(when),
            "datacontenttype": "application/json", "networkid": NET, "clinicid": clinic,
            "data": data}


def patient_id(mis):
    return cf_uuid5(NET, "mis", "patient", mis)


def patient(mis, phone):
    pid = patient_id(mis)
    d = {"patient_id": pid, "mis_id": mis, "version": 1, "clinic_id": C, "phones": [phone],
         "contact_keys": [contact_key(phone)],
         "consents": {"calls": True, "sms": True, "messengers": False}}
    return envelope("patient.upserted", MIS, pid, t(2026, 3, 1, "08:00"), d, C,
                    cf_uuid5(NET, "mis", "patient", mis, "1"))


def visit(mis, patient_mis, clinic, booked, starts, status, paid):
    aid = cf_uuid5(NET, "mis", "appointment", mis)
    d = {"appointment_id": aid, "mis_id": mis, "version": 1,
         "patient_id": patient_id(patient_mis), "mis_patient_id": patient_mis,
         "clinic_id": clinic, "doctor_id": "dr-ivanova", "starts_at": iso(starts),
         "ends_at": iso(starts.replace(hour=starts.hour + 1)), "status": status,
         "booking_source": "online", "amount_paid": paid}
    return envelope("appointment.upserted", MIS, aid, booked, d, clinic,
                    cf_uuid5(NET, "mis", "appointment", mis, "1"))


def member(patient_mis, clinic, when):
    job = cf_uuid5("walled-job", patient_mis)
    pid = patient_id(patient_mis)
    d = {"campaign": "recall", "job_id": job, "patient_id": pid, "clinic_id": clinic,
         "group": "target", "holdout_percent": 10, "due_at": iso(when.replace(hour=11))}
    return envelope("campaign.member", "/clinicflow/reminders/campaigns", pid, when, d, clinic,
                    cf_uuid5(job, "campaign.member"))


class WalledStack(Stack):
    def __init__(self):
        super().__init__()
        try:
            p = cfstack.clinicflowctl(self.dsn, "key", "create", "--network",
                                      self.keys["network_id"], "--scope", "read", "--clinic", C)
            self.keys["center"] = p.stdout.split()[-1]
        except BaseException:
            self.close()
            raise


def report(stack, key, name, **params):
    st, _, body = cfstack.http(
        "GET", stack.analytics.url("/v1/reports/%s?%s" % (name, urllib.parse.urlencode(params))),
        headers={"Authorization": "Bearer " + stack.keys[key]})
    assert st == 200, (key, name, params, st, body[:1000])
    return json.loads(body)


def cohort_rows(rep):
    return [(r["cohort"], r["months_since"], r["patients"], r["returning"],
             r["revenue_cumulative"]) for r in rep["rows"]]


def test_a_limited_key_sees_its_clinics_visits_only(stack):
    stack.start_analytics()
    produce_many(stack.broker.bootstrap, PATIENTS,
                 [patient("w1", "+79164440001"), patient("w2", "+79164440002")])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("w1-a", "w1", C, t(2026, 3, 1, "09:00"), t(2026, 3, 10, "10:00"), "completed",
              1000),
        visit("w1-b", "w1", N, t(2026, 4, 1, "09:00"), t(2026, 4, 20, "10:00"), "arrived", 500),
        visit("w1-c", "w1", C, t(2026, 5, 1, "09:00"), t(2026, 5, 5, "10:00"), "arrived", 300),
        visit("w2-a", "w2", N, t(2026, 11, 20, "12:00"), t(2026, 11, 23, "10:00"), "arrived",
              700),
    ])
    produce_many(stack.broker.bootstrap, OUTCOMES, [member("w2", C, t(2026, 11, 20, "09:00"))])
    wait_groups_consumed(stack, GROUPS)

    march = {"from": "2026-03-01", "to": "2026-03-31"}
    whole = cohort_rows(report(stack, "read", "cohorts", clinic=C, **march))
    assert whole == [("2026-03", 0, 1, None, 1000), ("2026-03", 1, 1, 1, 1500),
                     ("2026-03", 2, 1, 1, 1800)], whole
    walled = report(stack, "center", "cohorts", **march)
    assert cohort_rows(walled) == [("2026-03", 0, 1, None, 1000), ("2026-03", 1, 1, 0, 1000),
                                   ("2026-03", 2, 1, 1, 1300)], cohort_rows(walled)
    assert walled["totals"]["revenue_cumulative"] == 1300, walled["totals"]
    # naming its clinic changes nothing for the limited key (and its answer
    # is not the whole network key's cached one)
    assert cohort_rows(report(stack, "center", "cohorts", clinic=C, **march)) == \
        cohort_rows(walled)

    day = {"from": "2026-11-20", "to": "2026-11-20"}
    got = report(stack, "read", "recall", clinic=C, **day)["totals"]
    assert (got["members"], got["booked_target"], got["arrived_target"],
            got["revenue_target"]) == (1, 1, 1, 700), got
    got = report(stack, "center", "recall", **day)["totals"]
    assert (got["members"], got["booked_target"], got["arrived_target"],
            got["revenue_target"]) == (1, 0, 0, 0), got
    # the records behind those figures agree with each key's report
    for key, clinic, want in (("read", {"clinic": C}, 1), ("center", {}, 0)):
        for only in ("booked_target", "arrived_target"):
            q = dict(day, only=only, **clinic)
            st, _, body = cfstack.http(
                "GET", stack.analytics.url("/v1/records/members?" + urllib.parse.urlencode(q)),
                headers={"Authorization": "Bearer " + stack.keys[key]})
            assert st == 200, (key, q, st, body[:500])
            assert len(json.loads(body)["records"]) == want, (key, only, body[:500])


def test_a_limited_key_learns_of_no_booking_elsewhere(stack):
    """w3 first calls C on 2026-11-10, and books at N two days later. The
    funnel's new person booked follows the person anywhere for the whole
    network's key (asked with clinic=C): 1; for C's key the booking at N is
    not there: 0, and no person record behind it. w3 calls N on 2026-11-11
    from an ad (site): the person's last sourced contact, in the record of
    the whole network's key, not in C's key's record."""
    stack.start_analytics()  # the test before's was stopped with it
    phone = "+79164440003"
    produce_many(stack.broker.bootstrap, PATIENTS, [patient("w3", phone)])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("w3-a", "w3", N, t(2026, 11, 12, "09:00"), t(2026, 11, 15, "10:00"), "booked", 0)])
    produce_many(stack.broker.bootstrap, CALLS, [
        call_event("ended", simple_call(NET, C, "walled-w3", t(2026, 11, 10, "10:00"), talk=60,
                                        phone=phone)),
        call_event("ended", simple_call(NET, N, "walled-w3-n", t(2026, 11, 11, "12:00"), talk=60,
                                        phone=phone, source="site"))])
    wait_groups_consumed(stack, dict(GROUPS, **{"clinicflow-analytics-calls": (CALLS,)}))

    day = {"from": "2026-11-10", "to": "2026-11-10"}
    got = report(stack, "read", "funnel", clinic=C, **day)["totals"]
    assert (got["new_persons"], got["new_persons_booked"]) == (1, 1), got
    got = report(stack, "center", "funnel", **day)["totals"]
    assert (got["new_persons"], got["new_persons_booked"]) == (1, 0), got
    for key, clinic, want in (("read", {"clinic": C}, 1), ("center", {}, 0)):
        q = dict(day, only="new_booked", **clinic)
        st, _, body = cfstack.http(
            "GET", stack.analytics.url("/v1/records/persons?" + urllib.parse.urlencode(q)),
            headers={"Authorization": "Bearer " + stack.keys[key]})
        assert st == 200, (key, q, st, body[:500])
        assert len(json.loads(body)["records"]) == want, (key, body[:500])
    # the person's record: where their last sourced contact was is N's
    for key, clinic, want in (("read", {"clinic": C}, ("site", True)), ("center", {}, None)):
        q = dict(day, **clinic)
        st, _, body = cfstack.http(
            "GET", stack.analytics.url("/v1/records/persons?" + urllib.parse.urlencode(q)),
            headers={"Authorization": "Bearer " + stack.keys[key]})
        assert st == 200, (key, q, st, body[:500])
        recs = json.loads(body)["records"]
        assert len(recs) == 1 and recs[0]["clinic_id"] == C, (key, recs)
        got = (recs[0]["last_source"], "last_at" in recs[0]) if "last_source" in recs[0] else None
        assert got == want and ("last_at" in recs[0]) == (want is not None), (key, recs)


if __name__ == "__main__":
    cfstack.run_on_stack(WalledStack, [test_a_limited_key_sees_its_clinics_visits_only,
                                       test_a_limited_key_learns_of_no_booking_elsewhere])
