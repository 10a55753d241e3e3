/*
 * The reader of lead fixture files and the table-driven run over a
 * provider's directory (fixture.h). A case is data only, so every check
 * here is generic: the precheck's answer, verify's and parse's results,
 * the field parse named, the facts member by member, the notes, the
 * reply, and no credential in a refusal's reason. A mismatch names the
 * file and the field, then prints what the adapter gave in the
 * expectation's own form.
 */
#include "fixture.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define FIXTURES_DIR CF_FIXTURES_DIR /* tests/fixtures/leads, from CMake */
#define FIXTURE_MAX_BYTES ((size_t)1024 * 1024)

static char *read_all(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t len;

    if (!f)
        return NULL;
    buf = cf_xmalloc(FIXTURE_MAX_BYTES + 1);
    len = fread(buf, 1, FIXTURE_MAX_BYTES + 1, f);
    if (ferror(f) || len > FIXTURE_MAX_BYTES) {
        free(buf);
        buf = NULL;
    } else {
        buf[len] = '\0';
        *len_out = len;
    }
    (void)fclose(f);
    return buf;
}

/* path from the top of the source tree, as a reader finds it. */
static const char *shown(const char *path)
{
    size_t n = strlen(CF_SOURCE_DIR);

    return strncmp(path, CF_SOURCE_DIR "/", n + 1) == 0 ? path + n + 1 : path;
}

static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    return cf_xstrndup(s, n);
}

void lx_request_free(struct lx_request *req)
{
    free(req->path);
    free(req->method);
    free(req->url);
    free(req->content_type);
    free(req->body);
    json_decref(req->j_headers);
    memset(req, 0, sizeof(*req));
}

/* Reads the request file at path: 0, or -1 with the reason in errbuf. */
static int request_read(const char *path, struct lx_request *out, char *errbuf, size_t errbuf_size)
{
    size_t len = 0;
    char *text = read_all(path, &len);
    char *name = NULL, *last = NULL;
    const char *p = text;
    int line = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    out->path = cf_xstrdup(path);
    out->j_headers = json_object();
    if (!text) {
        snprintf(errbuf, errbuf_size, "cannot read the file");
        goto out;
    }
    /* "name: value" lines up to the first empty one; a line that starts
     * with a space or a tab continues the one before; '#' comments */
    for (;;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
            if (!name) {
                snprintf(errbuf, errbuf_size, "line %d: continues no header line", line);
                goto out;
            }
            char *more = trimmed(p, n);
            char *joined = cf_xasprintf("%s %s", last, more);
            free(more);
            free(last);
            last = joined;
        } else if (n > 0 && p[0] != '#') {
            const char *colon = memchr(p, ':', n);
            if (!colon || colon == p) {
                snprintf(errbuf, errbuf_size, "line %d: not a \"name: value\" line", line);
                goto out;
            }
            if (name)
                json_object_set_new(out->j_headers, name, json_string(last));
            free(name);
            free(last);
            name = trimmed(p, (size_t)(colon - p));
            for (char *c = name; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            last = trimmed(colon + 1, n - (size_t)(colon - p) - 1);
            if (json_object_get(out->j_headers, name)) {
                snprintf(errbuf, errbuf_size, "line %d: %s given twice", line, name);
                goto out;
            }
        }
        p = end ? end + 1 : p + n;
        if (n == 0 || !end)
            break;
    }
    if (name)
        json_object_set_new(out->j_headers, name, json_string(last));

    const char *source = cf_hook_str(out->j_headers, "source");
    const char *confidence = cf_hook_str(out->j_headers, "confidence");
    if (!source || !*source || !confidence || !*confidence) {
        snprintf(errbuf, errbuf_size,
                 "no source: or no confidence: line (where the payload comes from and how sure "
                 "it is)");
        goto out;
    }
    const char *method = cf_hook_str(out->j_headers, "method");
    const char *url = cf_hook_str(out->j_headers, "url");
    if (!method || (strcmp(method, "POST") != 0 && strcmp(method, "GET") != 0)) {
        snprintf(errbuf, errbuf_size, "method: must be POST or GET");
        goto out;
    }
    if (!url || !*url) {
        snprintf(errbuf, errbuf_size, "no url: line");
        goto out;
    }
    out->method = cf_xstrdup(method);
    out->url = cf_xstrdup(url);
    if (cf_hook_str(out->j_headers, "content-type"))
        out->content_type = cf_xstrdup(cf_hook_str(out->j_headers, "content-type"));
    static const char *const meta[] = {"source", "confidence", "method", "url"};
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++)
        json_object_del(out->j_headers, meta[i]);

    /* the body: the rest of the file, less the one newline that ends it */
    size_t body_len = len - (size_t)(p - text);
    if (body_len > 0 && p[body_len - 1] == '\n')
        body_len--;
    out->body = cf_xstrndup(p, body_len);
    out->body_len = body_len;
    rc = 0;
