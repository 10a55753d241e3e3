"""The reminder ladder, through the public interfaces: appointments PUT as
the MIS sends them, the commands a clinic's dialer (a webhook gateway, a
local stand-in) receives, the outcomes the dialer reports to
/v1/hooks/reminders/generic/{channel} signed as it is told to, and what
follows as an operator and an analyst see it: reminders.reminder_jobs,
reminders.appointments' reminder status, clinicflow.reminders.outcomes.v1
and the front-desk tasks on clinicflow.tasks.v1.

demo-north (round-the-clock windows, one reminder two hours ahead) retries
an unanswered call once, a minute later, then sends the SMS; it re-invites
a missed visit at once, holding out 30% of the patients.

A command the job moves past while it waits for a dispatcher (a visit
cancelled, a late key) is held back from the dispatchers deterministically
by common.HeldCommand, so the check right before the send is what is
tested, not a race."""
import datetime
import hashlib
import hmac
import json
import threading
import time

import cfstack
import common
from common import ok
from test_dispatch import SECRET, DispatchStack, patient
from test_planning import CENTER, NORTH, book, in_s, planning_network, utc

OUTCOMES = "clinicflow.reminders.outcomes.v1"
TASKS = "clinicflow.tasks.v1"
HOOK = "/v1/hooks/reminders/generic/it-north-dialer"


def ladder_network():
    doc = planning_network()
    for c in doc["clinics"]:
        if c["id"] == NORTH:
            c["reminder_policy"].update({"call_retries": 1, "retry_minutes": 1,
                                         "reinvite_after_hours": 0, "holdout_percent": 30,
                                         "nps_delay_minutes": 0, "recall": True,
                                         "recall_months": [6],
                                         # campaign contacts unpaced for these
                                         # tests (test_pacing.py paces them):
                                         # the holdout draws decide how many
                                         # there are in an hour
                                         "seats": 100, "tasks_per_seat_hour": 60})
    return doc


PUBLIC = "https://reminders.clinic.test"


class LadderStack(DispatchStack):
    # given with a trailing '/', as an operator may: links and Twilio's
    # signed callback URLs are built without it
    extra_env = {"CLINICFLOW_REMINDERS_PUBLIC_BASE_URL": PUBLIC + "/",
                 "CLINICFLOW_REMINDERS_RECALL_EVERY_MS": "300"}

    def __init__(self):
        # the first load's route too: a visit it changes closes tasks as a
        # PUT does
        self.batch_port = cfstack.free_port()
        self.extra_env = dict(LadderStack.extra_env,
                              CLINICFLOW_REMINDERS_BATCH_PORT=str(self.batch_port))
        super().__init__()

    def network(self):
        return ladder_network()

    def batch(self, lines):
        return common.post_batch(self.batch_port, self.keys["ingest"],
                                 [json.dumps(x, ensure_ascii=False) for x in lines])

    def report(self, body, secret=SECRET, path=HOOK):
        raw = json.dumps(body).encode()
        sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        return self.request("POST", path, raw, key=None,
                            headers={"X-Clinicflow-Signature": sig})


def requests_for(s, appointment):
    """The dialer's requests for the appointment, in arrival order."""
    want = common.appointment_uuid(appointment)
    with s.dialer.lock:
        return [r for r in s.dialer.requests if r[1]["command"].get("appointment_id") == want]


def wait_request(s, appointment, n, timeout=30):
    cfstack.wait_until(lambda: len(requests_for(s, appointment)) >= n, timeout,
                       "request %d for %s at the dialer" % (n, appointment))
    return requests_for(s, appointment)[n - 1]


def job_of(s, appointment):
    """(status, attempt, channel, result) of the appointment's one job."""
    rows = s.sql("SELECT status, attempt, channel, coalesce(result, '-')"
                 " FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
                 % common.appointment_uuid(appointment))
    return tuple(rows[0])


def job_id_of(s, appointment):
    return s.sql("SELECT job_id FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
                 % common.appointment_uuid(appointment))[0][0]


def superseded(s, job_id, attempt):
    """The send of the job's attempt, skipped as superseded: its row and its
    outcome event."""
    send_id = common.cf_uuid5(job_id, "send", str(attempt))
    ev = outcome_event(s, send_id, "skipped")["event"]["data"]
    assert ev["reason"] == "superseded", ev
    assert s.sql("SELECT status, reason FROM reminders.sends WHERE send_id = '%s'"
                 % send_id) == [["skipped", "superseded"]]
    return ev


def reminder_status(s, appointment):
    return s.sql("SELECT coalesce(reminder_status, '-') FROM reminders.appointments"
                 " WHERE appointment_id = '%s'" % common.appointment_uuid(appointment))[0][0]


def outcome_event(s, send_id, outcome):
    return s.wait_message(
        OUTCOMES, lambda m: m["event"]["data"].get("send_id") == send_id
        and m["event"]["data"]["outcome"] == outcome, "outcome %s of %s" % (outcome, send_id))


def soon(s, name, consents=None):
    """A patient and a visit two hours and a few seconds ahead: its call
    goes within seconds."""
    p, e164 = patient(s, name, consents or {"calls": True, "sms": True})
    a = common.new_id("a-ladder")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=p)
    return p, e164, a


def test_a_confirmed_call_confirms_the_visit(s):
    p, e164, a = soon(s, "Anna")
    send_id, doc, _ = wait_request(s, a, 1)
    assert doc["command"]["channel"] == "call" and doc["command"]["attempt"] == 1, doc
    assert job_of(s, a) == ("emitted", "1", "call", "-"), job_of(s, a)

    # a forged report, an unknown send, a malformed one: refused, nothing moves
    forged = s.report({"send_id": send_id, "outcome": "declined"}, secret="not-the-secret")
    assert forged.status == 401, forged
    common.bad_field(s.report({"send_id": common.cf_uuid5("no", "such"),
                               "outcome": "confirmed"}), "send_id")
    common.bad_field(s.report({"send_id": send_id, "outcome": "maybe"}), "outcome")
    # an SMS's news about a robot call: no call can have it (the ladder
    # would end with nobody told)
    for sms_only in ("sms_delivered", "sms_failed", "opt_out_sms"):
        err = common.bad_field(s.report({"send_id": send_id, "outcome": sms_only}), "outcome")
        assert sms_only in err["message"] and "call" in err["message"], err
    assert job_of(s, a) == ("emitted", "1", "call", "-"), job_of(s, a)
    assert s.sql("SELECT count(*) FROM reminders.sends WHERE send_id = '%s'"
                 " AND outcome IS NOT NULL" % send_id) == [["0"]]
    assert s.sql("SELECT count(*) FROM reminders.opt_outs WHERE phone = '%s'" % e164) == [["0"]]
    common.bad_field(s.report({"send_id": send_id, "outcome": "confirmed", "digits": "1"}),
                     "digits")
    assert s.request("POST", "/v1/hooks/reminders/generic/no-such-channel", b"{}",
                     key=None).status == 404
    assert reminder_status(s, a) == "-"

    # the patient pressed 1
    got = ok(s.report({"send_id": send_id, "outcome": "confirmed", "duration_s": 24,
                       "recording_url": "https://dialer.example/rec/1.mp3"}))
    assert got["status"] == "applied", got
    assert job_of(s, a) == ("done", "1", "call", "confirmed"), job_of(s, a)
    assert reminder_status(s, a) == "confirmed"
    assert ok(s.get_appointment(a))["reminder_status"] == "confirmed"
    ev = outcome_event(s, send_id, "confirmed")
    assert ev["key"] == common.patient_uuid(p), ev["key"]
    data = ev["event"]["data"]
    assert data["reminder_status"] == "confirmed" and data["duration_s"] == 24, data
    # the recording's address stays in the service (ids only on the topic)
    assert data["has_recording"] is True and "recording_url" not in data, data
    assert s.sql("SELECT recording_url FROM reminders.sends WHERE send_id = '%s'"
                 % send_id) == [["https://dialer.example/rec/1.mp3"]]
    assert data["appointment_id"] == common.appointment_uuid(a) and "next" not in data, data
    # told again: nothing changes, no second event
    assert ok(s.report({"send_id": send_id, "outcome": "confirmed"}))["status"] == "unchanged"
    s.marker()
    assert len([m for m in s.messages(OUTCOMES)
                if m["event"]["data"].get("send_id") == send_id]) == 1
    assert not [m for m in s.messages(TASKS)
                if m["event"]["data"].get("appointment_id") == common.appointment_uuid(a)]
    # the visit moved into the past and came: a reminder history of the
    # system before cannot be imported for it, its sends are ours
    book(s, a, 2, utc(in_s(-3600)), status="completed", clinic=NORTH, patient=p)
    err = common.bad_field(s.request("PUT", "/v1/appointments/%s/reminders" % a, {
        "gateway": "old-robot", "sends": [{"channel": "call", "at": utc(in_s(-7200)),
                                           "outcome": "declined"}]}), "id", status=409)
    assert err["code"] == "reminded_here", err
    assert reminder_status(s, a) == "confirmed"
    assert s.sql("SELECT count(*) FROM reminders.histories") == [["0"]]


