/*
 * The lead fold's rules (services/leads/fold_testable.h) one by one: the
 * merge window's edges and the clinic's window over the setting, the keys
 * a request brings and the phone a lead gains later, which tags win
 * (request > code > referral), the first response only and its working
 * seconds across a night, a lunch break and a holiday in a zone other
 * than Moscow's, the status rules, and the patient class of the shared
 * view.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cftest.h"
#include "common/err.h"
#include "common/json_text.h"
#include "common/patients.h"
#include "common/time.h"
#include "fold_testable.h"

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static long long num(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static int64_t at(const char *rfc3339)
{
    int64_t ms = -1;
    CHECK(cf_time_parse(rfc3339, &ms) == 0);
    return ms;
}

static void test_merge_window_edges(void)
{
    const int64_t first = at("2026-11-23T18:00:00Z"), last = at("2026-11-24T10:00:00Z");
    const int64_t day = 86400 * 1000LL;
    CHECK(leads_merges(first, last, last + day, 86400));            /* at the edge: merges */
    CHECK(!leads_merges(first, last, last + day + 1, 86400));       /* a moment after: new */
    CHECK(leads_merges(first, last, last - 3600 * 1000LL, 86400));  /* reported out of order */
    CHECK(leads_merges(first, last, first - 3600 * 1000LL, 86400)); /* before it came, hours */
    CHECK(leads_merges(first, last, first - day, 86400));           /* a day before it: the edge */
    CHECK(!leads_merges(first, last, first - day - 1, 86400));      /* retried for days: its own */
    CHECK(!leads_merges(first, last, last, 0));                     /* 0: never merge */

    /* the person erased since: a request written after it is a lead of
     * its own; one stored erased (sent before the erasure) still merges */
    json_t *j_lead = json_pack("{s:s, s:b}", "lead_id", "l1", "erased", 1);
    json_t *j_new = json_pack("{s:s}", "kind", "request");
    json_t *j_late = json_pack("{s:s, s:b}", "kind", "request", "erased", 1);
    CHECK(leads_apart_by_erasure(j_lead, j_new));
    CHECK(!leads_apart_by_erasure(j_lead, j_late));
    json_object_del(j_lead, "erased");
    CHECK(!leads_apart_by_erasure(j_lead, j_new));
    CHECK(!leads_apart_by_erasure(j_lead, j_late));
    json_decref(j_lead);
    json_decref(j_new);
    json_decref(j_late);

    struct cf_clinic clinic = {.id = "c1", .tz = "Asia/Yekaterinburg"};
    clinic.doc = json_pack("{s:i}", "lead_merge_window_s", 600);
    CHECK_INT(leads_merge_window_s(&clinic, 86400), 600); /* the clinic's wins */
    json_decref(clinic.doc);
    clinic.doc = json_pack("{s:s}", "lead_merge_window_s", "600");
    CHECK_INT(leads_merge_window_s(&clinic, 86400), 86400); /* not a number: the setting */
    json_decref(clinic.doc);
    clinic.doc = json_pack("{s:i}", "lead_merge_window_s", 0);
    CHECK_INT(leads_merge_window_s(&clinic, 86400), 0);
    json_decref(clinic.doc);
    CHECK_INT(leads_merge_window_s(NULL, 3600), 3600);
}

