"""Every lead provider's channel end to end through the running service:
each request signed the provider's way with the channel's test
credentials (computed here, independently of the service's code), the
status and body the provider expects, and the fact on leads.raw with the
normalized contact, its keys, the channel's clinic, the provider and the
channel. A refused or ignored request puts nothing on the topic: the
service answers only after Kafka acknowledged what it produced, so the
topic's end offsets read after the answer are final. One stack and one
service for every case."""
import datetime
import hashlib
import hmac
import json
import os
import secrets
import subprocess
import time
import urllib.parse
import uuid

import cfstack
from common import (FORM, RAW, TEST_CHANNELS, contact_key, demo_network, error_of, hook_path,
                    resend_period, run_tests)

NS = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825")  # proto/README.md
NET = demo_network()["id"]
REPLAY_WINDOW_S = 600  # CLINICFLOW_LEADS_REPLAY_WINDOW_S of this stack
JSON = "application/json"


def channel(provider):
    return next(c for c in TEST_CHANNELS if c["id"] == "it-" + provider)


def cred(provider, name):
    return channel(provider)["credentials"][name]


def fact_id(provider, event_key):
    parts = [NET, provider, "it-" + provider, event_key]
    return str(uuid.uuid5(NS, "\x1f".join(parts)))


def hex_hmac(key, msg):
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(key.encode(), msg, hashlib.sha256).hexdigest()


def ms_of(rfc3339):
    return round(datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
                 .timestamp() * 1000)


def raw_partitions():
    with open(os.path.join(os.environ["CLINICFLOW_SOURCE_DIR"], "proto", "topics.json")) as f:
        topics = json.load(f)["topics"]
    return next(t["partitions"] for t in topics if t["name"] == RAW)


