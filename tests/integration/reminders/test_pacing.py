"""Campaign pacing per front-desk seat, through the public interfaces:
patients and visits PUT as the MIS sends them, the commands on
clinicflow.reminders.commands.v1, the jobs in reminders.reminder_jobs and
the hour's count in reminders.campaign_pace, with two instances of the
service sharing one budget.

demo-north (round-the-clock windows, one reminder two hours ahead) has one
seat taking 2 campaign contacts an hour, recalls after 6 months and
re-invites a missed visit at once, holding nobody out."""
import datetime
import time

import cfstack
import common
from common import ok
from test_planning import NORTH, book, in_s, planning_network, utc

COMMANDS = "clinicflow.reminders.commands.v1"
BUDGET = 2
SOUTH = "demo-south"


def pacing_network():
    doc = planning_network()
    for c in doc["clinics"]:
        if c["id"] == NORTH:
            c["reminder_policy"].update({
                "recall": True, "recall_months": [6], "reinvite_after_hours": 0,
                "holdout_percent": 0, "seats": 1, "tasks_per_seat_hour": BUDGET})
    return doc


class PacingStack(common.Stack):
    def __init__(self):
        super().__init__(extra_env={"CLINICFLOW_REMINDERS_RECALL_EVERY_MS": "300"})

    def start(self, instances=2):
        super().start(instances)

    def start_service(self):
        if not getattr(self, "_network", False):
            cfstack.apply_network(self.dsn, pacing_network())
            self._network = True
        return super().start_service()


def commands(s, kind):
    return [m["event"]["data"] for m in s.messages(COMMANDS)
            if m["event"]["data"]["kind"] == kind]


def campaign_jobs(s, patients):
    """(status, due_at UTC, reason) of the patients' campaign jobs; emitted,
    and done once the dispatcher had it (no gateway here), are "released"."""
    return [tuple(r) for r in s.sql(
        "SELECT CASE WHEN status IN ('emitted', 'done') THEN 'released' ELSE status END,"
        " to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
        " coalesce(reason, '-') FROM reminders.reminder_jobs WHERE kind IN ('recall', 'reinvite')"
        " AND patient_id IN (%s) ORDER BY 1, job_id"
        % ",".join("'%s'" % common.patient_uuid(p) for p in patients))]


def next_hour():
    now = datetime.datetime.now(datetime.timezone.utc)
    return (now.replace(minute=0, second=0, microsecond=0)
            + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")


def test_campaign_contacts_go_at_the_seats_pace(s):
    # the budget is a clock hour's: start well inside one
    now = datetime.datetime.now(datetime.timezone.utc)
    if now.minute >= 58:
        time.sleep(3600 - now.minute * 60 - now.second + 2)
    hour_end = next_hour()
    long_ago = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=240))
    patients = []
    for i in range(5):
        p = common.new_id("p-pace")
        ok(s.put_patient(p, {"version": 1, "first_name": "Пациент%d" % i,
                             "phones": [common.new_phone()[0]], "clinic_id": NORTH,
                             "last_visit_at": long_ago, "language": "ru",
                             "consents": {"calls": True, "sms": True, "marketing": True}}))
        patients.append(p)

    # the recall asks no more than the hour can take, less what waits: two
    # go at once, two more are enrolled and wait for the next hour, the
    # fifth is not asked yet
    def settled():
        jobs = campaign_jobs(s, patients)
        return [j[0] for j in jobs] == ["pending"] * 2 + ["released"] * 2 and \
            jobs[:2] == [("pending", hour_end, "-")] * 2
    try:
        cfstack.wait_until(settled, 30, "two recalls out and two waiting for the next hour")
    except AssertionError:
        raise AssertionError("jobs: %s; the next hour %s" % (campaign_jobs(s, patients), hour_end))
    # rounds go on in both instances (the recall's every 0.3 s, the
    # scheduler's every second at most); nothing more is released this
    # hour, nothing dropped
    s.marker()
    time.sleep(2)
    s.marker()
    assert len(commands(s, "recall")) == BUDGET, commands(s, "recall")
    jobs = campaign_jobs(s, patients)
    assert [j[0] for j in jobs] == ["pending"] * 2 + ["released"] * 2, jobs
    assert {c["patient_id"] for c in commands(s, "recall")} <= {
        common.patient_uuid(p) for p in patients}
    assert s.sql("SELECT released FROM reminders.campaign_pace WHERE clinic_id = '%s'"
                 " AND hour = date_trunc('hour', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
                 % NORTH) == [[str(BUDGET)]]

    # a re-invite shares the budget: spent, it waits for the next hour too
    p = patients[-1]
    a = common.new_id("a-pace-missed")
    past = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    book(s, a, 1, past, clinic=NORTH, patient=p)
    book(s, a, 2, past, status="no_show", clinic=NORTH, patient=p)
    cfstack.wait_until(lambda: s.sql(
        "SELECT status, to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')"
        " FROM reminders.reminder_jobs WHERE kind = 'reinvite' AND appointment_id = '%s'"
        % common.appointment_uuid(a)) == [["pending", hour_end]], 30,
        "the re-invite deferred to the next hour")

    # a visit's reminders are not paced: three go at once
    visits = []
    for i in range(3):
        v = common.new_id("a-pace-visit")
        book(s, v, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=patients[i])
        visits.append(common.appointment_uuid(v))
    cfstack.wait_until(lambda: {c["appointment_id"] for c in commands(s, "reminder")}
                       >= set(visits), 30, "the three reminders out")
    s.marker()
    assert commands(s, "reinvite") == []
    assert len(commands(s, "recall")) == BUDGET


