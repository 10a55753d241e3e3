/*
 * WordPress Contact Form 7 through the common webhook add-on ("CF7 to
 * Webhook", plugin slug cf7-to-zapier): after a submission the site POSTs
 * json_encode of the form's fields by tag name (your-name, your-email,
 * your-message and the site's own, tel-NNN for a phone; a checkbox's
 * values as an array), or GET with them in the query. The add-on adds no
 * submission id and never retries, so the event key is a digest of the
 * fields: the same submission sent twice is one event.
 *
 * Nothing is signed: the channel's URL token (?token=) is checked. A
 * submission with no phone or e-mail is refused with 400 naming "phone":
 * the add-on does not retry, it reports the failure to the site owner.
 */
#include "adapters.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "form_fields.h"

static const struct leads_form_default cf7_defaults[] = {
    {"name", "your-name"},
    {"email", "your-email"},
    {"phone", "your-phone"},
    {"phone", "tel"},
    {"phone", "phone"},
    {"comment", "your-message"},
    {"service", "your-service"},
    {"consent", "acceptance"},
    {"utm_source", "utm_source"},
    {"utm_medium", "utm_medium"},
    {"utm_campaign", "utm_campaign"},
    {"utm_term", "utm_term"},
    {"utm_content", "utm_content"},
    {"gclid", "gclid"},
    {"yclid", "yclid"},
    {"fbclid", "fbclid"},
    {"ym_uid", "_ym_uid"},
    {"referrer", "referrer"},
    {"page_url", "page_url"},
};

static int cf7_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    return cf_hook_verify_url_token(h, errbuf, errbuf_size);
}

/* A phone the defaults did not find: CF7's tel fields are named by the
 * site ("tel-123", "tel-phone"); the first such field in the form. */
static void tel_field(json_t *j_fact, const json_t *j_fields)
{
    const char *key;
    json_t *j_val;

    if (json_object_get(j_fact, "phone"))
        return;
    json_object_foreach((json_t *)j_fields, key, j_val)
    {
        if (strncasecmp(key, "tel-", 4) != 0)
            continue;
        char *v = leads_form_value(j_fields, key);
        if (v) {
            json_object_set_new(j_fact, "phone", json_string(v));
            free(v);
            return;
        }
    }
}

static int cf7_parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                     size_t errbuf_size)
{
    json_t *j_fields = leads_form_fields(h), *j_fact = NULL;
    int rc = 0;

    if (!j_fields) {
        cf_seterr(errbuf, errbuf_size, "the body is JSON but not an object");
        return CF_EINVAL;
    }
    json_object_del(j_fields, "token"); /* a GET's query holds our URL token */
    if (leads_form_honeypot(h, j_fields)) {
        rc = cf_hook_ignored(h, "honeypot");
        goto out;
    }
    j_fact = leads_form_fact(h, j_fields, NULL, cf7_defaults,
                             sizeof(cf7_defaults) / sizeof(cf7_defaults[0]));
    if (!cf_hook_str(json_object_get(h->channel, "field_map"), "phone"))
        tel_field(j_fact, j_fields);
    rc = leads_form_emit(facts, j_fact, field_out, errbuf, errbuf_size);
out:
    json_decref(j_fact);
    json_decref(j_fields);
    return rc;
}

static void cf7_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = "application/json";
    memcpy(reply->body, "{}", 3);
}

const struct leads_adapter leads_adapter_cf7 = {
    .provider = "cf7",
    .verify = cf7_verify,
    .parse = cf7_parse,
    .reply_ok = cf7_reply_ok,
};
