/*
 * The statements on analytics.leads: each one over a whole batch, inside
 * the caller's transaction. 0, or the cf_pg_exec code with the reason in
 * errbuf.
 */
#ifndef CF_ANALYTICS_LEAD_STORE_H
#define CF_ANALYTICS_LEAD_STORE_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* Applies the patches (lead_facts_testable.h; one per lead, its batch's
 * events merged in order): each column a patch sets replaces the stored
 * one, the others stay. */
int an_leads_save(PGconn *conn, const json_t *patches, char *errbuf, size_t errbuf_size);

/* The stored leads keyed by a key that is an alias now (links: an array of
 * {network_id, contact_key, person_key}) keyed by its person's. */
int an_leads_rekey(PGconn *conn, const json_t *links, char *errbuf, size_t errbuf_size);

#endif
