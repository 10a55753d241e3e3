"""Contract checks for messages on clinicflow topics.

validate_message(topic, key, value) checks one Kafka message against the topic
catalogue (proto/topics.json) and the JSON Schemas in proto/schemas: the topic
must be in the catalogue, a null value (tombstone) is allowed only on
compacted topics, the value must be a JSON envelope whose "type" is one of the
topic's event types, it must validate against that type's schema, and on
entity topics the key must equal the envelope's subject. It returns None when
the message is valid and raises ContractError (an AssertionError) with the
reason otherwise; message_error() returns the reason as text instead.

Schemas refer to each other by relative $ref (envelope.json, common.json),
resolved offline from the schemas keyed by their $id: with the referencing
library's registry where jsonschema has it (4.18 on; RefResolver, deprecated
there, no longer resolves a $ref inside a schema reached by another), else
with a RefResolver store (python3-jsonschema 4.10 on Debian 12).
"""
import copy
import functools
import json
import os

from jsonschema import Draft202012Validator, FormatChecker

try:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:
    Registry = None
    from jsonschema import RefResolver

SOURCE_DIR = os.environ.get("CLINICFLOW_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PROTO_DIR = os.path.join(SOURCE_DIR, "proto")
CATALOGUE_PATH = os.path.join(PROTO_DIR, "topics.json")
SCHEMA_DIR = os.path.join(PROTO_DIR, "schemas")
EXAMPLE_DIR = os.path.join(PROTO_DIR, "examples")

# Topics keyed by the entity id the envelope's subject carries.
KEY_IS_SUBJECT = {
    "clinicflow.calls.raw.v1",
    "clinicflow.calls.v1",
    "clinicflow.leads.raw.v1",
    "clinicflow.tasks.v1",
    "clinicflow.leads.v1",
    "clinicflow.patients.v1",
    "clinicflow.appointments.v1",
}


class ContractError(AssertionError):
    """Raised by validate_message for a message that breaks the contract."""


@functools.lru_cache(maxsize=1)
def catalogue():
    """The catalogue as {topic name: topic object}."""
    with open(CATALOGUE_PATH, encoding="utf-8") as fp:
        cat = json.load(fp)
    return {t["name"]: t for t in cat["topics"]}


@functools.lru_cache(maxsize=1)
def schema_store():
    """Every schema under proto/schemas as {file name: schema} and a resolver
    store {$id: schema}."""
    by_file, by_id = {}, {}
    for name in sorted(os.listdir(SCHEMA_DIR)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as fp:
            schema = json.load(fp)
        by_file[name] = schema
        by_id[schema["$id"]] = schema
    return by_file, by_id


def load_schema(rel_path):
    """A schema by its catalogue path ("schemas/call.reported.json")."""
    by_file, _ = schema_store()
    return by_file[os.path.basename(rel_path)]


@functools.lru_cache(maxsize=1)
def registry():
    """The schemas as a referencing registry (None without the library)."""
    if Registry is None:
        return None
    _, by_id = schema_store()
    return Registry().with_resources(
        (uri, Resource.from_contents(schema, default_specification=DRAFT202012))
        for uri, schema in by_id.items())


def validator_for(schema):
    if registry() is not None:
        return Draft202012Validator(schema, registry=registry(), format_checker=FormatChecker())
    _, by_id = schema_store()
    resolver = RefResolver(base_uri=schema["$id"], referrer=schema, store=dict(by_id))
    return Draft202012Validator(schema, resolver=resolver, format_checker=FormatChecker())


def schema_errors(schema, instance):
    """Validation errors of instance as a list of "path: message" strings."""
    errors = sorted(validator_for(schema).iter_errors(instance), key=lambda e: list(e.path))
    return ["$%s: %s" % ("".join(f"[{p!r}]" for p in e.path), e.message) for e in errors]


def _text(b):
    if b is None or isinstance(b, str):
        return b
    return bytes(b).decode("utf-8")


def message_error(topic, key, value):
    """Checks one message (key and value: bytes, str or None). Returns None if
    it honours the contract, else the reason."""
    topic_def = catalogue().get(topic)
    if topic_def is None:
        return f"topic {topic!r} is not in the catalogue"
    try:
        key = _text(key)
        value = _text(value)
    except UnicodeDecodeError as e:
        return f"{topic}: key or value is not UTF-8: {e}"
    if value is None:
        if topic_def["cleanup_policy"] != "compact":
            return f"{topic}: null value (tombstone) on a topic that is not compacted"
        if not key:
            return f"{topic}: tombstone without a key"
        return None
    try:
        msg = json.loads(value)
    except ValueError as e:
        return f"{topic}: value is not JSON: {e}"
    if not isinstance(msg, dict):
        return f"{topic}: value is not a JSON object"
    etype = msg.get("type")
    schema_path = topic_def["event_types"].get(etype) if isinstance(etype, str) else None
    if schema_path is None:
        return f"{topic}: event type {etype!r} is not one of {sorted(topic_def['event_types'])}"
    errors = schema_errors(load_schema(schema_path), msg)
    if errors:
        return f"{topic}: {etype} id {msg.get('id')}: " + "; ".join(errors[:5])
    if topic in KEY_IS_SUBJECT and key != msg.get("subject"):
        return f"{topic}: key {key!r} differs from subject {msg.get('subject')!r}"
    return None


def validate_message(topic, key, value):
    """Like message_error, but raises ContractError with the reason."""
    reason = message_error(topic, key, value)
    if reason is not None:
        raise ContractError(reason)


def example_path(event_type):
    """proto/examples/<type without the clinicflow. prefix>.json"""
    return os.path.join(EXAMPLE_DIR, event_type[len("clinicflow."):] + ".json")


def load_example(name):
    with open(os.path.join(EXAMPLE_DIR, name), encoding="utf-8") as fp:
        return json.load(fp)


# Examples beyond the one per event type, each as a message on its topic:
# the kinds of lead fact other than a request.
MORE_EXAMPLES = {
    "lead.reported.response.json": "clinicflow.leads.raw.v1",
    "lead.reported.status.json": "clinicflow.leads.raw.v1",
}


def validate_examples():
    """Checks every example: one per catalogue event type, valid as a message
    on its topic (keyed by its subject), those of MORE_EXAMPLES likewise, and
    generic-call.json against the generic call hook schema. Returns a list of
    problems (empty: all good)."""
    problems = []
    for name, topic in MORE_EXAMPLES.items():
        with open(os.path.join(EXAMPLE_DIR, name), "rb") as fp:
            raw = fp.read()
        reason = message_error(topic, json.loads(raw).get("subject"), raw)
        if reason:
            problems.append(f"{name}: {reason}")
    for topic, topic_def in catalogue().items():
        for etype in topic_def["event_types"]:
            path = example_path(etype)
            if not os.path.exists(path):
                problems.append(f"{etype}: no example at {os.path.relpath(path, SOURCE_DIR)}")
                continue
            with open(path, "rb") as fp:
                raw = fp.read()
            msg = json.loads(raw)
            if msg.get("type") != etype:
                problems.append(f"{path}: type is {msg.get('type')!r}, expected {etype}")
            reason = message_error(topic, msg.get("subject"), raw)
            if reason:
                problems.append(f"{os.path.basename(path)}: {reason}")
    errors = schema_errors(load_schema("generic-call.json"), load_example("generic-call.json"))
    problems.extend(f"generic-call.json: {e}" for e in errors)
    return problems


def mutated(instance, path, value=None, delete=False):
    """A deep copy of instance with the item at path (a list of keys) set or
    deleted; for tests that check a broken message is rejected."""
    out = copy.deepcopy(instance)
    node = out
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


__all__ = ["validate_message", "message_error", "validate_examples", "schema_errors",
           "load_schema", "catalogue", "example_path", "load_example", "mutated",
           "ContractError"]