def test_a_dialer_telling_a_changed_answer_twice_tells_three_events(s):
    """The dialer reports confirmed, then declined, then confirmed again
    for one call (its operator corrected a mistyped key, then corrected
    the correction): the last is an event of its own, not a copy of the
    first by its id that every consumer would drop."""
    _, _, a = soon(s, "Лидия")
    send_id, _, _ = wait_request(s, a, 1)
    for outcome in ("confirmed", "declined", "confirmed"):
        assert s.report({"send_id": send_id, "outcome": outcome}).status == 200

    def told():
        return [m["event"] for m in s.messages(OUTCOMES)
                if m["event"]["data"].get("send_id") == send_id
                and m["event"]["data"]["outcome"] in ("confirmed", "declined")]
    cfstack.wait_until(lambda: len(told()) >= 3, 30, "three outcomes told")
    events = told()
    assert [e["data"]["outcome"] for e in events] == ["confirmed", "declined", "confirmed"], events
    assert len({e["id"] for e in events}) == 3, events
    # the first decided the visit
    assert reminder_status(s, a) == "confirmed"


def test_a_report_beside_a_change_of_its_visit_waits_for_it(s):
    """The dialer reports a call while the MIS's change of the same visit
    is committing (PUT /v1/appointments takes the visit, then moves its
    jobs): the report waits for the visit and then applies. It took the
    send's job first and the visit last, the change the other way round,
    and PostgreSQL's deadlock detector aborted one of the two: the MIS got
    a 503, or the dialer did, which some dialers never send again."""
    _, _, a = soon(s, "Инна")
    send_id, _, _ = wait_request(s, a, 1)
    change = cfstack.HeldSession(s.dsn, "BEGIN; SELECT 1 FROM reminders.appointments"
                                 " WHERE appointment_id = '%s' FOR UPDATE;"
                                 % common.appointment_uuid(a))
    try:
        got = {}
        report = threading.Thread(target=lambda: got.update(
            r=s.report({"send_id": send_id, "outcome": "confirmed"})))
        report.start()
        cfstack.wait_until(lambda: change.waiters() > 0, 10, "the report waiting")
        # the change goes on to the visit's jobs, and commits
        moved = change.run("UPDATE reminders.reminder_jobs SET updated_at = now()"
                           " WHERE appointment_id = '%s'; COMMIT;" % common.appointment_uuid(a))
        report.join(30)
        assert moved, change.proc.stderr.read() if change.proc.poll() is not None else moved
        assert got["r"].status == 200, got
        assert reminder_status(s, a) == "confirmed"
    finally:
        change.release()


def test_a_visit_cancelled_while_its_call_waits_is_not_called(s):
    """The reminder's command is out (the job emitted) and no dispatcher has
    sent it yet when the visit is cancelled: the dispatcher looks at the
    job right before the send and skips it as superseded; the dialer hears
    nothing and the ladder does not move."""
    p, _ = patient(s, "Кира", {"calls": True, "sms": True})
    a = common.new_id("a-overtaken")
    starts = utc(in_s(2 * 3600 + 4))
    book(s, a, 1, starts, clinic=NORTH, patient=p)
    job = job_id_of(s, a)
    held = common.HeldCommand(s.dsn, job, 1)
    try:
        cfstack.wait_until(lambda: job_of(s, a)[0] == "emitted", 30, "the call's command out")
        book(s, a, 2, starts, status="cancelled", clinic=NORTH, patient=p)
    finally:
        held.release()
    superseded(s, job, 1)
    assert requests_for(s, a) == [], requests_for(s, a)
    assert job_of(s, a)[:2] == ("emitted", "1") and reminder_status(s, a) == "-"


def test_reschedule_opens_a_front_desk_task(s):
    p, e164, a = soon(s, "Boris")
    send_id, _, _ = wait_request(s, a, 1)
    ok(s.report({"send_id": send_id, "outcome": "reschedule"}))
    assert reminder_status(s, a) == "reschedule_requested"
    task = s.wait_message(TASKS, lambda m: m["event"]["data"].get("appointment_id")
                          == common.appointment_uuid(a), "the reschedule task")
    data = task["event"]["data"]
    assert (data["kind"], data["reason"], data["status"]) == ("reminder", "reschedule", "open")
    assert data["contact"]["e164"] == e164 and data["clinic_id"] == NORTH, data
    assert task["key"] == data["task_id"]
    # the MIS sends the visit again unmoved: the answer stands; the front
    # desk moves it: the patient has not answered for the new time
    starts = ok(s.get_appointment(a))["appointment"]["starts_at"]
    book(s, a, 2, starts, clinic=NORTH, patient=p)
    assert reminder_status(s, a) == "reschedule_requested"
    assert task_status(s, data["task_id"]) == "open"
    book(s, a, 3, utc(in_s(30 * 3600)), clinic=NORTH, patient=p)
    assert reminder_status(s, a) == "-" and "reminder_status" not in ok(s.get_appointment(a))
    # and the task asking the front desk to move it is done
    closed = task_closed(s, data)
    assert (closed["closed_by"], closed["reason"]) == ("visit", "reschedule"), closed


def task_status(s, task_id):
    return s.sql("SELECT status FROM reminders.tasks WHERE task_id = '%s'" % task_id)[0][0]


def task_closed(s, opened):
    """The task.closed of the task opened (task.opened's data), checked
    against it; its data."""
    closed = s.wait_message(TASKS, lambda m: m["key"] == opened["task_id"]
                            and m["event"]["type"] == "clinicflow.task.closed",
                            "task %s closed" % opened["task_id"])["event"]["data"]
    assert (closed["status"], closed["kind"], closed["appointment_id"]) == \
        ("closed", "reminder", opened["appointment_id"]), closed
    assert (closed["opened_at"], closed["due_at"], closed["contact"]) == \
        (opened["opened_at"], opened["due_at"], opened["contact"]), closed
    assert task_status(s, opened["task_id"]) == "closed"
    return closed


def test_a_call_to_confirm_stays_while_nobody_else_asks(s):
    """The patient opts out of robot calls: the front desk is to call and
    confirm (not_confirmed). The MIS moves the visit to an hour from now:
    no reminder of the new time can go out any more, so the task stays
    open. Then the MIS gives the visit to another patient at that time:
    the task about the first patient's visit is done (closed_by visit)."""
    p, _, a = soon(s, "Zoya")
    send_id, _, _ = wait_request(s, a, 1)
    ok(s.report({"send_id": send_id, "outcome": "opt_out"}))
    opened = s.wait_message(TASKS, lambda m: m["event"]["data"].get("appointment_id")
                            == common.appointment_uuid(a), "the not-confirmed task")["event"]["data"]
    assert opened["reason"] == "not_confirmed", opened
    soon_at = utc(in_s(3600))
    book(s, a, 2, soon_at, clinic=NORTH, patient=p)
    assert not s.sql("SELECT 1 FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
                     " AND status = 'pending'" % common.appointment_uuid(a))
    assert task_status(s, opened["task_id"]) == "open"
    other, _ = patient(s, "Zoya's sister", {"calls": True, "sms": True})
    book(s, a, 3, soon_at, clinic=NORTH, patient=other)
    closed = task_closed(s, opened)
    assert (closed["closed_by"], closed["reason"]) == ("visit", "not_confirmed"), closed


def test_a_declined_visit_cancelled_by_the_first_load_closes_its_task(s):
    """The patient declines; the front desk frees the slot in the MIS,
    whose next sync comes through the first load's route (POST
    /v1/mis/batch): the declined task is done, closed_by visit. Its other
    visit's task, unchanged by the same batch, stays open."""
    tasks = {}
    for name in ("Gleb", "Dina"):
        p, _, a = soon(s, name)
        send_id, _, _ = wait_request(s, a, 1)
        ok(s.report({"send_id": send_id, "outcome": "declined"}))
        tasks[name] = (p, a, s.wait_message(
            TASKS, lambda m: m["event"]["data"].get("appointment_id")
            == common.appointment_uuid(a), "the declined task of %s" % name)["event"]["data"])
    (p, a, opened), (p2, a2, kept) = tasks["Gleb"], tasks["Dina"]
    assert (opened["reason"], kept["reason"]) == ("declined", "declined")
    starts = ok(s.get_appointment(a))["appointment"]["starts_at"]
    starts2 = ok(s.get_appointment(a2))["appointment"]["starts_at"]
    rep = ok(s.batch([
        {"kind": "appointment", "id": a, "version": 2, "clinic_id": NORTH, "patient_id": p,
         "starts_at": starts, "status": "cancelled"},
        {"kind": "appointment", "id": a2, "version": 2, "clinic_id": NORTH, "patient_id": p2,
         "starts_at": starts2, "status": "booked"}]))
    assert rep["appointments"]["updated"] == 2, rep
    closed = task_closed(s, opened)
    assert (closed["closed_by"], closed["reason"]) == ("visit", "declined"), closed
    assert task_status(s, kept["task_id"]) == "open"


