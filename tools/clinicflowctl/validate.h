/*
 * Validation of a network document (the file `clinicflowctl apply` reads,
 * documented in deploy/local/NETWORK.md). The validator is pure: no
 * database, no environment; it reads only the time zone files under
 * /usr/share/zoneinfo. It stops at the first error and names it by JSON path.
 */
#ifndef CF_CLINICFLOWCTL_VALIDATE_H
#define CF_CLINICFLOWCTL_VALIDATE_H

#include <stddef.h>

#include <jansson.h>

/* Defaults the validator allows to be omitted; apply stores them. */
#define CTL_DEFAULT_HOLD_SECONDS 1800
#define CTL_MIN_HOLD_SECONDS 30
#define CTL_MAX_HOLD_SECONDS 86400

/* Checks the whole document. Returns 0, or CF_EINVAL with
 * "$.clinics[1].working_hours.mon[0]: expected \"HH:MM-HH:MM\"" in errbuf
 * (the caller prefixes the file name). Thread-safe. */
int ctl_validate_network(const json_t *j_net, char *errbuf, size_t errbuf_size);

/* 1 if name is a time zone file under /usr/share/zoneinfo ("Europe/Moscow"):
 * a safe relative path naming a TZif file. */
int ctl_valid_timezone(const char *name);

#endif
