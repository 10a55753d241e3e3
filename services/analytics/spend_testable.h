/*
 * Ad spend as PUT /v1/spend and POST /v1/spend.csv take it (proto/README.md,
 * "Analytics reports"): one row per day, source, medium, campaign and
 * clinic (medium, campaign and clinic optional: "" when not given; no
 * clinic is network-wide spend), with its amount and currency. Pure:
 * reading and checking rows; spend_routes.c stores them.
 */
#ifndef CF_ANALYTICS_SPEND_TESTABLE_H
#define CF_ANALYTICS_SPEND_TESTABLE_H

#include <stddef.h>

#include <jansson.h>

/* The spend row of a JSON object {day, source, medium?, campaign?,
 * clinic?, amount, currency}: a new row {day, source, medium, campaign,
 * clinic_id, amount, currency}, or NULL with the offending member in
 * field and the reason in errbuf. The clinic is not checked here. */
json_t *an_spend_row(const json_t *j, char *field, size_t field_size, char *errbuf,
                     size_t errbuf_size);

/* The rows of a CSV body (RFC 4180; a header naming day, source, amount
 * and currency, and any of medium, campaign and clinic, in any order):
 * a new array of rows, or NULL with "line N: column" in field and the
 * reason in errbuf. At most max_rows lines of data; a later line of the
 * same day, source, medium, campaign and clinic replaces an earlier one
 * (the row stays where its first line was). */
json_t *an_spend_csv(const char *body, size_t len, size_t max_rows, char *field, size_t field_size,
                     char *errbuf, size_t errbuf_size);

#endif
