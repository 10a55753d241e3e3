/*
 * Expiry of facts kept waiting for their entity: a fact that reached a
 * service's raw topic before the entity it names (a call result before its
 * call, a lead response before its lead) waits in a table; one whose entity
 * never comes (a made-up or mistyped id, another network's) leaves the
 * table after a bound for the DLQ, as the fold's group would have sent it,
 * counted on /metrics. Any instance that folds runs the worker: rows are
 * taken FOR UPDATE SKIP LOCKED, so two instances never send one twice and
 * the fold's take waits for neither.
 */
#ifndef CF_COMMON_EXPIRE_H
#define CF_COMMON_EXPIRE_H

struct cf_service;

/* What differs between services. The table holds event_id, network_id,
 * the key column (the entity id, the DLQ entry's key), raw_partition,
 * raw_offset, event (the raw message's value) and received_at. An expired
 * fact's id also leaves the fold group's applied_events (in the table's
 * schema, as the consumer runner keeps it), so that a replay of its DLQ
 * entry is applied. Names come from the caller's code, never input. */
struct cf_expire {
    struct cf_service *svc;
    const char *name;           /* the worker's, prefixing its warnings */
    const char *table;          /* schema-qualified */
    const char *key_column;     /* the entity id, e.g. "call_id" */
    const char *group;          /* the fold's consumer group, for the entry */
    const char *raw_topic;      /* where the facts came from */
    const char *reason_code;    /* the DLQ entry's, e.g. "call_not_stored" */
    const char *fact;           /* one fact, in the reason: "result" */
    const char *facts;          /* many, in the warning: "call results" */
    const char *entity;         /* "call" */
    const char *expired_metric; /* counter of facts sent to the DLQ */
    const char *expired_help;
    const char *waiting_metric; /* gauge of the facts waiting (all instances) */
    const char *waiting_help;
    long wait_s; /* how long a fact waits */
};

/* The worker (a cf_worker_fn on a struct cf_expire that outlives it): a
 * round every tenth of wait_s (at most a minute apart) until the service
 * stops. A round sends up to 100 expired facts at a time to the DLQ, each
 * batch in a transaction that commits only once Kafka has their entries,
 * then sets the waiting gauge. */
void cf_expire_worker(void *expire);

#endif
