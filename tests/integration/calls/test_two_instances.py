"""Two instances of the call events service behind one network: the legs of
each call arrive out of order and at the same time at both instances, some
twice; every call still comes out as one call whose status never went
back, with one call.ended."""
import json
import random
import threading
import uuid

import cfstack
from common import Stack, call_body, events_for, wait_until

CALLS = "clinicflow.calls.v1"
ORDER = ("ringing", "in_progress", "ended")


def test_concurrent_out_of_order_legs(stack):
    rnd = random.Random(11)
    calls = {}
    posts = []
    for _ in range(12):
        cid = "pbx-" + uuid.uuid4().hex[:12]
        legs = [call_body(cid, "started", time="2026-11-20T10:00:00Z"),
                call_body(cid, "answered", time="2026-11-20T10:00:06Z"),
                call_body(cid, "ended", time="2026-11-20T10:01:06Z")]
        legs.append(rnd.choice(legs))  # a retried webhook
        rnd.shuffle(legs)
        posts.extend(legs)
        calls[cid] = None
    rnd.shuffle(posts)
    errors = []

    def send(i, body):
        svc = stack.services[i % 2]
        st, _, reply = cfstack.http(
            "POST", svc.url("/v1/hooks/calls/generic"), json.dumps(body).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + stack.keys["ingest"]})
        if st != 202:
            errors.append((st, reply))
        else:
            calls[body["call_id"]] = json.loads(reply)["call_id"]

    threads = [threading.Thread(target=send, args=(i, b)) for i, b in enumerate(posts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    def all_ended():
        msgs = stack.reader(CALLS).read()
        return all(any(e["type"] == "clinicflow.call.ended" for e in events_for(msgs, u))
                   for u in calls.values())

    wait_until(all_ended, 60, "every call to end")
    stack.wait_folded()
    msgs = stack.reader(CALLS).read()
    for cid, u in calls.items():
        evs = events_for(msgs, u)
        assert [e["type"] for e in evs].count("clinicflow.call.ended") == 1, (cid, evs)
        statuses = [ORDER.index(e["data"]["status"]) for e in evs]
        assert statuses == sorted(statuses), (cid, statuses)  # never went back
        last = evs[-1]["data"]
        assert last["started_at"] == "2026-11-20T10:00:00.000Z", last
        assert last["answered_at"] == "2026-11-20T10:00:06.000Z", last
        assert last["ring_seconds"] == 6 and last["talk_seconds"] == 60, last
        assert last["facts"] == 3, last  # the retry was dropped as a duplicate
    rows = cfstack.psql(stack.dsn, "SELECT count(*) FROM calls.calls")
    assert int(rows[0][0]) == len(calls), rows


if __name__ == "__main__":
    s = Stack(instances=2)
    try:
        cfstack.run([lambda: test_concurrent_out_of_order_legs(s)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
