/*
 * Internal interface of clinicflow-calls: the ingest tail shared by every
 * webhook route (normalize -> produce to calls.raw -> answer), the fold that
 * turns facts into calls, and the call store. Not used outside this service.
 */
#ifndef CF_CALLS_CALLS_H
#define CF_CALLS_CALLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <ulfius.h>

#include "common/client_addr.h"
#include "common/consumer.h"
#include "common/envelope.h"
#include "common/netconf.h"
#include "common/patients.h"
#include "common/service.h"

/* The service's own settings (CLINICFLOW_CALLS_*), read once in main. */
struct calls_settings {
    int consumers;          /* this instance also folds (consumers and sweeper) */
    long fold_runners;      /* fold consumers of the instance (one group) */
    long abandoned_ring_s;  /* a missed call that rang less than this is abandoned */
    long targeted_talk_s;   /* an answered inbound call this long is targeted */
    char *default_cc;       /* country code for national number forms */
    long callback_sla_s;    /* a callback task is due this long after the missed call */
    long task_lost_after_s; /* an open callback task expires as lost after this */
    long sweep_interval_ms; /* how often the sweeper looks for lost tasks */
    long staff_leg_wait_s;  /* an ended call's staff leg unreported this long is missed */
    long unique_lookback_s; /* a call is unique with no call from the contact this long before */
    long dni_hold_s;        /* hold of a pool number without the pool's own */
    long dni_flush_ms;      /* how often hold extensions are written */
    long dni_local_s;       /* a hold extended this recently is answered from memory */
    long dni_ip_per_minute; /* tracking requests per client address per minute */
    long dni_clinic_per_second;     /* tracking requests per clinic per second */
    long dni_new_holds_per_address; /* new holds per clinic and address within a hold; 0: any */
    char *public_base_url;          /* how providers reach us ("https://calls.example.org"),
                                       for signatures over the URL; empty: http://<Host> */
    char *trusted_proxies;          /* addresses/networks whose X-Forwarded-For is believed */
    long hook_max_age_s;   /* a provider's time older than this before arrival is refused */
    long hook_max_ahead_s; /* ... or later than this after it */
    long replay_window_s;  /* a signed provider time (Zadarma's call_start) older is a replay */
    long result_wait_s;    /* a result whose call is not stored this long after it is dropped */

    /* dynamic number insertion, continued */
    long dni_peak_half_life_s; /* the pool-size advice's peak halves this often */
    long dni_unwritten_max;    /* new holds' sessions Redis keeps unwritten, at most; 0: any */

    /* retention (retention.c); days 0: for ever */
    long retention_applied_events_days; /* applied event ids kept this long */
    long retention_dni_sessions_days;   /* visitor sessions kept this long after their hold */
    long retention_calls_days;          /* calls kept this long after their start */
    long retention_tasks_days;          /* closed or expired tasks kept this long after */
    long retention_interval_s;          /* how often the sweeper runs (one instance) */
    long retention_chunk;               /* rows deleted per statement */

    long fold_batch_max; /* facts the fold applies in one transaction, at most */
};

/* settings.c: the table of the service's own settings for cf_service_init,
 * its targets cfg's members (*n gets its length; the table lasts as long
 * as the process), and the checks between settings, once they are loaded:
 * 0, or CF_EINVAL with the reason, naming the variable (main exits 2). */
const struct cf_config_var *calls_settings_table(struct calls_settings *cfg, size_t *n);
int calls_settings_check(const struct calls_settings *cfg, char *errbuf, size_t errbuf_size);

struct calls_ctx {
    struct cf_service *svc;
    struct calls_settings cfg;
    struct cf_proxies proxies; /* parsed from cfg.trusted_proxies at start */
    /* The phone -> patient view (common/patients.h) in schema calls: its
     * consumer's batch state is touched only on that consumer's thread. */
    struct cf_patients patients;
    /* How far the fold has come, as the callbacks consumer's runners (and
     * the sweeper settling a task, through the same rules) ask it
     * (cf_fold_progress_ask, locked): before a miss settles a task past
     * its lost time (tasks.c). NULL when this instance runs no consumers. */
    struct cf_fold_progress *fold_seen;
};