static void test_keys_and_a_phone_that_arrives_later(void)
{
    /* a messenger request: only the user's key */
    json_t *fact =
        json_pack("{s:s, s:{s:s}}", "contact_key", "kM", "contact_keys", "messenger", "kM");
    json_t *keys = leads_fact_keys(fact);
    CHECK_INT(json_array_size(keys), 1);
    CHECK_STR(str(json_array_get(keys, 0), "kind"), "messenger");
    json_t *lead = json_object();
    CHECK(leads_gain_keys(lead, keys) == 1);
    CHECK_STR(str(lead, "contact_key"), "kM");
    json_decref(keys);
    json_decref(fact);

    /* the same person shares a contact: the phone's key is gained and
     * becomes the lead's contact key; the messenger's stays */
    fact = json_pack("{s:s, s:{s:s, s:s}}", "contact_key", "kP", "contact_keys", "phone", "kP",
                     "messenger", "kM");
    keys = leads_fact_keys(fact);
    CHECK_INT(json_array_size(keys), 2);
    /* the keys the lead had, as an event queued earlier shares them, are
     * left as they were: the lead gets a new object */
    json_t *had = json_incref(json_object_get(lead, "contact_keys"));
    CHECK(leads_gain_keys(lead, keys) == 1);
    CHECK(json_object_get(lead, "contact_keys") != had);
    CHECK_INT(json_object_size(had), 1);
    CHECK(json_object_get(had, "phone") == NULL);
    json_decref(had);
    CHECK_STR(str(lead, "contact_key"), "kP");
    CHECK_STR(str(json_object_get(lead, "contact_keys"), "messenger"), "kM");
    CHECK_STR(str(json_object_get(lead, "contact_keys"), "phone"), "kP");
    CHECK(leads_gain_keys(lead, keys) == 0); /* nothing new the second time */
    json_decref(keys);
    json_decref(fact);

    /* another phone of the same person keeps the first */
    fact = json_pack("{s:s, s:{s:s}}", "contact_key", "kP2", "contact_keys", "phone", "kP2");
    keys = leads_fact_keys(fact);
    CHECK(leads_gain_keys(lead, keys) == 0);
    CHECK_STR(str(lead, "contact_key"), "kP");
    json_decref(keys);
    json_decref(fact);
    json_decref(lead);

    /* a fact whose contact_keys leave its own key out: its phone's */
    fact = json_pack("{s:s, s:{s:{s:s}}}", "contact_key", "kX", "contact", "phone", "e164",
                     "+79161234567");
    keys = leads_fact_keys(fact);
    CHECK_INT(json_array_size(keys), 1);
    CHECK_STR(str(json_array_get(keys, 0), "kind"), "phone");
    CHECK_STR(str(json_array_get(keys, 0), "key"), "kX");
    json_decref(keys);
    json_decref(fact);

    fact = json_object(); /* no key at all */
    keys = leads_fact_keys(fact);
    CHECK_INT(json_array_size(keys), 0);
    json_decref(keys);
    json_decref(fact);
}

static void test_tag_precedence(void)
{
    json_t *code_tags = json_pack("{s:s, s:s}", "utm_source", "code-src", "utm_campaign", "c");
    json_t *lead = json_object();

    /* the request's own ad tags win over a code and a referral */
    json_t *fact = json_pack("{s:{s:s}, s:{s:s}}", "tags", "utm_source", "req-src", "referral",
                             "source_id", "ad1");
    leads_attribute(lead, fact, code_tags);
    CHECK_STR(str(lead, "attribution"), "tags");
    CHECK_STR(str(json_object_get(lead, "tags"), "utm_source"), "req-src");
    json_decref(fact);

    /* only a page and referrer of its own: the code's tags, with them */
    fact = json_pack("{s:{s:s, s:s}, s:{s:s}}", "tags", "page_url", "https://clinic.example/",
                     "utm_source", "", "referral", "source_id", "ad1");
    leads_attribute(lead, fact, code_tags);
    CHECK_STR(str(lead, "attribution"), "code");
    CHECK_STR(str(json_object_get(lead, "tags"), "utm_source"), "code-src");
    CHECK_STR(str(json_object_get(lead, "tags"), "page_url"), "https://clinic.example/");
    json_decref(fact);

    /* an unknown or expired code (NULL): the referral */
    fact = json_pack("{s:{s:s}}", "referral", "source_id", "ad1");
    leads_attribute(lead, fact, NULL);
    CHECK_STR(str(lead, "attribution"), "referral");
    CHECK(!json_object_get(lead, "tags"));
    json_decref(fact);

    /* nothing at all */
    fact = json_object();
    leads_attribute(lead, fact, NULL);
    CHECK_STR(str(lead, "attribution"), "none");
    json_decref(fact);
    json_decref(lead);
    json_decref(code_tags);
}

