"""Scaling intake apart from the fold: an instance started with
CLINICFLOW_CALLS_CONSUMERS=0 answers webhooks (acknowledged on calls.raw)
but runs no consumer; the call is folded once an instance with consumers
runs, wherever the webhook landed."""
import json

import cfstack
from common import Stack, call_body, events_for, wait_until

RAW = "clinicflow.calls.raw.v1"
CALLS = "clinicflow.calls.v1"
FOLD_LAG = 'clinicflow_consumer_lag{group="clinicflow-calls-fold"'


def metrics(svc):
    st, _, body = cfstack.http("GET", svc.url("/metrics"))
    assert st == 200, st
    return body.decode()


def test_intake_only_then_fold(stack):
    intake = stack.svc
    assert FOLD_LAG not in metrics(intake), "an intake-only instance runs the fold"
    ready = json.loads(cfstack.http("GET", intake.url("/readyz"))[2])
    assert ready["role"] == "intake" and ready["needs"] == ["kafka", "config"], ready

    body = call_body(event="ended", time="2026-11-20T09:00:40Z", outcome="missed")
    st, _, reply = stack.post_generic(body)
    assert st == 202, reply
    call_id = json.loads(reply)["call_id"]
    assert events_for(stack.reader(RAW).read(), call_id), "the fact is not on calls.raw"

    # A consumer instance (the default) folds what the intake took.
    env = dict(stack.service_env(), CLINICFLOW_CALLS_CONSUMERS="1")
    folder = cfstack.Service("calls", env)
    folder.start()
    try:
        assert FOLD_LAG in metrics(folder)
        ready = json.loads(cfstack.http("GET", folder.url("/readyz"))[2])
        assert ready["role"] == "intake+consumers" and "postgres" in ready["needs"], ready
        wait_until(lambda: any(e["type"] == "clinicflow.call.ended"
                               for e in events_for(stack.reader(CALLS).read(), call_id)),
                   60, "the call folded by the consumer instance")
        rows = cfstack.psql(stack.dsn, "SELECT outcome FROM calls.calls WHERE call_id = '%s'"
                            % call_id)
        assert rows == [["missed"]], rows
    finally:
        folder.stop()


if __name__ == "__main__":
    s = Stack(extra_env={"CLINICFLOW_CALLS_CONSUMERS": "0"})
    try:
        cfstack.run([lambda: test_intake_only_then_fold(s)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
