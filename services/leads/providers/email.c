/*
 * Inbound mail through a Mailgun route (forward("<our URL>")): Mailgun
 * POSTs the parsed mail as form fields, urlencoded, or multipart/form-data
 * when the mail has attachments (their parts are skipped here): from,
 * sender, subject, body-plain, stripped-text, message-headers (a JSON list
 * of [name, value]) and timestamp, token, signature.
 *
 * Mailgun signs only timestamp + token: signature is the lowercase hex
 * HMAC-SHA256 of the two concatenated, keyed with the account's HTTP
 * webhook signing key (the channel's "signing_key" credential). The mail
 * itself is not signed, so a captured signature could carry any mail:
 * the timestamp must lie within the replay window of the arrival, and the
 * event key is the token, so a replayed token is the same event and
 * changes nothing. Nothing else is checked: the route's URL needs no token.
 *
 * A mail with no sender address is answered 200 and counted, not refused
 * (never_refuse): any answer but 200 or 406 makes Mailgun retry for 8
 * hours.
 */
#include "adapters.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/time.h"
#include "common/validate.h"
#include "common/xmalloc.h"

/* Finds needle (n bytes) in s[0..len), or NULL. */
static const char *find_bytes(const char *s, size_t len, const char *needle, size_t n)
{
    for (size_t i = 0; n <= len && i <= len - n; i++) {
        if (s[i] == needle[0] && memcmp(s + i, needle, n) == 0)
            return s + i;
    }
    return NULL;
}

/* The first place needle occurs in s without regard to ASCII case, or
 * NULL. */
static const char *find_nocase(const char *s, const char *needle)
{
    size_t n = strlen(needle);

    for (; s && *s; s++) {
        if (strncasecmp(s, needle, n) == 0)
            return s;
    }
    return NULL;
}

/* The boundary parameter of a multipart content type into out: 0, or -1. */
static int boundary_of(const char *ct, char *out, size_t size)
{
    const char *p = ct ? find_nocase(ct, "boundary=") : NULL;
    size_t n;

    if (!p)
        return -1;
    p += 9;
    if (*p == '"') {
        p++;
        n = strcspn(p, "\"");
    } else {
        n = strcspn(p, "; \t");
    }
    if (n == 0 || n + 3 > size)
        return -1;
    memcpy(out, "--", 2);
    memcpy(out + 2, p, n);
    out[n + 2] = '\0';
    return 0;
}

/* The name="..." of a part's Content-Disposition (headers hdr[0..len)) into
 * out, and whether it has a filename: 0, or -1 when the part has no name. */
static int part_name(const char *hdr, size_t len, char *out, size_t size, int *is_file)
{
    char *copy = cf_xmalloc(len + 1);
    int rc = -1;

    memcpy(copy, hdr, len);
    copy[len] = '\0';
    const char *disp = find_nocase(copy, "content-disposition:");
    const char *line_end = disp ? disp + strcspn(disp, "\r\n") : NULL;
    const char *name = disp ? find_nocase(disp, "name=\"") : NULL;
    /* "filename=" also holds "name=": take the name whose left is not "file" */
    while (name && name - disp >= 4 && strncasecmp(name - 4, "file", 4) == 0)
        name = find_nocase(name + 6, "name=\"");
    if (name && name < line_end) {
        name += 6;
        size_t n = strcspn(name, "\"");
        if (n > 0 && n < size) {
            memcpy(out, name, n);
            out[n] = '\0';
            const char *file = find_nocase(disp, "filename=");
            *is_file = file && file < line_end;
            rc = 0;
        }
    }
    free(copy);
    return rc;
}

/* A multipart/form-data body's text fields into j_fields (the first of a
 * repeated name wins; files and values that are not UTF-8 are skipped):
 * 0, or CF_EINVAL when the body is not multipart. */