out:
    free(text);
    free(name);
    free(last);
    if (rc != 0)
        lx_request_free(out);
    return rc;
}

void lx_request_load(const char *provider, const char *name, struct lx_request *out)
{
    char *path = cf_xasprintf("%s/%s/%s.http", FIXTURES_DIR, provider, name);
    char err[256];

    if (request_read(path, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", shown(path), err);
        abort();
    }
    free(path);
}

json_t *lx_channel(const char *provider)
{
    char *path = cf_xasprintf("%s/%s/channel.json", FIXTURES_DIR, provider);
    json_error_t jerr;
    json_t *j_channel = json_load_file(path, 0, &jerr);

    if (!json_is_object(j_channel)) {
        fprintf(stderr, "%s: %d:%d: %s\n", shown(path), jerr.line, jerr.column,
                j_channel ? "not an object" : jerr.text);
        abort();
    }
    free(path);
    return j_channel;
}

void lx_init_body(struct lx *x, const struct lx_request *req, const char *body, json_t *channel)
{
    const char *q = strchr(req->url, '?');
    const char *name;
    json_t *v;

    memset(x, 0, sizeof(*x));
    x->query = json_object();
    if (q)
        cf_hook_parse_urlencoded(q + 1, strlen(q + 1), x->query);
    x->form = json_object();
    x->headers = json_object();
    json_object_foreach(req->j_headers, name, v)
    {
        json_object_set(x->headers, name, v);
    }
    x->channel = channel;
    x->facts = json_array();
    x->h.method = req->method;
    x->h.subpath = "";
    x->h.public_url = req->url;
    x->h.content_type = req->content_type;
    x->h.body = body;
    x->h.body_len = strlen(body);
    x->h.query = x->query;
    x->h.form = x->form;
    x->h.headers = x->headers;
    x->h.channel = x->channel;
    x->h.notes = &x->notes;
}

void lx_init(struct lx *x, const struct lx_request *req, json_t *channel)
{
    lx_init_body(x, req, req->body, channel);
    x->h.body_len = req->body_len;
}

void lx_free(struct lx *x)
{
    json_decref(x->query);
    json_decref(x->form);
    json_decref(x->headers);
    json_decref(x->channel);
    json_decref(x->facts);
}

int lx_verify_parse(const struct leads_adapter *a, const struct lx_request *req, const char *body,
                    json_t *channel, int64_t received_ms, json_t **facts_out)
{
    struct lx x;
    int rc;

    if (body)
        lx_init_body(&x, req, body, channel);
    else
        lx_init(&x, req, channel);
    x.h.received_ms = received_ms;
    rc = a->verify(&x.h, x.err, sizeof(x.err));
    if (rc == 0)
        rc = a->parse(&x.h, x.facts, &x.field, x.err, sizeof(x.err));
    if (rc != 0 && x.err[0] == '\0') {
        fprintf(stderr, "%s: refused or failed without a reason\n", shown(req->path));
        rc = CF_EINTERNAL;
    }
    *facts_out = json_incref(x.facts);
    lx_free(&x);
    return rc;
}

/* --- the run over a directory --- */

struct report {
    const char *path;
    int failures;
};

static void mismatch(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mismatch(struct report *r, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", r->path);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    r->failures++;
}

static char *dump(const json_t *v)
{
    if (!v)
        return cf_xstrdup("(none)");
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    return s ? s : cf_xstrdup("(unprintable)");
}

static void compare_value(struct report *r, const char *where, const json_t *want,
                          const json_t *got)
{
    if ((!want && !got) || (want && got && json_equal(want, got)))
        return;
    char *w = dump(want), *g = dump(got);
    mismatch(r, "%s: want %s, got %s", where, w, g);
    free(w);
    free(g);
}

static void compare_facts(struct report *r, const json_t *want, const json_t *got)
{
    if (!json_is_array(want)) {
        mismatch(r, "facts: must be an array of facts");
        return;
    }
    if (json_array_size(want) != json_array_size(got)) {
        mismatch(r, "facts: want %zu, got %zu", json_array_size(want), json_array_size(got));
        return;
    }
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *w = json_array_get(want, i), *g = json_array_get(got, i), *v;
        const char *key;
        char where[160];
        json_object_foreach(w, key, v)
        {
            snprintf(where, sizeof(where), "facts[%zu].%s", i, key);
            compare_value(r, where, v, json_object_get(g, key));
        }
        json_object_foreach(g, key, v)
        {
            if (!json_object_get(w, key)) {
                snprintf(where, sizeof(where), "facts[%zu].%s", i, key);
                compare_value(r, where, NULL, v);
            }
        }
    }
}

static json_t *notes_json(const struct cf_hook_notes *n)
{
    json_t *j = json_object();

    if (n->ignored)
        json_object_set_new(j, "ignored", json_string(n->ignored));
    if (n->detail[0])
        json_object_set_new(j, "detail", json_string(n->detail));
    if (n->amended)
        json_object_set_new(j, "amended", json_string(n->amended));
    if (n->refused)
        json_object_set_new(j, "refused", json_string(n->refused));
    return j;
}

static json_t *reply_json(const struct cf_hook_reply *reply)
{
    return json_pack("{s:i, s:s}", "status", reply->status, "body", reply->body);
}

static const char *rc_word(int rc, int is_verify)
{
    if (rc == 0)
        return "ok";
    if (is_verify && rc == CF_EAUTH)
        return "refused";
    if (!is_verify && rc == CF_EINVAL)
        return "invalid";
    return "other error";
}

/* merge patch (RFC 7386) of target with patch: a new document */
static json_t *merge_patch(const json_t *target, json_t *patch)
{
    const char *key;
    json_t *v;

    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *out = json_is_object(target) ? json_deep_copy(target) : json_object();
    json_object_foreach(patch, key, v)
    {
        if (json_is_null(v))
            json_object_del(out, key);
        else
            json_object_set_new(out, key, merge_patch(json_object_get(out, key), v));
    }
    return out;
}

/* The case of expectation file `name` in dir, run and compared. */
static void run_case(const char *provider, const struct leads_adapter *a, const char *dir,
                     const char *name, int *failures)
{
    static const char *const keys[] = {"comment", "received", "channel",     "precheck",
                                       "verify",  "parse",    "parse_error", "field",
                                       "facts",   "notes",    "reply"};
    char *path = cf_xasprintf("%s/%s", dir, name);
    struct report r = {.path = shown(path), .failures = 0};
    char *case_name = cf_xstrdup(name), *req_path = NULL;
    char err[256];
    struct lx_request req;
    json_error_t jerr;
    json_t *j_want = json_load_file(path, 0, &jerr), *j_got = json_object();
    struct lx x;
    int have_x = 0, have_req = 0;
    const char *key;
    json_t *v;

    case_name[strcspn(case_name, ".")] = '\0';
    if (!json_is_object(j_want)) {
        mismatch(&r, "%d:%d: %s", jerr.line, jerr.column, j_want ? "not an object" : jerr.text);
        goto out;
    }
    json_object_foreach(j_want, key, v)
    {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k], key) != 0)
            k++;
        if (k == sizeof(keys) / sizeof(keys[0]))
            mismatch(&r, "%s: not a key of the format (tests/fixtures/leads/README.md)", key);
    }
    req_path = cf_xasprintf("%s/%s.http", dir, case_name);
    if (request_read(req_path, &req, err, sizeof(err)) != 0) {
        mismatch(&r, "its request %s: %s", shown(req_path), err);
        goto out;
    }
    have_req = 1;
    json_t *channel = lx_channel(provider);
    if (json_object_get(j_want, "channel")) {
        json_t *patched = merge_patch(channel, json_object_get(j_want, "channel"));
        json_decref(channel);
        channel = patched;
    }
    lx_init(&x, &req, channel);
    have_x = 1;
    const char *received = cf_hook_str(j_want, "received");
    if (json_object_get(j_want, "received") &&
        (!received || cf_time_parse(received, &x.h.received_ms) != 0))
        mismatch(&r, "received: not an RFC 3339 time");

    /* 1. precheck: what it answered, or nothing */
    struct cf_hook_reply reply = {.status = 200, .content_type = NULL, .body = ""};
    int answered = a->precheck ? a->precheck(&x.h, &reply) : 0;
    if (answered)
        json_object_set_new(j_got, "precheck", reply_json(&reply));
    compare_value(&r, "precheck", json_object_get(j_want, "precheck"),
                  json_object_get(j_got, "precheck"));
    if (answered)
        goto notes;

    /* 2. verify, never naming a credential */
    int verify_rc = a->verify(&x.h, x.err, sizeof(x.err));
    json_object_set_new(j_got, "verify", json_string(rc_word(verify_rc, 1)));
    if (verify_rc != 0 && x.err[0] == '\0')
        mismatch(&r, "verify refused without a reason");
    json_object_foreach(json_object_get(x.channel, "credentials"), key, v)
    {
        if (json_is_string(v) && json_string_length(v) >= 4 && strstr(x.err, json_string_value(v)))
            mismatch(&r, "verify's reason names credential %s", key);
    }
    compare_value(&r, "verify", json_object_get(j_want, "verify"),
                  json_object_get(j_got, "verify"));
    if (verify_rc != 0) {
        if (json_object_get(j_want, "parse") || json_object_get(j_want, "facts"))
            mismatch(&r, "parse, facts: a refused request is never parsed");
        goto notes;
    }

    /* 3. parse: the result, the field it named, the facts */
    x.err[0] = '\0';
    int parse_rc = a->parse(&x.h, x.facts, &x.field, x.err, sizeof(x.err));
    json_object_set_new(j_got, "parse", json_string(rc_word(parse_rc, 0)));
    if (parse_rc != 0 && x.err[0] == '\0')
        mismatch(&r, "parse failed without a reason");
    if (x.field)
        json_object_set_new(j_got, "field", json_string(x.field));
    json_object_set(j_got, "facts", x.facts);
    compare_value(&r, "parse", json_object_get(j_want, "parse"), json_object_get(j_got, "parse"));
    compare_value(&r, "field", json_object_get(j_want, "field"), json_object_get(j_got, "field"));
    const char *part = cf_hook_str(j_want, "parse_error");
    if (part && !strstr(x.err, part))
        mismatch(&r, "parse_error: want a reason naming \"%s\", got \"%s\"", part, x.err);
    json_t *empty = json_array();
    json_t *want_facts = json_object_get(j_want, "facts");
    compare_facts(&r, want_facts ? want_facts : empty, x.facts);
    json_decref(empty);

    /* 4. the success reply, when the case says what it must be */
    if (json_object_get(j_want, "reply")) {
        struct cf_hook_reply ok = {.status = 0, .content_type = NULL, .body = "junk"};
        a->reply_ok(&x.h, &ok);
        json_object_set_new(j_got, "reply", reply_json(&ok));
        compare_value(&r, "reply", json_object_get(j_want, "reply"),
                      json_object_get(j_got, "reply"));
    }

