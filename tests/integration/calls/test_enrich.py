"""What the fold adds to a call: attribution by static tracking numbers
(validity periods by the call's start date), the unique-call flag (no call
from the contact within the look-back), and the patient class from the
phone -> patient view fed by clinicflow.patients.v1 (new, repeat, lapsed;
a tombstone erases the patient, cached answers included)."""
import datetime
import json
import random
import uuid

import cfstack
from cfstack import HeldSession
from common import Stack, call_body, contact_key, events_for, wait_until

CALLS = "clinicflow.calls.v1"
PATIENTS = "clinicflow.patients.v1"


def new_number():
    return "+7916%07d" % random.randrange(10 ** 7)


def ended_call(stack, **over):
    body = call_body(event="ended", answered_at=over.pop("answered_at", "2026-11-20T09:00:05Z"),
                     talk_seconds=30, **over)
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    call_id = json.loads(reply)["call_id"]
    found = []

    def seen():
        found[:] = [e for e in events_for(stack.reader(CALLS).read(), call_id)
                    if e["type"] == "clinicflow.call.ended"]
        return bool(found)

    wait_until(seen, 60, "call.ended")
    return found[0]["data"]


def test_static_attribution_by_validity_period(stack):
    net = cfstack.demo_network()
    yandex = next(t for t in net["tracking_numbers"] if t.get("valid_to") == "2026-12-31")
    ended_mid = next(t for t in net["tracking_numbers"] if t.get("valid_to") == "2026-06-30")
    data = ended_call(stack, to=yandex["number"], time="2026-11-20T09:01:00Z")
    att = data["attribution"]
    assert att == {"kind": "static", "tracking_number": yandex["number"],
                   "source": yandex["source"], "medium": yandex["medium"],
                   "campaign": yandex["campaign"]}, att
    # Inside its validity the second number attributes; after it, nothing.
    data = ended_call(stack, to=ended_mid["number"], time="2026-05-20T09:01:00Z",
                      answered_at="2026-05-20T09:00:05Z")
    assert data["attribution"]["source"] == ended_mid["source"], data
    data = ended_call(stack, to=ended_mid["number"], time="2026-11-20T09:01:00Z")
    assert "attribution" not in data, data
    # Not a tracking number at all.
    data = ended_call(stack, time="2026-11-20T09:01:00Z")
    assert "attribution" not in data, data


def test_unique_call_within_lookback(stack):
    number = new_number()
    first = ended_call(stack, **{"from": number}, time="2026-10-01T09:01:00Z",
                       answered_at="2026-10-01T09:00:05Z")
    assert first["unique"] is True, first
    again = ended_call(stack, **{"from": number}, time="2026-10-03T09:01:00Z",
                       answered_at="2026-10-03T09:00:05Z")
    assert again["unique"] is False, again
    later = ended_call(stack, **{"from": number}, time="2026-11-20T09:01:00Z",
                       answered_at="2026-11-20T09:00:05Z")
    assert later["unique"] is True, later


def test_earlier_call_folded_later_takes_the_unique_flag(stack):
    """Calls of one contact are on different partitions, so the earlier of
    two can be folded second: it is the unique one, and the later call,
    already out as unique, is corrected by a call.updated. A call beyond
    the look-back after it keeps its flag."""
    number = new_number()

    def call_at(day):
        return ended_call(stack, **{"from": number}, started_at="2026-%sT10:00:00Z" % day,
                          answered_at="2026-%sT10:00:05Z" % day, time="2026-%sT10:01:00Z" % day)

    later = call_at("09-10")
    far = call_at("10-15")
    assert later["unique"] is True and far["unique"] is True, (later, far)
    earlier = call_at("09-09")
    assert earlier["unique"] is True, earlier
    found = []

    def corrected():
        found[:] = [e for e in events_for(stack.reader(CALLS).read(), later["call_id"])
                    if e["type"] == "clinicflow.call.updated"]
        return bool(found)

    wait_until(corrected, 60, "the later call's correction")
    assert len(found) == 1 and found[0]["data"]["unique"] is False, found
    keys = [m["key"] for m in stack.reader(CALLS).read()
            if m["payload"] and json.loads(m["payload"])["id"] == found[0]["id"]]
    assert keys == [later["call_id"]], keys
    assert found[0]["data"]["status"] == "ended" and "reported" not in found[0]["data"], found
    rows = cfstack.psql(stack.dsn, "SELECT call_id, doc->>'unique' FROM calls.calls"
                        " WHERE contact_key = '%s' ORDER BY started_at" % contact_key(number))
    assert rows == [[earlier["call_id"], "true"], [later["call_id"], "false"],
                    [far["call_id"], "true"]], rows
    assert not [e for e in events_for(stack.reader(CALLS).read(), far["call_id"])
                if e["type"] == "clinicflow.call.updated"]


