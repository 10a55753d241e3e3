"""The MIS record API of clinicflow-reminders end to end (PUT, GET, DELETE
/v1/patients/{id} and /v1/appointments/{id}): ids derived from the network
and the MIS id, versions (created, updated, unchanged, 409 stale, updated_at
compared as time), strict bodies that let nothing medical in and write
nothing when they refuse, scopes, erasure (the row keeps no personal data, a
tombstone goes out, an older version cannot bring the person back), the
events on patients.v1 and appointments.v1 (each checked against its schema
as it is read), and the answer coming after the commit."""
import re
import threading
import uuid

import cfstack
from common import (APPOINTMENTS, CLINICS, NET, NETWORK_B, PATIENTS, SOURCE, Stack,
                    appointment_uuid, bad_field, contact_key, epoch_ms, new_id, new_phone,
                    not_found, ok, patient_event_id, patient_uuid, recent, same_instant, stale,
                    wait_until)

PATIENT_DATA = {"patient_id", "mis_id", "version", "clinic_id", "phones", "contact_keys",
                "first_name", "last_name", "middle_name", "email", "language",
                "preferred_channel", "first_visit_at", "last_visit_at", "recall_at", "consents"}
APPOINTMENT_DATA = {"appointment_id", "mis_id", "version", "patient_id", "mis_patient_id",
                    "clinic_id", "doctor_id", "service_category", "starts_at", "ends_at",
                    "status", "amount_paid", "treatment_plan", "booking_source", "call_id",
                    "lead_id", "operator_id", "previous_status", "previous_starts_at"}
TIMES = ("first_visit_at", "last_visit_at", "recall_at")
# GET's updated_at: when the record was stored, UTC with milliseconds.
UTC_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def full_patient(version=1, **over):
    """A patient with every member; phones as an MIS would write them (a
    national form, the same number again in another form, a second one)."""
    national, e164 = new_phone()
    _, other = new_phone()
    tag = uuid.uuid4().hex[:8]
    body = {
        "version": version,
        "clinic_id": CLINICS[1],
        "first_name": "Anna" + tag,
        "last_name": "Petrova" + tag,
        "middle_name": "Ivanovna" + tag,
        "phones": [national, e164[:2] + " " + e164[2:5] + " " + e164[5:], other],
        "email": "anna.%s@example.org" % tag,
        "language": "ru",
        "preferred_channel": "sms",
        "first_visit_at": "2011-02-03T12:00:00+03:00",
        "last_visit_at": "2026-09-01T10:30:00Z",
        "recall_at": "2027-03-01T09:00:00Z",
        "consents": {"calls": True, "sms": True},
    }
    body.update(over)
    return body, [e164, other]


def assert_stored_patient(stored, sent, phones):
    """The GET's patient: what was sent, phones in E.164 without the repeat,
    times the same instants, consents with all four members."""
    assert stored["phones"] == phones, (stored["phones"], phones)
    want_consents = {"calls": False, "sms": False, "messengers": False, "marketing": False}
    want_consents.update(sent.get("consents", {}))
    assert stored["consents"] == want_consents, stored
    for k, v in sent.items():
        if k in ("version", "updated_at", "phones", "consents"):
            continue
        if k in TIMES:
            assert same_instant(stored.get(k), v), (k, stored.get(k), v)
        else:
            assert stored.get(k) == v, (k, stored.get(k), v)


def patient_events(stack, mis_id):
    """The messages keyed by the patient's id on patients.v1, in order."""
    return stack.messages(PATIENTS, key=patient_uuid(mis_id))


# --- patients ---

