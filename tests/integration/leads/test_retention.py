"""Retention: the sweeper deletes applied event ids, delivered and given-up
webhook deliveries, closed and expired tasks, and closed leads with their
contact keys past their CLINICFLOW_LEADS_RETENTION_<TABLE>_DAYS, in chunks,
and keeps the newer ones; a pending delivery, an open task and an open lead
stay whatever their age, and so does a closed lead an open task still
names. The rows are written by SQL with old times, as an operator's data
would be. It runs only under the lease row (leads.leases), so an instance
finding the lease held skips the round until it expires, and a second
instance does not sweep while the first holds it. A tasks or leads
retention under 90 days (but 0) is refused at start (exit 2)."""
import uuid

import cfstack
import retention_cases
from common import Stack, wait_until

DAYS = {"applied_events": 10, "deliveries": 20, "tasks": 90, "leads": 100}
ENV = {"CLINICFLOW_LEADS_RETENTION_APPLIED_EVENTS_DAYS": str(DAYS["applied_events"]),
       "CLINICFLOW_LEADS_RETENTION_DELIVERIES_DAYS": str(DAYS["deliveries"]),
       "CLINICFLOW_LEADS_RETENTION_TASKS_DAYS": str(DAYS["tasks"]),
       "CLINICFLOW_LEADS_RETENTION_LEADS_DAYS": str(DAYS["leads"]),
       "CLINICFLOW_LEADS_RETENTION_INTERVAL_S": "1",
       "CLINICFLOW_LEADS_RETENTION_CHUNK": "2"}
ROUNDS = "clinicflow_leads_retention_rounds_total"


def removed(stack, table):
    return stack.metric('clinicflow_leads_retention_removed_total{table="%s"}' % table)


def insert_lead(tag, kind, status, days):
    """SQL for a lead of its own (channel "test-<tag>-<kind>"), last
    written to days ago, with two contact keys; and its id."""
    lead_id = str(uuid.uuid4())
    sql = ("INSERT INTO leads.leads (lead_id, network_id, clinic_id, provider, channel, status,"
           " contact_key, received_at, last_message_at, messages, closed_at, doc) VALUES"
           " ('{l}', 'demo', 'demo-center', 'generic', 'test-{tag}-{kind}', '{s}', 'key-{l}',"
           " now() - interval '{d} days 1 hour', now() - interval '{d} days', 1, {closed},"
           " '{{}}');"
           "INSERT INTO leads.lead_contacts (lead_id, network_id, contact_key, kind) VALUES"
           " ('{l}', 'demo', 'key-{l}', 'phone'), ('{l}', 'demo', 'mail-{l}', 'email');").format(
               l=lead_id, tag=tag, kind=kind, s=status, d=days,
               closed="NULL" if status == "open" else "now() - interval '%d days'" % days)
    return lead_id, sql


def insert_task(tag, kind, status, days, lead_id=None):
    """SQL for a callback task (the SLA sweeper looks at respond tasks
    only) due in a day, last changed days ago."""
    return ("INSERT INTO leads.tasks (task_id, lead_id, kind, network_id, clinic_id, contact_key,"
            " status, opened_at, due_at, closed_at, doc, updated_at) VALUES ('{t}', '{l}',"
            " 'callback', 'demo', 'demo-center', 'test-{tag}-{kind}', '{s}',"
            " now() - interval '{d} days', now() + interval '1 day', {closed}, '{{}}',"
            " now() - interval '{d} days');").format(
                t=uuid.uuid4(), l=lead_id or uuid.uuid4(), tag=tag, kind=kind, s=status, d=days,
                closed="NULL" if status == "open" else "now() - interval '%d days'" % days)


def insert_delivery(tag, kind, status, days):
    """SQL for a delivery done days ago (a pending one: queued days ago, due
    in a year, so the deliverer leaves it alone)."""
    return ("INSERT INTO leads.deliveries (event_id, network_id, clinic_id, event_type, body,"
            " status, attempts, next_at, created_at, done_at) VALUES ('{e}', 'demo',"
            " 'test-{tag}-{kind}', 'clinicflow.lead.received', '{{}}', '{s}', 1, {next_at},"
            " now() - interval '{d} days 1 hour', {done});").format(
                e=uuid.uuid4(), tag=tag, kind=kind, s=status, d=days,
                next_at="now() + interval '1 year'" if status == "pending" else "now()",
                done="NULL" if status == "pending" else "now() - interval '%d days'" % days)


def seed(stack, tag, age, count):
    """count rows of each table aged days + 1 ("old") or days - 1 ("new"):
    applied ids, delivered and given-up deliveries, closed and expired
    tasks, lost and booked leads; the lead ids."""
    a = {t: d + 1 if age == "old" else d - 1 for t, d in DAYS.items()}
    sql, leads = "", []
    for i in range(count):
        sql += ("INSERT INTO leads.applied_events (group_id, event_id, applied_at) VALUES"
                " ('test-{tag}-{age}', '{e}', now() - interval '{d} days');").format(
                    tag=tag, age=age, e=uuid.uuid4(), d=a["applied_events"])
        sql += insert_delivery(tag, age, ("delivered", "given_up")[i % 2], a["deliveries"])
        sql += insert_task(tag, age, ("closed", "expired")[i % 2], a["tasks"])
        lead_id, lead_sql = insert_lead(tag, age, ("lost", "booked", "spam")[i % 3], a["leads"])
        sql += lead_sql
        leads.append(lead_id)
    stack.sql(sql)
    return leads


