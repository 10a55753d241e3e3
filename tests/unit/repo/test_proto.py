"""Checks proto/: the catalogue is well formed, every schema is a valid JSON
Schema 2020-12, every event type of the catalogue has a schema and an example,
every example validates, and broken copies of the examples are rejected (so
the schemas really constrain what they claim to)."""
import json
import os
import re
import sys

from jsonschema import Draft202012Validator

import contract

TOPIC_RE = re.compile(r"^clinicflow\.[a-z0-9]+(\.[a-z0-9]+)*\.v[0-9]+$")
TOPIC_FIELDS = {"name", "description", "key", "partitions", "cleanup_policy", "retention_ms",
                "pii", "producers", "consumers", "event_types"}
SERVICES = {"calls", "leads", "reminders", "analytics"}
ID_BASE = "https://clinicflow.example/proto/schemas/"

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def test_catalogue():
    with open(contract.CATALOGUE_PATH, encoding="utf-8") as fp:
        cat = json.load(fp)
    check(cat.get("version") == 1, "catalogue version is not 1")
    names = [t.get("name") for t in cat["topics"]]
    check(len(names) == len(set(names)), "duplicate topic names")
    for t in cat["topics"]:
        name = t.get("name", "?")
        fields = set(t) - {"delete_retention_ms"}  # optional: a compacted topic's tombstones
        check(fields == TOPIC_FIELDS, f"{name}: fields {sorted(fields ^ TOPIC_FIELDS)}")
        if "delete_retention_ms" in t:
            check(t.get("cleanup_policy") == "compact" and isinstance(t["delete_retention_ms"], int)
                  and t["delete_retention_ms"] > 0, f"{name}: delete_retention_ms")
        check(bool(TOPIC_RE.match(name)), f"{name}: bad topic name")
        check(isinstance(t.get("partitions"), int) and 1 <= t["partitions"] <= 64,
              f"{name}: partitions not in 1..64")
        check(t.get("cleanup_policy") in ("delete", "compact"), f"{name}: cleanup_policy")
        check(isinstance(t.get("retention_ms"), int)
              and (t["retention_ms"] == -1 or t["retention_ms"] > 0), f"{name}: retention_ms")
        check(isinstance(t.get("pii"), bool), f"{name}: pii is not a boolean")
        check(set(t.get("producers", [])) <= SERVICES and t.get("producers"),
              f"{name}: producers")
        check(set(t.get("consumers", [])) <= SERVICES, f"{name}: consumers")
        for etype, path in t.get("event_types", {}).items():
            check(re.match(r"^clinicflow\.[a-z_]+\.[a-z_]+$", etype) is not None,
                  f"{name}: event type {etype}")
            check(os.path.exists(os.path.join(contract.PROTO_DIR, path)),
                  f"{name}: {etype}: schema {path} missing")
            check(os.path.exists(contract.example_path(etype)), f"{etype}: example missing")


def test_schemas_valid():
    by_file, _ = contract.schema_store()
    check(len(by_file) > 0, "no schemas found")
    for name, schema in by_file.items():
        check(schema.get("$schema") == "https://json-schema.org/draft/2020-12/schema",
              f"{name}: $schema is not 2020-12")
        check(schema.get("$id") == ID_BASE + name, f"{name}: $id is not {ID_BASE + name}")
        try:
            Draft202012Validator.check_schema(schema)
        except Exception as e:  # SchemaError: report them all, not just the first
            failures.append(f"{name}: not a valid 2020-12 schema: {e}")


def test_examples_valid():
    for problem in contract.validate_examples():
        failures.append(problem)


def rejected(topic, msg, what, key=None):
    key = msg.get("subject") if key is None else key
    reason = contract.message_error(topic, key, json.dumps(msg).encode())
    check(reason is not None, f"accepted a broken message: {what}")


