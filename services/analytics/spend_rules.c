/*
 * Reading ad spend (spend_testable.h).
 */
#include "spend_testable.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "common/strbuf.h"
#include "common/time.h"
#include "common/validate.h"

#define TEXT_MAX 256
#define COLS 7

static const char *const col_names[COLS] = {"day",    "source", "medium",  "campaign",
                                            "clinic", "amount", "currency"};

json_t *an_spend_row(const json_t *j, char *field, size_t field_size, char *errbuf,
                     size_t errbuf_size)
{
    static const struct cf_field fields[] = {
        {"day", CF_FIELD_STRING, 1, 10, 10, 0, 0, NULL},
        {"source", CF_FIELD_STRING, 1, 1, TEXT_MAX, 0, 0, NULL},
        {"medium", CF_FIELD_STRING, 0, 0, TEXT_MAX, 0, 0, NULL},
        {"campaign", CF_FIELD_STRING, 0, 0, TEXT_MAX, 0, 0, NULL},
        {"clinic", CF_FIELD_STRING, 0, 0, 128, 0, 0, NULL},
        {"amount", CF_FIELD_NUMBER, 1, 0, 0, 0, 1000000000000LL, NULL},
        {"currency", CF_FIELD_STRING, 1, 3, 3, 0, 0, NULL},
    };
    int64_t days;

    if (cf_validate_object(j, fields, sizeof(fields) / sizeof(fields[0]), field, field_size, errbuf,
                           errbuf_size) != 0)
        return NULL;
    const char *day = json_string_value(json_object_get(j, "day"));
    if (cf_time_date_parse(day, &days) != 0) {
        snprintf(field, field_size, "day");
        snprintf(errbuf, errbuf_size, "day must be a date YYYY-MM-DD");
        return NULL;
    }
    const char *currency = json_string_value(json_object_get(j, "currency"));
    if (!cf_validate_currency(currency)) {
        snprintf(field, field_size, "currency");
        snprintf(errbuf, errbuf_size, "currency must be an ISO 4217 code (RUB)");
        return NULL;
    }
    const json_t *medium = json_object_get(j, "medium"), *campaign = json_object_get(j, "campaign"),
                 *clinic = json_object_get(j, "clinic");
    /* an optional member given as null is not given */
    return json_pack("{s:s, s:O, s:s, s:s, s:s, s:f, s:s}", "day", day, "source",
                     json_object_get(j, "source"), "medium",
                     json_is_string(medium) ? json_string_value(medium) : "", "campaign",
                     json_is_string(campaign) ? json_string_value(campaign) : "", "clinic_id",
                     json_is_string(clinic) ? json_string_value(clinic) : "", "amount",
                     json_number_value(json_object_get(j, "amount")), "currency", currency);
}

/* What record() found wrong: a quoted value that does not end; a cell
 * that is not UTF-8 (a file saved in a legacy code page: a JSON string
 * cannot hold it, and a cell left out would move every later one into the
 * column before); text after a quoted value's closing quote (a quote
 * inside one not doubled: where the value ends is a guess); a NUL byte
 * (a string would end at it, and two values that differ after it would
 * be one). The cell's index is then the size of cells. */
enum { CSV_UNTERMINATED = -1, CSV_NOT_UTF8 = -2, CSV_AFTER_QUOTE = -3, CSV_NUL = -4 };

/* One CSV record from *p (up to end) into cells; *p moves past its line
 * end. 0, or one of the above. */
static int record(const char **p, const char *end, json_t *cells)
{
    const char *s = *p;
    for (;;) {
        char buf[TEXT_MAX * 4 + 8];
        size_t n = 0;
        unsigned char dropped = 0; /* the first byte past buf, if any */
        int quoted = s < end && *s == '"';
        if (quoted) {
            for (s++;; s++) {
                if (s >= end)
                    return CSV_UNTERMINATED;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"')
                        s++;
                    else {
                        s++;
                        break;
                    }
                }
                if (n < sizeof(buf) - 1)
                    buf[n++] = *s;
                else if (!dropped)
                    dropped = (unsigned char)*s;
            }
            if (s < end && *s != ',' && *s != '\r' && *s != '\n') {
                *p = s;
                return CSV_AFTER_QUOTE;
            }
        } else {
            while (s < end && *s != ',' && *s != '\n' && *s != '\r') {
                if (n < sizeof(buf) - 1)
                    buf[n++] = *s;
                else if (!dropped)
                    dropped = (unsigned char)*s;
                s++;
            }
        }
        /* a cell longer than buf is too long for any column we read; its
         * cut must not split a character, or it would read as not UTF-8 */
        if ((dropped & 0xC0) == 0x80) {
            while (n > 0 && ((unsigned char)buf[n - 1] & 0xC0) == 0x80)
                n--;
            if (n > 0)
                n--;
        }
        if (memchr(buf, '\0', n)) {
            *p = s;
            return CSV_NUL;
        }
        json_t *cell = json_stringn(buf, n);
        if (!cell) {
            *p = s;
            return CSV_NOT_UTF8;
        }
        json_array_append_new(cells, cell);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        if (s < end && *s == '\r')
            s++;
        if (s < end && *s == '\n')
            s++;
        *p = s;
        return 0;
    }
}