def test_no_answer_twice_then_sms_and_a_task(s):
    _, e164, a = soon(s, "Vera")
    first, _, _ = wait_request(s, a, 1)
    t0 = time.time()
    ok(s.report({"send_id": first, "outcome": "no_answer"}))
    # the retry a minute later, not sooner
    assert job_of(s, a)[:3] == ("pending", "2", "call"), job_of(s, a)
    ev = outcome_event(s, first, "no_answer")["event"]["data"]
    assert ev["next"]["channel"] == "call" and ev["next"]["attempt"] == 2, ev
    second, doc, _ = wait_request(s, a, 2, timeout=120)
    assert time.time() - t0 >= 59, "the retry came before its minute"
    assert doc["command"]["attempt"] == 2 and second != first, doc
    assert reminder_status(s, a) == "-"
    # unanswered again: retries spent, the SMS goes, the front desk calls
    ok(s.report({"send_id": second, "outcome": "busy"}))
    assert reminder_status(s, a) == "not_confirmed"
    sms_id, doc, _ = wait_request(s, a, 3)
    assert doc["command"]["channel"] == "sms" and doc["command"]["attempt"] == 3, doc
    sent = outcome_event(s, sms_id, "sms_sent")["event"]["data"]
    assert sent["channel"] == "sms" and sent["sms"]["segments"] >= 1, sent
    task = s.wait_message(TASKS, lambda m: m["event"]["data"].get("appointment_id")
                          == common.appointment_uuid(a), "the not-confirmed task")
    assert task["event"]["data"]["reason"] == "not_confirmed", task
    assert task["event"]["data"]["contact"]["e164"] == e164
    # the SMS is out: a reply may still come
    assert job_of(s, a) == ("emitted", "3", "sms", "sms_sent"), job_of(s, a)
    # it does: the visit is confirmed, and the front desk need not call
    # (the not_confirmed task closes, as opened, by the patient's answer)
    ok(s.report({"send_id": sms_id, "outcome": "confirmed"}))
    assert reminder_status(s, a) == "confirmed"
    opened = task["event"]["data"]
    closed = s.wait_message(TASKS, lambda m: m["key"] == opened["task_id"]
                            and m["event"]["type"] == "clinicflow.task.closed",
                            "the not-confirmed task closed")["event"]["data"]
    assert (closed["status"], closed["closed_by"], closed["reason"]) == \
        ("closed", "answer", "not_confirmed"), closed
    assert (closed["opened_at"], closed["due_at"]) == (opened["opened_at"], opened["due_at"])
    assert closed["contact"]["e164"] == e164, closed
    assert closed["on_time"] == (common.instant(closed["closed_at"])
                                 <= common.instant(closed["due_at"])), closed


def test_nine_means_no_more_calls(s):
    p, e164, a = soon(s, "Galina")
    send_id, _, _ = wait_request(s, a, 1)
    ok(s.report({"send_id": send_id, "outcome": "opt_out"}))
    assert s.sql("SELECT channel, source FROM reminders.opt_outs WHERE phone = '%s'"
                 % e164) == [["call", "opt_out_calls"]]
    # the SMS instead, now
    _, doc, _ = wait_request(s, a, 2)
    assert doc["command"]["channel"] == "sms", doc
    # her next visit: no call, straight to the SMS rung
    a2 = common.new_id("a-ladder")
    book(s, a2, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=p)
    cfstack.wait_until(lambda: job_of(s, a2)[2] == "sms", 30, "the second visit's SMS rung")
    calls = s.sql("SELECT s.status, s.reason FROM reminders.sends s JOIN reminders.reminder_jobs j"
                  " USING (job_id) WHERE j.appointment_id = '%s' AND s.channel = 'call'"
                  % common.appointment_uuid(a2))
    assert calls == [["skipped", "opted_out"]], calls
    assert [r[1]["command"]["channel"] for r in requests_for(s, a2)] in ([], ["sms"])


def held_out(patient_id, percent=30, campaign="reinvite"):
    """The campaign's holdout draw, as the service makes it: SHA-256 of the
    campaign, 0x1F and the patient id; its first two bytes, big-endian,
    modulo 100, below the percentage."""
    d = hashlib.sha256(campaign.encode() + b"\x1f" + patient_id.encode()).digest()
    return ((d[0] << 8) | d[1]) % 100 < percent


def members(s, patient):
    return [m["event"]["data"] for m in s.messages(OUTCOMES)
            if m["event"]["type"] == "clinicflow.campaign.member"
            and m["event"]["data"]["patient_id"] == common.patient_uuid(patient)]


def test_a_missed_visit_is_reinvited_unless_held_out_or_booked_again(s):
    past = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    # patients until both groups have someone (the draw is the patient's)
    held, target = [], []
    while len(held) < 1 or len(target) < 3:
        p, e164 = patient(s, "Дарья", {"calls": True, "sms": True, "marketing": True})
        (held if held_out(common.patient_uuid(p)) else target).append((p, e164))
    # one of the targets books again before the re-invite is due; another
    # came to a visit after the missed one (the front desk booked them the
    # same day)
    again, came = target.pop(), target.pop()
    a_future = common.new_id("a-future")
    book(s, a_future, 1, utc(in_s(30 * 86400)), clinic=NORTH, patient=again[0])
    since = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20))
    book(s, common.new_id("a-came"), 1, since, status="arrived", clinic=NORTH, patient=came[0])
    missed = {}
    for p, _ in held + target + [again, came]:
        a = common.new_id("a-missed")
        book(s, a, 1, past, clinic=NORTH, patient=p)
        book(s, a, 2, past, status="no_show", clinic=NORTH, patient=p)
        missed[p] = a
    # the targets get the SMS, once; nobody else does
    for p, e164 in target:
        send_id, doc, _ = wait_request(s, missed[p], 1)
        assert doc["command"]["kind"] == "reinvite" and doc["command"]["channel"] == "sms", doc
        assert "не увиделись" in doc["text"] and doc["contact"]["phone"] == e164, doc
        (m,) = members(s, p)
        assert m["group"] == "target" and m["appointment_id"] == common.appointment_uuid(
            missed[p]) and m["holdout_percent"] == 30, m
    for p, _ in held:
        cfstack.wait_until(lambda p=p: members(s, p), 30, "the holdout's campaign event")
        assert members(s, p)[0]["group"] == "holdout", members(s, p)
        assert s.sql("SELECT status, reason FROM reminders.reminder_jobs WHERE kind = 'reinvite'"
                     " AND appointment_id = '%s'" % common.appointment_uuid(missed[p])) == [
            ["skipped", "holdout"]]
    for p, _ in (again, came):
        cfstack.wait_until(lambda p=p: s.sql(
            "SELECT reason FROM reminders.reminder_jobs WHERE kind = 'reinvite'"
            " AND appointment_id = '%s'" % common.appointment_uuid(missed[p])) == [
            ["booked_again"]], 30, "the re-invite of a patient who booked again skipped")
    s.marker()
    for p, _ in held + [again, came]:
        assert requests_for(s, missed[p]) == [], p
    # a target answers 1: the front desk calls to book, the missed visit
    # keeps its status
    p, e164 = target[0]
    send_id = requests_for(s, missed[p])[0][0]
    ok(s.report({"send_id": send_id, "outcome": "confirmed"}))
    task = s.wait_message(TASKS, lambda m: m["event"]["data"].get("appointment_id")
                          == common.appointment_uuid(missed[p]), "the re-invite's task")
    assert task["event"]["data"]["reason"] == "reinvite", task
    assert reminder_status(s, missed[p]) == "-"
    ev = outcome_event(s, send_id, "confirmed")["event"]["data"]
    assert ev["kind"] == "reinvite" and "reminder_status" not in ev, ev


def test_a_reinvite_follows_its_visit_moved_and_missed_again(s):
    # demo-center re-invites 48 hours after (pending meanwhile): missed at
    # T1, moved to T2 (the re-invite cancelled), missed at T2: the re-invite
    # is pending again, about T2, so it is current and goes in its time
    while True:
        p, _ = patient(s, "Глеб", {"calls": True, "sms": True, "marketing": True})
        if not held_out(common.patient_uuid(p), percent=10):
            break
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    t1, t2 = now - datetime.timedelta(hours=3), now - datetime.timedelta(hours=1)
    a = common.new_id("a-moved")

    def reinvite():
        return s.sql("SELECT status, coalesce(reason, '-'), visit_at AT TIME ZONE 'UTC'"
                     " FROM reminders.reminder_jobs WHERE kind = 'reinvite'"
                     " AND appointment_id = '%s'" % common.appointment_uuid(a))

    book(s, a, 1, utc(t1), clinic=CENTER, patient=p)
    book(s, a, 2, utc(t1), status="no_show", clinic=CENTER, patient=p)
    assert reinvite() == [["pending", "-", t1.strftime("%Y-%m-%d %H:%M:%S")]], reinvite()
    book(s, a, 3, utc(t2), status="rescheduled", clinic=CENTER, patient=p)
    assert reinvite()[0][:2] == ["cancelled", "replanned"], reinvite()
    book(s, a, 4, utc(t2), status="no_show", clinic=CENTER, patient=p)
    assert reinvite() == [["pending", "-", t2.strftime("%Y-%m-%d %H:%M:%S")]], reinvite()


def test_a_missed_visit_given_another_patient_is_drawn_again(s):
    # The MIS corrects a missed visit's patient: the re-invite the first
    # patient's draw held out is the new patient's now, drawn again, and
    # the new patient is the campaign's member
    held = target = None
    while not held or not target:
        p, e164 = patient(s, "Вера", {"calls": True, "sms": True, "marketing": True})
        if held_out(common.patient_uuid(p)):
            held = held or (p, e164)
        else:
            target = target or (p, e164)
    past = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    a = common.new_id("a-given")

    def reinvite():
        return s.sql("SELECT status, coalesce(reason, '-'), patient_id FROM"
                     " reminders.reminder_jobs WHERE kind = 'reinvite'"
                     " AND appointment_id = '%s'" % common.appointment_uuid(a))

    book(s, a, 1, past, clinic=NORTH, patient=held[0])
    book(s, a, 2, past, status="no_show", clinic=NORTH, patient=held[0])
    assert reinvite() == [["skipped", "holdout", common.patient_uuid(held[0])]], reinvite()
    cfstack.wait_until(lambda: members(s, held[0]), 30, "the first patient's campaign event")
    book(s, a, 3, past, status="no_show", clinic=NORTH, patient=target[0])
    _, doc, _ = wait_request(s, a, 1)
    assert doc["command"]["kind"] == "reinvite" and doc["contact"]["phone"] == target[1], doc
    cfstack.wait_until(lambda: members(s, target[0]), 30, "the new patient's campaign event")
    (m,) = members(s, target[0])
    assert m["group"] == "target" and m["appointment_id"] == common.appointment_uuid(a), m


