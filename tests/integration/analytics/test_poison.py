"""A message analytics can never apply (a call without a start, a task
without its kind: the schema's required members missing) goes to the DLQ
with its reason and its original bytes, the batch around it is applied
without it, and clinicflowctl dlq replay re-drives it (after a fix, the
same bytes are applied; here they are refused again, as a new entry,
and nothing is counted twice). A poison too large for a DLQ entry whole
does not hold its partition up: the entry keeps its beginning."""
import base64
import json
import subprocess
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


def test_oversized_poison_does_not_hold_its_partition(stack):
    """A poison message of 800,000 bytes: its DLQ entry whole would be over
    the producer's message.max.bytes (1,000,000) once in base64, and a
    refused entry would hold the partition for good. The entry keeps the
    value's first 512 KiB and says so; the events after it are applied; and
    dlq replay leaves it alone, naming it."""
    if stack.analytics is None or stack.analytics.proc.poll() is not None:
        stack.start_analytics(CLINICFLOW_ANALYTICS_BATCH_MAX=50)
    day = DAY + timedelta(days=1)
    good = [call_event("ended", simple_call(NET, CLINIC, "q-%d" % i, day + timedelta(minutes=i),
                                            talk=30, phone="+7926%07d" % i)) for i in range(6)]
    huge = call_event("ended", simple_call(NET, CLINIC, "q-huge", day, talk=30,
                                           phone="+79260009999"))
    del huge["data"]["started_at"]
    huge["data"]["note"] = "x" * 800000
    values = [json.dumps(ev, separators=(",", ":")) for ev in [huge] + good]
    size = len(values[0])
    assert size > 800000
    # one key: the poison and the good events after it on one partition
    p = subprocess.run(["kcat", "-b", stack.broker.bootstrap, "-P", "-t", CALLS, "-K", "\t"],
                       input="".join(huge["subject"] + "\t" + v + "\n" for v in values).encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    stack.wait_consumed(dead_letters_expected=True)
    q = {"from": day.date().isoformat(), "to": day.date().isoformat()}
    stack.report_changed(q, lambda r: _inbound(r, 6))
    dead = [d for d in entries(stack) if d.get("value_truncated")]
    assert len(dead) == 1, [{k: v for k, v in d.items() if k != "value_b64"} for d in dead]
    entry = dead[0]
    assert entry["reason_code"] == "rejected", entry["reason"]
    assert entry["value_truncated"] is True and entry["value_bytes"] == size, entry["value_bytes"]
    assert len(base64.b64decode(entry["value_b64"])) == 512 * 1024
    assert "key_truncated" not in entry

    env = {"CLINICFLOW_KAFKA_BROKERS": stack.broker.bootstrap}
    p = cfstack.clinicflowctl(stack.dsn, "dlq", "replay", "--topic", CALLS, "--group", GROUP,
                              check=False, env=env)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "holds the beginning of a message too large" in p.stderr, p.stderr
    assert "%s/%d/%d" % (CALLS, entry["partition"], entry["offset"]) in p.stderr, p.stderr


def _inbound(rep, n):
    assert rep["totals"]["inbound"] == n, rep["totals"]


if __name__ == "__main__":
    cfstack.run_on_stack(Stack, [test_poison_to_the_dlq_and_back,
                                 test_oversized_poison_does_not_hold_its_partition])
