/*
 * What every provider adapter test needs: a webhook request built the way
 * hooks.c builds it (struct cf_hook and the JSON documents it borrows),
 * the demo network's channels, running an adapter over a request, and
 * reading the facts it made. Static functions: a test that does not use
 * one does not warn about it.
 */
#ifndef CF_TESTS_LEADS_FORMS_ADAPTER_FIXTURE_H
#define CF_TESTS_LEADS_FORMS_ADAPTER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "adapters.h"
#include "cftest.h"
#include "common/err.h"

#define FX_UNUSED __attribute__((unused))

/* One request and the documents it owns; the results of running it. */
struct fx {
    struct cf_hook h;
    json_t *query, *form, *headers, *channel, *facts;
    struct cf_hook_notes notes; /* what parse noted (h.notes points here) */
    char verify_err[256], parse_err[256];
    const char *parse_field; /* the field parse named, NULL when none */
    int verify_rc, parse_rc;
};

/* "a=1&b=%2B7" decoded into a new object as hooks.c does it (the first
 * value of a repeated name wins); NULL is an empty form. */
static FX_UNUSED json_t *fx_form(const char *s)
{
    json_t *obj = json_object();

    if (s)
        cf_hook_parse_urlencoded(s, strlen(s), obj);
    return obj;
}

/* Channel `id` of the demo network (deploy/local/demo-network.json), a new
 * document the test may change; NULL when the network has none. */
static FX_UNUSED json_t *fx_demo_channel_or_null(const char *id)
{
    json_error_t jerr;
    json_t *net = json_load_file(CF_SOURCE_DIR "/deploy/local/demo-network.json", 0, &jerr);
    json_t *found = NULL, *ch;
    size_t i;
    const char *cid;

    if (!net) {
        fprintf(stderr, "demo-network.json: %d:%d: %s\n", jerr.line, jerr.column, jerr.text);
        abort();
    }
    json_array_foreach(json_object_get(net, "channels"), i, ch)
    {
        if (!found && (cid = cf_hook_str(ch, "id")) != NULL && strcmp(cid, id) == 0)
            found = json_deep_copy(ch);
    }
    json_decref(net);
    return found;
}

/* The same, aborting when the network has no such channel. */
static FX_UNUSED json_t *fx_demo_channel(const char *id)
{
    json_t *found = fx_demo_channel_or_null(id);

    if (!found) {
        fprintf(stderr, "demo-network.json: no channel %s\n", id);
        abort();
    }
    return found;
}

/* Sets the channel's credentials to the object given (stolen). */
static FX_UNUSED json_t *fx_with_credentials(json_t *channel, json_t *credentials)
{
    json_object_set_new(channel, "credentials", credentials);
    return channel;
}

/* A request by method to url (its query decoded) on channel (stolen): no
 * body, no headers, no form until the test adds them. */
static FX_UNUSED void fx_init(struct fx *x, const char *method, const char *url, json_t *channel)
{
    const char *q = strchr(url, '?');

    memset(x, 0, sizeof(*x));
    x->query = fx_form(q ? q + 1 : NULL);
    x->form = json_object();
    x->headers = json_object();
    x->channel = channel;
    x->facts = json_array();
    x->h.method = method;
    x->h.subpath = "";
    x->h.public_url = url;
    x->h.body = "";
    x->h.query = x->query;
    x->h.form = x->form;
    x->h.headers = x->headers;
    x->h.channel = x->channel;
    x->h.notes = &x->notes;
}

/* The body (borrowed) with its content type; a form body is decoded into
 * h.form as hooks.c does. */
static FX_UNUSED void fx_body(struct fx *x, const char *body, const char *content_type)
{
    x->h.content_type = content_type;
    x->h.body = body;
    x->h.body_len = strlen(body);
    if (content_type && strncmp(content_type, "application/x-www-form-urlencoded", 33) == 0)
        cf_hook_parse_urlencoded(body, x->h.body_len, x->form);
}

/* Sets a string member of obj (a header, a query or form parameter) unless
 * value is NULL. */
static FX_UNUSED void fx_set(json_t *obj, const char *name, const char *value)
{
    if (value)
        json_object_set_new(obj, name, json_string(value));
}

static FX_UNUSED void fx_free(struct fx *x)
{
    json_decref(x->query);
    json_decref(x->form);
    json_decref(x->headers);
    json_decref(x->channel);
    json_decref(x->facts);
}