def test_a_completed_visit_is_surveyed_once(s):
    p, _ = patient(s, "Анна", {"calls": True, "sms": True})
    a = common.new_id("a-nps")
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=40)
    body = {"clinic_id": NORTH, "patient_id": p, "starts_at": utc(start),
            "ends_at": utc(start + datetime.timedelta(minutes=30)), "doctor_id": "dr-petrova"}
    ok(s.put_appointment(a, dict(body, version=1, status="booked")))
    ok(s.put_appointment(a, dict(body, version=2, status="completed")))
    _, doc, _ = wait_request(s, a, 1)
    assert doc["command"]["kind"] == "nps" and doc["command"]["channel"] == "sms", doc
    link = doc["text"].split()[-1]
    assert link.startswith(PUBLIC + "/nps/") and "Анна" in doc["text"], doc["text"]
    path = link[len(PUBLIC):]
    page = s.request("GET", path, key=None)
    html = page.raw.decode()
    assert page.status == 200 and page.headers["content-type"].startswith("text/html"), page
    # the form posts to the page's own address, relative: a proxy's path
    # prefix in the public base URL stays in it
    token = path.rsplit("/", 1)[1]
    assert '<form method="post" action="%s">' % token in html and "Demo Dental North" in html
    assert page.headers.get("cache-control") == "no-store", page.headers
    form = "application/x-www-form-urlencoded"
    bad = s.request("POST", path, b"score=11", key=None, content_type=form)
    assert bad.status == 400 and "от 0 до 10" in bad.raw.decode(), bad
    assert s.request("GET", "/nps/" + "0" * 32, key=None).status == 404
    got = s.request("POST", path, "score=9&comment=Спасибо доктору".encode(), key=None,
                    content_type=form)
    assert got.status == 200 and "Спасибо" in got.raw.decode(), got
    again = s.request("POST", path, b"score=1", key=None, content_type=form)
    assert again.status == 409, again
    ev = s.wait_message(OUTCOMES, lambda m: m["event"]["type"] == "clinicflow.nps.answered"
                        and m["event"]["data"]["appointment_id"] == common.appointment_uuid(a),
                        "the survey's answer")
    data = ev["event"]["data"]
    assert (data["score"], data["category"], data["doctor_id"], data["has_comment"]) == (
        9, "promoter", "dr-petrova", True), data
    assert "comment" not in data and ev["key"] == common.patient_uuid(p)
    assert s.sql("SELECT score, comment FROM reminders.nps_surveys WHERE appointment_id = '%s'"
                 % common.appointment_uuid(a)) == [["9", "Спасибо доктору"]]
    # an old visit imported as completed is never surveyed
    old = common.new_id("a-nps-old")
    then = start - datetime.timedelta(days=30)
    ok(s.put_appointment(old, dict(body, version=1, status="completed", starts_at=utc(then),
                                   ends_at=utc(then + datetime.timedelta(minutes=30)))))
    assert s.sql("SELECT count(*) FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
                 % common.appointment_uuid(old)) == [["0"]]
    # a patient erased after their survey's SMS went: its link answers 410,
    # and nothing is taken from them
    gone, _ = patient(s, "Лев", {"calls": True, "sms": True})
    b = common.new_id("a-nps-erased")
    ok(s.put_appointment(b, dict(body, version=1, status="completed", patient_id=gone)))
    _, doc, _ = wait_request(s, b, 1)
    path = doc["text"].split()[-1][len(PUBLIC):]
    ok(s.delete_patient(gone))
    late = s.request("POST", path, b"score=3", key=None, content_type=form)
    assert late.status == 410, late
    assert s.sql("SELECT score IS NULL FROM reminders.nps_surveys WHERE appointment_id = '%s'"
                 % common.appointment_uuid(b)) == [["t"]]


def test_patients_not_seen_for_months_are_recalled(s):
    long_ago = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=240))
    held, target = [], []
    while len(held) < 1 or len(target) < 1:
        p = common.new_id("p-recall")
        national, e164 = common.new_phone()
        ok(s.put_patient(p, {"version": 1, "first_name": "Олег", "phones": [national],
                             "clinic_id": NORTH, "last_visit_at": long_ago, "language": "ru",
                             "consents": {"calls": True, "sms": True, "marketing": True}}))
        (held if held_out(common.patient_uuid(p), campaign="recall") else target).append(p)
    # seen long ago too, but booked again (the booking first: the MIS may
    # send them in any order, and a recall round may come in between)
    booked = common.new_id("p-recall-booked")
    book(s, common.new_id("a-recall-future"), 1, utc(in_s(40 * 86400)), clinic=NORTH,
         patient=booked)
    ok(s.put_patient(booked, {"version": 1, "first_name": "Ия", "phones": [common.new_phone()[0]],
                              "clinic_id": NORTH, "last_visit_at": long_ago,
                              "consents": {"calls": True, "sms": True, "marketing": True}}))

    def member(p):
        got = [m["event"]["data"] for m in s.messages(OUTCOMES)
               if m["event"]["type"] == "clinicflow.campaign.member"
               and m["event"]["data"]["campaign"] == "recall"
               and m["event"]["data"]["patient_id"] == common.patient_uuid(p)]
        return got

    for p in held + target:
        cfstack.wait_until(lambda p=p: member(p), 30, "the recall's campaign event")
        (m,) = member(p)
        assert m["group"] == ("holdout" if p in held else "target"), m
        assert "appointment_id" not in m, m
    p = target[0]

    def sms():
        with s.dialer.lock:
            return [r for r in s.dialer.requests if r[1]["command"]["kind"] == "recall"
                    and r[1]["command"]["patient_id"] == common.patient_uuid(p)]
    cfstack.wait_until(sms, 30, "the recall SMS")
    send_id, doc, _ = sms()[0]
    assert "профилактический" in doc["text"] and "appointment_id" not in doc["command"], doc
    ok(s.report({"send_id": send_id, "outcome": "confirmed"}))
    task = s.wait_message(TASKS, lambda m: m["event"]["data"].get("reason") == "recall"
                          and m["event"]["data"].get("patient_id") == common.patient_uuid(p),
                          "the recall's task")
    assert "appointment_id" not in task["event"]["data"], task
    # later rounds (every 0.3 s: the marker's round trip waits out several)
    # ask nobody again, the booked patient never
    s.marker()
    for q in held + target:
        assert s.sql("SELECT count(*) FROM reminders.reminder_jobs WHERE kind = 'recall'"
                     " AND patient_id = '%s'" % common.patient_uuid(q)) == [["1"]], q
    assert not member(booked)
    assert [r[0] for r in s.sql("SELECT reason FROM reminders.reminder_jobs WHERE kind ="
                                " 'recall' AND patient_id = '%s'" % common.patient_uuid(held[0]))
            ] == ["holdout"]


# --- Twilio at demo-south: a call that ends with no key, a survey answered by SMS ---

def twilio_south(s):
    """Gives demo-south a Twilio gateway (test_gateways' stand-in of Twilio's
    API), round-the-clock windows, one reminder two hours ahead, one retry a
    minute later and the survey at once; applied once, awaited until the
    service runs on it. Returns the stand-in."""
    if getattr(s, "twilio_gw", None):
        return s.twilio_gw
    from test_gateways import Gateways
    s.twilio_gw = Gateways()
    south_offsets(s, [2])
    return s.twilio_gw


def south_offsets(s, offsets, **policy):
    """Applies twilio_south's network with demo-south's reminders at
    offsets (hours ahead) and the other members of policy, awaited until
    the service runs on it."""
    from test_gateways import ACCOUNT, FROM, TOKEN
    gw = s.twilio_gw
    doc = s.network()
    for c in doc["clinics"]:
        if c["id"] == "demo-south":
            c["calling_windows"] = ["00:00-24:00"]
            c["reminder_policy"] = dict({"offsets_hours": offsets, "call_retries": 1,
                                         "retry_minutes": 1, "nps_delay_minutes": 0}, **policy)
    # the channels the stack has, and Twilio's
    doc["channels"] += [
        {"id": "it-north-dialer", "kind": "gateway", "provider": "webhook", "clinic_id": NORTH,
         "credentials": {"url": s.dialer.url, "secret": SECRET}},
        {"id": "it-south-twilio", "kind": "gateway", "provider": "twilio",
         "clinic_id": "demo-south",
         "credentials": {"account_sid": ACCOUNT, "auth_token": TOKEN, "from": FROM,
                         "api_url": gw.url}},
    ]
    cfstack.apply_network_and_wait(s.dsn, doc, [s.svc])


def gather_url(twiml):
    from test_gateways import gather_url as url
    return url(twiml)


def twilio_post(s, url, fields):
    """A callback to url as Twilio posts it, signed (test_gateways' way)."""
    from test_gateways import GatewayStack
    return GatewayStack.twilio(s, url, fields)