def end_offsets(stack):
    """leads.raw's end offset per partition."""
    cmd = ["kcat", "-b", stack.broker.bootstrap, "-Q"]
    for p in range(raw_partitions()):
        cmd += ["-t", "%s:%d:-1" % (RAW, p)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
    offsets = {}
    for line in out.splitlines():  # "<topic> [<partition>] offset <n>"
        words = line.split()
        if len(words) == 4 and words[0] == RAW and words[2] == "offset":
            offsets[int(words[1].strip("[]"))] = int(words[3])
    assert len(offsets) == raw_partitions(), out
    return offsets


def send(stack, provider, body=b"", headers=None, method="POST", query="", path=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    elif isinstance(body, str):
        body = body.encode()
    hdrs = {"Content-Type": JSON} if method == "POST" else {}
    hdrs.update(headers or {})
    return stack.post((path or hook_path(provider, "it-" + provider)) + query,
                      body if method == "POST" else None, hdrs, method=method)


def produces(stack, count, *args, **kwargs):
    """Sends a request and checks it put exactly count messages on
    leads.raw; returns the reply."""
    before = end_offsets(stack)
    reply = send(stack, *args, **kwargs)
    after = end_offsets(stack)
    added = sum(after.values()) - sum(before.values())
    assert added == count, ("%d messages on leads.raw, expected %d" % (added, count), reply)
    return reply


def nothing(stack, status, *args, **kwargs):
    """A request answered with status that produced nothing; the reply."""
    reply = produces(stack, 0, *args, **kwargs)
    assert reply[0] == status, (status, reply)
    return reply


def unauthorized(stack, *args, **kwargs):
    reply = nothing(stack, 401, *args, **kwargs)
    assert error_of(reply)["code"] == "unauthorized", reply
    return reply


def raw_by_id(stack):
    """Every fact on leads.raw by id: a list per id (a retry adds a copy),
    each checked against the topic's contract (proto/schemas)."""
    out = {}
    for m in cfstack.TopicReader(stack.broker.bootstrap, RAW, validate=True).read():
        f = json.loads(m["payload"])
        f["_key"] = m["key"]
        out.setdefault(f["id"], []).append(f)
    return out


def check_fact(fact, provider, event_key, data, keys, time_ms=None):
    """The envelope names the channel's network, clinic and source, the key
    and subject are the messenger account's key when there is one (a
    conversation on one partition), else the strongest contact key, and data
    has what is given, plus kind request unless given; data's contact_key is
    the strongest (phone, e-mail, messenger account)."""
    ch = channel(provider)
    assert fact["id"] == fact_id(provider, event_key), fact
    assert fact["type"] == "clinicflow.lead.reported", fact
    assert fact["source"] == "/clinicflow/leads/%s/it-%s" % (provider, provider), fact
    assert fact["networkid"] == NET and fact["clinicid"] == ch["clinic_id"], fact
    want_keys = {kind: contact_key(msg) for kind, msg in keys.items()}
    strongest = next(want_keys[k] for k in ("phone", "email", "messenger") if k in want_keys)
    assert fact["_key"] == fact["subject"] == want_keys.get("messenger", strongest), fact
    d = fact["data"]
    want = {"kind": "request", "provider": provider, "channel": ch["id"],
            "provider_event_id": event_key, "contact_key": strongest,
            "contact_keys": want_keys, **data}
    for k, v in want.items():
        assert d.get(k) == v, (k, d.get(k), v, d)
    if time_ms is not None:
        assert ms_of(fact["time"]) == time_ms, (fact["time"], time_ms)
    return d


def phone(raw, e164):
    return {"raw": raw, "kind": "e164", "e164": e164}


# --- forms: Tilda, Contact Form 7, JivoChat ---


def test_tilda(stack):
    q = "?token=" + cred("tilda", "url_token")
    form = {"Content-Type": FORM}
    # adding the webhook in Tilda sends test=test: "ok", and no lead
    st, _, body = nothing(stack, 200, "tilda", "test=test", form, query=q)
    assert body == b"ok", body
    fields = {
        "Name": "Ольга Петрова", "Phone": "+7 (916) 111-00-01", "Email": "Olga.P@Example.org",
        "Comment": "Хочу на чистку", "tranid": "1111111:6161583731", "formid": "form731",
        "utm_source": "yandex", "utm_campaign": "hygiene",
        "COOKIES": "_ym_uid=1700000000111222333; _ga=GA1.2.123456789.1700000000",
    }
    st, _, body = produces(stack, 1, "tilda", urllib.parse.urlencode(fields), form, query=q)
    assert (st, body) == (200, b"ok"), (st, body)
    # a receiver set to send JSON: the same fields
    st, _, body = produces(stack, 1, "tilda", {"Name": "Олег", "Phone": "89161110008",
                                               "tranid": "1111111:6161583733"}, query=q)
    assert (st, body) == (200, b"ok"), (st, body)
    # no phone, no e-mail: still "ok" (Tilda only marks a refusal as failed), nothing
    st, _, body = nothing(stack, 200, "tilda", urllib.parse.urlencode(
        {"Name": "Без контакта", "tranid": "1111111:6161583732"}), form, query=q)
    assert body == b"ok", body
    # a value that is not UTF-8 (a windows-1251 page): still "ok" (a refusal
    # is only retried), nothing
    st, _, body = nothing(stack, 200, "tilda", "Name=%C8%E2%E0%ED&Phone=89161110009&"
                          "tranid=1111111:6161583734", form, query=q)
    assert body == b"ok", body
    unauthorized(stack, "tilda", urllib.parse.urlencode(fields), form, query=q + "x")
    unauthorized(stack, "tilda", urllib.parse.urlencode(fields), form)

    [fact] = raw_by_id(stack)[fact_id("tilda", fields["tranid"])]
    check_fact(fact, "tilda", fields["tranid"], {
        "contact": {"name": "Ольга Петрова", "email": "Olga.P@Example.org",
                    "phone": phone("+7 (916) 111-00-01", "+79161110001")},
        "text": "Хочу на чистку", "form_id": "form731",
        "tags": {"utm_source": "yandex", "utm_campaign": "hygiene",
                 "ym_uid": "1700000000111222333", "client_id": "123456789.1700000000"},
    }, {"phone": "+79161110001", "email": "email:olga.p@example.org"})
    [fact] = raw_by_id(stack)[fact_id("tilda", "1111111:6161583733")]
    check_fact(fact, "tilda", "1111111:6161583733", {
        "contact": {"name": "Олег", "phone": phone("89161110008", "+79161110008")}},
        {"phone": "+79161110008"})


def test_cf7(stack):
    q = "?token=" + cred("cf7", "url_token")
    fields = {"your-name": "Иван Сидоров", "your-email": "ivan.s@example.org",
              "tel-521": "8 (916) 111-00-02", "your-message": "Запишите к ортодонту",
              "acceptance": "1", "utm_source": "google", "gclid": "g-cf7-1"}
    period = resend_period()
    st, hdrs, body = produces(stack, 1, "cf7", fields, query=q)
    assert (st, body) == (200, b"{}") and hdrs["content-type"].startswith(JSON), (st, hdrs, body)
    # the add-on sends no id: the key is the fields' digest and the ten
    # minutes they came in, so a resend within them is the same fact
    st, _, _ = produces(stack, 1, "cf7", fields, query=q)
    assert st == 200
    st, _, body = nothing(stack, 400, "cf7", {"your-name": "Никто", "your-message": "?"}, query=q)
    assert error_of((st, None, body))["field"] == "phone", body
    # an e-mail that is no address reaches nobody: refused, naming it
    st, _, body = nothing(stack, 400, "cf7", {"your-name": "Никто", "your-email": "nikto @mail"},
                          query=q)
    assert error_of((st, None, body))["field"] == "email", body
    unauthorized(stack, "cf7", fields, query="?token=it-cf7-url-token-0002")

    key = hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"),
                                    ensure_ascii=False).encode() + b"\x1f" +
                         str(period).encode()).hexdigest()
    facts = raw_by_id(stack)[fact_id("cf7", key)]
    assert len(facts) == 2 and facts[0]["data"] == facts[1]["data"], facts
    check_fact(facts[0], "cf7", key, {
        "contact": {"name": "Иван Сидоров", "email": "ivan.s@example.org",
                    "phone": phone("8 (916) 111-00-02", "+79161110002")},
        "text": "Запишите к ортодонту", "consent": True,
        "tags": {"utm_source": "google", "gclid": "g-cf7-1"},
    }, {"phone": "+79161110002", "email": "email:ivan.s@example.org"})


