/*
 * JSON text to and from jansson values (json_text.h). The parser walks the
 * buffer with a pointer, the writer appends to one growing string; both
 * keep jansson's rules to the letter (RFC 8259 with jansson's limits:
 * depth 2048, integers as json_int_t, no NUL in keys or, without
 * JSON_ALLOW_NUL, in strings), so the two libraries are interchangeable
 * on every document.
 */
#include "common/json_text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */

/* ---- UTF-8 ---- */

/* The length of the UTF-8 sequence at p (at most n bytes there) when it is
 * well formed (shortest form, no surrogate, at most U+10FFFF), else 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    const unsigned char c = p[0];
    size_t len;
    uint32_t cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Writes code point cp (valid, not a surrogate) as UTF-8 at out; its
 * length. */
static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- parsing ---- */

struct parser {
    const char *p, *end, *start;
    size_t flags;
    json_error_t *error;
    char *scratch; /* an escaped string's decoded text */
    size_t scratch_cap;
};

/* Sets the error at the parser's place (line and column counted only
 * now, on the way out). */
static void fail(struct parser *ps, enum json_error_code code, const char *fmt, ...)
{
    json_error_t *e = ps->error;
    if (!e)
        return;
    int line = 1, column = 0;
    for (const char *q = ps->start; q < ps->p; q++) {
        if (*q == '\n') {
            line++;
            column = 0;
        } else if (((unsigned char)*q & 0xC0) != 0x80) {
            column++; /* a character, not a continuation byte */
        }
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof(e->text) - 1, fmt, ap);
    va_end(ap);
    e->text[sizeof(e->text) - 1] = (char)code; /* as jansson keeps the code */
    e->line = line;
    e->column = column;
    e->position = (int)(ps->p - ps->start);
}

static void skip_space(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* The escape at ps->p (just after the backslash) decoded to out: its
 * length, or 0 with the error set. */
static size_t unescape(struct parser *ps, char *out)
{
    const char c = ps->p < ps->end ? *ps->p : '\0';
    static const char simple_from[] = "\"\\/bfnrt", simple_to[] = "\"\\/\b\f\n\r\t";
    const char *s = c ? strchr(simple_from, c) : NULL;
    uint32_t cp, low;

    if (s) {
        ps->p++;
        out[0] = simple_to[s - simple_from];
        return 1;
    }
    if (c != 'u' || ps->end - ps->p < 5 || hex4(ps->p + 1, &cp) != 0) {
        fail(ps, json_error_invalid_syntax, "invalid escape");
        return 0;
    }
    ps->p += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        fail(ps, json_error_invalid_syntax, "invalid Unicode '\\u%04X'", (unsigned)cp);
        return 0;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' ||
            hex4(ps->p + 2, &low) != 0 || low < 0xDC00 || low > 0xDFFF) {
            fail(ps, json_error_invalid_syntax, "invalid Unicode: a lone surrogate");
            return 0;
        }
        ps->p += 6;
        cp = ((cp - 0xD800) << 10) + (low - 0xDC00) + 0x10000;
    }
    return utf8_put(cp, out);
}

/* The string whose opening quote ps->p is just past: *out and *len point
 * either into the input (no escape in it) or at ps->scratch. 0, or -1
 * with the error set. */