def test_patient_created(stack):
    mis = new_id("p")
    body, phones = full_patient()
    out = ok(stack.put_patient(mis, body))
    pid = patient_uuid(mis)
    assert out == {"patient_id": pid, "id": mis, "version": 1, "result": "created"}, out
    # The id is the network's: B's key on the same MIS id is another patient.
    other = ok(stack.put_patient(mis, {"version": 1, "first_name": "Other"}, key="other_ingest"))
    assert other["patient_id"] == patient_uuid(mis, NETWORK_B["id"]) != pid, other
    assert other["result"] == "created", other

    got = ok(stack.get_patient(mis))
    assert got["patient_id"] == pid and got["id"] == mis and got["version"] == 1, got
    assert_stored_patient(got["patient"], body, phones)
    for scope in ("read", "admin"):
        assert ok(stack.get_patient(mis, key=scope))["patient"] == got["patient"], scope

    msg = stack.wait_patient_event(mis, 1)
    ev = msg["event"]
    assert msg["key"] == ev["subject"] == pid, msg
    assert ev["type"] == "clinicflow.patient.upserted" and ev["source"] == SOURCE, ev
    assert ev["networkid"] == NET and ev["clinicid"] == body["clinic_id"], ev
    assert recent(ev["time"]), ev["time"]
    data = ev["data"]
    assert set(data) <= PATIENT_DATA, sorted(set(data) - PATIENT_DATA)
    assert data["patient_id"] == pid and data["mis_id"] == mis and data["version"] == 1, data
    assert data["clinic_id"] == body["clinic_id"], data
    assert data["phones"] == phones, data
    assert data["contact_keys"] == [contact_key(p) for p in phones], data
    for k in ("first_name", "last_name", "middle_name", "email", "language",
              "preferred_channel"):
        assert data[k] == body[k], (k, data)
    for k in TIMES:
        assert same_instant(data[k], body[k]), (k, data[k], body[k])
    assert data["consents"] == {"calls": True, "sms": True, "messengers": False,
                                "marketing": False}, data
    # B's patient is B's: its own key, its own network.
    ev_b = stack.wait_event(PATIENTS, other["patient_id"],
                            patient_event_id(mis, 1, NETWORK_B["id"]))["event"]
    assert ev_b["networkid"] == NETWORK_B["id"], ev_b


def test_same_version_unchanged(stack):
    mis = new_id("p")
    body, phones = full_patient(version=3)
    assert ok(stack.put_patient(mis, body))["result"] == "created"
    stack.wait_patient_event(mis, 3)
    before = ok(stack.get_patient(mis))
    assert UTC_MS.match(before["updated_at"]) and recent(before["updated_at"]), before
    # The same version again, even with another body: nothing written.
    again = dict(body, first_name="Changed")
    out = ok(stack.put_patient(mis, again))
    assert out == {"patient_id": patient_uuid(mis), "id": mis, "version": 3,
                   "result": "unchanged"}, out
    got = ok(stack.get_patient(mis))
    assert got == before, (got, before)
    stack.marker()
    msgs = patient_events(stack, mis)
    assert [m["event"]["data"]["version"] for m in msgs] == [3], msgs


def test_newer_and_older_versions(stack):
    mis = new_id("p")
    body, phones = full_patient(version=5)
    assert ok(stack.put_patient(mis, body))["result"] == "created"
    first = stack.wait_patient_event(mis, 5)
    national, e164 = new_phone()
    newer = dict(body, version=7, phones=[national], last_name="Smirnova",
                 consents={"marketing": True})
    out = ok(stack.put_patient(mis, newer))
    assert out == {"patient_id": patient_uuid(mis), "id": mis, "version": 7,
                   "result": "updated"}, out
    msg = stack.wait_patient_event(mis, 7)
    data = msg["event"]["data"]
    assert data["version"] == 7 and data["last_name"] == "Smirnova", data
    assert data["phones"] == [e164] and data["contact_keys"] == [contact_key(e164)], data
    assert data["consents"] == {"calls": False, "sms": False, "messengers": False,
                                "marketing": True}, data
    assert (msg["partition"], msg["offset"]) > (first["partition"], first["offset"]), msg

    stale(stack.put_patient(mis, dict(body, version=6, first_name="Older")), 7)
    got = ok(stack.get_patient(mis))
    assert got["version"] == 7 and got["patient"]["first_name"] == body["first_name"], got
    assert got["patient"]["phones"] == [e164], got
    stack.marker()
    assert [m["event"]["data"]["version"] for m in patient_events(stack, mis)] == [5, 7]


