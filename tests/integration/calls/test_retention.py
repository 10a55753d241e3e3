"""Retention: the sweeper deletes applied event ids, visitor sessions and
calls past their CLINICFLOW_CALLS_RETENTION_<TABLE>_DAYS, in chunks, and
keeps the newer ones; callback tasks closed or expired (their last change)
past theirs go with their task_calls links, an open task never, nor a
call an open task still counts; it runs only under the lease row
(calls.leases), so an instance finding the lease held skips the round
until it expires, and a second instance does not sweep while the first
holds it. A calls retention shorter than the unique-call look-back, or a
tasks retention shorter than the calls', is refused at start (exit 2)."""
import uuid

import cfstack
import retention_cases
from common import Stack, metric, wait_until

DAYS = {"applied_events": 10, "dni_sessions": 20, "calls": 40}
TASKS_DAYS = 50
ENV = {"CLINICFLOW_CALLS_RETENTION_APPLIED_EVENTS_DAYS": str(DAYS["applied_events"]),
       "CLINICFLOW_CALLS_RETENTION_DNI_SESSIONS_DAYS": str(DAYS["dni_sessions"]),
       "CLINICFLOW_CALLS_RETENTION_CALLS_DAYS": str(DAYS["calls"]),
       "CLINICFLOW_CALLS_RETENTION_TASKS_DAYS": str(TASKS_DAYS),
       "CLINICFLOW_CALLS_RETENTION_INTERVAL_S": "1",
       "CLINICFLOW_CALLS_RETENTION_CHUNK": "2"}


def removed(svc, table):
    return metric(svc, 'clinicflow_calls_retention_removed_total{table="%s"}' % table)


def seed(dsn, tag, old, new):
    """Rows of each table aged days + 1 (old of each) and days - 1 (new of
    each), tagged so this test finds its own."""
    for age, count in (("old", old), ("new", new)):
        for i in range(count):
            a = {t: d + 1 if age == "old" else d - 1 for t, d in DAYS.items()}
            cfstack.psql(dsn, (
                "INSERT INTO calls.applied_events (group_id, event_id, applied_at)"
                " VALUES ('test-{tag}-{age}', '{eid}', now() - interval '{a[applied_events]} days');"
                "INSERT INTO calls.dni_sessions (network_id, clinic_id, number, visitor_id,"
                " reserved_at, held_until, utm) VALUES ('demo', 'demo-center', '+7499{i:07d}',"
                " 'visitor-{tag}-{age}', now() - interval '{a[dni_sessions]} days 1 hour',"
                " now() - interval '{a[dni_sessions]} days', '{{}}');"
                "INSERT INTO calls.calls (call_id, network_id, direction, status, started_at,"
                " provider, provider_call_id, facts, doc) VALUES ('{cid}', 'demo', 'inbound',"
                " 'ended', now() - interval '{a[calls]} days', 'generic', 'test-{tag}-{age}', 1,"
                " '{{}}');").format(tag=tag, age=age, i=i, a=a, eid=uuid.uuid4(),
                                    cid=uuid.uuid4()))


def counts(dsn, tag, age):
    return [int(v) for v in cfstack.psql(dsn, (
        "SELECT (SELECT count(*) FROM calls.applied_events WHERE group_id = 'test-{t}-{a}'),"
        " (SELECT count(*) FROM calls.dni_sessions WHERE visitor_id = 'visitor-{t}-{a}'),"
        " (SELECT count(*) FROM calls.calls WHERE provider_call_id = 'test-{t}-{a}')"
    ).format(t=tag, a=age))[0]]


def test_old_rows_go_new_rows_stay(stack):
    tag = uuid.uuid4().hex[:8]
    before = {t: removed(stack.svc, t) for t in DAYS}
    seed(stack.dsn, tag, old=5, new=2)
    wait_until(lambda: counts(stack.dsn, tag, "old") == [0, 0, 0], 60,
               "the rows past their retention to go")
    assert counts(stack.dsn, tag, "new") == [2, 2, 2]
    # In chunks of 2, all counted.
    for t in DAYS:
        assert removed(stack.svc, t) - before[t] == 5, (t, removed(stack.svc, t), before[t])
    holder = retention_cases.lease(stack.dsn, "calls")
    assert len(holder) == 1 and holder[0][1] == "t", holder
    assert holder[0][0].split(":")[1] == str(stack.svc.proc.pid), holder


def seed_task(dsn, tag, kind, status, days, links):
    """A task of its own contact, last changed days ago (opened an hour
    ago, so the task sweeper leaves an open one open), linked to the calls
    links (ids; a call row is not needed)."""
    task_id = str(uuid.uuid4())
    sql = ("INSERT INTO calls.tasks (task_id, network_id, contact_key, status, opened_at,"
           " due_at, closed_at, missed_calls, doc, updated_at) VALUES ('{t}', 'demo',"
           " 'test-{tag}-{kind}', '{s}', now() - interval '1 hour', now(), {closed}, {n}, '{{}}',"
           " now() - interval '{d} days');").format(
               t=task_id, tag=tag, kind=kind, s=status, n=len(links), d=days,
               closed="NULL" if status != "closed" else "now() - interval '%d days'" % days)
    for call_id in links:
        sql += "INSERT INTO calls.task_calls (task_id, call_id) VALUES ('%s', '%s');" % (
            task_id, call_id)
    cfstack.psql(dsn, sql)
    return task_id