def put_patient(stack, patient_id, number, last_visit, event_id=None, keys=None):
    ev = {
        "specversion": "1.0", "id": event_id or str(uuid.uuid4()),
        "source": "/clinicflow/reminders/mis/test", "type": "clinicflow.patient.upserted",
        "subject": patient_id, "time": "2026-11-20T08:00:00.000Z",
        "datacontenttype": "application/json", "networkid": cfstack.demo_network()["id"],
        "data": {"patient_id": patient_id, "phones": [number],
                 "contact_keys": keys or [contact_key(number)], "last_visit_at": last_visit,
                 "consents": {"calls": True, "sms": True, "messengers": False}},
    }
    cfstack.produce(stack.broker.bootstrap, PATIENTS, patient_id, json.dumps(ev).encode())


def wait_patients_consumed(stack, n):
    wait_until(lambda: int(cfstack.psql(
        stack.dsn, "SELECT coalesce(sum(next_offset), 0) FROM calls.consumer_offsets"
        " WHERE group_id = 'clinicflow-calls-patients'")[0][0]) >= n,
        60, "the patients consumer to apply %d messages" % n)


def test_patient_class(stack):
    repeat_no, lapsed_no, new_no = new_number(), new_number(), new_number()
    repeat_id, lapsed_id = str(uuid.uuid4()), str(uuid.uuid4())
    # Ask about the repeat patient's number first, so that "none" is cached
    # in Redis; the upsert must drop it.
    assert ended_call(stack, **{"from": repeat_no})["patient"] == {"class": "new"}
    put_patient(stack, repeat_id, repeat_no, "2026-09-01T10:00:00.000Z")
    put_patient(stack, lapsed_id, lapsed_no, "2025-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, 2)

    data = ended_call(stack, **{"from": repeat_no})
    assert data["patient"] == {"class": "repeat", "patient_id": repeat_id}, data
    data = ended_call(stack, **{"from": lapsed_no})
    assert data["patient"] == {"class": "lapsed", "patient_id": lapsed_id}, data
    data = ended_call(stack, **{"from": new_no})
    assert data["patient"] == {"class": "new"}, data
    # a missed call of theirs: its callback task holds the number to call
    key = contact_key(repeat_no)
    now = datetime.datetime.now(datetime.timezone.utc)
    st, _, reply = stack.post_generic(call_body(
        event="ended", time=now.strftime("%Y-%m-%dT%H:%M:%SZ"), outcome="missed",
        ring_seconds=25, **{"from": repeat_no}))
    assert st == 202, reply

    def kept(what):
        return int(cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.%s WHERE contact_key = '%s'"
                                % (what, key))[0][0])
    wait_until(lambda: kept("tasks") >= 1, 60, "the missed call's callback task")

    # Erasure: a tombstone removes the patient; their calls keep the call
    # but not the person (their party, the patient id), their callback task
    # not the number; their next call is "new".
    calls_before = kept("calls")
    cfstack.produce(stack.broker.bootstrap, PATIENTS, repeat_id, None)
    wait_patients_consumed(stack, 3)
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.patient_contacts"
                        " WHERE patient_id = '%s'" % repeat_id)
    assert rows == [["0"]], rows
    assert kept("calls") == calls_before >= 3
    left = cfstack.psql(stack.dsn, "SELECT doc->'caller', doc->'patient' FROM calls.calls"
                        " WHERE contact_key = '%s'" % key)
    for caller, patient in left:
        assert json.loads(caller) == {"raw": "", "kind": "erased"}, left
        assert "patient_id" not in json.loads(patient or "{}"), left
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.tasks WHERE contact_key = '%s'"
                        " AND doc ? 'contact'" % key) == [["0"]]
    assert ended_call(stack, **{"from": repeat_no})["patient"] == {"class": "new"}
    # they call again and are missed: the open task counts the call and has
    # the number to call back again (given anew, after the erasure)
    again = now + datetime.timedelta(seconds=60)
    st, _, reply = stack.post_generic(call_body(
        event="ended", time=again.strftime("%Y-%m-%dT%H:%M:%SZ"), outcome="missed",
        ring_seconds=25, **{"from": repeat_no}))
    assert st == 202, reply
    wait_until(lambda: cfstack.psql(
        stack.dsn, "SELECT status, missed_calls, doc->'contact'->>'e164' FROM calls.tasks"
        " WHERE contact_key = '%s'" % key) == [["open", "2", repeat_no]], 60,
        "the open task to count the new miss, with the number")


