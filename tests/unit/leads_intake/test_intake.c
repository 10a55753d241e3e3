/*
 * The leads intake without a network. providers/generic.c, our own form
 * endpoint: JSON and urlencoded bodies, the field map and its defaults,
 * the honeypot, the token (header, query or form field), a post with no
 * person, the event key. ingest.c's leads_fact_normalize: the phone to
 * E.164 or kept raw, every contact key (expected values computed apart:
 * python3 -c "import hmac,hashlib; print(hmac.new(b'unit-secret',
 * b'+79161234567', hashlib.sha256).hexdigest())"), the clinic, the text
 * cut on a character boundary, members of the wrong type left out.
 */
#include <string.h>

#include "adapters.h"
#include "ingest.h"
#include "common/err.h"
#include "common/hook.h"
#include "common/time.h"
#include "common/xmalloc.h"
#include "cftest.h"

#define KEY_PHONE "bc8d71fe1accdaaa49d31cfc275aaeb3ec8db6a5a822d70c3947c8a4412c2fc0"
#define KEY_EMAIL "3b65785c63e236229cc54459d23a93df9b8617084563f4d7e8791b7f1c2d3e6e"
#define KEY_TELEGRAM "2e52d3a2083e68c5f62b1ac2dba9289b8abf164e804f19d9f757a06561313162"
#define KEY_TELEGRAM_5 "890d6400a1502a523d32c32fb400aa83285ac7962925828df86598ca52b5bf3a"

/* A request to the generic adapter, built by hand as hooks.c builds it. */
struct req {
    struct cf_hook hook;
    struct cf_hook_notes notes;
    json_t *query, *form, *headers, *channel;
};

static void req_init(struct req *r, const char *ctype, const char *body, const char *query,
                     const char *auth, const char *channel_json)
{
    memset(r, 0, sizeof(*r));
    r->query = json_object();
    r->form = json_object();
    r->headers = json_object();
    r->channel = json_loads(channel_json, 0, NULL);
    CHECK(r->channel != NULL);
    if (query)
        CHECK_INT(cf_hook_parse_urlencoded(query, strlen(query), r->query, NULL), 0);
    if (ctype && strcmp(ctype, "application/x-www-form-urlencoded") == 0)
        CHECK_INT(cf_hook_parse_urlencoded(body, strlen(body), r->form, NULL), 0);
    if (auth)
        json_object_set_new(r->headers, "authorization", json_string(auth));
    r->hook = (struct cf_hook){
        .method = "POST",
        .subpath = "",
        .public_url = "http://leads.test/v1/hooks/leads/generic/site-form",
        .content_type = ctype,
        .body = body,
        .body_len = strlen(body),
        .query = r->query,
        .form = r->form,
        .headers = r->headers,
        .channel = r->channel,
        .received_ms = 1795000000000,
        .notes = &r->notes,
    };
}

static void req_free(struct req *r)
{
    json_decref(r->query);
    json_decref(r->form);
    json_decref(r->headers);
    json_decref(r->channel);
}

static const char *CHANNEL = "{\"id\":\"site-form\",\"kind\":\"form\",\"provider\":\"generic\","
                             "\"clinic_id\":\"demo-center\",\"credentials\":{\"token\":\"tok-1\"},"
                             "\"honeypot\":\"website\"}";

/* Runs verify then parse; returns parse's result (verify's when it fails). */
static int run(struct req *r, json_t *facts, const char **field)
{
    char errbuf[256];
    int rc = leads_adapter_generic.verify(&r->hook, errbuf, sizeof(errbuf));
    if (rc != 0)
        return rc;
    return leads_adapter_generic.parse(&r->hook, facts, field, errbuf, sizeof(errbuf));
}