static int scan_string(struct parser *ps, const char **out, size_t *len)
{
    const char *from = ps->p;
    size_t used = 0;
    int escaped = 0;

    for (;;) {
        const char *run = ps->p;
        while (ps->p < ps->end) {
            const unsigned char c = (unsigned char)*ps->p;
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            ps->p++;
        }
        if (escaped && ps->p > run) {
            memcpy(ps->scratch + used, run, (size_t)(ps->p - run));
            used += (size_t)(ps->p - run);
        }
        if (ps->p >= ps->end) {
            fail(ps, json_error_premature_end_of_input, "premature end of input");
            return -1;
        }
        const unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            *out = escaped ? ps->scratch : from;
            *len = escaped ? used : (size_t)(ps->p - from);
            ps->p++;
            return 0;
        }
        if (c < 0x20) {
            fail(ps, json_error_invalid_syntax, "control character 0x%x in a string", c);
            return -1;
        }
        if (c >= 0x80) {
            const size_t n = utf8_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
            if (n == 0) {
                fail(ps, json_error_invalid_utf8, "unable to decode byte 0x%x", c);
                return -1;
            }
            if (escaped) {
                memcpy(ps->scratch + used, ps->p, n);
                used += n;
            }
            ps->p += n;
            continue;
        }
        /* a backslash: from here the text is decoded into the scratch,
         * which the rest of the input always fits (an escape never
         * grows) */
        if (!escaped) {
            const size_t need = (size_t)(ps->end - from) + 1;
            if (ps->scratch_cap < need) {
                free(ps->scratch);
                ps->scratch = cf_xmalloc(need);
                ps->scratch_cap = need;
            }
            used = (size_t)(ps->p - from);
            memcpy(ps->scratch, from, used);
            escaped = 1;
        }
        ps->p++;
        const size_t n = unescape(ps, ps->scratch + used);
        if (n == 0)
            return -1;
        used += n;
    }
}

static json_t *parse_number(struct parser *ps)
{
    const char *from = ps->p, *q = ps->p;
    int real = 0;

    if (q < ps->end && *q == '-')
        q++;
    if (q < ps->end && *q == '0') {
        q++;
    } else if (q < ps->end && *q >= '1' && *q <= '9') {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        ps->p = q;
        fail(ps, json_error_invalid_syntax, "invalid number");
        return NULL;
    }
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            ps->p = q;
            fail(ps, json_error_invalid_syntax, "invalid number: no digit after '.'");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
        real = 1;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9') {
            ps->p = q;
            fail(ps, json_error_invalid_syntax, "invalid number: no digit in the exponent");
            return NULL;
        }
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
        real = 1;
    }
    /* a leading zero followed by a digit ("01"): the number ends at the
     * zero, and the digit after it is not JSON */
    char small[64], *text = small;
    const size_t n = (size_t)(q - from);
    if (n >= sizeof(small))
        text = cf_xmalloc(n + 1);
    memcpy(text, from, n);
    text[n] = '\0';
    ps->p = q;
    json_t *j = NULL;
    errno = 0;
    if (!real) {
        const json_int_t v = strtoll(text, NULL, 10);
        if (errno == ERANGE)
            fail(ps, json_error_numeric_overflow,
                 v < 0 ? "too big negative integer" : "too big integer");
        else
            j = json_integer(v);
    } else {
        const double v = strtod(text, NULL);
        if (errno == ERANGE && isinf(v))
            fail(ps, json_error_numeric_overflow, "real number overflow");
        else
            j = json_real(v);
    }
    if (text != small)
        free(text);
    return j;
}

static json_t *parse_value(struct parser *ps, int depth);

static json_t *parse_object(struct parser *ps, int depth)
{
    json_t *obj = json_object();

    skip_space(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        const char *key;
        size_t key_len;
        if (ps->p >= ps->end || *ps->p != '"') {
            fail(ps, json_error_invalid_syntax, "string or '}' expected");
            goto error;
        }
        ps->p++;
        if (scan_string(ps, &key, &key_len) != 0)
            goto error;
        if (memchr(key, '\0', key_len)) {
            fail(ps, json_error_null_byte_in_key, "NUL byte in object key not supported");
            goto error;
        }
        /* a key decoded into the scratch is copied: the value's escaped
         * strings reuse it */
        char small[128], *copy = NULL;
        const char *k = key;
        if (key == ps->scratch) {
            copy = key_len < sizeof(small) ? small : cf_xmalloc(key_len + 1);
            memcpy(copy, key, key_len);
            k = copy;
        }
        json_t *value = NULL;
        if ((ps->flags & JSON_REJECT_DUPLICATES) && json_object_getn(obj, k, key_len)) {
            fail(ps, json_error_duplicate_key, "duplicate object key");
        } else {
            skip_space(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, json_error_invalid_syntax, "':' expected");
            } else {
                ps->p++;
                value = parse_value(ps, depth + 1);
            }
        }
        const int set = value ? json_object_setn_new_nocheck(obj, k, key_len, value) : -1;
        if (copy && copy != small)
            free(copy);
        if (set != 0)
            goto error;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            skip_space(ps);
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        fail(ps, json_error_invalid_syntax, "'}' expected");
        goto error;
    }