def test_jivo(stack):
    q = "?token=" + cred("jivo", "url_token")
    ok = b'{"result":"ok"}'
    offline = {
        "event_name": "offline_message", "widget_id": "it-widget", "chat_id": 4101,
        "offline_message_id": 5501, "message": "Перезвоните после 18:00",
        "visitor": {"name": "Пётр", "phone": "+7 916 111-00-03", "email": "petr@example.org",
                    "number": 12},
        "session": {"utm": "source=google|medium=cpc|campaign=brand"},
        "page": {"url": "https://clinic.example/prices"},
    }
    st, hdrs, body = produces(stack, 1, "jivo", offline, query=q)
    assert (st, body) == (200, ok) and hdrs["content-type"].startswith(JSON), (st, hdrs, body)
    # a finished chat: the visitor's request, and the agent's first answer after it
    t0 = int(time.time()) - 120
    chat = {
        "event_name": "chat_finished", "widget_id": "it-widget", "chat_id": 4102,
        "visitor": {"name": "Вера", "phone": "89161110007", "number": 13},
        "agents": [{"id": 301, "name": "Администратор"}],
        "chat": {"messages": [
            {"timestamp": t0, "type": "visitor", "message": "Есть запись на сегодня?"},
            {"timestamp": t0 + 45, "type": "agent", "agent_id": 301, "message": "Да, на 17:00"},
        ]},
    }
    st, _, body = produces(stack, 2, "jivo", chat, query=q)
    assert (st, body) == (200, ok), (st, body)
    st, _, body = nothing(stack, 200, "jivo", {"event_name": "client_updated", "chat_id": 4101,
                                               "visitor": {"phone": "+79161110003"}}, query=q)
    assert body == ok, body
    st, _, body = nothing(stack, 200, "jivo", {"event_name": "chat_accepted", "chat_id": 4103,
                                               "visitor": {"name": "Аноним"}}, query=q)
    assert body == ok, body
    # a chat in progress, even with a phone, waits for its chat_finished:
    # it says when the visitor wrote
    for name in ("chat_accepted", "chat_updated"):
        st, _, body = nothing(stack, 200, "jivo", {"event_name": name, "chat_id": 4104,
                                                   "visitor": {"phone": "+79161110008"}},
                              query=q)
        assert body == ok, body
    # the phone only written in the chat, beside an e-mail: the agent's
    # answer, delivered with the chat, answers the person its request names
    # (the phone read from the text, the stronger key): the same keys, the
    # same partition
    in_text = {
        "event_name": "chat_finished", "widget_id": "it-widget", "chat_id": 4105,
        "visitor": {"name": "Инна", "email": "inna@example.org", "number": 14},
        "chat": {"messages": [
            {"timestamp": t0, "type": "visitor", "message": "Мой номер 8 916 111-00-09"},
            {"timestamp": t0 + 30, "type": "agent", "agent_id": 302, "message": "Перезвоним"},
        ]},
    }
    st, _, body = produces(stack, 2, "jivo", in_text, query=q)
    assert (st, body) == (200, ok), (st, body)
    # an e-mail that is not one and no phone: nobody to answer, no lead
    st, _, body = nothing(stack, 200, "jivo", {
        "event_name": "chat_finished", "widget_id": "it-widget", "chat_id": 4106,
        "visitor": {"name": "Аноним", "email": "inna@"},
        "chat": {"messages": [{"timestamp": t0, "type": "visitor", "message": "Здравствуйте"}]},
    }, query=q)
    assert body == ok, body
    unauthorized(stack, "jivo", offline)

    facts = raw_by_id(stack)
    [req] = facts[fact_id("jivo", "chat:4105")]
    [resp] = facts[fact_id("jivo", "chat:4105:response")]
    want = {"phone": contact_key("+79161110009"), "email": contact_key("email:inna@example.org")}
    for f in (req, resp):
        d = f["data"]
        assert (d["contact_key"], d["contact_keys"], f["_key"]) == (
            want["phone"], want, want["phone"]), f
    [fact] = facts[fact_id("jivo", "offline:5501")]
    check_fact(fact, "jivo", "offline:5501", {
        "contact": {"name": "Пётр", "email": "petr@example.org",
                    "phone": phone("+7 916 111-00-03", "+79161110003")},
        "text": "Перезвоните после 18:00", "external": {"chat_id": "4101"},
        "tags": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand",
                 "page_url": "https://clinic.example/prices"},
    }, {"phone": "+79161110003", "email": "email:petr@example.org"})
    keys = {"phone": "+79161110007"}
    contact = {"name": "Вера", "phone": phone("89161110007", "+79161110007")}
    [req] = facts[fact_id("jivo", "chat:4102")]
    check_fact(req, "jivo", "chat:4102", {"contact": contact, "text": "Есть запись на сегодня?"},
               keys, t0 * 1000)
    [resp] = facts[fact_id("jivo", "chat:4102:response")]
    d = check_fact(resp, "jivo", "chat:4102:response", {
        "kind": "response", "contact": contact, "via": "jivo", "staff_id": "301"},
        keys, (t0 + 45) * 1000)
    assert "text" not in d and "external" not in d, d


