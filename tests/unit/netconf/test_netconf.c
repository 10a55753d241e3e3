/*
 * Unit tests of the network configuration. The validator is driven by a
 * table of mutations of one valid base document: each case sets (or
 * deletes) one value by a slash-separated path and names the exact error
 * expected, so every error path of the validator is pinned by its message.
 * The demo network shipped in deploy/local must validate. Key
 * authorization and the lookups run on a snapshot built by hand.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cftest.h"
#include "common/err.h"
#include "common/hash.h"
#include "common/netconf.h"
#include "common/xmalloc.h"
#include "netconf_testable.h"
#include "validate.h"

static const char base_doc[] =
    "{\"id\":\"net-1\",\"name\":\"Net\",\"secret\":\"0123456789abcdef\","
    "\"timezone\":\"Europe/Moscow\","
    "\"clinics\":["
    " {\"id\":\"c1\",\"name\":\"C1\",\"address\":\"A1\",\"timezone\":\"Europe/Moscow\","
    "  \"working_hours\":{\"mon\":[\"09:00-14:00\",\"15:00-20:00\"]},"
    "  \"holidays\":[\"2026-12-31\"],\"calling_windows\":[\"10:00-18:00\",\"20:00-21:00\"],"
    "  \"languages\":[\"ru\"],\"default_phone\":\"+74950000001\","
    "  \"cors_origins\":[\"https://c1.example\"]},"
    " {\"id\":\"c2\",\"name\":\"C2\",\"address\":\"A2\",\"timezone\":\"Asia/Yekaterinburg\","
    "  \"working_hours\":{\"sun\":[]},\"default_phone\":\"+74950000002\"}"
    "],"
    "\"channels\":["
    " {\"id\":\"ch-mango\",\"kind\":\"telephony\",\"provider\":\"mango\","
    "  \"credentials\":{\"vpbx_api_key\":\"k\",\"vpbx_api_salt\":\"s\"},"
    "  \"timezone\":\"Europe/Moscow\",\"numbers\":{\"+74950000010\":\"c1\"}},"
    " {\"id\":\"ch-tg\",\"kind\":\"messenger\",\"provider\":\"telegram\","
    "  \"credentials\":{\"secret_token\":\"abc_DEF-123\"}},"
    " {\"id\":\"ch-form\",\"kind\":\"form\",\"provider\":\"generic\",\"clinic_id\":\"c2\","
    "  \"credentials\":{\"token\":\"form-token-1\"},\"honeypot\":\"website\","
    "  \"field_map\":{\"phone\":\"tel\"}}"
    "],"
    "\"tracking_numbers\":["
    " {\"number\":\"+74950000020\",\"clinic_id\":\"c1\",\"source\":\"yandex_direct\","
    "  \"medium\":\"cpc\",\"campaign\":\"x\",\"valid_from\":\"2026-01-01\","
    "  \"valid_to\":\"2026-06-30\"},"
    " {\"number\":\"+74950000020\",\"clinic_id\":\"c1\",\"source\":\"avito\","
    "  \"valid_from\":\"2026-07-01\"}"
    "],"
    "\"number_pools\":[{\"id\":\"p1\",\"clinic_id\":\"c1\","
    " \"numbers\":[\"+74990000001\",\"+74990000002\"],\"hold_seconds\":600}],"
    "\"blocklist\":[\"+74950000099\"],"
    "\"reminder_policies\":{\"offsets_hours\":[24],\"custom\":\"kept\"}"
    "}";

/* a service category one character too long */
#define A65 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* "Имплантация" (11 letters) in JSON; three of it are 33 characters in 66
 * bytes, a category name a byte count would refuse */
#define IMPLANT "\\u0418\\u043c\\u043f\\u043b\\u0430\\u043d\\u0442\\u0430\\u0446\\u0438\\u044f"

struct mutation {
    const char *path;     /* "clinics/0/working_hours/mon/0"; "-" appends to an array */
    const char *value;    /* JSON text to set, NULL to delete */
    const char *expected; /* the whole error, NULL when the result is valid */
};

