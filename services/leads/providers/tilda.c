/*
 * Tilda's form webhook (Site Settings -> Forms -> Webhook): one POST per
 * submission with the form's fields by their variable names (Name, Phone,
 * Email by default), urlencoded or JSON, plus tranid (the submission id:
 * the event key, repeated by Tilda's retries), formid and, when ticked,
 * the UTM fields and COOKIES. Adding the receiver sends "test=test", which
 * must be answered "ok" for Tilda to accept the URL.
 *
 * Tilda signs nothing: the channel's URL token (?token=) is checked, and
 * when the channel also has an api_key credential the request must carry
 * it too (the key Tilda sends in a header or a body field the site owner
 * names "api_key"; see PROVIDERS.md). Everything is answered 200 "ok",
 * including a submission with no phone or e-mail (never_refuse): Tilda
 * only marks a refused submission as failed and retries it.
 */
#include "adapters.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hash.h"
#include "form_fields.h"

static const struct leads_form_default tilda_defaults[] = {
    {"name", "Name"},
    {"phone", "Phone"},
    {"email", "Email"},
    {"comment", "Comment"},
    {"comment", "Textarea"},
    {"form_id", "formid"},
    {"utm_source", "utm_source"},
    {"utm_medium", "utm_medium"},
    {"utm_campaign", "utm_campaign"},
    {"utm_term", "utm_term"},
    {"utm_content", "utm_content"},
    {"gclid", "gclid"},
    {"yclid", "yclid"},
    {"fbclid", "fbclid"},
    {"referrer", "referer"},
    {"referrer", "referrer"},
    {"page_url", "page_url"},
};

/* Tilda's test request: the one field test=test. */
static int is_test(const json_t *j_fields)
{
    const char *test = cf_hook_str(j_fields, "test");

    return test && strcmp(test, "test") == 0 && !json_object_get(j_fields, "tranid");
}

static int tilda_precheck(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    json_t *j_fields = leads_form_fields(h);
    const int test = j_fields && is_test(j_fields);

    json_decref(j_fields);
    if (!test)
        return 0;
    reply->status = 200;
    reply->content_type = NULL;
    memcpy(reply->body, "ok", 3);
    return 1;
}

/* The API key as the request carries it: a header api-key or x-api-key,
 * or a body field api_key / apikey. NULL when none. */
static const char *api_key_of(const struct cf_hook *h, const json_t *j_fields)
{
    static const char *const headers[] = {"api-key", "x-api-key"};
    static const char *const fields[] = {"api_key", "apikey"};

    for (size_t i = 0; i < 2; i++) {
        const char *v = cf_hook_header(h, headers[i]);
        if (v)
            return v;
    }
    for (size_t i = 0; i < 2; i++) {
        const char *v = cf_hook_str(j_fields, fields[i]);
        if (v)
            return v;
    }
    return NULL;
}

static int tilda_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *want = cf_hook_credential(h, "api_key");
    int rc = cf_hook_verify_url_token(h, errbuf, errbuf_size);

    if (rc != 0 || !want || !*want)
        return rc;
    json_t *j_fields = leads_form_fields(h);
    const char *got = api_key_of(h, j_fields);
    if (!got) {
        cf_seterr(errbuf, errbuf_size, "missing api key");
        rc = CF_EAUTH;
    } else if (!cf_ct_equal(want, strlen(want), got, strlen(got))) {
        cf_seterr(errbuf, errbuf_size, "wrong api key");
        rc = CF_EAUTH;
    }
    json_decref(j_fields);
    return rc;
}

/* Ad tags Tilda puts in COOKIES when "send cookies" is ticked: Yandex
 * Metrica's _ym_uid, and Google Analytics' client id from _ga
 * ("GA1.2.<random>.<time>": the last two parts). */
static void cookie_tags(json_t *j_fact, const json_t *j_fields)
{
    char *cookies = leads_form_value(j_fields, "COOKIES");
    json_t *j_tags = json_object_get(j_fact, "tags");
    char *ym = leads_cookie_value(cookies, "_ym_uid");
    char *ga = leads_cookie_value(cookies, "_ga");

    if ((ym || ga) && !j_tags) {
        j_tags = json_object();
        json_object_set_new(j_fact, "tags", j_tags);
    }
    if (ym && !json_object_get(j_tags, "ym_uid"))
        json_object_set_new(j_tags, "ym_uid", json_string(ym));
    if (ga && !json_object_get(j_tags, "client_id")) {
        const char *p = strchr(ga, '.');
        p = p ? strchr(p + 1, '.') : NULL;
        if (p && p[1])
            json_object_set_new(j_tags, "client_id", json_string(p + 1));
    }
    free(cookies);
    free(ym);
    free(ga);
}

static int tilda_parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                       size_t errbuf_size)
{
    json_t *j_fields = leads_form_fields(h), *j_fact = NULL;
    char *tranid = NULL;
    int rc = 0;

    if (!j_fields) {
        cf_seterr(errbuf, errbuf_size, "the body is JSON but not an object");
        return CF_EINVAL;
    }
    if (is_test(j_fields)) {
        rc = cf_hook_ignored(h, "test_request");
        goto out;
    }
    if (leads_form_honeypot(h, j_fields)) {
        rc = cf_hook_ignored(h, "honeypot");
        goto out;
    }
    /* no tranid is not seen from Tilda; the digest keys a resent copy alike */
    tranid = leads_form_value(j_fields, "tranid");
    j_fact = leads_form_fact(h, j_fields, tranid, tilda_defaults,
                             sizeof(tilda_defaults) / sizeof(tilda_defaults[0]));
    cookie_tags(j_fact, j_fields);
    rc = leads_form_emit(facts, j_fact, field_out, errbuf, errbuf_size);
out:
    free(tranid);
    json_decref(j_fact);
    json_decref(j_fields);
    return rc;
}

static void tilda_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = NULL;
    memcpy(reply->body, "ok", 3);
}

const struct leads_adapter leads_adapter_tilda = {
    .provider = "tilda",
    .precheck = tilda_precheck,
    .verify = tilda_verify,
    .parse = tilda_parse,
    .reply_ok = tilda_reply_ok,
    .never_refuse = 1,
};
