"""A message analytics can never apply (a call without a start, a task
without its kind: the schema's required members missing) goes to the DLQ
with its reason and its original bytes, the batch around it is applied
without it, and clinicflowctl dlq replay re-drives it (after a fix, the
same bytes are applied; here they are refused again, as a new entry,
and nothing is counted twice)."""
import base64
import json
from datetime import datetime, timedelta, timezone

import cfstack
from common import (CALLS, DLQ, GROUP, NET, TASKS, Stack, call_event, produce_many,
                    simple_call)

CLINIC = "demo-center"
DAY = datetime(2026, 11, 20, 7, 0, tzinfo=timezone.utc)
Q = {"from": "2026-11-20", "to": "2026-11-20"}


def entries(stack):
    return [json.loads(m["payload"])["data"] for m in stack.reader(DLQ).read()
            if json.loads(m["payload"])["data"]["group_id"] == GROUP]


def test_poison_to_the_dlq_and_back(stack):
    stack.start_analytics(CLINICFLOW_ANALYTICS_BATCH_MAX=50)
    good = [call_event("ended", simple_call(NET, CLINIC, "p-%d" % i, DAY + timedelta(minutes=i),
                                            talk=30, phone="+7925%07d" % i)) for i in range(8)]
    bad_call = call_event("ended", simple_call(NET, CLINIC, "p-bad", DAY, talk=30,
                                               phone="+79250009999"))
    del bad_call["data"]["started_at"]
    bad_task = {"specversion": "1.0", "id": "5e0c6a8e-33f1-5d1b-9a66-0a1f3c2b4d5e",
                "source": "/clinicflow/calls/fold", "type": "clinicflow.task.opened",
                "subject": "7b0c6a8e-33f1-5d1b-9a66-0a1f3c2b4d5e", "time": "2026-11-20T07:05:00.000Z",
                "datacontenttype": "application/json", "networkid": NET,
                "data": {"task_id": "7b0c6a8e-33f1-5d1b-9a66-0a1f3c2b4d5e", "status": "open",
                         "opened_at": "2026-11-20T07:05:00.000Z",
                         "due_at": "2026-11-20T07:20:00.000Z"}}
    # the poison between good events of its partition's batch
    produce_many(stack.broker.bootstrap, CALLS, good[:4] + [bad_call] + good[4:], validate=False)
    produce_many(stack.broker.bootstrap, TASKS, [bad_task], validate=False)
    stack.wait_consumed(dead_letters_expected=True)
    rep = stack.report_changed(Q, lambda r: _inbound(r, 8))
    dead = entries(stack)
    assert len(dead) == 2, dead
    by_topic = {d["topic"]: d for d in dead}
    assert set(by_topic) == {CALLS, TASKS}, dead
    assert by_topic[CALLS]["reason_code"] == "rejected", by_topic[CALLS]
    assert "started_at" in by_topic[CALLS]["reason"], by_topic[CALLS]
    assert "kind" in by_topic[TASKS]["reason"], by_topic[TASKS]
    original = json.loads(base64.b64decode(by_topic[CALLS]["value_b64"]))
    assert original["id"] == bad_call["id"], original
    assert cfstack.psql(stack.dsn, "SELECT count(*) FROM analytics.calls")[0][0] == "8"

    # re-driven: the same bytes back on calls.v1, refused again (a new
    # entry for the new offset), the report unchanged
    env = {"CLINICFLOW_KAFKA_BROKERS": stack.broker.bootstrap}
    p = cfstack.clinicflowctl(stack.dsn, "dlq", "replay", "--topic", CALLS, "--group", GROUP,
                              env=env)
    assert "replayed 1 of 1" in p.stdout, p.stdout
    stack.wait_consumed(dead_letters_expected=True)
    cfstack.wait_until(lambda: len(entries(stack)) == 3, 30, "the replayed poison's entry")
    assert stack.report(Q)["totals"]["inbound"] == rep["totals"]["inbound"] == 8


def _inbound(rep, n):
    assert rep["totals"]["inbound"] == n, rep["totals"]


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_poison_to_the_dlq_and_back])