def twilio_sent(s, kind, e164, n=1, timeout=30):
    """The n-th request of kind ("call", "sms") to e164 at Twilio, once
    there and marked sent: (kind, send_id, fields)."""
    gw = s.twilio_gw
    cfstack.wait_until(lambda: len(gw.of(kind, e164)) >= n, timeout,
                       "%s %d to %s at Twilio" % (kind, n, e164))
    req = gw.of(kind, e164)[n - 1]
    cfstack.wait_until(lambda: s.sql("SELECT status FROM reminders.sends WHERE send_id = '%s'"
                                     % req[1]) == [["sent"]], 30, "send %s sent" % req[1])
    return req


class LateKey(threading.Thread):
    """Waits until the appointment's retry is out (its job emitted at
    attempt 2) while held is holding its command back, then presses 1 on
    the first call's gather and lets the command go; error says what went
    wrong, if anything."""

    def __init__(self, s, a, e164, fields, held):
        super().__init__(daemon=True)
        self.s, self.a, self.e164, self.fields, self.held = s, a, e164, fields, held
        self.error = None

    def run(self):
        from test_gateways import ACCOUNT
        try:
            cfstack.wait_until(lambda: job_of(self.s, self.a)[:2] == ("emitted", "2"), 120,
                               "the retry out")
            gather = gather_url(self.fields["Twiml"])
            key = twilio_post(self.s, gather, {"AccountSid": ACCOUNT, "CallSid": "CA" + "4" * 32,
                                               "CallStatus": "completed", "Digits": "1",
                                               "To": self.e164})
            assert key.status == 200, key
            assert job_of(self.s, self.a) == ("done", "2", "call", "confirmed"), job_of(
                self.s, self.a)
        except BaseException as e:  # told by the second half
            self.error = e
        finally:
            self.held.release()


def test_a_twilio_call_ended_with_no_key_is_retried(s):
    """The first half: the call's end alone asks for the retry a minute
    later, and a key that comes after the end still wins. The retry is
    looked at by test_after_the_twilio_retry_the_sms_goes, run after
    test_no_answer_twice_then_sms_and_a_task, whose own minute covers this
    one's."""
    from test_gateways import ACCOUNT
    twilio_south(s)
    p, e164 = patient(s, "Ольга", {"calls": True, "sms": True})
    a = common.new_id("a-no-key")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p)
    _, first, fields = twilio_sent(s, "call", e164)
    # picked up, nobody pressed a key: only the call's end comes
    t0 = time.time()
    got = twilio_post(s, fields["StatusCallback"], {
        "AccountSid": ACCOUNT, "CallSid": "CA" + "1" * 32, "CallStatus": "completed",
        "CallDuration": "9", "To": e164})
    assert got.status == 200 and "<Response" in got.raw.decode(), got
    assert job_of(s, a)[:3] == ("pending", "2", "call"), job_of(s, a)
    assert reminder_status(s, a) == "-"
    ev = outcome_event(s, first, "no_reply")["event"]["data"]
    assert (ev["gateway"], ev["channel"], ev["duration_s"]) == ("twilio", "call", 9), ev
    assert ev["next"]["channel"] == "call" and ev["next"]["attempt"] == 2, ev
    assert "reminder_status" not in ev, ev

    # another patient's call: its end first, then the key after all: the
    # key wins, the retry the end asked for never goes
    p2, e2 = patient(s, "Пётр", {"calls": True, "sms": True})
    a2 = common.new_id("a-key-late")
    book(s, a2, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p2)
    _, call2, fields2 = twilio_sent(s, "call", e2)
    t2 = time.time()
    ok_ = twilio_post(s, fields2["StatusCallback"], {
        "AccountSid": ACCOUNT, "CallSid": "CA" + "2" * 32, "CallStatus": "completed",
        "CallDuration": "11", "To": e2})
    assert ok_.status == 200, ok_
    assert job_of(s, a2)[:3] == ("pending", "2", "call"), job_of(s, a2)
    gather = gather_url(fields2["Twiml"])
    key = twilio_post(s, gather, {"AccountSid": ACCOUNT, "CallSid": "CA" + "2" * 32,
                                  "CallStatus": "completed", "Digits": "1", "To": e2})
    assert key.status == 200 and "<Say" in key.raw.decode(), key
    assert job_of(s, a2) == ("done", "2", "call", "confirmed"), job_of(s, a2)
    assert reminder_status(s, a2) == "confirmed"
    late = outcome_event(s, call2, "confirmed")["event"]["data"]
    assert late["reminder_status"] == "confirmed" and "next" not in late, late
    # and the call's end told again after the key changes nothing
    again = twilio_post(s, fields2["StatusCallback"], {
        "AccountSid": ACCOUNT, "CallSid": "CA" + "2" * 32, "CallStatus": "completed",
        "CallDuration": "11", "To": e2})
    assert again.status == 200 and reminder_status(s, a2) == "confirmed", again
    assert s.sql("SELECT outcome FROM reminders.sends WHERE send_id = '%s'" % call2) == [
        ["confirmed"]]

    # a third: the call's end, then the retry's command out and not yet
    # sent when the key comes after all: the retry never goes. The key is
    # pressed the moment the retry is out, by a thread, so the dispatcher
    # is held back no longer than that; the second half looks.
    p3, e3 = patient(s, "Вера", {"calls": True, "sms": True})
    a3 = common.new_id("a-key-later")
    book(s, a3, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p3)
    _, _, fields3 = twilio_sent(s, "call", e3)
    held = common.HeldCommand(s.dsn, job_id_of(s, a3), 2)
    late = LateKey(s, a3, e3, fields3, held)
    try:
        end = twilio_post(s, fields3["StatusCallback"], {
            "AccountSid": ACCOUNT, "CallSid": "CA" + "4" * 32, "CallStatus": "completed",
            "CallDuration": "6", "To": e3})
        assert end.status == 200 and job_of(s, a3)[:3] == ("pending", "2", "call"), end
    except BaseException:
        held.release()
        raise
    late.start()
    s.no_key = {"a": a, "e164": e164, "first": first, "t0": t0, "a2": a2, "e2": e2, "t2": t2,
                "late": late}


def test_after_the_twilio_retry_the_sms_goes(s):
    """The second half of test_a_twilio_call_ended_with_no_key_is_retried."""
    from test_gateways import ACCOUNT
    state = getattr(s, "no_key", None)
    assert state, "test_a_twilio_call_ended_with_no_key_is_retried did not get this far"
    a, e164 = state["a"], state["e164"]
    # the third patient's retry, out and held from the dispatchers when
    # the key came: skipped as superseded, never sent
    late = state["late"]
    late.join(130)
    assert not late.is_alive() and late.error is None, late.error
    superseded(s, job_id_of(s, late.a), 2)
    assert len(s.twilio_gw.of("call", late.e164)) == 1, s.twilio_gw.of("call", late.e164)
    assert job_of(s, late.a) == ("done", "2", "call", "confirmed"), job_of(s, late.a)
    assert reminder_status(s, late.a) == "confirmed"

    # the first patient's retry, a minute after the call's end
    _, second, fields = twilio_sent(s, "call", e164, n=2, timeout=120)
    retried_at = s.sql("SELECT (extract(epoch FROM created_at) * 1000)::bigint FROM"
                       " reminders.sends WHERE send_id = '%s'" % second)[0][0]
    assert int(retried_at) / 1000.0 - state["t0"] >= 59, "the retry came before its minute"
    assert second != state["first"]
    # a person picked up again and pressed nothing: retries spent, the SMS
    # rung, not confirmed, the front desk calls
    got = twilio_post(s, fields["StatusCallback"], {
        "AccountSid": ACCOUNT, "CallSid": "CA" + "3" * 32, "CallStatus": "completed",
        "AnsweredBy": "human", "CallDuration": "7", "To": e164})
    assert got.status == 200, got
    assert reminder_status(s, a) == "not_confirmed"
    ev = outcome_event(s, second, "no_reply")["event"]["data"]
    assert ev["reminder_status"] == "not_confirmed" and ev["next"]["channel"] == "sms", ev
    assert ev["next"]["attempt"] == 3, ev
    _, sms_id, sms = twilio_sent(s, "sms", e164)
    assert "СТОП" in sms["Body"], sms
    task = s.wait_message(TASKS, lambda m: m["event"]["data"].get("appointment_id")
                          == common.appointment_uuid(a), "the not-confirmed task")
    assert task["event"]["data"]["reason"] == "not_confirmed", task
    cfstack.wait_until(lambda: job_of(s, a) == ("emitted", "3", "sms", "sms_sent"), 30,
                       "the SMS rung out")

    # the confirmed patient's retry would have come by now: none came
    cfstack.wait_until(lambda: time.time() > state["t2"] + 65, 70,
                       "the late key's retry minute gone")
    assert len(s.twilio_gw.of("call", state["e2"])) == 1, s.twilio_gw.of("call", state["e2"])
    assert job_of(s, state["a2"]) == ("done", "2", "call", "confirmed"), job_of(s, state["a2"])


