"""clinicflowctl against a real PostgreSQL: migrate (twice), apply the demo
network (twice: the second changes nothing), apply it with one clinic
removed, reject an invalid file without touching the database, and manage
API keys (only the key's SHA-256 is stored).

The test creates a database of its own on the server of
CLINICFLOW_TEST_PG_DSN and drops it at the end; the steps run in order and
share it.
"""
import copy
import hashlib
import json
import os
import re
import tempfile

import cfstack
from cfstack import psql

BASE_DSN = os.environ.get("CLINICFLOW_TEST_PG_DSN", "")
STATE = {}

CONFIG_TABLES = ("networks", "clinics", "channels", "tracking_numbers", "number_pools",
                 "blocklist", "api_keys", "version")


def ctl(*args, check=True):
    return cfstack.clinicflowctl(STATE["dsn"], *args, check=check)


def scalar(sql):
    rows = psql(STATE["dsn"], sql)
    assert len(rows) == 1, rows
    return rows[0][0]


def count(table, where="true"):
    return int(scalar("SELECT count(*) FROM config.%s WHERE %s" % (table, where)))


def version():
    return int(scalar("SELECT v FROM config.version"))


def config_dump():
    """Every row of every config table, as text, in a stable order."""
    out = {}
    for table in CONFIG_TABLES:
        out[table] = psql(STATE["dsn"], "SELECT t::text FROM config.%s t ORDER BY 1" % table)
    return out


def write_json(doc, name):
    path = os.path.join(STATE["tmp"].name, name)
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
    return path


def without_clinic(doc, clinic_id):
    """The document with one clinic and everything that refers to it removed."""
    doc = copy.deepcopy(doc)
    doc["clinics"] = [c for c in doc["clinics"] if c["id"] != clinic_id]
    # a gateway belongs to its clinic and goes with it; other channels stay
    doc["channels"] = [ch for ch in doc.get("channels", [])
                       if not (ch["kind"] == "gateway" and ch.get("clinic_id") == clinic_id)]
    for ch in doc.get("channels", []):
        if ch.get("clinic_id") == clinic_id:
            del ch["clinic_id"]
        if "numbers" in ch:
            ch["numbers"] = {n: c for n, c in ch["numbers"].items() if c != clinic_id}
    doc["tracking_numbers"] = [t for t in doc.get("tracking_numbers", [])
                               if t["clinic_id"] != clinic_id]
    doc["number_pools"] = [p for p in doc.get("number_pools", []) if p["clinic_id"] != clinic_id]
    for section in ("agents", "staff_numbers"):
        doc[section] = [a for a in doc.get(section, []) if a.get("clinic_id") != clinic_id]
    return doc


def setup():
    if not BASE_DSN:
        raise cfstack.StackError("CLINICFLOW_TEST_PG_DSN is not set (run through ./tests/run)")
    STATE["dsn"] = cfstack.new_database(BASE_DSN)
    STATE["db"] = STATE["dsn"].rsplit("/", 1)[1].split("?")[0]
    STATE["tmp"] = tempfile.TemporaryDirectory(prefix="cf-ctl-")
    STATE["demo"] = cfstack.demo_network()
    STATE["demo_path"] = cfstack.demo_network_path()


def test_migrate_twice():
    for _ in range(2):
        p = ctl("migrate")
        assert "schema config: up to date" in p.stdout, p.stdout
    schemas = {r[0] for r in psql(STATE["dsn"], "SELECT schema_name FROM information_schema.schemata")}
    for s in ("config", "calls", "leads", "reminders", "analytics"):
        assert s in schemas, (s, schemas)
    assert int(scalar("SELECT count(*) FROM config.schema_migrations")) >= 1
    assert int(scalar("SELECT count(*) FROM config.schema_migrations WHERE version = 1")) == 1
    assert version() == 0


def test_apply_demo():
    p = ctl("apply", "-f", STATE["demo_path"])
    assert "applied" in p.stdout, p.stdout
    demo = STATE["demo"]
    assert count("networks") == 1
    assert count("clinics", "network_id = 'demo'") == len(demo["clinics"]) == 3
    assert count("channels") == len(demo["channels"])
    assert count("tracking_numbers") == len(demo["tracking_numbers"]) == 9
    assert count("number_pools") == len(demo["number_pools"]) == 3
    assert count("blocklist") == len(demo["blocklist"])
    assert version() == 1
    stored = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    assert stored == demo
    for pool in demo["number_pools"]:
        numbers = scalar("SELECT array_to_json(numbers)::text FROM config.number_pools"
                         " WHERE id = '%s'" % pool["id"])
        assert json.loads(numbers) == pool["numbers"]


def test_apply_again_changes_nothing():
    before = config_dump()
    p = ctl("apply", "-f", STATE["demo_path"])
    assert "unchanged" in p.stdout, p.stdout
    assert config_dump() == before
    assert version() == 1


