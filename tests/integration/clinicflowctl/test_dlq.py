"""clinicflowctl dlq list / replay against a private devbroker.

The test writes dead-letter entries to clinicflow.dlq.v1 as a consumer
would (cf_consumer_dlq_entry: keyed as the original, its key and value in
base64, the id uuid5(topic, partition, offset, group); each checked against
proto/schemas/dlq.entry.json): two groups, three original topics, times
over three days, one original message given up on by both groups, a null
key, a tombstone, a UTF-8 key, a reason with a tab, and one message that is
no entry at all. Then:

- dlq list, with each filter and some together (--since included, --until
  not, a date meaning its start in UTC, an offset honoured), prints exactly
  the selected entries, oldest first, as a table and with --json (the
  entry's data without the payloads, its time and its DLQ place);
- dlq replay --dry-run prints what would be replayed and produces nothing;
  an entry of a message too large for the DLQ the replay refuses, and
  the dry run names it and exits 1 as the replay would;
- dlq replay puts exactly the selected originals, once each, back on their
  topic with their keys and values (a null key and a tombstone stay null),
  and exits 1 naming the message when the broker refuses a delivery;
- bad arguments exit 2 with a message and without touching a broker, an
  unreachable broker exits 1 with one naming it.

clinicflowctl runs with a database DSN that leads nowhere: dlq needs none.
"""
import base64
import json
import os
import subprocess
import time
import uuid

import cfstack
import contract

DLQ = "clinicflow.dlq.v1"
CALLS = "clinicflow.calls.v1"
TASKS = "clinicflow.tasks.v1"
PATIENTS = "clinicflow.patients.v1"
G_ANALYTICS = "clinicflow-analytics-calls"
G_TASKS = "clinicflow-calls-tasks"
G_MIS = "clinicflow-analytics-mis"
NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md
NO_DSN = "postgresql://nobody@127.0.0.1:1/none"

# name: (time, group, topic, partition, offset, key, value, reason_code, reason)
ORIGINALS = {
    "e1": ("2026-03-01T08:00:00.000Z", G_ANALYTICS, CALLS, 1, 10, "call-1",
           b'{"specversion":"1.0","id":"not-a-uuid"}', "invalid_envelope", "id: expected a UUID"),
    "e2": ("2026-03-01T23:59:59.999Z", G_TASKS, CALLS, 3, 4, "call-2",
           "not json at all: жёлтый".encode(), "invalid_envelope", "envelope: not JSON"),
    "e3": ("2026-03-02T00:00:00.000Z", G_ANALYTICS, TASKS, 0, 7, "task-1",
           b'{"task":"t1"}', "rejected", "unknown clinic"),
    "e4": ("2026-03-02T09:30:00.000Z", G_ANALYTICS, CALLS, 2, 5, "клиника-3",
           b'{"call":"c3","v":1}', "rejected", "no such network"),
    # the same original message as e4, given up on by the other group later
    "e5": ("2026-03-02T10:00:00.000Z", G_TASKS, CALLS, 2, 5, "клиника-3",
           b'{"call":"c3","v":1}', "failed", "unique key conflict 6 times"),
    "e6": ("2026-03-02T12:00:00.000Z", G_TASKS, CALLS, 0, 9, None,
           b'{"broken":', "invalid_envelope", "envelope: not JSON"),
    "e7": ("2026-03-03T06:00:00.000Z", G_TASKS, TASKS, 4, 2, "task-2",
           b'{"task":"t2"}', "failed", "conflict\ton a unique key"),
    "e8": ("2026-03-03T07:00:00.000Z", G_MIS, PATIENTS, 1, 3, "patient-9",
           None, "rejected", "tombstone of an unknown patient"),
}
ALL = ["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"]
STATE = {}


def cf_uuid5(*parts):
    return str(uuid.uuid5(NS, "\x1f".join(parts)))


def b64(b):
    return base64.b64encode(b).decode()