# --- inbound mail: Mailgun routes ---


def mailgun(fields, timestamp=None, token=None, key=None):
    """A route's form post signed as Mailgun signs it: HMAC-SHA256 with the
    signing key over timestamp + token."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    token = token or secrets.token_hex(25)
    sig = hex_hmac(key or cred("email", "signing_key"), ts + token)
    body = dict(fields, timestamp=ts, token=token, signature=sig)
    return urllib.parse.urlencode(body), token, int(ts)


def multipart(fields, attachment):
    """fields as multipart/form-data (RFC 7578), as Mailgun posts a mail
    with attachments, the file last: (body, content type)."""
    boundary = "----it" + secrets.token_hex(12)
    out = b""
    for name, value in fields.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                % (boundary, name, value)).encode()
    out += ("--%s\r\nContent-Disposition: form-data; name=\"attachment-1\"; "
            "filename=\"scan.png\"\r\nContent-Type: image/png\r\n\r\n" % boundary).encode()
    out += attachment + ("\r\n--%s--\r\n" % boundary).encode()
    return out, "multipart/form-data; boundary=" + boundary


def test_email(stack):
    form = {"Content-Type": FORM}
    mail = {
        "recipient": "leads@clinic.example", "sender": "bounce+x@mail.example",
        "from": "Анна Смирнова <Anna.S@Example.org>", "subject": "Запись на консультацию",
        "body-plain": "Добрый день! Хочу записаться.\n\n> quoted",
        "stripped-text": "Добрый день! Хочу записаться.",
        "message-headers": json.dumps([["Message-Id", "<it-0001@mail.example>"],
                                       ["Subject", "Запись на консультацию"]]),
    }
    body, token, ts = mailgun(mail)
    st, _, reply = produces(stack, 1, "email", body, form)
    assert (st, reply) == (200, b""), (st, reply)
    # within the window an older signed time is fine; a phone in a mail's
    # text is not read as the sender's (quoted replies and signatures carry
    # the clinic's own numbers and others')
    body2, token2, ts2 = mailgun(dict(mail, subject="Повторно", **{
        "stripped-text": "Жду ответа.\n--\nКлиника, +7 (495) 000-02-01"}),
        int(time.time()) - 300)
    assert produces(stack, 1, "email", body2, form)[0] == 200
    # a signature outside the replay window, either way, is refused
    for skew in (-REPLAY_WINDOW_S - 600, REPLAY_WINDOW_S + 600):
        unauthorized(stack, "email", mailgun(mail, int(time.time()) + skew)[0], form)
    unauthorized(stack, "email", mailgun(mail, key="it-email-signing-key-0002")[0], form)
    unauthorized(stack, "email", body.replace("token=", "token=0"), form)
    # a mail with an attachment comes as multipart/form-data: its text parts are read
    signed = dict(urllib.parse.parse_qsl(mailgun(dict(mail, subject="Снимок"))[0]))
    data, ctype = multipart(signed, b"\x89PNG\r\n\x1a\n\x00\xff" * 64)
    st, _, reply = produces(stack, 1, "email", data, {"Content-Type": ctype})
    assert (st, reply) == (200, b""), (st, reply)
    # a mail with no sender address: 200 (anything else is retried for 8 hours), nothing
    st, _, reply = nothing(stack, 200, "email",
                           mailgun(dict(mail, sender="", **{"from": "Аноним"}))[0], form)
    assert reply == b"", reply

    facts = raw_by_id(stack)
    keys = {"email": "email:anna.s@example.org"}
    [fact] = facts[fact_id("email", token)]
    check_fact(fact, "email", token, {
        "contact": {"name": "Анна Смирнова", "email": "Anna.S@Example.org"},
        "subject": "Запись на консультацию", "text": "Добрый день! Хочу записаться.",
        "external": {"message_id": "<it-0001@mail.example>"},
    }, keys, ts * 1000)
    [fact] = facts[fact_id("email", token2)]
    d = check_fact(fact, "email", token2, {"subject": "Повторно"}, keys, ts2 * 1000)
    assert "phone" not in d["contact"] and "phone_from_text" not in d["contact"], d
    [fact] = facts[fact_id("email", signed["token"])]
    check_fact(fact, "email", signed["token"], {
        "contact": {"name": "Анна Смирнова", "email": "Anna.S@Example.org"},
        "subject": "Снимок", "text": "Добрый день! Хочу записаться."}, keys)


# --- messengers ---


def test_telegram(stack):
    hdrs = {"X-Telegram-Bot-Api-Secret-Token": cred("telegram", "secret_token")}
    now = int(time.time())
    person = {"id": 6100000001, "is_bot": False, "first_name": "Мария",
              "last_name": "Кузнецова", "username": "maria_k"}
    chat = {"id": 6100000001, "type": "private", "first_name": "Мария"}

    def update(uid, **msg):
        return {"update_id": uid, "message": dict(
            {"message_id": uid - 800000000, "from": person, "chat": chat, "date": now}, **msg)}

    text = update(800000001, text="Сколько стоит отбеливание?")
    contact = update(800000002, contact={"phone_number": "79161110004", "first_name": "Мария",
                                         "user_id": 6100000001})
    start = update(800000003, text="/start ab12cd34ef")
    for u in (text, contact, start):
        st, _, body = produces(stack, 1, "telegram", u, hdrs)
        assert (st, body) == (200, b""), (st, body)
    edited = {"update_id": 800000004, "edited_message": dict(
        text["message"], text="Сколько стоит отбеливание зубов?", edit_date=now + 5)}
    st, _, body = nothing(stack, 200, "telegram", edited, hdrs)
    assert body == b"", body
    unauthorized(stack, "telegram", text, {"X-Telegram-Bot-Api-Secret-Token": "it-wrong"})
    unauthorized(stack, "telegram", text)

    facts = raw_by_id(stack)
    account = {"messenger": "telegram:6100000001"}
    who = {"name": "Мария Кузнецова", "handle": "maria_k", "user_id": "6100000001"}
    ext = {"chat_id": "6100000001", "user_id": "6100000001"}
    [f] = facts[fact_id("telegram", "800000001")]
    check_fact(f, "telegram", "800000001", {
        "contact": who, "text": "Сколько стоит отбеливание?",
        "external": dict(ext, message_id="1")}, account, now * 1000)
    [f] = facts[fact_id("telegram", "800000002")]
    d = check_fact(f, "telegram", "800000002", {
        # the account's own number, sent as digits alone: international
        "contact": dict(who, phone=phone("+79161110004", "+79161110004")),
        "external": dict(ext, message_id="2")}, dict(account, phone="+79161110004"))
    assert "text" not in d, d
    [f] = facts[fact_id("telegram", "800000003")]
    d = check_fact(f, "telegram", "800000003", {"contact": who, "code": "ab12cd34ef"}, account)
    assert "text" not in d, d  # /start is the START button, not the person's words
    assert fact_id("telegram", "800000004") not in facts


def meta_post(stack, provider, count, payload, secret=None):
    raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    sig = "sha256=" + hex_hmac(secret or cred(provider, "app_secret"), raw)
    return produces(stack, count, provider, raw, {"X-Hub-Signature-256": sig})


def handshake(stack, provider):
    """Meta's GET: the challenge back for the right verify_token only."""
    token = cred(provider, "verify_token")
    for t, want in ((token, (200, b"1158201444")), (token + "x", (403, b""))):
        q = "?" + urllib.parse.urlencode({"hub.mode": "subscribe", "hub.verify_token": t,
                                          "hub.challenge": "1158201444"})
        st, _, body = nothing(stack, want[0], provider, method="GET", query=q)
        assert (st, body) == want, (t, st, body)