/* How far back the fold must have come, at least, when a miss settles a
 * task whose lost time is ahead of the clock (a miss dated ahead: no
 * horizon reaches it yet): a retried batch (backoff up to 5 s) finds its
 * own earlier sample reached. */
#define CALLS_FOLD_SEEN_MARGIN_MS 30000
/* How long the callbacks consumer waits for a fold that stays behind (one
 * of its runners stuck): past this it settles from the call store as it is
 * (a warning, clinicflow_calls_tasks_settled_unseen_total), rather than
 * stop every network's callbacks. */
#define CALLS_FOLD_WAIT_MAX_MS 600000

/* routes.c */
void calls_routes_register(struct calls_ctx *ctx);

/* generic.c */
int handle_generic_call_post(const struct _u_request *req, struct _u_response *resp, void *user);

/* hooks.c: every provider route (/v1/hooks/calls/{provider}/{channel}[/...]). */
int handle_provider_hook(const struct _u_request *req, struct _u_response *resp, void *user);

/* results.c: POST /v1/calls/{id}/result, and the worker that expires the
 * results whose call was never stored (to the DLQ). */
int handle_call_result_post(const struct _u_request *req, struct _u_response *resp, void *user);
void calls_results_expirer(void *ctx);

/* ingest.c: the party object {raw, kind, e164?} of a phone value (new ref). */
json_t *calls_party_new(const char *raw, const char *default_cc);

/*
 * Produces one normalized fact (type clinicflow.call.reported) to calls.raw,
 * keyed by the call id, and waits for Kafka's acknowledgement. The event id
 * is uuid5(network, provider, channel, event_key); the call id is
 * uuid5(network, provider, "call", provider_call_id). j_data is stolen; the
 * provider fields are added to it. Returns 0 with both ids written (37 bytes
 * each) or the producer's error code. Blocks up to the delivery wait.
 */
int calls_ingest_fact(struct calls_ctx *ctx, const struct cf_network *net, const char *clinic_id,
                      const char *provider, const char *channel, const char *event_key,
                      const char *provider_call_id, int64_t time_ms, json_t *j_data,
                      char *event_id_out, char *call_id_out, char *errbuf, size_t errbuf_size);

/* Produces ev to calls.raw keyed by its subject (the call id) and waits
 * for Kafka's acknowledgement: 0 or the producer's error. */
int calls_produce_raw(struct calls_ctx *ctx, const struct cf_event *ev, char *errbuf,
                      size_t errbuf_size);
/* Logs why `what` was not stored and answers 503 with Retry-After (a
 * timed-out delivery too: the client retries, the event id is the same). */
void calls_answer_unstored(struct calls_ctx *ctx, struct _u_response *resp, int rc,
                           const char *what, const char *errbuf);

/* fold.c: the consumer's apply function (see consumer.h); ctx is calls_ctx. */
int calls_fold_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                     const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                     size_t errbuf_size);

/* The fold's consumer group (main.c), whose stored offsets the sweeper
 * reads to know how far the fold has come (common/fold_progress.h). */
#define CALLS_FOLD_GROUP "clinicflow-calls-fold"

/* tasks.c: the callback consumer's apply (on calls.v1); sweeper.c: the
 * worker expiring lost tasks (cf_service_add_worker). */
int calls_tasks_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                      const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                      size_t errbuf_size);
void calls_tasks_sweeper(void *ctx);
/* tasks_batch.c: the callback consumer's batch apply, the fast path. */
int calls_tasks_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                            const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                            char *errbuf, size_t errbuf_size);

/* fold.c: the fold's batch apply, the fast path (see consumer.h). */
int calls_fold_apply_batch(void *ctx, PGconn *conn, const struct cf_event *const *evs,
                           const rd_kafka_message_t *const *rkms, size_t n, struct cf_outbox *out,
                           char *errbuf, size_t errbuf_size);

/* What enrich asks PostgreSQL when the fold applies a batch at once, asked
 * for the whole batch in one statement per kind. The fold goes through
 * the batch twice: the first time (recording) every ask is noted and
 * answered as unknown; the answers are then fetched together, and the
 * second time each ask is answered from them. The maps' keys are
 * calls_lookup_key()'s. */