def dlq_entry(name):
    """The entry cf_consumer_dlq_entry builds for an original message."""
    t, group, topic, partition, offset, key, value, code, reason = ORIGINALS[name]
    data = {"group_id": group, "topic": topic, "partition": partition, "offset": offset,
            "reason_code": code, "reason": reason, "value_b64": b64(value or b"")}
    if key:
        data["key_b64"] = b64(key.encode())
    return {"specversion": "1.0", "id": cf_uuid5(topic, str(partition), str(offset), group),
            "source": "/clinicflow/%s/dlq" % group, "type": "clinicflow.dlq.entry",
            "subject": "%s/%d/%d" % (topic, partition, offset), "time": t,
            "datacontenttype": "application/json", "networkid": "demo", "data": data}


def produce_raw(topic, key, value):
    """One message with kcat; key None writes a null key."""
    if key is None:
        cmd = ["kcat", "-b", STATE["brokers"], "-P", "-t", topic, "-Z"]
        p = subprocess.run(cmd, input=value, capture_output=True, timeout=30)
        assert p.returncode == 0, p.stderr
    else:
        cfstack.produce(STATE["brokers"], topic, key, value)


def ctl(*args, env=None, timeout=60):
    """clinicflowctl with the private devbroker and no database."""
    e = {"CLINICFLOW_KAFKA_BROKERS": STATE["brokers"],
         "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "10000",
         "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS": "15000"}
    e.update(env or {})
    return cfstack.clinicflowctl(NO_DSN, *args, check=False, env=e, timeout=timeout)


def ok(*args):
    p = ctl(*args)
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p


def read(topic, validate=True):
    return cfstack.TopicReader(STATE["brokers"], topic, validate=validate).read()


def table_rows(stdout):
    """The rows of a dlq table, header checked and dropped."""
    lines = stdout.splitlines()
    assert lines and lines[0] == "TIME\tGROUP\tTOPIC/PARTITION/OFFSET\tREASON_CODE\tREASON", lines
    return [tuple(line.split("\t")) for line in lines[1:]]


def expected_row(name):
    t, group, topic, partition, offset, _, _, code, reason = ORIGINALS[name]
    return (t, group, "%s/%d/%d" % (topic, partition, offset), code, reason.replace("\t", " "))


def expected_json(name):
    t, group, topic, partition, offset, _, _, code, reason = ORIGINALS[name]
    dlq_partition, dlq_offset = STATE["dlq_place"][name]
    return {"time": t, "group_id": group, "topic": topic, "partition": partition,
            "offset": offset, "reason_code": code, "reason": reason,
            "dlq_partition": dlq_partition, "dlq_offset": dlq_offset}


def start_broker():
    """The devbroker, started outside cfstack.run (which kills, after each
    test, what the test started) and shared by every test."""
    STATE["broker"] = cfstack.Devbroker(brokers=1)
    STATE["brokers"] = STATE["broker"].bootstrap


def setup():
    for name in ALL:
        entry = dlq_entry(name)
        value = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
        key = ORIGINALS[name][5]
        contract.validate_message(DLQ, key, value)
        produce_raw(DLQ, key, value)
    produce_raw(DLQ, "poison", b"this is no dlq entry")
    # where each entry landed on the DLQ, for --json's dlq_partition/dlq_offset
    by_id = {dlq_entry(n)["id"]: n for n in ALL}
    place = {}
    for m in read(DLQ, validate=False):
        if m["payload"] and m["payload"].startswith("{"):
            place[by_id[json.loads(m["payload"])["id"]]] = (m["partition"], m["offset"])
    assert sorted(place) == ALL, place
    STATE["dlq_place"] = place


def test_help():
    p = cfstack.clinicflowctl(NO_DSN, "--help")
    assert "dlq list [--topic T] [--group G] [--since TIME] [--until TIME] [--json]" in p.stdout
    assert "dlq replay --topic T [--group G] [--since TIME] [--until TIME] [--dry-run]" in p.stdout
    assert "consumers skip event ids" in p.stdout and "they applied before" in p.stdout, p.stdout


def test_list_all():
    p = ok("dlq", "list")
    assert table_rows(p.stdout) == [expected_row(n) for n in ALL], p.stdout
    # the message that is no entry is named and skipped, not fatal
    assert "not a DLQ entry" in p.stderr, p.stderr
    assert "8 of 8 entries" in p.stderr, p.stderr