/* A clinic in Yekaterinburg (UTC+5 all year): a split shift Monday to
 * Friday, Thursday 2026-11-26 a holiday. */
static void clinic_hours(struct cf_time_hours *h)
{
    char errbuf[128];
    json_t *week = json_pack("{s:[s,s], s:[s,s], s:[s,s], s:[s,s], s:[s,s]}", "mon", "09:00-13:00",
                             "14:00-18:00", "tue", "09:00-13:00", "14:00-18:00", "wed",
                             "09:00-13:00", "14:00-18:00", "thu", "09:00-13:00", "14:00-18:00",
                             "fri", "09:00-13:00", "14:00-18:00");
    struct cf_clinic clinic = {.id = "c1", .tz = "Asia/Yekaterinburg"};
    clinic.doc = json_pack("{s:O, s:[s]}", "working_hours", week, "holidays", "2026-11-26");
    CHECK(leads_clinic_hours(&clinic, h) == 0);
    (void)errbuf;
    json_decref(clinic.doc);
    json_decref(week);
}

static json_t *lead_received(const char *when)
{
    json_t *lead = json_object();
    cf_time_json_set(lead, "received_at", at(when));
    return lead;
}

static void test_first_response_only_and_working_seconds(void)
{
    struct cf_time_hours h;
    clinic_hours(&h);

    /* a night: Tue 17:50 local -> Wed 09:05 local, 10 + 5 working minutes */
    json_t *lead = lead_received("2026-11-24T12:50:00Z");
    CHECK(!leads_respond(lead, at("2026-11-24T12:49:59Z"), &h)); /* before it arrived */
    CHECK(!json_object_get(lead, "responded_at"));
    CHECK(leads_respond(lead, at("2026-11-25T04:05:00Z"), &h));
    CHECK_INT(num(lead, "response_seconds"), 15 * 3600 + 15 * 60);
    CHECK_INT(num(lead, "working_seconds"), 15 * 60);
    CHECK_STR(str(lead, "responded_at"), "2026-11-25T04:05:00.000Z");
    /* a second response changes nothing */
    CHECK(!leads_respond(lead, at("2026-11-25T05:00:00Z"), &h));
    CHECK_STR(str(lead, "responded_at"), "2026-11-25T04:05:00.000Z");
    json_decref(lead);

    /* the lunch break of a split shift: Wed 12:50 -> 14:10 local */
    lead = lead_received("2026-11-25T07:50:00Z");
    CHECK(leads_respond(lead, at("2026-11-25T09:10:00Z"), &h));
    CHECK_INT(num(lead, "working_seconds"), 20 * 60);
    CHECK_INT(num(lead, "response_seconds"), 80 * 60);
    json_decref(lead);

    /* over the holiday: Wed 17:55 -> Fri 09:05 local, 5 + 5 minutes */
    lead = lead_received("2026-11-25T12:55:00Z");
    CHECK(leads_respond(lead, at("2026-11-27T04:05:00Z"), &h));
    CHECK_INT(num(lead, "working_seconds"), 10 * 60);
    json_decref(lead);

    /* a closed lead: a response dated after its close is not its first
     * (the booking confirmed in the chat); one dated before it, told late,
     * is, the close's own instant included */
    lead = lead_received("2026-11-25T12:55:00Z");
    cf_time_json_set(lead, "closed_at", at("2026-11-25T13:00:00Z"));
    CHECK(!leads_respond(lead, at("2026-11-25T13:00:01Z"), NULL));
    CHECK(!json_object_get(lead, "responded_at"));
    CHECK(leads_respond(lead, at("2026-11-25T13:00:00Z"), NULL));
    CHECK_INT(num(lead, "response_seconds"), 300);
    json_decref(lead);

    /* a clinic with no hours: the wall clock */
    lead = lead_received("2026-11-25T12:55:00Z");
    CHECK(leads_respond(lead, at("2026-11-25T13:00:00Z"), NULL));
    CHECK_INT(num(lead, "working_seconds"), 300);
    json_decref(lead);
    struct cf_clinic none = {.id = "c2", .tz = "Asia/Yekaterinburg", .doc = json_object()};
    struct cf_time_hours h2;
    CHECK(leads_clinic_hours(&none, &h2) == CF_ENOTFOUND);
    json_decref(none.doc);
    cf_time_hours_free(&h);
}