struct calls_lookups {
    int recording;
    /* the batch's calls stored so far (loaded, or created by an earlier
     * fact): call id -> {"n": network id, "doc": document, "dirty"?,
     * "corrected"?}, what the unique decision reads for them */
    json_t *calls;
    /* network, contact -> {call id: true}: which of calls had that contact
     * (a call is added again when its contact changes; each is checked) */
    json_t *by_contact;
    json_t *attribution; /* network, number, start -> session attribution or null */
    json_t *patients;    /* network, contact -> patient or null */
    /* network, contact -> {"n", "k", "lo", "hi": start times (ms) covered,
     * "rows": the other inbound calls of the contact stored before the
     * batch that started within lo..hi: {"id", "at", "unique", "doc"}} */
    json_t *contacts;
    json_t *corrected_ids; /* calls stored before the batch whose unique flag it took */
};
/* "a\037b[\037c]" (new string). */
char *calls_lookup_key(const char *a, const char *b, const char *c);
/* Notes in lk->by_contact that call call_id of network_id has j_call's
 * contact (when it has one). */
void calls_lookups_index(struct calls_lookups *lk, const char *call_id, const char *network_id,
                         const json_t *j_call);

/* enrich.c: attribution, unique flag and patient class, decided once per
 * call inside the fold's transaction. Other calls whose unique flag the
 * call's decision corrected are appended to corrected (their stored
 * documents) for the fold to emit. With lk (a batch), PostgreSQL is asked
 * through it; a decision it cannot make from the batch's answers is
 * CF_EINVAL (the batch goes the careful way). */
int calls_enrich(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk, json_t *j_call,
                 const char *network_id, const char *contact_locked, json_t *corrected,
                 char *errbuf, size_t errbuf_size);
/* Fetches the answers to what the first pass over a batch asked (one
 * statement per kind asked); exclude: the batch's call ids (a JSON array
 * text), whose rows the batch holds itself. */
int calls_lookups_fetch(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                        const char *exclude, char *errbuf, size_t errbuf_size);

/* patients.c: the patients view consumer's apply (on patients.v1) and its
 * batch_done, which moves the cache version of the contacts a committed
 * batch changed. */
int calls_patients_apply(void *ctx, PGconn *conn, const struct cf_event *ev,
                         const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                         size_t errbuf_size);
void calls_patients_batch_done(void *ctx, int committed);
/* The view's erase (cf_patients_erase_fn): a tombstoned patient's calls and
 * callback tasks lose what names the person. */
int calls_erase_person(void *arg, PGconn *conn, const char *patient_id, const json_t *contacts,
                       char *errbuf, size_t errbuf_size);

/* dni_route.c: GET|OPTIONS /v1/tracking/number and the metric
 * descriptions; dni_sessions.c: the worker that writes the holds'
 * sessions to PostgreSQL, and calls_dni_settle. */
int handle_tracking_number(const struct _u_request *req, struct _u_response *resp, void *user);
void calls_dni_flusher(void *ctx);
/* Writes, on conn (the fold's transaction), the sessions of the number that
 * Redis keeps unwritten (taken while PostgreSQL was down, or not written
 * yet), so that a call folded before the worker wrote them is attributed:
 * for the fold to call before it looks a pool number's session up. 0, or
 * the database error. When Redis cannot say, it answers 0 at once (logged,
 * clinicflow_dni_settle_skipped_total): Redis is never required, so such a
 * call is attributed from PostgreSQL alone. */
int calls_dni_settle(struct calls_ctx *ctx, PGconn *conn, const char *network_id,
                     const char *number, char *errbuf, size_t errbuf_size);

/* retention.c: the worker deleting rows past their retention, one instance
 * at a time (a lease row). */
void calls_retention_sweeper(void *ctx);

/* dni_local.c: the limits as this instance counts them and the holds it
 * answers from memory (thread-safe; times in monotonic ms).
 * calls_dni_local_limit counts the request: 0, 1 over the address's limit,
 * 2 over the clinic's, -1 when the address could not be counted here. */
int calls_dni_local_limit(const struct calls_settings *cfg, const char *ip, const char *clinic,
                          int64_t mono_ms);
/* 1 with the visitor's number and its reservation time when Redis holds it
 * at least until needed_until, else 0. */
int calls_dni_local_get(const char *clinic, const char *visitor, int64_t needed_until, char *number,
                        size_t nsize, int64_t *reserved_ms);