def test_show_masks_secrets():
    p = ctl("show")
    out = json.loads(p.stdout)
    assert out["version"] == 1
    [net] = out["networks"]
    assert net["id"] == "demo"
    assert net["secret"] == "***"
    demo = STATE["demo"]
    assert demo["secret"] not in p.stdout
    for ch in net["channels"]:
        src = next(c for c in demo["channels"] if c["id"] == ch["id"])
        assert set(ch.get("credentials", {})) == set(src.get("credentials", {}))
        for name, value in src.get("credentials", {}).items():
            assert ch["credentials"][name] == "***"
            assert value not in p.stdout, name
    one = json.loads(ctl("show", "--network", "demo").stdout)
    assert [n["id"] for n in one["networks"]] == ["demo"]
    missing = ctl("show", "--network", "nope", check=False)
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_apply_dry_run_says_and_changes_nothing():
    """An operator looks before a change: --dry-run names what the file
    would add and remove, and nothing is written (no version for the
    services to reload)."""
    before = config_dump()
    net = without_clinic(STATE["demo"], "demo-south")
    net["channels"].append({"id": "dry-run-form", "kind": "form", "provider": "generic",
                            "clinic_id": "demo-north", "credentials": {"token": "dry-run-token"}})
    p = ctl("apply", "-f", write_json(net, "dry-run.json"), "--dry-run")
    assert "would remove clinic demo-south" in p.stdout, p.stdout
    assert "would add channel dry-run-form" in p.stdout, p.stdout
    assert "nothing was changed" in p.stdout and "applied" not in p.stdout, p.stdout
    assert config_dump() == before
    assert version() == 1
    # a file that does not validate is refused as without --dry-run
    bad = ctl("apply", "-f", write_json({"id": "demo"}, "dry-run-bad.json"), "--dry-run",
              check=False)
    assert bad.returncode == 1 and bad.stdout == "", (bad.stdout, bad.stderr)


def test_apply_with_clinic_removed():
    path = write_json(without_clinic(STATE["demo"], "demo-south"), "two-clinics.json")
    p = ctl("apply", "-f", path)
    assert "removed clinic demo-south" in p.stdout, p.stdout
    assert count("clinics", "id = 'demo-south'") == 0
    assert count("clinics") == 2
    assert count("tracking_numbers", "clinic_id = 'demo-south'") == 0
    assert count("number_pools", "clinic_id = 'demo-south'") == 0
    assert count("tracking_numbers") == 7
    assert version() == 2


def test_invalid_file_changes_nothing():
    before = config_dump()
    bad = copy.deepcopy(STATE["demo"])
    bad["clinics"][1]["working_hours"]["mon"][0] = "9-14"
    path = write_json(bad, "bad-hours.json")
    p = ctl("apply", "-f", path, check=False)
    assert p.returncode == 1, (p.returncode, p.stdout, p.stderr)
    expected = '%s: $.clinics[1].working_hours.mon[0]: expected "HH:MM-HH:MM"' % path
    assert expected in p.stderr, p.stderr
    assert p.stdout == ""

    bad = copy.deepcopy(STATE["demo"])
    bad["channels"][0]["provider"] = "nokia"
    path = write_json(bad, "bad-provider.json")
    p = ctl("apply", "-f", path, check=False)
    assert p.returncode == 1
    assert "$.channels[0].provider: unknown telephony provider" in p.stderr, p.stderr

    bad = copy.deepcopy(STATE["demo"])
    asterisk = next(i for i, c in enumerate(bad["channels"]) if c["provider"] == "asterisk")
    bad["channels"][asterisk]["staff_leg"] = True
    path = write_json(bad, "bad-staff-leg.json")
    p = ctl("apply", "-f", path, check=False)
    assert p.returncode == 1
    assert ("$.channels[%d].staff_leg: only twilio channels have a staff leg" % asterisk
            in p.stderr), p.stderr

    # a Twilio channel's continuation after a dial nobody answered: only
    # with a staff leg, and a URL
    twilio = next(i for i, c in enumerate(STATE["demo"]["channels"])
                  if c["provider"] == "twilio" and c.get("staff_leg"))
    for value, want in ((True, "expected an http:// or https:// URL"),
                        ("ftp://clinic.example/vm", "expected an http:// or https:// URL"),
                        ("https://clinic.example/" + "v" * 300, "of at most 300 bytes")):
        bad = copy.deepcopy(STATE["demo"])
        bad["channels"][twilio]["after_dial_url"] = value
        p = ctl("apply", "-f", write_json(bad, "bad-after-dial.json"), check=False)
        assert p.returncode == 1 and ("$.channels[%d].after_dial_url: " % twilio) in p.stderr \
            and want in p.stderr, p.stderr
    bad = copy.deepcopy(STATE["demo"])
    bad["channels"][twilio]["staff_leg"] = False
    bad["channels"][twilio]["after_dial_url"] = "https://clinic.example/vm"
    p = ctl("apply", "-f", write_json(bad, "bad-after-dial.json"), check=False)
    assert p.returncode == 1 and "only a twilio channel with a staff leg" in p.stderr, p.stderr

    # two reminders gateways sending from one Twilio number: the patients'
    # replies would reach one of them only
    bad = copy.deepcopy(STATE["demo"])
    south = next(c for c in bad["channels"] if c["kind"] == "gateway"
                 and c["provider"] == "twilio")
    twin = copy.deepcopy(south)
    twin["id"], twin["clinic_id"] = "demo-center-twilio", "demo-center"
    bad["channels"] = [c for c in bad["channels"]
                       if not (c["kind"] == "gateway" and c.get("clinic_id") == "demo-center")]
    bad["channels"].append(twin)
    p = ctl("apply", "-f", write_json(bad, "bad-gateway-from.json"), check=False)
    assert p.returncode == 1 and "credentials.from: %s is the \"from\" of the gateway at" \
        % south["credentials"]["from"] in p.stderr, p.stderr

    path = os.path.join(STATE["tmp"].name, "broken.json")
    with open(path, "w") as f:
        f.write('{"id": "demo",\n  "name": }\n')
    p = ctl("apply", "-f", path, check=False)
    assert p.returncode == 1
    assert path + ":2:" in p.stderr and "invalid JSON" in p.stderr, p.stderr
    assert config_dump() == before