def test_whatsapp(stack):
    handshake(stack, "whatsapp")
    now = int(time.time())

    def notification(value):
        value = dict({"messaging_product": "whatsapp",
                      "metadata": {"display_phone_number": "74950000401",
                                   "phone_number_id": "106540352242922"}}, **value)
        return {"object": "whatsapp_business_account",
                "entry": [{"id": "102290129340398",
                           "changes": [{"field": "messages", "value": value}]}]}

    contacts = [{"profile": {"name": "Ахмед"}, "wa_id": "79161110005"}]
    text = notification({"contacts": contacts, "messages": [{
        "from": "79161110005", "id": "wamid.IT-TEXT-1", "timestamp": str(now), "type": "text",
        "text": {"body": "Здравствуйте, есть запись к хирургу?"}}]})
    referral = {"source_url": "https://fb.example/ads/it1", "source_id": "120212345678900123",
                "source_type": "ad", "headline": "Имплантация под ключ",
                "body": "Консультация бесплатно", "media_type": "image",
                "image_url": "https://cdn.example/ad.jpg", "ctwa_clid": "ARAkLkA8rmlF-it",
                "welcome_message": {"text": "Здравствуйте!"}}
    ad = notification({"contacts": contacts, "messages": [{
        "from": "79161110005", "id": "wamid.IT-AD-1", "timestamp": str(now), "type": "text",
        "text": {"body": "Расскажите про акцию"}, "referral": referral}]})
    for payload in (text, ad):
        st, _, body = meta_post(stack, "whatsapp", 1, payload)
        assert (st, body) == (200, b""), (st, body)
    status = notification({"statuses": [{"id": "wamid.IT-OUT-1", "status": "delivered",
                                         "timestamp": str(now), "recipient_id": "79161110005"}]})
    st, _, body = meta_post(stack, "whatsapp", 0, status)
    assert (st, body) == (200, b""), (st, body)
    for bad in ("it-whatsapp-app-secret-0002", ""):
        raw = json.dumps(text).encode()
        hdrs = {"X-Hub-Signature-256": "sha256=" + hex_hmac(bad, raw)} if bad else {}
        unauthorized(stack, "whatsapp", raw, hdrs)

    facts = raw_by_id(stack)
    keys = {"phone": "+79161110005", "messenger": "whatsapp:79161110005"}
    who = {"name": "Ахмед", "user_id": "79161110005",
           "phone": phone("+79161110005", "+79161110005")}
    [f] = facts[fact_id("whatsapp", "wamid.IT-TEXT-1")]
    d = check_fact(f, "whatsapp", "wamid.IT-TEXT-1", {
        "contact": who, "text": "Здравствуйте, есть запись к хирургу?",
        "external": {"message_id": "wamid.IT-TEXT-1", "user_id": "79161110005"}},
        keys, now * 1000)
    assert "referral" not in d, d
    [f] = facts[fact_id("whatsapp", "wamid.IT-AD-1")]
    check_fact(f, "whatsapp", "wamid.IT-AD-1", {
        "contact": who, "text": "Расскажите про акцию",
        "referral": {k: referral[k] for k in ("source_id", "source_type", "source_url",
                                              "headline", "ctwa_clid")}}, keys)
    assert fact_id("whatsapp", "wamid.IT-OUT-1") not in facts