static const struct mutation cases[] = {
    /* still valid */
    {"clinics/0/working_hours/mon/1", "\"15:00-24:00\"", NULL},
    {"channels", NULL, NULL},
    {"reminder_policies", NULL, NULL},
    {"clinics/1/working_hours/sat", "[\"10:00-12:00\"]", NULL},
    {"clinics/0/languages/-", "\"en-GB\"", NULL},
    {"clinics/0/cors_origins/-", "\"http://localhost:8080\"", NULL},
    {"currency", "\"RUB\"", NULL},
    /* network */
    {"bogus", "1", "$.bogus: unknown member"},
    {"id", NULL, "$: missing member \"id\""},
    {"id", "\"Net_1\"", "$.id: expected an id of 1-64 characters from a-z, 0-9 and \"-\""},
    {"name", "5", "$.name: expected a string"},
    {"name", "\"\"", "$.name: must not be empty"},
    {"secret", "\"short\"", "$.secret: must be at least 16 characters"},
    {"timezone", "\"Mars/Olympus\"",
     "$.timezone: unknown time zone \"Mars/Olympus\"; expected an IANA name like "
     "\"Europe/Moscow\""},
    {"timezone", "\"../../etc/passwd\"",
     "$.timezone: unknown time zone \"../../etc/passwd\"; expected an IANA name like "
     "\"Europe/Moscow\""},
    {"timezone", "\"zone.tab\"",
     "$.timezone: unknown time zone \"zone.tab\"; expected an IANA name like \"Europe/Moscow\""},
    {"currency", "\"rub\"", "$.currency: must be an ISO 4217 code: three capital letters"},
    {"currency", "\"RU\"", "$.currency: must be an ISO 4217 code: three capital letters"},
    {"currency", "\"RUBL\"", "$.currency: longer than 3 bytes (UTF-8)"},
    {"currency", "643", "$.currency: expected a string"},
    {"clinics", NULL, "$: missing member \"clinics\""},
    {"clinics", "{}", "$.clinics: expected an array"},
    /* clinics */
    {"clinics/0", "\"c1\"", "$.clinics[0]: expected an object"},
    {"clinics/1/id", "\"c1\"",
     "$.clinics[1].id: duplicate clinic id \"c1\" (also at $.clinics[0])"},
    {"clinics/0/adress", "\"x\"", "$.clinics[0].adress: unknown member"},
    {"clinics/0/address", NULL, "$.clinics[0]: missing member \"address\""},
    {"clinics/1/timezone", NULL, "$.clinics[1]: missing member \"timezone\""},
    {"clinics/1/working_hours/mon", "[\"9:00-14:00\"]",
     "$.clinics[1].working_hours.mon[0]: expected \"HH:MM-HH:MM\""},
    {"clinics/0/working_hours/mon/0", "\"09:00-24:30\"",
     "$.clinics[0].working_hours.mon[0]: expected \"HH:MM-HH:MM\""},
    {"clinics/0/working_hours/mon/0", "\"14:00-09:00\"",
     "$.clinics[0].working_hours.mon[0]: start must be before end"},
    {"clinics/0/working_hours/mon/1", "\"13:00-20:00\"",
     "$.clinics[0].working_hours.mon[1]: intervals must be in order and must not overlap"},
    {"clinics/0/working_hours/funday", "[]",
     "$.clinics[0].working_hours.funday: unknown day; expected one of mon, tue, wed, thu, fri, "
     "sat, sun"},
    {"clinics/0/working_hours", "[]",
     "$.clinics[0].working_hours: expected an object with members mon..sun"},
    {"clinics/0/working_hours/tue", "\"09:00-18:00\"",
     "$.clinics[0].working_hours.tue: expected an array of \"HH:MM-HH:MM\""},
    {"clinics/0/holidays/0", "\"2026-02-30\"",
     "$.clinics[0].holidays[0]: expected a date \"YYYY-MM-DD\""},
    {"clinics/0/holidays/-", "\"2026-12-31\"", "$.clinics[0].holidays[1]: duplicate date"},
    {"clinics/0/calling_windows/1", "\"17:00-21:00\"",
     "$.clinics[0].calling_windows[1]: intervals must be in order and must not overlap"},
    {"clinics/0/languages", "[]", "$.clinics[0].languages: expected a non-empty array of strings"},
    {"clinics/0/languages/0", "\"Russian\"",
     "$.clinics[0].languages[0]: expected a language code like \"ru\""},
    {"clinics/0/default_phone", "\"8 495 000-00-01\"",
     "$.clinics[0].default_phone: expected E.164 form \"+74950000001\""},
    {"clinics/0/default_phone", "\"hello\"",
     "$.clinics[0].default_phone: \"hello\" is not a phone number; expected E.164 like "
     "\"+74950000000\""},
    {"clinics/0/default_phone", "74950000001",
     "$.clinics[0].default_phone: expected a phone number string in E.164 form like "
     "\"+74950000000\""},
    {"clinics/0/cors_origins/0", "\"https://c1.example/path\"",
     "$.clinics[0].cors_origins[0]: expected an origin as browsers send it (lower case, no "
     "default port) like \"https://clinic.example\""},
    {"clinics/0/cors_origins/0", "\"ftp://c1.example\"",
     "$.clinics[0].cors_origins[0]: expected an origin as browsers send it (lower case, no "
     "default port) like \"https://clinic.example\""},
    /* channels */
    {"channels/0/kind", "\"phone\"",
     "$.channels[0].kind: expected one of telephony, messenger, form, gateway"},
    {"channels/0/provider", "\"telegram\"",
     "$.channels[0].provider: unknown telephony provider \"telegram\"; expected one of twilio, "
     "asterisk, mango, zadarma, sipuni, uis, generic"},
    {"channels/0/credentials/vpbx_api_salt", NULL,
     "$.channels[0].credentials: missing member \"vpbx_api_salt\" (required by mango)"},
    {"channels/0/credentials/token", "\"x\"",
     "$.channels[0].credentials.token: unknown member; mango credentials are: vpbx_api_key, "
     "vpbx_api_salt"},
    {"channels/0/credentials/vpbx_api_key", "\"\"",
     "$.channels[0].credentials.vpbx_api_key: expected a non-empty string"},
    {"channels/0/credentials", NULL, "$.channels[0]: missing member \"credentials\""},
    {"channels/2/credentials", "{\"secret\":\"x\"}",
     "$.channels[2].credentials.secret: unknown member; generic credentials are: token"},
    {"channels/2/credentials", NULL, "$.channels[2]: missing member \"credentials\""},
    {"channels/1/honeypot", "\"website\"",
     "$.channels[1].honeypot: only form channels have a honeypot field"},
    {"channels/2/honeypot", "7", "$.channels[2].honeypot: expected a string"},
    {"channels/2/honeypot", "\"tel\"",
     "$.channels[2].honeypot: \"tel\" is the form's field for phone; a honeypot is a field "
     "people leave empty"},
    {"channels/2/honeypot", "\"TEL\"",
     "$.channels[2].honeypot: \"TEL\" is the form's field for phone; a honeypot is a field "
     "people leave empty"},
    /* a field the adapter reads when the map names none, or for itself */
    {"channels/2/honeypot", "\"email\"",
     "$.channels[2].honeypot: \"email\" is a field the generic adapter reads; a honeypot is a "
     "field people leave empty, under a name no form uses (\"website\", \"fax\")"},
    {"channels/2/honeypot", "\"token\"",
     "$.channels[2].honeypot: \"token\" is a field the generic adapter reads; a honeypot is a "
     "field people leave empty, under a name no form uses (\"website\", \"fax\")"},
    {"channels/2/honeypot", "\"Phone\"",
     "$.channels[2].honeypot: \"Phone\" is a field the generic adapter reads; a honeypot is a "
     "field people leave empty, under a name no form uses (\"website\", \"fax\")"},
    /* 16 bytes, 8 characters: PostgreSQL counts characters */
    {"secret", "\"\u0441\u0435\u043a\u0440\u0435\u0442\u0438\u043a\"",
     "$.secret: must be at least 16 characters"},
    {"reminder_policies/max_attempts", "2",
     "$.reminder_policies.max_attempts: renamed call_retries (the calls after the first one: "
     "max_attempts - 1)"},
    {"clinics/0/lead_response_due_s", "0",
     "$.clinics[0].lead_response_due_s: expected an integer from 1 to 604800"},
    {"channels/1/credentials/secret_token", "\"has space\"",
     "$.channels[1].credentials.secret_token: expected 1-256 characters from A-Z, a-z, 0-9, _ "
     "and -"},
    {"channels/1/id", "\"ch-mango\"",
     "$.channels[1].id: duplicate channel id \"ch-mango\" (also at $.channels[0])"},
    {"channels/0/numbers/+74950000011", "\"c9\"",
     "$.channels[0].numbers[\"+74950000011\"]: unknown clinic \"c9\""},
    {"channels/0/numbers/84950000011", "\"c1\"",
     "$.channels[0].numbers[\"84950000011\"]: expected E.164 form \"+74950000011\""},
    {"channels/1/numbers", "{}",
     "$.channels[1].numbers: only telephony channels map numbers to "
     "clinics"},
    {"channels/2/clinic_id", "\"c9\"", "$.channels[2].clinic_id: unknown clinic \"c9\""},
    {"channels/0/timezone", "\"Moscow\"",
     "$.channels[0].timezone: unknown time zone \"Moscow\"; expected an IANA name like "
     "\"Europe/Moscow\""},
    {"channels/2/field_map/phone", "1",
     "$.channels[2].field_map.phone: expected a non-empty string"},
    {"channels/2/field_map", "[]", "$.channels[2].field_map: expected an object of strings"},
    {"channels/2/secret", "\"x\"", "$.channels[2].secret: unknown member"},
    /* a telephony channel's provider addresses, read as the calls service reads them */
    {"channels/0/allowed_sources", "[\"203.0.113.0/24\",\"2001:db8::/32\",\"192.0.2.7\"]", NULL},
    {"channels/0/allowed_sources", "[\"203.0.113.0/33\"]",
     "$.channels[0].allowed_sources[0]: expected an address or CIDR network (203.0.113.0/24)"},
    {"channels/0/allowed_sources", "[\"10.0.0.1, 10.0.0.2\"]",
     "$.channels[0].allowed_sources[0]: expected an address or CIDR network (203.0.113.0/24)"},
    {"channels/0/allowed_sources", "[]",
     "$.channels[0].allowed_sources: expected a non-empty array of addresses or CIDR networks"},
    /* a form's and a messenger's too (the leads service reads them) */
    {"channels/2/allowed_sources", "[\"192.0.2.7\"]", NULL},
    {"channels/1/allowed_sources", "[\"149.154.160.0/20\"]", NULL},
    /* an origin as a browser sends it: lower case, no default port */
    {"clinics/0/cors_origins/0", "\"https://C1.example\"",
     "$.clinics[0].cors_origins[0]: expected an origin as browsers send it (lower case, no "
     "default port) like \"https://clinic.example\""},
    {"clinics/0/cors_origins/0", "\"https://c1.example:443\"",
     "$.clinics[0].cors_origins[0]: expected an origin as browsers send it (lower case, no "
     "default port) like \"https://clinic.example\""},
    {"clinics/0/cors_origins/0", "\"https://c1.example:8443\"", NULL},
    /* tracking numbers */
    {"tracking_numbers/1/valid_from", "\"2026-06-30\"",
     "$.tracking_numbers[1].number: +74950000020 is already tracked for an overlapping period "
     "at $.tracking_numbers[0]"},
    {"tracking_numbers/0/valid_to", "\"2025-12-31\"",
     "$.tracking_numbers[0].valid_to: must not be before valid_from"},
    {"tracking_numbers/0/valid_from", "\"01.01.2026\"",
     "$.tracking_numbers[0].valid_from: expected a date \"YYYY-MM-DD\""},
    {"tracking_numbers/0/clinic_id", "\"c9\"",
     "$.tracking_numbers[0].clinic_id: unknown clinic "
     "\"c9\""},
    {"tracking_numbers/0/source", NULL, "$.tracking_numbers[0]: missing member \"source\""},
    {"tracking_numbers/0/number", "\"+7495\"",
     "$.tracking_numbers[0].number: \"+7495\" is not a phone number; expected E.164 like "
     "\"+74950000000\""},
    /* pools */
    {"number_pools/0/numbers/1", "\"+74950000020\"",
     "$.number_pools[0].numbers[1]: +74950000020 is already used at $.tracking_numbers[0]"},
    {"number_pools/0/numbers/1", "\"+74990000001\"",
     "$.number_pools[0].numbers[1]: +74990000001 is already used at $.number_pools[0].numbers[0]"},
    {"number_pools/0/hold_seconds", "5",
     "$.number_pools[0].hold_seconds: expected an integer from 30 to 86400"},
    {"number_pools/0/numbers", "[]",
     "$.number_pools[0].numbers: expected a non-empty array of phone numbers"},
    {"number_pools/-", "{\"id\":\"p1\",\"clinic_id\":\"c2\",\"numbers\":[\"+74990000009\"]}",
     "$.number_pools[1].id: duplicate pool id \"p1\" (also at $.number_pools[0])"},
    /* block list */
    {"blocklist/-", "\"+74950000099\"",
     "$.blocklist[1]: duplicate number (also at $.blocklist[0])"},
    {"blocklist/0", "\"anonymous\"",
     "$.blocklist[0]: \"anonymous\" is not a phone number; expected E.164 like \"+74950000000\""},
    {"blocklist", "{}", "$.blocklist: expected an array of phone numbers"},
    /* reminder policies */
    {"reminder_policies/offsets_hours/0", "0",
     "$.reminder_policies.offsets_hours[0]: expected whole hours from 1 to 720"},
    {"reminder_policies/sms_fallback", "\"yes\"",
     "$.reminder_policies.sms_fallback: expected true or false"},
    {"reminder_policies/call_retries", "11",
     "$.reminder_policies.call_retries: expected an integer from 0 to 10"},
    {"reminder_policies", "[]", "$.reminder_policies: expected an object"},
    /* recall per service category, campaign pacing per front-desk seat */
    {"reminder_policies/recall_months_by_category",
     "{\"implants\": 12, \"hygiene\": 6, \"" IMPLANT IMPLANT IMPLANT "\": 60}", NULL},
    {"reminder_policies/recall_months_by_category", "{}", NULL},
    {"reminder_policies/recall_months_by_category", "[6, 12]",
     "$.reminder_policies.recall_months_by_category: expected an object of service categories "
     "and months"},
    {"reminder_policies/recall_months_by_category", "{\"implants\": 0}",
     "$.reminder_policies.recall_months_by_category.implants: expected months from 1 to 60"},
    {"reminder_policies/recall_months_by_category", "{\"implants\": \"12\"}",
     "$.reminder_policies.recall_months_by_category.implants: expected months from 1 to 60"},
    {"reminder_policies/recall_months_by_category", "{\"\": 6}",
     "$.reminder_policies.recall_months_by_category[\"\"]: a service category is 1-64 "
     "characters, as appointments carry it"},
    {"reminder_policies/recall_months_by_category", "{\"" A65 "\": 6}",
     "$.reminder_policies.recall_months_by_category." A65 ": a service category is 1-64 "
     "characters, as appointments carry it"},
    {"reminder_policies/seats", "3", NULL},
    {"reminder_policies/seats", "0",
     "$.reminder_policies.seats: expected an integer from 1 to 100"},
    {"reminder_policies/tasks_per_seat_hour", "61",
     "$.reminder_policies.tasks_per_seat_hour: expected an integer from 1 to 60"},
    {"clinics/0/reminder_policy", "{\"seats\": 2, \"tasks_per_seat_hour\": 8}", NULL},
    {"clinics/0/reminder_policy", "{\"tasks_per_seat_hour\": 6.5}",
     "$.clinics[0].reminder_policy.tasks_per_seat_hour: expected an integer from 1 to 60"},
};