def assert_rejected(doc, name, message):
    """apply refuses doc (exit 1, nothing printed on stdout) with message on
    stderr; the caller checks that nothing was written."""
    path = write_json(doc, name)
    p = ctl("apply", "-f", path, check=False)
    assert p.returncode == 1, (name, p.returncode, p.stdout, p.stderr)
    assert "%s: %s" % (path, message) in p.stderr, (message, p.stderr)
    assert p.stdout == ""


def test_agent_maps_validated():
    """The agents and staff_numbers maps: each mistake is named by its path."""
    demo = STATE["demo"]
    assert demo["agents"] and demo["staff_numbers"]
    before = config_dump()

    def with_agents(agents=None, staff=None):
        doc = copy.deepcopy(demo)
        if agents is not None:
            doc["agents"] = agents
        if staff is not None:
            doc["staff_numbers"] = staff
        return doc

    ok = {"provider": "mango", "id": "101", "group": "call_center"}
    assert_rejected(with_agents([ok, dict(ok, id="102", group="marketing")]), "bad-group.json",
                    '$.agents[1].group: unknown group "marketing";'
                    " expected one of call_center, reception")
    assert_rejected(with_agents([ok, dict(ok, group="reception")]), "dup-agent.json",
                    '$.agents[1]: duplicate mango agent "101" (also at $.agents[0])')
    # The same extension of another clinic's PBX is another agent; twice
    # for one clinic is a duplicate again.
    north = dict(ok, clinic_id="demo-north", group="reception")
    assert_rejected(with_agents([ok, north, north]), "dup-clinic-agent.json",
                    '$.agents[2]: duplicate mango agent "101" for clinic demo-north'
                    " (also at $.agents[1])")
    assert_rejected(with_agents([dict(ok, provider="telegram")]), "agent-provider.json",
                    '$.agents[0].provider: unknown telephony provider "telegram"')
    assert_rejected(with_agents([dict(ok, clinic_id="demo-east")]), "agent-clinic.json",
                    '$.agents[0].clinic_id: unknown clinic "demo-east"')
    assert_rejected(with_agents([dict(ok, id=101)]), "agent-id.json",
                    "$.agents[0].id: expected a string")
    assert_rejected(with_agents([dict(ok, ext="101")]), "agent-member.json",
                    "$.agents[0].ext: unknown member")
    assert_rejected(with_agents([{"provider": "mango", "id": "101"}]), "agent-nogroup.json",
                    '$.agents[0]: missing member "group"')

    staff = {"number": "+74990000901", "group": "reception"}
    assert_rejected(with_agents(staff=[dict(staff, number="8 499 000-09-01")]),
                    "staff-e164.json",
                    '$.staff_numbers[0].number: expected E.164 form "+74990000901"')
    assert_rejected(with_agents(staff=[dict(staff, number="reception")]), "staff-phone.json",
                    '$.staff_numbers[0].number: "reception" is not a phone number')
    assert_rejected(with_agents(staff=[staff, dict(staff, group="call_center")]),
                    "dup-staff.json",
                    "$.staff_numbers[1]: duplicate staff number +74990000901"
                    " (also at $.staff_numbers[0])")
    assert_rejected(with_agents(staff=[dict(staff, group="front_desk")]), "staff-group.json",
                    '$.staff_numbers[0].group: unknown group "front_desk"')
    assert_rejected(with_agents(staff={"+74990000901": "reception"}), "staff-array.json",
                    "$.staff_numbers: expected an array")
    assert config_dump() == before

    # The demo's maps themselves are stored with the network's document.
    stored = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    assert stored["agents"] == [a for a in demo["agents"] if a.get("clinic_id") != "demo-south"]