def test_a_survey_is_answered_by_an_sms_reply(s):
    from test_gateways import ACCOUNT, FROM
    twilio_south(s)
    # no calls: a reminder goes straight to its SMS (below)
    p, e164 = patient(s, "Анна", {"calls": False, "sms": True})
    a = common.new_id("a-nps-sms")
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=40)
    body = {"clinic_id": "demo-south", "patient_id": p, "starts_at": utc(start),
            "ends_at": utc(start + datetime.timedelta(minutes=30)), "doctor_id": "dr-sidorova"}
    ok(s.put_appointment(a, dict(body, version=1, status="booked")))
    ok(s.put_appointment(a, dict(body, version=2, status="completed")))
    _, survey_sms, sms = twilio_sent(s, "sms", e164)
    link = sms["Body"].split()[-1]
    assert link.startswith(PUBLIC + "/nps/"), sms["Body"]
    path = link[len(PUBLIC):]
    inbound = PUBLIC + "/v1/hooks/reminders/twilio/it-south-twilio"

    def reply(text, sid):
        got = twilio_post(s, inbound, {"AccountSid": ACCOUNT, "MessageSid": sid, "From": e164,
                                       "To": FROM, "Body": text})
        assert got.status == 200 and got.headers["content-type"].startswith("text/xml"), got
        return got.raw.decode()

    def answers():
        return [m["event"]["data"] for m in s.messages(OUTCOMES)
                if m["event"]["type"] == "clinicflow.nps.answered"
                and m["event"]["data"]["appointment_id"] == common.appointment_uuid(a)]

    # the patient replies with the score and a word of thanks
    said = reply(" 9 спасибо ", "SM" + "4" * 32)
    assert "<Message>Спасибо! Ваш ответ получен.</Message>" in said, said
    ev = s.wait_message(OUTCOMES, lambda m: m["event"]["type"] == "clinicflow.nps.answered"
                        and m["event"]["data"]["appointment_id"] == common.appointment_uuid(a),
                        "the survey's answer by SMS")
    data = ev["event"]["data"]
    assert (data["score"], data["category"], data["doctor_id"], data["has_comment"]) == (
        9, "promoter", "dr-sidorova", True), data
    assert ev["key"] == common.patient_uuid(p) and "comment" not in data, ev
    assert s.sql("SELECT score, comment FROM reminders.nps_surveys WHERE appointment_id = '%s'"
                 % common.appointment_uuid(a)) == [["9", "спасибо"]]
    # Twilio posts the same message again (our answer lost on the way): the
    # same answer, not "answered before" for the patient's own reply
    said = reply(" 9 спасибо ", "SM" + "4" * 32)
    assert "<Message>Спасибо! Ваш ответ получен.</Message>" in said, said
    # single use: the page says it was answered, a second reply changes nothing
    page = s.request("GET", path, key=None)
    assert page.status == 200 and "уже ответили" in page.raw.decode(), page
    form = "application/x-www-form-urlencoded"
    assert s.request("POST", path, b"score=2", key=None, content_type=form).status == 409
    said = reply("3", "SM" + "5" * 32)
    assert "уже ответили" in said, said
    # the survey's SMS got no outcome from the replies: they were the survey's
    cfstack.wait_until(lambda: s.sql("SELECT coalesce(outcome, '-') FROM reminders.sends"
                                     " WHERE send_id = '%s'" % survey_sms) == [["sms_sent"]],
                       10, "the survey's SMS with its own outcome only")

    # a reminder's SMS is the latest now: 1 confirms the visit, as before
    a2 = common.new_id("a-after-survey")
    book(s, a2, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p)
    _, reminder_sms, sms = twilio_sent(s, "sms", e164, n=2)
    assert "/nps/" not in sms["Body"] and "Ответьте 1" in sms["Body"], sms
    said = reply("1", "SM" + "6" * 32)
    assert "<Message>" not in said, said
    assert reminder_status(s, a2) == "confirmed"
    outcome_event(s, reminder_sms, "confirmed")
    s.marker()
    assert [d["score"] for d in answers()] == [9], answers()
    assert s.sql("SELECT score FROM reminders.nps_surveys WHERE appointment_id = '%s'"
                 % common.appointment_uuid(a)) == [["9"]]


def south_reply(s, e164, text, sid):
    """An SMS from e164 to demo-south's Twilio number, as Twilio posts it."""
    from test_gateways import ACCOUNT, FROM
    got = twilio_post(s, PUBLIC + "/v1/hooks/reminders/twilio/it-south-twilio", {
        "AccountSid": ACCOUNT, "MessageSid": sid, "From": e164, "To": FROM, "Body": text})
    assert got.status == 200, got
    return got


def south_sms(s, name):
    """A demo-south patient who takes no calls: each reminder goes straight
    to its SMS, not confirmed, with a front-desk task. (patient, e164, reply)
    where reply(text, sid) answers by SMS as Twilio posts it."""
    twilio_south(s)
    p, e164 = patient(s, name, {"calls": False, "sms": True})
    return p, e164, lambda text, sid: south_reply(s, e164, text, sid)


def reinvite_waiting(s, name):
    """A demo-south patient (SMS and marketing only) whose visit an hour ago
    was missed, and its re-invite's SMS out, waiting for an answer (the
    south policy with re-invites at once and no holdout, which the caller
    sets back). (patient, e164, the missed visit, the re-invite's SMS)."""
    twilio_south(s)
    south_offsets(s, [2], reinvite_after_hours=0, holdout_percent=0)
    p, e164 = patient(s, name, {"calls": False, "sms": True, "marketing": True})
    past = utc(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1))
    missed = common.new_id("a-missed-south")
    book(s, missed, 1, past, clinic="demo-south", patient=p)
    book(s, missed, 2, past, status="no_show", clinic="demo-south", patient=p)
    _, _, sms = twilio_sent(s, "sms", e164, n=1)
    job = ("SELECT status, coalesce(result, '-') FROM reminders.reminder_jobs"
           " WHERE kind = 'reinvite' AND appointment_id = '%s'" % common.appointment_uuid(missed))
    cfstack.wait_until(lambda: s.sql(job) == [["emitted", "sms_sent"]], 30,
                       "the re-invite's SMS out, waiting")
    return p, e164, missed, sms


def wait_sms_out(s, a, n, what):
    """Until n of the appointment's reminders have their SMS out (handed
    over, no answer yet)."""
    cfstack.wait_until(lambda: s.sql(
        "SELECT count(*) FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
        " AND status = 'emitted' AND result = 'sms_sent'" % common.appointment_uuid(a))
        == [[str(n)]], 30, what)


def open_task(s, a, job_id):
    """The not_confirmed task of the appointment's job, as opened on the
    tasks topic."""
    task_id = common.cf_uuid5(job_id, "task", "not_confirmed")
    return s.wait_message(TASKS, lambda m: m["key"] == task_id
                          and m["event"]["type"] == "clinicflow.task.opened",
                          "the not-confirmed task of %s" % a)["event"]["data"]


def test_a_reply_that_may_answer_two_visits_answers_neither(s):
    """One number, two visits waiting for an answer (a family's phone, two
    visits a day): a reply could be about either, so neither takes it and
    the front desk's tasks stay open; once only one waits, it does."""
    p, e164, reply = south_sms(s, "Мария")
    a1, a2 = common.new_id("a-twins-1"), common.new_id("a-twins-2")
    t1 = utc(in_s(2 * 3600 + 2))
    book(s, a1, 1, t1, clinic="demo-south", patient=p)
    twilio_sent(s, "sms", e164, n=1)
    book(s, a2, 1, utc(in_s(2 * 3600 + 3)), clinic="demo-south", patient=p)
    twilio_sent(s, "sms", e164, n=2)
    # the call rung skipped (no consent), then the SMS
    for a in (a1, a2):
        cfstack.wait_until(lambda: job_of(s, a)[::3] == ("emitted", "sms_sent"), 30,
                           "the SMS of %s out" % a)
        assert job_of(s, a)[2] == "sms" and reminder_status(s, a) == "not_confirmed"
    sms_out = [job_of(s, a) for a in (a1, a2)]
    before = cfstack.metric(s.svc, 'clinicflow_reminders_outcomes_total{provider="twilio",'
                                   'result="ambiguous"}')
    # "2" would free a visit: neither is told, nothing recorded
    got = reply("2", "SM" + "a" * 32)
    assert "<Message>" not in got.raw.decode(), got
    assert [reminder_status(s, a) for a in (a1, a2)] == ["not_confirmed", "not_confirmed"]
    assert [job_of(s, a) for a in (a1, a2)] == sms_out
    assert cfstack.metric(s.svc, 'clinicflow_reminders_outcomes_total{provider="twilio",'
                                 'result="ambiguous"}') == before + 1
    assert s.sql("SELECT count(*) FROM reminders.tasks t JOIN reminders.reminder_jobs j"
                 " USING (job_id) WHERE j.patient_id = '%s' AND t.status = 'open'"
                 " AND t.reason = 'not_confirmed'" % common.patient_uuid(p)) == [["2"]]
    # the first visit is cancelled: only the second waits, and "1" is its
    book(s, a1, 2, t1, status="cancelled", clinic="demo-south", patient=p)
    reply("1", "SM" + "b" * 32)
    assert reminder_status(s, a2) == "confirmed"
    assert job_of(s, a2) == ("done",) + sms_out[1][1:3] + ("confirmed",), job_of(s, a2)
    assert job_of(s, a1)[3] == "sms_sent", job_of(s, a1)


