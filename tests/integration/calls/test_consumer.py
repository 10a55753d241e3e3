"""The consumer runner as the fold uses it: poison on calls.raw goes to the
DLQ with its original bytes and where it came from, and the fold moves on;
after a restart the fold resumes at the offsets stored in PostgreSQL, so
nothing already applied is emitted again; an event sent to the DLQ is not
recorded as applied, so replaying its entry once the cause is fixed applies
it."""
import base64
import json
import uuid

import cfstack
from common import Stack, call_body, contact_key, events_for, wait_until

RAW = "clinicflow.calls.raw.v1"
CALLS = "clinicflow.calls.v1"
DLQ = "clinicflow.dlq.v1"
PATIENTS = "clinicflow.patients.v1"


def post_ok(stack, **over):
    st, _, body = stack.post_generic(call_body(**over))
    assert st == 202, body
    return json.loads(body)["call_id"]


def wait_call_event(stack, call_uuid, type_):
    wait_until(lambda: any(e["type"] == type_ for e in
                           events_for(stack.reader(CALLS).read(), call_uuid)),
               60, "%s for %s" % (type_, call_uuid))


def test_poison_goes_to_dlq_and_the_fold_moves_on(stack):
    first = post_ok(stack)
    wait_call_event(stack, first, "clinicflow.call.ended")

    # Two kinds of poison: bytes that are not an envelope, and a valid
    # envelope whose fact the fold refuses (it names no provider).
    good = next(json.loads(m["payload"]) for m in stack.reader(RAW).read()
                if json.loads(m["payload"])["subject"] == first)
    refused = dict(good, id=str(uuid.uuid4()))
    refused["data"] = {k: v for k, v in good["data"].items() if k != "provider"}
    garbage_key = "poison-" + uuid.uuid4().hex[:8]
    stack.raw_valid = False
    cfstack.produce(stack.broker.bootstrap, RAW, garbage_key, b"{this is not an envelope")
    cfstack.produce(stack.broker.bootstrap, RAW, first, json.dumps(refused).encode())

    # A good call after the poison is folded: the consumer did not stop.
    after = post_ok(stack)
    wait_call_event(stack, after, "clinicflow.call.ended")
    stack.wait_folded()

    entries = [json.loads(m["payload"]) for m in stack.reader(DLQ).read()]
    by_code = {e["data"]["reason_code"]: e for e in entries}
    assert set(by_code) == {"invalid_envelope", "rejected"}, entries
    assert len({e["id"] for e in entries}) == 2, entries  # repeats keep their id
    bad = by_code["invalid_envelope"]["data"]
    assert base64.b64decode(bad["value_b64"]) == b"{this is not an envelope", bad
    assert base64.b64decode(bad["key_b64"]).decode() == garbage_key, bad
    assert bad["topic"] == RAW and bad["group_id"] == "clinicflow-calls-fold", bad
    raw = stack.reader(RAW, validate=False).read()
    where = next(m for m in raw if m["key"] == garbage_key)
    assert (bad["partition"], bad["offset"]) == (where["partition"], where["offset"]), bad
    rej = by_code["rejected"]
    assert json.loads(base64.b64decode(rej["data"]["value_b64"]))["id"] == refused["id"]
    # The entry's subject is where the message was; its tenant is kept.
    assert rej["subject"] == "%s/%d/%d" % (RAW, rej["data"]["partition"],
                                          rej["data"]["offset"]), rej
    assert rej["networkid"] == good["networkid"], rej
    # The refused fact changed nothing: the first call still has one event.
    assert len(events_for(stack.reader(CALLS).read(), first)) == 1


def test_restart_resumes_at_stored_offsets(stack):
    before = post_ok(stack)
    wait_call_event(stack, before, "clinicflow.call.ended")
    stack.wait_folded()
    count_before = len(stack.reader(CALLS).read())

    stack.svc.stop()
    stack.services[0] = stack.svc = stack.start_service()

    after = post_ok(stack)
    wait_call_event(stack, after, "clinicflow.call.ended")
    stack.wait_folded()
    msgs = stack.reader(CALLS).read()
    # Exactly the new call's event was added: nothing was re-applied.
    assert len(msgs) == count_before + 1, (count_before, len(msgs))
    assert len(events_for(msgs, before)) == 1
    # Stopped here, by the test that started it: a clean exit is part of it.
    stack.svc.stop()


def fresh_service(stack):
    """A new service process. The test before stops its own at the end; if
    it failed first, its process is stopped here (its failure is already
    reported), so this test does not run beside it."""
    stack.svc.stop(check=False)
    stack.services[0] = stack.svc = stack.start_service()