def test_lead_settings_validated():
    """What leads channels and clinics may say: a form's field map (our field
    names only, the form's names as strings) and honeypot, the generic form's
    token, the e-mail channel's Mailgun signing key, a Telegram bot's
    username, a clinic's response due time, merge window and outgoing lead
    webhook. Each mistake is refused by its path; then a document with every
    member set is applied and stored as it is."""
    before = config_dump()
    stored = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    by_id = {c["id"]: i for i, c in enumerate(stored["channels"])}
    form, email, tg, vk, jivo, tilda = (by_id[c] for c in (
        "demo-form", "demo-email", "demo-telegram", "demo-vk", "demo-jivo", "demo-tilda"))

    def with_channel(i, **members):
        doc = copy.deepcopy(stored)
        for k, val in members.items():
            if val is None:
                doc["channels"][i].pop(k, None)
            else:
                doc["channels"][i][k] = val
        return doc

    def with_clinic(**members):
        doc = copy.deepcopy(stored)
        doc["clinics"][0].update(members)
        return doc

    ch = "$.channels[%d]" % form
    fmap = stored["channels"][form]["field_map"]
    assert_rejected(with_channel(form, field_map=dict(fmap, utm_foo="utm_foo")), "map-field.json",
                    "%s.field_map.utm_foo: unknown lead field; expected one of name, phone," % ch)
    assert_rejected(with_channel(form, field_map=dict(fmap, clinic_id="clinic")), "map-ours.json",
                    "%s.field_map.clinic_id: unknown lead field" % ch)
    assert_rejected(with_channel(form, field_map=dict(fmap, phone=7)), "map-type.json",
                    "%s.field_map.phone: expected a non-empty string" % ch)
    assert_rejected(with_channel(form, field_map=dict(fmap, phone="your tel")), "map-space.json",
                    "%s.field_map.phone: expected the form's field name:" % ch)
    assert_rejected(with_channel(form, honeypot=1), "honeypot-type.json",
                    "%s.honeypot: expected a string" % ch)
    assert_rejected(with_channel(form, honeypot=fmap["phone"]), "honeypot-mapped.json",
                    '%s.honeypot: "%s" is the form\'s field for phone' % (ch, fmap["phone"]))
    assert_rejected(with_channel(form, credentials={}), "form-token.json",
                    '%s.credentials: missing member "token" (required by generic)' % ch)
    assert_rejected(with_channel(form, credentials={"url_token": "x" * 20}), "form-cred.json",
                    "%s.credentials.url_token: unknown member; generic credentials are: token"
                    % ch)
    assert_rejected(with_channel(form, bot_username="clinicflow_demo_bot"), "form-bot.json",
                    "%s.bot_username: only telegram channels have a bot username" % ch)

    # Tilda fills COOKIES itself ("send cookies"): a honeypot named so
    # would drop every lead as a bot's
    assert_rejected(with_channel(tilda, honeypot="cookies"), "tilda-honeypot.json",
                    '$.channels[%d].honeypot: "cookies" is a field the tilda adapter reads;'
                    % tilda)
    # Tilda's and CF7's fields (providers/form_fields.c) are not quite our
    # form's: clinic_id and form_id there, clinic and code here.
    assert_rejected(with_channel(tilda, field_map={"code": "code"}), "tilda-map.json",
                    "$.channels[%d].field_map.code: unknown lead field" % tilda)
    # A telephony channel's map is UIS's, of the UIS adapter's call fields:
    # a typo would lose that field from every call.
    uis = next(i for i, c in enumerate(stored["channels"]) if c["provider"] == "uis")
    umap = stored["channels"][uis]["field_map"]
    assert_rejected(with_channel(uis, field_map=dict(umap, form="contact_phone_number")),
                    "uis-map.json", "$.channels[%d].field_map.form: unknown call field;"
                    " expected one of call_id, event, direction, from, to," % uis)
    # Zadarma's API base: the service builds recording links on it, and
    # takes none that is not a URL of at most 200 bytes
    zadarma = next(i for i, c in enumerate(stored["channels"]) if c["provider"] == "zadarma")
    zcred = stored["channels"][zadarma]["credentials"]
    for bad in ("api.zadarma.example", "https://" + "z" * 200 + ".example"):
        assert_rejected(with_channel(zadarma, credentials=dict(zcred, api_base=bad)),
                        "zadarma-base.json", "$.channels[%d].credentials.api_base: expected an"
                        " http:// or https:// URL of at most 200 bytes" % zadarma)
    mango = next(i for i, c in enumerate(stored["channels"]) if c["provider"] == "mango")
    assert_rejected(with_channel(mango, field_map={"from": "from"}), "mango-map.json",
                    "$.channels[%d].field_map: of the telephony providers only uis has a field"
                    " map" % mango)
    ch = "$.channels[%d]" % jivo
    assert_rejected(with_channel(jivo, field_map={"phone": "tel"}), "jivo-map.json",
                    "%s.field_map: only generic, tilda, cf7 and telephony channels have a field"
                    " map" % ch)
    assert_rejected(with_channel(jivo, honeypot="website"), "jivo-honeypot.json",
                    "%s.honeypot: only generic, tilda and cf7 forms have a honeypot field" % ch)

    ch = "$.channels[%d]" % email
    assert_rejected(with_channel(email, credentials={"url_token": "demo-email-url-token-1"}),
                    "email-cred.json", "%s.credentials.url_token: unknown member; email"
                    " credentials are: signing_key" % ch)
    assert_rejected(with_channel(email, credentials={"signing_key": ""}), "email-empty.json",
                    "%s.credentials.signing_key: expected a non-empty string" % ch)
    assert_rejected(with_channel(email, field_map={"email": "from"}), "email-map.json",
                    "%s.field_map: only generic, tilda, cf7 and telephony channels have a field"
                    " map" % ch)
    assert_rejected(with_channel(email, honeypot="website"), "email-honeypot.json",
                    "%s.honeypot: only form channels have a honeypot field" % ch)

    ch = "$.channels[%d]" % tg
    for bad in ("@clinicflow_demo_bot", "clinicflow_demo", "bot", "clinic-flow_bot",
                "a" * 30 + "bot"):
        assert_rejected(with_channel(tg, bot_username=bad), "bot.json",
                        "%s.bot_username: expected a bot's username without the @" % ch)
    assert_rejected(with_channel(vk, bot_username="clinicflow_demo_bot"), "vk-bot.json",
                    "$.channels[%d].bot_username: only telegram channels have a bot username" % vk)

    hook = {"url": "https://crm.clinicflow.example/hooks/leads?clinic=center",
            "secret": "demo-lead-webhook-secret-0001"}
    for member, value, message in [
        ("lead_response_due_s", 0, "expected an integer from 1 to 604800"),
        ("lead_response_due_s", 604801, "expected an integer from 1 to 604800"),
        ("lead_response_due_s", "600", "expected an integer from 1 to 604800"),
        ("lead_response_due_s", 600.5, "expected an integer from 1 to 604800"),
        ("lead_merge_window_s", -1, "expected an integer from 0 to 31536000"),
        ("lead_merge_window_s", 31536001, "expected an integer from 0 to 31536000"),
        ("lead_webhook", "https://crm.clinicflow.example/hooks/leads",
         "expected an object with members url and secret"),
    ]:
        assert_rejected(with_clinic(**{member: value}), "clinic-lead.json",
                        "$.clinics[0].%s: %s" % (member, message))
    for url in ("ftp://crm.clinicflow.example/x", "https://user:pw@crm.clinicflow.example/x",
                "https://crm.clinicflow.example/a b", "https://crm.clinicflow.example/x#top",
                "https:///x", "crm.clinicflow.example/x", "https://crm.clinicflow.example:99999/"):
        assert_rejected(with_clinic(lead_webhook=dict(hook, url=url)), "hook-url.json",
                        "$.clinics[0].lead_webhook.url: expected an http or https URL")
    assert_rejected(with_clinic(lead_webhook={"url": hook["url"]}), "hook-secret.json",
                    '$.clinics[0].lead_webhook: missing member "secret"')
    assert_rejected(with_clinic(lead_webhook=dict(hook, secret="short-secret")), "hook-short.json",
                    "$.clinics[0].lead_webhook.secret: must be at least 16 characters")
    assert_rejected(with_clinic(lead_webhook=dict(hook, token="x")), "hook-member.json",
                    "$.clinics[0].lead_webhook.token: unknown member")
    assert config_dump() == before

    # Every member at once, at the edges of its range, is accepted and kept.
    doc = with_clinic(lead_response_due_s=604800, lead_merge_window_s=0,
                      lead_webhook=dict(hook, url="http://127.0.0.1:9/leads"))
    doc["clinics"][1].update(lead_response_due_s=1, lead_webhook=hook)
    every_field = ["name", "phone", "email", "comment", "service", "clinic", "code", "consent",
                   "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid",
                   "yclid", "fbclid", "ym_uid", "client_id", "referrer", "page_url"]
    doc["channels"][form]["field_map"] = {f: "f_" + f for f in every_field}
    doc["channels"][form]["honeypot"] = "f_website"
    doc["channels"][tilda]["field_map"] = {
        f: "F" + f for f in ["name", "phone", "email", "comment", "service", "clinic_id",
                             "clinic", "consent", "form_id", "utm_source", "gclid", "ym_uid",
                             "page_url"]}
    doc["channels"][tg]["bot_username"] = "ClinicFlow_Demo_Bot"
    p = ctl("apply", "-f", write_json(doc, "leads-all.json"))
    assert "applied" in p.stdout, p.stdout
    assert json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'")) == doc
    assert json.loads(scalar("SELECT doc::text FROM config.clinics WHERE id = '%s'"
                             % doc["clinics"][1]["id"]))["lead_webhook"] == hook


