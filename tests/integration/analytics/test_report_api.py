"""GET /v1/reports/calls as an API: the wall between tenants (a key sees its
own network's calls only, and another network's clinic is refused exactly
as a clinic that does not exist), the refusals of bad parameters with the
documented error shape (a drill-down's cursor among them), who may ask (a
read or admin key; none is 401, an ingest key 403), and the CSV header
(the group columns in the order asked, then the figures). Calls and tasks
of two networks are produced to calls.v1 and tasks.v1 as the calls service
writes them."""
import json
import urllib.parse
from datetime import datetime, timedelta, timezone

import cfstack
from common import (CALLS, FIELDS, NET, TASKS, Stack, assert_figures, assert_rows, call_event,
                    cf_uuid5, figures, iso, produce_many, simple_call, simple_task, task_event,
                    wait_groups_consumed)

MSK = timezone(timedelta(hours=3))
DAY = "2026-09-10"

NET_B = "it-an-other"
SECRET_B = "it-an-other-contact-key-secret-1"
CLINIC_B = "it-an-other-clinic"
NETWORK_B = cfstack.small_network(NET_B, SECRET_B, CLINIC_B, [{
    "id": "it-an-other-form",
    "kind": "form",
    "provider": "generic",
    "clinic_id": CLINIC_B,
    "credentials": {"token": "it-an-other-form-token-1"},
}])


