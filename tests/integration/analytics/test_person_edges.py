"""Two edges of who a person is and when they first came, through the
topics analytics reads and its reports (proto/README.md, "Analytics
reports"):

- A first contact seen again. P's first call ends with no ad source; a
  minute later the calls service's call.updated gives it the Yandex
  number's source (a late attribution moves a call). P's patient books on
  2026-11-12. First touch is the source of the person's first contact, as
  it is now: the booking goes under yandex_direct (it stayed under none
  when the first touch kept the call's first state).
- A last touch that loses its source. L calls from the Yandex number,
  then from the site's, and books; a late call.updated takes the site's
  source off the second call: under the last non-direct touch the booking
  goes back under yandex_direct.
- A booking from a hidden number. H calls from a hidden number on the
  Yandex number and the booking names that call: it goes under
  yandex_direct under either attribution.
- Two visits at once. Q's first visit is two appointments at the same
  time (two doctors), both completed. One first arrival: the sources
  report's arrived_new_patients 1, the funnel's arrivals 2 and repeat
  visits 1 (the second of the two, as the cohorts take it).
- A patient erased and created again. R's patient is erased (a tombstone
  on patients.v1), then the MIS sends R again, newer, with the same
  phone: R is their patient again. R calls from the Yandex number and
  books: the booking goes under yandex_direct (it went under none when the
  erasure kept R's keys away for good).
- A patient erased keeps the counts. S, a patient from before analytics'
  history, comes again and is erased: the visit stays a repeat visit
  (the erasure dropped the MIS's first visit, and S became a new
  patient), and S's reminder task no longer names S's contact key.
- A tombstone before its patient. W's recall task (no visit) loses W's
  contact key at W's erasure; W's upsert never reached analytics, and
  W's visit and its task read after the tombstone name no key either.
- A campaign member given another patient. The MIS gives a missed visit
  to another patient: the reminders service draws the re-invite again and
  sends the job's member event for the new patient, an event of its own.
  The job's member is the later patient, whichever event comes first.
- A patient asked back twice. V becomes a recall member (target) on
  2026-10-05 and again on 2026-10-20, then books on 2026-10-25 a visit on
  2026-10-28 that comes and pays 7,000. The visit is the later
  membership's alone: October's recall has 2 members, booked_target 1,
  arrived_target 1, revenue_target 7,000 (it was 2, 2 and 14,000, the
  visit counted once a membership), and the records behind
  booked_target name the second member only; the first membership's days
  alone show no booking.
- A call that reached the patient after all. Two robot calls on
  2026-10-12: one ended with no key pressed (no_reply), then the patient's
  key came after the call's end (confirmed); the other was not answered
  (no_answer). not_reached is 1, the second, in the report and its
  records (it was 2: the first call counted as reaching nobody).
"""
import json

import cfstack
from common import (CALLS, NET, TASKS, Stack, call_event, cf_uuid5, contact_key, iso,
                    produce_many, simple_call, task_event, wait_groups_consumed)
from test_walled_figures import (APPTS, C, OUTCOMES, PATIENTS, envelope, patient, patient_id,
                                 report, t, visit)

GROUPS = {"clinicflow-analytics-calls": (CALLS,),
          "clinicflow-analytics-mis": (APPTS, PATIENTS)}


def test_the_first_touch_is_the_first_contacts_latest_state(stack):
    stack.start_analytics()
    phone = "+79164450001"
    first = simple_call(NET, C, "edges-p", t(2026, 11, 11, "10:00"), talk=60, phone=phone)
    produce_many(stack.broker.bootstrap, PATIENTS, [patient("p", phone)])
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", first)])
    wait_groups_consumed(stack, GROUPS)  # the first state folded alone
    later = simple_call(NET, C, "edges-p", t(2026, 11, 11, "10:00"), talk=60, phone=phone,
                        source="yandex_direct")
    produce_many(stack.broker.bootstrap, CALLS, [call_event(
        "updated", later, time=iso(t(2026, 11, 11, "10:02")))])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("p-a", "p", C, t(2026, 11, 12, "09:00"), t(2026, 11, 20, "10:00"), "booked", 0)])
    wait_groups_consumed(stack, GROUPS)

    rep = report(stack, "read", "sources", group_by="source", attribution="first_touch",
                 **{"from": "2026-11-11", "to": "2026-11-12"})
    rows = {r["source"]: (r["contacts"], r["bookings"]) for r in rep["rows"]}
    assert rows == {"yandex_direct": (1, 1)}, rep["rows"]