def test_instagram(stack):
    handshake(stack, "instagram")
    now_ms = int(time.time() * 1000)

    def notification(message):
        return {"object": "instagram", "entry": [{"id": "17841400000000000", "time": now_ms,
                                                  "messaging": [{
                                                      "sender": {"id": "1784150000000001"},
                                                      "recipient": {"id": "17841400000000000"},
                                                      "timestamp": now_ms,
                                                      "message": message}]}]}

    msg = notification({"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZUlEOjE", "text": "Цена брекетов?"})
    st, _, body = meta_post(stack, "instagram", 1, msg)
    assert (st, body) == (200, b"EVENT_RECEIVED"), (st, body)
    echo = notification({"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZUlEOjI", "text": "Здравствуйте!",
                         "is_echo": True})
    st, _, body = meta_post(stack, "instagram", 0, echo)
    assert (st, body) == (200, b"EVENT_RECEIVED"), (st, body)
    # WhatsApp's app secret is not this channel's
    raw = json.dumps(msg).encode()
    unauthorized(stack, "instagram", raw, {
        "X-Hub-Signature-256": "sha256=" + hex_hmac(cred("whatsapp", "app_secret"), raw)})

    mid = "aWdfZAG1faXRlbToxOklHTWVzc2FnZUlEOjE"
    [f] = raw_by_id(stack)[fact_id("instagram", mid)]
    check_fact(f, "instagram", mid, {
        "contact": {"user_id": "1784150000000001"}, "text": "Цена брекетов?",
        "external": {"message_id": mid, "user_id": "1784150000000001"}},
        {"messenger": "instagram:1784150000000001"}, now_ms)


