/*
 * The JivoChat adapter as pure functions. The payloads are Jivo's own
 * examples from its Webhooks API page (offline_message, chat_accepted,
 * chat_finished, call_event, client_updated), verbatim, and a few shaped
 * from them, in tests/fixtures/leads/jivo/, run by test_fixture_files.
 * Here stay the reply Jivo asks for, the events that record nothing, and
 * that a chat is one request, brought by its chat_finished.
 */
#include "fixture_leads.h"
#include "common/err.h"

#define URL "https://leads.example.com/v1/hooks/leads/jivo/demo-jivo?token=demo-jivo-url-token-0001"

static json_t *parse_body(const char *body, int *rc)
{
    struct fx x;

    fx_init(&x, "POST", URL, fixture_channel("jivo"));
    fx_body(&x, body, "application/json");
    return fx_parse_free(&x, &leads_adapter_jivo, rc);
}

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("jivo", &leads_adapter_jivo, &cases), 0);
    CHECK(cases > 0);
}

static void test_reply(void)
{
    struct fx x;

    fx_init(&x, "POST", URL, fixture_channel("jivo"));
    fx_check_reply(&x, &leads_adapter_jivo, NULL, "jivo", "application/json",
                   "{\"result\":\"ok\"}");
    fx_free(&x);
}

/* A chat is one request, from chat_finished (key "chat:<chat_id>"):
 * chat_accepted and chat_updated, which carry no time of the visitor's,
 * are acknowledged and noted, even with a contact. */
static void test_one_chat_one_request(void)
{
    static const char *const names[] = {"chat_accepted", "chat_updated", "chat_finished"};
    char body[256];
    int rc;

    for (size_t i = 0; i < 3; i++) {
        snprintf(
            body, sizeof(body),
            "{\"event_name\":\"%s\",\"chat_id\":7607,\"visitor\":{\"phone\":\"+79161234567\"}}",
            names[i]);
        json_t *facts = parse_body(body, &rc);
        CHECK_INT(rc, 0);
        if (i < 2) {
            CHECK_INT(json_array_size(facts), 0);
            CHECK_STR(fx_last_notes.ignored, "chat_in_progress");
        } else {
            CHECK_INT(json_array_size(facts), 1); /* no agent message, no response */
            CHECK_STR(fact_str(facts, "event_key"), "chat:7607");
            CHECK_STR(fact_str(facts, "kind"), "request");
        }
        json_decref(facts);
    }
}

/* Events that are no request are acknowledged with their name noted; a
 * call that is not a callback request is none either. */
static void test_ignored(void)
{
    static const char *const bodies[] = {
        "{\"event_name\":\"chat_assigned\",\"chat_id\":1,\"visitor\":{\"phone\":\"+79161234567\"}}",
        "{\"event_name\":\"call_event\",\"chat_id\":1,\"call\":{\"type\":\"incoming\",\"phone\":"
        "\"+79161234567\"}}",
        "{\"event_name\":\"created_deal\",\"deal_id\":3}",
    };
    int rc;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        json_t *facts = parse_body(bodies[i], &rc);
        CHECK_INT(rc, 0);
        CHECK_INT(json_array_size(facts), 0);
        CHECK_STR(fx_last_notes.ignored, "event_type");
        json_decref(facts);
    }
}

/* A chat event without chat_id, and bodies that are not JSON objects. */
static void test_invalid(void)
{
    static const char *const bodies[] = {
        "{\"event_name\":\"chat_finished\",\"visitor\":{\"phone\":\"+79161234567\"}}",
        "[]",
        "not json",
        "{\"event_name\":42}",
    };
    int rc;

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        json_t *facts = parse_body(bodies[i], &rc);
        CHECK_INT(rc, CF_EINVAL);
        CHECK_INT(json_array_size(facts), 0);
        json_decref(facts);
    }
}

/* An agent who never wrote (the chat ended unanswered) gives no response;
 * the first agent message is the response, not a later one. */
static void test_response(void)
{
    int rc;
    json_t *facts = parse_body(
        "{\"event_name\":\"chat_finished\",\"chat_id\":9,\"visitor\":{\"email\":\"a@example.com\"},"
        "\"chat\":{\"messages\":[{\"message\":\"hi\",\"timestamp\":1795165200,\"type\":\"visitor\"}"
        "]}}",
        &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    json_decref(facts);

    facts = parse_body(
        "{\"event_name\":\"chat_finished\",\"chat_id\":9,\"visitor\":{\"email\":\"a@example.com\"},"
        "\"chat\":{\"messages\":[{\"message\":\"hi\",\"timestamp\":1795165200,\"type\":\"visitor\"}"
        ","
        "{\"message\":\"a\",\"timestamp\":1795165260,\"type\":\"agent\",\"agent_id\":5},"
        "{\"message\":\"b\",\"timestamp\":1795165320,\"type\":\"agent\",\"agent_id\":6}]}}",
        &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 2);
    const json_t *j_resp = json_array_get(facts, 1);
    CHECK_STR(cf_hook_str(j_resp, "kind"), "response");
    CHECK_STR(cf_hook_str(j_resp, "staff_id"), "5");
    CHECK_STR(cf_hook_str(j_resp, "time"), "2026-11-20T09:01:00.000Z");
    CHECK_STR(cf_hook_str(j_resp, "email"), "a@example.com");
    json_decref(facts);
    /* an agent's greeting before the visitor wrote is no answer to them */
    facts = parse_body(
        "{\"event_name\":\"chat_finished\",\"chat_id\":9,\"visitor\":{\"email\":\"a@example.com\"},"
        "\"chat\":{\"messages\":[{\"message\":\"hello\",\"timestamp\":1795165100,\"type\":"
        "\"agent\","
        "\"agent_id\":4},{\"message\":\"hi\",\"timestamp\":1795165200,\"type\":\"visitor\"},"
        "{\"message\":\"a\",\"timestamp\":1795165260,\"type\":\"agent\",\"agent_id\":5}]}}",
        &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 2);
    CHECK_STR(fact_str(facts, "time"), "2026-11-20T09:00:00.000Z");
    CHECK_STR(cf_hook_str(json_array_get(facts, 1), "staff_id"), "5");
    json_decref(facts);

    /* nobody but the agent wrote: no response */
    facts = parse_body(
        "{\"event_name\":\"chat_finished\",\"chat_id\":9,\"visitor\":{\"email\":\"a@example.com\"},"
        "\"chat\":{\"messages\":[{\"message\":\"hello\",\"timestamp\":1795165100,\"type\":"
        "\"agent\","
        "\"agent_id\":4}]}}",
        &rc);
    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    json_decref(facts);
}

int main(void)
{
    test_fixture_files();
    test_reply();
    test_one_chat_one_request();
    test_ignored();
    test_invalid();
    test_response();
    return cf_test_done();
}