def test_updated_at_compared_as_time(stack):
    mis = new_id("p")
    t0 = "2026-11-20T09:00:00Z"
    out = ok(stack.put_patient(mis, {"updated_at": t0, "first_name": "Timed"}))
    assert out["result"] == "created" and out["version"] == epoch_ms(t0), out
    got = ok(stack.get_patient(mis))
    assert got["version"] == epoch_ms(t0), got
    ev = stack.wait_patient_event(mis, epoch_ms(t0))["event"]
    assert ev["data"]["version"] == epoch_ms(t0), ev
    # 11:00 at +03:00 sorts after "09:00Z" as text but is an hour earlier.
    stale(stack.put_patient(mis, {"updated_at": "2026-11-20T11:00:00+03:00"}), epoch_ms(t0))
    # The same instant in another form is the same version.
    out = ok(stack.put_patient(mis, {"updated_at": "2026-11-20T12:00:00+03:00"}))
    assert out["result"] == "unchanged" and out["version"] == epoch_ms(t0), out
    # Later by 250 ms: newer (milliseconds count).
    t1 = "2026-11-20T12:00:00.250+03:00"
    out = ok(stack.put_patient(mis, {"updated_at": t1, "first_name": "Later"}))
    assert out["result"] == "updated" and out["version"] == epoch_ms(t0) + 250, out
    got = ok(stack.get_patient(mis))
    assert got["version"] == epoch_ms(t1) and got["patient"]["first_name"] == "Later", got
    stack.wait_patient_event(mis, epoch_ms(t1))
    # A plain version below the stored milliseconds is stale too.
    stale(stack.put_patient(mis, {"version": 99}), epoch_ms(t1))


def test_patient_strict_body(stack):
    national, e164 = new_phone()
    bad = [
        ({"version": 1, "nickname": "x"}, "nickname"),
        ({"version": 1, "diagnosis": "K02.1"}, "diagnosis"),
        ({"version": 1, "allergies": ["penicillin"]}, "allergies"),
        ({"version": 1, "consents": {"calls": True, "health_data": True}}, "consents.health_data"),
        ({"version": 1, "consents": {"sms": "yes"}}, "consents.sms"),
        ({"version": 1, "consents": True}, "consents"),
        ({"version": 1, "phones": [e164, "not a phone"]}, "phones"),
        ({"version": 1, "phones": e164}, "phones"),
        ({"version": 1, "phones": [new_phone()[1] for _ in range(17)]}, "phones"),
        ({"first_name": "NoVersion"}, "version"),
        ({"version": 1, "updated_at": "2026-11-20T09:00:00Z"}, "updated_at"),
        ({"version": -1}, "version"),
        ({"version": "1"}, "version"),
        ({"version": 1.5}, "version"),
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"version": 1, "clinic_id": "no-such-clinic"}, "clinic_id"),
        ({"version": 1, "clinic_id": NETWORK_B["clinics"][0]["id"]}, "clinic_id"),
        ({"version": 1, "first_name": ""}, "first_name"),
        ({"version": 1, "last_name": "x" * 129}, "last_name"),
        ({"version": 1, "email": "no-at-sign.example.org"}, "email"),
        ({"version": 1, "language": "de"}, "language"),
        ({"version": 1, "preferred_channel": "pigeon"}, "preferred_channel"),
        ({"version": 1, "last_visit_at": "last tuesday"}, "last_visit_at"),
    ]
    refused = []
    for body, field in bad:
        mis = new_id("bad")
        body.setdefault("first_name", "Refused")
        if field == "first_name":
            body["first_name"] = ""
        bad_field(stack.put_patient(mis, body), field)
        refused.append(mis)
    for path_id in ("bad!id", "bad%20id", "x" * 129, "caf%C3%A9"):
        bad_field(stack.put_patient(path_id, {"version": 1, "first_name": "Refused"}), "id")
    r = stack.put_patient(new_id("bad"), b'{"version": 1,')
    assert r.status == 400, r
    r = stack.put_patient(new_id("bad"), b'[{"version": 1}]')
    assert r.status == 400, r
    # An id of 128 allowed characters is fine.
    long_id = ("A.b_c:d-" * 16)[:128]
    assert ok(stack.put_patient(long_id, {"version": 1}))["result"] == "created"
    for mis in refused:
        not_found(stack.get_patient(mis))
    stack.marker()
    keys = {patient_uuid(m) for m in refused}
    leaked = [m for m in stack.messages(PATIENTS) if m["key"] in keys]
    assert not leaked, leaked