/* Sets or deletes the value at a slash-separated path; 0 on success. */
static int mutate(json_t *j_doc, const char *path, const char *value)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *j_parent = j_doc;
    char *part = buf;
    for (;;) {
        char *slash = strchr(part, '/');
        if (slash)
            *slash = '\0';
        int last = slash == NULL;
        if (last) {
            json_t *j_value = NULL;
            if (value) {
                json_error_t jerr;
                j_value = json_loads(value, JSON_DECODE_ANY, &jerr);
                if (!j_value)
                    return -1;
            }
            if (json_is_object(j_parent))
                return value ? json_object_set_new(j_parent, part, j_value)
                             : json_object_del(j_parent, part);
            if (strcmp(part, "-") == 0)
                return json_array_append_new(j_parent, j_value);
            size_t idx = (size_t)strtoul(part, NULL, 10);
            return value ? json_array_set_new(j_parent, idx, j_value)
                         : json_array_remove(j_parent, idx);
        }
        j_parent = json_is_object(j_parent)
                       ? json_object_get(j_parent, part)
                       : json_array_get(j_parent, (size_t)strtoul(part, NULL, 10));
        if (!j_parent)
            return -1;
        part = slash + 1;
    }
}

static void test_validator_cases(void)
{
    char errbuf[512];
    json_error_t jerr;
    json_t *j_base = json_loads(base_doc, JSON_REJECT_DUPLICATES, &jerr);
    if (!j_base)
        fprintf(stderr, "base document: %s\n", jerr.text);
    CHECK(j_base != NULL);
    if (!j_base)
        return;
    CHECK_INT(ctl_validate_network(j_base, errbuf, sizeof(errbuf)), 0);

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct mutation *c = &cases[i];
        json_t *j_doc = json_deep_copy(j_base);
        int rc = mutate(j_doc, c->path, c->value);
        if (rc != 0)
            fprintf(stderr, "case %zu (%s): could not mutate\n", i, c->path);
        CHECK_INT(rc, 0);
        errbuf[0] = '\0';
        rc = ctl_validate_network(j_doc, errbuf, sizeof(errbuf));
        if (c->expected) {
            CHECK_INT(rc, CF_EINVAL);
            CHECK_STR(errbuf, c->expected);
        } else {
            if (rc != 0)
                fprintf(stderr, "case %zu (%s): unexpected error: %s\n", i, c->path, errbuf);
            CHECK_INT(rc, 0);
        }
        json_decref(j_doc);
    }
    json_decref(j_base);

    json_t *j_arr = json_array();
    CHECK_INT(ctl_validate_network(j_arr, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_STR(errbuf, "$: expected an object");
    json_decref(j_arr);
}

static void test_demo_network(void)
{
    char errbuf[512] = "";
    json_error_t jerr;
    json_t *j_demo = json_load_file(CF_SOURCE_DIR "/deploy/local/demo-network.json",
                                    JSON_REJECT_DUPLICATES, &jerr);
    if (!j_demo)
        fprintf(stderr, "demo-network.json: %d:%d: %s\n", jerr.line, jerr.column, jerr.text);
    CHECK(j_demo != NULL);
    int rc = ctl_validate_network(j_demo, errbuf, sizeof(errbuf));
    if (rc != 0)
        fprintf(stderr, "demo-network.json: %s\n", errbuf);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(json_object_get(j_demo, "clinics")), 3);
    CHECK_INT(json_array_size(json_object_get(j_demo, "tracking_numbers")), 9);
    json_decref(j_demo);
}