def test_vk(stack):
    secret = cred("vk", "secret")
    now = int(time.time())

    def event(type_, event_id, obj, **extra):
        return dict({"group_id": 218000001, "type": type_, "event_id": event_id, "v": "5.199",
                     "object": obj, "secret": secret}, **extra)

    st, hdrs, body = nothing(stack, 200, "vk", {"type": "confirmation", "group_id": 218000001})
    assert body == cred("vk", "confirmation").encode(), body
    new = event("message_new", "it-vk-new-1", {"message": {
        "date": now, "from_id": 123456789, "id": 3051, "out": 0, "peer_id": 123456789,
        "conversation_message_id": 2847, "text": "Можно к терапевту в субботу?",
        "ref": "vkcode01"}, "client_info": {"keyboard": True}})
    reply = event("message_reply", "it-vk-reply-1", {
        "date": now + 60, "from_id": -218000001, "id": 3054, "out": 1, "peer_id": 123456789,
        "admin_author_id": 98765432, "text": "Да, суббота 11:00 свободно",
        "conversation_message_id": 2849})
    form = event("lead_forms_new", "it-vk-form-1", {
        "lead_id": 7001, "group_id": 218000001, "user_id": 223456789, "form_id": 12,
        "form_name": "Запись", "ad_id": 555001, "answers": [
            {"key": "first_name", "question": "Имя", "answer": "Лев"},
            {"key": "phone_number", "question": "Телефон", "answer": "+7 916 111-00-09"},
            {"key": "custom_1", "question": "Услуга", "answer": "Имплантация"}]})
    # a message with the person's phone written in it: the phone is read
    # from the text (and keys the person), marked as such
    with_phone = event("message_new", "it-vk-new-2", {"message": {
        "date": now, "from_id": 123456790, "id": 3060, "out": 0, "peer_id": 123456790,
        "conversation_message_id": 2850,
        "text": "Запишите на чистку 12.12 после 18:00, мой номер 8 (916) 111-00-10, Ирина"}})
    for ev in (new, reply, form, with_phone):
        st, _, body = produces(stack, 1, "vk", ev)
        assert (st, body) == (200, b"ok"), (st, body)
    # VK's retry of an event it got no "ok" for: the same fact again
    st, _, body = produces(stack, 1, "vk", new, {"X-Retry-Counter": "1"})
    assert (st, body) == (200, b"ok"), (st, body)
    unauthorized(stack, "vk", dict(new, secret="it-vk-secret-0002"))
    unauthorized(stack, "vk", {k: v for k, v in new.items() if k != "secret"})
    st, _, body = nothing(stack, 200, "vk", event("group_join", "it-vk-join-1",
                                                  {"user_id": 123456789, "join_type": "join"}))
    assert body == b"ok", body

    facts = raw_by_id(stack)
    account = {"messenger": "vk:123456789"}
    copies = facts[fact_id("vk", "it-vk-new-1")]
    assert len(copies) == 2 and copies[0] == copies[1], copies
    check_fact(copies[0], "vk", "it-vk-new-1", {
        "contact": {"user_id": "123456789"}, "text": "Можно к терапевту в субботу?",
        "code": "vkcode01",
        "external": {"chat_id": "123456789", "message_id": "3051", "user_id": "123456789"}},
        account, now * 1000)
    [f] = facts[fact_id("vk", "it-vk-reply-1")]
    d = check_fact(f, "vk", "it-vk-reply-1", {
        "kind": "response", "contact": {"user_id": "123456789"}, "via": "vk",
        "staff_id": "98765432"}, account, (now + 60) * 1000)
    assert "text" not in d, d
    [f] = facts[fact_id("vk", "it-vk-form-1")]
    check_fact(f, "vk", "it-vk-form-1", {
        "contact": {"name": "Лев", "user_id": "223456789",
                    "phone": phone("+7 916 111-00-09", "+79161110009")},
        "text": "Услуга: Имплантация", "form_id": "12",
        "referral": {"source_id": "555001", "source_type": "ad"},
        "external": {"message_id": "7001", "user_id": "223456789"}},
        {"phone": "+79161110009", "messenger": "vk:223456789"})
    [f] = facts[fact_id("vk", "it-vk-new-2")]
    check_fact(f, "vk", "it-vk-new-2", {
        "contact": {"user_id": "123456790", "phone": phone("8 (916) 111-00-10", "+79161110010"),
                    "phone_from_text": True},
        "text": "Запишите на чистку 12.12 после 18:00, мой номер 8 (916) 111-00-10, Ирина",
        "external": {"chat_id": "123456790", "message_id": "3060", "user_id": "123456790"}},
        {"phone": "+79161110010", "messenger": "vk:123456790"}, now * 1000)
    # the person's facts, one per id: the request and the staff's answer
    ids = {i for i, fs in facts.items() if fs[0]["subject"] == contact_key("vk:123456789")}
    assert ids == {fact_id("vk", "it-vk-new-1"), fact_id("vk", "it-vk-reply-1")}, ids

    # A date far off (a clock years wrong, or whoever holds the secret):
    # the message and the reply are still taken, each dated by its arrival,
    # and counted; neither dates a lead in 2100 nor answers one in 2000.
    amended = 'clinicflow_leads_hooks_amended_total{provider="vk",reason="time_out_of_bounds"}'
    before_count = stack.metric(amended)
    ahead = event("message_new", "it-vk-new-3", {"message": {
        "date": 4102444800, "from_id": 123456791, "id": 3070, "out": 0, "peer_id": 123456791,
        "conversation_message_id": 2860, "text": "Добрый день"}})
    behind = event("message_reply", "it-vk-reply-3", {
        "date": 946684800, "from_id": -218000001, "id": 3071, "out": 1, "peer_id": 123456791,
        "admin_author_id": 98765432, "text": "Здравствуйте", "conversation_message_id": 2861})
    for ev in (ahead, behind):
        t0 = int(time.time() * 1000)
        st, _, body = produces(stack, 1, "vk", ev)
        t1 = int(time.time() * 1000)
        assert (st, body) == (200, b"ok"), (st, body)
        [f] = raw_by_id(stack)[fact_id("vk", ev["event_id"])]
        assert t0 - 1000 <= ms_of(f["time"]) <= t1 + 1000, (f["time"], t0, t1)
    assert stack.metric(amended) == before_count + 2


