/*
 * The smsru gateway (gateway_testable.h): SMS.ru's sms/send as a form body
 * (POSTed rather than put in a query, so the api_id and the text stay out
 * of access logs), its JSON answer for our one phone, and its API
 * callback, a batch of "sms_status" entries that must be answered "100".
 * SMS.ru takes no client-side id and signs nothing: a send cannot be
 * deduplicated on its side, and the callback is trusted by the secret
 * token its URL carries.
 */
#include "gateway_testable.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json_text.h"
#include "common/strbuf.h"
#include "common/xmalloc.h"

char *gw_smsru_send_body(const char *api_id, const char *to, const char *text, const char *from,
                         int test)
{
    struct cf_strbuf body = {0};

    if (!api_id || !*api_id || !to || !text || !*text)
        return NULL;
    if (*to == '+')
        to++;
    if (!*to)
        return NULL;
    cf_strbuf_add_form(&body, "api_id", api_id);
    cf_strbuf_add_form(&body, "to", to);
    cf_strbuf_add_form(&body, "msg", text);
    cf_strbuf_add_form(&body, "json", "1");
    if (from && *from)
        cf_strbuf_add_form(&body, "from", from);
    if (test)
        cf_strbuf_add_form(&body, "test", "1");
    return cf_strbuf_take(&body);
}

/* An integer member, or a string of digits (SMS.ru's codes are numbers in
 * its JSON; a string is taken too): 0 with *out, or -1. */
static int code_of(const json_t *j, int *out)
{
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        if (v < -1000 || v > 100000)
            return -1;
        *out = (int)v;
        return 0;
    }
    const char *s = json_string_value(j);
    char *end;
    if (!s || !*s)
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < -1000 || v > 100000)
        return -1;
    *out = (int)v;
    return 0;
}

int gw_smsru_parse_send_answer(const char *body, size_t len, const char *to,
                               struct gw_smsru_sent *out)
{
    json_t *j = cf_json_loadb(body, len, 0, NULL);
    const json_t *j_number = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    const char *status = json_string_value(json_object_get(j, "status"));
    if (!status || code_of(json_object_get(j, "status_code"), &out->status_code) != 0) {
        rc = CF_EINVAL;
        goto out;
    }
    if (strcmp(status, "OK") != 0) { /* refused whole: api_id, balance, ... */
        const char *text = json_string_value(json_object_get(j, "status_text"));
        snprintf(out->error, sizeof(out->error), "%s", text ? text : "");
        goto out;
    }
    const json_t *j_sms = json_object_get(j, "sms");
    if (to && *to == '+')
        to++;
    j_number = to ? json_object_get(j_sms, to) : NULL;
    if (!j_number && json_object_size(j_sms) == 1) /* the one number, keyed its way */
        j_number = json_object_iter_value(json_object_iter((json_t *)j_sms));
    if (!json_is_object(j_number) ||
        code_of(json_object_get(j_number, "status_code"), &out->status_code) != 0) {
        rc = CF_EINVAL;
        goto out;
    }
    const char *n_status = json_string_value(json_object_get(j_number, "status"));
    const char *sms_id = json_string_value(json_object_get(j_number, "sms_id"));
    if (n_status && strcmp(n_status, "OK") == 0 && out->status_code == 100 && sms_id && *sms_id) {
        out->accepted = 1;
        snprintf(out->sms_id, sizeof(out->sms_id), "%s", sms_id);
    } else {
        const char *text = json_string_value(json_object_get(j_number, "status_text"));
        snprintf(out->error, sizeof(out->error), "%s", text ? text : "");
    }
out:
    json_decref(j);
    return rc;
}

int gw_smsru_retryable(int status_code)
{
    return status_code == 220 || status_code == 500;
}

enum gw_outcome gw_smsru_outcome(int status_code)
{
    switch (status_code) {
    case 102:
        return GW_OUTCOME_SMS_SENT;
    case 103:
    case 110:
        return GW_OUTCOME_SMS_DELIVERED;
    case 104:
    case 105:
    case 106:
    case 107:
    case 108:
    case 150:
        return GW_OUTCOME_SMS_FAILED;
    default: /* 100 queued, 101 passing to the operator, -1 not found, unknown */
        return GW_OUTCOME_IGNORED;
    }
}

/* "data[]" or "data[<digits>]" */
static int is_data_field(const char *name)
{
    size_t n = strlen(name);

    if (n < 6 || strncmp(name, "data[", 5) != 0 || name[n - 1] != ']')
        return 0;
    return strspn(name + 5, "0123456789") == n - 6;
}

/* The next line of an entry: its start in *line and length in *n, without
 * a trailing '\r'; *p moves past it. 0, or -1 at the end. */
static int next_line(const char **p, const char **line, size_t *n)
{
    if (!*p)
        return -1;
    const char *nl = strchr(*p, '\n');
    *line = *p;
    *n = nl ? (size_t)(nl - *p) : strlen(*p);
    *p = nl ? nl + 1 : NULL;
    if (*n > 0 && (*line)[*n - 1] == '\r')
        (*n)--;
    return 0;
}

/* A whole line of digits (an optional '-' first) as a number: 0, or -1. */
static int line_num(const char *line, size_t n, long long max, long long *out)
{
    size_t i = line[0] == '-' ? 1 : 0;
    long long v = 0;

    if (n <= i || n - i > 12)
        return -1;
    for (; i < n; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        v = v * 10 + (line[i] - '0');
    }
    if (v > max)
        return -1;
    *out = line[0] == '-' ? -v : v;
    return 0;
}

/* One entry: 1 read into *st, 0 of another type, -1 malformed. */
static int parse_entry(const char *entry, struct gw_smsru_status *st)
{
    const char *p = entry, *line;
    size_t n;
    long long code, t;

    if (next_line(&p, &line, &n) != 0)
        return -1;
    if (n != 10 || strncmp(line, "sms_status", 10) != 0)
        return n ? 0 : -1;
    if (next_line(&p, &line, &n) != 0 || n == 0 || n >= sizeof(st->sms_id))
        return -1;
    memcpy(st->sms_id, line, n);
    st->sms_id[n] = '\0';
    if (next_line(&p, &line, &n) != 0 || line_num(line, n, 100000, &code) != 0)
        return -1;
    st->status_code = (int)code;
    st->time_s = -1;
    if (next_line(&p, &line, &n) == 0 && n > 0) {
        if (line_num(line, n, 99999999999LL, &t) != 0 || t < 0)
            return -1;
        st->time_s = t;
    }
    st->outcome = gw_smsru_outcome(st->status_code);
    return 1;
}

size_t gw_smsru_parse_callback(const struct cf_form *form, struct gw_smsru_status *out, size_t max,
                               size_t *skipped)
{
    size_t got = 0;

    *skipped = 0;
    for (size_t i = 0; form && i < form->n; i++) {
        struct gw_smsru_status st = {0};
        if (!is_data_field(form->fields[i].name))
            continue;
        if (got >= max || parse_entry(form->fields[i].value, &st) != 1) {
            (*skipped)++;
            continue;
        }
        out[got++] = st;
    }
    return got;
}

int gw_smsru_check_token(const json_t *credentials, const char *got, char *errbuf,
                         size_t errbuf_size)
{
    return cf_form_check_token(json_string_value(json_object_get(credentials, "callback_token")),
                               got, errbuf, errbuf_size);
}