/* After Redis took or extended the hold: held at least until held_until,
 * of use to answer from memory until usable_until (then a whole hold is no
 * longer left in Redis; the sweep drops it); kept only if redis_epoch is
 * still the current one. */
void calls_dni_local_put(const char *clinic, const char *visitor, const char *number,
                         int64_t reserved_ms, int64_t held_until, int64_t usable_until,
                         const char *redis_epoch);
void calls_dni_local_epoch(const char *redis_epoch); /* a later one: forget the holds */
void calls_dni_local_sweep(int64_t mono_ms);         /* drops what has expired */
/* A peak seen elapsed_ms ago, halved every half_life_s (pure). */
double calls_dni_peak_decayed(double peak, int64_t elapsed_ms, long half_life_s);
/* The pool size advised for a peak of concurrent visitors: the peak (a
 * fraction counts as a visitor) plus a quarter, rounded up; at least 1
 * (pure). Nothing caps it at the pool's size: the peak counts the visitors
 * a full pool turned away too. */
long calls_dni_suggested_pool(double peak);
/* Notes that `demand` visitors wanted one of the clinic's numbers at once
 * (held plus turned away) and returns the clinic's peak: the larger of
 * demand and the decayed previous peak. */
double calls_dni_local_peak(const char *clinic, long demand, int64_t mono_ms, long half_life_s);
/* Calls fn with each clinic's peak decayed to mono_ms, under the table's
 * lock (fn must not call back into dni_local.c). */
void calls_dni_local_peaks_each(int64_t mono_ms, long half_life_s,
                                void (*fn)(const char *clinic, double peak, void *arg), void *arg);
void calls_dni_local_free(void);
void calls_dni_describe_metrics(void);

/* A website visitor's tags kept with a tracking-number session: the query
 * parameter, its member in the call's attribution, and the characters
 * call.json keeps of it (enrich.c). */
struct calls_tag {
    const char *param;
    const char *member;
    size_t max_chars;
};
extern const struct calls_tag calls_tags[];
extern const size_t calls_tags_n;
/* Cuts each tag of j_tags to what call.json keeps; a stored session may
 * predate the cut. */
void calls_cut_tags(json_t *j_tags);

/* store.c */
/* Loads the call document FOR UPDATE: 0 with *out (new ref), CF_ENOTFOUND,
 * CF_EINVAL when the call is another network's than network_id (a message
 * that must never touch it), or the database error. With contact_lock
 * ("network/contact key"), the same round trip takes the contact's
 * transaction lock that serializes unique-call decisions (enrich.c). */
int calls_store_load(PGconn *conn, const char *call_id, const char *network_id,
                     const char *contact_lock, json_t **out, char *errbuf, size_t errbuf_size);

/* The key of a contact's advisory locks, "network/contact key" (new
 * string): the callbacks' (tasks.c) and the unique decision's. */
char *calls_contact_lock_key(const char *network_id, const char *contact_key);
/* The same key in SQL, from the columns or expressions named. */
#define CALLS_CONTACT_LOCK_KEY_SQL(network, contact) network " || '/' || " contact
/* Sorts a JSON array of strings in place, by bytes (the order batches take
 * their locks in). */
void calls_sort_strings(json_t *j_arr);

/* The SQL taking a contact's unique-decision lock, its key ("network/contact
 * key") in the parameter named; seed 1 keeps it apart from the callbacks'
 * lock on the same key (tasks.c). */
#define CALLS_UNIQUE_LOCK_SQL(param) "pg_advisory_xact_lock(" CALLS_UNIQUE_LOCK_ID_SQL(param) ")"
/* The lock's id (bigint) from its key, for the lock functions. */
#define CALLS_UNIQUE_LOCK_ID_SQL(param) "hashtextextended(" param ", 1)"
/* Inserts or replaces the call row from its document. With pending_out
 * (the call's first save), the same round trip takes the results that
 * waited for the call in its network: *pending_out gets a new array of
 * their envelopes (strings), in their order on calls.raw. */
int calls_store_save(PGconn *conn, const char *network_id, const json_t *j_call,
                     json_t **pending_out, char *errbuf, size_t errbuf_size);
