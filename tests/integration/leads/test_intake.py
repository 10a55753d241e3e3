"""Our own form endpoint (POST /v1/hooks/leads/generic/{channel}) end to end:
a JSON and a URL-encoded post become one fact each on leads.raw with the
phone normalized, the contact keys and the ad tags; every refusal has its
status (404, 401, 413, 400, a value that is not text too) and produces
nothing; a honeypot post is acknowledged and dropped (counted); the form
limits answer 429 with Retry-After, and are skipped, not the lead, when
Redis is down; with every broker down the post is told to retry (503) and
the retry goes through once they are back. This test owns its devbroker."""
import json
import random
import socket
import time
import urllib.parse
import uuid

import cfstack
from common import (FORM, FORM_TOKEN, MAPPED_TOKEN, Stack, contact_key, demo_network, error_of,
                    resend_period)

NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md
NET = demo_network()["id"]


def new_phone():
    """A mobile number no other case uses: (national form, E.164)."""
    digits = "%07d" % random.randrange(10 ** 7)
    return "8 (916) %s-%s-%s" % (digits[:3], digits[3:5], digits[5:]), "+7916" + digits


def fact_id(channel, event_key):
    return str(uuid.uuid5(NS, "\x1f".join([NET, "generic", channel, event_key])))


def facts_with_key(stack, key):
    return [f for f in stack.raw_facts() if f["data"].get("contact_key") == key]


def accepted_id(reply):
    st, _, body = reply
    assert st == 202, (st, body)
    out = json.loads(body)
    assert out["status"] == "accepted", out
    return out["lead_event_id"]


def test_json_post(stack):
    national, e164 = new_phone()
    body = {
        "event_id": "it-json-" + uuid.uuid4().hex[:8],
        "name": "Ирина", "phone": national, "email": "Irina@Example.org",
        "comment": "Хочу на консультацию", "service": "implant", "consent": True,
        "utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "implants-msk",
        "yclid": "y-123", "_ym_uid": "1700000000123456789",
        "page_url": "https://clinic.example/implant?utm_source=yandex",
        "referrer": "https://ya.ru/", "extra_field": "ignored",
    }
    event_id = accepted_id(stack.post_form(body=body))
    assert event_id == fact_id("it-form", body["event_id"]), event_id
    fact = stack.wait_raw(event_id)
    key = contact_key(e164)
    assert fact["type"] == "clinicflow.lead.reported", fact
    assert fact["_key"] == fact["subject"] == key, fact
    assert fact["networkid"] == NET and fact["clinicid"] == "demo-center", fact
    assert fact["source"] == "/clinicflow/leads/generic/it-form", fact
    d = fact["data"]
    assert d["kind"] == "request" and d["provider"] == "generic" and d["channel"] == "it-form", d
    assert d["provider_event_id"] == body["event_id"], d
    assert d["contact"] == {"name": "Ирина", "email": "Irina@Example.org",
                            "phone": {"raw": national, "kind": "e164", "e164": e164}}, d
    assert d["contact_key"] == key, d
    assert d["contact_keys"] == {"phone": key,
                                 "email": contact_key("email:irina@example.org")}, d
    assert d["text"] == "Хочу на консультацию" and "text_truncated" not in d, d
    assert d["service"] == "implant" and d["consent"] is True, d
    assert d["tags"] == {"utm_source": "yandex", "utm_medium": "cpc",
                         "utm_campaign": "implants-msk", "yclid": "y-123",
                         "ym_uid": "1700000000123456789",
                         "page_url": "https://clinic.example/implant?utm_source=yandex",
                         "referrer": "https://ya.ru/"}, d
    assert "extra_field" not in json.dumps(d)
    # a browser's retry of the same post is the same event
    assert accepted_id(stack.post_form(body=body)) == event_id