def test_a_last_touch_that_loses_its_source_is_taken_back(stack):
    """L calls from the Yandex number, then from the site's; L's patient
    books. Under the last non-direct touch the booking is the site's. Then
    the calls service's call.updated takes the site's source off the
    second call (a late correction): the last non-direct touch is the
    Yandex call again, and the booking goes back under yandex_direct (it
    stayed under site when a person's last touch was only ever moved
    forward)."""
    stack.start_analytics()
    phone = "+79164450002"
    ya = simple_call(NET, C, "edges-l1", t(2026, 11, 13, "10:00"), talk=60, phone=phone,
                     source="yandex_direct")
    site = simple_call(NET, C, "edges-l2", t(2026, 11, 13, "12:00"), talk=60, phone=phone,
                       source="site")
    produce_many(stack.broker.bootstrap, PATIENTS, [patient("l", phone)])
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", ya),
                                                 call_event("ended", site)])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("l-a", "l", C, t(2026, 11, 13, "13:00"), t(2026, 11, 20, "10:00"), "booked", 0)])
    wait_groups_consumed(stack, GROUPS)
    day = {"from": "2026-11-13", "to": "2026-11-13"}

    def bookings(attribution):
        rep = report(stack, "read", "sources", group_by="source", attribution=attribution, **day)
        return {r["source"]: r["bookings"] for r in rep["rows"] if r["bookings"]}
    assert bookings("last_non_direct") == {"site": 1}
    assert bookings("first_touch") == {"yandex_direct": 1}

    direct = simple_call(NET, C, "edges-l2", t(2026, 11, 13, "12:00"), talk=60, phone=phone)
    produce_many(stack.broker.bootstrap, CALLS, [call_event(
        "updated", direct, time=iso(t(2026, 11, 13, "12:05")))])
    wait_groups_consumed(stack, GROUPS)
    assert cfstack.psql(stack.dsn, "SELECT last_source FROM analytics.persons WHERE"
                        " contact_key = '%s'" % contact_key(phone)) == [["yandex_direct"]]
    assert bookings("last_non_direct") == {"yandex_direct": 1}
    assert bookings("first_touch") == {"yandex_direct": 1}


def test_a_booking_from_a_hidden_number_keeps_its_source(stack):
    """H calls from a hidden number on the Yandex tracking number; the
    booking names that call. The caller is a person of their own, whose
    only contact is that call: the booking and its revenue go under
    yandex_direct under either attribution (they went under no source: the
    call had no person row, and the patient's phone had no contacts)."""
    stack.start_analytics()
    hidden = simple_call(NET, C, "edges-h1", t(2026, 11, 14, "10:00"), talk=60,
                         source="yandex_direct")
    del hidden["contact_key"], hidden["unique"]
    hidden["caller"] = {"raw": "anonymous", "kind": "anonymous"}
    booked = visit("h-a", "h", C, t(2026, 11, 14, "10:05"), t(2026, 11, 14, "15:00"),
                   "completed", 5000)
    booked["data"].update(booking_source="call", call_id=hidden["call_id"])
    produce_many(stack.broker.bootstrap, PATIENTS, [patient("h", "+79164450003")])
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", hidden)])
    produce_many(stack.broker.bootstrap, APPTS, [booked])
    wait_groups_consumed(stack, GROUPS)
    for attribution in ("first_touch", "last_non_direct"):
        rep = report(stack, "read", "sources", group_by="source", attribution=attribution,
                     **{"from": "2026-11-14", "to": "2026-11-14"})
        rows = {r["source"]: (r["contacts"], r["bookings"], r["arrivals"], r["revenue"])
                for r in rep["rows"]}
        assert rows == {"yandex_direct": (1, 1, 1, 5000)}, (attribution, rep["rows"])