def test_broken_examples_rejected():
    m = contract.mutated
    for topic, t in contract.catalogue().items():
        for etype in t["event_types"]:
            with open(contract.example_path(etype), encoding="utf-8") as fp:
                ex = json.load(fp)
            rejected(topic, m(ex, ["data", "undocumented"], 1), f"{etype}: extra data field")
            rejected(topic, m(ex, ["extension"], "x"), f"{etype}: extra envelope attribute")
            rejected(topic, m(ex, ["specversion"], "0.3"), f"{etype}: specversion")
            rejected(topic, m(ex, ["id"], "42"), f"{etype}: id not a uuid")
            rejected(topic, m(ex, ["time"], "22.11.2026 08:00"), f"{etype}: time")
            rejected(topic, m(ex, ["data"], delete=True), f"{etype}: no data")
            rejected(topic, m(ex, ["type"], "clinicflow.nothing.happened"), f"{etype}: type")
            required = contract.load_schema(t["event_types"][etype])
            for field in ex["data"]:
                # drop each field the data schema requires
                schema_req = data_required(required)
                if field in schema_req:
                    rejected(topic, m(ex, ["data", field], delete=True),
                             f"{etype}: without data.{field}")
    calls = contract.load_example("call.ended.json")
    rejected("clinicflow.calls.v1", m(calls, ["data", "status"], "done"), "call status enum")
    rejected("clinicflow.calls.v1", m(calls, ["data", "caller", "e164"], "89161234567"),
             "caller e164 pattern")
    rejected("clinicflow.calls.v1", m(calls, ["data", "contact_key"], "ABC"), "contact_key")
    rejected("clinicflow.calls.v1", m(calls, ["data", "talk_seconds"], -1), "talk_seconds < 0")
    rejected("clinicflow.calls.v1", calls, "key differs from subject", key="other")
    rejected("clinicflow.tasks.v1", calls, "call event on the tasks topic")
    check(contract.message_error("clinicflow.calls.v1", calls["subject"], None) is not None,
          "accepted a tombstone on a non-compacted topic")
    check(contract.message_error("clinicflow.patients.v1", "p-1", None) is None,
          "rejected a tombstone on the compacted patients topic")
    check(contract.message_error("clinicflow.calls.v1", "k", b"{not json") is not None,
          "accepted a value that is not JSON")
    check(contract.message_error("clinicflow.nothing.v1", "k", b"{}") is not None,
          "accepted a topic outside the catalogue")
    try:
        contract.validate_message("clinicflow.calls.v1", "k", b"[]")
        failures.append("validate_message did not raise on a broken message")
    except contract.ContractError:
        pass

    generic_schema = contract.load_schema("generic-call.json")
    generic = contract.load_example("generic-call.json")
    for what, broken in [
        ("unknown field", m(generic, ["caller_name"], "x")),
        ("no event_id", m(generic, ["event_id"], delete=True)),
        ("no clinic_id", m(generic, ["clinic_id"], delete=True)),
        ("event enum", m(generic, ["event"], "hangup")),
        ("outcome abandoned is derived, not input", m(generic, ["outcome"], "abandoned")),
        ("ring_seconds > 86400", m(generic, ["ring_seconds"], 86401)),
        ("agent_id > 64", m(generic, ["agent_id"], "a" * 65)),
        ("time not RFC 3339", m(generic, ["time"], "yesterday")),
        ("event_id > 128", m(generic, ["event_id"], "e" * 129)),
    ]:
        check(contract.schema_errors(generic_schema, broken) != [],
              f"generic-call: accepted {what}")


def accepted(topic, msg, what):
    reason = contract.message_error(topic, msg.get("subject"), json.dumps(msg).encode())
    check(reason is None, f"rejected a valid message: {what}: {reason}")