def seed_call(dsn, tag, call_id, days):
    cfstack.psql(dsn, (
        "INSERT INTO calls.calls (call_id, network_id, direction, status, started_at, provider,"
        " provider_call_id, facts, doc) VALUES ('{c}', 'demo', 'inbound', 'ended',"
        " now() - interval '{d} days', 'generic', 'test-{tag}-linked', 1, '{{}}')"
    ).format(c=call_id, d=days, tag=tag))


def task_rows(dsn, task_id):
    """[tasks rows, task_calls rows] of the task."""
    return [int(v) for v in cfstack.psql(dsn, (
        "SELECT (SELECT count(*) FROM calls.tasks WHERE task_id = '{t}'),"
        " (SELECT count(*) FROM calls.task_calls WHERE task_id = '{t}')").format(t=task_id))[0]]


def call_kept(dsn, call_id):
    return cfstack.psql(dsn, "SELECT count(*) FROM calls.calls WHERE call_id = '%s'"
                        % call_id)[0][0] == "1"


def test_finished_tasks_go_open_ones_stay(stack):
    """Closed and expired tasks last changed past the tasks retention go
    with their links; an open one as old and a closed one newer stay. A
    call past the calls retention stays while an open task counts it, and
    goes once the task is closed."""
    tag = uuid.uuid4().hex[:8]
    rounds = "clinicflow_calls_retention_rounds_total"
    before = removed(stack.svc, "tasks")
    old, new = TASKS_DAYS + 1, TASKS_DAYS - 1
    open_call, closed_call = str(uuid.uuid4()), str(uuid.uuid4())
    gone = [seed_task(stack.dsn, tag, "closed-old", "closed", old,
                      [closed_call, str(uuid.uuid4())]),
            seed_task(stack.dsn, tag, "expired-old", "expired", old, [str(uuid.uuid4())])]
    kept = [seed_task(stack.dsn, tag, "open-old", "open", old, [open_call, str(uuid.uuid4())]),
            seed_task(stack.dsn, tag, "closed-new", "closed", new,
                      [str(uuid.uuid4()), str(uuid.uuid4())])]
    # The calls after their tasks: a round in between would find them
    # unclaimed.
    for call_id in (open_call, closed_call):
        seed_call(stack.dsn, tag, call_id, DAYS["calls"] + 1)
    wait_until(lambda: all(task_rows(stack.dsn, t) == [0, 0] for t in gone)
               and not call_kept(stack.dsn, closed_call), 60,
               "the finished tasks past their retention and the old call to go")
    # The round that deleted it has ended: its calls sweep went to the end.
    start = metric(stack.svc, rounds)
    wait_until(lambda: metric(stack.svc, rounds) >= start + 1, 30, "one more round")
    assert [task_rows(stack.dsn, t) for t in kept] == [[1, 2], [1, 2]]
    assert removed(stack.svc, "tasks") - before == 2, (removed(stack.svc, "tasks"), before)
    assert call_kept(stack.dsn, open_call)
    # Closed now: its old call is no longer kept for it (the task itself
    # just changed, so it stays).
    cfstack.psql(stack.dsn, "UPDATE calls.tasks SET status = 'closed', closed_at = now(),"
                 " updated_at = now() WHERE task_id = '%s'" % kept[0])
    wait_until(lambda: not call_kept(stack.dsn, open_call), 30,
               "the call of the closed task to go")
    assert task_rows(stack.dsn, kept[0]) == [1, 2]


def test_lease_held_elsewhere(stack):
    retention_cases.lease_held_elsewhere(stack.dsn, stack.svc, "calls",
                                         lambda tag: seed(stack.dsn, tag, old=1, new=0),
                                         lambda tag: counts(stack.dsn, tag, "old"))


def test_second_instance_waits(stack):
    def start_other():
        other = cfstack.Service("calls", stack.service_env())
        other.start()
        return other

    retention_cases.second_instance_waits(stack.dsn, stack.svc, "calls", start_other, DAYS)

def test_calls_retention_below_lookback_refused(stack):
    retention_cases.refused("calls", stack.service_env(), "CLINICFLOW_CALLS_RETENTION_CALLS_DAYS",
                            "10")


def test_tasks_retention_below_calls_refused(stack):
    retention_cases.refused("calls", stack.service_env(), "CLINICFLOW_CALLS_RETENTION_TASKS_DAYS",
                            str(DAYS["calls"] - 1))

if __name__ == "__main__":
    s = Stack(extra_env=ENV)
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_old_rows_go_new_rows_stay,
            test_finished_tasks_go_open_ones_stay,
            test_lease_held_elsewhere,
            test_second_instance_waits,
            test_calls_retention_below_lookback_refused,
            test_tasks_retention_below_calls_refused,
        )], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
