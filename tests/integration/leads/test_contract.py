"""What clinicflow-leads writes to clinicflow.leads.raw.v1 honours the
contract (proto/schemas/lead.reported.json): a lead from each demo form
channel (our form, Tilda, a Mailgun mail) and a response and an outcome
from the events route are read back through the contract check of
cfstack.TopicReader, which fails on any message its schema refuses; a
honeypot post produces nothing. Runs the real service on the demo network
(deploy/local/demo-network.json), with its channels' public tokens."""
import hashlib
import hmac
import json
import time
import urllib.parse
import uuid

import cfstack

RAW = "clinicflow.leads.raw.v1"
STATE = {}


def demo_channel(channel_id):
    return next(c for c in cfstack.demo_network()["channels"] if c["id"] == channel_id)


def contact_key(msg):
    secret = cfstack.demo_network()["secret"]
    return hmac.new(secret.encode(), msg.encode(), hashlib.sha256).hexdigest()


def post(path, body, content_type, headers=None):
    hdrs = {"Content-Type": content_type}
    hdrs.update(headers or {})
    return cfstack.http("POST", STATE["svc"].url(path), body, hdrs)


def facts():
    """Every message on leads.raw, each checked against its schema."""
    return [json.loads(m["payload"]) for m in STATE["reader"].read()]


def wait_fact(predicate, what):
    found = []

    def seen():
        found[:] = [f for f in facts() if predicate(f)]
        return bool(found)

    cfstack.wait_until(seen, 30, what)
    return found[0]


def setup():
    test_env = cfstack.env()
    STATE["dsn"] = cfstack.new_database(test_env["pg_dsn"])
    STATE["keys"] = cfstack.setup_demo(STATE["dsn"])
    STATE["broker"] = cfstack.Devbroker()
    STATE["svc"] = cfstack.Service("leads", {
        "CLINICFLOW_PG_DSN": STATE["dsn"],
        "CLINICFLOW_KAFKA_BROKERS": STATE["broker"].bootstrap,
        "CLINICFLOW_REDIS_URL": test_env["redis_url"],
        "CLINICFLOW_CONFIG_RELOAD_MS": "200",
        "CLINICFLOW_KAFKA_MESSAGE_TIMEOUT_MS": "3000",
        "CLINICFLOW_KAFKA_DELIVERY_WAIT_MS": "5000",
    })
    STATE["svc"].start()
    STATE["reader"] = cfstack.TopicReader(STATE["broker"].bootstrap, RAW)


def test_our_form_through_its_field_map():
    ch = demo_channel("demo-form")
    fmap = ch["field_map"]
    body = {fmap["name"]: "Анна", fmap["phone"]: "8 (916) 123-45-67",
            fmap["email"]: "Anna@Example.org", fmap["comment"]: "Хочу на чистку",
            fmap["service"]: "hygiene", fmap["clinic"]: "demo-north", fmap["consent"]: "on",
            "utm_source": "yandex", "utm_campaign": "hygiene-2026", "gclid": "g-1",
            "page_url": "https://demo-center.clinicflow.example/hygiene",
            "event_id": "form-" + uuid.uuid4().hex}
    st, _, reply = post("/v1/hooks/leads/generic/demo-form", json.dumps(body).encode(),
                        "application/json",
                        {"Authorization": "Bearer " + ch["credentials"]["token"]})
    assert 200 <= st < 300, (st, reply)
    phone_key = contact_key("+79161234567")
    fact = wait_fact(lambda f: f["data"].get("provider_event_id") == body["event_id"],
                     "the form's fact")
    data = fact["data"]
    assert fact["subject"] == phone_key == data["contact_key"], fact
    assert data["kind"] == "request" and data["provider"] == "generic", data
    assert data["channel"] == "demo-form" and fact["clinicid"] == "demo-north", fact
    assert data["contact_keys"] == {"phone": phone_key,
                                    "email": contact_key("email:anna@example.org")}, data
    assert data["contact"]["phone"]["e164"] == "+79161234567", data
    assert data["tags"]["utm_source"] == "yandex" and data["consent"] is True, data