def test_two_first_visits_at_once_are_one_first_arrival(stack):
    stack.start_analytics()  # the test before's was stopped with it
    phone = "+79164450002"
    produce_many(stack.broker.bootstrap, PATIENTS, [patient("q", phone)])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("q-a", "q", C, t(2026, 11, 14, "09:00"), t(2026, 11, 16, "10:00"), "completed",
              3000),
        visit("q-b", "q", C, t(2026, 11, 14, "09:05"), t(2026, 11, 16, "10:00"), "completed",
              2000)])
    wait_groups_consumed(stack, GROUPS)
    day = {"from": "2026-11-16", "to": "2026-11-16"}
    got = report(stack, "read", "sources", **day)["totals"]
    assert (got["arrivals"], got["arrived_new_patients"]) == (2, 1), got
    got = report(stack, "read", "funnel", **day)["totals"]
    assert (got["arrivals"], got["repeat_visits"]) == (2, 1), got


def test_a_patient_created_again_after_erasure_is_linked(stack):
    stack.start_analytics()  # the test before's was stopped with it
    phone = "+79164450003"
    produce_many(stack.broker.bootstrap, PATIENTS, [patient("r", phone)])
    wait_groups_consumed(stack, GROUPS)
    cfstack.produce(stack.broker.bootstrap, PATIENTS, patient_id("r"), None)
    wait_groups_consumed(stack, GROUPS)
    again = patient("r", phone)
    again["data"]["version"] = 2
    again["id"] = cf_uuid5(NET, "mis", "patient", "r", "2")
    produce_many(stack.broker.bootstrap, PATIENTS, [again])
    wait_groups_consumed(stack, GROUPS)
    assert cfstack.psql(stack.dsn, "SELECT contact_key FROM analytics.patient_keys"
                        " WHERE patient_id = '%s'" % patient_id("r")) == [[contact_key(phone)]]

    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", simple_call(
        NET, C, "edges-r", t(2026, 11, 18, "10:00"), talk=60, phone=phone,
        source="yandex_direct"))])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("r-a", "r", C, t(2026, 11, 18, "11:00"), t(2026, 11, 25, "10:00"), "booked", 0)])
    wait_groups_consumed(stack, GROUPS)
    rep = report(stack, "read", "sources", group_by="source",
                 **{"from": "2026-11-18", "to": "2026-11-18"})
    rows = {r["source"]: (r["contacts"], r["bookings"]) for r in rep["rows"]}
    assert rows == {"yandex_direct": (1, 1)}, rep["rows"]


def test_a_campaign_member_given_another_patient(stack):
    stack.start_analytics()  # the test before's was stopped with it
    groups = {"clinicflow-analytics-reminders": (OUTCOMES,)}

    def member(job, pid, group, when):
        d = {"campaign": "reinvite", "job_id": job, "patient_id": pid, "clinic_id": C,
             "group": group, "holdout_percent": 10, "appointment_id": cf_uuid5(job, "visit")}
        if group == "target":
            d["due_at"] = iso(when)
        return envelope("campaign.member", "/clinicflow/reminders/campaigns", pid, when, d, C,
                        cf_uuid5(job, "campaign.member", pid))

    first, second = patient_id("m1"), patient_id("m2")
    in_order, reversed_ = cf_uuid5("edges-job", "1"), cf_uuid5("edges-job", "2")
    earlier, later = t(2026, 11, 18, "10:00"), t(2026, 11, 18, "12:00")
    produce_many(stack.broker.bootstrap, OUTCOMES, [
        member(in_order, first, "holdout", earlier), member(reversed_, second, "target", later)])
    wait_groups_consumed(stack, groups)
    produce_many(stack.broker.bootstrap, OUTCOMES, [
        member(in_order, second, "target", later), member(reversed_, first, "holdout", earlier)])
    wait_groups_consumed(stack, groups)
    rows = cfstack.psql(stack.dsn, "SELECT job_id, patient_id, grp FROM analytics.campaign_members"
                        " WHERE job_id IN ('%s', '%s') ORDER BY job_id" % (in_order, reversed_))
    assert sorted(map(tuple, rows)) == sorted([(in_order, second, "target"),
                                               (reversed_, second, "target")]), rows