def test_list_filters():
    cases = [
        (["--topic", CALLS], ["e1", "e2", "e4", "e5", "e6"]),
        (["--group", G_TASKS], ["e2", "e5", "e6", "e7"]),
        (["--topic", TASKS, "--group", G_ANALYTICS], ["e3"]),
        (["--topic", "clinicflow.leads.v1"], []),
        # a date is its start in UTC; --since includes the entry at that time
        (["--since", "2026-03-02"], ["e3", "e4", "e5", "e6", "e7", "e8"]),
        # --until excludes it
        (["--until", "2026-03-02"], ["e1", "e2"]),
        # an offset is honoured: 12:30+03:00 is 09:30Z, the time of e4
        (["--since", "2026-03-02T12:30:00+03:00", "--until", "2026-03-03T06:00:00Z"],
         ["e4", "e5", "e6"]),
        (["--since=2026-03-02T09:30:00.001Z"], ["e5", "e6", "e7", "e8"]),
        (["--topic", CALLS, "--group", G_TASKS, "--since", "2026-03-02"], ["e5", "e6"]),
    ]
    for args, names in cases:
        p = ok("dlq", "list", *args)
        assert table_rows(p.stdout) == [expected_row(n) for n in names], (args, p.stdout)


def test_list_json():
    cases = [([], ALL), (["--group", G_ANALYTICS], ["e1", "e3", "e4"]),
             (["--topic", TASKS, "--until", "2026-03-03T06:00:00.001Z"], ["e3", "e7"])]
    for args, names in cases:
        p = ok("dlq", "list", "--json", *args)
        lines = [json.loads(line) for line in p.stdout.splitlines()]
        assert lines == [expected_json(n) for n in names], (args, p.stdout)


def test_replay_dry_run():
    assert read(CALLS, validate=False) == []
    p = ok("dlq", "replay", "--topic", CALLS, "--since", "2026-03-01T12:00:00Z", "--dry-run")
    # one row per original message (e4 and e5 are one), in the original order
    assert table_rows(p.stdout) == [expected_row(n) for n in ("e6", "e4", "e2")], p.stdout
    assert "would replay 3 messages" in p.stderr and "4 entries" in p.stderr, p.stderr
    assert read(CALLS, validate=False) == []


def originals(names):
    """(key, payload) of the original messages, sorted."""
    out = []
    for n in names:
        key, value = ORIGINALS[n][5], ORIGINALS[n][6]
        out.append((key, value.decode() if value is not None else None))
    return sorted(out, key=repr)


def on_topic(topic, validate=False):
    return sorted(((m["key"], m["payload"]) for m in read(topic, validate=validate)), key=repr)


def test_replay_selected():
    p = ok("dlq", "replay", "--topic", CALLS, "--since", "2026-03-01T12:00:00Z")
    assert p.stdout == "replayed 3 of 3 messages to %s\n" % CALLS, p.stdout
    # e1 is older than --since; e4 and e5 are one message, replayed once
    assert on_topic(CALLS) == originals(["e2", "e4", "e6"]), on_topic(CALLS)

    # (TASKS and PATIENTS hold only what their own replays put there below)
    p = ok("dlq", "replay", "--topic", TASKS, "--group", G_TASKS)
    assert p.stdout == "replayed 1 of 1 message to %s\n" % TASKS, p.stdout
    assert on_topic(TASKS) == originals(["e7"]), on_topic(TASKS)

    # a tombstone stays a null value, under its key (valid on the compacted topic)
    p = ok("dlq", "replay", "--topic", PATIENTS)
    assert p.stdout == "replayed 1 of 1 message to %s\n" % PATIENTS, p.stdout
    assert on_topic(PATIENTS, validate=True) == [("patient-9", None)], on_topic(PATIENTS)

    p = ok("dlq", "replay", "--topic", CALLS, "--group", G_MIS)
    assert p.stdout == "replayed 0 of 0 messages to %s\n" % CALLS, p.stdout
    assert len(read(CALLS, validate=False)) == 3
    assert len(read(DLQ, validate=False)) == len(ALL) + 1  # replay writes no entries