def test_lead_rules():
    """The rules of the lead schemas that a dropped field or an extra one
    does not try: enums, the kinds of lead fact and what each may carry, the
    lost reason, the sources."""
    m = contract.mutated
    raw, leads = "clinicflow.leads.raw.v1", "clinicflow.leads.v1"
    request = contract.load_example("lead.reported.json")
    response = contract.load_example("lead.reported.response.json")
    status = contract.load_example("lead.reported.status.json")
    received = contract.load_example("lead.received.json")
    merged = contract.load_example("lead.merged.json")
    responded = contract.load_example("lead.responded.json")
    changed = contract.load_example("lead.status_changed.json")
    breached = contract.load_example("lead.sla_breached.json")

    rejected(raw, m(request, ["data", "kind"], "chat"), "fact kind enum")
    rejected(raw, m(request, ["data", "contact_key"], delete=True),
             "contact_keys without contact_key")
    rejected(raw, m(request, ["data", "contact_keys"], delete=True),
             "contact_key without contact_keys")
    accepted(raw, m(m(request, ["data", "contact_key"], delete=True), ["data", "contact_keys"],
                    delete=True), "a request with no key (a phone that did not parse)")
    rejected(raw, m(request, ["data", "contact"], delete=True), "request without contact")
    rejected(raw, m(request, ["data", "via"], "call"), "request with via")
    rejected(raw, m(request, ["data", "status"], "spam"), "request with status")
    rejected(raw, m(request, ["data", "tags"], {"utm_foo": "x"}), "unknown tag")
    rejected(raw, m(request, ["data", "tags"], {"gclid": "x" * 257}), "a tag over 256 characters")
    rejected(raw, m(request, ["data", "code"], "c" * 65), "a code over 64 characters")
    rejected(raw, m(request, ["data", "contact_keys"], {}), "no contact keys")
    rejected(raw, m(request, ["data", "contact_keys", "vk"], "0" * 64), "unknown key kind")
    rejected(raw, m(request, ["data", "text_truncated"], False), "text_truncated false")
    rejected(raw, m(request, ["data", "contact", "phone"], {"raw": "8916", "kind": "e164"}),
             "e164 phone without e164")
    accepted(raw, m(request, ["data", "contact", "phone"], {"raw": "12-34", "kind": "invalid"}),
             "a phone that did not parse, kept raw")
    rejected(raw, m(response, ["data", "via"], delete=True), "response without via")
    by_lead = m(m(response, ["data", "contact_key"], delete=True), ["data", "contact_keys"],
                delete=True)
    accepted(raw, m(by_lead, ["data", "lead_id"], received["data"]["lead_id"]),
             "response by lead id")
    rejected(raw, m(response, ["data", "text"], "hi"), "response with text")
    rejected(raw, m(status, ["data", "reason"], delete=True), "lost without reason")
    rejected(raw, m(status, ["data", "status"], "booked"), "booked with a reason")
    rejected(raw, m(status, ["data", "reason"], "too_far"), "reason enum")
    rejected(raw, m(status, ["data", "lead_id"], delete=True), "status without lead_id")
    rejected(raw, m(status, ["data", "tags"], {"utm_source": "x"}), "status with tags")

    rejected(leads, m(received, ["data", "contact_keys"], delete=True),
             "a received lead's contact_key without contact_keys")
    accepted(leads, m(m(received, ["data", "contact_keys"], delete=True), ["data", "contact_key"],
                      delete=True), "a lead with no key (a phone that did not parse)")
    rejected(leads, m(received, ["data", "attribution"], "ads"), "attribution enum")
    rejected(leads, m(received, ["data", "patient_class"], "vip"), "patient_class enum")
    rejected(leads, m(received, ["data", "status"], "booked"), "received not open")
    rejected(leads, m(received, ["source"], "/clinicflow/leads/sweeper"), "received source")
    rejected(leads, m(received, ["data", "lead_id"], "lead-1"), "lead_id not a uuid")
    rejected(leads, m(merged, ["data", "messages"], 1), "merged with one message")
    rejected(leads, m(responded, ["data", "working_seconds"], -1), "working_seconds < 0")
    rejected(leads, m(changed, ["data", "reason"], "price"), "booked with a reason")
    rejected(leads, m(changed, ["data", "status"], "lost"), "lost without a reason")
    accepted(leads, m(m(changed, ["data", "status"], "lost"), ["data", "reason"], "price"),
             "lost with a reason")
    rejected(leads, m(breached, ["source"], "/clinicflow/leads/fold"), "breach source")
    rejected(leads, received, "key differs from subject", key=received["data"]["contact_key"])
    rejected(raw, received, "lead event on the raw topic")


def data_required(schema):
    """The data schema's required list, following the local/relative $ref."""
    by_file, _ = contract.schema_store()
    data_ref = schema["allOf"][1]["properties"]["data"]["$ref"]
    if data_ref.startswith("#/$defs/"):
        return schema["$defs"][data_ref.split("/")[-1]]["required"]
    return by_file[data_ref]["required"]


def main():
    for test in (test_catalogue, test_schemas_valid, test_examples_valid,
                 test_broken_examples_rejected, test_lead_rules):
        before = len(failures)
        test()
        print(f"{test.__name__}: {'ok' if len(failures) == before else 'FAILED'}")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