def at(hms):
    return datetime.strptime(DAY + " " + hms, "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)


# Network A (demo), DAY:
#   a1 centre, in, answered, 30 s, call centre, site
#   a2 centre, in, answered, 40 s, reception, site
#   a3 centre, in, answered, 50 s, reception
#   a4 north, out, answered, 20 s
#   a5 north, in, missed (40 s of ringing), site; called back after 100 s
A_CALLS = [
    simple_call(NET, "demo-center", "api-a1", at("09:00:00"), talk=30, group="call_center",
                source="site", phone="+79261000001"),
    simple_call(NET, "demo-center", "api-a2", at("10:00:00"), talk=40, group="reception",
                source="site", phone="+79261000002"),
    simple_call(NET, "demo-center", "api-a3", at("11:00:00"), talk=50, group="reception",
                phone="+79261000003"),
    simple_call(NET, "demo-north", "api-a4", at("12:00:00"), direction="outbound", talk=20,
                phone="+79261000004"),
    simple_call(NET, "demo-north", "api-a5", at("13:00:00"), outcome="missed", source="site",
                phone="+79261000005"),
]
A_TASKS = [simple_task(NET, A_CALLS[4], seconds=100)]
# inbound a1 a2 a3 a5 = 4, outbound a4 = 1, answered a1 a2 a3 = 3, unique 4, targeted
# a1 a2 a3 = 3, missed a5 = 1, abandoned 0, cc a1 = 1, rec a2 a3 = 2, talk 30+40+50+20 = 140;
# share 1/3; one task, called back on time after 100 s: rate 1, median = p90 = 100, within 1.
A_TOTAL = figures((4, 1, 3, 4, 3, 1, 0, 1, 2, 140), 1 / 3, (1, 1, 1, 0), 1.0, 100, 100, 1.0)
# centre: a1 a2 a3 in, answered, targeted, unique; cc 1, rec 2; talk 120; share 1/3; no tasks.
A_CENTER = figures((3, 0, 3, 3, 3, 0, 0, 1, 2, 120), 1 / 3, (0, 0, 0, 0), None, None, None,
                   None)
# north: a5 in (missed, unique), a4 out (20 s); share 0/0; the task of a5.
A_NORTH = figures((1, 1, 0, 1, 0, 1, 0, 0, 0, 20), None, (1, 1, 1, 0), 1.0, 100, 100, 1.0)

# Network B, the same day, its one clinic:
#   b1 in, answered, 25 s, call centre, site; b2 in, missed, site, its task expired
B_CALLS = [
    simple_call(NET_B, CLINIC_B, "api-b1", at("09:30:00"), talk=25, group="call_center",
                source="site", phone="+79261000001", secret=SECRET_B),
    simple_call(NET_B, CLINIC_B, "api-b2", at("10:30:00"), outcome="missed", source="site",
                phone="+79261000009", secret=SECRET_B),
]
B_TASKS = [simple_task(NET_B, B_CALLS[1], expired=True)]
# inbound 2, answered 1, unique 2, targeted 1, missed 1, cc 1, talk 25; share 1;
# one task, lost: rate 0, no callback (median, p90 null), within 0/1.
B_TOTAL = figures((2, 0, 1, 2, 1, 1, 0, 1, 0, 25), 1.0, (1, 0, 0, 1), 0.0, None, None, 0.0)

DAY_ONLY = {"from": DAY, "to": DAY}


def produce(stack):
    call_events, task_events = [], []
    for network, calls, tasks in ((NET, A_CALLS, A_TASKS), (NET_B, B_CALLS, B_TASKS)):
        for d in calls:
            call_events.append(call_event("ended", d, network=network))
        for d in tasks:
            opened = {k: v for k, v in d.items() if k not in (
                "closed_at", "on_time", "seconds_to_callback", "closing_call_id")}
            opened["status"] = "open"
            task_events.append(task_event("opened", opened, network=network))
            if d["status"] == "closed":
                task_events.append(task_event("closed", d, network=network))
            elif d["status"] == "expired":
                task_events.append(task_event("expired", d, network=network,
                                              time=d["due_at"]))
    produce_many(stack.broker.bootstrap, CALLS, call_events)
    produce_many(stack.broker.bootstrap, TASKS, task_events)


def error_of(reply, status, code, field, what):
    """The error body of reply, asserted: that status, the documented shape
    {"error": {"code", "message", "field"}}, that code and field (a tuple:
    one of them)."""
    st, hdrs, body = reply
    assert st == status, (what, st, body[:500])
    assert hdrs.get("content-type", "").startswith("application/json"), (what, hdrs)
    doc = json.loads(body)
    assert set(doc) == {"error"}, (what, doc)
    err = doc["error"]
    assert set(err) == {"code", "message", "field"}, (what, err)
    assert err["code"] == code, (what, err)
    assert isinstance(err["message"], str) and err["message"], (what, err)
    fields = field if isinstance(field, tuple) else (field,)
    assert err["field"] in fields, (what, err, fields)
    return err


class ApiStack(Stack):
    """The stack with network B beside the demo network, both networks'
    calls consumed by one clinicflow-analytics (started here, so that it
    lives through every test; closing the stack stops it and checks its
    exit)."""

    def __init__(self):
        super().__init__()
        try:
            cfstack.apply_network(self.dsn, NETWORK_B)
            self.keys["b_read"] = cfstack.create_key(self.dsn, NET_B, "read")
            produce(self)
            self.start_analytics()
            self.wait_consumed()
        except BaseException:
            self.close()
            raise


def test_each_network_sees_its_own(stack):
    rep = stack.report(DAY_ONLY)
    assert_figures(rep["totals"], A_TOTAL, "A's totals")
    rep = stack.report(dict(DAY_ONLY, group_by="clinic"))
    assert_figures(rep["totals"], A_TOTAL, "A's totals by clinic")
    assert_rows(rep, ["clinic"], {("demo-center",): A_CENTER, ("demo-north",): A_NORTH},
                "A by clinic")
    # B's calls share A's day and source: A's site row holds A's alone
    # (a1 a2 a5: 3 in, a1 a2 answered and targeted, cc 1 rec 1, 70 s; a5's task)
    rep = stack.report(dict(DAY_ONLY, source="site"))
    assert_figures(rep["totals"], figures((3, 0, 2, 3, 2, 1, 0, 1, 1, 70), 1 / 2,
                                          (1, 1, 1, 0), 1.0, 100, 100, 1.0), "A's site calls")

    rep = stack.report(DAY_ONLY, key=stack.keys["b_read"])
    assert_figures(rep["totals"], B_TOTAL, "B's totals")
    rep = stack.report(dict(DAY_ONLY, group_by="clinic"), key=stack.keys["b_read"])
    assert_rows(rep, ["clinic"], {(CLINIC_B,): B_TOTAL}, "B by clinic")
    rep = stack.report(dict(DAY_ONLY, clinic=CLINIC_B), key=stack.keys["b_read"])
    assert_figures(rep["totals"], B_TOTAL, "B's own clinic")

    # an admin key reads too
    rep = stack.report(DAY_ONLY, key=stack.keys["admin"])
    assert_figures(rep["totals"], A_TOTAL, "A's totals with the admin key")


def test_clinic_filter_forms(stack):
    both = [("from", DAY), ("to", DAY), ("clinic", "demo-center"), ("clinic", "demo-north")]
    comma = dict(DAY_ONLY, clinic="demo-center,demo-north")
    for params in (both, comma):
        rep = stack.report(params)
        assert_figures(rep["totals"], A_TOTAL, "clinic filter %s" % (params,))
    rep = stack.report(dict(DAY_ONLY, clinic="demo-north"))
    assert_figures(rep["totals"], A_NORTH, "clinic=demo-north")


def test_another_networks_clinic_is_unknown(stack):
    """A clinic of B named with A's key is refused exactly as a clinic that
    exists nowhere: same status, code, field and message (the clinic's name
    aside), so the answer does not tell whether it exists."""
    def refusal(clinic_param, key=None, name=None):
        reply = stack.report_raw(dict(DAY_ONLY, clinic=clinic_param), key=key)
        err = error_of(reply, 400, "unknown_clinic", "clinic", clinic_param)
        return dict(err, message=err["message"].replace(name or clinic_param, "<clinic>"))

    nowhere = refusal("it-no-such-clinic")
    assert refusal(CLINIC_B) == nowhere, (refusal(CLINIC_B), nowhere)
    assert refusal("demo-center," + CLINIC_B, name=CLINIC_B)["code"] == "unknown_clinic"
    reply = stack.report_raw([("from", DAY), ("to", DAY), ("clinic", "demo-center"),
                              ("clinic", CLINIC_B)])
    error_of(reply, 400, "unknown_clinic", "clinic", "repeated clinic, one B's")
    # and the other way round
    b_nowhere = refusal("it-no-such-clinic", key=stack.keys["b_read"])
    assert refusal("demo-center", key=stack.keys["b_read"]) == b_nowhere
    # The refusals are not cached answers of another network: A still reads.
    assert_figures(stack.report(DAY_ONLY)["totals"], A_TOTAL, "A's totals afterwards")


def test_bad_parameters(stack):
    cases = [
        ({"to": DAY}, "from"),
        ({"from": DAY}, "to"),
        ({}, ("from", "to")),
        ({"from": "2026-9-10", "to": DAY}, "from"),
        ({"from": "2026-02-30", "to": DAY}, "from"),
        ({"from": "yesterday", "to": DAY}, "from"),
        ({"from": "", "to": DAY}, "from"),
        ({"from": DAY, "to": "2026-13-01"}, "to"),
        ({"from": DAY, "to": "2026-09-10T00:00:00Z"}, "to"),
        # from after to
        ({"from": "2026-09-11", "to": DAY}, ("from", "to")),
        # 367 days covered (from and to included): more than a leap year
        ({"from": "2025-09-09", "to": DAY}, ("from", "to")),
        # the range would end on the day after 9999-12-31, which is none
        ({"from": "9999-12-01", "to": "9999-12-31"}, "to"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, ("from", "to")),
        (dict(DAY_ONLY, group_by="colour"), "group_by"),
        (dict(DAY_ONLY, group_by="clinic,colour"), "group_by"),
        # four dimensions: at most three
        (dict(DAY_ONLY, group_by="clinic,source,day,hour"), "group_by"),
        ([("from", DAY), ("to", DAY), ("group_by", "clinic"), ("group_by", "source"),
          ("group_by", "day"), ("group_by", "hour")], "group_by"),
    ]
    for params, field in cases:
        error_of(stack.report_raw(params), 400, "invalid_field", field, params)
    # The edges that are allowed: from equal to to, three dimensions, and
    # 366 days covered (proto/README.md: "both inclusive, covering at most
    # 366 days"; 2025-09-10 .. 2026-09-10 is 365 days apart, 366 covered).
    assert (datetime(2026, 9, 10) - datetime(2025, 9, 10)).days + 1 == 366
    for params in (DAY_ONLY, dict(DAY_ONLY, group_by="clinic,source,day"),
                   {"from": "2025-09-10", "to": DAY}, {"from": "9999-12-01", "to": "9999-12-30"}):
        st, _, body = stack.report_raw(params)
        assert st == 200, ("the contract allows %s" % params, st, body[:500])


def records_raw(stack, params):
    """GET /v1/records/calls with params and the demo read key."""
    return cfstack.http("GET", stack.analytics.url(
        "/v1/records/calls?" + urllib.parse.urlencode(params)),
        headers={"Authorization": "Bearer " + stack.keys["read"]})


def test_records_cursor(stack):
    """A page's cursor asks the next page; a cursor whose time the database
    cannot read is a 400 naming it rather than a failed statement, and the
    edges it takes, the database takes too."""
    st, _, body = records_raw(stack, dict(DAY_ONLY, limit=2))
    assert st == 200, (st, body[:500])
    first = json.loads(body)
    assert len(first["records"]) == 2 and first["next_cursor"], first
    st, _, body = records_raw(stack, dict(DAY_ONLY, limit=2, cursor=first["next_cursor"]))
    assert st == 200, (st, body[:500])
    ids = {r["call_id"] for r in first["records"]}
    assert ids.isdisjoint(r["call_id"] for r in json.loads(body)["records"]), (first, body)

    def cursor(at):
        return (at + "|2cf1a9d2-1df0-5f99-bcae-b347bfa25b6e").encode().hex()

    for at in ("0000-01-01T00:00:00.000000Z", "0001-01-01T00:00:00Z",
               "1969-12-31T23:59:59.999Z", "2026-09-10T06:00:00+23:00",
               "2026-02-30T06:00:00.000000Z", "yesterday", ""):
        error_of(records_raw(stack, dict(DAY_ONLY, cursor=cursor(at))), 400, "invalid_field",
                 "cursor", at)
    for at in ("1970-01-01T00:00:00Z", "2026-09-10T06:59:60.5Z",
               "2026-09-10T06:00:00.123456789Z", "9999-12-31T23:59:59.999999Z"):
        st, _, body = records_raw(stack, dict(DAY_ONLY, cursor=cursor(at)))
        assert st == 200, (at, st, body[:500])


def test_who_may_ask(stack):
    # no key at all
    reply = stack.report_raw(DAY_ONLY, key="")
    error_of(reply, 401, "unauthorized", None, "no key")
    # a key nobody issued
    error_of(stack.report_raw(DAY_ONLY, key="cfk_not-a-key-0000000000000000"), 401,
             "unauthorized", None, "unknown key")
    # an ingest key: valid, without the read scope
    error_of(stack.report_raw(DAY_ONLY, key=stack.keys["ingest"]), 403, "forbidden", None,
             "ingest key")
    # with a read key in a header of another scheme
    st, _, _ = cfstack.http("GET", stack.analytics.url(
        "/v1/reports/calls?from=%s&to=%s" % (DAY, DAY)), headers={
        "Authorization": "Basic " + stack.keys["read"]})
    assert st == 401, st


def test_csv_header_order(stack):
    for groups in (["day", "clinic"], ["clinic", "day"], ["source", "clinic", "hour"]):
        params = dict(DAY_ONLY, group_by=",".join(groups))
        rep = stack.report(params)
        for accept in (False, True):
            header, rows = stack.report_csv(params, accept=accept)
            assert header[:len(groups)] == groups, (groups, header)
            assert sorted(header[len(groups):]) == sorted(FIELDS), (groups, header)
            assert len(rows) == len(rep["rows"]) >= 2, (groups, rows, rep["rows"])
    # the repeated form of group_by is the comma form
    rep = stack.report(dict(DAY_ONLY, group_by="clinic,day"))
    rep2 = stack.report([("from", DAY), ("to", DAY), ("group_by", "clinic"), ("group_by", "day")])
    assert rep2["rows"] == rep["rows"] and rep2["totals"] == rep["totals"], (rep2, rep)
    # no group_by: the figures alone, one row equal to the totals
    header, rows = stack.report_csv(DAY_ONLY)
    assert sorted(header) == sorted(FIELDS) and len(rows) == 1, (header, rows)
    row = dict(zip(header, rows[0]))
    assert row["inbound"] == "4" and row["talk_seconds"] == "140", row
    assert row["time_to_callback_median_s"] not in ("",) and float(
        row["time_to_callback_median_s"]) == 100, row
    # B's CSV is B's
    header, rows = stack.report_csv(dict(DAY_ONLY, group_by="clinic"), key=stack.keys["b_read"])
    assert [r[0] for r in rows] == [CLINIC_B], rows


def test_a_lost_callbacks_source_stays_when_its_call_turns_out_answered(stack):
    # proto/README.md: a task closed or expired before its missed call's
    # late answer came keeps that call as its source. A missed yandex call,
    # its task lost, then the call's answer reported late: still yandex's.
    day = "2026-09-12"
    start = datetime.strptime(day + " 15:00:00", "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)
    missed = simple_call(NET, "demo-north", "api-late", start, outcome="missed",
                         source="yandex_direct", phone="+79261000077")
    task = simple_task(NET, missed, expired=True)
    opened = dict(task, status="open")
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", missed)])
    produce_many(stack.broker.bootstrap, TASKS, [
        task_event("opened", opened), task_event("expired", task, time=task["due_at"])])
    stack.wait_consumed()
    params = {"from": day, "to": day, "group_by": "source"}

    def lost_by_source(rep):
        return {r["source"]: r["lost"] for r in rep["rows"] if r["lost"]}

    assert lost_by_source(stack.report(params)) == {"yandex_direct": 1}
    answered = dict(missed, outcome="answered", answered_at=missed["ended_at"], talk_seconds=30,
                    ring_seconds=8, targeted=True)
    produce_many(stack.broker.bootstrap, CALLS, [call_event("updated", answered)])
    stack.wait_consumed()

    def still_yandex(rep):
        assert lost_by_source(rep) == {"yandex_direct": 1}, rep["rows"]
        assert rep["totals"]["missed"] == 0, rep["totals"]

    stack.report_changed(params, still_yandex)


def test_an_older_state_replayed_changes_nothing(stack):
    # An event that went to the DLQ and is replayed (clinicflowctl dlq
    # replay) after the later ones of its call or task were applied: the
    # call stays ended and answered, the task closed.
    day = "2026-09-13"
    start = datetime.strptime(day + " 11:00:00", "%Y-%m-%d %H:%M:%S").replace(tzinfo=MSK)
    ended = simple_call(NET, "demo-north", "api-replay", start, talk=45, source="site",
                        phone="+79261000088")
    missed = simple_call(NET, "demo-north", "api-replay-m", start, outcome="missed",
                         phone="+79261000089")
    task = simple_task(NET, missed, seconds=120)
    produce_many(stack.broker.bootstrap, CALLS, [call_event("ended", ended),
                                                 call_event("ended", missed)])
    produce_many(stack.broker.bootstrap, TASKS, [task_event("closed", task)])
    stack.wait_consumed()
    params = {"from": day, "to": day}
    before = stack.report(params)["totals"]
    assert (before["inbound"], before["answered"], before["called_back"]) == (2, 1, 1), before
    started = {k: v for k, v in ended.items() if k not in (
        "answered_at", "ended_at", "outcome", "talk_seconds", "targeted")}
    started.update(status="ringing")
    opened = {k: v for k, v in task.items() if k not in (
        "closed_at", "on_time", "seconds_to_callback", "closing_call_id")}
    opened["status"] = "open"
    produce_many(stack.broker.bootstrap, CALLS, [call_event("started", started)])
    produce_many(stack.broker.bootstrap, TASKS, [task_event("opened", opened)])
    stack.wait_consumed()
    assert stack.report(params)["totals"] == before
    assert cfstack.psql(stack.dsn, "SELECT status FROM analytics.calls WHERE call_id = '%s'"
                        % ended["call_id"]) == [["ended"]]
    assert cfstack.psql(stack.dsn, "SELECT status FROM analytics.tasks WHERE task_id = '%s'"
                        % task["task_id"]) == [["closed"]]

    # An ended state replayed after a later one of the same call: the
    # later staff leg (the call centre took it, as a second fact told)
    # stays, with its count; an ended state was taken for as new as any
    updated = dict(ended, agent_group="call_center", agent_id="op-replay", facts=2)
    produce_many(stack.broker.bootstrap, CALLS, [call_event("updated", updated)])
    stack.wait_consumed()
    after_update = stack.report(params)["totals"]
    assert after_update["answered_call_center"] == before["answered_call_center"] + 1, after_update
    produce_many(stack.broker.bootstrap, CALLS,
                 [call_event("ended", ended, event_id=cf_uuid5(ended["call_id"], "replayed"))])
    stack.wait_consumed()
    assert stack.report(params)["totals"] == after_update
    assert cfstack.psql(stack.dsn, "SELECT operator, agent_group, facts FROM analytics.calls"
                        " WHERE call_id = '%s'" % ended["call_id"]) == [
        ["op-replay", "call_center", "2"]]
    # a later state and an older one replayed right after it, read in one
    # batch: the later stands
    later = dict(updated, agent_id="op-later", facts=3)
    produce_many(stack.broker.bootstrap, CALLS, [
        call_event("updated", later, event_id=cf_uuid5(ended["call_id"], "later")),
        call_event("ended", ended, event_id=cf_uuid5(ended["call_id"], "replayed again"))])
    stack.wait_consumed()
    assert cfstack.psql(stack.dsn, "SELECT operator, facts FROM analytics.calls"
                        " WHERE call_id = '%s'" % ended["call_id"]) == [["op-later", "3"]]
    assert stack.report(params)["totals"] == after_update


def test_a_booking_naming_another_networks_call_takes_no_source(stack):
    # A's MIS books a visit naming B's call b1 (a mistyped id, or a shared
    # MIS wired wrong): the booking is A's, with none of B's caller's ad
    # source. The visit's patient has no phone here, so it has no source.
    appts = "clinicflow.appointments.v1"
    aid = cf_uuid5(NET, "mis", "appointment", "api-wall-1")
    d = {"appointment_id": aid, "mis_id": "api-wall-1", "version": 1,
         "patient_id": cf_uuid5(NET, "mis", "patient", "api-wall-p1"),
         "mis_patient_id": "api-wall-p1", "clinic_id": "demo-center",
         "starts_at": iso(at("16:00:00")), "status": "booked",
         "booking_source": "call", "call_id": B_CALLS[0]["call_id"]}
    ev = {"specversion": "1.0", "id": cf_uuid5(NET, "mis", "appointment", "api-wall-1", "1"),
          "source": "/clinicflow/reminders/mis/api", "type": "clinicflow.appointment.upserted",
          "subject": aid, "time": iso(at("14:00:00")), "datacontenttype": "application/json",
          "networkid": NET, "clinicid": "demo-center", "data": d}
    produce_many(stack.broker.bootstrap, appts, [ev])
    wait_groups_consumed(stack, {"clinicflow-analytics-mis": (appts,)})
    qs = urllib.parse.urlencode(dict(DAY_ONLY, group_by="source"))
    st, _, body = cfstack.http("GET", stack.analytics.url("/v1/reports/sources?" + qs),
                               headers={"Authorization": "Bearer " + stack.keys["read"]})
    assert st == 200, body[:1000]
    rows = {r["source"] or "": r["bookings"] for r in json.loads(body)["rows"]}
    assert rows.get("") == 1 and not rows.get("site"), rows
    # and the drill-down names no source either
    qs = urllib.parse.urlencode(dict(DAY_ONLY, source="site"))
    st, _, body = cfstack.http("GET", stack.analytics.url("/v1/records/attributed_bookings?"
                                                          + qs),
                               headers={"Authorization": "Bearer " + stack.keys["read"]})
    assert st == 200, body[:1000]
    assert json.loads(body)["records"] == [], body[:1000]


if __name__ == "__main__":
    cfstack.run_on_stack(ApiStack, [
        test_each_network_sees_its_own,
        test_clinic_filter_forms,
        test_another_networks_clinic_is_unknown,
        test_bad_parameters,
        test_records_cursor,
        test_who_may_ask,
        test_csv_header_order,
        test_a_lost_callbacks_source_stays_when_its_call_turns_out_answered,
        test_an_older_state_replayed_changes_nothing,
        test_a_booking_naming_another_networks_call_takes_no_source,
    ])