notes:
    json_object_set_new(j_got, "notes", notes_json(&x.notes));
    json_t *no_notes = json_object();
    json_t *want_notes = json_object_get(j_want, "notes");
    compare_value(&r, "notes", want_notes ? want_notes : no_notes, json_object_get(j_got, "notes"));
    json_decref(no_notes);
out:
    if (r.failures > 0) {
        char *g = json_dumps(j_got, JSON_INDENT(2));
        fprintf(stderr, "%s: the adapter gave:\n%s\n", r.path, g ? g : "(unprintable)");
        free(g);
    }
    *failures += r.failures > 0;
    if (have_x)
        lx_free(&x);
    if (have_req)
        lx_request_free(&req);
    json_decref(j_got);
    json_decref(j_want);
    free(req_path);
    free(case_name);
    free(path);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

int lx_run_dir(const char *provider, const struct leads_adapter *a, size_t *cases_out)
{
    char *dir = cf_xasprintf("%s/%s", FIXTURES_DIR, provider);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort), failures = 0;

    *cases_out = 0;
    if (n < 0) {
        fprintf(stderr, "%s: cannot list the fixtures directory\n", shown(dir));
        free(dir);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (name[0] == '.' || strcmp(name, "channel.json") == 0)
            continue;
        if (has_suffix(name, ".expect.json")) {
            run_case(provider, a, dir, name, &failures);
            (*cases_out)++;
        } else if (has_suffix(name, ".http")) {
            size_t stem = strlen(name) - strlen(".http");
            int found = 0;
            for (int j = 0; j < n && !found; j++) {
                const char *other = names[j]->d_name;
                found = has_suffix(other, ".expect.json") && strncmp(other, name, stem) == 0 &&
                        other[stem] == '.';
            }
            if (!found) {
                fprintf(stderr, "%s/%s: no expectation\n", shown(dir), name);
                failures++;
            }
        } else {
            fprintf(stderr, "%s/%s: neither a request (.http) nor an expectation\n", shown(dir),
                    name);
            failures++;
        }
    }
    if (*cases_out == 0) {
        fprintf(stderr, "%s: no fixture at all\n", shown(dir));
        failures++;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return failures;
}