def test_form_post_with_field_map(stack):
    national, e164 = new_phone()
    params = {"your-name": "Пётр", "your-tel": national, "your-message": "x" * 5000,
              "clinic": "demo-south", "consent": "on", "gclid": "g-1"}
    resend_period()
    st, hdrs, body = stack.post_form("it-mapped", params, token=MAPPED_TOKEN, form=True)
    event_id = accepted_id((st, hdrs, body))
    # no event_id: the key is the body's hash and the ten minutes it came
    # in, so the same post resent within them is the same event
    st, _, again = stack.post_form("it-mapped", params, token=MAPPED_TOKEN, form=True)
    assert json.loads(again)["lead_event_id"] == event_id
    fact = stack.wait_raw(event_id)
    d = fact["data"]
    # the form names a clinic of the network: it wins over the channel's
    assert fact["clinicid"] == "demo-south", fact
    assert d["contact"]["name"] == "Пётр" and d["contact"]["phone"]["e164"] == e164, d
    assert d["text"] == "x" * 4000 and d["text_truncated"] is True, len(d["text"])
    assert d["consent"] is True and d["tags"] == {"gclid": "g-1"}, d


def test_cors(stack):
    """A page script on a clinic's site reads the answer, a refusal too;
    another site's script does not."""
    _, e164 = new_phone()
    site = "https://demo-north.clinicflow.example"
    st, hdrs, body = stack.post_form(body={"phone": e164}, headers={"Origin": site})
    accepted_id((st, hdrs, body))
    assert hdrs.get("access-control-allow-origin") == site, hdrs
    assert "Origin" in hdrs.get("vary", ""), hdrs
    st, hdrs, _ = stack.post_form(body={"name": "x"}, headers={"Origin": site})
    assert st == 400 and hdrs.get("access-control-allow-origin") == site, (st, hdrs)
    st, hdrs, _ = stack.post_form(body={"phone": e164},
                                  headers={"Origin": "https://evil.example"})
    assert st == 202 and "access-control-allow-origin" not in hdrs, hdrs


def test_unknown_channel(stack):
    for provider, channel in (("generic", "it-nope"), ("tilda", "it-form"),
                              ("generic", "demo-twilio"), ("nosuch", "it-form")):
        st, _, body = stack.post_form(channel, {"phone": "+79161234567"}, provider=provider)
        assert st == 404, (provider, channel, st, body)
        assert error_of((st, None, body))["code"] == "not_found"


def test_bad_token(stack):
    national, e164 = new_phone()
    before = stack.metric(
        'clinicflow_leads_hooks_refused_total{provider="generic",reason="signature"}')
    for token, form in (("wrong-token", False), (None, False), (MAPPED_TOKEN, True),
                        (FORM_TOKEN[:-1], True)):
        st, _, body = stack.post_form(body={"phone": national}, token=token, form=form)
        assert st == 401, (token, st, body)
        assert error_of((st, None, body))["code"] == "unauthorized"
    assert stack.metric('clinicflow_leads_hooks_refused_total{provider="generic",'
                        'reason="signature"}') == before + 4
    # the token in the query string works as well
    ok = accepted_id(stack.post_form(body={"phone": national}, token=None,
                                     query="?token=" + FORM_TOKEN))
    stack.wait_raw(ok)
    assert len(facts_with_key(stack, contact_key(e164))) == 1


def test_oversized_body(stack):
    st, _, body = stack.post_form(body={"phone": "+79161234567", "comment": "z" * 70000})
    assert st == 413, (st, body)


def test_no_person(stack):
    st, _, body = stack.post_form(body={"name": "Без телефона", "comment": "перезвоните"})
    assert st == 400, (st, body)
    err = error_of((st, None, body))
    assert err["code"] == "invalid_field" and err["field"] == "phone", err
    st, _, body = stack.post_form("it-mapped", {"your-name": "x", "your-tel": ""},
                                  token=MAPPED_TOKEN, form=True)
    assert st == 400 and error_of((st, None, body))["field"] == "your-tel", body
    st, _, body = stack.post_form(body=b"{\"phone\":", token=FORM_TOKEN)
    assert st == 400, (st, body)


def test_honeypot(stack):
    national, e164 = new_phone()
    metric = 'clinicflow_leads_hooks_ignored_total{provider="generic",reason="honeypot"}'
    before = stack.metric(metric)
    st, _, body = stack.post_form(body={"phone": national, "website": "http://spam.example"})
    bot_id = accepted_id((st, None, body))
    assert stack.metric(metric) == before + 1
    # a person's post after it is on the topic; the bot's never is
    _, person = new_phone()
    stack.wait_raw(accepted_id(stack.post_form(body={"phone": person, "website": ""})))
    facts = stack.raw_facts()
    assert not any(f["id"] == bot_id for f in facts)
    assert not facts_with_key(stack, contact_key(e164))