static void test_status_rules(void)
{
    char errbuf[128];
    json_t *lead = json_pack("{s:s}", "status", "open");
    json_t *fact = json_pack("{s:s}", "status", "won");
    CHECK(leads_status_rule(lead, fact, errbuf, sizeof(errbuf)) == CF_EINVAL);
    json_decref(fact);
    fact = json_pack("{s:s, s:s}", "status", "lost", "reason", "weather");
    CHECK(leads_status_rule(lead, fact, errbuf, sizeof(errbuf)) == CF_EINVAL);
    json_decref(fact);

    /* lost without a reason: "other"; the lead is closed */
    fact = json_pack("{s:s, s:s}", "status", "lost", "staff_id", "s1");
    CHECK(leads_status_rule(lead, fact, errbuf, sizeof(errbuf)) == LEADS_STATUS_APPLY);
    leads_close(lead, fact, at("2026-11-25T10:00:00Z"));
    CHECK_STR(str(lead, "status"), "lost");
    CHECK_STR(str(lead, "reason"), "other");
    CHECK(json_object_get(lead, "staff_id") == NULL); /* the fold's to keep, as closed_by */
    CHECK_STR(str(lead, "closed_at"), "2026-11-25T10:00:00.000Z");
    json_decref(fact);

    /* a status on a closed lead is ignored: the first outcome stands */
    fact = json_pack("{s:s, s:s}", "status", "booked", "appointment_id", "a1");
    CHECK(leads_status_rule(lead, fact, errbuf, sizeof(errbuf)) == LEADS_STATUS_IGNORE);
    json_decref(fact);
    json_decref(lead);

    lead = json_pack("{s:s}", "status", "open");
    fact = json_pack("{s:s, s:s}", "status", "booked", "appointment_id", "a1");
    CHECK(leads_status_rule(lead, fact, errbuf, sizeof(errbuf)) == LEADS_STATUS_APPLY);
    leads_close(lead, fact, at("2026-11-25T10:00:00Z"));
    CHECK_STR(str(lead, "appointment_id"), "a1");
    CHECK(!json_object_get(lead, "reason"));
    json_decref(fact);
    json_decref(lead);

    /* a status dated before the lead came closes it when it came */
    lead = json_pack("{s:s, s:s}", "status", "open", "received_at", "2026-11-25T10:00:00.000Z");
    fact = json_pack("{s:s}", "status", "spam");
    leads_close(lead, fact, at("2026-11-25T09:00:00Z"));
    CHECK_STR(str(lead, "closed_at"), "2026-11-25T10:00:00.000Z");
    leads_close(lead, fact, at("2026-11-25T10:30:00Z"));
    CHECK_STR(str(lead, "closed_at"), "2026-11-25T10:30:00.000Z");
    json_decref(fact);
    json_decref(lead);
}