static const char *fstr(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static void test_json_body(void)
{
    struct req r;
    json_t *facts = json_array();
    const char *field = NULL;
    const char *body =
        "{\"name\":\"Иван\",\"phone\":\"8 (916) 123-45-67\",\"email\":\"ivan@example.org\","
        "\"comment\":\"Болит зуб\",\"service\":\"implant\",\"clinic\":\"demo-north\","
        "\"consent\":true,\"utm_source\":\"yandex\",\"utm_medium\":\"cpc\",\"utm_campaign\":\"c1\","
        "\"utm_term\":\"t\",\"utm_content\":\"ad2\",\"gclid\":\"g1\",\"yclid\":\"y1\","
        "\"fbclid\":\"f1\",\"_ym_uid\":\"1700000000123456789\",\"client_id\":\"GA1.2.3.4\","
        "\"referrer\":\"https://ya.ru/\",\"page_url\":\"https://clinic.example/implant\","
        "\"code\":\"AB12CD\",\"unknown_field\":\"kept out\"}";
    req_init(&r, "application/json", body, NULL, "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_INT((int)json_array_size(facts), 1);
    json_t *f = json_array_get(facts, 0);
    CHECK_STR(fstr(f, "kind"), "request");
    CHECK_STR(fstr(f, "name"), "Иван");
    CHECK_STR(fstr(f, "phone"), "8 (916) 123-45-67");
    CHECK_STR(fstr(f, "email"), "ivan@example.org");
    CHECK_STR(fstr(f, "text"), "Болит зуб");
    CHECK_STR(fstr(f, "service"), "implant");
    CHECK_STR(fstr(f, "clinic_id"), "demo-north");
    CHECK_STR(fstr(f, "code"), "AB12CD");
    CHECK(json_is_true(json_object_get(f, "consent")));
    CHECK(json_object_get(f, "unknown_field") == NULL);
    json_t *tags = json_object_get(f, "tags");
    CHECK_STR(fstr(tags, "utm_source"), "yandex");
    CHECK_STR(fstr(tags, "utm_content"), "ad2");
    CHECK_STR(fstr(tags, "ym_uid"), "1700000000123456789");
    CHECK_STR(fstr(tags, "client_id"), "GA1.2.3.4");
    CHECK_STR(fstr(tags, "page_url"), "https://clinic.example/implant");
    CHECK_STR(fstr(tags, "fbclid"), "f1");
    CHECK_INT((int)json_object_size(tags), 12);
    CHECK_STR(fstr(f, "time"), "2026-11-18T11:06:40.000Z");
    /* no event_id: the key is a hash of the channel and the body */
    CHECK_INT((int)strlen(fstr(f, "event_key")), 64);
    json_decref(facts);
    req_free(&r);
}

/* The event key: the form's event_id (or request_id); else sha256 over
 * "site-form" 0x1f body 0x1f the ten minutes it came in (python3
 * hashlib.sha256(b'site-form\x1f' + body + b'\x1f' + b'2991666')). */
static void test_event_key(void)
{
    static const char *const key =
        "0a26adde68d9feda46348d3e82772d33c7265382aae2cd7b9edcf5199f4597fb";
    struct req r;
    json_t *facts = json_array();
    const char *field = NULL;
    req_init(&r, "application/json", "{\"phone\":\"+79161234567\"}", NULL, "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_STR(fstr(json_array_get(facts, 0), "event_key"), key);
    /* resent within the ten minutes: the same event */
    r.hook.received_ms += 3 * 60 * 1000;
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_STR(fstr(json_array_get(facts, 1), "event_key"), key);
    /* the same form sent again the next day: a request of its own */
    r.hook.received_ms += 24 * 3600 * 1000;
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK(strcmp(fstr(json_array_get(facts, 2), "event_key"), key) != 0);
    json_array_clear(facts);
    req_free(&r);
    /* the form's own ids */
    req_init(&r, "application/json", "{\"phone\":\"+79161234567\",\"event_id\":\"form-7\"}", NULL,
             "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_STR(fstr(json_array_get(facts, 0), "event_key"), "form-7");
    req_free(&r);
    req_init(&r, "application/x-www-form-urlencoded", "phone=%2B79161234567&request_id=r-9", NULL,
             "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_STR(fstr(json_array_get(facts, 1), "event_key"), "r-9");
    json_decref(facts);
    req_free(&r);
}

static void test_urlencoded_and_tokens(void)
{
    struct req r;
    json_t *facts = json_array();
    const char *field = NULL;
    /* the token as a form field (a plain HTML form) */
    req_init(&r, "application/x-www-form-urlencoded",
             "token=tok-1&name=%D0%90%D0%BD%D0%BD%D0%B0&phone=89161234567&consent=on&website=",
             NULL, NULL, CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    json_t *f = json_array_get(facts, 0);
    CHECK_STR(fstr(f, "name"), "Анна");
    CHECK_STR(fstr(f, "phone"), "89161234567");
    CHECK(json_is_true(json_object_get(f, "consent")));
    CHECK(json_object_get(f, "token") == NULL);
    CHECK(json_object_get(f, "tags") == NULL);
    req_free(&r);
    /* in the query; "bearer" in any case */
    req_init(&r, "application/x-www-form-urlencoded", "phone=89161234567&consent=no", "token=tok-1",
             NULL, CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK(json_is_false(json_object_get(json_array_get(facts, 1), "consent")));
    req_free(&r);
    req_init(&r, "application/json", "{\"phone\":\"89161234567\"}", NULL, "bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    req_free(&r);
    /* refused: none, wrong, a prefix of it, a channel without a token */
    req_init(&r, "application/json", "{\"phone\":\"89161234567\"}", NULL, NULL, CHANNEL);
    CHECK_INT(run(&r, facts, &field), CF_EAUTH);
    req_free(&r);
    req_init(&r, "application/json", "{\"phone\":\"89161234567\"}", NULL, "Bearer tok-2", CHANNEL);
    CHECK_INT(run(&r, facts, &field), CF_EAUTH);
    req_free(&r);
    req_init(&r, "application/json", "{\"phone\":\"89161234567\"}", "token=tok", NULL, CHANNEL);
    CHECK_INT(run(&r, facts, &field), CF_EAUTH);
    req_free(&r);
    req_init(&r, "application/json", "{\"phone\":\"89161234567\"}", NULL, "Bearer tok-1",
             "{\"id\":\"site-form\",\"provider\":\"generic\"}");
    CHECK_INT(run(&r, facts, &field), CF_EAUTH);
    req_free(&r);
    CHECK_INT((int)json_array_size(facts), 3);
    json_decref(facts);
}

static void test_field_map(void)
{
    struct req r;
    json_t *facts = json_array();
    const char *field = NULL;
    const char *channel =
        "{\"id\":\"site-form\",\"provider\":\"generic\",\"credentials\":{\"token\":\"tok-1\"},"
        "\"field_map\":{\"name\":\"your-name\",\"phone\":\"tel\",\"comment\":\"msg\","
        "\"ym_uid\":\"metrika\"}}";
    req_init(&r, "application/json",
             "{\"your-name\":\"Олег\",\"tel\":79161234567,\"msg\":\"Перезвоните\","
             "\"metrika\":\"42\",\"name\":\"not this\",\"email\":\"o@example.org\"}",
             NULL, "Bearer tok-1", channel);
    CHECK_INT(run(&r, facts, &field), 0);
    json_t *f = json_array_get(facts, 0);
    CHECK_STR(fstr(f, "name"), "Олег");
    CHECK_STR(fstr(f, "phone"), "79161234567"); /* a number, as its digits */
    CHECK_STR(fstr(f, "text"), "Перезвоните");
    CHECK_STR(fstr(json_object_get(f, "tags"), "ym_uid"), "42");
    CHECK_STR(fstr(f, "email"), "o@example.org"); /* unmapped: its default name */
    req_free(&r);
    /* no person: 400 naming the form's own phone field */
    req_init(&r, "application/json", "{\"your-name\":\"Олег\",\"tel\":\"\"}", NULL, "Bearer tok-1",
             channel);
    CHECK_INT(run(&r, facts, &field), CF_EINVAL);
    CHECK_STR(field, "tel");
    req_free(&r);
    CHECK_INT((int)json_array_size(facts), 1);
    json_decref(facts);
}

static void test_honeypot_and_refusals(void)
{
    struct req r;
    json_t *facts = json_array();
    const char *field = NULL;
    req_init(&r, "application/x-www-form-urlencoded",
             "phone=89161234567&website=http%3A%2F%2Fspam.example", NULL, "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_INT((int)json_array_size(facts), 0);
    CHECK_STR(r.notes.ignored, "honeypot");
    req_free(&r);
    req_init(&r, "application/json", "{\"name\":\"Иван\",\"comment\":\"hi\"}", NULL, "Bearer tok-1",
             CHANNEL);
    CHECK_INT(run(&r, facts, &field), CF_EINVAL);
    CHECK_STR(field, "phone");
    req_free(&r);
    /* an e-mail that is not an address reaches nobody: 400 naming it */
    req_init(&r, "application/json", "{\"name\":\"Иван\",\"email\":\"ivan @mail.ru\"}", NULL,
             "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), CF_EINVAL);
    CHECK_STR(field, "email");
    req_free(&r);
    static const char *const bad[][2] = {
        {"application/json", "{\"phone\":"},
        {"application/json", "[\"+79161234567\"]"},
        {"text/plain", "phone=89161234567"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        field = NULL;
        req_init(&r, bad[i][0], bad[i][1], NULL, "Bearer tok-1", CHANNEL);
        CHECK_INT(run(&r, facts, &field), CF_EINVAL);
        CHECK(field == NULL);
        req_free(&r);
    }
    CHECK_INT((int)json_array_size(facts), 0);
    json_decref(facts);
}

/* --- ingest.c --- */

static struct cf_clinic clinics[] = {{.id = "demo-center"}, {.id = "demo-north"}};
static struct cf_network net = {
    .id = "net-1", .secret = "unit-secret", .clinics = clinics, .nclinics = 2};

static int normalize(const char *provider, const char *channel_clinic, long text_max,
                     const char *fact_json, struct leads_fact *out)
{
    const struct leads_norm n = {
        .provider = provider,
        .channel = "ch-1",
        .channel_clinic = channel_clinic,
        .net = &net,
        .default_cc = "7",
        .text_max = text_max,
        .received_ms = 1795000000000, /* 2026-11-18T11:06:40Z */
        .claimed_max_age_ms = 3600000,
        .time_max_age_ms = 604800000, /* 7 days */
        .time_max_ahead_ms = 900000,  /* 15 minutes */
    };
    char errbuf[256];
    json_t *j_in = json_loads(fact_json, 0, NULL);
    CHECK(j_in != NULL);
    int rc = leads_fact_normalize(&n, j_in, out, errbuf, sizeof(errbuf));
    json_decref(j_in);
    return rc;
}

/* A phone written in a message that is the network's own (a tracking
 * number the person called, a clinic's, a staff phone) is not theirs: it
 * would make one person of everyone who wrote it. The next one is read. */
static void test_own_numbers_in_text(void)
{
    net.doc =
        json_loads("{\"clinics\":[{\"id\":\"demo-center\",\"default_phone\":\"+74950000101\"}],"
                   "\"tracking_numbers\":[{\"number\":\"+78001234567\"}],"
                   "\"staff_numbers\":[{\"number\":\"+79990000901\"}],"
                   "\"number_pools\":[{\"numbers\":[\"+74990000103\"]}],"
                   "\"channels\":[{\"numbers\":{\"+74950000201\":\"demo-center\"}}]}",
                   0, NULL);
    CHECK(net.doc != NULL);
    struct leads_fact f;
    CHECK_INT(normalize("telegram", NULL, 4000,
                        "{\"event_key\":\"u-2\",\"kind\":\"request\",\"user_id\":5,"
                        "\"text\":\"Звонил на 8 800 123-45-67, не берут. Мой 8 916 123-45-67\"}",
                        &f),
              0);
    CHECK_STR(fstr(json_object_get(json_object_get(f.data, "contact"), "phone"), "e164"),
              "+79161234567");
    CHECK_STR(f.contact_key, KEY_PHONE);
    leads_fact_clear(&f);
    static const char *const own[] = {"8 (495) 000-01-01", "+7 999 000-09-01", "8 499 000 01 03",
                                      "+74950000201"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        char fact[256];
        snprintf(fact, sizeof(fact),
                 "{\"event_key\":\"u-3\",\"kind\":\"request\",\"user_id\":5,"
                 "\"text\":\"Позвоните мне, я звонил на %s\"}",
                 own[i]);
        CHECK_INT(normalize("telegram", NULL, 4000, fact, &f), 0);
        CHECK(json_object_get(json_object_get(f.data, "contact"), "phone") == NULL);
        CHECK_STR(f.contact_key, KEY_TELEGRAM_5);
        leads_fact_clear(&f);
    }
    json_decref(net.doc);
    net.doc = NULL;
}

static void test_normalize_phone_and_keys(void)
{
    struct leads_fact f;
    CHECK_INT(
        normalize("generic", "demo-center", 4000,
                  "{\"event_key\":\"e1\",\"kind\":\"request\",\"time\":\"2026-11-18T09:00:00Z\","
                  "\"phone\":\"8 (916) 123-45-67\",\"email\":\" Ivan.Petrov@Example.org \","
                  "\"name\":\"Иван\",\"clinic_id\":\"demo-north\"}",
                  &f),
        0);
    json_t *c = json_object_get(f.data, "contact");
    CHECK_STR(fstr(json_object_get(c, "phone"), "e164"), "+79161234567");
    CHECK_STR(fstr(json_object_get(c, "phone"), "raw"), "8 (916) 123-45-67");
    CHECK_STR(fstr(json_object_get(c, "phone"), "kind"), "e164");
    CHECK_STR(fstr(c, "email"), "Ivan.Petrov@Example.org");
    CHECK_STR(fstr(c, "name"), "Иван");
    CHECK_STR(f.contact_key, KEY_PHONE);
    CHECK_STR(fstr(f.data, "contact_key"), KEY_PHONE);
    json_t *keys = json_object_get(f.data, "contact_keys");
    CHECK_STR(fstr(keys, "phone"), KEY_PHONE);
    CHECK_STR(fstr(keys, "email"), KEY_EMAIL);
    CHECK(json_object_get(keys, "messenger") == NULL);
    CHECK_STR(f.clinic_id, "demo-north");
    CHECK_STR(fstr(f.data, "provider"), "generic");
    CHECK_STR(fstr(f.data, "channel"), "ch-1");
    CHECK_STR(fstr(f.data, "provider_event_id"), "e1");
    CHECK_STR(f.event_key, "e1");
    CHECK(f.time_ms == 1794992400000);
    CHECK(!f.time_amended);
    leads_fact_clear(&f);

    /* a phone that does not parse: kept raw, no phone key; the e-mail's is
     * the strongest; a clinic the network does not have: the channel's */
    CHECK_INT(normalize("generic", "demo-center", 4000,
                        "{\"event_key\":\"e2\",\"kind\":\"request\",\"phone\":\"call me maybe\","
                        "\"email\":\"ivan.petrov@example.org\",\"clinic_id\":\"gone\"}",
                        &f),
              0);
    c = json_object_get(f.data, "contact");
    CHECK_STR(fstr(json_object_get(c, "phone"), "kind"), "invalid");
    CHECK_STR(fstr(json_object_get(c, "phone"), "raw"), "call me maybe");
    CHECK(json_object_get(json_object_get(c, "phone"), "e164") == NULL);
    CHECK_STR(f.contact_key, KEY_EMAIL);
    CHECK(json_object_get(json_object_get(f.data, "contact_keys"), "phone") == NULL);
    CHECK_STR(f.clinic_id, "demo-center");
    CHECK(f.time_ms == 1795000000000); /* no time: the arrival */
    leads_fact_clear(&f);

    /* a messenger account (an id sent as a number), a handle's '@' */
    CHECK_INT(normalize("telegram", NULL, 4000,
                        "{\"event_key\":\"u-1\",\"kind\":\"request\",\"user_id\":12345,"
                        "\"handle\":\"@ivan\",\"chat_id\":\"12345\",\"message_id\":7,"
                        "\"email\":\"not an address\"}",
                        &f),
              0);
    c = json_object_get(f.data, "contact");
    CHECK_STR(fstr(c, "user_id"), "12345");
    CHECK_STR(fstr(c, "handle"), "ivan");
    CHECK(json_object_get(c, "email") == NULL);
    CHECK_STR(f.contact_key, KEY_TELEGRAM);
    CHECK_STR(fstr(json_object_get(f.data, "external"), "message_id"), "7");
    CHECK_STR(fstr(json_object_get(f.data, "external"), "chat_id"), "12345");
    CHECK(f.clinic_id == NULL);
    leads_fact_clear(&f);

    /* nobody: no key at all (the fact is its own subject) */
    CHECK_INT(normalize("generic", NULL, 4000, "{\"event_key\":\"e3\",\"kind\":\"request\"}", &f),
              0);
    CHECK(f.contact_key == NULL && json_object_get(f.data, "contact_keys") == NULL);
    leads_fact_clear(&f);
}

static void test_normalize_text_and_members(void)
{
    struct leads_fact f;
    char long_url[2100];
    memset(long_url, 'a', sizeof(long_url) - 1);
    long_url[sizeof(long_url) - 1] = '\0';
    char *fact = cf_xasprintf(
        "{\"event_key\":\"e4\",\"kind\":\"request\",\"phone\":\"+79161234567\","
        "\"text\":\"Привет, мир\",\"name\":{\"first\":\"x\"},\"consent\":\"yes\","
        "\"tags\":{\"utm_source\":\"vk\",\"page_url\":\"https://x/%s\",\"other\":\"y\","
        "\"gclid\":5},\"referral\":{\"source_id\":\"120\",\"ctwa_clid\":\"c-1\",\"x\":1}}",
        long_url);
    CHECK_INT(normalize("generic", NULL, 6, fact, &f), 0);
    free(fact);
    CHECK_STR(fstr(f.data, "text"), "Привет");
    CHECK(json_is_true(json_object_get(f.data, "text_truncated")));
    CHECK(json_object_get(json_object_get(f.data, "contact"), "name") == NULL);
    CHECK(json_object_get(f.data, "consent") == NULL); /* not a boolean */
    json_t *tags = json_object_get(f.data, "tags");
    CHECK_STR(fstr(tags, "utm_source"), "vk");
    CHECK_STR(fstr(tags, "gclid"), "5");
    CHECK(json_object_get(tags, "page_url") == NULL); /* a cut link leads nowhere */
    CHECK_INT((int)json_object_size(tags), 2);
    CHECK_STR(fstr(json_object_get(f.data, "referral"), "ctwa_clid"), "c-1");
    CHECK_INT((int)json_object_size(json_object_get(f.data, "referral")), 2);
    leads_fact_clear(&f);

    /* a short text is not marked */
    CHECK_INT(normalize("generic", NULL, 100,
                        "{\"event_key\":\"e5\",\"kind\":\"request\",\"text\":\"Привет\"}", &f),
              0);
    CHECK(json_object_get(f.data, "text_truncated") == NULL);
    leads_fact_clear(&f);

    /* a staff answer in a channel */
    CHECK_INT(normalize("vk", NULL, 100,
                        "{\"event_key\":\"r1\",\"kind\":\"response\",\"user_id\":\"77\","
                        "\"staff_id\":\"op-1\",\"text\":\"Ответ\"}",
                        &f),
              0);
    CHECK_STR(fstr(f.data, "kind"), "response");
    CHECK_STR(fstr(f.data, "via"), "vk");
    CHECK_STR(fstr(f.data, "staff_id"), "op-1");
    CHECK(json_object_get(f.data, "text") == NULL);
    leads_fact_clear(&f);

    /* what an adapter must never make */
    CHECK_INT(normalize("generic", NULL, 100, "{\"kind\":\"request\"}", &f), CF_EINVAL);
    CHECK_INT(normalize("generic", NULL, 100, "{\"event_key\":\"e\",\"kind\":\"other\"}", &f),
              CF_EINVAL);
    CHECK_INT(normalize("generic", NULL, 100, "{\"event_key\":\"\",\"kind\":\"request\"}", &f),
              CF_EINVAL);
}

/* A form's submitted_at: a claim, the fact's time within an hour before
 * the arrival, the arrival otherwise; never kept in the fact's data. */
/* The adapter's fact (JSON text) of provider normalized is dated want;
 * amended (0 or 1) says whether its time was replaced, -1 not checked, and
 * then its claimed_time is not kept. */
static void check_dated(const char *provider, const char *clinic, const char *fact,
                        const char *want, int amended)
{
    struct leads_fact f;
    char got[32];
    CHECK_INT(normalize(provider, clinic, 4000, fact, &f), 0);
    cf_time_format(f.time_ms, got);
    CHECK_STR(got, want);
    if (amended >= 0)
        CHECK_INT(f.time_amended, amended);
    else
        CHECK(json_object_get(f.data, "claimed_time") == NULL);
    leads_fact_clear(&f);
}

static void test_claimed_time(void)
{
    struct req r;
    json_t *facts = json_array();
    const char *field = NULL;
    req_init(&r, "application/json",
             "{\"phone\":\"+79161234567\",\"submitted_at\":\"2026-11-18T13:50:00+03:00\"}", NULL,
             "Bearer tok-1", CHANNEL);
    CHECK_INT(run(&r, facts, &field), 0);
    CHECK_STR(fstr(json_array_get(facts, 0), "claimed_time"), "2026-11-18T13:50:00+03:00");
    json_decref(facts);
    req_free(&r);

    static const struct {
        const char *claimed;
        const char *want;
    } cases[] = {
        {"2026-11-18T10:50:00Z", "2026-11-18T10:50:00.000Z"}, /* 17 minutes before: believed */
        {"2026-11-18T10:06:40Z", "2026-11-18T10:06:40.000Z"}, /* an hour before: believed */
        {"2026-11-18T10:06:39Z", "2026-11-18T11:06:40.000Z"}, /* older: the arrival */
        {"2026-11-18T11:07:00Z", "2026-11-18T11:06:40.000Z"}, /* ahead: the arrival */
        {"yesterday", "2026-11-18T11:06:40.000Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char fact[256];
        snprintf(fact, sizeof(fact),
                 "{\"event_key\":\"e1\",\"kind\":\"request\",\"time\":\"2026-11-18T11:06:40Z\","
                 "\"phone\":\"+79161234567\",\"claimed_time\":\"%s\"}",
                 cases[i].claimed);
        check_dated("generic", "demo-center", fact, cases[i].want, -1);
    }
}

/* A provider's own time of a message dates the fact within 7 days before
 * the arrival and 15 minutes after it; beyond, the arrival does and the
 * fact is marked amended (a VK or Telegram secret's holder, or a clock
 * years off, does not date a lead in 2100). */
static void test_provider_time_bounds(void)
{
    static const struct {
        const char *time;
        const char *want;
        int amended;
    } cases[] = {
        {"2026-11-11T11:06:40Z", "2026-11-11T11:06:40.000Z", 0}, /* 7 days before: believed */
        {"2026-11-11T11:06:39Z", "2026-11-18T11:06:40.000Z", 1}, /* older: the arrival */
        {"2026-11-18T11:21:40Z", "2026-11-18T11:21:40.000Z", 0}, /* 15 minutes ahead */
        {"2026-11-18T11:21:41Z", "2026-11-18T11:06:40.000Z", 1}, /* further: the arrival */
        {"2100-01-01T00:00:00Z", "2026-11-18T11:06:40.000Z", 1},
        {"1970-01-01T00:00:01Z", "2026-11-18T11:06:40.000Z", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char fact[256];
        snprintf(fact, sizeof(fact),
                 "{\"event_key\":\"m1\",\"kind\":\"request\",\"time\":\"%s\","
                 "\"user_id\":\"42\",\"text\":\"hi\"}",
                 cases[i].time);
        check_dated("vk", NULL, fact, cases[i].want, cases[i].amended);
    }
}

int main(void)
{
    test_provider_time_bounds();
    test_json_body();
    test_event_key();
    test_urlencoded_and_tokens();
    test_field_map();
    test_honeypot_and_refusals();
    test_normalize_phone_and_keys();
    test_normalize_text_and_members();
    test_own_numbers_in_text();
    test_claimed_time();
    return cf_test_done();
}