def test_scopes_and_content_type(stack):
    mis = new_id("p")
    body = {"version": 1, "first_name": "Scoped"}
    r = stack.put_patient(mis, body, key=None)
    assert r.status == 401 and r.error()["code"] == "unauthorized", r
    r = stack.put_patient(mis, body, key="cf_not_a_key")
    assert r.status == 401, r
    r = stack.put_patient(mis, body, key="read")
    assert r.status == 403, r
    r = stack.put_patient(mis, body, content_type="text/plain")
    assert r.status == 415, r
    r = stack.put_patient(mis, body, content_type=None)
    assert r.status == 415, r
    r = stack.put_patient(mis, b"version=1", content_type="application/x-www-form-urlencoded")
    assert r.status == 415, r
    for key in (None, "cf_not_a_key"):
        assert stack.get_patient(mis, key=key).status == 401
    not_found(stack.get_patient(mis))
    # Only now is it written: by an admin key, with a charset parameter.
    out = ok(stack.put_patient(mis, body, key="admin",
                               content_type="application/json; charset=utf-8"))
    assert out["result"] == "created", out
    stack.wait_patient_event(mis, 1)
    # Another network's key sees nothing of it.
    not_found(stack.get_patient(mis, key="other_ingest"))
    not_found(stack.delete_patient(mis, key="other_admin"))
    assert ok(stack.get_patient(mis))["version"] == 1
    # A key limited to a clinic is refused here, whatever its scope: these
    # records are the network's, and none of them is widened to it. (An
    # ingest key limited to clinics is made with read as well: clinicflowctl
    # refuses one that could only be refused.)
    limited = {scope: cfstack.clinicflowctl(stack.dsn, "key", "create", "--network", "demo",
                                            "--scope", scope, "--clinic",
                                            "demo-north").stdout.split()[-1]
               for scope in ("read", "ingest,read", "admin")}
    # (the service knows a key once it has reloaded the configuration)
    cfstack.wait_until(lambda: stack.get_patient(mis, key=limited["admin"]).status != 401, 20,
                       "the new keys known")
    for scope, key in limited.items():
        for r in (stack.get_patient(mis, key=key),
                  stack.put_patient(mis, dict(body, version=2), key=key),
                  stack.delete_patient(mis, key=key)):
            assert r.status == 403 and r.error()["code"] == "forbidden", (scope, r)
    assert ok(stack.get_patient(mis))["version"] == 1


def test_delete_erases(stack):
    mis = new_id("p")
    body, phones = full_patient(version=2)
    ok(stack.put_patient(mis, body))
    upsert = stack.wait_patient_event(mis, 2)
    pid = patient_uuid(mis)
    personal = [body["first_name"], body["last_name"], body["middle_name"], body["email"],
                body["email"].split("@")[0]]
    personal += [p[1:] for p in phones] + [p[2:] for p in phones]
    personal += [contact_key(p) for p in phones]
    personal += ["2011-02-03", "2026-09-01", "2027-03-01"]
    # What any table of the schema holds of the patient (bytea shows as hex).
    names = personal[:5] + [p[1:] for p in phones] + [contact_key(p) for p in phones]
    needles = names + [n.encode().hex() for n in names]

    def leftovers():
        return [(t, r) for t in stack.schema_tables()
                for r in stack.rows_mentioning("reminders.%s" % t, *needles)]

    # Both looks below find the row and what it holds before the erasure.
    held = stack.rows_mentioning("reminders.patients", pid, mis)
    assert len(held) == 1 and body["last_name"] in held[0], held
    assert any(t == "patients" for t, _ in leftovers()), leftovers()
    for scope in ("ingest", "read"):
        r = stack.delete_patient(mis, key=scope)
        assert r.status == 403, (scope, r)
    assert stack.delete_patient(mis, key=None).status == 401
    assert ok(stack.get_patient(mis))["version"] == 2

    out = ok(stack.delete_patient(mis))
    assert out == {"patient_id": pid, "id": mis, "result": "erased"}, out
    not_found(stack.get_patient(mis))
    not_found(stack.delete_patient(mis))
    not_found(stack.delete_patient(new_id("never")))

    tomb = stack.wait_message(PATIENTS, lambda m: m["key"] == pid and m["payload"] is None,
                              "the tombstone of %s" % pid)
    assert tomb["partition"] == upsert["partition"] and tomb["offset"] > upsert["offset"], tomb

    # The row: ids, version and erased_at may stay; nothing personal does.
    rows = stack.rows_mentioning("reminders.patients", pid, mis)
    assert len(rows) <= 1, rows
    for row in rows:
        left = [p for p in personal if p in row]
        assert not left, "erased patient's row still holds %s: %s" % (left, row)
    # Nor anywhere else in the service's schema once the relay is done (an
    # outbox row is deleted when Kafka has it), not even a contact key that
    # would still tie the phone to the patient.
    wait_until(lambda: not leftovers(), 20,
               "no table of the reminders schema to hold the erased patient's data")

    # Erased is not forgotten: the same or an older version cannot return.
    stale(stack.put_patient(mis, dict(body, version=2)), 2)
    stale(stack.put_patient(mis, dict(body, version=1)), 2)
    not_found(stack.get_patient(mis))
    again, phones2 = full_patient(version=3)
    out = ok(stack.put_patient(mis, again))
    assert out == {"patient_id": pid, "id": mis, "version": 3, "result": "created"}, out
    got = ok(stack.get_patient(mis))
    assert got["version"] == 3 and got["patient"]["first_name"] == again["first_name"], got
    back = stack.wait_patient_event(mis, 3)
    assert back["partition"] == tomb["partition"] and back["offset"] > tomb["offset"], back
    assert back["event"]["data"]["phones"] == phones2, back


