"""Shared set-up for the leads service's integration tests: a fresh database
with the demo network (plus the leads tests' own channels) and keys, an own
devbroker (so topic contents belong to this test alone), and the service as
a real process; helpers to post to a channel, read leads.raw and leads.v1,
and query PostgreSQL."""
import copy
import json
import os
import time
import urllib.parse

import cfstack

DEMO = os.path.join(os.environ["CLINICFLOW_SOURCE_DIR"], "deploy", "local", "demo-network.json")
RAW = "clinicflow.leads.raw.v1"
LEADS = "clinicflow.leads.v1"
TASKS = "clinicflow.tasks.v1"
FORM = "application/x-www-form-urlencoded"

# Our own form endpoint's channels, added to the demo network: one with the
# default field names, one with a field map (a WordPress-style form).
FORM_TOKEN = "it-form-token-0001"
MAPPED_TOKEN = "it-mapped-token-0001"
TEST_CHANNELS = [
    {
        "id": "it-form",
        "kind": "form",
        "provider": "generic",
        "clinic_id": "demo-center",
        "credentials": {"token": FORM_TOKEN},
        "honeypot": "website",
    },
    {
        "id": "it-mapped",
        "kind": "form",
        "provider": "generic",
        "clinic_id": "demo-north",
        "credentials": {"token": MAPPED_TOKEN},
        "field_map": {"name": "your-name", "phone": "your-tel", "comment": "your-message"},
    },
]
# A channel per provider with test credentials (test_channels.py signs its
# requests with them), spread over the clinics.
TEST_CHANNELS += [
    {"id": "it-" + p, "kind": kind, "provider": p, "clinic_id": clinic, "credentials": cred}
    for p, kind, clinic, cred in (
        ("tilda", "form", "demo-north", {"url_token": "it-tilda-url-token-0001"}),
        ("cf7", "form", "demo-south", {"url_token": "it-cf7-url-token-0001"}),
        ("jivo", "form", "demo-center", {"url_token": "it-jivo-url-token-0001"}),
        ("email", "messenger", "demo-north", {"signing_key": "it-email-signing-key-0001"}),
        ("telegram", "messenger", "demo-south", {"secret_token": "it-telegram-secret-0001"}),
        ("whatsapp", "messenger", "demo-center",
         {"app_secret": "it-whatsapp-app-secret-0001", "verify_token": "it-wa-verify-0001"}),
        ("instagram", "messenger", "demo-north",
         {"app_secret": "it-instagram-app-secret-0001", "verify_token": "it-ig-verify-0001"}),
        ("vk", "messenger", "demo-south",
         {"secret": "it-vk-secret-0001", "confirmation": "it-vk-confirm-01"}),
        ("viber", "messenger", "demo-center", {"auth_token": "it-viber-auth-token-0001"}),
    )
]

# A second network (B) applied beside the demo one, for the walls between
# tenants: one clinic, one form channel.
NETWORK_B = cfstack.small_network("it-other", "it-other-contact-key-secret-01", "it-other-clinic", [{
    "id": "it-other-form",
    "kind": "form",
    "provider": "generic",
    "clinic_id": "it-other-clinic",
    "credentials": {"token": "it-other-form-token-01"},
}])


demo_network = cfstack.demo_network


def test_network():
    """The demo network with the leads tests' channels."""
    doc = copy.deepcopy(demo_network())
    ids = {c["id"] for c in doc.get("channels", [])}
    doc.setdefault("channels", []).extend(c for c in TEST_CHANNELS if c["id"] not in ids)
    return doc


contact_key = cfstack.contact_key


wait_until = cfstack.wait_until


apply_doc = cfstack.apply_network


