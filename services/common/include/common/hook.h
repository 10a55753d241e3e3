/*
 * A provider's webhook request as plain data, and the helpers every
 * provider adapter uses on it. A service's hooks route decodes the HTTP
 * request into a struct cf_hook (no HTTP types), so an adapter's verify and
 * parse steps are pure functions that unit tests call directly: the
 * contract of services/calls/providers/adapters.h and
 * services/leads/providers/adapters.h.
 */
#ifndef CF_COMMON_HOOK_H
#define CF_COMMON_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* One webhook request, decoded. All members are borrowed. */
struct cf_hook {
    const char *method;       /* "POST" or "GET" */
    const char *subpath;      /* after /{provider}/{channel}: "" or e.g. "/events/call" */
    const char *public_url;   /* the URL the provider called, as it sees it: the
                                 CLINICFLOW_CALLS_PUBLIC_BASE_URL + path, plus "?query"
                                 when the request had one (verbatim) */
    const char *content_type; /* NULL when absent */
    const char *body;         /* raw body bytes (not NUL-terminated in general) */
    size_t body_len;
    const json_t *query;    /* URL query parameters, decoded: {"name": "value"} */
    const json_t *form;     /* x-www-form-urlencoded body parameters, decoded; {} otherwise */
    const json_t *headers;  /* request headers, names lower-cased: {"x-twilio-signature": ...} */
    const json_t *channel;  /* the channel's config document: credentials, numbers,
                               timezone, field_map, clinic_id */
    int64_t received_ms;    /* when the request arrived (Unix ms): the event time of a
                               request that carries none of its own */
    long replay_window_s;   /* a signed time older than this is a replay (0: unbounded) */
    const char *default_cc; /* the country code of national phone forms (the service's
                               setting), for a phone read from text; NULL: "+" forms only */
    struct cf_hook_notes *notes; /* what parse tells besides its facts; NULL: nobody asks */
};

/* What parse acknowledged but did not record, or recorded only in part:
 * hooks.c counts it in /metrics by provider and reason and logs it, so a
 * notification in a wording no rule knows is seen, not silently lost.
 * Reasons are short static strings (a bounded label set). */
struct cf_hook_notes {
    const char *ignored; /* why the request gave no fact, when it gave none */
    char detail[72];     /* the value that decided it (an event name), printable, cut;
                            never a party */
    const char *amended; /* why a fact was recorded with something replaced or left out */
    const char *refused; /* verify's reason, when not "signature" (a replay) */
};

/* Notes that the request is acknowledged without a fact, for reason
 * (static); returns 0, parse's result for it. */
int cf_hook_ignored(const struct cf_hook *h, const char *reason);
/* The same, with the value that decided it (an event name the rules did not
 * know; never a phone), kept printable and cut to fit the log line. */
int cf_hook_ignored_value(const struct cf_hook *h, const char *reason, const char *value);
/* Notes why verify refused, when it is not the signature (static); returns
 * CF_EAUTH. */
int cf_hook_refused(const struct cf_hook *h, const char *reason);
/* Notes that a fact was recorded amended, for reason (static). */
void cf_hook_amended(const struct cf_hook *h, const char *reason);

/* A reply to the provider. */
struct cf_hook_reply {
    int status;               /* 200 unless set otherwise */
    const char *content_type; /* static string; "text/plain" when NULL */
    char body[512];           /* NUL-terminated */
};

/* --- helpers (hook.c) --- */

/* A string member of an object, or NULL. */
const char *cf_hook_str(const json_t *obj, const char *key);
/* The second string of the row of table whose first is key; NULL when key
 * is NULL or in no row. CF_HOOK_LOOKUP takes the rows from the array. */
const char *cf_hook_lookup(const char *const (*table)[2], size_t rows, const char *key);
#define CF_HOOK_LOOKUP(table, key)                                                                 \
    cf_hook_lookup((table), sizeof(table) / sizeof((table)[0]), (key))
/* The channel's credential `name` (channel.credentials.name), or NULL. */
const char *cf_hook_credential(const struct cf_hook *h, const char *name);
/* A header value (name lower-case), or NULL. */
const char *cf_hook_header(const struct cf_hook *h, const char *name);
/* Checks the channel's URL token ("url_token" credential) against the
 * request: the "token" query parameter. 0 or CF_EAUTH. */
int cf_hook_verify_url_token(const struct cf_hook *h, char *errbuf, size_t errbuf_size);

/* Percent-decodes n bytes of s ('+' is a space, as in forms) into a new
 * string (free it), or NULL for a malformed escape (cf_form_decode). */
char *cf_hook_form_decode(const char *s, size_t n);
/* The most fields a provider's form or query is decoded with; more is a
 * 413. A backstop: form bodies are held to CLINICFLOW_HTTP_MAX_FORM_FIELDS
 * before any route runs (http.c), and a query to what fits in the server's
 * memory per connection (32 KiB); this bound is that setting's maximum. */
#define CF_HOOK_FORM_FIELDS_MAX 1000000
/* Decodes "a=1&b=2" (n bytes) into obj with cf_form_parse(): the first value
 * of a repeated name wins; empty names and names that are not UTF-8 or hold
 * a NUL byte are dropped. A value that is not UTF-8 text or holds a NUL
 * byte (%00) is not taken: the call returns CF_EINVAL with the other fields
 * in obj and, when invalid is not NULL, the first such field's name in
 * *invalid (a new string: free it; NULL otherwise). 0; CF_EINVAL for a
 * malformed escape, or CF_ETOOBIG for more than CF_HOOK_FORM_FIELDS_MAX
 * fields (obj untouched, *invalid NULL). */
int cf_hook_parse_urlencoded(const char *s, size_t n, json_t *obj, char **invalid);

#endif
