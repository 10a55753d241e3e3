/*
 * The reader of provider fixture files and the table-driven run over a
 * provider's directory (fixture_file.h; the format is defined in
 * tests/fixtures/leads/README.md). The design choice: a case is data only,
 * so every check here is generic (verify's and parse's results, the facts
 * compared member by member, the notes, no credential in a refusal) and
 * every message names the file and the field, then prints what the adapter
 * gave in the expectation's own form, ready to compare or copy.
 */
#include "fixture_file.h"

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/envelope.h"
#include "common/err.h"
#include "common/time.h"
#include "common/xmalloc.h"

#define FIXTURES_DIR CF_FIXTURES_DIR /* tests/fixtures/leads, from CMake */
#define FIXTURE_MAX_BYTES ((size_t)1024 * 1024)

/* The whole file at path, NUL-terminated, its size in *len_out; NULL when
 * it cannot be read. */
static char *read_all(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;

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

/* path as a reader finds it: from the top of the source tree. */
static const char *shown(const char *path)
{
    size_t n = strlen(CF_SOURCE_DIR);

    return strncmp(path, CF_SOURCE_DIR "/", n + 1) == 0 ? path + n + 1 : path;
}

/* s (n bytes) with its spaces and tabs trimmed on both sides: a new string. */
static char *trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    char *out = cf_xmalloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* Appends s to the growing string *out (*len, *cap), percent-encoding every
 * byte but the unreserved ones when encode is set. */
static void append(char **out, size_t *len, size_t *cap, const char *s, size_t n, int encode)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        if (*len + 4 > *cap) {
            *cap = *cap * 2 + 64;
            char *grown = realloc(*out, *cap);
            if (!grown)
                abort();
            *out = grown;
        }
        unsigned char c = (unsigned char)s[i];
        if (!encode || isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            (*out)[(*len)++] = (char)c;
        } else {
            (*out)[(*len)++] = '%';
            (*out)[(*len)++] = hex[c >> 4];
            (*out)[(*len)++] = hex[c & 15];
        }
    }
    (*out)[*len] = '\0';
}

/* The "form-lines" body: one name=value a line, written as is, sent
 * x-www-form-urlencoded. A new string (its length in *len_out), or NULL
 * for a line without '=' (its number in *bad_line). */
static char *form_lines_encode(const char *s, size_t *len_out, int *bad_line)
{
    size_t len = 0, cap = 64;
    char *out = cf_xmalloc(cap);
    int line = 0;

    out[0] = '\0';
    while (*s) {
        const char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        line++;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (n > 0) {
            const char *eq = memchr(s, '=', n);
            if (!eq) {
                free(out);
                *bad_line = line;
                return NULL;
            }
            if (len > 0)
                append(&out, &len, &cap, "&", 1, 0);
            append(&out, &len, &cap, s, (size_t)(eq - s), 1);
            append(&out, &len, &cap, "=", 1, 0);
            append(&out, &len, &cap, eq + 1, n - (size_t)(eq - s) - 1, 1);
        }
        if (!end)
            break;
        s = end + 1;
    }
    *len_out = len;
    return out;
}

/* The path after /v1/hooks/leads/{provider}/{channel} in url, up to its
 * query: a new string, "" when there is none. */
static char *subpath_of(const char *url)
{
    const char *p = strstr(url, "/v1/hooks/leads/");
    size_t n;

    if (!p)
        return cf_xstrdup("");
    p += strlen("/v1/hooks/leads/");
    for (int segment = 0; segment < 2; segment++) {
        p += strcspn(p, "/?");
        if (*p != '/')
            return cf_xstrdup("");
        if (segment == 0)
            p++;
    }
    n = strcspn(p, "?");
    return trimmed(p, n);
}

void fixture_request_free(struct fixture_request *req)
{
    free(req->path);
    free(req->method);
    free(req->url);
    free(req->subpath);
    free(req->content_type);
    free(req->body);
    json_decref(req->j_headers);
    memset(req, 0, sizeof(*req));
}

