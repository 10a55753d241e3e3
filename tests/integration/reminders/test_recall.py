"""Recall per service category, through the public interfaces: completed
visits and patients PUT as the MIS sends them, the recall jobs in
reminders.reminder_jobs, the campaign's members on
clinicflow.reminders.outcomes.v1 and the SMS the clinic's dialer (a
webhook gateway, a local stand-in) receives.

demo-north (round-the-clock windows) recalls after 6 months, implants after
12; nobody is held out and the pace is no limit here (test_pacing.py paces
campaigns), so every due patient is asked at once."""
import datetime

import cfstack
import common
from common import ok
from test_dispatch import DispatchStack
from test_planning import NORTH, planning_network, utc

OUTCOMES = "clinicflow.reminders.outcomes.v1"
COMMANDS = "clinicflow.reminders.commands.v1"


def recall_network():
    doc = planning_network()
    for c in doc["clinics"]:
        if c["id"] == NORTH:
            c["reminder_policy"].update({
                "recall": True, "recall_months": [6],
                "recall_months_by_category": {"implants": 12},
                "holdout_percent": 0, "seats": 100, "tasks_per_seat_hour": 60})
    return doc


class RecallStack(DispatchStack):
    extra_env = {"CLINICFLOW_REMINDERS_RECALL_EVERY_MS": "300"}

    def network(self):
        return recall_network()


def ago(days):
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)


SEVEN_MONTHS, EIGHT_MONTHS, THIRTEEN_MONTHS = 213, 244, 396


def completed(s, patient, days_ago, category=None):
    """A completed visit days_ago, of category (none when None)."""
    body = {"version": 1, "clinic_id": NORTH, "patient_id": patient,
            "starts_at": utc(ago(days_ago)), "status": "completed"}
    if category:
        body["service_category"] = category
    ok(s.put_appointment(common.new_id("a-recall-cat"), body))


CONSENTS = {"calls": True, "sms": True, "marketing": True}


def patient(s, name, consents=CONSENTS, **times):
    """The patient's record, after their visits (a recall round may come
    between any two PUTs: the record, which makes the patient one of the
    clinic's, goes last)."""
    p = common.new_id("p-recall-cat")
    return p, lambda: ok(s.put_patient(p, dict(
        {"version": 1, "first_name": name, "phones": [common.new_phone()[0]],
         "clinic_id": NORTH, "language": "ru", "consents": consents},
        **times)))


def recall_jobs(s, p):
    return s.sql("SELECT status FROM reminders.reminder_jobs WHERE kind = 'recall'"
                 " AND patient_id = '%s'" % common.patient_uuid(p))


def members(s, p):
    return [m["event"]["data"] for m in s.messages(OUTCOMES)
            if m["event"]["type"] == "clinicflow.campaign.member"
            and m["event"]["data"]["patient_id"] == common.patient_uuid(p)]