def test_a_visit_counts_for_the_latest_membership_only(stack):
    stack.start_analytics()  # the test before's was stopped with it
    groups = dict(GROUPS, **{"clinicflow-analytics-reminders": (OUTCOMES,)})
    pid = patient_id("v")
    jobs = [cf_uuid5("edges-twice", "1"), cf_uuid5("edges-twice", "2")]

    def member(job, when):
        d = {"campaign": "recall", "job_id": job, "patient_id": pid, "clinic_id": C,
             "group": "target", "holdout_percent": 10, "due_at": iso(when)}
        return envelope("campaign.member", "/clinicflow/reminders/campaigns", pid, when, d, C,
                        cf_uuid5(job, "campaign.member"))

    produce_many(stack.broker.bootstrap, PATIENTS, [patient("v", "+79164440071")])
    produce_many(stack.broker.bootstrap, OUTCOMES, [member(jobs[0], t(2026, 10, 5, "10:00")),
                                                    member(jobs[1], t(2026, 10, 20, "10:00"))])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("v-a", "v", C, t(2026, 10, 25, "09:00"), t(2026, 10, 28, "10:00"), "arrived",
              7000)])
    wait_groups_consumed(stack, groups)

    october = {"from": "2026-10-01", "to": "2026-10-31"}
    got = report(stack, "read", "recall", **october)["totals"]
    assert (got["members"], got["booked_target"], got["arrived_target"],
            got["revenue_target"]) == (2, 1, 1, 7000), got
    st, _, body = cfstack.http(
        "GET", stack.analytics.url("/v1/records/members?from=2026-10-01&to=2026-10-31"
                                   "&only=booked_target"),
        headers={"Authorization": "Bearer " + stack.keys["read"]})
    assert st == 200, (st, body[:500])
    assert [r["job_id"] for r in json.loads(body)["records"]] == [jobs[1]], body[:500]
    got = report(stack, "read", "recall", **{"from": "2026-10-01", "to": "2026-10-10"})["totals"]
    assert (got["members"], got["booked_target"], got["revenue_target"]) == (1, 0, 0), got


def test_a_call_answered_by_a_late_key_reached_the_patient(stack):
    stack.start_analytics()  # the test before's was stopped with it
    groups = {"clinicflow-analytics-reminders": (OUTCOMES,)}
    pid, visit_id = patient_id("nr"), cf_uuid5("edges-nr", "visit")
    sends = {name: cf_uuid5("edges-nr", name) for name in ("late-key", "unanswered")}

    def outcome(name, result, when, status=None):
        d = {"send_id": sends[name], "job_id": cf_uuid5(sends[name], "job"), "kind": "reminder",
             "patient_id": pid, "appointment_id": visit_id, "clinic_id": C, "channel": "call",
             "attempt": 1, "gateway": "webhook", "outcome": result}
        if status:
            d["reminder_status"] = status
        return envelope("reminder.outcome", "/clinicflow/reminders/outcomes", sends[name], when,
                        d, C, cf_uuid5(sends[name], "reminder.outcome", result))

    produce_many(stack.broker.bootstrap, OUTCOMES, [
        outcome("late-key", "no_reply", t(2026, 10, 12, "10:00")),
        outcome("late-key", "confirmed", t(2026, 10, 12, "10:01"), "confirmed"),
        outcome("unanswered", "no_answer", t(2026, 10, 12, "11:00"))])
    wait_groups_consumed(stack, groups)
    day = {"from": "2026-10-12", "to": "2026-10-12"}
    got = report(stack, "read", "reminders", **day)["totals"]
    assert (got["calls"], got["not_reached"], got["confirmed"]) == (2, 1, 1), got
    st, _, body = cfstack.http(
        "GET", stack.analytics.url("/v1/records/reminders?from=2026-10-12&to=2026-10-12"
                                   "&only=not_reached"),
        headers={"Authorization": "Bearer " + stack.keys["read"]})
    assert st == 200, (st, body[:500])
    assert [r["send_id"] for r in json.loads(body)["records"]] == [sends["unanswered"]], body[:500]