static void test_public_lead_leaves_the_fold_own_out(void)
{
    json_t *lead =
        json_pack("{s:s, s:s, s:i, s:s, s:s}", "lead_id", "l1", "status", "open", "messages", 2,
                  "last_message_at", "2026-11-25T10:00:00.000Z", "patient_class", "new");
    json_t *pub = leads_public_lead(lead);
    CHECK_STR(str(pub, "lead_id"), "l1");
    CHECK_STR(str(pub, "patient_class"), "new");
    CHECK(!json_object_get(pub, "messages"));
    CHECK(!json_object_get(pub, "last_message_at"));
    json_decref(pub);
    json_decref(lead);
}

/* A request of a person erased since it was made: nothing of what they
 * wrote or how to reach them, the keys and tags as they were; its lead's
 * public form still has the (empty) contact lead.json requires. */
static void test_erased_fact(void)
{
    json_t *fact = json_pack(
        "{s:s, s:{s:s, s:s, s:{s:s, s:s, s:s}}, s:s, s:{s:s}, s:s, s:s, s:b, s:s, s:{s:s}}", "kind",
        "request", "contact", "name", "Olga", "email", "olga@example.org", "phone", "raw",
        "8 916 000-00-21", "kind", "e164", "e164", "+79160000021", "contact_key", "k-phone",
        "contact_keys", "phone", "k-phone", "text", "my tooth", "subject", "urgent",
        "text_truncated", 1, "provider_event_id", "f1", "tags", "utm_source", "vk");
    json_object_set_new(fact, "external",
                        json_pack("{s:s, s:s}", "user_id", "tg-777", "chat_id", "tg-777"));
    json_t *erased = leads_erased_fact(fact);
    CHECK(!json_object_get(erased, "external"));
    CHECK(json_is_object(json_object_get(erased, "contact")));
    CHECK_INT((int)json_object_size(json_object_get(erased, "contact")), 0);
    CHECK(!json_object_get(erased, "text") && !json_object_get(erased, "subject") &&
          !json_object_get(erased, "text_truncated"));
    CHECK(json_is_true(json_object_get(erased, "erased")));
    CHECK_STR(str(erased, "contact_key"), "k-phone");
    CHECK_STR(str(json_object_get(erased, "contact_keys"), "phone"), "k-phone");
    CHECK_STR(str(json_object_get(erased, "tags"), "utm_source"), "vk");
    char *text = cf_json_dumps(erased);
    CHECK(!strstr(text, "Olga") && !strstr(text, "olga@") && !strstr(text, "0000021") &&
          !strstr(text, "tooth") && !strstr(text, "tg-777"));
    free(text);
    /* the fact itself is left as it was */
    CHECK_STR(str(fact, "text"), "my tooth");
    CHECK_STR(str(json_object_get(fact, "contact"), "name"), "Olga");
    /* its keys are the fact's (the fold reads them before it strips it) */
    json_t *keys = leads_fact_keys(fact), *keys_erased = leads_fact_keys(erased);
    CHECK(json_equal(keys, keys_erased));
    json_decref(keys_erased);
    json_decref(keys);

    json_t *lead = json_pack("{s:s, s:o, s:o}", "lead_id", "l1", "contact", json_object(),
                             "contact_keys", json_object());
    json_t *pub = leads_public_lead(lead);
    CHECK(json_is_object(json_object_get(pub, "contact")));
    CHECK(!json_object_get(pub, "contact_keys")); /* an empty one is still left out */
    json_decref(pub);
    json_decref(lead);
    json_decref(erased);
    json_decref(fact);
}