def test_reminder_settings_validated():
    """A clinic's own reminder policy and a reminder gateway channel: each
    mistake refused by its path, then both applied and stored."""
    before = config_dump()
    stored = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    gateway = {"id": "it-dialer", "kind": "gateway", "provider": "webhook",
               "clinic_id": stored["clinics"][0]["id"],
               "credentials": {"url": "https://dialer.example/hook", "secret": "s3cret-value"}}
    # the clinic's own gateway (the demo's) makes way for the test's: one a clinic
    own = [i for i, c in enumerate(stored["channels"])
           if c["kind"] == "gateway" and c.get("clinic_id") == gateway["clinic_id"]]
    twice = copy.deepcopy(stored)
    twice["channels"].append(gateway)
    assert own, stored["channels"]
    assert_rejected(twice, "gw-twice.json", '$.channels[%d].clinic_id: clinic "%s" has a'
                    ' gateway already (at $.channels[%d])'
                    % (len(stored["channels"]), gateway["clinic_id"], own[0]))
    without_own = copy.deepcopy(stored)
    without_own["channels"] = [c for i, c in enumerate(stored["channels"]) if i not in own]
    n = len(without_own["channels"])

    def with_gateway(**members):
        doc = copy.deepcopy(without_own)
        doc["channels"].append(dict(gateway, **members))
        for k in [k for k, v in members.items() if v is None]:
            doc["channels"][-1].pop(k)
        return doc

    def with_policy(policy):
        doc = copy.deepcopy(without_own)
        doc["clinics"][0]["reminder_policy"] = policy
        return doc

    ch = "$.channels[%d]" % n
    assert_rejected(with_gateway(clinic_id=None), "gw-clinic.json",
                    "%s.clinic_id: a gateway channel belongs to a clinic" % ch)
    assert_rejected(with_gateway(credentials={"url": "ftp://x", "secret": "s"}), "gw-url.json",
                    "%s.credentials.url: expected an http:// or https:// URL" % ch)
    assert_rejected(with_gateway(credentials={"url": "https://x"}), "gw-secret.json",
                    "%s.credentials" % ch)
    assert_rejected(with_gateway(provider="pigeon"), "gw-provider.json",
                    "%s.provider: unknown gateway provider" % ch)
    twilio = {"account_sid": "AC" + "0" * 32, "auth_token": "t0ken", "api_url": "https://api.x"}
    twilio["from"] = "+74950000999"

    def without(cred, key):
        return {k: v for k, v in cred.items() if k != key}

    assert_rejected(with_gateway(provider="twilio", credentials=without(twilio, "api_url")),
                    "gw-twilio-api.json",
                    '%s.credentials: missing member "api_url" (required by twilio)' % ch)
    assert_rejected(with_gateway(provider="twilio", credentials=without(twilio, "from")),
                    "gw-twilio-none.json",
                    '%s.credentials: twilio needs "from" (robot calls and SMS) or' % ch)
    assert_rejected(with_gateway(provider="smsru", credentials={
        "api_id": "a", "callback_token": "c"}), "gw-smsru-api.json",
        '%s.credentials: missing member "api_url" (required by smsru)' % ch)
    assert_rejected(with_gateway(provider="twilio", credentials=dict(twilio, machine_detection="yes")),
                    "gw-twilio-amd.json", '%s.credentials.machine_detection: expected "1"' % ch)
    assert_rejected(with_gateway(provider="twilio", credentials=dict(twilio, from_="x")),
                    "gw-twilio-member.json", "%s.credentials" % ch)
    assert_rejected(with_gateway(provider="twilio", credentials=dict(twilio, **{"from": "8495"})),
                    "gw-twilio-from.json",
                    '%s.credentials.from: "8495" is not a phone number' % ch)
    # a number written as a person would: Twilio takes E.164 only
    assert_rejected(with_gateway(provider="twilio",
                                 credentials=dict(twilio, **{"from": "+7 (495) 000-03-99"})),
                    "gw-twilio-from-spaced.json",
                    '%s.credentials.from: expected E.164 form "+74950000399"' % ch)
    for bad in ("http://", "https://user@host.example/x", "https://host.example/a b"):
        assert_rejected(with_gateway(provider="twilio", credentials=dict(twilio, api_url=bad)),
                        "gw-twilio-url.json",
                        "%s.credentials.api_url: expected an http:// or https:// URL" % ch)
    assert_rejected(with_gateway(provider="smsru", credentials={
        "api_id": "a", "callback_token": "c", "api_url": "https://api.x", "test": "yes"}),
        "gw-smsru-test.json", '%s.credentials.test: expected "1"' % ch)
    assert_rejected(with_policy({"offsets_hours": [0]}), "pol-zero.json",
                    "$.clinics[0].reminder_policy.offsets_hours[0]")
    assert_rejected(with_policy({"offsets_hours": list(range(1, 10))}), "pol-many.json",
                    "$.clinics[0].reminder_policy.offsets_hours: at most 8 reminders a visit")
    assert_rejected(with_policy({"offsets_hours": [24, 2, 24]}), "pol-twice.json",
                    "$.clinics[0].reminder_policy.offsets_hours: an offset listed twice")
    pol = "$.clinics[0].reminder_policy"
    for name, policy, message in [
            ("pol-retries", {"call_retries": 11},
             "call_retries: expected an integer from 0 to 10"),
            ("pol-dup", {"duplicate_hours": 169},
             "duplicate_hours: expected an integer from 0 to 168"),
            ("pol-holdout", {"holdout_percent": 51},
             "holdout_percent: expected an integer from 0 to 50"),
            ("pol-reinvite", {"reinvite": "yes"}, "reinvite: expected true or false"),
            ("pol-recall", {"recall": 1}, "recall: expected true or false"),
            ("pol-recall-again", {"recall_again_days": 0},
             "recall_again_days: expected an integer from 1 to 365"),
            ("pol-price", {"sms_price_per_segment": -0.01},
             "sms_price_per_segment: expected a number of at least 0"),
            ("pol-price-str", {"sms_price_per_segment": "3.35"},
             "sms_price_per_segment: expected a number of at least 0"),
            ("pol-currency", {"currency": "rub"},
             "currency: expected an ISO 4217 code of 3 capital letters"),
            ("pol-currency-len", {"currency": "RUBL"},
             "currency: expected an ISO 4217 code of 3 capital letters"),
            ("pol-lang", {"templates": {"de": {"sms": "Termin {date}"}}},
             "templates.de: unknown language; expected one of ru, en"),
            ("pol-channel", {"templates": {"ru": {"email": "x"}}},
             "templates.ru.email: unknown member"),
            ("pol-placeholder", {"templates": {"en": {"sms": "Hi {name}, see you {date}"}}},
             "templates.en.sms: unknown placeholder {name}"),
            ("pol-empty", {"templates": {"ru": {"call": ""}}},
             "templates.ru.call: must not be empty"),
            ("pol-long", {"templates": {"ru": {"sms": "я" * 501}}},
             "templates.ru.sms: longer than 1000"),
            # a survey's SMS without its page's link: no answer could come
            ("pol-nps-link", {"templates": {"ru": {"nps": "Оцените визит в {clinic}"}}},
             "templates.ru.nps: a survey's SMS needs {link}"),
    ]:
        assert_rejected(with_policy(policy), name + ".json", "%s.%s" % (pol, message))
    net = copy.deepcopy(stored)
    net["reminder_policies"] = dict(net.get("reminder_policies", {}), call_retries=-1)
    assert_rejected(net, "net-retries.json",
                    "$.reminder_policies.call_retries: expected an integer from 0 to 10")
    assert config_dump() == before
    full = {"offsets_hours": [48, 2], "call_retries": 10, "retry_minutes": 30,
            "sms_fallback": False, "duplicate_hours": 0, "sms_price_per_segment": 3.35,
            "currency": "KZT",
            "templates": {
                "ru": {"call": "Здравствуйте, {first_name}! {clinic}: приём у {doctor} {date} в "
                               "{time}. Нажмите 1, чтобы подтвердить визит, 2 — чтобы отменить, "
                               "3 — чтобы перенести, 9 — чтобы мы больше не звонили.",
                       "sms": "{date} {time} {clinic}, {address} { } {. Ответьте 1 — "
                              "подтвердить, 2 — отменить. Отписаться: СТОП"},
                "en": {"sms": "x" * 1000}}}
    doc = with_policy(full)
    doc["channels"].append(gateway)
    ctl("apply", "-f", write_json(doc, "reminders-ok.json"))
    got = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    assert got["clinics"][0]["reminder_policy"] == full
    assert scalar("SELECT kind FROM config.channels WHERE id = 'it-dialer'") == "gateway"
    # back as it was, for the tests after this one
    ctl("apply", "-f", write_json(stored, "reminders-back.json"))