def test_connections_lost(stack):
    """PostgreSQL drops the service's sessions (a restart, a failover, an
    idle connection cut): the request that finds its connection dead is
    answered 503 with Retry-After, or succeeds on a new one, and nothing
    crashes; the write lands once retried. The PUT and DELETE paths both
    start a transaction first."""
    mis = new_id("p")
    body, _ = full_patient()
    ok(stack.put_patient(mis, body))

    def cut():
        stack.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                  " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                  " AND backend_type = 'client backend'")

    def until_done(request, expect, what):
        answers = []

        def attempt():
            r = request()
            answers.append(r)
            if r.status == 503:
                assert int(r.headers["retry-after"]) > 0, r
                assert r.error()["code"] == "unavailable", r
                return None
            assert r.status == expect, "expected %s or 503: %r" % (expect, r)
            return r
        return wait_until(attempt, 20, what, interval=0.2), answers

    cut()
    r, _ = until_done(lambda: stack.put_patient(mis, dict(body, version=2)), 200,
                      "the PUT after the sessions were cut to land")
    assert r.json["version"] == 2 and r.json["result"] == "updated", r
    assert ok(stack.get_patient(mis))["version"] == 2
    cut()
    r, _ = until_done(lambda: stack.delete_patient(mis), 200,
                      "the DELETE after the sessions were cut to land")
    assert r.json["result"] == "erased", r
    not_found(stack.get_patient(mis))


# --- appointments ---

def appointment(version=1, patient=None, **over):
    body = {"version": version, "clinic_id": CLINICS[0], "patient_id": patient or new_id("p"),
            "starts_at": "2026-12-01T12:30:00+03:00", "status": "booked"}
    body.update(over)
    return body