static void test_timezones(void)
{
    CHECK_INT(ctl_valid_timezone("Europe/Moscow"), 1);
    CHECK_INT(ctl_valid_timezone("UTC"), 1);
    CHECK_INT(ctl_valid_timezone("America/Argentina/Buenos_Aires"), 1);
    CHECK_INT(ctl_valid_timezone("zone.tab"), 0);
    CHECK_INT(ctl_valid_timezone("Europe/../Europe/Moscow"), 0);
    CHECK_INT(ctl_valid_timezone("/etc/localtime"), 0);
    CHECK_INT(ctl_valid_timezone("Europe"), 0);
    /* a zone the services cannot read is refused before it is applied:
     * "right/" zones count leap seconds, which the services do not take */
    CHECK_INT(access("/usr/share/zoneinfo/right/Europe/Moscow", R_OK), 0); /* tzdata has it */
    CHECK_INT(ctl_valid_timezone("right/Europe/Moscow"), 0);
    CHECK_INT(ctl_valid_timezone("localtime"), 0);
    CHECK_INT(ctl_valid_timezone("Factory"), 0);
    CHECK_INT(ctl_valid_timezone(""), 0);
}

/* A snapshot of one network ("n1", clinics a and c), two channels and two
 * keys, built the way the loader builds it. */
