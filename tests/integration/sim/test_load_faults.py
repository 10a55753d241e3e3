"""Kafka taken away under load: clinicflow-sim --load sends the demo
network's calls and leads (provider webhooks, signed; the form endpoint
and the messengers) at a fixed rate to intake-only calls and leads
services on a devbroker of the test's own; every broker goes down for a
few seconds mid-run and comes back. From the simulator's own report: every
request was answered (none failed, none hung: the slowest answer is far
under a functional deadline), some were refused with 503 while Kafka was
away, acknowledgements resumed after it returned, and every acknowledged
request is on its raw topic (calls.raw, leads.raw): at least as many facts
there, of the simulator's own ids, as it counted acknowledgements."""
import json
import os
import subprocess
import tempfile
import time

import cfstack
from simstack import SimStack, run_main

RATE = 150          # requests a second: modest, so ASan on 2 cores keeps up
DURATION = 18       # seconds of load
OUTAGE_S = 4        # how long every broker stays down, once the 503s began
DEADLINE_MS = 30000  # a functional deadline for any answer (no hang)

# Intake only: what is measured is the request path; no fold competes for
# the cores. The form's per-address limit is off (every post comes from one
# address); Kafka timings are the test defaults (cfstack.service_env).
ENV = {
    "calls": {"CLINICFLOW_CALLS_CONSUMERS": "0"},
    "leads": {"CLINICFLOW_LEADS_CONSUMERS": "0",
              "CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE": "0"},
}
RAW = {"calls": "clinicflow.calls.raw.v1", "leads": "clinicflow.leads.raw.v1"}


def start_sim(stack, out, err):
    cmd, env = stack.sim_command("--load", str(RATE), "--duration", str(DURATION),
                                 "--concurrency", "128", "--kinds", "calls,leads", "--json")
    return subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)


def test_kafka_away_under_load(stack):
    started = time.monotonic()
    d = tempfile.mkdtemp(prefix="cf-simload-")
    out_path, err_path = os.path.join(d, "out.json"), os.path.join(d, "err.log")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        sim = start_sim(stack, out, err)
    try:
        # acknowledgements flowing before the fault: facts on calls.raw
        calls_raw = cfstack.TopicReader(stack.broker.bootstrap, RAW["calls"], validate=False)
        cfstack.wait_until(lambda: len(calls_raw.read()) >= RATE // 2, 15,
                           "the first acknowledged calls on calls.raw", interval=0.5)
        assert sim.poll() is None, "clinicflow-sim ended before the fault"
        down_at = time.time()
        stack.broker.down()
        # the services see it: readiness fails while the load runs on
        cfstack.wait_until(lambda: stack.ready("calls") == 503 and stack.ready("leads") == 503,
                           15, "calls and leads /readyz 503 with every broker down",
                           interval=0.2)
        refusing_at = time.time()
        time.sleep(OUTAGE_S)  # the outage's length: what the load meets
        up_at = time.time()
        stack.broker.up()
        cfstack.wait_until(lambda: stack.ready("calls") == 200 and stack.ready("leads") == 200,
                           30, "calls and leads ready again after the brokers returned",
                           interval=0.2)
        ready_at = time.time()
        assert sim.poll() is None, "the load ended before Kafka came back: nothing to resume"
        sim.wait(timeout=DURATION + 60)
    finally:
        if sim.poll() is None:
            sim.kill()
            sim.wait()
    with open(err_path) as f:
        err_text = f.read()
    with open(out_path) as f:
        out_text = f.read()
    cfstack._check_sanitizers("clinicflow-sim", err_text)
    assert out_text.strip(), "clinicflow-sim printed no report (exit %s):\n%s" % (
        sim.returncode, err_text[-3000:])
    rep = json.loads(out_text)
    summary = {k: rep[k] for k in ("offered", "sent", "not_sent", "acknowledged", "refused",
                                   "failed", "sent_per_s", "latency_ms", "by_status",
                                   "failures", "schedule_lag_ms")}
    print("sim: %s" % json.dumps(summary))
    t0 = rep["started_at_ms"] / 1000.0
    print("fault: down at +%.1fs, refusing (readyz) at +%.1fs, up at +%.1fs, ready at +%.1fs"
          % (down_at - t0, refusing_at - t0, up_at - t0, ready_at - t0))
    for sec in rep["timeline"]:
        print("  s%-3d sent %4d  ack %4d  503 %4d  refused %4d  failed %3d  not sent %4d  "
              "max %7.1f ms" % (sec["s"], sec["sent"], sec["acknowledged"], sec["refused_503"],
                                sec["refused"], sec["failed"], sec["not_sent"], sec["max_ms"]))

    # every request answered, none hung
    assert sim.returncode == 0, "clinicflow-sim exited %s: %s" % (sim.returncode, summary)
    assert rep["failed"] == 0 and rep["unanswered"] == 0, summary
    assert rep["latency_ms"]["max"] < DEADLINE_MS, summary
    # the rate held: all but the requests shed at the concurrency cap went out
    assert rep["sent"] + rep["not_sent"] == rep["offered"] == RATE * DURATION, summary
    assert rep["sent_per_s"] > 0.9 * RATE * rep["sent"] / rep["offered"], summary
    # refusals are Kafka's 503s only (a 4xx would be a broken request)
    statuses = rep["by_status"]
    assert set(statuses) <= {"200", "202", "503"}, (statuses, rep["refusal_samples"])
    assert statuses.get("503", 0) > 0, "no 503 while Kafka was away: %s" % summary
    assert json.loads(rep["refusal_samples"]["503"])["error"]["code"] == "unavailable", \
        rep["refusal_samples"]
    # 503s fall in the outage, and acknowledgements resume after it
    secs = rep["timeline"]
    refused_secs = [s["s"] for s in secs if s["refused_503"]]
    assert min(refused_secs) >= int(down_at - t0) - 1, (refused_secs, down_at - t0)
    after_up = [s for s in secs if s["s"] > ready_at - t0]
    assert after_up and sum(s["acknowledged"] for s in after_up) > 0, \
        "no acknowledgement after Kafka returned: %s" % after_up
    last = secs[-1]
    assert last["acknowledged"] == last["sent"], "the last second still refused: %s" % last

    # no acknowledged request lost: its fact is on the raw topic
    for kind, topic in RAW.items():
        acked = rep["by_kind"][kind]["acknowledged"]
        assert acked > 0, (kind, rep["by_kind"])
        reader = cfstack.TopicReader(stack.broker.bootstrap, topic, validate=False)
        on_topic = len(reader.read())
        print("%s: %d acknowledged, %d facts on %s" % (kind, acked, on_topic, topic))
        assert on_topic >= acked, "%s: %d acknowledged but only %d on %s" % (
            kind, acked, on_topic, topic)
    print("total %.1fs" % (time.monotonic() - started))


if __name__ == "__main__":
    run_main(SimStack(ENV), test_kafka_away_under_load)