error:
    json_decref(obj);
    return NULL;
}

static json_t *parse_array(struct parser *ps, int depth)
{
    json_t *arr = json_array();

    skip_space(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        json_t *elem = parse_value(ps, depth + 1);
        if (!elem || json_array_append_new(arr, elem) != 0)
            goto error;
        skip_space(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        fail(ps, json_error_invalid_syntax, "']' expected");
        goto error;
    }
error:
    json_decref(arr);
    return NULL;
}

/* The literal word at ps->p, as long as it has letters. */
static json_t *parse_word(struct parser *ps)
{
    const char *from = ps->p;
    while (ps->p < ps->end &&
           ((*ps->p >= 'a' && *ps->p <= 'z') || (*ps->p >= 'A' && *ps->p <= 'Z')))
        ps->p++;
    const size_t n = (size_t)(ps->p - from);
    if (n == 4 && memcmp(from, "true", 4) == 0)
        return json_true();
    if (n == 5 && memcmp(from, "false", 5) == 0)
        return json_false();
    if (n == 4 && memcmp(from, "null", 4) == 0)
        return json_null();
    ps->p = from;
    fail(ps, json_error_invalid_syntax, "invalid token");
    return NULL;
}

/* The value at ps->p (white space before it skipped), depth the number of
 * values it is in plus one (jansson's count). */
static json_t *parse_value(struct parser *ps, int depth)
{
    if (depth > MAX_DEPTH) {
        fail(ps, json_error_stack_overflow, "maximum parsing depth reached");
        return NULL;
    }
    skip_space(ps);
    if (ps->p >= ps->end) {
        fail(ps, json_error_premature_end_of_input, "premature end of input");
        return NULL;
    }
    const char c = *ps->p;
    if (c == '{') {
        ps->p++;
        return parse_object(ps, depth);
    }
    if (c == '[') {
        ps->p++;
        return parse_array(ps, depth);
    }
    if (c == '"') {
        const char *s;
        size_t len;
        ps->p++;
        if (scan_string(ps, &s, &len) != 0)
            return NULL;
        if (memchr(s, '\0', len)) {
            fail(ps, json_error_null_character, "\\u0000 is not allowed in a string");
            return NULL;
        }
        return json_stringn_nocheck(s, len);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return parse_number(ps);
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return parse_word(ps);
    fail(ps, json_error_invalid_syntax, "invalid token");
    return NULL;
}

json_t *cf_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *error)
{
    struct parser ps = {.p = buf, .end = buf + len, .start = buf, .flags = flags, .error = error};

    if (error) {
        memset(error, 0, sizeof(*error));
        snprintf(error->source, sizeof(error->source), "<buffer>");
        error->line = error->column = -1;
    }
    if (!buf) {
        fail(&ps, json_error_invalid_argument, "wrong arguments");
        return NULL;
    }
    skip_space(&ps);
    if (!(flags & JSON_DECODE_ANY) && (ps.p >= ps.end || (*ps.p != '{' && *ps.p != '['))) {
        fail(&ps, json_error_invalid_syntax, "'[' or '{' expected");
        return NULL;
    }
    json_t *j = parse_value(&ps, 1);
    if (j) {
        skip_space(&ps);
        if (ps.p < ps.end) {
            fail(&ps, json_error_end_of_input_expected, "end of file expected");
            json_decref(j);
            j = NULL;
        }
    }
    free(ps.scratch);
    return j;
}

json_t *cf_json_loads(const char *text, size_t flags, json_error_t *error)
{
    return cf_json_loadb(text, text ? strlen(text) : 0, flags, error);
}

/* ---- writing ---- */

/* s (n bytes) as a JSON string: escaped as jansson escapes (the two that
 * must be, and control characters, by name or as \u00XX); 0, or -1 when
 * it is not UTF-8. */
static int put_string(struct cf_strbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    /* room for the text as it is and the quotes; an escape asks for more */
    char *o = cf_strbuf_reserve(b, n + 2);

    *o++ = '"';
    while (p < end) {
        const unsigned char c = *p;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { /* as it is */
            *o++ = (char)c;
            p++;
            continue;
        }
        if (c >= 0x80) {
            const size_t len = utf8_len(p, (size_t)(end - p));
            if (len == 0) {
                b->p[b->len] = '\0';
                return -1;
            }
            memcpy(o, p, len);
            o += len;
            p += len;
            continue;
        }
        /* at most 6 bytes for this one instead of 1 */
        b->len = (size_t)(o - b->p);
        o = cf_strbuf_reserve(b, (size_t)(end - p) + 6 + 1);
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\b':
            *o++ = 'b';
            break;
        case '\f':
            *o++ = 'f';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default: /* \u00XX, in capitals as jansson writes it */
            o[0] = 'u';
            o[1] = o[2] = '0';
            o[3] = "0123456789ABCDEF"[c >> 4];
            o[4] = "0123456789ABCDEF"[c & 15];
            o += 5;
        }
        p++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
    b->p[b->len] = '\0';
    return 0;
}

static void put_integer(struct cf_strbuf *b, json_int_t v)
{
    char digits[24];
    size_t n = 0;
    /* the magnitude as unsigned: the most negative value has no positive */
    unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        digits[n++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    char *o = cf_strbuf_reserve(b, n + 1), *const o0 = o;
    if (v < 0)
        *o++ = '-';
    while (n)
        *o++ = digits[--n];
    b->len += (size_t)(o - o0);
    b->p[b->len] = '\0';
}

/* A real as the shortest text that reads back as the same double (1234.56,
 * not jansson's 17 digits, 1234.5599999999999: money and shares as a
 * person wrote them), with a "." or an exponent so it stays a real. Not a
 * number or an infinity has no JSON text: -1. */
static int put_real(struct cf_strbuf *b, double v)
{
    char text[40];
    if (!isfinite(v))
        return -1;
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof(text), "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    cf_strbuf_add(b, text);
    if (!strpbrk(text, ".eEn"))
        cf_strbuf_add_n(b, ".0", 2);
    return 0;
}

static int put_value(struct cf_strbuf *b, const json_t *j, int depth)
{
    if (!j || depth > MAX_DEPTH)
        return -1;
    switch (json_typeof(j)) {
    case JSON_NULL:
        cf_strbuf_add_n(b, "null", 4);
        return 0;
    case JSON_TRUE:
        cf_strbuf_add_n(b, "true", 4);
        return 0;
    case JSON_FALSE:
        cf_strbuf_add_n(b, "false", 5);
        return 0;
    case JSON_INTEGER:
        put_integer(b, json_integer_value(j));
        return 0;
    case JSON_REAL:
        return put_real(b, json_real_value(j));
    case JSON_STRING:
        return put_string(b, json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        const size_t n = json_array_size(j);
        cf_strbuf_add_n(b, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i)
                cf_strbuf_add_n(b, ",", 1);
            if (put_value(b, json_array_get(j, i), depth + 1) != 0)
                return -1;
        }
        cf_strbuf_add_n(b, "]", 1);
        return 0;
    }
    case JSON_OBJECT: {
        int first = 1;
        cf_strbuf_add_n(b, "{", 1);
        /* in insertion order, as jansson writes without JSON_SORT_KEYS */
        for (void *it = json_object_iter((json_t *)j); it;
             it = json_object_iter_next((json_t *)j, it)) {
            if (!first)
                cf_strbuf_add_n(b, ",", 1);
            first = 0;
            if (put_string(b, json_object_iter_key(it), json_object_iter_key_len(it)) != 0)
                return -1;
            cf_strbuf_add_n(b, ":", 1);
            if (put_value(b, json_object_iter_value(it), depth + 1) != 0)
                return -1;
        }
        cf_strbuf_add_n(b, "}", 1);
        return 0;
    }
    }
    return -1;
}

int cf_json_dump_to(struct cf_strbuf *b, const json_t *j)
{
    return put_value(b, j, 1);
}

char *cf_json_dumps(const json_t *j)
{
    struct cf_strbuf b = {0};

    if (put_value(&b, j, 1) != 0) {
        free(b.p);
        return NULL;
    }
    return cf_strbuf_take(&b);
}