static json_t *fail(json_t *rows, char *field, size_t field_size, char *errbuf, size_t errbuf_size,
                    size_t line, const char *col, const char *why)
{
    json_decref(rows);
    snprintf(field, field_size, "line %zu%s%s", line, col ? ": " : "", col ? col : "");
    snprintf(errbuf, errbuf_size, "line %zu: %s", line, why);
    return NULL;
}

/* The 400 for record()'s rc at cell i of line, named by the column read
 * there (at), else by its position. */
static json_t *fail_record(json_t *rows, char *field, size_t field_size, char *errbuf,
                           size_t errbuf_size, size_t line, const int *at, size_t i, int rc)
{
    char col[32], why[160];
    if (rc == CSV_UNTERMINATED)
        return fail(rows, field, field_size, errbuf, errbuf_size, line, NULL,
                    "a quoted value does not end");
    snprintf(col, sizeof(col), "column %zu", i + 1);
    for (int c = 0; at && c < COLS; c++)
        if (at[c] >= 0 && (size_t)at[c] == i)
            snprintf(col, sizeof(col), "%s", col_names[c]);
    if (rc == CSV_NOT_UTF8)
        snprintf(why, sizeof(why), "%s is not UTF-8 (save the file as CSV UTF-8)", col);
    else if (rc == CSV_AFTER_QUOTE)
        snprintf(why, sizeof(why),
                 "%s has text after its closing quote (a quote inside a quoted value is "
                 "doubled: \"\")",
                 col);
    else
        snprintf(why, sizeof(why), "%s holds a NUL byte", col);
    return fail(rows, field, field_size, errbuf, errbuf_size, line, col, why);
}

/* 1 when v is an amount as a file writes it: digits, and a dot and digits
 * after it (no sign, exponent, hex, spaces or infinity, which strtod
 * would take). */
static int amount_text(const char *v)
{
    const char *q = v;
    while (isdigit((unsigned char)*q))
        q++;
    if (q == v)
        return 0;
    if (*q == '.') {
        const char *f = ++q;
        while (isdigit((unsigned char)*q))
            q++;
        if (q == f)
            return 0;
    }
    return *q == '\0';
}

/* The row's key: its day, source, medium, campaign and clinic, each
 * after its length, so no value can pass for two. Free it. */
static char *row_key(const json_t *row)
{
    struct cf_strbuf b = {0};
    for (int c = 0; c < 5; c++) {
        const char *v =
            json_string_value(json_object_get(row, c == 4 ? "clinic_id" : col_names[c]));
        char len[24];
        snprintf(len, sizeof(len), "%zu:", strlen(v));
        cf_strbuf_add(&b, len);
        cf_strbuf_add(&b, v);
    }
    return cf_strbuf_take(&b);
}

json_t *an_spend_latest(json_t *rows)
{
    json_t *out = json_array(), *seen = json_object(), *row;
    size_t i;
    json_array_foreach(rows, i, row)
    {
        char *key = row_key(row);
        const json_t *j_at = json_object_get(seen, key);
        if (j_at) {
            json_array_set(out, (size_t)json_integer_value(j_at), row);
        } else {
            json_object_set_new(seen, key, json_integer((json_int_t)json_array_size(out)));
            json_array_append(out, row);
        }
        free(key);
    }
    json_decref(seen);
    json_decref(rows);
    return out;
}