def test_what_the_services_read_is_validated():
    """What a service would refuse or misread is refused by its path: more
    intervals a day than the services keep, a CORS origin no browser sends,
    the host's own time zone, a second pool for a clinic, allowed sources on
    a gateway. What they
    read is accepted: allowed sources on a messenger, a Twilio gateway that
    sends SMS through its messaging service only."""
    before = config_dump()
    stored = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))

    def changed(fn):
        doc = copy.deepcopy(stored)
        fn(doc)
        return doc

    nine = ["%02d:00-%02d:30" % (h, h) for h in range(9, 18)]
    assert_rejected(changed(lambda d: d["clinics"][0].update(calling_windows=nine)),
                    "windows-nine.json", "$.clinics[0].calling_windows: at most 8 intervals")
    assert_rejected(changed(lambda d: d["clinics"][0]["working_hours"].update(mon=nine)),
                    "hours-nine.json", "$.clinics[0].working_hours.mon: at most 8 intervals")
    for i, origin in enumerate(["https://Demo-Center.example", "https://x.example:443",
                                "http://x.example:80"]):
        assert_rejected(changed(lambda d: d["clinics"][0].update(cors_origins=[origin])),
                        "origin-%d.json" % i, "$.clinics[0].cors_origins[0]: expected an origin"
                        " as browsers send it")
    clinic = stored["number_pools"][0]["clinic_id"]
    second = dict(stored["number_pools"][0], id="pool-second", numbers=["+74950007777"])
    n = len(stored["number_pools"])
    assert_rejected(changed(lambda d: d["number_pools"].append(second)), "pool-second.json",
                    '$.number_pools[%d].clinic_id: clinic "%s" has a pool already' % (n, clinic))
    # the host's own zone: each container's would decide the clinic's time
    assert_rejected(changed(lambda d: d["clinics"][0].update(timezone="localtime")),
                    "tz-localtime.json", '$.clinics[0].timezone: unknown time zone "localtime"')
    gw = next(i for i, c in enumerate(stored["channels"]) if c["kind"] == "gateway")
    assert_rejected(changed(lambda d: d["channels"][gw].update(allowed_sources=["10.0.0.0/8"])),
                    "gw-sources.json", "$.channels[%d].allowed_sources: a gateway receives no"
                                       " webhooks" % gw)
    assert config_dump() == before

    tg = next(i for i, c in enumerate(stored["channels"]) if c["provider"] == "telegram")

    def accepted(d):
        d["channels"][tg]["allowed_sources"] = ["149.154.160.0/20", "91.108.4.0/22"]
        d["clinics"][0]["calling_windows"] = nine[:8]
        d["clinics"][0]["cors_origins"] = ["https://x.example:8443"]
        for c in d["channels"]:
            if c["kind"] == "gateway" and c["provider"] == "twilio":
                c["credentials"].pop("from", None)
                c["credentials"]["messaging_service_sid"] = "MG" + "0" * 32
    ctl("apply", "-f", write_json(changed(accepted), "services-ok.json"))
    got = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    assert got["channels"][tg]["allowed_sources"][0] == "149.154.160.0/20", got["channels"][tg]
    ctl("apply", "-f", write_json(stored, "services-back.json"))


