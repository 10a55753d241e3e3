/*
 * clinicflowctl's commands, one file per family: main.c (arguments,
 * settings, migrate), apply.c (apply), show.c (show), keys.c (key
 * create/list/revoke) and dlq.c (dlq list/replay); ctl.c holds what they
 * share (the first three functions below). Each command returns the
 * process exit status: 0 done, 1 failed (the reason already printed on
 * stderr), 2 a usage or settings error.
 */
#ifndef CF_CLINICFLOWCTL_CTL_H
#define CF_CLINICFLOWCTL_CTL_H

#include <stdint.h>

#include <libpq-fe.h>
#include <jansson.h>

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1
#define CTL_EXIT_USAGE 2

/* Prints "clinicflowctl: <message>" on stderr. */
void ctl_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a table cell with tabs and line breaks flattened to spaces, "-"
 * when empty, then sep. */
void ctl_print_cell(const char *s, const char *sep);

/* Increments config.version inside the caller's transaction; *out gets the
 * new version. 0 or a cf_err with the reason in errbuf. */
int ctl_bump_version(PGconn *conn, int64_t *out, char *errbuf, size_t errbuf_size);

/* Reads and validates a network file. On success *out is the document (a new
 * reference); otherwise the error is printed as "FILE: $.path: reason". */
int ctl_load_network_file(const char *file, json_t **out);

/* Writes a validated network document in one transaction; dry_run: the
 * same statements, each removal said, then rolled back (nothing
 * changes, the services reload nothing). */
int ctl_cmd_apply(PGconn *conn, const char *file, const json_t *j_net, int dry_run);

/* Prints {"version", "networks": [...]} with secrets masked; network may be
 * NULL for all networks. */
int ctl_cmd_show(PGconn *conn, const char *network);

/* A key limited to clinics names at most this many. */
#define CTL_KEY_MAX_CLINICS 64
int ctl_cmd_key_create(PGconn *conn, const char *network, const char *scopes, const char *name,
                       const char *const *clinics, size_t nclinics);
int ctl_cmd_key_list(PGconn *conn, const char *network);
int ctl_cmd_key_revoke(PGconn *conn, const char *key_id);

/* dlq list / dlq replay: what to select and how (main.c parses it). */
struct ctl_dlq_args {
    int replay;        /* 0 list, 1 replay */
    const char *topic; /* the original topic, or NULL for any (replay needs it) */
    const char *group; /* the consumer group, or NULL for any */
    const char *since; /* as given, for messages */
    const char *until; /* as given, for messages */
    int64_t since_ms;  /* entries at or after it (INT64_MIN: no bound) */
    int64_t until_ms;  /* entries before it (INT64_MAX: no bound) */
    int json;          /* list: one JSON object per line */
    int dry_run;       /* replay: list what would be replayed, produce nothing */
};

/* A --since/--until value: RFC 3339 ("2026-11-22T08:00:00Z", any offset,
 * optional fraction) or a date "YYYY-MM-DD" (its start in UTC) to Unix ms.
 * 0 or CF_EINVAL. */
int ctl_dlq_time_parse(const char *s, int64_t *ms_out);

/* Runs dlq list or replay against the brokers of CLINICFLOW_KAFKA_BROKERS
 * (no database); returns the exit status. */
int ctl_cmd_dlq(const struct ctl_dlq_args *a);

#endif