/* The patient class a new lead gets from the shared view (common/patients.h). */
static void test_patient_class(void)
{
    const int64_t now = at("2026-11-24T07:00:00Z");
    json_t *pat = json_pack("{s:s}", "patient_id", "p1");
    CHECK_STR(cf_patients_class(NULL, now), "new");
    CHECK_STR(cf_patients_class(pat, now), "new"); /* a patient who never came */
    cf_time_json_set(pat, "last_visit_at", now - CF_PATIENTS_REPEAT_WITHIN_MS);
    CHECK_STR(cf_patients_class(pat, now), "repeat"); /* at the edge */
    cf_time_json_set(pat, "last_visit_at", now - CF_PATIENTS_REPEAT_WITHIN_MS - 1000);
    CHECK_STR(cf_patients_class(pat, now), "lapsed");
    /* classed after the first visit it led to (the fold behind): new */
    cf_time_json_set(pat, "last_visit_at", now + 86400000);
    cf_time_json_set(pat, "first_visit_at", now + 86400000);
    CHECK_STR(cf_patients_class(pat, now), "new");
    /* a patient since long before (monthly visits): one still, not lapsed
     * for a first visit years ago */
    cf_time_json_set(pat, "first_visit_at", now - 5 * 365 * 86400000LL);
    CHECK_STR(cf_patients_class(pat, now), "repeat");
    json_object_del(pat, "first_visit_at"); /* not given: a patient, seen lately */
    CHECK_STR(cf_patients_class(pat, now), "repeat");
    json_decref(pat);
}

/* A fact of network "n1" with id, kind and contact_keys (JSON text). */
static struct cf_event fact(const char *id, const char *kind, const char *keys_json)
{
    struct cf_event ev = {0};
    json_error_t jerr;

    snprintf(ev.id, sizeof(ev.id), "%s", id);
    ev.type = (char *)"clinicflow.lead.reported";
    ev.networkid = (char *)"n1";
    ev.data =
        json_pack("{s:s, s:o}", "kind", kind, "contact_keys", json_loads(keys_json, 0, &jerr));
    return ev;
}

static int has(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

/* Which runs go at once: requests (a key-less one included, one person
 * twice included), each with its keys' and its lead id's locks, each lock
 * once; a response or status, a fact twice, a tombstone go message by
 * message. */
static void test_batch_plan(void)
{
    struct cf_event a = fact("11111111-1111-4111-8111-111111111111", "request",
                             "{\"phone\": \"kp1\", \"email\": \"ke1\"}");
    struct cf_event b =
        fact("22222222-2222-4222-8222-222222222222", "request", "{\"messenger\": \"km2\"}");
    struct cf_event c = fact("33333333-3333-4333-8333-333333333333", "request", "{}");
    struct cf_event shares =
        fact("44444444-4444-4444-8444-444444444444", "request", "{\"email\": \"ke1\"}");
    struct cf_event other_net =
        fact("55555555-5555-4555-8555-555555555555", "request", "{\"email\": \"ke1\"}");
    struct cf_event status = fact("66666666-6666-4666-8666-666666666666", "status", "{}");
    struct cf_event response =
        fact("77777777-7777-4777-8777-777777777777", "response", "{\"phone\": \"kp9\"}");
    other_net.networkid = (char *)"n2";
    char lead_a[CF_UUID_STR_LEN + 1], lead_c[CF_UUID_STR_LEN + 1];
    leads_new_lead_id("n1", a.id, lead_a);
    leads_new_lead_id("n1", c.id, lead_c);
    char want_a[64], want_c[64];
    snprintf(want_a, sizeof(want_a), "lead/%s", lead_a);
    snprintf(want_c, sizeof(want_c), "lead/%s", lead_c);

    const struct cf_event *ok[] = {&a, &b, &c, &other_net};
    json_t *locks = json_array(), *keys = json_array();
    CHECK_INT(leads_batch_plan(ok, 4, locks, keys), 1);
    CHECK_INT((long long)json_array_size(locks), 4 + 4); /* 4 keys, 4 lead ids */
    CHECK(has(locks, "n1/kp1") && has(locks, "n1/ke1") && has(locks, "n1/km2"));
    CHECK(has(locks, "n2/ke1") && has(locks, want_a) && has(locks, want_c));
    CHECK_INT((long long)json_array_size(keys), 4);
    CHECK_INT((long long)json_array_size(json_array_get(keys, 0)), 2);
    CHECK_INT((long long)json_array_size(json_array_get(keys, 2)), 0);
    CHECK_STR(str(json_array_get(json_array_get(keys, 1), 0), "kind"), "messenger");
    json_decref(locks);
    json_decref(keys);

    const struct cf_event *shared[] = {&a, &b, &shares};
    locks = json_array();
    keys = json_array();
    CHECK_INT(leads_batch_plan(shared, 3, locks, keys), 1);
    CHECK_INT((long long)json_array_size(locks), 3 + 3); /* ke1 once */
    CHECK_INT((long long)json_array_size(keys), 3);
    json_decref(locks);
    json_decref(keys);

    const struct cf_event *with_status[] = {&a, &status};
    const struct cf_event *with_response[] = {&response, &b};
    const struct cf_event *twice[] = {&c, &b, &c};
    const struct cf_event *tombstone[] = {&a, NULL};
    const struct {
        const struct cf_event *const *evs;
        size_t n;
    } apart[] = {{with_status, 2}, {with_response, 2}, {twice, 3}, {tombstone, 2}, {ok, 0}};
    for (size_t i = 0; i < sizeof(apart) / sizeof(apart[0]); i++) {
        locks = json_array();
        keys = json_array();
        CHECK_INT(leads_batch_plan(apart[i].evs, apart[i].n, locks, keys), 0);
        json_decref(locks);
        json_decref(keys);
    }
    const struct cf_event *all[] = {&a, &b, &c, &shares, &other_net, &status, &response};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        json_decref(all[i]->data);
}

/* A lead received at its last message. */
static json_t *lead_at(const char *id, const char *status, const char *last)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "lead_id", id, "status", status, "received_at", last,
                     "last_message_at", last);
}