def test_erasure_reaches_a_number_given_up(stack):
    """A patient who changed their number (X, then A, then B) is erased
    from the calls and the callback task of A too, known by the calls the
    fold found them by (the view holds B only), and of A before they were a
    patient; a call from A once it is another patient's stays theirs, and
    a stranger's call from X after the patient's last one, with its
    callback task, stays the stranger's."""
    first_no, old_no, new_no = new_number(), new_number(), new_number()
    patient_id, next_id = str(uuid.uuid4()), str(uuid.uuid4())

    def applied():
        return int(cfstack.psql(
            stack.dsn, "SELECT coalesce(sum(next_offset), 0) FROM calls.consumer_offsets"
            " WHERE group_id = 'clinicflow-calls-patients'")[0][0])

    def stored(ids):
        return cfstack.psql(stack.dsn, "SELECT call_id, doc->'caller'->>'raw',"
                            " doc->'patient'->>'patient_id' FROM calls.calls"
                            " WHERE call_id IN ('%s') ORDER BY call_id" % "', '".join(ids))

    before_patient = ended_call(stack, **{"from": old_no})["call_id"]
    start = applied()
    put_patient(stack, patient_id, first_no, "2026-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, start + 1)
    data = ended_call(stack, **{"from": first_no})
    assert data["patient"]["patient_id"] == patient_id, data
    theirs = [data["call_id"]]
    put_patient(stack, patient_id, old_no, "2026-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, start + 2)
    data = ended_call(stack, **{"from": old_no})
    assert data["patient"]["patient_id"] == patient_id, data
    theirs += [before_patient, data["call_id"]]
    now = datetime.datetime.now(datetime.timezone.utc)
    st, _, reply = stack.post_generic(call_body(
        event="ended", time=now.strftime("%Y-%m-%dT%H:%M:%SZ"), outcome="missed",
        ring_seconds=25, **{"from": old_no}))
    assert st == 202, reply
    theirs.append(json.loads(reply)["call_id"])
    old_key = contact_key(old_no)
    wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.tasks"
                                    " WHERE contact_key = '%s' AND doc ? 'contact'"
                                    % old_key) == [["1"]], 60, "the missed call's callback task")

    # the patient's number changes to B; A becomes another patient's
    put_patient(stack, patient_id, new_no, "2026-09-01T10:00:00.000Z")
    put_patient(stack, next_id, old_no, "2026-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, start + 4)
    data = ended_call(stack, **{"from": new_no})
    assert data["patient"]["patient_id"] == patient_id, data
    theirs.append(data["call_id"])
    data = ended_call(stack, **{"from": old_no})
    assert data["patient"]["patient_id"] == next_id, data
    other = data["call_id"]
    # X is a stranger's now (nobody the view knows): a missed call, today
    st, _, reply = stack.post_generic(call_body(
        event="ended", time=datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"), outcome="missed", ring_seconds=25, **{"from": first_no}))
    assert st == 202, reply
    stranger = json.loads(reply)["call_id"]
    first_key = contact_key(first_no)
    wait_until(lambda: cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.tasks"
                                    " WHERE contact_key = '%s' AND doc ? 'contact'"
                                    % first_key) == [["1"]], 60, "the stranger's callback task")
    wait_until(lambda: len(stored(theirs + [other, stranger])) == 7, 60, "the calls stored")

    cfstack.produce(stack.broker.bootstrap, PATIENTS, patient_id, None)
    wait_patients_consumed(stack, start + 5)
    left = stored(theirs)
    assert left == sorted([[c, "", ""] for c in theirs]), left
    assert stored([other]) == [[other, old_no, next_id]]
    assert stored([stranger]) == [[stranger, first_no, ""]], stored([stranger])
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.tasks WHERE contact_key = '%s'"
                        " AND doc ? 'contact'" % first_key)
    assert rows == [["1"]], rows
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.tasks WHERE contact_key = '%s'"
                        " AND doc ? 'contact'" % old_key)
    assert rows == [["0"]], rows
    rows = cfstack.psql(stack.dsn, "SELECT patient_id FROM calls.patient_contacts"
                        " WHERE contact_key = '%s'" % old_key)
    assert rows == [[next_id]], rows


