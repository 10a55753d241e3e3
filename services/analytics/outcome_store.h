/*
 * The statements on analytics.reminder_outcomes, campaign_members and
 * nps_answers: one per table and batch, inside the caller's transaction;
 * a row already there (a replay) is left as it is. 0, or the cf_pg_exec
 * code with the reason in errbuf.
 */
#ifndef CF_ANALYTICS_OUTCOME_STORE_H
#define CF_ANALYTICS_OUTCOME_STORE_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "outcome_facts_testable.h"

/* Inserts the rows of one kind (an_outcome_row's). */
int an_outcomes_save(PGconn *conn, enum an_outcome_kind kind, const json_t *rows, char *errbuf,
                     size_t errbuf_size);

#endif