static json_t *closed_lead(const char *id, const char *received, const char *closed)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "lead_id", id, "status", "booked", "received_at",
                     received, "last_message_at", received, "closed_at", closed);
}

/* Which lead a request of a person with several joins, as the leads were
 * at its date: the one open then written to last (the lowest id among
 * equals), else the first that came after it; a lead closed before it
 * never. */
static void test_pick_open(void)
{
    const int64_t now = at("2026-03-01T13:00:00Z");
    json_t *leads = json_array();
    CHECK_INT(leads_pick_open(leads, now, NULL), -1);
    json_array_append_new(leads, lead_at("b", "open", "2026-03-01T10:00:00Z"));
    CHECK_INT(leads_pick_open(leads, now, NULL), 0);
    json_array_append_new(leads, lead_at("c", "booked", "2026-03-01T12:00:00Z")); /* no close */
    CHECK_INT(leads_pick_open(leads, now, NULL), 0);
    json_array_append_new(leads, lead_at("d", "open", "2026-03-01T11:00:00Z"));
    CHECK_INT(leads_pick_open(leads, now, NULL), 2);
    json_array_append_new(leads, lead_at("a", "open", "2026-03-01T11:00:00Z"));
    CHECK_INT(leads_pick_open(leads, now, NULL), 3);
    json_array_append_new(leads, json_pack("{s:s}", "status", "open")); /* no id */
    CHECK_INT(leads_pick_open(leads, now, NULL), 3);
    /* a's person erased since: a request written after it passes a over
     * for the person's other lead; one stored erased, or a response, not */
    json_object_set_new(json_array_get(leads, 3), "erased", json_true());
    json_t *j_request = json_pack("{s:s}", "kind", "request");
    json_t *j_erased = json_pack("{s:s, s:b}", "kind", "request", "erased", 1);
    CHECK_INT(leads_pick_open(leads, now, j_request), 2);
    CHECK_INT(leads_pick_open(leads, now, j_erased), 3);
    CHECK_INT(leads_pick_open(leads, now, NULL), 3);
    json_decref(j_request);
    json_decref(j_erased);
    json_decref(leads);

    /* "e" open 09:00-12:00, "x" open since 12:30 */
    leads = json_array();
    json_array_append_new(leads, closed_lead("e", "2026-03-01T09:00:00Z", "2026-03-01T12:00:00Z"));
    json_array_append_new(leads, lead_at("x", "open", "2026-03-01T12:30:00Z"));
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T11:00:00Z"), NULL), 0); /* told late: e's */
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T12:00:00Z"), NULL),
              0); /* its close's instant */
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T12:00:01Z"), NULL), 1); /* after it closed */
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T08:59:59Z"), NULL), 0); /* e came first after */
    CHECK_INT(leads_pick_open(leads, now, NULL), 1);
    /* "f" open 10:30-11:30 as well: the later written of the two open then */
    json_array_append_new(leads, closed_lead("f", "2026-03-01T10:30:00Z", "2026-03-01T11:30:00Z"));
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T11:00:00Z"), NULL), 2);
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T10:00:00Z"), NULL), 0);
    json_decref(leads);

    /* "g" open from day 1, closed on day 3; "h" opened on day 2 (past the
     * window after g's last message) and open: a request of day 2 told
     * on day 3 found both open then, and h was written to last */
    leads = json_array();
    json_array_append_new(leads, closed_lead("g", "2026-03-01T09:00:00Z", "2026-03-03T09:00:00Z"));
    json_array_append_new(leads, lead_at("h", "open", "2026-03-02T10:00:00Z"));
    CHECK_INT(leads_pick_open(leads, at("2026-03-02T11:00:00Z"), NULL), 1);
    CHECK_INT(leads_pick_open(leads, at("2026-03-02T09:00:00Z"), NULL), 0); /* before h came */
    /* ... and should that request be past g's window, h (which came
     * first after it) is the one to try next; none after h's arrival */
    CHECK_INT(leads_pick_next(leads, at("2026-03-02T09:00:00Z"), NULL), 1);
    CHECK_INT(leads_pick_next(leads, at("2026-03-02T11:00:00Z"), NULL), -1);
    json_decref(leads);
    /* nothing open then: the one after is leads_pick_open's, none next */
    leads = json_array();
    json_array_append_new(leads, lead_at("h", "open", "2026-03-02T10:00:00Z"));
    CHECK_INT(leads_pick_open(leads, at("2026-03-02T09:00:00Z"), NULL), 0);
    CHECK_INT(leads_pick_next(leads, at("2026-03-02T09:00:00Z"), NULL), -1);
    json_decref(leads);

    /* a first message retried late: the lead it came just before, closed
     * since, not a later one still open (the merge window decides) */
    leads = json_array();
    json_array_append_new(leads, closed_lead("k", "2026-03-02T09:30:00Z", "2026-03-02T11:00:00Z"));
    json_array_append_new(leads, lead_at("l", "open", "2026-03-03T10:00:00Z"));
    CHECK_INT(leads_pick_open(leads, at("2026-03-02T09:00:00Z"), NULL), 0);
    CHECK_INT(leads_pick_open(leads, at("2026-03-02T11:00:01Z"), NULL), 1);
    json_decref(leads);
    leads = json_array();
    json_array_append_new(leads, closed_lead("k", "2026-03-01T10:00:00Z", "2026-03-01T10:30:00Z"));
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T09:55:00Z"), NULL), 0);
    CHECK_INT(leads_pick_open(leads, at("2026-03-01T10:31:00Z"), NULL), -1);
    json_decref(leads);
}

int main(void)
{
    test_pick_open();
    test_merge_window_edges();
    test_keys_and_a_phone_that_arrives_later();
    test_tag_precedence();
    test_first_response_only_and_working_seconds();
    test_status_rules();
    test_public_lead_leaves_the_fold_own_out();
    test_patient_class();
    test_erased_fact();
    test_batch_plan();
    return cf_test_done();
}