def test_not_text(stack):
    """A form value in another charset (a windows-1251 page) or with a NUL
    byte would lose the field (or pass the honeypot): 400 naming the field,
    nothing produced."""
    _, e164 = new_phone()
    phone = "phone=" + urllib.parse.quote(e164)
    path = "/v1/hooks/leads/generic/it-form?token=" + FORM_TOKEN
    for body, query, field in (
            ("name=%C8%E2%E0%ED&" + phone, "", "name"),  # "Иван" in windows-1251
            ("name=Ivan%00x&" + phone, "", "name"),
            (phone + "&website=%FF", "", "website"),
            (phone, "&utm_source=%E0", "utm_source")):
        st, _, out = stack.post(path + query, body, {"Content-Type": FORM})
        assert st == 400, (body, st, out)
        err = error_of((st, None, out))
        assert err["code"] == "invalid_field" and err["field"] == field, (body, err)
    # the token is still checked first
    st, _, out = stack.post("/v1/hooks/leads/generic/it-form?token=x",
                            "name=%C8%E2%E0%ED&" + phone, {"Content-Type": FORM})
    assert st == 401, (st, out)
    # the same person in UTF-8 is a lead, the one fact of that phone
    ok = accepted_id(stack.post(path, "name=%D0%98%D0%B2%D0%B0%D0%BD&" + phone,
                                {"Content-Type": FORM}))
    stack.wait_raw(ok)
    assert [f["id"] for f in facts_with_key(stack, contact_key(e164))] == [ok]