def test_one_batch_with_a_repeat_and_a_rejected_fact(stack):
    # Facts that wait on calls.raw while no fold runs arrive in one batch:
    # a fact twice, one the fold refuses, and another. The batch is applied
    # optimistically, then (because of the refused one) message by message:
    # the good facts are folded once each, the refused one goes to the DLQ.
    fresh_service(stack)
    template = post_ok(stack)
    wait_call_event(stack, template, "clinicflow.call.ended")
    stack.wait_folded()
    good = next(json.loads(m["payload"]) for m in stack.reader(RAW, validate=False).read()
                if m["payload"].startswith('{"') and template in m["payload"])
    stack.svc.stop()

    def fact(**data_over):
        ev = dict(good, id=str(uuid.uuid4()), subject=str(uuid.uuid4()))
        ev["data"] = dict(good["data"], provider_call_id="pbx-" + uuid.uuid4().hex[:8],
                          **data_over)
        return ev
    first, second = fact(), fact()
    refused = dict(fact(), subject=first["subject"])
    del refused["data"]["provider"]
    stack.raw_valid = False
    for ev in (first, first, refused, second):
        cfstack.produce(stack.broker.bootstrap, RAW, ev["subject"], json.dumps(ev).encode())

    env = dict(stack.service_env(), CLINICFLOW_LOG_LEVEL="debug")
    stack.services[0] = stack.svc = cfstack.Service("calls", env)
    stack.svc.start()
    for ev in (first, second):
        wait_call_event(stack, ev["subject"], "clinicflow.call.ended")
    stack.wait_folded()
    calls = stack.reader(CALLS).read()
    assert len(events_for(calls, first["subject"])) == 1, events_for(calls, first["subject"])
    assert len(events_for(calls, second["subject"])) == 1
    rows = cfstack.psql(stack.dsn, "SELECT facts FROM calls.calls WHERE call_id = '%s'"
                        % first["subject"])
    assert rows == [["1"]], rows
    rejected = [json.loads(base64.b64decode(json.loads(m["payload"])["data"]["value_b64"]))
                for m in stack.reader(DLQ).read()
                if json.loads(m["payload"])["data"]["reason_code"] == "rejected"]
    assert refused["id"] in [r.get("id") for r in rejected], rejected
    assert "applying the batch message by message" in stack.svc.logs()
    stack.svc.stop()


def test_a_row_the_batch_copy_refuses(stack):
    # The batch's save sends its rows by COPY: a row PostgreSQL refuses
    # there (a talk time over the integer column, in a fact written to
    # calls.raw by hand) fails the COPY as the statement's error, the batch
    # rolls back on a connection still usable, and message by message the
    # refused fact alone goes to the DLQ.
    fresh_service(stack)
    template = post_ok(stack)
    wait_call_event(stack, template, "clinicflow.call.ended")
    stack.wait_folded()
    good = next(json.loads(m["payload"]) for m in stack.reader(RAW, validate=False).read()
                if m["payload"].startswith('{"') and template in m["payload"])
    stack.svc.stop()

    def fact(**data_over):
        ev = dict(good, id=str(uuid.uuid4()), subject=str(uuid.uuid4()))
        ev["data"] = dict(good["data"], provider_call_id="pbx-" + uuid.uuid4().hex[:8],
                          **data_over)
        return ev
    first, refused, second = fact(), fact(talk_seconds=99999999999), fact()
    stack.raw_valid = False
    for ev in (first, refused, second):
        cfstack.produce(stack.broker.bootstrap, RAW, ev["subject"], json.dumps(ev).encode())

    env = dict(stack.service_env(), CLINICFLOW_LOG_LEVEL="debug")
    stack.services[0] = stack.svc = cfstack.Service("calls", env)
    stack.svc.start()
    for ev in (first, second):
        wait_call_event(stack, ev["subject"], "clinicflow.call.ended")
    stack.wait_folded()
    rows = cfstack.psql(stack.dsn, "SELECT call_id::text FROM calls.calls WHERE call_id IN"
                        " ('%s', '%s', '%s') ORDER BY 1"
                        % (first["subject"], refused["subject"], second["subject"]))
    assert rows == sorted([[first["subject"]], [second["subject"]]]), rows
    rejected = [json.loads(base64.b64decode(json.loads(m["payload"])["data"]["value_b64"]))
                for m in stack.reader(DLQ).read()
                if json.loads(m["payload"])["data"]["reason_code"] == "rejected"]
    assert refused["id"] in [r.get("id") for r in rejected], rejected
    logs = stack.svc.logs()
    assert "copy: postgresql error 22003" in logs, "the batch did not fail in its COPY"
    assert "applying the batch message by message" in logs
    stack.svc.stop()


def patient_event(patient_id, **data):
    number = "+7916%07d" % (uuid.uuid4().int % 10 ** 7)
    return json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()),
        "source": "/clinicflow/reminders/mis/test", "type": "clinicflow.patient.upserted",
        "subject": patient_id, "time": "2026-11-20T08:00:00.000Z",
        "datacontenttype": "application/json", "networkid": cfstack.demo_network()["id"],
        "data": dict({"patient_id": patient_id, "phones": [number],
                      "contact_keys": [contact_key(number)],
                      "last_visit_at": "2026-09-01T10:00:00.000Z"}, **data),
    }).encode()