def test_replay_failure():
    """A delivery the broker refuses: counted, named, exit 1."""
    STATE["broker"].inject_errors("Produce", ["TOPIC_AUTHORIZATION_FAILED"])
    try:
        p = ctl("dlq", "replay", "--topic", TASKS, "--group", G_ANALYTICS)
    finally:
        STATE["broker"].clear_errors()
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert p.stdout == "replayed 0 of 1 message to %s\n" % TASKS, p.stdout
    assert "not replayed: %s/0/7" % TASKS in p.stderr, p.stderr
    assert "Topic authorization failed" in p.stderr, p.stderr
    assert on_topic(TASKS) == originals(["e7"]), on_topic(TASKS)


def test_replay_compacted():
    """On a compacted topic the latest record of a key is the state: a dead
    letter whose key was written again after it (a newer profile, or the
    tombstone that erased the patient) is not replayed; one still the
    latest of its key is, and a dry run tells the same."""
    group = "clinicflow-leads-patients"
    produce_raw(PATIENTS, "patient-a", b'{"patient":"a","v":1}')
    produce_raw(PATIENTS, "patient-b", b'{"patient":"b","v":1}')
    produce_raw(PATIENTS, "patient-c", b'{"patient":"c","v":1}')
    produce_raw(PATIENTS, "patient-a", None)  # erased
    produce_raw(PATIENTS, "patient-c", b'{"patient":"c","v":2}')
    placed = {}
    for m in read(PATIENTS, validate=False):
        placed[(m["key"], m["payload"])] = (m["partition"], m["offset"])
    a1 = ("patient-a", '{"patient":"a","v":1}')
    b1 = ("patient-b", '{"patient":"b","v":1}')
    c1 = ("patient-c", '{"patient":"c","v":1}')
    c2 = ("patient-c", '{"patient":"c","v":2}')
    for i, (key, value) in enumerate((a1, b1, c1)):
        partition, offset = placed[(key, value)]
        name = "c%d" % i
        ORIGINALS[name] = ("2026-03-05T0%d:00:00.000Z" % (i + 1), group, PATIENTS, partition,
                           offset, key, value.encode(), "failed", "the view's table was gone")
        entry = json.dumps(dlq_entry(name), separators=(",", ":")).encode()
        produce_raw(DLQ, key, entry)
    before = on_topic(PATIENTS)

    p = ok("dlq", "replay", "--topic", PATIENTS, "--since", "2026-03-05", "--dry-run")
    assert table_rows(p.stdout) == [expected_row("c1")], p.stdout
    assert "would replay 1 message" in p.stderr and "2 superseded" in p.stderr, p.stderr
    for name, written in (("c0", placed[("patient-a", None)]), ("c2", placed[c2])):
        _, _, topic, partition, offset = ORIGINALS[name][:5]
        assert ("not replayed: %s/%d/%d: its key was written again at offset %d"
                % (topic, partition, offset, written[1])) in p.stderr, p.stderr
    assert on_topic(PATIENTS) == before

    p = ok("dlq", "replay", "--topic", PATIENTS, "--since", "2026-03-05")
    assert p.stdout == "replayed 1 of 1 message to %s\n" % PATIENTS, p.stdout
    assert "2 messages superseded on %s, not replayed" % PATIENTS in p.stderr, p.stderr
    # patient-b's profile once more; the erased patient stays erased, and
    # patient-c's newer profile stays its latest
    assert on_topic(PATIENTS) == sorted(before + [b1], key=repr), on_topic(PATIENTS)


