/*
 * clinicflowctl's commands, one file per family: main.c (arguments,
 * settings, migrate), apply.c (apply), show.c (show) and keys.c (key
 * create/list/revoke). Each command returns the process exit status:
 * 0 done, 1 failed (the reason already printed on stderr).
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

/* Increments config.version inside the caller's transaction; *out gets the
 * new version. 0 or a cf_err with the reason in errbuf. */
int ctl_bump_version(PGconn *conn, int64_t *out, char *errbuf, size_t errbuf_size);

/* Reads and validates a network file. On success *out is the document (a new
 * reference); otherwise the error is printed as "FILE: $.path: reason". */
int ctl_load_network_file(const char *file, json_t **out);

/* Writes a validated network document in one transaction. */
int ctl_cmd_apply(PGconn *conn, const char *file, const json_t *j_net);

/* Prints {"version", "networks": [...]} with secrets masked; network may be
 * NULL for all networks. */
int ctl_cmd_show(PGconn *conn, const char *network);

int ctl_cmd_key_create(PGconn *conn, const char *network, const char *scopes, const char *name);
int ctl_cmd_key_list(PGconn *conn, const char *network);
int ctl_cmd_key_revoke(PGconn *conn, const char *key_id);

#endif