def test_a_message_the_database_keeps_refusing_goes_to_dlq(stack):
    """A conflict (here raised by a trigger an operator added, as a unique
    key would) may be a race with another instance, so it is retried; when
    it keeps coming back the message goes to the DLQ as failed and the
    partition moves on."""
    cfstack.psql(stack.dsn, """
        CREATE FUNCTION calls.refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.doc->>'note' = 'refuse me' THEN
                RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = 'unique_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_marked BEFORE INSERT ON calls.patients
            FOR EACH ROW EXECUTE FUNCTION calls.refuse_marked();""")
    fresh_service(stack)
    try:
        patient = str(uuid.uuid4())
        # Same key, so the same partition: the second waits behind the first.
        cfstack.produce(stack.broker.bootstrap, PATIENTS, patient,
                        patient_event(patient, note="refuse me"))
        cfstack.produce(stack.broker.bootstrap, PATIENTS, patient, patient_event(patient))
        wait_until(lambda: cfstack.psql(
            stack.dsn, "SELECT doc->>'note' IS NULL FROM calls.patients"
            " WHERE patient_id = '%s'" % patient) == [["t"]], 60,
            "the event after the refused one to be applied")
        failed = [json.loads(m["payload"])["data"] for m in stack.reader(DLQ).read()
                  if json.loads(m["payload"])["data"]["reason_code"] == "failed"]
        assert len(failed) == 1, failed
        assert failed[0]["group_id"] == "clinicflow-calls-patients", failed
        assert "refused by a trigger" in failed[0]["reason"], failed
        refused = json.loads(base64.b64decode(failed[0]["value_b64"]))
        assert refused["data"]["note"] == "refuse me", refused
        assert not applied(stack, "clinicflow-calls-patients", refused["id"])
    finally:
        cfstack.psql(stack.dsn, "DROP TRIGGER refuse_marked ON calls.patients;"
                     " DROP FUNCTION calls.refuse_marked()")
    # The cause is gone: the entry replayed is applied, not skipped.
    replay(stack, failed[0])
    wait_until(lambda: cfstack.psql(
        stack.dsn, "SELECT doc->>'note' FROM calls.patients"
        " WHERE patient_id = '%s'" % patient) == [["refuse me"]], 60,
        "the replayed event to be applied")
    stack.svc.stop()


def applied(stack, group, event_id):
    """Whether the group has recorded the event as applied."""
    return cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.applied_events"
                        " WHERE group_id = '%s' AND event_id = '%s'"
                        % (group, event_id)) == [["1"]]


def replay(stack, entry):
    """What an operator does with a DLQ entry once its cause is fixed: the
    original key and bytes written again to the original topic."""
    key = base64.b64decode(entry["key_b64"]).decode()
    cfstack.produce(stack.broker.bootstrap, entry["topic"], key,
                    base64.b64decode(entry["value_b64"]))


def test_a_rejected_event_replayed_after_the_fix_is_applied(stack):
    """An event the database refuses (a trigger an operator added, as a
    check constraint would) goes to the DLQ as rejected, and is not
    recorded as applied: once the cause is removed, replaying the entry
    applies it."""
    cfstack.psql(stack.dsn, """
        CREATE FUNCTION calls.refuse_marked() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.doc->>'note' = 'refuse me' THEN
                RAISE EXCEPTION 'refused by a trigger';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_marked BEFORE INSERT ON calls.patients
            FOR EACH ROW EXECUTE FUNCTION calls.refuse_marked();""")
    fresh_service(stack)
    try:
        patient = str(uuid.uuid4())
        value = patient_event(patient, note="refuse me")
        event_id = json.loads(value)["id"]
        cfstack.produce(stack.broker.bootstrap, PATIENTS, patient, value)
        entries = []

        def rejected():
            entries[:] = [json.loads(m["payload"])["data"] for m in stack.reader(DLQ).read()
                          if json.loads(m["payload"])["data"]["reason_code"] == "rejected"]
            return any(e["key_b64"] == base64.b64encode(patient.encode()).decode()
                       for e in entries)
        wait_until(rejected, 60, "the refused event in the DLQ")
        entry = next(e for e in entries
                     if base64.b64decode(e["key_b64"]).decode() == patient)
        assert "refused by a trigger" in entry["reason"], entry
        assert base64.b64decode(entry["value_b64"]) == value, entry
        assert not applied(stack, "clinicflow-calls-patients", event_id)
        assert cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.patients"
                            " WHERE patient_id = '%s'" % patient) == [["0"]]
    finally:
        cfstack.psql(stack.dsn, "DROP TRIGGER refuse_marked ON calls.patients;"
                     " DROP FUNCTION calls.refuse_marked()")
    replay(stack, entry)
    wait_until(lambda: cfstack.psql(
        stack.dsn, "SELECT doc->>'note' FROM calls.patients"
        " WHERE patient_id = '%s'" % patient) == [["refuse me"]], 60,
        "the replayed event to be applied")
    assert applied(stack, "clinicflow-calls-patients", event_id)
    stack.svc.stop()


if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_poison_goes_to_dlq_and_the_fold_moves_on,
            test_restart_resumes_at_stored_offsets,
            test_one_batch_with_a_repeat_and_a_rejected_fact,
            test_a_row_the_batch_copy_refuses,
            test_a_message_the_database_keeps_refusing_goes_to_dlq,
            test_a_rejected_event_replayed_after_the_fix_is_applied,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