static struct cf_netconf_snapshot *make_snapshot(void)
{
    static const char *const clinic_ids[] = {"a", "c"};
    struct cf_netconf_snapshot *snap = cf_xcalloc(1, sizeof(*snap));
    snap->refs = 1;
    snap->version = 7;
    snap->nnetworks = 1;
    snap->networks = cf_xcalloc(1, sizeof(*snap->networks));
    struct cf_network *net = &snap->networks[0];
    net->id = cf_xstrdup("n1");
    net->name = cf_xstrdup("Network one");
    net->secret = cf_xstrdup("0123456789abcdef");
    net->tz = cf_xstrdup("Europe/Moscow");
    net->nclinics = 2;
    net->clinics = cf_xcalloc(2, sizeof(*net->clinics));
    for (size_t i = 0; i < 2; i++) {
        net->clinics[i].id = cf_xstrdup(clinic_ids[i]);
        net->clinics[i].name = cf_xstrdup(clinic_ids[i]);
        net->clinics[i].tz = cf_xstrdup("Europe/Moscow");
    }
    snap->nchannels = 2;
    snap->channels = cf_xcalloc(2, sizeof(*snap->channels));
    for (size_t i = 0; i < 2; i++) {
        snap->channels[i].id = cf_xstrdup(i == 0 ? "ch-a" : "ch-b");
        snap->channels[i].network_id = cf_xstrdup("n1");
        snap->channels[i].kind = cf_xstrdup("telephony");
        snap->channels[i].provider = cf_xstrdup("mango");
    }
    uint8_t hash[32];
    cf_sha256("cfk_ingest", strlen("cfk_ingest"), hash);
    cf_netconf_add_key(snap, "k1", hash, CF_SCOPE_INGEST, net);
    cf_sha256("cfk_readadmin", strlen("cfk_readadmin"), hash);
    cf_netconf_add_key(snap, "k2", hash, CF_SCOPE_READ | CF_SCOPE_ADMIN, net);
    return snap;
}