/* The adapter's verify: its rc. A refusal gives a reason, and the reason
 * never holds secret (when not NULL). */
static FX_UNUSED int fx_verify(struct fx *x, const struct leads_adapter *a, const char *secret)
{
    x->verify_err[0] = '\0';
    x->verify_rc = a->verify(&x->h, x->verify_err, sizeof(x->verify_err));
    CHECK(x->verify_rc == 0 || x->verify_err[0] != '\0');
    if (secret)
        CHECK(strstr(x->verify_err, secret) == NULL);
    return x->verify_rc;
}

/* The adapter's parse into x->facts: its rc; a failure gives a reason. */
static FX_UNUSED int fx_parse(struct fx *x, const struct leads_adapter *a)
{
    x->parse_err[0] = '\0';
    x->parse_field = NULL;
    x->parse_rc = a->parse(&x->h, x->facts, &x->parse_field, x->parse_err, sizeof(x->parse_err));
    CHECK(x->parse_rc == 0 || x->parse_err[0] != '\0');
    return x->parse_rc;
}

/* Verify, then parse whatever verify said (as the tests of what a refused
 * request would have given do). */
static FX_UNUSED void fx_run(struct fx *x, const struct leads_adapter *a)
{
    fx_verify(x, a, NULL);
    fx_parse(x, a);
}

/* Verifies x, frees it and returns verify's rc. */
static FX_UNUSED int fx_verify_free(struct fx *x, const struct leads_adapter *a, const char *secret)
{
    int rc = fx_verify(x, a, secret);

    fx_free(x);
    return rc;
}

/* What the last fx_parse_free's parse noted. */
static FX_UNUSED struct cf_hook_notes fx_last_notes;

/* Parses x, frees it and returns the facts (decref them); parse's rc in
 * *rc_out, its notes in fx_last_notes. */
static FX_UNUSED json_t *fx_parse_free(struct fx *x, const struct leads_adapter *a, int *rc_out)
{
    *rc_out = fx_parse(x, a);
    fx_last_notes = x->notes;
    json_t *facts = json_incref(x->facts);
    fx_free(x);
    return facts;
}

/* The same, for a request that must give exactly one fact. */
static FX_UNUSED json_t *fx_parse_one(struct fx *x, const struct leads_adapter *a)
{
    int rc;
    json_t *facts = fx_parse_free(x, a, &rc);

    CHECK_INT(rc, 0);
    CHECK_INT(json_array_size(facts), 1);
    return facts;
}

/* Case i (params) of a run request was authentic but not the provider's
 * format: CF_EINVAL with a reason, and no fact. */
static FX_UNUSED void fx_check_invalid(const struct fx *x, size_t i, const char *params)
{
    CHECK_INT(x->verify_rc, 0);
    if (x->parse_rc != CF_EINVAL)
        fprintf(stderr, "case %zu: %s\n", i, params);
    CHECK_INT(x->parse_rc, CF_EINVAL);
    CHECK(x->parse_err[0] != '\0');
    CHECK_INT(json_array_size(x->facts), 0);
}

/* Members of the first fact: a string (NULL when absent), an integer (-1
 * when absent or not an integer), present at all. */
static FX_UNUSED const char *fact_str(const json_t *facts, const char *key)
{
    return cf_hook_str(json_array_get(facts, 0), key);
}

static FX_UNUSED long long fact_int(const json_t *facts, const char *key)
{
    const json_t *v = json_object_get(json_array_get(facts, 0), key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static FX_UNUSED int fact_has(const json_t *facts, const char *key)
{
    return json_object_get(json_array_get(facts, 0), key) != NULL;
}

/* reply_ok over a reply that starts with content type type_before and a
 * junk body: 200 with body and content_type (NULL: none), from the adapter
 * named provider. */
static FX_UNUSED void fx_check_reply(const struct fx *x, const struct leads_adapter *a,
                                     const char *type_before, const char *provider,
                                     const char *content_type, const char *body)
{
    struct cf_hook_reply reply = {.status = 0, .content_type = type_before, .body = "junk"};

    a->reply_ok(&x->h, &reply);
    CHECK_INT(reply.status, 200);
    if (content_type)
        CHECK_STR(reply.content_type, content_type);
    else
        CHECK(reply.content_type == NULL);
    CHECK_STR(reply.body, body);
    CHECK_STR(a->provider, provider);
}

#endif