def test_an_erased_call_stays_erased_when_the_provider_reports_again(stack):
    """A patient's call is under way when the patient is erased; then the
    provider reports the call's end, with its recording, from the same
    number: the call stays erased (no number, no recording, no patient),
    on calls.v1 and in calls.calls, its contact key kept, so it counts as
    before. Before, the end's number and recording came back."""
    number, patient_id = new_number(), str(uuid.uuid4())
    start = int(cfstack.psql(
        stack.dsn, "SELECT coalesce(sum(next_offset), 0) FROM calls.consumer_offsets"
        " WHERE group_id = 'clinicflow-calls-patients'")[0][0])
    put_patient(stack, patient_id, number, "2026-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, start + 1)
    pbx = "pbx-" + uuid.uuid4().hex[:12]
    st, _, reply = stack.post_generic(call_body(call_id=pbx, event="answered",
                                                time="2026-11-20T09:00:05Z", **{"from": number}))
    assert st == 202, reply
    call_id = json.loads(reply)["call_id"]

    def caller():
        return cfstack.psql(stack.dsn, "SELECT coalesce(doc->'caller'->>'kind', ''),"
                            " coalesce(doc->'patient'->>'patient_id', ''), coalesce(contact_key,"
                            " ''), coalesce(doc->>'recording_url', '') FROM calls.calls"
                            " WHERE call_id = '%s'" % call_id)
    wait_until(lambda: caller() == [["e164", patient_id, contact_key(number), ""]], 60,
               "the call stored, the patient's")
    cfstack.produce(stack.broker.bootstrap, PATIENTS, patient_id, None)
    wait_patients_consumed(stack, start + 2)
    assert caller() == [["erased", "", contact_key(number), ""]], caller()

    data = ended_call(stack, call_id=pbx, time="2026-11-20T09:01:00Z",
                      answered_at="2026-11-20T09:00:05Z",
                      recording_url="https://pbx.example/rec/%s.mp3" % pbx, **{"from": number})
    assert data["call_id"] == call_id, data
    assert data["caller"] == {"raw": "", "kind": "erased"}, data
    assert "recording_url" not in data and "patient_id" not in data.get("patient", {}), data
    assert data["contact_key"] == contact_key(number), data
    assert caller() == [["erased", "", contact_key(number), ""]], caller()


def test_patient_event_from_a_lax_producer(stack):
    """An upstream system may write the event id in uppercase and list a phone
    twice: the event is still applied (not taken for a duplicate, not stuck
    on the repeated key), and the events after it on the topic too."""
    number, other = new_number(), new_number()
    patient_id, other_id = str(uuid.uuid4()), str(uuid.uuid4())
    before = int(cfstack.psql(
        stack.dsn, "SELECT coalesce(sum(next_offset), 0) FROM calls.consumer_offsets"
        " WHERE group_id = 'clinicflow-calls-patients'")[0][0])
    put_patient(stack, patient_id, number, "2026-09-01T10:00:00.000Z",
                event_id=str(uuid.uuid4()).upper(),
                keys=[contact_key(number), contact_key(number)])
    put_patient(stack, other_id, other, "2026-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, before + 2)
    data = ended_call(stack, **{"from": number})
    assert data["patient"] == {"class": "repeat", "patient_id": patient_id}, data
    data = ended_call(stack, **{"from": other})
    assert data["patient"] == {"class": "repeat", "patient_id": other_id}, data


def test_call_folded_while_a_patient_change_commits(stack):
    """A call folded while the patients consumer's transaction is still open
    reads the rows from before the change, and caches that answer: once
    the change commits, the contact's next call must not get it."""
    number, old_number = new_number(), new_number()
    patient_id = str(uuid.uuid4())

    def applied():
        return int(cfstack.psql(
            stack.dsn, "SELECT coalesce(sum(next_offset), 0) FROM calls.consumer_offsets"
            " WHERE group_id = 'clinicflow-calls-patients'")[0][0])

    first = applied()
    put_patient(stack, patient_id, old_number, "2026-09-01T10:00:00.000Z")
    wait_patients_consumed(stack, first + 1)
    # The consumer's next batch will wait to store its offsets: after its
    # changes, before its commit.
    hold = HeldSession(stack.dsn, "BEGIN; SELECT 1 FROM calls.consumer_offsets"
                       " WHERE group_id = 'clinicflow-calls-patients' FOR UPDATE;")
    try:
        before = applied()
        put_patient(stack, patient_id, number, "2026-09-01T10:00:00.000Z")
        wait_until(lambda: hold.waiters() >= 1, 60, "the patients consumer to wait")
        assert ended_call(stack, **{"from": number})["patient"] == {"class": "new"}
    finally:
        hold.release()
    wait_patients_consumed(stack, before + 1)
    data = ended_call(stack, **{"from": number})
    assert data["patient"] == {"class": "repeat", "patient_id": patient_id}, data


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_static_attribution_by_validity_period,
            test_unique_call_within_lookback,
            test_earlier_call_folded_later_takes_the_unique_flag,
            test_patient_class,
            test_erasure_reaches_a_number_given_up,
            test_an_erased_call_stays_erased_when_the_provider_reports_again,
            test_patient_event_from_a_lax_producer,
            test_call_folded_while_a_patient_change_commits,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