def test_appointment_lifecycle(stack):
    mis, patient = new_id("a"), new_id("p")
    call_id, lead_id = str(uuid.uuid4()), str(uuid.uuid4())
    body = appointment(patient=patient, doctor_id="dr-7", service_category="implants",
                       ends_at="2026-12-01T13:15:00+03:00", amount_paid=1500.5,
                       treatment_plan={"status": "accepted", "amount": 42000},
                       booking_source="call", call_id=call_id.upper(), lead_id=lead_id,
                       operator_id="op-12")
    aid, pid = appointment_uuid(mis), patient_uuid(patient)
    out = ok(stack.put_appointment(mis, body))
    assert out == {"appointment_id": aid, "id": mis, "patient_id": pid, "version": 1,
                   "result": "created"}, out
    got = ok(stack.get_appointment(mis))
    assert got["appointment_id"] == aid and got["id"] == mis and got["patient_id"] == pid, got
    assert got["version"] == 1, got
    stored = got["appointment"]
    assert stored["patient_id"] == patient and stored["status"] == "booked", stored
    assert same_instant(stored["starts_at"], body["starts_at"]), stored
    assert stored["treatment_plan"] == body["treatment_plan"], stored
    assert stored["amount_paid"] == 1500.5, stored
    assert ok(stack.get_appointment(mis, key="read"))["appointment"] == stored

    msg = stack.wait_appointment_event(mis, 1)
    ev = msg["event"]
    assert msg["key"] == ev["subject"] == aid, msg
    assert ev["type"] == "clinicflow.appointment.upserted" and ev["source"] == SOURCE, ev
    assert ev["networkid"] == NET and ev["clinicid"] == body["clinic_id"], ev
    data = ev["data"]
    assert set(data) <= APPOINTMENT_DATA, sorted(set(data) - APPOINTMENT_DATA)
    assert data == {
        "appointment_id": aid, "mis_id": mis, "version": 1, "patient_id": pid,
        "mis_patient_id": patient, "clinic_id": body["clinic_id"], "doctor_id": "dr-7",
        "service_category": "implants", "starts_at": "2026-12-01T09:30:00.000Z",
        "ends_at": "2026-12-01T10:15:00.000Z", "status": "booked", "amount_paid": 1500.5,
        "treatment_plan": {"status": "accepted", "amount": 42000}, "booking_source": "call",
        "call_id": call_id, "lead_id": lead_id, "operator_id": "op-12",
    }, data

    # The same version again: nothing.
    out = ok(stack.put_appointment(mis, dict(body, status="cancelled")))
    assert out["result"] == "unchanged" and out["version"] == 1, out
    assert ok(stack.get_appointment(mis))["appointment"]["status"] == "booked"

    # Rescheduled: the event says what it was before.
    v2 = dict(body, version=2, status="rescheduled", starts_at="2026-12-03T08:00:00Z")
    v2.pop("ends_at")
    out = ok(stack.put_appointment(mis, v2))
    assert out["result"] == "updated" and out["version"] == 2, out
    data = stack.wait_appointment_event(mis, 2)["event"]["data"]
    assert data["status"] == "rescheduled" and data["starts_at"] == "2026-12-03T08:00:00.000Z", data
    assert data["previous_status"] == "booked", data
    assert data["previous_starts_at"] == "2026-12-01T09:30:00.000Z", data
    assert "ends_at" not in data, data

    stale(stack.put_appointment(mis, dict(body, status="no_show")), 2)
    got = ok(stack.get_appointment(mis))
    assert got["version"] == 2 and got["appointment"]["status"] == "rescheduled", got

    # The patient arriving later gets the id the appointment already named.
    assert ok(stack.put_patient(patient, {"version": 1}))["patient_id"] == pid
    not_found(stack.get_appointment(new_id("a")))
    stack.marker()
    versions = [m["event"]["data"]["version"] for m in stack.messages(APPOINTMENTS, key=aid)]
    assert versions == [1, 2], versions


def test_appointment_strict_body(stack):
    bad = [
        (appointment(ends_at="2026-12-01T12:29:59+03:00"), "ends_at"),
        (appointment(treatment_plan={"status": "maybe"}), "treatment_plan.status"),
        (appointment(treatment_plan={"amount": 100}), "treatment_plan.status"),
        (appointment(treatment_plan={"status": "proposed", "amount": -1}), "treatment_plan.amount"),
        (appointment(treatment_plan={"status": "proposed", "tooth": "36"}), "treatment_plan.tooth"),
        (appointment(status="done"), "status"),
        (appointment(starts_at="2026-12-01T12:30:00"), "starts_at"),
        (appointment(amount_paid=-0.01), "amount_paid"),
        (appointment(amount_paid="100"), "amount_paid"),
        (appointment(booking_source="fax"), "booking_source"),
        (appointment(call_id="not-a-uuid"), "call_id"),
        (appointment(lead_id="1234"), "lead_id"),
        (appointment(doctor_id=""), "doctor_id"),
        (appointment(operator_id="o" * 65), "operator_id"),
        (appointment(diagnosis="K02.1"), "diagnosis"),
        (appointment(complaint="toothache"), "complaint"),
        (appointment(patient_id="bad id!"), "patient_id"),
        (appointment(clinic_id="no-such-clinic"), "clinic_id"),
        (appointment(clinic_id=NETWORK_B["clinics"][0]["id"]), "clinic_id"),
    ]
    for member in ("clinic_id", "patient_id", "starts_at", "status", "version"):
        body = appointment()
        del body[member]
        bad.append((body, member))
    refused = []
    for body, field in bad:
        mis = new_id("bad-a")
        bad_field(stack.put_appointment(mis, body), field)
        refused.append(mis)
    bad_field(stack.put_appointment("bad!id", appointment()), "id")
    r = stack.put_appointment(new_id("bad-a"), appointment(), content_type="text/plain")
    assert r.status == 415, r
    r = stack.put_appointment(new_id("bad-a"), appointment(), key="read")
    assert r.status == 403, r
    # ends_at equal to starts_at is allowed.
    mis = new_id("a")
    out = ok(stack.put_appointment(mis, appointment(ends_at="2026-12-01T09:30:00Z")))
    assert out["result"] == "created", out
    for mis in refused:
        not_found(stack.get_appointment(mis))
    stack.marker()
    keys = {appointment_uuid(m) for m in refused}
    leaked = [m for m in stack.messages(APPOINTMENTS) if m["key"] in keys]
    assert not leaked, leaked