def counts(stack, tag, kind):
    """[applied ids, deliveries, tasks, leads] of the test's rows of kind."""
    return [int(v) for v in stack.sql((
        "SELECT (SELECT count(*) FROM leads.applied_events WHERE group_id = 'test-{t}-{k}'),"
        " (SELECT count(*) FROM leads.deliveries WHERE clinic_id = 'test-{t}-{k}'),"
        " (SELECT count(*) FROM leads.tasks WHERE contact_key = 'test-{t}-{k}'),"
        " (SELECT count(*) FROM leads.leads WHERE channel = 'test-{t}-{k}')"
    ).format(t=tag, k=kind))[0]]


def contacts(stack, lead_ids):
    """How many lead_contacts rows the leads have."""
    ids = ", ".join("'%s'" % i for i in lead_ids)
    return int(stack.sql("SELECT count(*) FROM leads.lead_contacts WHERE lead_id IN (%s)"
                         % ids)[0][0])


def test_old_rows_go_new_rows_stay(stack):
    tag = uuid.uuid4().hex[:8]
    before = {t: removed(stack, t) for t in DAYS}
    old = seed(stack, tag, "old", 5)
    new = seed(stack, tag, "new", 2)
    wait_until(lambda: counts(stack, tag, "old") == [0, 0, 0, 0], 60,
               "the rows past their retention to go")
    assert counts(stack, tag, "new") == [2, 2, 2, 2]
    # A deleted lead's contact keys went with it; a kept one's stay.
    assert contacts(stack, old) == 0
    assert contacts(stack, new) == 4
    # In chunks of 2, all counted.
    for t in DAYS:
        assert removed(stack, t) - before[t] == 5, (t, removed(stack, t), before[t])
    rows = retention_cases.lease(stack.dsn, "leads")
    assert len(rows) == 1 and rows[0][1] == "t", rows
    assert retention_cases.holder_pid(stack.dsn, "leads") == str(stack.svc.proc.pid), rows


def test_open_and_pending_rows_stay(stack):
    """A pending delivery, an open task and an open lead as old as any stay;
    a closed lead an open task names stays until the task closes, then
    goes with its contact keys."""
    tag = uuid.uuid4().hex[:8]
    very_old = 3 * max(DAYS.values())
    open_lead, open_sql = insert_lead(tag, "open", "open", very_old)
    held_lead, held_sql = insert_lead(tag, "held", "lost", very_old)
    stack.sql(open_sql + held_sql
              + insert_delivery(tag, "open", "pending", very_old)
              + insert_task(tag, "open", "open", very_old)
              + insert_task(tag, "held", "open", 0, lead_id=held_lead))
    # Two whole rounds after the rows were there.
    start = stack.metric(ROUNDS)
    wait_until(lambda: stack.metric(ROUNDS) >= start + 2, 30, "two more rounds")
    assert counts(stack, tag, "open") == [0, 1, 1, 1]
    assert counts(stack, tag, "held") == [0, 0, 1, 1]
    assert contacts(stack, [open_lead, held_lead]) == 4
    # The task closes (just now, so it stays): its lead is no longer held.
    stack.sql("UPDATE leads.tasks SET status = 'closed', closed_at = now(), updated_at = now()"
              " WHERE lead_id = '%s'" % held_lead)
    wait_until(lambda: counts(stack, tag, "held") == [0, 0, 1, 0], 30,
               "the lead of the closed task to go")
    assert contacts(stack, [held_lead]) == 0
    assert counts(stack, tag, "open") == [0, 1, 1, 1]


def test_lease_held_elsewhere(stack):
    retention_cases.lease_held_elsewhere(stack.dsn, stack.svc, "leads",
                                         lambda tag: seed(stack, tag, "old", 1),
                                         lambda tag: counts(stack, tag, "old"))


def test_second_instance_waits(stack):
    retention_cases.second_instance_waits(stack.dsn, stack.svc, "leads", stack.start_service,
                                          DAYS)


def test_short_tasks_or_leads_retention_refused(stack):
    for name in ("CLINICFLOW_LEADS_RETENTION_TASKS_DAYS", "CLINICFLOW_LEADS_RETENTION_LEADS_DAYS"):
        retention_cases.refused("leads", stack.service_env(), name, "89")

if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [
        test_old_rows_go_new_rows_stay,
        test_open_and_pending_rows_stay,
        test_lease_held_elsewhere,
        test_second_instance_waits,
        test_short_tasks_or_leads_retention_refused,
    ], extra_env=ENV)