def test_a_filled_honeypot_produces_nothing():
    ch = demo_channel("demo-form")
    before = len(facts())
    body = {ch["field_map"]["phone"]: "+79160000099", ch["honeypot"]: "http://spam.example",
            "event_id": "bot-" + uuid.uuid4().hex}
    st, _, reply = post("/v1/hooks/leads/generic/demo-form", json.dumps(body).encode(),
                        "application/json",
                        {"Authorization": "Bearer " + ch["credentials"]["token"]})
    assert 200 <= st < 300, (st, reply)
    # a lead posted after it is on the topic: the bot's would be before it
    marker = {ch["field_map"]["phone"]: "+79160000098", "event_id": "after-" + uuid.uuid4().hex}
    st, _, reply = post("/v1/hooks/leads/generic/demo-form", json.dumps(marker).encode(),
                        "application/json",
                        {"Authorization": "Bearer " + ch["credentials"]["token"]})
    assert 200 <= st < 300, (st, reply)
    wait_fact(lambda f: f["data"].get("provider_event_id") == marker["event_id"], "the marker")
    all_facts = facts()
    assert len(all_facts) == before + 1, all_facts[before:]


def test_tilda_form():
    ch = demo_channel("demo-tilda")
    tranid = "1111111:%d" % (time.time() * 1000)
    fields = {"Name": "Иван", "Phone": "+7 (916) 765-43-21", "Comment": "Имплант",
              "utm_source": "google", "tranid": tranid, "formid": "form123"}
    st, _, reply = post("/v1/hooks/leads/tilda/demo-tilda?token="
                        + ch["credentials"]["url_token"],
                        urllib.parse.urlencode(fields).encode(),
                        "application/x-www-form-urlencoded")
    assert st == 200, (st, reply)
    fact = wait_fact(lambda f: f["data"].get("provider") == "tilda", "the Tilda fact")
    assert fact["subject"] == contact_key("+79167654321"), fact
    assert fact["data"]["form_id"] == "form123", fact


def test_mailgun_mail():
    key = demo_channel("demo-email")["credentials"]["signing_key"]
    ts, token = str(int(time.time())), uuid.uuid4().hex + uuid.uuid4().hex[:18]
    fields = {"recipient": "center@leads.example", "sender": "olga@example.org",
              "from": "Ольга <olga@example.org>", "subject": "Запись",
              "body-plain": "Добрый день! Перезвоните мне: +7 916 000-11-22",
              "timestamp": ts, "token": token,
              "signature": hmac.new(key.encode(), (ts + token).encode(),
                                    hashlib.sha256).hexdigest()}
    st, _, reply = post("/v1/hooks/leads/email/demo-email",
                        urllib.parse.urlencode(fields).encode(),
                        "application/x-www-form-urlencoded")
    assert st == 200, (st, reply)
    fact = wait_fact(lambda f: f["data"].get("provider") == "email", "the mail's fact")
    assert fact["data"]["contact"]["email"] == "olga@example.org", fact
    assert fact["data"]["subject"] == "Запись", fact


def test_response_and_outcome_from_the_events_route():
    lead = str(uuid.uuid4())
    hdrs = {"Authorization": "Bearer " + STATE["keys"]["ingest"]}
    for body in ({"event_id": "r-" + lead, "type": "responded", "staff_id": "reception-1",
                  "channel": "telegram"},
                 {"event_id": "l-" + lead, "type": "lost", "reason": "price"},
                 {"event_id": "b-" + lead, "type": "booked", "appointment_id": "mis-1"}):
        st, _, reply = post("/v1/leads/%s/events" % lead, json.dumps(body).encode(),
                            "application/json", hdrs)
        assert 200 <= st < 300, (st, reply)
    cfstack.wait_until(lambda: len([f for f in facts() if f["subject"] == lead]) == 3, 30,
                       "three facts of the lead")
    mine = {f["data"]["provider_event_id"]: f["data"] for f in facts() if f["subject"] == lead}
    assert mine["r-" + lead]["kind"] == "response" and mine["r-" + lead]["via"] == "telegram"
    assert mine["l-" + lead] == {"kind": "status", "provider": "api", "channel": "api",
                                 "provider_event_id": "l-" + lead, "lead_id": lead,
                                 "status": "lost", "reason": "price"}, mine
    assert mine["b-" + lead]["appointment_id"] == "mis-1", mine


def teardown():
    for name in ("svc", "broker"):
        if name in STATE:
            STATE[name].stop()


if __name__ == "__main__":
    try:
        setup()  # outside run(): it would stop the processes a test started
        cfstack.run([test_our_form_through_its_field_map,
                     test_a_filled_honeypot_produces_nothing, test_tilda_form, test_mailgun_mail,
                     test_response_and_outcome_from_the_events_route], exit=False)
    finally:
        teardown()
    cfstack.exit_status()