int fixture_request_read(const char *path, struct fixture_request *out, char *errbuf,
                         size_t errbuf_size)
{
    size_t len = 0;
    char *text = read_all(path, &len);
    char *source = NULL, *confidence = NULL, *format = NULL, *name = NULL, *last = NULL;
    const char *p = text;
    int line = 0, rc = -1;

    memset(out, 0, sizeof(*out));
    out->path = cf_xstrdup(path);
    out->j_headers = json_object();
    if (!text) {
        snprintf(errbuf, errbuf_size, "cannot read the file");
        goto out;
    }
    /* The header: "name: value" lines up to the first empty line; a line
     * that starts with a space or a tab goes on the one before; a line
     * that starts with '#' is a comment. */
    for (;;) {
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        line++;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0 || p[0] == ' ' || p[0] == '\t') {
            if (n > 0 && !name) {
                snprintf(errbuf, errbuf_size, "line %d: continues no header line", line);
                goto out;
            }
            if (n > 0) {
                char *more = trimmed(p, n);
                char *joined = cf_xasprintf("%s %s", last, more);
                free(more);
                free(last);
                last = joined;
            }
        } else if (p[0] != '#') {
            const char *colon = memchr(p, ':', n);
            if (!colon || colon == p) {
                snprintf(errbuf, errbuf_size, "line %d: not a \"name: value\" line", line);
                goto out;
            }
            if (name && json_object_set_new(out->j_headers, name, json_string(last)) != 0) {
                snprintf(errbuf, errbuf_size, "line %d: %s is not UTF-8", line - 1, name);
                goto out;
            }
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
    if (name && json_object_set_new(out->j_headers, name, json_string(last)) != 0) {
        snprintf(errbuf, errbuf_size, "header %s is not UTF-8", name);
        goto out;
    }

    /* The members that are not request headers. */
    static const char *const meta[] = {"source", "confidence", "method", "url", "body-format"};
    char **slots[] = {&source, &confidence, &out->method, &out->url, &format};
    for (size_t i = 0; i < sizeof(meta) / sizeof(meta[0]); i++) {
        const char *v = cf_hook_str(out->j_headers, meta[i]);
        if (v)
            *slots[i] = cf_xstrdup(v);
        json_object_del(out->j_headers, meta[i]);
    }
    const char *ct = cf_hook_str(out->j_headers, "content-type");
    if (ct)
        out->content_type = cf_xstrdup(ct);
    if (!source || !*source || !confidence || !*confidence) {
        snprintf(errbuf, errbuf_size,
                 "no source: or no confidence: line (where the payload "
                 "comes from and how sure it is)");
        goto out;
    }
    if (!out->method || (strcmp(out->method, "POST") != 0 && strcmp(out->method, "GET") != 0)) {
        snprintf(errbuf, errbuf_size, "method: must be POST or GET");
        goto out;
    }
    if (!out->url || !*out->url) {
        snprintf(errbuf, errbuf_size, "no url: line");
        goto out;
    }
    out->subpath = subpath_of(out->url);

    /* The body: the rest of the file, less the one newline that ends it. */
    size_t body_len = len - (size_t)(p - text);
    if (body_len > 0 && p[body_len - 1] == '\n')
        body_len--;
    if (!format || strcmp(format, "raw") == 0) {
        out->body = cf_xmalloc(body_len + 1);
        memcpy(out->body, p, body_len);
        out->body[body_len] = '\0';
        out->body_len = body_len;
    } else if (strcmp(format, "form-lines") == 0) {
        char *lines = cf_xmalloc(body_len + 1);
        memcpy(lines, p, body_len);
        lines[body_len] = '\0';
        int bad = 0;
        out->body = form_lines_encode(lines, &out->body_len, &bad);
        free(lines);
        if (!out->body) {
            snprintf(errbuf, errbuf_size, "body line %d: not name=value", bad);
            goto out;
        }
    } else {
        snprintf(errbuf, errbuf_size, "body-format: must be raw or form-lines");
        goto out;
    }
    rc = 0;
out:
    free(text);
    free(name);
    free(last);
    free(source);
    free(confidence);
    free(format);
    if (rc != 0)
        fixture_request_free(out);
    return rc;
}

void fixture_request_load(const char *provider, const char *name, struct fixture_request *out)
{
    char *path = cf_xasprintf("%s/%s/%s.http", FIXTURES_DIR, provider, name);
    char err[256];

    if (fixture_request_read(path, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", shown(path), err);
        abort();
    }
    free(path);
}

/* target with patch applied (RFC 7386: objects merge, null removes a
 * member, anything else replaces): a new document. */
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

json_t *fixture_channel(const char *provider)
{
    char *id = cf_xasprintf("demo-%s", provider);
    char *path = cf_xasprintf("%s/%s/channel.json", FIXTURES_DIR, provider);
    json_t *channel = fx_demo_channel_or_null(id);
    json_error_t jerr;
    json_t *patch = json_load_file(path, 0, &jerr);

    if (!patch) {
        fprintf(stderr, "%s: %d:%d: %s\n", shown(path), jerr.line, jerr.column, jerr.text);
        abort();
    }
    if (!channel) /* a provider the demo network has no channel of yet */
        channel = json_pack("{s:s, s:s}", "id", id, "provider", provider);
    json_t *out = merge_patch(channel, patch);
    json_decref(patch);
    json_decref(channel);
    free(path);
    free(id);
    return out;
}

void fixture_fx_init(struct fx *x, const struct fixture_request *req, json_t *channel)
{
    const char *name;
    json_t *v;

    fx_init(x, req->method, req->url, channel);
    x->h.subpath = req->subpath;
    json_object_foreach(req->j_headers, name, v)
    {
        json_object_set(x->headers, name, v);
    }
    if (req->content_type || req->body_len > 0)
        fx_body(x, req->body, req->content_type);
    x->h.body_len = req->body_len;
}

/* --- the run over a directory --- */

/* One case's report: the file, and whether anything was printed yet. */
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

/* v as compact JSON in a new string; "(none)" for NULL. */
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
    if (want && got && json_equal(want, got))
        return;
    char *w = dump(want), *g = dump(got);
    mismatch(r, "%s: want %s, got %s", where, w, g);
    free(w);
    free(g);
}

/* Each fact member by member: a member wanted and missing, one with
 * another value, one not wanted. */
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

/* The notes parse and verify left: an object of the ones set. */
static json_t *notes_json(const struct cf_hook_notes *n)
{
    json_t *j = json_object();

    fx_set(j, "ignored", n->ignored);
    if (n->detail[0])
        fx_set(j, "detail", n->detail);
    fx_set(j, "amended", n->amended);
    fx_set(j, "refused", n->refused);
    return j;
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

/* Runs the case of expectation file `name` in dir. */
static void run_case(const char *provider, const struct leads_adapter *a, const char *dir,
                     const char *name, int *failures)
{
    char *path = cf_xasprintf("%s/%s", dir, name);
    struct report r = {.path = shown(path), .failures = 0};
    char *case_name = cf_xstrdup(name);
    char err[256];
    struct fixture_request req;
    json_error_t jerr;
    json_t *j_want = json_load_file(path, 0, &jerr), *j_got = NULL;
    struct fx x;
    int have_fx = 0, have_req = 0;

    case_name[strcspn(case_name, ".")] = '\0';
    if (!j_want || !json_is_object(j_want)) {
        mismatch(&r, "%d:%d: %s", jerr.line, jerr.column, j_want ? "not an object" : jerr.text);
        goto out;
    }
    /* a misspelt key would check nothing: each must be known */
    static const char *const keys[] = {
        "comment", "received",    "replay_window_s", "channel", "precheck", "verify",
        "parse",   "parse_error", "parse_field",     "facts",   "notes"};
    const char *key;
    json_t *v;
    json_object_foreach(j_want, key, v)
    {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k], key) != 0)
            k++;
        if (k == sizeof(keys) / sizeof(keys[0]))
            mismatch(&r, "%s: not a key of the format (tests/fixtures/leads/README.md)", key);
    }
    char *req_path = cf_xasprintf("%s/%s.http", dir, case_name);
    if (fixture_request_read(req_path, &req, err, sizeof(err)) != 0) {
        mismatch(&r, "its request %s: %s", shown(req_path), err);
        free(req_path);
        goto out;
    }
    free(req_path);
    have_req = 1;

    /* The set-up: the channel, when the request arrived, the replay window. */
    json_t *channel = fixture_channel(provider);
    if (json_object_get(j_want, "channel")) {
        json_t *patched = merge_patch(channel, json_object_get(j_want, "channel"));
        json_decref(channel);
        channel = patched;
    }
    fixture_fx_init(&x, &req, channel);
    have_fx = 1;
    const char *received = cf_hook_str(j_want, "received");
    if (json_object_get(j_want, "received") &&
        (!received || cf_time_parse(received, &x.h.received_ms) != 0))
        mismatch(&r, "received: not an RFC 3339 time");
    json_t *window = json_object_get(j_want, "replay_window_s");
    if (window && (!json_is_integer(window) || json_integer_value(window) < 0))
        mismatch(&r, "replay_window_s: not a number of seconds");
    x.h.replay_window_s = (long)json_integer_value(window);

    /* The precheck: a request it answers goes no further. */
    j_got = json_object();
    if (a->precheck) {
        struct cf_hook_reply reply = {.status = 200, .content_type = NULL, .body = ""};
        if (a->precheck(&x.h, &reply) == 1) {
            json_object_set_new(
                j_got, "precheck",
                json_pack("{s:i, s:s}", "status", reply.status, "body", reply.body));
            compare_value(&r, "precheck", json_object_get(j_want, "precheck"),
                          json_object_get(j_got, "precheck"));
            if (json_object_get(j_want, "verify") || json_object_get(j_want, "facts"))
                mismatch(&r, "verify, facts: a request the precheck answers goes no further");
            goto out;
        }
    }
    if (json_object_get(j_want, "precheck"))
        mismatch(&r, "precheck: want an answer, the precheck let the request through");

    /* Verify, and parse what verify let through. */
    x.verify_rc = a->verify(&x.h, x.verify_err, sizeof(x.verify_err));
    json_object_set_new(j_got, "verify", json_string(rc_word(x.verify_rc, 1)));
    if (x.verify_rc != 0 && x.verify_err[0] == '\0')
        mismatch(&r, "verify refused without a reason");
    /* a refusal never names a credential */
    json_object_foreach(json_object_get(x.channel, "credentials"), key, v)
    {
        if (json_is_string(v) && json_string_length(v) >= 4 &&
            strstr(x.verify_err, json_string_value(v)))
            mismatch(&r, "verify's reason names credential %s", key);
    }
    if (x.verify_rc == 0) {
        x.parse_rc = a->parse(&x.h, x.facts, &x.parse_field, x.parse_err, sizeof(x.parse_err));
        json_object_set_new(j_got, "parse", json_string(rc_word(x.parse_rc, 0)));
        if (x.parse_field)
            json_object_set_new(j_got, "parse_field", json_string(x.parse_field));
        if (x.parse_rc != 0 && x.parse_err[0] == '\0')
            mismatch(&r, "parse failed without a reason");
        json_object_set(j_got, "facts", x.facts);
    }
    json_object_set_new(j_got, "notes", notes_json(&x.notes));

    compare_value(&r, "verify", json_object_get(j_want, "verify"),
                  json_object_get(j_got, "verify"));
    if (x.verify_rc == 0) {
        compare_value(&r, "parse", json_object_get(j_want, "parse"),
                      json_object_get(j_got, "parse"));
        compare_value(&r, "parse_field",
                      json_object_get(j_want, "parse_field")
                          ? json_object_get(j_want, "parse_field")
                          : json_null(),
                      json_object_get(j_got, "parse_field") ? json_object_get(j_got, "parse_field")
                                                            : json_null());
        const char *part = cf_hook_str(j_want, "parse_error");
        if (part && !strstr(x.parse_err, part))
            mismatch(&r, "parse_error: want a reason naming \"%s\", got \"%s\"", part, x.parse_err);
        json_t *empty = json_array();
        json_t *want_facts = json_object_get(j_want, "facts");
        compare_facts(&r, want_facts ? want_facts : empty, x.facts);
        json_decref(empty);
    } else if (json_equal(json_object_get(j_want, "verify"), json_object_get(j_got, "verify")) &&
               (json_object_get(j_want, "parse") || json_object_get(j_want, "facts"))) {
        mismatch(&r, "parse, facts: a refused request is never parsed");
    }
    json_t *want_notes = json_object_get(j_want, "notes");
    json_t *no_notes = json_object();
    compare_value(&r, "notes", want_notes ? want_notes : no_notes, json_object_get(j_got, "notes"));
    json_decref(no_notes);