def test_a_reinvite_due_days_later_leaves_the_recall_its_room(s):
    # demo-south: the same budget, re-invites two days after a missed
    # visit. Two re-invites wait for their day; they take none of this
    # hour's room, and a patient not seen for months is recalled now.
    doc = pacing_network()
    for c in doc["clinics"]:
        if c["id"] == SOUTH:
            c["calling_windows"] = ["00:00-24:00"]
            c["reminder_policy"] = {
                "recall": True, "recall_months": [6], "reinvite_after_hours": 48,
                "holdout_percent": 0, "seats": 1, "tasks_per_seat_hour": BUDGET}
    cfstack.apply_network_and_wait(s.dsn, doc, s.services)
    try:
        past = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
        missed = []
        for i in range(BUDGET):
            p = common.new_id("p-pace-south")
            ok(s.put_patient(p, {"version": 1, "first_name": "Ольга", "clinic_id": SOUTH,
                                 "phones": [common.new_phone()[0]], "language": "ru",
                                 "consents": {"calls": True, "sms": True, "marketing": True}}))
            a = common.new_id("a-pace-south")
            book(s, a, 1, past, clinic=SOUTH, patient=p)
            book(s, a, 2, past, status="no_show", clinic=SOUTH, patient=p)
            missed.append(p)
        assert [j[0] for j in campaign_jobs(s, missed)] == ["pending"] * BUDGET
        lapsed = common.new_id("p-pace-lapsed")
        long_ago = utc(datetime.datetime.now(datetime.timezone.utc)
                       - datetime.timedelta(days=240))
        ok(s.put_patient(lapsed, {"version": 1, "first_name": "Пётр", "clinic_id": SOUTH,
                                  "phones": [common.new_phone()[0]], "language": "ru",
                                  "last_visit_at": long_ago,
                                  "consents": {"calls": True, "sms": True, "marketing": True}}))
        # released while the window is open round the clock: a recall still
        # pending when the demo windows come back (closed at night) would
        # take the next test's room in this clinic
        cfstack.wait_until(lambda: [j[0] for j in campaign_jobs(s, [lapsed])] == ["released"], 30,
                           "the lapsed patient recalled and the recall released")
    finally:
        cfstack.apply_network_and_wait(s.dsn, pacing_network(), s.services)


def test_the_recall_enrols_one_hour_while_the_windows_are_closed(s):
    # demo-south's only window opens in about three hours: every patient
    # the recall enrols is due then. Six lapsed patients, a budget of two
    # an hour: two are enrolled, and round after round no more, though
    # none of them is due within the hour (all wait for the opening).
    from test_dispatch import window
    doc = pacing_network()
    opening, _ = window(datetime.datetime.now(datetime.timezone.utc)
                        + datetime.timedelta(hours=3), 20)
    for c in doc["clinics"]:
        if c["id"] == SOUTH:
            c["calling_windows"] = [opening]
            c["reminder_policy"] = {"recall": True, "recall_months": [6], "holdout_percent": 0,
                                    "seats": 1, "tasks_per_seat_hour": BUDGET}
    cfstack.apply_network_and_wait(s.dsn, doc, s.services)
    try:
        long_ago = utc(datetime.datetime.now(datetime.timezone.utc)
                       - datetime.timedelta(days=240))
        lapsed = []
        for i in range(3 * BUDGET):
            p = common.new_id("p-pace-night")
            ok(s.put_patient(p, {"version": 1, "first_name": "Инна", "clinic_id": SOUTH,
                                 "phones": [common.new_phone()[0]], "language": "ru",
                                 "last_visit_at": long_ago,
                                 "consents": {"calls": True, "sms": True, "marketing": True}}))
            lapsed.append(p)
        cfstack.wait_until(lambda: len(campaign_jobs(s, lapsed)) >= BUDGET, 30,
                           "the first recalls")
        rounds = [cfstack.metric(svc, "clinicflow_reminders_recall_rounds_total")
                  for svc in s.services]
        cfstack.wait_until(lambda: all(
            cfstack.metric(svc, "clinicflow_reminders_recall_rounds_total") >= r + 3
            for svc, r in zip(s.services, rounds)), 30, "three more recall rounds")
        jobs = campaign_jobs(s, lapsed)
        assert [j[0] for j in jobs] == ["pending"] * BUDGET, jobs
    finally:
        cfstack.apply_network_and_wait(s.dsn, pacing_network(), s.services)


if __name__ == "__main__":
    cfstack.run_on_stack(PacingStack, [
        test_campaign_contacts_go_at_the_seats_pace,
        test_a_reinvite_due_days_later_leaves_the_recall_its_room,
        test_the_recall_enrols_one_hour_while_the_windows_are_closed,
    ])