def test_bad_arguments():
    # a port with nothing behind it: none of these may get as far as a broker
    env = {"CLINICFLOW_KAFKA_BROKERS": "127.0.0.1:%d" % cfstack.free_port()}
    cases = [
        (["dlq"], "dlq needs list or replay"),
        (["dlq", "purge"], "unknown dlq command purge"),
        (["dlq", "list", "--since", "yesterday"],
         '--since: expected an RFC 3339 time (2026-11-22T08:00:00Z) or a date (2026-11-22), '
         'got "yesterday"'),
        (["dlq", "list", "--until", "2026-02-30"], '--until: expected an RFC 3339 time'),
        (["dlq", "list", "--since", "2026-03-02T09:30:00"], '--since: expected an RFC 3339 time'),
        (["dlq", "list", "--verbose"], "unknown option --verbose"),
        (["dlq", "list", "--topic"], "option --topic needs a value"),
        (["dlq", "replay", "--since", "2026-03-01"], "dlq replay needs --topic"),
        (["dlq", "list", "--dry-run"], "option --dry-run is not valid here"),
        (["dlq", "replay", "--topic", CALLS, "--json"], "option --json is not valid here"),
        (["dlq", "list", "--since", "2026-03-03", "--until", "2026-03-02"],
         "--since 2026-03-03 is not before --until 2026-03-02"),
        (["key", "list", "--group", G_TASKS], "option --group is not valid here"),
    ]
    for args, message in cases:
        started = time.monotonic()
        p = ctl(*args, env=env)
        assert p.returncode == 2, (args, p.returncode, p.stderr)
        assert "clinicflowctl: " + message in p.stderr, (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)
        assert time.monotonic() - started < 5, args
    p = ctl("dlq", "list", env={"CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "soon"})
    assert p.returncode == 2 and "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS" in p.stderr, p.stderr
    # a property the services set themselves: a replay at acks=0 could lose
    # the messages it re-drives
    p = ctl("dlq", "replay", "--topic", CALLS, env=dict(env, CLINICFLOW_KAFKA_X_ACKS="0"))
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "CLINICFLOW_KAFKA_X_* may not set acks" in p.stderr, p.stderr


def test_missing_broker():
    brokers = "127.0.0.1:%d" % cfstack.free_port()
    env = {"CLINICFLOW_KAFKA_BROKERS": brokers, "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "1000",
           "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS": "2000"}
    for args in (["dlq", "list"], ["dlq", "replay", "--topic", CALLS]):
        p = ctl(*args, env=env, timeout=30)
        assert p.returncode == 1, (args, p.returncode, p.stderr)
        assert ("could not read %s from the brokers %s (CLINICFLOW_KAFKA_BROKERS)" % (DLQ, brokers)
                in p.stderr), p.stderr
        assert p.stdout == "", p.stdout


def test_replay_truncated():
    """An entry that holds only the beginning of a message too large for
    the DLQ is never replayed: the replay names it and exits 1, and a dry
    run tells the same (it listed it as one it would replay, exit 0)."""
    leads = "clinicflow.leads.v1"
    whole = b'{"lead":"' + b"x" * 64 + b'"}'
    entry = {"specversion": "1.0", "id": cf_uuid5(leads, "1", "40", G_ANALYTICS),
             "source": "/clinicflow/%s/dlq" % G_ANALYTICS, "type": "clinicflow.dlq.entry",
             "subject": "%s/1/40" % leads, "time": "2026-03-09T08:00:00.000Z",
             "datacontenttype": "application/json", "networkid": "demo",
             "data": {"group_id": G_ANALYTICS, "topic": leads, "partition": 1, "offset": 40,
                      "reason_code": "rejected", "reason": "too big",
                      "value_b64": b64(whole[:16]), "value_truncated": True,
                      "value_bytes": len(whole), "key_b64": b64(b"lead-40")}}
    value = json.dumps(entry, separators=(",", ":")).encode()
    contract.validate_message(DLQ, "lead-40", value)
    produce_raw(DLQ, "lead-40", value)
    named = "%s/1/40" % leads
    p = ctl("dlq", "replay", "--topic", leads, "--dry-run")
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert table_rows(p.stdout) == [], p.stdout
    assert "would not replay: " + named in p.stderr and "too large" in p.stderr, p.stderr
    assert "would replay 0 messages" in p.stderr and "1 not replayable" in p.stderr, p.stderr
    p = ctl("dlq", "replay", "--topic", leads)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    assert "not replayed: " + named in p.stderr, p.stderr
    assert p.stdout == "replayed 0 of 1 message to %s\n" % leads, p.stdout
    assert read(leads, validate=False) == []


def teardown():
    if "broker" in STATE:
        STATE["broker"].stop()


if __name__ == "__main__":
    try:
        start_broker()
        cfstack.run([setup], exit=False)
        if "dlq_place" in STATE:
            cfstack.run([test_help, test_list_all, test_list_filters, test_list_json,
                         test_replay_dry_run, test_replay_selected, test_replay_failure,
                         test_replay_compacted, test_replay_truncated, test_bad_arguments,
                         test_missing_broker], exit=False)
    finally:
        cfstack.run([teardown], exit=False)
    cfstack.exit_status()
