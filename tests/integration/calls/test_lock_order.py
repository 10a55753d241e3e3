"""Two instances folding batches that name the same contacts never wait for
each other both ways round: a batch takes every unique-decision lock it may
need (its inbound facts' contacts, and those of its stored calls still
undecided) in one sorted round before it reads its calls, so no batch
holds one contact while it waits for another that a second batch holds.

The scenario, on contacts X < Y < W (their lock keys' byte order): the
instance owning partition 0 folds a call from X, a call from W and a fact
about a stored call of Y that does not name Y; the instance owning
partition 5 (the other one: two members, range assignment) folds a call
from Y, a call from W and such a fact about a stored call of X. The stored
calls are undecided (no unique flag, as rows stored before the decision
was made are). A test session holds W until both batches wait, so they
run at the same time: were Y or X taken only after the batch's first pass,
each batch would hold one of them and wait for the other's."""
import json
import time

import cfstack
from cfstack import HeldSession
from common import (FIXED_DATES_ENV, Stack, call_body, call_on, contact_key, demo_network,
                    events_for, metric, wait_until)

RAW = "clinicflow.calls.raw.v1"
CALLS = "clinicflow.calls.v1"
FOLD = "consumer clinicflow-calls-fold"
RETRIES = 'clinicflow_consumer_retries_total{group="clinicflow-calls-fold"}'
# the batch's lock statements, the sorted round and the late tries alike
LOCK_SQL = "pg_advisory_xact_lock(hashtextextended(k, 1))"


def post(stack, call_id, event, time_, phone):
    body = call_body(call_id, event, time=time_, **{"from": phone})
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    return json.loads(reply)["call_id"]


def lock_sql(number):
    return ("SELECT pg_advisory_lock(hashtextextended('%s/%s', 1));"
            % (demo_network()["id"], contact_key(number)))


def fold_assigned(svc, count):
    recs = [r["msg"] for r in svc.log_records() if r.get("msg", "").startswith(FOLD + ": assigned")]
    return bool(recs) and recs[-1] == "%s: assigned %d partitions" % (FOLD, count)


def waiting_batches(dsn):
    """Fold batches of the database waiting in a contact lock statement."""
    return int(cfstack.psql(dsn, "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                            " AND position('%s' IN query) > 0" % LOCK_SQL)[0][0])


def test_two_batches_take_their_contacts_in_one_order(stack):
    a, b = stack.services
    wait_until(lambda: fold_assigned(a, 3) and fold_assigned(b, 3), 60,
               "each instance to fold 3 partitions")

    # X < Y < W by lock key; G gates the instances.
    phones = sorted(("+7916555%04d" % i for i in range(1, 4)), key=contact_key)
    x, y, w = phones
    g = "+79165559999"

    # The stored calls, undecided: S_Y on partition 0's side, S_X on 5's.
    s_y = call_on(0, "sy")
    s_x = call_on(5, "sx")
    u_sy = post(stack, s_y, "started", "2026-11-20T09:00:00Z", y)
    u_sx = post(stack, s_x, "started", "2026-11-20T09:00:00Z", x)
    stack.wait_folded()
    rows = cfstack.psql(stack.dsn, "UPDATE calls.calls SET doc = doc - 'unique'"
                        " WHERE call_id IN ('%s', '%s') AND doc ? 'unique' RETURNING 1"
                        % (u_sy, u_sx))
    assert len(rows) == 2, rows

    # Each instance waits in a batch of its own (G), while the facts of
    # the scenario queue behind it, so that each folds them in one batch.
    gate = HeldSession(stack.dsn, lock_sql(g))
    hold_w = HeldSession(stack.dsn, lock_sql(w))
    try:
        post(stack, call_on(0, "ga"), "started", "2026-11-20T10:00:00Z", g)
        post(stack, call_on(5, "gb"), "started", "2026-11-20T10:00:00Z", g)
        wait_until(lambda: gate.waiters() >= 2, 60, "both instances to wait for the gate")
        u_ax = post(stack, call_on(0, "ax"), "started", "2026-11-20T10:00:01Z", x)
        u_aw = post(stack, call_on(0, "aw"), "started", "2026-11-20T10:00:01Z", w)
        post(stack, s_y, "ended", "2026-11-20T10:00:01Z", "anonymous")
        u_by = post(stack, call_on(5, "by"), "started", "2026-11-20T10:00:02Z", y)
        u_bw = post(stack, call_on(5, "bw"), "started", "2026-11-20T10:00:02Z", w)
        post(stack, s_x, "ended", "2026-11-20T10:00:02Z", "anonymous")
        # Acknowledged is on the broker, not yet fetched by the instances,
        # and nothing shows the fetch: time for it (the batches' size is
        # checked below, so a fetch that came late fails, never passes).
        time.sleep(2)
        gate.release()
        # Both batches in their lock statements: under W (held here) or
        # under each other's contacts.
        wait_until(lambda: waiting_batches(stack.dsn) >= 2 and hold_w.waiters() >= 1, 60,
                   "both batches to wait for their contacts")
    finally:
        gate.release()
        hold_w.release()
    stack.wait_folded()

    for svc in (a, b):
        msgs = [r["msg"] for r in svc.log_records()]
        assert any(m.startswith("fold: batch of 3 in ms") for m in msgs), \
            "the scenario's facts were not one batch on this instance"
        assert not [m for m in msgs if "deadlock" in m], [m for m in msgs if "deadlock" in m]
        assert metric(svc, RETRIES) == 0, "a fold batch was rolled back and retried"

    # Every decision made, each once: the earlier call of a contact is the
    # unique one.
    unique = dict(cfstack.psql(stack.dsn, "SELECT call_id::text, doc->>'unique' FROM calls.calls"))
    assert unique[u_sx] == "true" and unique[u_sy] == "true", unique
    assert unique[u_ax] == "false" and unique[u_by] == "false", unique
    assert unique[u_aw] == "true" and unique[u_bw] == "false", unique
    ended = stack.reader(CALLS).read()
    for u in (u_sx, u_sy):
        assert [e["type"] for e in events_for(ended, u)].count("clinicflow.call.ended") == 1, u


if __name__ == "__main__":
    # One fold runner an instance: two batches, one per instance, each
    # holding its 3 partitions.
    s = Stack(instances=2, extra_env=dict(FIXED_DATES_ENV, CLINICFLOW_LOG_LEVEL="debug",
                                          CLINICFLOW_CALLS_FOLD_RUNNERS="1"))
    try:
        cfstack.run([lambda: test_two_batches_take_their_contacts_in_one_order(s)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
