/*
 * The inbound mail adapter (Mailgun routes) as pure functions. The
 * payloads (a forwarded mail urlencoded and multipart, its retry, stale
 * and future timestamps, other keys, a tampered token, no sender) are in
 * tests/fixtures/leads/email/, their signatures computed with python3 hmac
 * (tests/fixtures/leads/README.md), run by test_fixture_files. Here stay
 * the signature changed at run time, the reply, and that a mail with no
 * sender is answered 200 (Mailgun retries anything else for 8 hours).
 */
#include "fixture_leads.h"
#include "common/err.h"

#define KEY "demo-email-signing-key-0001"
#define URL "https://leads.example.com/v1/hooks/leads/email/demo-email"
/* 2026-11-20T09:01:00Z, a minute after the fixtures' timestamp */
#define RECEIVED_MS 1795165260000LL
#define SIG "31f6d74a2bd466b69d9c31b1768563583096ebbdff4523ec4d908b6c042d5bda"

static void test_fixture_files(void)
{
    size_t cases = 0;

    CHECK_INT(fixture_run_dir("email", &leads_adapter_email, &cases), 0);
    CHECK(cases > 0);
}

static int verify_with(const char *timestamp, const char *token, const char *signature)
{
    struct fx x;
    char body[512];

    snprintf(body, sizeof(body), "from=anna%%40example.com&timestamp=%s&token=%s&signature=%s",
             timestamp, token, signature);
    fx_init(&x, "POST", URL, fixture_channel("email"));
    fx_body(&x, body, "application/x-www-form-urlencoded");
    x.h.received_ms = RECEIVED_MS;
    x.h.replay_window_s = 43200;
    return fx_verify_free(&x, &leads_adapter_email, KEY);
}

/* The fixture route_forward's signature, then each of its signed parts
 * changed. */
static void test_signature(void)
{
    const char *tok = "c3f2b0e1a9d8475f6b2e3c1d0a9f8e7d6c5b4a3f2e1d0c9b8a";

    CHECK_INT(verify_with("1795165200", tok, SIG), 0);
    CHECK_INT(verify_with("1795165201", tok, SIG), CF_EAUTH);
    CHECK_INT(verify_with("1795165200", "c3f2b0e1a9d8475f6b2e3c1d0a9f8e7d6c5b4a3f2e1d0c9b8b", SIG),
              CF_EAUTH);
    /* the signature one hex digit off, cut short, or longer */
    CHECK_INT(verify_with("1795165200", tok,
                          "31f6d74a2bd466b69d9c31b1768563583096ebbdff4523ec4d908b6c042d5bdb"),
              CF_EAUTH);
    CHECK_INT(verify_with("1795165200", tok, "31f6d74a2bd466b6"), CF_EAUTH);
    CHECK_INT(verify_with("1795165200", tok, SIG "00"), CF_EAUTH);
    CHECK_INT(verify_with("1795165200", tok, ""), CF_EAUTH);
    CHECK_INT(verify_with("not-a-time", tok, SIG), CF_EAUTH);
    CHECK_INT(verify_with("1795165200", "", SIG), CF_EAUTH);
}

static void test_reply(void)
{
    struct fx x;

    fx_init(&x, "POST", URL, fixture_channel("email"));
    fx_check_reply(&x, &leads_adapter_email, "application/json", "email", NULL, "");
    CHECK_INT(leads_adapter_email.never_refuse, 1);
    fx_free(&x);
}

/* The display name and address of From in its spellings; a From without
 * an address, or with one that is not, falls back to the envelope
 * sender. */
static void test_from(void)
{
    static const struct {
        const char *body, *name, *email;
    } rows[] = {
        {"from=%22Roe%2C+Jane%22+%3Cjane%40example.com%3E", "Roe, Jane", "jane@example.com"},
        /* a quoted string's quoted pairs read as their characters; words
         * and quoted strings of one name as they read */
        {"from=%22John+%5C%22Johnny%5C%22+Doe%22+%3Cjohn%40example.com%3E", "John \"Johnny\" Doe",
         "john@example.com"},
        {"from=%22C%3A%5C%5Cdir%22+%3Cc%40example.com%3E", "C:\\dir", "c@example.com"},
        {"from=Jane+%22J.%22+Roe+%3Cjane%40example.com%3E", "Jane J. Roe", "jane@example.com"},
        {"from=%22+%22+%3Cjane%40example.com%3E", NULL, "jane@example.com"},
        {"from=jane%40example.com", NULL, "jane@example.com"},
        {"from=%3Cjane%40example.com%3E", NULL, "jane@example.com"},
        {"from=Jane&sender=bounce%40example.com", NULL, "bounce@example.com"},
        /* an address that is not one (a comment after it, cut short): the
         * envelope sender, not no contact at all */
        {"from=ivan%40example.org+%28Ivan%29&sender=ivan%40example.org", NULL, "ivan@example.org"},
        {"from=ivan%40&sender=bounce%40example.com", NULL, "bounce@example.com"},
    };
    char body[512];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct fx x;
        snprintf(body, sizeof(body), "%s&token=t1&timestamp=1795165200&body-plain=hi",
                 rows[i].body);
        fx_init(&x, "POST", URL, fixture_channel("email"));
        fx_body(&x, body, "application/x-www-form-urlencoded");
        json_t *facts = fx_parse_one(&x, &leads_adapter_email);
        if (rows[i].name)
            CHECK_STR(fact_str(facts, "name"), rows[i].name);
        else
            CHECK(!fact_has(facts, "name"));
        CHECK_STR(fact_str(facts, "email"), rows[i].email);
        CHECK_STR(fact_str(facts, "text"), "hi"); /* body-plain without stripped-text */
        json_decref(facts);
    }
}

int main(void)
{
    test_fixture_files();
    test_signature();
    test_reply();
    test_from();
    return cf_test_done();
}