def test_rate_limits(stack):
    """Per address (its own, named by a trusted proxy) and per contact."""
    svc = stack.start_service({"CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE": "3",
                               "CLINICFLOW_LEADS_FORM_PER_CONTACT_PER_HOUR": "2",
                               "CLINICFLOW_LEADS_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        addr = "198.51.100.%d" % random.randrange(1, 255)

        def post(phone, xff, event=None):
            body = {"phone": phone, "event_id": event or uuid.uuid4().hex}
            data = json.dumps(body).encode()
            return body["event_id"], stack.post(
                "/v1/hooks/leads/generic/it-form", data,
                {"Content-Type": "application/json", "Authorization": "Bearer " + FORM_TOKEN,
                 "X-Forwarded-For": xff}, svc=svc)

        for _ in range(3):
            accepted_id(post(new_phone()[1], addr)[1])
        event, (st, hdrs, body) = post(new_phone()[1], addr)
        assert st == 429, (st, body)
        assert error_of((st, None, body))["code"] == "rate_limited"
        assert 0 < int(hdrs["retry-after"]) <= 60, hdrs
        # another client behind the same proxy is not limited
        accepted_id(post(new_phone()[1], "2001:db8:%x::1" % random.randrange(1, 65535))[1])

        _, phone = new_phone()
        for _ in range(2):
            accepted_id(post(phone, "203.0.113.%d" % random.randrange(1, 255))[1])
        event2, (st, hdrs, body) = post(phone, "192.0.2.%d" % random.randrange(1, 255))
        assert st == 429 and 3500 < int(hdrs["retry-after"]) <= 3600, (st, hdrs, body)
        facts = stack.raw_facts()
        assert not any(f["id"] in (fact_id("it-form", event), fact_id("it-form", event2))
                       for f in facts)
        assert len(facts_with_key(stack, contact_key(phone))) == 2
        assert stack.metric('clinicflow_rate_limited_total{scope="leads_form",rule="ip"}',
                            svc) == 1
        assert stack.metric('clinicflow_rate_limited_total{scope="leads_form",rule="contact"}',
                            svc) == 1
    finally:
        svc.stop()


def test_redis_down(stack):
    """No Redis: the limits are skipped (counted), every lead goes through."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    svc = stack.start_service({"CLINICFLOW_REDIS_URL": "redis://127.0.0.1:%d/0" % port,
                               "CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE": "1",
                               "CLINICFLOW_LEADS_FORM_PER_CONTACT_PER_HOUR": "1"})
    try:
        _, phone = new_phone()
        ids = []
        for i in range(3):
            body = json.dumps({"phone": phone, "event_id": "redis-down-%d" % i}).encode()
            ids.append(accepted_id(stack.post(
                "/v1/hooks/leads/generic/it-form", body,
                {"Content-Type": "application/json", "Authorization": "Bearer " + FORM_TOKEN},
                svc=svc)))
        for i in ids:
            stack.wait_raw(i)
        assert stack.metric('clinicflow_rate_limit_skipped_total{scope="leads_form"}', svc) == 3
    finally:
        svc.stop()


def test_bad_replay_window(stack):
    """A replay window too short for a provider's retries stops the start."""
    svc = cfstack.Service("leads", {**stack.service_env(),
                                    "CLINICFLOW_LEADS_REPLAY_WINDOW_S": "60"})
    try:
        svc.start(timeout=20)
    except cfstack.StackError as e:
        assert svc.returncode == 2, svc.returncode
        assert "CLINICFLOW_LEADS_REPLAY_WINDOW_S" in str(e), e
    else:
        svc.stop()
        raise AssertionError("the service started with a 60 s replay window")


def test_most_fold_runners_start(stack):
    """The most fold runners the setting takes (6) start beside the
    service's other consumers, ready: every consumer a thread the service
    holds."""
    svc = cfstack.Service("leads", {**stack.service_env(),
                                    "CLINICFLOW_LEADS_FOLD_RUNNERS": "6"})
    svc.start(timeout=30)
    try:
        st, _, body = cfstack.http("GET", svc.url("/readyz"))
        assert st == 200, (st, body)
    finally:
        svc.stop()


def test_brokers_down_then_up(stack):
    national, e164 = new_phone()
    body = {"phone": national, "event_id": "it-brokers-" + uuid.uuid4().hex[:8]}
    unavailable = 'clinicflow_leads_hooks_refused_total{provider="generic",reason="unavailable"}'
    before = stack.metric(unavailable)
    stack.broker.down()
    refused = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        st, hdrs, reply = stack.post_form(body=body)
        assert time.monotonic() - t0 < 10, "a post took too long with brokers down"
        if st == 503:
            refused = hdrs, reply
            break
        # before the breaker opens a produce may still be acknowledged
        assert st == 202, (st, reply)
    assert refused, "never answered 503 with all brokers down"
    hdrs, reply = refused
    assert int(hdrs["retry-after"]) > 0
    assert json.loads(reply)["error"]["code"] == "unavailable", reply
    # counted, for an operator to alert on (a sender that never retries
    # loses such a lead: services/leads/PROVIDERS.md)
    assert stack.metric(unavailable) == before + 1

    stack.broker.up()
    accepted = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not accepted:
        st, _, reply = stack.post_form(body=body)
        if st == 202:
            accepted = json.loads(reply)["lead_event_id"]
        else:
            assert st == 503, (st, reply)
            time.sleep(0.5)
    assert accepted == fact_id("it-form", body["event_id"]), accepted
    stack.wait_raw(accepted, 60)
    ids = {f["id"] for f in facts_with_key(stack, contact_key(e164))}
    assert ids == {accepted}, ids


if __name__ == "__main__":
    s = Stack(extra_env={
        # the shared counters stay untouched but where a case sets a limit
        "CLINICFLOW_LEADS_FORM_PER_IP_PER_MINUTE": "0",
        "CLINICFLOW_LEADS_FORM_PER_CONTACT_PER_HOUR": "0",
        # the breaker closes only on the statistics showing a broker up
        "CLINICFLOW_KAFKA_PROBE_INTERVAL_MS": "600000",
    })
    try:
        cfstack.run([lambda f=f: f(s) for f in (
            test_json_post, test_form_post_with_field_map, test_cors, test_unknown_channel,
            test_bad_token,
            test_oversized_body, test_no_person, test_honeypot, test_not_text, test_rate_limits,
            test_redis_down, test_bad_replay_window, test_most_fold_runners_start,
            test_brokers_down_then_up)], exit=False)
    finally:
        s.close()
    cfstack.exit_status()
