/*
 * What analytics keeps of a lead, as pure functions of its events
 * (proto/README.md, "Leads, for analysts" and "Analytics reports"). Each
 * lead.* event tells part of a lead: lead.received the whole of it as it
 * opened (its patch marked initial: on a lead stored already, it fills
 * only what is missing), the others what changed (a merge, the first
 * response, the outcome, the breach). So an event becomes a patch: the
 * analytics.leads columns it sets; the store keeps the other columns as
 * they are. No I/O.
 */
#ifndef CF_ANALYTICS_LEAD_FACTS_TESTABLE_H
#define CF_ANALYTICS_LEAD_FACTS_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The patch of one lead.* event (type, its data, its time time_ms) in
 * network network_id, hours in zone tz: a new object with lead_id and
 * network_id and the columns the event sets; an empty object for a lead.*
 * type it does not read; NULL with the reason when the event cannot be
 * placed (no lead_id, a lead.received without a valid received_at). */
/* The source of a lead from an ad inside a messenger, which brings its
 * referral and no utm_source: meta_ads for a Click-to-WhatsApp or
 * Instagram ad, vk_ads for a VK lead form's ad; NULL for another provider.
 * Its medium is the provider. */
const char *an_lead_referral_source(const char *provider);

json_t *an_lead_patch(const char *type, const json_t *data, int64_t time_ms, const char *network_id,
                      const char *tz, char *errbuf, size_t errbuf_size);

/* Makes an initial patch (a lead.received's) what the store takes: the
 * requests counted, the status, the breach and the key as init_messages,
 * init_status, init_sla_breached and init_contact_key, the lead's values
 * only where no other event of it, stored or in the batch, has set them
 * (lead_store.c's LATER columns). Other patches are left as they are.
 * After the patch's contact key has served to link the lead's person. */
void an_lead_patch_split_initial(json_t *patch);

/* Merges patch, a lead's later event in a batch (split as above), into
 * have, the batch's patch of the same lead so far: its columns win. A
 * received's starting values are apart (init_*), so whichever order it
 * comes in, what the lead's other events set stays. */
void an_lead_patch_merge(json_t *have, const json_t *patch);

/*
 * One person, several keys (proto/README.md, "Leads and calls, one
 * person"). A lead that began in a messenger or by e-mail is keyed by
 * that account until a phone arrives; from then on its person is the
 * phone's. Analytics counts the person once, under the key the lead's
 * events name last: its other keys become aliases of it. A person key is
 * never an alias: a phone's key (calls and patients name people by
 * phone) never is, and an alias stays bound to the first person it was
 * linked to.
 *
 * A map of aliases: an object keyed "<network_id>\x1f<key>" whose value
 * is the person's key.
 */

/* The keys of a lead.received or lead.merged (data) that name its person
 * under another key: its contact_keys' messenger and e-mail keys other
 * than its contact_key (a new array; empty for other events). */
json_t *an_lead_aliases(const json_t *data);

/* key's person in network_id under the map: the key it is an alias of,
 * through aliases of aliases; key itself when it is none. */
const char *an_person_of(const json_t *aliases, const char *network_id, const char *key);

/* Links alias to person's person in network_id in the map: 1 when it
 * made a new alias, 0 when alias is one already (of whichever person),
 * is that person, or would make a loop. */
int an_person_link(json_t *aliases, const char *network_id, const char *alias, const char *person);

/* Whether the lead (a row of analytics.leads, alias a) counts as an SLA
 * breach: it had its lead.sla_breached, and no response dated by the
 * breach's due time followed (one told after the breach, a CRM's late
 * report or a replay of history, was in time after all). A breach stored
 * without its due time counts. proto/README.md defines it so. */
#define AN_LEAD_BREACHED(a)                                                                        \
    "(" a ".sla_breached AND NOT coalesce(" a ".responded_at <= " a ".sla_due_at, false))"

#endif