static int parse_multipart(const struct cf_hook *h, json_t *j_fields)
{
    char delim[128], name[128];
    const char *end = h->body + h->body_len;
    size_t dlen;

    if (boundary_of(h->content_type, delim, sizeof(delim)) != 0)
        return CF_EINVAL;
    dlen = strlen(delim);
    const char *p = find_bytes(h->body, h->body_len, delim, dlen);
    while (p) {
        p += dlen;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            break; /* the closing delimiter */
        const char *hdr_end = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hdr_end)
            return CF_EINVAL;
        const char *value = hdr_end + 4;
        const char *next = find_bytes(value, (size_t)(end - value), delim, dlen);
        if (!next)
            return CF_EINVAL;
        /* the value ends before the CRLF that precedes the delimiter */
        size_t vlen = (size_t)(next - value);
        if (vlen >= 2 && value[vlen - 2] == '\r' && value[vlen - 1] == '\n')
            vlen -= 2;
        int is_file = 0;
        if (part_name(p, (size_t)(hdr_end - p), name, sizeof(name), &is_file) == 0 && !is_file &&
            !json_object_get(j_fields, name)) {
            json_t *j_val = json_stringn(value, vlen);
            if (j_val)
                json_object_set_new(j_fields, name, j_val);
        }
        p = next;
    }
    return 0;
}

/* The mail's fields as a new object: the decoded urlencoded form, or the
 * multipart body's text parts. NULL when a multipart body is malformed. */
static json_t *mail_fields(const struct cf_hook *h)
{
    if (h->content_type && strncasecmp(h->content_type, "multipart/form-data", 19) == 0) {
        json_t *j_fields = json_object();
        if (parse_multipart(h, j_fields) != 0) {
            json_decref(j_fields);
            return NULL;
        }
        return j_fields;
    }
    return h->form ? json_deep_copy(h->form) : json_object();
}

/* Unix seconds of a timestamp field: 0 and *out, or -1. */
static int read_timestamp(const char *s, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;

    for (; s && s[n] >= '0' && s[n] <= '9' && n < 12; n++)
        v = v * 10 + (s[n] - '0');
    if (n == 0 || (s && s[n] != '\0'))
        return -1;
    *out = v;
    return 0;
}

static int email_verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    const char *key = cf_hook_credential(h, "signing_key");
    json_t *j_fields = NULL;
    int rc = 0;

    if (!key || !*key) {
        cf_seterr(errbuf, errbuf_size, "the channel has no signing_key credential");
        return CF_EAUTH;
    }
    j_fields = mail_fields(h);
    const char *ts = cf_hook_str(j_fields, "timestamp");
    const char *token = cf_hook_str(j_fields, "token");
    const char *sig = cf_hook_str(j_fields, "signature");
    int64_t ts_s;
    if (!ts || !token || !sig || !*token) {
        cf_seterr(errbuf, errbuf_size, "missing timestamp, token or signature");
        rc = CF_EAUTH;
        goto out;
    }
    if (read_timestamp(ts, &ts_s) != 0) {
        cf_seterr(errbuf, errbuf_size, "timestamp is not a number");
        rc = CF_EAUTH;
        goto out;
    }

    size_t tlen = strlen(ts), klen = strlen(token);
    char *msg = cf_xmalloc(tlen + klen + 1);
    uint8_t mac[32];
    char want[CF_SHA256_HEX_LEN + 1], got[CF_SHA256_HEX_LEN + 1];
    memcpy(msg, ts, tlen);
    memcpy(msg + tlen, token, klen);
    cf_hmac_sha256(key, strlen(key), msg, tlen + klen, mac);
    free(msg);
    cf_hex(mac, sizeof(mac), want);
    size_t slen = strlen(sig);
    for (size_t i = 0; i < slen && i < CF_SHA256_HEX_LEN; i++)
        got[i] = (char)tolower((unsigned char)sig[i]);
    got[slen < CF_SHA256_HEX_LEN ? slen : CF_SHA256_HEX_LEN] = '\0';
    if (slen != CF_SHA256_HEX_LEN || !cf_ct_equal(want, CF_SHA256_HEX_LEN, got, slen)) {
        cf_seterr(errbuf, errbuf_size, "wrong signature");
        rc = CF_EAUTH;
        goto out;
    }
    /* Only timestamp and token are signed: a captured triple is good for
     * any mail, so it is good only near the time it was signed. */
    const int64_t skew_ms = h->received_ms - ts_s * 1000;
    if (h->replay_window_s > 0 && (skew_ms > (int64_t)h->replay_window_s * 1000 ||
                                   -skew_ms > (int64_t)h->replay_window_s * 1000)) {
        cf_seterr(errbuf, errbuf_size, "timestamp is outside the replay window");
        rc = cf_hook_refused(h, "replay");
        goto out;
    }