def test_show_masks_lead_webhook_secret():
    """show masks a clinic's lead_webhook secret as it masks credentials
    (the document test_lead_settings_validated applied has two), and its
    URL's path and query (a CRM's inbound URL often holds its token)."""
    stored = json.loads(scalar("SELECT doc::text FROM config.networks WHERE id = 'demo'"))
    hooks = [c["lead_webhook"] for c in stored["clinics"] if "lead_webhook" in c]
    assert hooks, stored["clinics"]
    p = ctl("show")
    [net] = json.loads(p.stdout)["networks"]
    shown = [c["lead_webhook"] for c in net["clinics"] if "lead_webhook" in c]

    def masked_url(url):
        scheme, rest = url.split("://", 1)
        host = rest.split("/")[0].split("?")[0]
        return url if host == rest else "%s://%s/***" % (scheme, host)
    assert shown == [dict(h, secret="***", url=masked_url(h["url"])) for h in hooks], shown
    assert any(h["url"] != masked_url(h["url"]) for h in hooks), hooks
    for h in hooks:
        assert h["secret"] not in p.stdout
        assert h["url"] == masked_url(h["url"]) or h["url"] not in p.stdout


def test_keys():
    v0 = version()
    p = ctl("key", "create", "--network", "demo", "--scope", "ingest,read", "--name", "demo crm")
    lines = p.stdout.splitlines()
    assert len(lines) == 1, p.stdout
    key = lines[0]
    assert re.fullmatch(r"cfk_[0-9A-Za-z]{40}", key), key
    digest = hashlib.sha256(key.encode()).hexdigest()
    rows = psql(STATE["dsn"], "SELECT id::text, encode(hash, 'hex'), array_to_string(scopes, ','),"
                " name, revoked_at IS NULL FROM config.api_keys")
    assert len(rows) == 1, rows
    key_id, stored_hash, scopes, name, active = rows[0]
    assert stored_hash == digest
    assert scopes == "ingest,read" and name == "demo crm" and active == "t"
    assert key not in json.dumps(config_dump())
    assert version() == v0 + 1

    listing = ctl("key", "list").stdout
    assert listing.splitlines()[0].split("\t") == ["ID", "NETWORK", "SCOPES", "NAME", "CREATED",
                                                   "REVOKED", "CLINICS"]
    row = listing.splitlines()[1].split("\t")
    assert row[:4] == [key_id, "demo", "ingest,read", "demo crm"], row
    assert row[5] == "-"
    assert key not in listing and digest not in listing
    assert len(ctl("key", "list", "--network", "other").stdout.splitlines()) == 1

    second = ctl("key", "create", "--network", "demo", "--scope", "admin").stdout.strip()
    assert second != key

    p = ctl("key", "revoke", key_id)
    assert int(scalar("SELECT count(*) FROM config.api_keys WHERE id = '%s'"
                      " AND revoked_at IS NOT NULL" % key_id)) == 1
    assert version() == v0 + 3
    row = [r for r in ctl("key", "list").stdout.splitlines() if r.startswith(key_id)][0]
    assert row.split("\t")[5] != "-", row
    assert ctl("key", "revoke", key_id).returncode == 0  # already revoked: harmless
    assert version() == v0 + 3

    assert ctl("key", "revoke", "00000000-0000-4000-8000-000000000000",
               check=False).returncode == 1
    assert ctl("key", "create", "--network", "nope", "--scope", "read",
               check=False).returncode == 1
    assert ctl("key", "create", "--network", "demo", "--scope", "write",
               check=False).returncode == 2
    assert ctl("key", "create", "--network", "demo", check=False).returncode == 2

    # a read key limited to clinics: stored, listed; an unknown clinic
    # creates nothing
    before = scalar("SELECT count(*) FROM config.api_keys")
    p = ctl("key", "create", "--network", "demo", "--scope", "read", "--clinic", "demo-north",
            "--clinic", "demo-center", check=False)
    assert p.returncode == 0 and "limited to clinics" in p.stderr, p.stderr
    limited = p.stdout.strip()
    row = psql(STATE["dsn"], "SELECT id::text, array_to_string(clinics, ',') FROM config.api_keys"
               " WHERE hash = decode('%s', 'hex')" % hashlib.sha256(limited.encode()).hexdigest())
    assert len(row) == 1 and sorted(row[0][1].split(",")) == ["demo-center", "demo-north"], row
    listed = [r for r in ctl("key", "list").stdout.splitlines() if r.startswith(row[0][0])][0]
    assert sorted(listed.split("\t")[6].split(",")) == ["demo-center", "demo-north"], listed
    p = ctl("key", "create", "--network", "demo", "--scope", "read", "--clinic", "nowhere",
            check=False)
    assert p.returncode == 1 and 'no clinic "nowhere"' in p.stderr, p.stderr
    # an ingest key limited to clinics: every route it is for would refuse it
    p = ctl("key", "create", "--network", "demo", "--scope", "ingest", "--clinic", "demo-north",
            check=False)
    assert p.returncode == 2 and "read (or admin) key" in p.stderr, p.stderr
    assert scalar("SELECT count(*) FROM config.api_keys") == str(int(before) + 1)