def test_a_digit_for_a_survey_and_a_waiting_reminder_answers_neither(s):
    """A reminder's SMS waits for its "1" (sent yesterday, for tomorrow's
    visit); a survey of the visit the patient had today asks for a score
    after it. "1" could be either (a score of 1, or "I am coming"), so
    neither takes it; a score no reminder answer reads as ("8") is the
    survey's."""
    p, e164, reply = south_sms(s, "Вера")
    # no duplicate hold: the two SMS go minutes apart here, not a day
    south_offsets(s, [2], duplicate_hours=0)
    try:
        ahead = common.new_id("a-ahead-of-survey")
        book(s, ahead, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p)
        twilio_sent(s, "sms", e164, n=1)
        cfstack.wait_until(lambda: job_of(s, ahead)[::3] == ("emitted", "sms_sent"), 30,
                           "the reminder's SMS out")
        sms_out = job_of(s, ahead)
        had = common.new_id("a-surveyed")
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=40)
        body = {"clinic_id": "demo-south", "patient_id": p, "starts_at": utc(start),
                "ends_at": utc(start + datetime.timedelta(minutes=30)),
                "doctor_id": "dr-sidorova"}
        ok(s.put_appointment(had, dict(body, version=1, status="booked")))
        ok(s.put_appointment(had, dict(body, version=2, status="completed")))
        _, _, sms = twilio_sent(s, "sms", e164, n=2)
        assert "/nps/" in sms["Body"], sms
        survey = ("SELECT coalesce(score::text, '-') FROM reminders.nps_surveys"
                  " WHERE appointment_id = '%s'" % common.appointment_uuid(had))
        ambiguous = ('clinicflow_reminders_outcomes_total{provider="twilio",'
                     'result="ambiguous"}')
        before = cfstack.metric(s.svc, ambiguous)
        got = reply("1", "SM" + "f1" * 16)
        assert "<Message>" not in got.raw.decode(), got
        assert s.sql(survey) == [["-"]], s.sql(survey)
        assert reminder_status(s, ahead) == "not_confirmed" and job_of(s, ahead) == sms_out
        assert cfstack.metric(s.svc, ambiguous) == before + 1
        got = reply("8", "SM" + "f2" * 16)
        assert "Спасибо" in got.raw.decode(), got
        assert s.sql(survey) == [["8"]], s.sql(survey)
        assert reminder_status(s, ahead) == "not_confirmed" and job_of(s, ahead) == sms_out
    finally:
        south_offsets(s, [2])


def test_a_score_while_two_surveys_wait_answers_neither(s):
    """Two visits of one number surveyed the same day (a family's phone):
    a score replied by SMS could be about either doctor, so neither survey
    takes it (before, the later one did); each survey's page still does."""
    p, e164, reply = south_sms(s, "Нина")
    south_offsets(s, [2], duplicate_hours=0)
    try:
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=40)
        visits = [common.new_id("a-family-%d" % i) for i in range(2)]
        for i, (a, doctor) in enumerate(zip(visits, ("dr-sidorova", "dr-ivanov"))):
            body = {"clinic_id": "demo-south", "patient_id": p, "starts_at": utc(start),
                    "ends_at": utc(start + datetime.timedelta(minutes=30)), "doctor_id": doctor}
            ok(s.put_appointment(a, dict(body, version=1, status="booked")))
            ok(s.put_appointment(a, dict(body, version=2, status="completed")))
            _, _, sms = twilio_sent(s, "sms", e164, n=i + 1)
            assert "/nps/" in sms["Body"], sms
        surveys = ("SELECT coalesce(score::text, '-') FROM reminders.nps_surveys"
                   " WHERE appointment_id IN ('%s', '%s')"
                   % tuple(common.appointment_uuid(a) for a in visits))
        ambiguous = ('clinicflow_reminders_outcomes_total{provider="twilio",'
                     'result="ambiguous"}')
        before = cfstack.metric(s.svc, ambiguous)
        got = reply("9", "SM" + "9b" * 16)
        assert "<Message>" not in got.raw.decode(), got
        assert s.sql(surveys) == [["-"], ["-"]], s.sql(surveys)
        assert cfstack.metric(s.svc, ambiguous) == before + 1
    finally:
        south_offsets(s, [2])


def test_a_reinvite_answered_by_booking_leaves_the_reply_to_the_reminder(s):
    """A missed visit's re-invite SMS goes unanswered: the patient phones
    and books instead. The new visit's reminder SMS then asks the only
    question still open, so "1" confirms it: the re-invite waits for no
    answer once its patient has booked (else the reply may answer either,
    and nobody takes it)."""
    try:
        p, e164, missed, sms = reinvite_waiting(s, "Зоя")
        assert "не увиделись" in sms["Body"], sms
        reinvite = ("SELECT status, coalesce(result, '-') FROM reminders.reminder_jobs"
                    " WHERE kind = 'reinvite' AND appointment_id = '%s'"
                    % common.appointment_uuid(missed))
        a = common.new_id("a-booked-after-reinvite")
        book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p)
        twilio_sent(s, "sms", e164, n=2)
        cfstack.wait_until(lambda: job_of(s, a)[::3] == ("emitted", "sms_sent"), 30,
                           "the reminder's SMS out")
        south_reply(s, e164, "1", "SM" + "e" * 32)
        assert reminder_status(s, a) == "confirmed", (job_of(s, a), s.sql(reinvite))
        assert s.sql(reinvite) == [["emitted", "sms_sent"]], s.sql(reinvite)
    finally:
        south_offsets(s, [2])


def test_a_reply_to_a_reinvite_after_booking_decides_nothing(s):
    """A missed visit's re-invite SMS goes unanswered, the patient phones and
    books a visit days ahead (its reminder not out yet), then texts "1": the
    re-invite was answered by the booking, so the reply is told on its send
    and decides nothing (before, it moved the re-invite's ladder: the front
    desk was asked to call and book a patient already booked)."""
    try:
        p, e164, missed, _ = reinvite_waiting(s, "Ада")
        reinvite = ("SELECT j.status, coalesce(j.result, '-'), s.send_id, coalesce(s.outcome, '-')"
                    " FROM reminders.reminder_jobs j JOIN reminders.sends s USING (job_id)"
                    " WHERE j.kind = 'reinvite' AND j.appointment_id = '%s'"
                    % common.appointment_uuid(missed))
        a = common.new_id("a-booked-days-ahead")
        book(s, a, 1, utc(in_s(3 * 86400)), clinic="demo-south", patient=p)
        cfstack.wait_until(lambda: job_of(s, a)[0] == "pending", 30, "the visit's reminder planned")

        def patients_tasks():
            return [m["event"]["id"] for m in s.messages(TASKS)
                    if m["event"]["data"].get("patient_id") == common.patient_uuid(p)]
        s.marker()
        tasks_before = patients_tasks()
        south_reply(s, e164, "1", "SM" + "7a" * 16)
        [(status, result, send_id, outcome)] = s.sql(reinvite)
        assert (status, result, outcome) == ("emitted", "sms_sent", "confirmed"), s.sql(reinvite)
        ev = outcome_event(s, send_id, "confirmed")["event"]["data"]
        assert "next" not in ev and "reminder_status" not in ev, ev
        s.marker()
        assert patients_tasks() == tasks_before
        assert job_of(s, a)[0] == "pending" and reminder_status(s, a) == "-"
    finally:
        south_offsets(s, [2])


def test_an_answer_closes_the_task_of_the_visits_earlier_reminder(s):
    """A visit's reminder ends not confirmed, the visit moves (the MIS
    moving it closes the task about its old time: closed_by visit) and the
    reminder for the new time is confirmed (its task closes by the answer):
    the front desk need not call about the visit at all."""
    p, e164, reply = south_sms(s, "Елена")
    a = common.new_id("a-moved-confirmed")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p)
    twilio_sent(s, "sms", e164, n=1)
    first_job = job_id_of(s, a)
    first = open_task(s, a, first_job)
    book(s, a, 2, utc(in_s(2 * 3600 + 5)), clinic="demo-south", patient=p)
    twilio_sent(s, "sms", e164, n=2)
    second_job = s.sql("SELECT job_id FROM reminders.reminder_jobs WHERE appointment_id = '%s'"
                       " AND job_id <> '%s'" % (common.appointment_uuid(a), first_job))[0][0]
    second = open_task(s, a, second_job)
    cfstack.wait_until(lambda: reminder_status(s, a) == "not_confirmed", 30,
                       "the new time's reminder not confirmed")
    reply("1", "SM" + "c" * 32)
    assert reminder_status(s, a) == "confirmed"
    for opened, by in ((first, "visit"), (second, "answer")):
        closed = task_closed(s, opened)
        assert (closed["closed_by"], closed["reason"]) == (by, "not_confirmed"), closed
        assert closed["contact"]["e164"] == e164, closed
    assert s.sql("SELECT count(*) FROM reminders.tasks WHERE job_id IN ('%s', '%s')"
                 " AND status = 'open'" % (first_job, second_job)) == [["0"]]