out:
    if (r.failures > 0 && j_got) {
        /* what the adapter gave, in the expectation's form */
        char *g = json_dumps(j_got, JSON_INDENT(2));
        fprintf(stderr, "%s: the adapter gave:\n%s\n", r.path, g ? g : "(unprintable)");
        free(g);
    }
    *failures += r.failures > 0;
    if (have_fx)
        fx_free(&x);
    if (have_req)
        fixture_request_free(&req);
    json_decref(j_got);
    json_decref(j_want);
    free(case_name);
    free(path);
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && strcmp(s + n - k, suffix) == 0;
}

int fixture_run_dir(const char *provider, const struct leads_adapter *a, size_t *cases_out)
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
            /* a request nobody checks is a case lost: <case>.expect.json
             * or <case>.<variant>.expect.json must exist */
            size_t stem = strlen(name) - strlen(".http");
            int found = 0;
            for (int j = 0; j < n && !found; j++) {
                const char *other = names[j]->d_name;
                found = has_suffix(other, ".expect.json") && strncmp(other, name, stem) == 0 &&
                        other[stem] == '.';
            }
            if (!found) {
                fprintf(stderr, "%s/%s: no expectation (%.*s.expect.json)\n", shown(dir), name,
                        (int)stem, name);
                failures++;
            }
        } else {
            fprintf(stderr,
                    "%s/%s: neither a request (.http) nor an expectation "
                    "(.expect.json)\n",
                    shown(dir), name);
            failures++;
        }
    }
    if (*cases_out == 0) {
        fprintf(stderr, "%s: no fixture at all: a provider's test runs over its fixtures\n",
                shown(dir));
        failures++;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return failures;
}