# --- the answer follows the commit ---

def test_read_your_writes(stack):
    mis, amis = new_id("p"), new_id("a")
    statuses = ["booked", "rescheduled", "arrived", "completed"]
    for v in range(1, 21):
        out = ok(stack.put_patient(mis, {"version": v, "first_name": "Name%d" % v}))
        assert out["version"] == v, out
        got = ok(stack.get_patient(mis))
        assert got["version"] == v and got["patient"]["first_name"] == "Name%d" % v, (v, got)
        status = statuses[v % len(statuses)]
        ok(stack.put_appointment(amis, appointment(version=v, patient=mis, status=status)))
        got = ok(stack.get_appointment(amis))
        assert got["version"] == v and got["appointment"]["status"] == status, (v, got)
    out = ok(stack.delete_patient(mis))
    assert out["result"] == "erased", out
    not_found(stack.get_patient(mis))


def test_concurrent_versions(stack):
    """Eight versions of one new patient at once: one is created, the
    answers agree with what is stored, and the last event on the compacted
    topic (the profile consumers keep) is the newest version."""
    mis = new_id("p")
    results, errors = {}, []
    gate = threading.Barrier(8)

    def put(v):
        try:
            gate.wait(10)
            r = stack.put_patient(mis, {"version": v, "first_name": "V%d" % v})
            results[v] = r
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=put, args=(v,)) for v in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 8, (errors, results)
    created = [v for v, r in results.items() if r.status == 200 and r.json["result"] == "created"]
    assert len(created) == 1, results
    for v, r in results.items():
        assert r.status in (200, 409), r
        if r.status == 409:
            assert r.json["stored_version"] > v, r
    assert results[8].status == 200, results[8]
    got = ok(stack.get_patient(mis))
    assert got["version"] == 8 and got["patient"]["first_name"] == "V8", got
    stack.wait_patient_event(mis, 8)
    stack.marker()
    versions = [m["event"]["data"]["version"] for m in patient_events(stack, mis)]
    assert versions == sorted(set(versions)) and versions[-1] == 8, versions
    written = sorted(v for v, r in results.items() if r.status == 200)
    assert versions == written, (versions, written)


def test_a_write_is_relayed_at_once(stack):
    """The relay looks for leftovers only every
    CLINICFLOW_REMINDERS_RELAY_EVERY_MS (a minute here), but a commit that
    staged an event wakes it: the event is on the topic within seconds.
    (Last: the stack's instance is replaced by one with that setting.)"""
    stack.svc.stop()
    stack.services.remove(stack.svc)
    slow = cfstack.Service("reminders", stack.env_for(CLINICFLOW_REMINDERS_RELAY_EVERY_MS="60000"))
    slow.start()
    stack.svc = slow
    try:
        for i in range(3):  # the first, and the ones after a wake-up
            mis = new_id("p-kick")
            ok(stack.put_patient(mis, {"version": 1, "first_name": "Kick%d" % i}))
            stack.wait_event(PATIENTS, patient_uuid(mis), patient_event_id(mis, 1), timeout=15)
    finally:
        slow.stop()


TESTS = [
    test_patient_created,
    test_same_version_unchanged,
    test_newer_and_older_versions,
    test_updated_at_compared_as_time,
    test_patient_strict_body,
    test_scopes_and_content_type,
    test_delete_erases,
    test_appointment_lifecycle,
    test_appointment_strict_body,
    test_read_your_writes,
    test_concurrent_versions,
    test_a_write_is_relayed_at_once,
]

if __name__ == "__main__":
    s = Stack()
    try:
        cfstack.run([lambda f=f: f(s) for f in TESTS], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
