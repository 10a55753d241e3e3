/*
 * The batch import's pure parts (mis_batch_rules.c): the NDJSON line
 * splitter, which holds at most one line (max bytes) whatever the body's
 * size, and a line's envelope ({"kind", "id", ...the PUT's body}). No I/O;
 * the unit tests call them directly.
 */
#ifndef CF_REMINDERS_MIS_BATCH_TESTABLE_H
#define CF_REMINDERS_MIS_BATCH_TESTABLE_H

#include <stddef.h>

#include <jansson.h>

#define MIS_BATCH_LINE_MAX 65536

/* A complete line (without its "\n" or "\r\n"; never empty or only
 * blanks) and its number, counting from 1 over every line of the body
 * blank ones included; max counts a line's bytes before its "\n". Non-zero stops the feed, which
 * returns it. */
typedef int (*mis_lines_fn)(const char *line, size_t len, size_t lineno, void *user);

struct mis_lines {
    char *buf; /* the part of a line seen so far */
    size_t len;
    size_t cap;
    size_t max;    /* a longer line is CF_ETOOBIG */
    size_t lineno; /* lines completed so far */
};

/* An empty splitter for lines of at most max bytes. */
void mis_lines_init(struct mis_lines *lines, size_t max);
void mis_lines_free(struct mis_lines *lines);
/* Feeds len bytes of the body: fn for each line they complete. 0, fn's
 * non-zero, or CF_ETOOBIG when a line grows past max (its number is
 * lines->lineno + 1). */
int mis_lines_feed(struct mis_lines *lines, const char *data, size_t len, mis_lines_fn fn,
                   void *user);
/* The body is over: fn for a last line without its "\n". */
int mis_lines_finish(struct mis_lines *lines, mis_lines_fn fn, void *user);

/* The kinds of line; the same values as mis.h's enum mis_kind. */
enum mis_batch_kind { MIS_BATCH_PATIENT = 0, MIS_BATCH_APPOINTMENT = 1 };

/* A line's envelope: a JSON object with "kind" ("patient" or
 * "appointment") and "id" (the MIS id, mis_id_ok), and the members of the
 * PUT's body beside them. 0 with *kind, the id copied to mis_id and *body
 * (a new object without "kind" and "id", for mis_patient_record or
 * mis_appointment_record), or CF_EINVAL with the member in field ("" for
 * a line that is no JSON object) and the reason. */
int mis_batch_line(const char *line, size_t len, enum mis_batch_kind *kind, char *mis_id,
                   size_t mis_id_size, json_t **body, char *field, size_t field_size, char *errbuf,
                   size_t errbuf_size);

#endif
