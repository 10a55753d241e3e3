"""A visit's reminder history from the system before clinicflow (PUT and
GET /v1/appointments/{id}/reminders) end to end: each send becomes a
reminder.outcome event on clinicflow.reminders.outcomes.v1 dated when it
happened (checked against its schema as it is read), the patient's answer
sets the visit's reminder status, an unanswered history ends
not_confirmed; the same history again changes nothing, another one is a
409; a visit ahead, an unknown one, a strict body's faults, the wrong key
are refused and write nothing."""
import datetime
import threading

import cfstack
from common import (CLINICS, NET, Stack, appointment_uuid, bad_field, cf_uuid5, new_id,
                    not_found, ok, patient_uuid)

OUTCOMES = "clinicflow.reminders.outcomes.v1"


def utc(dt):
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        "%03dZ" % (dt.microsecond // 1000)


NOW = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
VISIT = NOW - datetime.timedelta(days=2)


def ago(hours):
    """A time that many hours before the visit."""
    return utc(VISIT - datetime.timedelta(hours=hours))


def visit(s, starts=VISIT, status="completed"):
    """A patient's visit as the MIS sends it; (appointment MIS id, patient MIS id)."""
    a, p = new_id("a-hist"), new_id("p-hist")
    ok(s.put_appointment(a, {"version": 1, "clinic_id": CLINICS[0], "patient_id": p,
                             "starts_at": utc(starts), "status": status}))
    return a, p


def put(s, a, body, **kw):
    return s.request("PUT", "/v1/appointments/%s/reminders" % a, body, **kw)


def outcomes_of(s, a):
    """The visit's reminder.outcome events (a missed visit's re-invite
    member shares the topic)."""
    aid = appointment_uuid(a)
    return [m for m in s.messages(OUTCOMES) if m["event"]["data"].get("appointment_id") == aid
            and m["event"]["type"] == "clinicflow.reminder.outcome"]


def status_of(s, a):
    return s.sql("SELECT coalesce(reminder_status, '-') FROM reminders.appointments"
                 " WHERE appointment_id = '%s'" % appointment_uuid(a))[0][0]


ANSWERED = {"gateway": "old-robot", "sends": [
    {"channel": "call", "at": ago(26), "outcome": "no_answer"},
    {"channel": "call", "at": ago(25), "outcome": "confirmed", "duration_s": 24},
    {"channel": "sms", "at": ago(24), "outcome": "sms_delivered",
     "sms": {"segments": 2, "cost_minor": 700, "currency": "RUB"}},
]}


def test_imported_history_becomes_outcome_events(s):
    a, p = visit(s)
    aid, pid = appointment_uuid(a), patient_uuid(p)
    got = ok(put(s, a, ANSWERED))
    assert got == {"appointment_id": aid, "id": a, "result": "created"}, got
    job = cf_uuid5(aid, "history")
    sends = [cf_uuid5(job, "send", str(n)) for n in (1, 2, 3)]

    def all_three():
        return len(outcomes_of(s, a)) == 3
    cfstack.wait_until(all_three, 30, "the history's three outcome events")
    by_send = {m["event"]["data"]["send_id"]: m for m in outcomes_of(s, a)}
    assert sorted(by_send) == sorted(sends), by_send
    for n, send_id in enumerate(sends):
        m = by_send[send_id]
        ev, data = m["event"], m["event"]["data"]
        assert m["key"] == pid and ev["subject"] == send_id, m
        assert ev["networkid"] == NET and ev["clinicid"] == CLINICS[0], ev
        # dated when the send happened, not when it was imported
        assert ev["time"] == ANSWERED["sends"][n]["at"], (ev["time"], n)
        assert data["job_id"] == job and data["kind"] == "reminder", data
        assert data["attempt"] == n + 1 and data["gateway"] == "old-robot", data
        assert data["channel"] == ANSWERED["sends"][n]["channel"], data
        assert data["outcome"] == ANSWERED["sends"][n]["outcome"], data
        assert data["visit_at"] == utc(VISIT) and data["patient_id"] == pid, data
        assert "next" not in data, data
    assert "reminder_status" not in by_send[sends[0]]["event"]["data"]
    assert by_send[sends[1]]["event"]["data"]["reminder_status"] == "confirmed"
    assert by_send[sends[1]]["event"]["data"]["duration_s"] == 24
    assert "reminder_status" not in by_send[sends[2]]["event"]["data"]
    assert by_send[sends[2]]["event"]["data"]["sms"] == {"segments": 2, "cost_minor": 700,
                                                         "currency": "RUB"}
    assert status_of(s, a) == "confirmed"
    assert ok(s.get_appointment(a))["reminder_status"] == "confirmed"

    # read back as stored: times in UTC with milliseconds
    stored = ok(s.request("GET", "/v1/appointments/%s/reminders" % a, key="read"))
    assert stored["appointment_id"] == aid and stored["history"] == ANSWERED, stored

    # the same history again, written otherwise: nothing new
    again = dict(ANSWERED, sends=[dict(x) for x in ANSWERED["sends"]])
    again["sends"][0]["at"] = utc(VISIT - datetime.timedelta(hours=26)).replace(
        ".000Z", "+00:00")
    assert ok(put(s, a, again))["result"] == "unchanged"
    # another history of the visit: its sends are counted already
    other = {"gateway": "old-robot", "sends": [{"channel": "call", "at": ago(30),
                                                "outcome": "declined"}]}
    assert bad_field(put(s, a, other), "id", status=409)["code"] == "history_exists"
    s.marker()
    assert len(outcomes_of(s, a)) == 3
    assert status_of(s, a) == "confirmed"
    assert s.sql("SELECT count(*) FROM reminders.histories WHERE appointment_id = '%s'"
                 % aid) == [["1"]]


def test_the_same_history_at_once(s):
    """Four imports of one history at the same moment (an exporter's
    retries): one creates it, the others find it, and its sends are
    told once."""
    a, _ = visit(s)
    body = {"gateway": "old-robot", "sends": [
        {"channel": "call", "at": ago(25), "outcome": "no_answer"},
        {"channel": "sms", "at": ago(24), "outcome": "sms_delivered"}]}
    replies = [None] * 4
    go = threading.Barrier(4)

    def one(i):
        go.wait()
        replies[i] = put(s, a, body)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = sorted(ok(r)["result"] for r in replies)
    assert results == ["created", "unchanged", "unchanged", "unchanged"], replies
    s.marker()
    assert len(outcomes_of(s, a)) == 2, outcomes_of(s, a)


def test_unanswered_history_ends_not_confirmed(s):
    a, _ = visit(s, status="no_show")
    ok(put(s, a, {"gateway": "old-robot", "sends": [
        {"channel": "call", "at": ago(25), "outcome": "busy"},
        {"channel": "sms", "at": ago(24), "outcome": "sms_failed"}]}))
    cfstack.wait_until(lambda: len(outcomes_of(s, a)) == 2, 30, "two outcome events")
    statuses = {m["event"]["data"]["attempt"]: m["event"]["data"].get("reminder_status")
                for m in outcomes_of(s, a)}
    assert statuses == {1: None, 2: "not_confirmed"}, statuses
    assert status_of(s, a) == "not_confirmed"


def test_refusals_write_nothing(s):
    a, _ = visit(s)
    ahead, _ = visit(s, starts=NOW + datetime.timedelta(days=2), status="booked")
    one = {"gateway": "old-robot", "sends": [{"channel": "call", "at": ago(24),
                                              "outcome": "confirmed"}]}
    err = bad_field(put(s, ahead, one), "id", status=409)
    assert err["code"] == "visit_ahead", err
    not_found(put(s, new_id("a-none"), one))
    bad_field(put(s, "a%20b", one), "id")
    bad_field(put(s, a, dict(one, gateway="Old Robot")), "gateway")
    bad_field(put(s, a, dict(one, extra=1)), "extra")
    bad_field(put(s, a, {"gateway": "r", "sends": [
        {"channel": "call", "at": utc(VISIT), "outcome": "confirmed"}]}), "sends[0].at")
    bad_field(put(s, a, {"gateway": "r", "sends": [
        {"channel": "sms", "at": ago(3), "outcome": "no_answer"}]}), "sends[0].outcome")
    bad_field(put(s, a, {"gateway": "r", "sends": [
        {"channel": "call", "at": ago(3), "outcome": "busy"},
        {"channel": "call", "at": ago(4), "outcome": "confirmed"}]}), "sends[1].at")
    assert put(s, a, b"{", content_type="application/json").status == 400
    assert put(s, a, one, content_type="text/plain").status == 415
    # the ingest or admin key of the visit's network, and only those
    assert put(s, a, one, key="read").status == 403
    assert put(s, a, one, key=None).status == 401
    not_found(put(s, a, one, key="other_ingest"))
    not_found(s.request("GET", "/v1/appointments/%s/reminders" % a, key="read"))
    s.marker()
    assert outcomes_of(s, a) == [] and outcomes_of(s, ahead) == []
    assert status_of(s, a) == "-"
    assert s.sql("SELECT count(*) FROM reminders.histories WHERE appointment_id IN ('%s', '%s')"
                 % (appointment_uuid(a), appointment_uuid(ahead))) == [["0"]]
    # and then the good one is taken
    assert ok(put(s, a, one))["result"] == "created"


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [
        test_imported_history_becomes_outcome_events,
        test_the_same_history_at_once,
        test_unanswered_history_ends_not_confirmed,
        test_refusals_write_nothing,
    ])