/* The batch's statements (the fold's fast path), each one round trip.
 * calls_store_load_many: the calls of ids (a JSON array text of call ids)
 * FOR UPDATE, in call id order, into loaded (call id -> {"n", "doc"});
 * a stored document that is not JSON is CF_EINTERNAL.
 * calls_store_save_many: inserts or replaces the rows of calls (an array of
 * {"n", "doc"}): COPY into the session's staging table, then one upsert;
 * a row the COPY refuses is CF_EINVAL, like one the upsert refuses.
 * calls_store_take_pending: the results waiting for the calls of want (an
 * array of {"c": call id, "n": network}), taken: taken gets call id -> array
 * of envelopes (strings) in their order on calls.raw.
 * calls_store_pend_many: keeps the results of rows (calls_store_pend_row's)
 * waiting for their calls.
 * calls_store_take_unique: un-flags unique on the calls of ids (a JSON array). */
int calls_store_load_many(PGconn *conn, const char *ids, json_t *loaded, char *errbuf,
                          size_t errbuf_size);
int calls_store_save_many(PGconn *conn, const json_t *calls, char *errbuf, size_t errbuf_size);
int calls_store_take_pending(PGconn *conn, const json_t *want, json_t *taken, char *errbuf,
                             size_t errbuf_size);
int calls_store_pend_many(PGconn *conn, const json_t *rows, char *errbuf, size_t errbuf_size);
int calls_store_take_unique(PGconn *conn, const json_t *ids, char *errbuf, size_t errbuf_size);
/* Appends to contacts (an array of {"n": network, "k": contact key}) the
 * contact of every stored call the fold found patient_id by: the numbers
 * the patient had when those calls came, dropped since or not, each with
 * "u": the start of its last such call (the patient held the number until
 * then at least). In the caller's transaction. */
int calls_store_patient_contacts(PGconn *conn, const char *patient_id, json_t *contacts,
                                 char *errbuf, size_t errbuf_size);
/* Whether call c on the contact row q is the erased patient's ($2): the
 * fold found the patient by it, or nobody, and it started while the
 * patient held the number (any time for a number the view holds, no
 * later than u for one the patient gave up: a stranger may hold it since). */
#define CALLS_ERASED_CALL_SQL(c, q)                                                                \
    "(coalesce(" c ".doc #>> '{patient,patient_id}', '') = $2::uuid::text" /* never null */        \
    " OR ((" c ".doc #>> '{patient,patient_id}') IS NULL"                                          \
    " AND (" q ".u IS NULL OR " c ".started_at <= " q ".u)))"
/* An erased patient's calls, by contacts (an array of {"n": network, "k":
 * contact key} and, for a number the patient gave up, "u"; a contact maybe
 * listed twice), the erased patient's by CALLS_ERASED_CALL_SQL: the
 * person's party becomes {"raw": "", "kind": "erased"}, the patient id
 * and the recording go. In the caller's transaction. */
int calls_store_erase(PGconn *conn, const char *patient_id, const json_t *contacts, char *errbuf,
                      size_t errbuf_size);
/* The row (column -> value, the document under "doc") the batch's one
 * upsert takes for call j_call of network_id (new ref; pure). */
json_t *calls_store_row(const char *network_id, const json_t *j_call);
/* The row calls_store_pend_many keeps for result ev read from rkm (new ref). */
json_t *calls_store_pend_row(const struct cf_event *ev, const rd_kafka_message_t *rkm);
/* Takes, in one sorted round, the unique-decision locks of the keys
 * ("network/contact key", a JSON array) and of the contacts of the calls
 * of ids (a JSON array text of call ids) stored undecided (inbound, with a
 * contact, no unique flag): every instance takes them in one order. locked
 * gets each key taken (key -> true). Blocks until they are all held. */
int calls_store_lock_contacts(PGconn *conn, const json_t *keys, const char *ids, json_t *locked,
                              char *errbuf, size_t errbuf_size);
/* Tries the unique-decision locks of the keys (a JSON array) without
 * waiting: 0 when all are held, CF_EUNAVAIL (transient: the batch is
 * rolled back and tried again, its sorted round then takes them) when
 * another transaction holds one. */
int calls_store_try_lock_contacts(PGconn *conn, const json_t *keys, char *errbuf,
                                  size_t errbuf_size);

/* Keeps the result event ev, read from rkm on calls.raw, waiting for its
 * call (a repeat of its id is dropped). */
int calls_store_pend_result(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                            char *errbuf, size_t errbuf_size);

#endif
