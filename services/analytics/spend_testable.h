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
 * and currency, and any of medium, campaign and clinic, in any order and
 * case, and no other column but one with no name, which is not read):
 * a new array of rows, each with its "line", one a line of data, or NULL
 * with "line N: column" in field and the reason in errbuf. At most
 * max_rows lines of data. The amount is digits, with a dot for decimals. */
json_t *an_spend_csv(const char *body, size_t len, size_t max_rows, char *field, size_t field_size,
                     char *errbuf, size_t errbuf_size);

/* The rows to store of a file's rows (an_spend_csv's, taken): a later
 * line of the same day, source, medium, campaign and clinic replaces the
 * earlier one, as a second PUT would; each key's row where its first line
 * was, with its last line's values. A new array. */
json_t *an_spend_latest(json_t *rows);

#endif