def test_an_erased_patient_keeps_the_counts(stack):
    # S had come before analytics' history (the MIS's first visit in 2024)
    # and comes again on 2026-11-20, reminded of it (the reminder's task
    # names S's contact key). S is erased: the visit is still a repeat
    # visit, not a new patient, and the task no longer names the key.
    stack.start_analytics()  # the test before's was stopped with it
    phone = "+79164450004"
    groups = {"clinicflow-analytics-calls": (CALLS, TASKS),
              "clinicflow-analytics-mis": (APPTS, PATIENTS)}
    s = patient("s", phone)
    s["data"]["first_visit_at"] = "2024-05-14T07:00:00.000Z"
    produce_many(stack.broker.bootstrap, PATIENTS, [s])
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("s-a", "s", C, t(2026, 11, 12, "09:00"), t(2026, 11, 20, "10:00"), "completed",
              1500)])
    task = {"task_id": cf_uuid5("edges-s", "task"), "kind": "reminder", "status": "open",
            "clinic_id": C, "appointment_id": cf_uuid5(NET, "mis", "appointment", "s-a"),
            "patient_id": patient_id("s"), "contact_key": contact_key(phone),
            "reason": "not_confirmed", "opened_at": iso(t(2026, 11, 19, "12:00")),
            "due_at": iso(t(2026, 11, 20, "09:00"))}
    ev = task_event("opened", task)
    ev["source"] = "/clinicflow/reminders/outcomes"
    produce_many(stack.broker.bootstrap, TASKS, [ev])
    wait_groups_consumed(stack, groups)
    day = {"from": "2026-11-20", "to": "2026-11-20"}

    def counts():
        f = report(stack, "read", "funnel", **day)["totals"]
        src = report(stack, "read", "sources", **day)["totals"]
        return (f["arrivals"], f["repeat_visits"], src["arrived_new_patients"])

    def task_key():
        return cfstack.psql(stack.dsn, "SELECT coalesce(contact_key, 'none') FROM analytics.tasks"
                            " WHERE task_id = '%s'" % task["task_id"])
    assert counts() == (1, 1, 0) and task_key() == [[contact_key(phone)]], counts()
    cfstack.produce(stack.broker.bootstrap, PATIENTS, patient_id("s"), None)
    wait_groups_consumed(stack, groups)
    assert counts() == (1, 1, 0), counts()
    assert task_key() == [["none"]]
    # the task's next event, read after the erasure, brings no key back
    closed = dict(task, status="closed", closed_at=iso(t(2026, 11, 19, "15:00")),
                  closed_by="answer")
    ev = task_event("closed", closed)
    ev["source"] = "/clinicflow/reminders/outcomes"
    produce_many(stack.broker.bootstrap, TASKS, [ev])
    wait_groups_consumed(stack, groups)
    assert cfstack.psql(stack.dsn, "SELECT status FROM analytics.tasks WHERE task_id = '%s'"
                        % task["task_id"]) == [["closed"]]
    assert task_key() == [["none"]]