/* A route's check: the header's key, its grant, the grant's network. */
static int authorize(const struct cf_netconf_snapshot *snap, const char *authorization,
                     unsigned scope, const struct cf_network **net_out)
{
    uint8_t hash[32];
    struct cf_key_grant grant;
    if (net_out)
        *net_out = NULL;
    int rc = cf_netconf_bearer_hash(authorization, hash);
    if (rc == 0)
        rc = cf_netconf_grant(snap, hash, scope, &grant);
    if (rc == 0 && net_out)
        *net_out = grant.net;
    return rc;
}

static void test_authorize(void)
{
    struct cf_netconf_snapshot *snap = make_snapshot();
    const struct cf_network *net = NULL;

    CHECK_INT(authorize(snap, "Bearer cfk_ingest", CF_SCOPE_INGEST, &net), 0);
    CHECK(net == &snap->networks[0]);
    CHECK_INT(authorize(snap, "bearer   cfk_ingest  ", CF_SCOPE_INGEST, &net), 0);
    CHECK_INT(authorize(snap, "BEARER cfk_ingest", CF_SCOPE_INGEST, NULL), 0);
    CHECK_INT(authorize(snap, "Bearer cfk_readadmin", CF_SCOPE_READ | CF_SCOPE_ADMIN, &net), 0);
    CHECK_INT(authorize(snap, "Bearer cfk_ingest", CF_SCOPE_READ, &net), CF_EFORBIDDEN);
    CHECK(net == NULL);
    CHECK_INT(authorize(snap, "Bearer cfk_readadmin", CF_SCOPE_INGEST, &net), CF_EFORBIDDEN);
    CHECK_INT(authorize(snap, "Bearer cfk_unknown", CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, NULL, CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, "", CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, "Bearer", CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, "Bearer ", CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, "Bearercfk_ingest", CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, "Basic cfk_ingest", CF_SCOPE_INGEST, &net), CF_EAUTH);
    CHECK_INT(authorize(snap, "cfk_ingest", CF_SCOPE_INGEST, &net), CF_EAUTH);

    /* the grant of a key known by its hash (a dashboard session's) */
    struct cf_key_grant g;
    uint8_t h[32];
    CHECK_INT(cf_netconf_bearer_hash("Bearer  cfk_readadmin ", h), 0);
    CHECK_INT(cf_netconf_bearer_hash("Basic cfk_readadmin", h), CF_EAUTH);
    CHECK_INT(cf_netconf_bearer_hash("Bearer  cfk_readadmin ", h), 0);
    CHECK_INT(cf_netconf_grant(snap, h, CF_SCOPE_READ, &g), 0);
    CHECK(g.net == &snap->networks[0] && strcmp(g.key_id, "k2") == 0);
    CHECK(g.scopes == (CF_SCOPE_READ | CF_SCOPE_ADMIN) && g.nclinics == 0);
    CHECK(cf_key_grant_sees(&g, "any-clinic"));
    CHECK_INT(cf_netconf_grant(snap, h, CF_SCOPE_INGEST, &g), CF_EFORBIDDEN);
    CHECK(g.net == NULL);
    char c1[] = "c1", c2[] = "c2";
    char *const two[] = {c1, c2};
    const struct cf_key_grant limited = {.net = &snap->networks[0], .clinics = two, .nclinics = 2};
    CHECK(cf_key_grant_sees(&limited, "c2") && !cf_key_grant_sees(&limited, "c3"));

    CHECK_INT(cf_netconf_parse_scopes("ingest,read"), CF_SCOPE_INGEST | CF_SCOPE_READ);
    CHECK_INT(cf_netconf_parse_scopes("admin"), CF_SCOPE_ADMIN);
    CHECK_INT(cf_netconf_parse_scopes(""), 0);
    CHECK_INT(cf_netconf_parse_scopes("reader,ingest"), CF_SCOPE_INGEST);

    cf_netconf_release(snap); /* the last reference: frees it (ASan checks) */
}

static void test_lookups(void)
{
    struct cf_netconf_snapshot *snap = make_snapshot();
    const struct cf_network *net = cf_netconf_network(snap, "n1");
    CHECK(net != NULL);
    CHECK(cf_netconf_network(snap, "n2") == NULL);
    CHECK(cf_netconf_network(snap, NULL) == NULL);
    CHECK(cf_netconf_clinic(net, "a") == &net->clinics[0]);
    CHECK(cf_netconf_clinic(net, "c") == &net->clinics[1]);
    CHECK(cf_netconf_clinic(net, "b") == NULL);
    CHECK(cf_netconf_clinic(NULL, "a") == NULL);
    const struct cf_channel *ch = cf_netconf_channel(snap, "ch-b");
    CHECK(ch != NULL);
    if (ch)
        CHECK_STR(ch->id, "ch-b");
    CHECK(cf_netconf_channel(snap, "ch-c") == NULL);
    cf_netconf_snapshot_free(snap);
}

int main(void)
{
    test_validator_cases();
    test_demo_network();
    test_timezones();
    test_authorize();
    test_lookups();
    return cf_test_done();
}