out:
    json_decref(j_fields);
    return rc;
}

/* Splits a From header ("Jane Roe <jane@example.com>", "jane@example.com",
 * "\"Roe, Jane\" <jane@example.com>") into the fact's name and email (an
 * address cf_validate_email takes; none else). */
static void set_from(json_t *j_fact, const char *from)
{
    const char *lt = strrchr(from, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    const char *addr = from, *addr_end = from + strlen(from);

    if (lt && gt) {
        addr = lt + 1;
        addr_end = gt;
        /* the display name before '<', its words and quoted strings as
         * they read: without the quotes, a quoted pair (\" or \\) as its
         * character, the spaces around trimmed */
        const char *n = from, *n_end = lt;
        while (n < n_end && *n == ' ')
            n++;
        while (n_end > n && n_end[-1] == ' ')
            n_end--;
        char *name = cf_xmalloc((size_t)(n_end - n) + 1), *o = name;
        int quoted = 0;
        for (const char *c = n; c < n_end; c++) {
            if (*c == '"')
                quoted = !quoted;
            else if (quoted && *c == '\\' && c + 1 < n_end)
                *o++ = *++c;
            else
                *o++ = *c;
        }
        while (o > name && o[-1] == ' ')
            o--;
        *o = '\0';
        const char *start = name;
        while (*start == ' ')
            start++;
        json_t *j_name = *start ? json_string(start) : NULL;
        if (j_name)
            json_object_set_new(j_fact, "name", j_name);
        free(name);
    }
    while (addr < addr_end && *addr == ' ')
        addr++;
    while (addr_end > addr && addr_end[-1] == ' ')
        addr_end--;
    /* only an address that is one: else the envelope sender is read */
    json_t *j_addr = memchr(addr, '@', (size_t)(addr_end - addr))
                         ? json_stringn(addr, (size_t)(addr_end - addr))
                         : NULL;
    char *valid = j_addr ? cf_validate_email(json_string_value(j_addr)) : NULL;
    if (valid)
        json_object_set_new(j_fact, "email", json_incref(j_addr));
    free(valid);
    json_decref(j_addr);
}

/* The first header called name in message-headers (a JSON string:
 * [["Name", "value"], ...]; names in any case), as a new reference, or
 * NULL. */
static json_t *mail_header(const json_t *j_fields, const char *name)
{
    const char *headers = cf_hook_str(j_fields, "message-headers");
    json_error_t jerr;
    json_t *j_headers = headers ? cf_json_loads(headers, 0, &jerr) : NULL, *j_value = NULL;
    const json_t *j_pair;
    size_t i;

    json_array_foreach(j_headers, i, j_pair)
    {
        const char *n = json_string_value(json_array_get(j_pair, 0));
        const char *value = json_string_value(json_array_get(j_pair, 1));
        if (n && value && *value && strcasecmp(n, name) == 0) {
            j_value = json_string(value);
            break;
        }
    }
    json_decref(j_headers);
    return j_value;
}

/* The first address of an address list header (RFC 5322): up to the
 * first comma outside a quoted string, <> and a (comment), with the
 * comments left out ("c@x (Ivan, S.)" is c@x) and a quoted string's
 * backslash escapes kept as they are (set_from reads the name and the
 * address, and unescapes the name). A new string. */
static char *first_address(const char *list)
{
    char *out = cf_xmalloc(strlen(list) + 1), *o = out;
    int quoted = 0, angled = 0, comment = 0;

    for (const char *c = list; *c; c++) {
        if (quoted) {
            if (*c == '\\' && c[1])
                *o++ = *c++;
            else if (*c == '"')
                quoted = 0;
        } else if (comment) {
            if (*c == '\\' && c[1])
                c++;
            else if (*c == '(')
                comment++;
            else if (*c == ')')
                comment--;
            continue;
        } else if (*c == '(') {
            comment = 1;
            continue;
        } else if (*c == '"') {
            quoted = 1;
        } else if (*c == '<') {
            angled = 1;
        } else if (*c == '>') {
            angled = 0;
        } else if (*c == ',' && !angled) {
            break;
        }
        *o++ = *c;
    }
    *o = '\0';
    return out;
}

/* The person who wrote: the address in the From header (its display name
 * as the name), else the envelope sender; but a Reply-To naming another
 * address wins. A site's form notification comes From the site's own
 * mailbox (every such mail the same address, and so one person) with the
 * visitor in Reply-To; replying there is what the mail asks. Reply-To's
 * first address only (it may list several). */
static void set_person(json_t *j_fact, const json_t *j_fields)
{
    const char *from = cf_hook_str(j_fields, "from");
    const char *sender = cf_hook_str(j_fields, "sender");
    json_t *j_reply_to = mail_header(j_fields, "Reply-To");

    set_from(j_fact, from ? from : "");
    if (!json_object_get(j_fact, "email"))
        set_from(j_fact, sender ? sender : "");
    if (j_reply_to) {
        char *first = first_address(json_string_value(j_reply_to));
        json_t *j_reply = json_object();
        set_from(j_reply, first);
        const char *to = json_string_value(json_object_get(j_reply, "email"));
        const char *own = json_string_value(json_object_get(j_fact, "email"));
        if (to && (!own || strcasecmp(to, own) != 0)) {
            json_object_del(j_fact, "name");
            json_object_update(j_fact, j_reply);
        }
        json_decref(j_reply);
        free(first);
        json_decref(j_reply_to);
    }
}

static int email_parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                       size_t errbuf_size)
{
    json_t *j_fields = mail_fields(h), *j_fact = NULL;
    const char *token = cf_hook_str(j_fields, "token");
    const char *text = cf_hook_str(j_fields, "stripped-text");
    const char *subject = cf_hook_str(j_fields, "subject");
    int64_t ts_s;
    int rc = 0;

    if (!j_fields) {
        cf_seterr(errbuf, errbuf_size, "malformed multipart body");
        return CF_EINVAL;
    }
    if (!token || !*token) {
        *field_out = "token";
        cf_seterr(errbuf, errbuf_size, "not a Mailgun route POST (no token)");
        rc = CF_EINVAL;
        goto out;
    }
    if (!text || !*text)
        text = cf_hook_str(j_fields, "body-plain");
    j_fact = json_pack("{s:s, s:s}", "event_key", token, "kind", "request");
    if (read_timestamp(cf_hook_str(j_fields, "timestamp"), &ts_s) == 0)
        cf_time_json_set(j_fact, "time", ts_s * 1000);
    else
        cf_time_json_set(j_fact, "time", h->received_ms);
    set_person(j_fact, j_fields);
    if (subject && *subject)
        json_object_set_new(j_fact, "subject", json_string(subject));
    if (text && *text)
        json_object_set_new(j_fact, "text", json_string(text));
    json_t *j_id = mail_header(j_fields, "Message-Id");
    if (j_id)
        json_object_set_new(j_fact, "message_id", j_id);
    if (!json_object_get(j_fact, "email")) {
        *field_out = "from";
        cf_seterr(errbuf, errbuf_size, "the mail has no sender address");
        rc = CF_EINVAL;
        goto out;
    }
    json_array_append(facts, j_fact);
out:
    json_decref(j_fact);
    json_decref(j_fields);
    return rc;
}

static void email_reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    reply->status = 200;
    reply->content_type = NULL;
    reply->body[0] = '\0';
}

const struct leads_adapter leads_adapter_email = {
    .provider = "email",
    .verify = email_verify,
    .parse = email_parse,
    .reply_ok = email_reply_ok,
    .never_refuse = 1,
};