def test_a_reply_answers_a_visit_whose_two_reminders_wait(s):
    """A visit reminded three hours and two hours ahead by SMS, neither
    answered yet: both ask about the one visit, so a reply is its answer
    (not a reply that may answer two visits), and the visit's tasks close.
    The twin visits of the test above still make a reply ambiguous."""
    p, e164, reply = south_sms(s, "Ольга")
    south_offsets(s, [3, 2])
    try:
        a = common.new_id("a-two-reminders")
        book(s, a, 1, utc(in_s(3 * 3600 + 2)), clinic="demo-south", patient=p)
        twilio_sent(s, "sms", e164, n=1)
        # the two-hour reminder made due now, as an hour later it would be
        assert len(s.sql("UPDATE reminders.reminder_jobs SET due_at = now()"
                         " WHERE appointment_id = '%s' AND offset_hours = 2"
                         " AND status = 'pending' RETURNING job_id"
                         % common.appointment_uuid(a))) == 1
        twilio_sent(s, "sms", e164, n=2)
        wait_sms_out(s, a, 2, "both reminders' SMS out")
        before = cfstack.metric(s.svc, 'clinicflow_reminders_outcomes_total{provider="twilio",'
                                       'result="ambiguous"}')
        reply("1", "SM" + "d" * 32)
        assert reminder_status(s, a) == "confirmed"
        assert cfstack.metric(s.svc, 'clinicflow_reminders_outcomes_total{provider="twilio",'
                                     'result="ambiguous"}') == before
        assert s.sql("SELECT count(*) FROM reminders.tasks t JOIN reminders.reminder_jobs j"
                     " USING (job_id) WHERE j.appointment_id = '%s' AND t.status = 'open'"
                     % common.appointment_uuid(a)) == [["0"]]
        jobs = "SELECT offset_hours, status, coalesce(result, '-') FROM reminders.reminder_jobs" \
               " WHERE appointment_id = '%s' ORDER BY offset_hours" % common.appointment_uuid(a)
        answered = s.sql(jobs)
        assert answered == [["2", "done", "confirmed"], ["3", "emitted", "sms_sent"]], answered

        # Twilio posts the same message again (our answer slow, or lost on
        # the way): the reply is applied once. The three-hour reminder's SMS
        # still waits, and would take the copy as its own answer: a second
        # confirmation of the visit, counted twice
        unchanged = 'clinicflow_reminders_outcomes_total{provider="twilio",result="unchanged"}'
        copies = cfstack.metric(s.svc, unchanged)
        reply("1", "SM" + "d" * 32)
        assert s.sql(jobs) == answered, s.sql(jobs)
        s.marker()
        confirmed = [m for m in s.messages(OUTCOMES)
                     if m["event"]["data"].get("appointment_id") == common.appointment_uuid(a)
                     and m["event"]["data"]["outcome"] == "confirmed"]
        assert len(confirmed) == 1, confirmed
        assert cfstack.metric(s.svc, unchanged) == copies + 1
    finally:
        south_offsets(s, [2])


def test_a_confirmed_visit_is_asked_nothing_more_whatever_holds_its_next_reminder_back(s):
    """The patient confirms the first of a visit's two reminders, then
    withdraws their SMS consent: the second is skipped as answered, before
    the consent would skip it as no_consent and end its ladder not
    confirmed, which opened a front-desk task for a confirmed visit and told
    analytics it was not."""
    p, e164, reply = south_sms(s, "Вера")
    south_offsets(s, [3, 2])
    try:
        a = common.new_id("a-confirmed-then-no-consent")
        book(s, a, 1, utc(in_s(3 * 3600 + 2)), clinic="demo-south", patient=p)
        twilio_sent(s, "sms", e164, n=1)
        wait_sms_out(s, a, 1, "the first reminder's SMS out")
        reply("1", "SM" + "e7" * 16)  # a message id of its own: Twilio's are unique
        assert reminder_status(s, a) == "confirmed"
        ok(s.put_patient(p, {"version": 2, "first_name": "Вера", "phones": [e164],
                             "language": "ru", "consents": {"calls": False, "sms": False}}))
        [[second]] = s.sql("UPDATE reminders.reminder_jobs SET due_at = now()"
                           " WHERE appointment_id = '%s' AND offset_hours = 2"
                           " AND status = 'pending' RETURNING job_id"
                           % common.appointment_uuid(a))
        data = outcome_event(s, common.cf_uuid5(second, "send", "1"), "skipped")["event"]["data"]
        assert data["reason"] == "answered" and "reminder_status" not in data, data
        assert reminder_status(s, a) == "confirmed"
        s.marker()
        assert s.sql("SELECT count(*) FROM reminders.tasks WHERE job_id = '%s'" % second) \
            == [["0"]]
        task_id = common.cf_uuid5(second, "task", "not_confirmed")
        assert not [m for m in s.messages(TASKS) if m["key"] == task_id]
    finally:
        south_offsets(s, [2])


def test_a_patient_who_changes_their_answer_twice_is_told_each_time(s):
    """"1", then "2", then "1" again to one SMS: the last is an event of
    its own on the outcomes topic. Its id was the first "1"'s, so every
    consumer that drops a copy by id dropped it, and a BI team's last word
    of the patient was "2"."""
    p, e164, reply = south_sms(s, "Зоя")
    a = common.new_id("a-changes-answer")
    book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic="demo-south", patient=p)
    twilio_sent(s, "sms", e164, n=1)
    wait_sms_out(s, a, 1, "the reminder's SMS out")

    def told():
        return [m["event"] for m in s.messages(OUTCOMES, key=common.patient_uuid(p))
                if m["event"]["data"].get("appointment_id") == common.appointment_uuid(a)
                and m["event"]["data"]["outcome"] in ("confirmed", "declined")]
    for n, (text, sid) in enumerate([("1", "0f"), ("2", "0e"), ("1", "0d")]):
        reply(text, "SM" + sid * 16)
        # each reply is told before the next comes
        cfstack.wait_until(lambda: len(told()) == n + 1, 30, "reply %d told" % (n + 1))
    events = told()
    assert len({e["data"]["send_id"] for e in events}) == 1, events
    assert [e["data"]["outcome"] for e in events] == ["confirmed", "declined", "confirmed"], events
    assert len({e["id"] for e in events}) == 3, events
    # the first answer decided the visit; the later ones are told, deciding nothing
    assert [e["data"].get("reminder_status") for e in events] == ["confirmed", None, None], events
    assert reminder_status(s, a) == "confirmed"


def test_a_patient_erased_while_called_is_neither_called_again_nor_kept(s):
    """The tombstone comes while the patient's reminder call is out (the
    dialer holds the request): the phone the erasure cleared from the send
    stays cleared when the request ends, and the call's no_answer moves the
    ladder no further: no retry, no SMS, no front-desk task to call a
    person the clinic was told to forget."""
    p, _ = patient(s, "Hold", {"calls": True, "sms": True})
    a = common.new_id("a-erased-mid-call")
    s.dialer.release_held.clear()
    try:
        book(s, a, 1, utc(in_s(2 * 3600 + 2)), clinic=NORTH, patient=p)
        send_id, _, _ = wait_request(s, a, 1)
        ok(s.delete_patient(p))
    finally:
        s.dialer.release_held.set()
    cfstack.wait_until(lambda: s.sql("SELECT status FROM reminders.sends WHERE send_id = '%s'"
                                     % send_id) == [["sent"]], 30, "the held send's end")
    assert s.sql("SELECT phone IS NULL FROM reminders.sends WHERE send_id = '%s'" % send_id) \
        == [["t"]]
    ok(s.report({"send_id": send_id, "outcome": "no_answer"}))
    data = outcome_event(s, send_id, "no_answer")["event"]["data"]
    assert "next" not in data and "reminder_status" not in data, data
    assert job_of(s, a)[:2] != ("pending", "2"), job_of(s, a)
    assert reminder_status(s, a) == "-"
    s.marker()
    assert not [m for m in s.messages(TASKS)
                if m["event"]["data"].get("appointment_id") == common.appointment_uuid(a)]
    assert len(requests_for(s, a)) == 1


if __name__ == "__main__":
    cfstack.run_on_stack(LadderStack, [
        test_a_confirmed_call_confirms_the_visit,
        test_a_visit_cancelled_while_its_call_waits_is_not_called,
        test_reschedule_opens_a_front_desk_task,
        test_a_declined_visit_cancelled_by_the_first_load_closes_its_task,
        test_a_call_to_confirm_stays_while_nobody_else_asks,
        test_nine_means_no_more_calls,
        test_a_missed_visit_is_reinvited_unless_held_out_or_booked_again,
        test_a_reinvite_follows_its_visit_moved_and_missed_again,
        test_a_missed_visit_given_another_patient_is_drawn_again,
        test_a_completed_visit_is_surveyed_once,
        test_patients_not_seen_for_months_are_recalled,
        test_a_survey_is_answered_by_an_sms_reply,
        test_a_reply_that_may_answer_two_visits_answers_neither,
        test_a_digit_for_a_survey_and_a_waiting_reminder_answers_neither,
        test_a_score_while_two_surveys_wait_answers_neither,
        test_a_reinvite_answered_by_booking_leaves_the_reply_to_the_reminder,
        test_a_reply_to_a_reinvite_after_booking_decides_nothing,
        test_an_answer_closes_the_task_of_the_visits_earlier_reminder,
        test_a_reply_answers_a_visit_whose_two_reminders_wait,
        test_a_confirmed_visit_is_asked_nothing_more_whatever_holds_its_next_reminder_back,
        test_a_patient_erased_while_called_is_neither_called_again_nor_kept,
        test_a_patient_who_changes_their_answer_twice_is_told_each_time,
        test_a_report_beside_a_change_of_its_visit_waits_for_it,
        test_a_dialer_telling_a_changed_answer_twice_tells_three_events,
        test_a_twilio_call_ended_with_no_key_is_retried,
        test_no_answer_twice_then_sms_and_a_task,
        test_after_the_twilio_retry_the_sms_goes,
    ])
