/*
 * The intake's tail (ingest.c): a lead fact that a route verified is
 * normalized into the leads.raw fact (README.md, "A fact on
 * clinicflow.leads.raw.v1"), wrapped in the envelope and produced; the
 * route answers only after Kafka acknowledged it. events.c and
 * call_responses.c produce the facts they build through
 * leads_produce_raw.
 */
#ifndef CF_LEADS_INGEST_H
#define CF_LEADS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <ulfius.h>

#include "leads.h"

/* The most characters a fact keeps of a string member, by what it holds:
 * an id or a short label, a name or a subject, a link. Longer ids are
 * cut (the event id keeps the whole provider key); longer links dropped. */
#define LEADS_SHORT_MAX 256
#define LEADS_LINK_MAX 2048

/* What a normalization needs besides the adapter's fact. */
struct leads_norm {
    const char *provider;       /* the channel's provider ("generic", "telegram") */
    const char *channel;        /* the channel id */
    const char *channel_clinic; /* the channel's clinic_id, or NULL */
    const struct cf_network *net;
    const char *default_cc; /* CLINICFLOW_LEADS_DEFAULT_COUNTRY */
    long text_max;          /* CLINICFLOW_LEADS_TEXT_MAX */
    int64_t received_ms;    /* the request's arrival: the time of a fact without one */
    /* the time a provider states (its message's date) is the fact's when
     * it is at most max_age_ms before the arrival and max_ahead_ms after
     * it; else the arrival is (a provider's clock, or a sender holding a
     * static secret, does not date a lead years away) */
    int64_t time_max_age_ms;
    int64_t time_max_ahead_ms;
    /* a time the sender claims (a form's submitted_at: "claimed_time") is
     * the fact's when it is at most this long before the arrival and not
     * after it; 0: never */
    int64_t claimed_max_age_ms;
};

/* A normalized fact, ready to produce. */
struct leads_fact {
    json_t *data;            /* the fact's data (owned) */
    char *event_key;         /* the adapter's, whole (owned) */
    const char *contact_key; /* borrowed from data, NULL when the fact has no key */
    const char *clinic_id;   /* the fact's clinic (borrowed from net or the fact), or NULL */
    int64_t time_ms;
    int time_amended; /* 1: the stated time was out of bounds, the arrival is the time */
};

/*
 * Normalizes one adapter fact (providers/adapters.h) into out (pure):
 * members of the wrong type are left out, strings cut to what the fact
 * keeps, the phone normalized to E.164 (kept raw, with its kind, when it
 * does not parse), the e-mail's and the messenger account's keys added,
 * the text cut to text_max characters (whole characters) and marked.
 * 0, or CF_EINVAL (reason in errbuf) for a fact an adapter should never
 * make: no event key, or a kind other than request and response. Free
 * out with leads_fact_clear.
 */
int leads_fact_normalize(const struct leads_norm *n, const json_t *j_in, struct leads_fact *out,
                         char *errbuf, size_t errbuf_size);
void leads_fact_clear(struct leads_fact *f);

/* 1 when f is a request that names nobody the front desk could answer: no
 * contact key and no phone (an adapter saw a contact that normalizing
 * refused: an e-mail that is not one, a phone past the text kept). */
int leads_fact_names_nobody(const struct leads_fact *f);

/* A response delivered with the request it answers (a chat's transcript:
 * the visitor's messages and the staff's answer) answers that request's
 * person: it takes the request's contact keys, so the fold finds the lead
 * the request opens (its phone read from the text, say) and both go to
 * one partition. */
void leads_fact_answers(struct leads_fact *response, const struct leads_fact *request);

/* Produces a normalized fact to leads.raw: id uuid5(network, provider,
 * channel, event key), keyed by its contact key (by its own id when it
 * has none), type clinicflow.lead.reported. Writes the id (37 bytes).
 * Blocks until Kafka acknowledged it: 0 or the producer's error. */
int leads_ingest_fact(struct leads_ctx *ctx, const struct leads_norm *n, const struct leads_fact *f,
                      char *event_id_out, char *errbuf, size_t errbuf_size);

/* Produces ev (a fact another part built: events.c, call_responses.c) to
 * leads.raw keyed by its subject, and waits for Kafka's acknowledgement:
 * 0 or the producer's error. ev is not changed. */
int leads_produce_raw(struct leads_ctx *ctx, const struct cf_event *ev, char *errbuf,
                      size_t errbuf_size);

/* Logs why `what` was not stored and answers 503 with Retry-After (a
 * timed-out delivery too: the retry has the same event id), or 413 when
 * the event is larger than Kafka takes. */
void leads_answer_unstored(struct leads_ctx *ctx, struct _u_response *resp, int rc,
                           const char *what, const char *errbuf);

#endif
