/*
 * A lead's analytics columns, event by event (lead_facts.c): what each
 * lead.* event sets, the local hour it arrived, and events it cannot
 * place.
 */
#include "lead_facts_testable.h"

#include "cftest.h"

static json_t *patch(const char *type, const char *data_text, const char *tz)
{
    char err[128];
    json_t *data = json_loads(data_text, 0, NULL);
    json_t *p = an_lead_patch(type, data, cf_test_utc_ms(2026, 11, 23, 7, 0, 0), "net", tz, err,
                              sizeof(err));
    json_decref(data);
    return p;
}

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t n(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void test_received(void)
{
    json_t *p =
        patch("clinicflow.lead.received",
              "{\"lead_id\": \"L\", \"clinic_id\": \"c1\", \"provider\": \"telegram\","
              " \"channel\": \"demo-telegram\", \"received_at\": \"2026-11-22T21:12:05Z\","
              " \"patient_class\": \"lapsed\", \"contact_key\": \"ck\", \"status\": \"open\","
              " \"tags\": {\"utm_source\": \"vk\", \"utm_campaign\": \"implants\"}}",
              "Europe/Moscow");
    CHECK_STR(s(p, "lead_id"), "L");
    CHECK_STR(s(p, "network_id"), "net");
    CHECK_STR(s(p, "hour"), "2026-11-23 00:00:00"); /* 21:12 UTC is past midnight in Moscow */
    CHECK_STR(s(p, "received_at"), "2026-11-22T21:12:05.000Z");
    CHECK_STR(s(p, "provider"), "telegram");
    CHECK_STR(s(p, "channel_id"), "demo-telegram");
    CHECK_STR(s(p, "source"), "vk");
    CHECK_STR(s(p, "medium"), "");
    CHECK_STR(s(p, "campaign"), "implants");
    CHECK_STR(s(p, "patient_class"), "lapsed");
    CHECK_INT(n(p, "messages"), 1);
    CHECK_STR(s(p, "status"), "open");
    CHECK(json_is_false(json_object_get(p, "sla_breached")));
    /* the lead as it opened: a late one does not undo what came after */
    CHECK(json_is_true(json_object_get(p, "initial")));
    json_decref(p);

    /* no clinic named: "" (the report's null) */
    p = patch("clinicflow.lead.received",
              "{\"lead_id\": \"L\", \"received_at\": \"2026-11-22T21:12:05Z\"}", "UTC");
    CHECK_STR(s(p, "clinic_id"), "");
    CHECK_STR(s(p, "hour"), "2026-11-22 21:00:00");
    json_decref(p);

    /* an ad inside a messenger: no UTM tags, its referral */
    static const struct {
        const char *why, *provider, *tags, *source, *medium;
    } ads[] = {
        {"a Click-to-WhatsApp ad's", "whatsapp", "{\"referrer\": \"https://x.test/\"}", "meta_ads",
         "whatsapp"},
        {"its UTM tags, when the ad's link had them, win", "instagram", "{\"utm_source\": \"ig\"}",
         "ig", ""},
        {"a VK lead form's ad is VK's", "vk", "{}", "vk_ads", "vk"},
        {"a provider with no ads of its own: direct", "telegram", "{}", "", ""},
    };
    for (size_t i = 0; i < sizeof(ads) / sizeof(ads[0]); i++) {
        char data[512];
        snprintf(data, sizeof(data),
                 "{\"lead_id\": \"L\", \"provider\": \"%s\", \"received_at\":"
                 " \"2026-11-22T21:12:05Z\", \"tags\": %s,"
                 " \"referral\": {\"source_type\": \"ad\", \"source_id\": \"1202\"}}",
                 ads[i].provider, ads[i].tags);
        p = patch("clinicflow.lead.received", data, "UTC");
        CHECK_STR(s(p, "source"), ads[i].source);
        CHECK_STR(s(p, "medium"), ads[i].medium);
        CHECK_STR(s(p, "campaign"), "");
        json_decref(p);
    }

    CHECK(patch("clinicflow.lead.received", "{\"lead_id\": \"L\"}", "UTC") == NULL);
    CHECK(patch("clinicflow.lead.merged", "{\"messages\": 2}", "UTC") == NULL);
}

/* A batch's patches of one lead, in order: the later's columns win, but a
 * received after the lead's other events leaves what they set. */
static void test_merge_in_a_batch(void)
{
    json_t *have =
        patch("clinicflow.lead.merged",
              "{\"lead_id\": \"L\", \"messages\": 2, \"contact_key\": \"phone\"}", "UTC");
    json_t *p = patch("clinicflow.lead.status_changed",
                      "{\"lead_id\": \"L\", \"status\": \"booked\"}", "UTC");
    an_lead_patch_merge(have, p);
    json_decref(p);
    p = patch("clinicflow.lead.received",
              "{\"lead_id\": \"L\", \"received_at\": \"2026-11-22T21:12:05Z\","
              " \"contact_key\": \"messenger\", \"provider\": \"telegram\"}",
              "UTC");
    an_lead_patch_split_initial(p);
    CHECK(json_object_get(p, "initial") == NULL && json_object_get(p, "messages") == NULL);
    CHECK_INT(n(p, "init_messages"), 1);
    an_lead_patch_merge(have, p);
    json_decref(p);
    CHECK_INT(n(have, "messages"), 2);
    CHECK_STR(s(have, "status"), "booked");
    CHECK_STR(s(have, "contact_key"), "phone");
    /* the received's starting values apart, for what nothing else set */
    CHECK(json_object_get(have, "sla_breached") == NULL);
    CHECK(json_is_false(json_object_get(have, "init_sla_breached")));
    CHECK_STR(s(have, "init_contact_key"), "messenger");
    CHECK_STR(s(have, "provider"), "telegram"); /* the received's own */
    /* the usual order: the later event's columns win */
    p = patch("clinicflow.lead.merged", "{\"lead_id\": \"L\", \"messages\": 3}", "UTC");
    an_lead_patch_split_initial(p); /* not a received's: unchanged */
    an_lead_patch_merge(have, p);
    json_decref(p);
    CHECK_INT(n(have, "messages"), 3);
    json_decref(have);

    /* the received first in the batch, then a merge: the merge's count */
    have = patch("clinicflow.lead.received",
                 "{\"lead_id\": \"L\", \"received_at\": \"2026-11-22T21:12:05Z\"}", "UTC");
    an_lead_patch_split_initial(have);
    p = patch("clinicflow.lead.merged", "{\"lead_id\": \"L\", \"messages\": 3}", "UTC");
    an_lead_patch_merge(have, p);
    json_decref(p);
    CHECK_INT(n(have, "messages"), 3);
    CHECK_INT(n(have, "init_messages"), 1);
    json_decref(have);
}

static void test_the_rest(void)
{
    json_t *p =
        patch("clinicflow.lead.merged",
              "{\"lead_id\": \"L\", \"messages\": 3, \"contact_key\": \"phone-key\"}", "UTC");
    CHECK_INT(n(p, "messages"), 3);
    CHECK_STR(s(p, "contact_key"), "phone-key");
    CHECK(json_object_get(p, "hour") == NULL); /* the merge leaves the rest as it is */
    CHECK(json_object_get(p, "status") == NULL);
    CHECK(json_object_get(p, "initial") == NULL);
    json_decref(p);

    p = patch(
        "clinicflow.lead.responded",
        "{\"lead_id\": \"L\", \"responded_at\": \"2026-11-23T06:31:10Z\", \"via\": \"call\","
        " \"staff_id\": \"reception-1\", \"response_seconds\": 1145, \"working_seconds\": 845}",
        "UTC");
    CHECK_STR(s(p, "responded_at"), "2026-11-23T06:31:10.000Z");
    CHECK_INT(n(p, "response_seconds"), 1145);
    CHECK_INT(n(p, "working_seconds"), 845);
    CHECK_STR(s(p, "responder"), "reception-1");
    json_decref(p);

    p = patch("clinicflow.lead.status_changed",
              "{\"lead_id\": \"L\", \"status\": \"lost\", \"reason\": \"price\"}", "UTC");
    CHECK_STR(s(p, "status"), "lost");
    CHECK_STR(s(p, "lost_reason"), "price");
    CHECK_STR(s(p, "closed_at"), "2026-11-23T07:00:00.000Z"); /* the event's time */
    json_decref(p);

    /* the breach and the due time it was decided against: a response
     * dated by it and told later was in time (AN_LEAD_BREACHED) */
    p = patch("clinicflow.lead.sla_breached",
              "{\"lead_id\": \"L\", \"due_at\": \"2026-11-23T06:20:00Z\"}", "UTC");
    CHECK(json_is_true(json_object_get(p, "sla_breached")));
    CHECK_STR(s(p, "sla_due_at"), "2026-11-23T06:20:00.000Z");
    json_decref(p);
    p = patch("clinicflow.lead.sla_breached", "{\"lead_id\": \"L\"}", "UTC");
    CHECK(json_is_true(json_object_get(p, "sla_breached")));
    CHECK(json_object_get(p, "sla_due_at") == NULL);
    json_decref(p);

    /* a lead event type this version does not read: nothing to apply */
    p = patch("clinicflow.lead.tagged", "{\"lead_id\": \"L\"}", "UTC");
    CHECK_INT(json_object_size(p), 0);
    json_decref(p);
}

/* A lead's other keys: its messenger's and e-mail's, never its phone's. */
static void test_aliases(void)
{
    json_t *data = json_loads("{\"contact_key\": \"P\", \"contact_keys\": {\"phone\": \"P\","
                              " \"email\": \"E\", \"messenger\": \"M\"}}",
                              0, NULL);
    json_t *a = an_lead_aliases(data);
    CHECK_INT(json_array_size(a), 2);
    CHECK_STR(json_string_value(json_array_get(a, 0)), "E");
    CHECK_STR(json_string_value(json_array_get(a, 1)), "M");
    json_decref(a);
    json_decref(data);

    /* keyed by its messenger still: nothing else to name */
    data =
        json_loads("{\"contact_key\": \"M\", \"contact_keys\": {\"messenger\": \"M\"}}", 0, NULL);
    a = an_lead_aliases(data);
    CHECK_INT(json_array_size(a), 0);
    json_decref(a);
    json_decref(data);

    /* an event without a key (a response, an outcome): none */
    data = json_loads("{\"contact_keys\": {\"messenger\": \"M\"}}", 0, NULL);
    a = an_lead_aliases(data);
    CHECK_INT(json_array_size(a), 0);
    json_decref(a);
    json_decref(data);
}

/* Aliases of aliases lead to the person; an alias stays with its first
 * person; no link makes a loop; networks stay apart. */
static void test_person_links(void)
{
    json_t *map = json_object();

    CHECK_STR(an_person_of(map, "n1", "M"), "M");      /* nobody's alias: their own person */
    CHECK_INT(an_person_link(map, "n1", "M", "E"), 1); /* a messenger, then an e-mail */
    CHECK_INT(an_person_link(map, "n1", "E", "P"), 1); /* then a phone */
    CHECK_STR(an_person_of(map, "n1", "M"), "P");
    CHECK_STR(an_person_of(map, "n1", "E"), "P");
    CHECK_INT(an_person_link(map, "n1", "M", "Q"), 0); /* another phone later: M stays P's */
    CHECK_STR(an_person_of(map, "n1", "M"), "P");
    CHECK_INT(an_person_link(map, "n1", "P", "M"), 0); /* P's alias M is P */
    CHECK_INT(an_person_link(map, "n1", "P", "P"), 0);
    CHECK_STR(an_person_of(map, "n2", "M"), "M"); /* the same key in another network */
    CHECK_INT(an_person_link(map, "n2", "X", "M"), 1);
    CHECK_STR(an_person_of(map, "n2", "X"), "M");
    json_decref(map);
}

int main(void)
{
    test_received();
    test_merge_in_a_batch();
    test_the_rest();
    test_aliases();
    test_person_links();
    return cf_test_done();
}