json_t *an_spend_csv(const char *body, size_t len, size_t max_rows, char *field, size_t field_size,
                     char *errbuf, size_t errbuf_size)
{
    const char *p = body, *end = body + len;
    json_t *header = json_array(), *rows = json_array();
    int at[COLS];
    size_t line = 1;

    /* the byte order mark a spreadsheet's "CSV UTF-8" starts with */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    int rc = record(&p, end, header);
    if (rc != 0 && rc != CSV_UNTERMINATED) {
        const size_t i = json_array_size(header);
        json_decref(header);
        return fail_record(rows, field, field_size, errbuf, errbuf_size, 1, NULL, i, rc);
    }
    if (rc != 0 || json_array_size(header) == 0) {
        json_decref(header);
        return fail(rows, field, field_size, errbuf, errbuf_size, 1, NULL, "no header");
    }
    for (int c = 0; c < COLS; c++)
        at[c] = -1;
    /* Every named column is one of ours (case and the spaces around a name
     * aside): a misspelt one would be read as not given, and its values
     * lost (a clinic's spend stored as the network's). A column with no
     * name (a trailing comma) is not read. */
    for (size_t i = 0; i < json_array_size(header); i++) {
        const char *cell = json_string_value(json_array_get(header, i));
        size_t n = strlen(cell);
        while (n > 0 && (cell[n - 1] == ' ' || cell[n - 1] == '\t'))
            n--;
        while (n > 0 && (*cell == ' ' || *cell == '\t'))
            cell++, n--;
        if (n == 0)
            continue;
        int c = 0;
        while (c < COLS && !(strlen(col_names[c]) == n && strncasecmp(cell, col_names[c], n) == 0))
            c++;
        if (c == COLS) {
            /* named by its first 24 characters, whole (UTF-8 already) */
            char col[24 * 4 + 1], why[200];
            snprintf(col, sizeof(col), "%.*s", (int)cf_validate_utf8_prefix(cell, n, 24), cell);
            snprintf(why, sizeof(why),
                     "unknown column '%s' (the columns: day, source, medium, campaign, clinic, "
                     "amount, currency)",
                     col);
            json_decref(header);
            return fail(rows, field, field_size, errbuf, errbuf_size, 1, col, why);
        }
        if (at[c] >= 0) {
            json_decref(header);
            return fail(rows, field, field_size, errbuf, errbuf_size, 1, col_names[c],
                        "the header names this column twice");
        }
        at[c] = (int)i;
    }
    const size_t ncols = json_array_size(header);
    json_decref(header);
    static const int required[] = {0, 1, 5, 6}; /* day, source, amount, currency */
    for (size_t r = 0; r < sizeof(required) / sizeof(required[0]); r++)
        if (at[required[r]] < 0)
            return fail(rows, field, field_size, errbuf, errbuf_size, 1, col_names[required[r]],
                        "the header lacks a required column");

    while (p < end) {
        json_t *cells = json_array(), *obj = json_object();
        line++;
        if ((rc = record(&p, end, cells)) != 0) {
            const size_t i = json_array_size(cells);
            json_decref(cells);
            json_decref(obj);
            return fail_record(rows, field, field_size, errbuf, errbuf_size, line, at, i, rc);
        }
        if (json_array_size(cells) == 1 && !*json_string_value(json_array_get(cells, 0))) {
            json_decref(cells); /* an empty line */
            json_decref(obj);
            continue;
        }
        if (json_array_size(cells) > ncols) {
            /* "1234,50": a decimal comma, or a cell unquoted, would move
             * the rest of the line, or be lost */
            json_decref(cells);
            json_decref(obj);
            return fail(rows, field, field_size, errbuf, errbuf_size, line, NULL,
                        "more cells than the header has columns (a comma in a value must be "
                        "quoted; a dot for decimals)");
        }
        for (int c = 0; c < COLS; c++) {
            const char *v =
                at[c] >= 0 ? json_string_value(json_array_get(cells, (size_t)at[c])) : NULL;
            if (!v || (!*v && c != 0 && c != 1 && c != 5 && c != 6))
                continue; /* an optional column left empty */
            if (c == 5) {
                if (!amount_text(v)) {
                    json_decref(cells);
                    json_decref(obj);
                    return fail(rows, field, field_size, errbuf, errbuf_size, line, "amount",
                                "amount must be a number (a dot for decimals)");
                }
                json_object_set_new(obj, "amount", json_real(strtod(v, NULL)));
            } else {
                json_object_set_new(obj, col_names[c], json_string(v));
            }
        }
        json_decref(cells);
        char f[32], why[200];
        json_t *row = an_spend_row(obj, f, sizeof(f), why, sizeof(why));
        json_decref(obj);
        if (!row)
            return fail(rows, field, field_size, errbuf, errbuf_size, line, f, why);
        if (json_array_size(rows) == max_rows) {
            json_decref(row);
            return fail(rows, field, field_size, errbuf, errbuf_size, line, NULL,
                        "too many rows in one file");
        }
        json_object_set_new(row, "line", json_integer((json_int_t)line));
        json_array_append_new(rows, row);
    }
    return rows;
}