def test_dsn_option_overrides_environment():
    p = cfstack.clinicflowctl("postgresql://nobody@127.0.0.1:1/none", "--dsn", STATE["dsn"],
                              "show")
    assert json.loads(p.stdout)["networks"][0]["id"] == "demo"
    p = cfstack.clinicflowctl("postgresql://nobody@127.0.0.1:1/none", "show", check=False)
    assert p.returncode == 1 and "could not connect" in p.stderr, p.stderr


def teardown():
    if "db" in STATE:
        psql(BASE_DSN, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % STATE["db"])
    if "tmp" in STATE:
        STATE["tmp"].cleanup()


if __name__ == "__main__":
    try:
        cfstack.run([setup, test_migrate_twice, test_apply_demo, test_apply_again_changes_nothing,
                     test_show_masks_secrets, test_apply_dry_run_says_and_changes_nothing,
                     test_apply_with_clinic_removed,
                     test_invalid_file_changes_nothing, test_agent_maps_validated,
                     test_lead_settings_validated, test_reminder_settings_validated,
                     test_what_the_services_read_is_validated,
                     test_show_masks_lead_webhook_secret,
                     test_keys,
                     test_dsn_option_overrides_environment], exit=False)
    finally:
        cfstack.run([teardown], exit=False)
    cfstack.exit_status()