def test_an_upsert_and_its_tombstone_in_one_batch(stack):
    # U, a patient since 2024, comes on 2026-11-21; the MIS's upsert of U
    # and U's erasure are read in one batch (produced while analytics is
    # down, so its first batch holds both). The visit is a repeat visit, as
    # when they come in two batches: the erasure keeps the first visit.
    phone = "+79164450005"
    u = patient("u", phone)
    u["data"]["first_visit_at"] = "2024-03-01T07:00:00.000Z"
    produce_many(stack.broker.bootstrap, PATIENTS, [u])
    cfstack.produce(stack.broker.bootstrap, PATIENTS, patient_id("u"), None)
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("u-a", "u", C, t(2026, 11, 15, "09:00"), t(2026, 11, 21, "10:00"), "completed",
              1200)])
    stack.start_analytics()
    wait_groups_consumed(stack, GROUPS)
    day = {"from": "2026-11-21", "to": "2026-11-21"}
    f = report(stack, "read", "funnel", **day)["totals"]
    src = report(stack, "read", "sources", **day)["totals"]
    assert (f["arrivals"], f["repeat_visits"], src["arrived_new_patients"]) == (1, 1, 0), (f, src)
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM analytics.patient_keys"
                        " WHERE patient_id = '%s'" % patient_id("u")) == [["0"]]


def test_a_tombstone_before_its_patient_and_a_task_with_no_visit(stack):
    # W is asked back (a recall's task names W and W's contact key, no
    # visit), then erased: the task no longer names the key (it did: the
    # erasure found tasks only through a visit's patient). W's upsert
    # never reached analytics (compacted away), and W's visit and its
    # reminder task are read after the tombstone: the task names no key
    # either (it kept it: an erasure with no patient row marked nothing).
    stack.start_analytics()  # the test before's was stopped with it
    phone = "+79164450006"
    groups = {"clinicflow-analytics-calls": (CALLS, TASKS),
              "clinicflow-analytics-mis": (APPTS, PATIENTS)}
    key, pid = contact_key(phone), patient_id("w")

    def task(name, **extra):
        d = {"task_id": cf_uuid5("edges-w", name), "kind": "reminder", "status": "open",
             "clinic_id": C, "patient_id": pid, "contact_key": key,
             "opened_at": iso(t(2026, 11, 23, "12:00")), "due_at": iso(t(2026, 11, 24, "09:00"))}
        d.update(extra)
        ev = task_event("opened", d)
        ev["source"] = "/clinicflow/reminders/outcomes"
        return d["task_id"], ev

    def task_key(task_id):
        return cfstack.psql(stack.dsn, "SELECT coalesce(contact_key, 'none') FROM analytics.tasks"
                            " WHERE task_id = '%s'" % task_id)
    recall_id, recall = task("recall", reason="recall")
    produce_many(stack.broker.bootstrap, TASKS, [recall])
    wait_groups_consumed(stack, groups)
    assert task_key(recall_id) == [[key]]
    cfstack.produce(stack.broker.bootstrap, PATIENTS, pid, None)
    wait_groups_consumed(stack, groups)
    assert task_key(recall_id) == [["none"]]
    assert cfstack.psql(stack.dsn, "SELECT erased, network_id IS NULL FROM analytics.patients"
                        " WHERE patient_id = '%s'" % pid) == [["t", "t"]]
    produce_many(stack.broker.bootstrap, APPTS, [
        visit("w-a", "w", C, t(2026, 11, 23, "09:00"), t(2026, 11, 25, "10:00"), "booked", 0)])
    visit_task_id, visit_task = task(
        "visit", reason="not_confirmed", appointment_id=cf_uuid5(NET, "mis", "appointment", "w-a"))
    produce_many(stack.broker.bootstrap, TASKS, [visit_task])
    wait_groups_consumed(stack, groups)
    assert task_key(visit_task_id) == [["none"]]
    assert task_key(recall_id) == [["none"]]


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_the_first_touch_is_the_first_contacts_latest_state,
                                 test_a_last_touch_that_loses_its_source_is_taken_back,
                                 test_a_booking_from_a_hidden_number_keeps_its_source,
                                 test_two_first_visits_at_once_are_one_first_arrival,
                                 test_a_patient_created_again_after_erasure_is_linked,
                                 test_a_campaign_member_given_another_patient,
                                 test_a_visit_counts_for_the_latest_membership_only,
                                 test_a_call_answered_by_a_late_key_reached_the_patient,
                                 test_an_erased_patient_keeps_the_counts,
                                 test_a_tombstone_before_its_patient_and_a_task_with_no_visit,
                                 test_an_upsert_and_its_tombstone_in_one_batch])