def test_each_category_is_recalled_after_its_own_months(s):
    due, not_due = {}, {}
    # a hygiene visit 7 months ago: past its 6
    p, put = patient(s, "Гигиена")
    completed(s, p, SEVEN_MONTHS, "hygiene")
    put()
    due["hygiene 7 months ago"] = p
    # an implant visit 7 months ago: not before its 12
    p, put = patient(s, "Имплант")
    completed(s, p, SEVEN_MONTHS, "implants")
    put()
    not_due["implants 7 months ago"] = p
    # an implant visit 13 months ago
    p, put = patient(s, "Давно")
    completed(s, p, THIRTEEN_MONTHS, "implants")
    put()
    due["implants 13 months ago"] = p
    # any category due: the implant is recent enough, the hygiene is not
    p, put = patient(s, "Оба")
    completed(s, p, EIGHT_MONTHS, "hygiene")
    completed(s, p, SEVEN_MONTHS, "implants")
    put()
    due["hygiene 8 and implants 7 months ago"] = p
    # a visit the MIS gave no category: the default months
    p, put = patient(s, "Без")
    completed(s, p, SEVEN_MONTHS)
    put()
    due["no category 7 months ago"] = p
    # the record's last_visit_at on the implant visit's own day adds no
    # visit of the default 6 months
    p, put = patient(s, "Дата", last_visit_at=ago(SEVEN_MONTHS).strftime("%Y-%m-%dT00:00:00Z"))
    completed(s, p, SEVEN_MONTHS, "implants")
    put()
    not_due["implants 7 months ago, last_visit_at that day"] = p
    # the doctor's date wins: later than the hygiene says, earlier than the
    # implant does
    p, put = patient(s, "Позже", recall_at=utc(ago(-30)))
    completed(s, p, SEVEN_MONTHS, "hygiene")
    put()
    not_due["hygiene 7 months ago, recall_at in 30 days"] = p
    p, put = patient(s, "Раньше", recall_at=utc(ago(1)))
    completed(s, p, SEVEN_MONTHS, "implants")
    put()
    due["implants 7 months ago, recall_at yesterday"] = p
    # due, but the SMS consent alone: a recall invites them to book, which
    # is advertising, so the SMS is held back
    p, put = patient(s, "Без рекламы", consents={"calls": True, "sms": True})
    completed(s, p, SEVEN_MONTHS, "hygiene")
    put()
    due["hygiene 7 months ago, no marketing consent"] = no_marketing = p
    # in the clinic now: a visit begun 20 minutes ago, still booked (the
    # MIS has not marked it yet) or arrived: no "time to book" SMS during it
    for status, name in (("booked", "Сейчас"), ("arrived", "Пришёл")):
        p, put = patient(s, name)
        completed(s, p, SEVEN_MONTHS, "hygiene")
        ok(s.put_appointment(common.new_id("a-recall-now"), {
            "version": 1, "clinic_id": NORTH, "patient_id": p,
            "starts_at": utc(ago(20 / 1440)), "status": status}))
        put()
        not_due["hygiene 7 months ago, in the clinic now (%s)" % status] = p
    # last, one more due patient: the round that asks them has seen every
    # record above
    p, put = patient(s, "Последний")
    completed(s, p, SEVEN_MONTHS, "hygiene")
    put()
    cfstack.wait_until(lambda: members(s, p), 30, "the last patient's recall")
    for what, q in due.items():
        cfstack.wait_until(lambda q=q: members(s, q), 10, "the recall of " + what)
        assert len(recall_jobs(s, q)) == 1, (what, recall_jobs(s, q))
        (m,) = members(s, q)
        assert m["group"] == "target" and m["campaign"] == "recall", (what, m)
    # a few rounds more (every 0.3 s) change nothing for the others
    s.marker()
    for what, q in not_due.items():
        assert recall_jobs(s, q) == [] and members(s, q) == [], what

    # the SMS and what goes on the topics name no category: what a patient
    # was treated for stays at the clinic
    q = due["hygiene 7 months ago"]

    def sms():
        with s.dialer.lock:
            return [r for r in s.dialer.requests if r[1]["command"]["kind"] == "recall"
                    and r[1]["command"]["patient_id"] == common.patient_uuid(q)]
    cfstack.wait_until(sms, 30, "the recall SMS")
    _, doc, _ = sms()[0]
    assert "профилактический" in doc["text"], doc
    for m in s.messages(OUTCOMES) + s.messages(COMMANDS):
        text = m["payload"] or ""
        assert "hygiene" not in text and "implants" not in text, text
    assert "hygiene" not in str(doc) and "implants" not in str(doc), doc

    # the patient without the marketing consent: a member, never sent to
    cfstack.wait_until(lambda: s.sql(
        "SELECT s.status, s.reason FROM reminders.sends s JOIN reminders.reminder_jobs j"
        " USING (job_id) WHERE j.kind = 'recall' AND j.patient_id = '%s'"
        % common.patient_uuid(no_marketing)) == [["skipped", "no_consent"]], 30,
        "the recall of the patient without the marketing consent held back")
    with s.dialer.lock:
        assert not [r for r in s.dialer.requests
                    if r[1]["command"]["patient_id"] == common.patient_uuid(no_marketing)]