def test_viber(stack):
    token = cred("viber", "auth_token")
    now_ms = int(time.time() * 1000)

    def post(count, payload, key=token):
        raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        return produces(stack, count, "viber", raw, {"X-Viber-Content-Signature":
                                                     hex_hmac(key, raw)})

    # set_webhook's check: signed like the rest, answered 200, no lead
    st, _, body = post(0, {"event": "webhook", "timestamp": now_ms,
                           "chat_hostname": "SN-CHAT-01_", "message_token": 5491234567890123400})
    assert (st, body) == (200, b""), (st, body)
    sender = {"id": "01234567890A=", "name": "Ирина", "language": "ru", "country": "RU",
              "api_version": 10}
    text = {"event": "message", "timestamp": now_ms, "chat_hostname": "SN-CHAT-01_",
            "message_token": 5491234567890123456, "sender": sender, "silent": False,
            "message": {"type": "text", "text": "Хочу на консультацию к ортопеду"}}
    contact = dict(text, message_token=5491234567890123457, message={
        "type": "contact", "contact": {"name": "Ирина", "phone_number": "+79161110006"}})
    started = {"event": "conversation_started", "timestamp": now_ms,
               "message_token": 5491234567890123458, "type": "open", "context": "vbcode01",
               "user": sender, "subscribed": False}
    for payload in (text, contact, started):
        st, _, body = post(1, payload)
        assert (st, body) == (200, b""), (st, body)
    st, _, body = post(0, {"event": "delivered", "timestamp": now_ms,
                           "message_token": 5491234567890123459, "user_id": "01234567890A="})
    assert (st, body) == (200, b""), (st, body)
    st, _, body = post(0, text, key="it-viber-auth-token-0002")
    assert st == 401 and error_of((st, None, body))["code"] == "unauthorized", body
    unauthorized(stack, "viber", json.dumps(text).encode())

    facts = raw_by_id(stack)
    account = {"messenger": "viber:01234567890A="}
    who = {"name": "Ирина", "user_id": "01234567890A="}
    ext = {"user_id": "01234567890A="}
    key = "message:5491234567890123456"
    [f] = facts[fact_id("viber", key)]
    check_fact(f, "viber", key, {
        "contact": who, "text": "Хочу на консультацию к ортопеду",
        "external": dict(ext, message_id="5491234567890123456")}, account, now_ms)
    key = "message:5491234567890123457"
    [f] = facts[fact_id("viber", key)]
    check_fact(f, "viber", key, {
        "contact": dict(who, phone=phone("+79161110006", "+79161110006")),
        "external": dict(ext, message_id="5491234567890123457")},
        dict(account, phone="+79161110006"))
    key = "conversation_started:5491234567890123458"
    [f] = facts[fact_id("viber", key)]
    check_fact(f, "viber", key, {"contact": who, "code": "vbcode01", "external": ext}, account)


def test_wrong_provider(stack):
    """A channel is reached only under its own provider: another's name is
    404, whatever the request carries."""
    for provider, ch in (("telegram", "it-vk"), ("whatsapp", "it-instagram"),
                         ("email", "it-tilda")):
        st, _, body = nothing(stack, 404, provider, {}, path=hook_path(provider, ch))
        assert error_of((st, None, body))["code"] == "not_found", body


if __name__ == "__main__":
    run_tests([test_tilda, test_cf7, test_jivo, test_email, test_telegram, test_whatsapp,
               test_instagram, test_vk, test_viber, test_wrong_provider],
              extra_env={"CLINICFLOW_LEADS_REPLAY_WINDOW_S": str(REPLAY_WINDOW_S)})