class Stack(cfstack.ServiceStack):
    """A database, a devbroker and one or more clinicflow-leads instances.
    Every topic's reader checks what it reads against proto/ (leads.raw's
    facts too), unless a test asks for the raw bytes (validate=False)."""

    def __init__(self, instances=1, extra_env=None, network_b=False):
        self.extra_env = extra_env or {}
        super().__init__()
        apply_doc(self.dsn, test_network())
        if network_b:
            apply_doc(self.dsn, NETWORK_B)
            self.keys["other_ingest"] = cfstack.create_key(self.dsn, NETWORK_B["id"], "ingest")
        self.start(instances)

    def service_env(self):
        """The environment the stack's services run with."""
        return self.env_for(**self.extra_env)

    def start_service(self, env=None):
        svc = cfstack.Service("leads", {**self.service_env(), **(env or {})})
        svc.start()
        return svc

    # --- posting ---

    def post(self, path, data=b"", headers=None, method="POST", svc=None):
        """A request to the service; returns (status, headers, body)."""
        if isinstance(data, str):
            data = data.encode()
        return cfstack.http(method, (svc or self.svc).url(path), data, headers or {})

    def post_form(self, channel="it-form", body=None, token=FORM_TOKEN, form=False,
                  headers=None, provider="generic", query=""):
        """Posts body to /v1/hooks/leads/{provider}/{channel}: a dict as JSON,
        or URL-encoded with form=True (then the token goes as a form field
        unless token is None); bytes as they are. The token as a Bearer
        header for JSON."""
        hdrs = {}
        if form:
            params = dict(body or {})
            if token is not None:
                params.setdefault("token", token)
            data = urllib.parse.urlencode(params).encode()
            hdrs["Content-Type"] = FORM
        else:
            data = body if isinstance(body, bytes) else json.dumps(
                body or {}, ensure_ascii=False).encode()
            hdrs["Content-Type"] = "application/json"
            if token is not None:
                hdrs["Authorization"] = "Bearer " + token
        hdrs.update(headers or {})
        return self.post(hook_path(provider, channel) + query, data, hdrs)

    def post_event(self, lead_id, body, key=None, raw=None):
        """POSTs an event to /v1/leads/{lead_id}/events with an ingest key."""
        hdrs = {"Content-Type": "application/json",
                "Authorization": "Bearer " + (key or self.keys["ingest"])}
        data = raw if raw is not None else json.dumps(body).encode()
        return self.post("/v1/leads/%s/events" % lead_id, data, hdrs)

    # --- reading ---

    def reader(self, topic, validate=True):
        return cfstack.TopicReader(self.broker.bootstrap, topic, validate=validate)

    def raw_facts(self):
        """The envelopes on leads.raw (with "_key": the message key), in
        partition and offset order."""
        out = []
        for m in self.reader(RAW).read():
            if m["payload"] is not None:
                ev = json.loads(m["payload"])
                ev["_key"] = m["key"]
                out.append(ev)
        return out

    def wait_raw(self, event_id, timeout=30):
        """The leads.raw fact with that id, once there."""
        found = []

        def seen():
            found[:] = [e for e in self.raw_facts() if e["id"] == event_id]
            return bool(found)

        wait_until(seen, timeout, "fact %s on leads.raw" % event_id)
        return found[0]

    def leads_events(self, lead_id=None):
        """The events on leads.v1 (about lead_id when given)."""
        out = []
        for m in self.reader(LEADS).read():
            if m["payload"] is not None:
                ev = json.loads(m["payload"])
                if lead_id is None or ev.get("subject") == lead_id:
                    out.append(ev)
        return out

    def sql(self, query):
        """Rows of a query on the stack's database (lists of strings)."""
        return cfstack.psql(self.dsn, query)

    def metric(self, line_start, svc=None):
        """The value of the /metrics line that starts with line_start, or 0."""
        return cfstack.metric(svc or self.svc, line_start)


# A form whose sender gives it no id is keyed by its content and the ten
# minutes it came in (LEADS_FORM_RESEND_MS, providers/form_fields.h).
RESEND_MS = 600000


def resend_period(margin_s=20):
    """The number of the ten minutes a form sent now is keyed by, once they
    have margin_s or more to run (waits at most that long), so that a
    test's resend of it within margin_s falls in the same ones."""
    while time.time() * 1000 % RESEND_MS > RESEND_MS - margin_s * 1000:
        time.sleep(0.5)
    return int(time.time() * 1000) // RESEND_MS


def hook_path(provider, channel_id, sub=""):
    return "/v1/hooks/leads/%s/%s%s" % (provider, channel_id, sub)


def error_of(reply):
    """The error object of a JSON error reply."""
    return json.loads(reply[2])["error"]


def run_tests(tests, **stack_args):
    """Runs the tests in order on one Stack, then exits with their status."""
    cfstack.run_on_stack(Stack, tests, **stack_args)