def test_an_imported_recall_stands_for_the_recall(s):
    """A recall by the system before (PUT /v1/patients/{id}/recall-history),
    imported before the MIS sends the patient: its member and outcome
    events are dated when they happened, and the recall does not ask the
    patient again within recall_again_days. A patient the recall has had
    cannot be given an imported one."""
    p, put = patient(s, "Импорт")
    asked = ago(20)
    body = {"gateway": "robot-before", "clinic_id": NORTH, "asked_at": utc(asked),
            "group": "target", "holdout_percent": 10,
            "sends": [{"channel": "sms", "at": utc(asked), "outcome": "sms_delivered",
                       "sms": {"segments": 1, "cost_minor": 335, "currency": "RUB"}},
                      {"channel": "sms", "at": utc(asked + datetime.timedelta(hours=2)),
                       "outcome": "confirmed"}]}
    path = "/v1/patients/%s/recall-history" % p
    got = ok(s.request("PUT", path, body))
    pid = common.patient_uuid(p)
    job = common.cf_uuid5(pid, "recall", "history",
                          str(int(asked.replace(microsecond=asked.microsecond // 1000 * 1000)
                                  .timestamp() * 1000)))
    assert got == {"patient_id": pid, "id": p, "job_id": job, "result": "created"}, got
    assert ok(s.request("PUT", path, body))["result"] == "unchanged"
    other = dict(body, sends=body["sends"][:1])
    err = common.bad_field(s.request("PUT", path, other), "asked_at", status=409)
    assert err["code"] == "history_exists", err
    common.bad_field(s.request("PUT", path, dict(body, group="holdout")), "sends")
    # the patient arrives, due a recall by their visit; then one more due
    # patient, whose recall shows a round has seen the first
    completed(s, p, SEVEN_MONTHS, "hygiene")
    put()
    q, put_q = patient(s, "Свой")
    completed(s, q, SEVEN_MONTHS, "hygiene")
    put_q()
    cfstack.wait_until(lambda: members(s, q), 30, "the recall of the next patient")
    s.marker()
    (m,) = members(s, p)
    assert m["job_id"] == job and m["group"] == "target" and m["campaign"] == "recall", m
    assert m["due_at"] == utc(asked) and m["clinic_id"] == NORTH, m
    assert recall_jobs(s, p) == [["done"]], recall_jobs(s, p)
    ev = [x["event"] for x in s.messages(OUTCOMES)
          if x["event"]["data"].get("job_id") == job]
    assert sorted(e["type"] for e in ev) == ["clinicflow.campaign.member"] + \
        ["clinicflow.reminder.outcome"] * 2, ev
    sends = sorted((e for e in ev if e["type"] == "clinicflow.reminder.outcome"),
                   key=lambda e: e["data"]["attempt"])
    assert [e["time"] for e in sends] == [x["at"] for x in body["sends"]], sends
    for e in sends:
        d = e["data"]
        assert d["kind"] == "recall" and "appointment_id" not in d, d
        assert "reminder_status" not in d and d["gateway"] == "robot-before", d
    assert [e["time"] for e in ev if e["type"] == "clinicflow.campaign.member"] == [utc(asked)]
    # the recall has had the other patient: nothing of the system before
    err = common.bad_field(s.request("PUT", "/v1/patients/%s/recall-history" % q,
                                     dict(body, sends=[])), "sends")
    err = common.bad_field(s.request("PUT", "/v1/patients/%s/recall-history" % q, body), "id",
                           status=409)
    assert err["code"] == "recalled_here", err


def test_a_recall_taken_late_still_goes(s):
    """A recall job taken after the lateness grace (the service was down
    when it came due; here a grace of nothing, so every job is taken late)
    still goes: a recall is not late by the minute as a reminder is, and
    one skipped would keep the patient from the next for
    recall_again_days."""
    # (last: it runs a service of its own, and stops it)
    strict = s.service_with(CLINICFLOW_REMINDERS_LATE_GRACE_S="0")
    p, put = patient(s, "Поздно")
    completed(s, p, SEVEN_MONTHS, "hygiene")
    put()
    cfstack.wait_until(lambda: members(s, p), 30, "the recall")
    cfstack.wait_until(lambda: s.sql(
        "SELECT s.status FROM reminders.sends s JOIN reminders.reminder_jobs j USING (job_id)"
        " WHERE j.kind = 'recall' AND j.patient_id = '%s'" % common.patient_uuid(p))
        == [["sent"]], 30, "the recall SMS sent")
    assert recall_jobs(s, p) != [["skipped"]], recall_jobs(s, p)
    strict.stop()
    s.services.remove(strict)


if __name__ == "__main__":
    cfstack.run_on_stack(RecallStack, [
        test_each_category_is_recalled_after_its_own_months,
        test_an_imported_recall_stands_for_the_recall,
        test_a_recall_taken_late_still_goes,
    ])
