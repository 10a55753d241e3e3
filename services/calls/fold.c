/*
 * The fold: facts about one call, from any provider, retried, out of order
 * or split across instances, become one call that never regresses. Status
 * only moves forward (ringing -> in_progress -> ended); the earliest known
 * start and answer times win; later facts may add what earlier ones lacked
 * (a recording, an agent). Each fact that moves the status emits the event
 * of the status reached (call.started, call.answered, call.ended); one that
 * changes anything else emits call.updated; one that changes nothing emits
 * nothing. Output ids are uuid5(fact id, "call.<verb>"), so re-applying a
 * fact after a crash yields the same events.
 */
#include "calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/testable.h"
#include "fold_steps.h"
#include "fold_testable.h"
#include "common/hash.h"
#include "common/json_text.h"
#include "common/topics.h"
#include "common/xmalloc.h"

enum call_status { ST_NONE = 0, ST_RINGING, ST_IN_PROGRESS, ST_ENDED };

static const char *const status_names[] = {"", "ringing", "in_progress", "ended"};
static const char *const status_verbs[] = {"", "started", "answered", "ended"};

static enum call_status status_parse(const char *s)
{
    for (int i = ST_RINGING; i <= ST_ENDED; i++) {
        if (s && strcmp(s, status_names[i]) == 0)
            return (enum call_status)i;
    }
    return ST_NONE;
}

static enum call_status status_of_event(const char *event)
{
    for (int i = ST_RINGING; i <= ST_ENDED; i++) {
        if (event && strcmp(event, status_verbs[i]) == 0)
            return (enum call_status)i;
    }
    if (event && strcmp(event, "answered") == 0)
        return ST_IN_PROGRESS;
    return ST_NONE;
}

static void keep_earliest(json_t *j_call, const char *key, int64_t ms)
{
    int64_t cur = cf_time_json_get(j_call, key);

    if (ms >= 0 && (cur < 0 || ms < cur))
        cf_time_json_set(j_call, key, ms);
}

static long long int_of(const json_t *j, const char *key)
{
    const json_t *v = json_object_get(j, key);

    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* 1 when the call's party key (caller, called) was erased with its
 * patient (calls_store_erase). */
static int party_erased(const json_t *j_call, const char *key)
{
    const char *kind = json_string_value(json_object_get(json_object_get(j_call, key), "kind"));
    return kind && strcmp(kind, "erased") == 0;
}

/* A party reported as a phone replaces one that was not (a later leg may
 * carry the number an earlier one withheld); otherwise the first stays.
 * An erased party stays erased: a later fact about the call (its end, its
 * recording, a provider's retry) names the person the erasure took away. */
static void merge_party(json_t *j_call, const char *key, json_t *j_party)
{
    const char *cur = json_string_value(json_object_get(json_object_get(j_call, key), "kind"));
    const char *new_kind = json_string_value(json_object_get(j_party, "kind"));

    if (party_erased(j_call, key))
        return;
    if (!cur || (strcmp(cur, "e164") != 0 && new_kind && strcmp(new_kind, "e164") == 0))
        json_object_set(j_call, key, j_party);
}

/* The call's contact key is its external party's (the caller inbound, the
 * called party outbound), whatever the facts say: a fact's key is taken
 * only from a fact of the call's direction that reports the very number
 * the call kept, so the key, the party shown and every decision made on
 * the key (unique, patient, callbacks) are about one person. */
static void merge_contact_key(json_t *j_call, const json_t *j_fact)
{
    const char *dir = json_string_value(json_object_get(j_call, "direction"));
    const int inbound = dir && strcmp(dir, "inbound") == 0;
    const char *kept = json_string_value(
        json_object_get(json_object_get(j_call, inbound ? "caller" : "called"), "e164"));
    const char *reported = json_string_value(
        json_object_get(json_object_get(j_fact, inbound ? "from" : "to"), "e164"));
    const char *fact_dir = json_string_value(json_object_get(j_fact, "direction"));
    json_t *j_key = json_object_get(j_fact, "contact_key");

    if (party_erased(j_call, inbound ? "caller" : "called"))
        return; /* the erasure keeps the key: the call counts as before */
    if (!kept)
        json_object_del(j_call, "contact_key");
    else if (json_is_string(j_key) && reported && strcmp(reported, kept) == 0 && dir && fact_dir &&
             strcmp(dir, fact_dir) == 0)
        json_object_set(j_call, "contact_key", j_key);
}

/* What the facts reported, kept in the stored document under "reported"
 * (never published): the public times, ring and talk seconds and outcome
 * are derived from it afresh on every fold, so a value filled in for lack
 * of a fact (a start taken from the answer time) never masks a fact that
 * arrives later. */
static json_t *reported_of(json_t *j_call)
{
    json_t *j_rep = json_object_get(j_call, "reported");

    if (!json_is_object(j_rep)) {
        j_rep = json_object();
        json_object_set_new(j_call, "reported", j_rep);
    }
    return j_rep;
}

/* The members keys (NULL-terminated) that src has, not null, set in dst. */
static void copy_present(json_t *dst, const json_t *src, const char *const *keys)
{
    for (const char *const *k = keys; *k; k++) {
        json_t *v = json_object_get(src, *k);
        if (v && !json_is_null(v))
            json_object_set(dst, *k, v);
    }
}

/* 1 for the fact the sweeper writes for a staff leg that never reported:
 * provider_event_id "<call key>:staff-leg-unreported" (call.reported.json). */
static int staff_leg_stand_in(const json_t *j_fact)
{
    static const char suffix[] = ":staff-leg-unreported";
    const char *id = json_string_value(json_object_get(j_fact, "provider_event_id"));
    const size_t n = id ? strlen(id) : 0, k = sizeof(suffix) - 1;
    return n > k && strcmp(id + n - k, suffix) == 0;
}

CF_TESTABLE void calls_fold_fact(json_t *j_call, const json_t *j_fact, int64_t fact_time)
{
    /* Reported by the call's stages: a fact of an earlier stage than the
     * call has reached (a start or an answer delivered after the end, with
     * the durations a template filled in as 0) does not replace them, so
     * the call never regresses. Late updates (no stage) do. */
    static const char *const stage_reported[] = {"ring_seconds", "talk_seconds", "outcome", NULL};
    static const char *const latest_reported[] = {"agent_outcome", "agent_talk_seconds",
                                                  "agent_expected", NULL};
    static const char *const latest_wins[] = {"agent_id", "agent_group", "recording_url",
                                              "tracking_number", NULL};
    enum call_status st = status_of_event(json_string_value(json_object_get(j_fact, "event")));
    enum call_status cur = status_parse(json_string_value(json_object_get(j_call, "status")));
    json_t *j_rep = reported_of(j_call);
    int64_t ended;

    const int earlier_stage = st != ST_NONE && st < cur;
    if (st > cur)
        json_object_set_new(j_call, "status", json_string(status_names[st]));
    else if (cur == ST_NONE) /* a late fact came first: the call exists, at least */
        json_object_set_new(j_call, "status", json_string(status_names[ST_RINGING]));

    keep_earliest(j_rep, "started_at", cf_time_json_get(j_fact, "started_at"));
    if (st == ST_RINGING)
        keep_earliest(j_rep, "started_at", fact_time);
    keep_earliest(j_rep, "answered_at", cf_time_json_get(j_fact, "answered_at"));
    if (st == ST_IN_PROGRESS)
        keep_earliest(j_rep, "answered_at", fact_time);
    ended = cf_time_json_get(j_fact, "ended_at");
    if (ended < 0 && st == ST_ENDED)
        ended = fact_time;
    if (ended >= 0 && cf_time_json_get(j_rep, "ended_at") < 0)
        cf_time_json_set(j_rep, "ended_at", ended);
    keep_earliest(j_rep, "agent_answered_at", cf_time_json_get(j_fact, "agent_answered_at"));

    if (!earlier_stage)
        copy_present(j_rep, j_fact, stage_reported);
    /* the sweeper's stand-in for a staff leg that never reported
     * (staff_legs.c) says nothing once the leg itself has: a fold behind by
     * the wait may get the leg's answer first */
    if (!(staff_leg_stand_in(j_fact) && json_object_get(j_rep, "agent_outcome")))
        copy_present(j_rep, j_fact, latest_reported);
    copy_present(j_call, j_fact, latest_wins);
    merge_party(j_call, "caller", json_object_get(j_fact, "from"));
    merge_party(j_call, "called", json_object_get(j_fact, "to"));
    merge_contact_key(j_call, j_fact);
    if (party_erased(j_call, "caller") || party_erased(j_call, "called"))
        json_object_del(j_call, "recording_url"); /* the erased person's voice */
}

static void set_or_del_int(json_t *j, const char *key, long long v)
{
    if (v >= 0)
        json_object_set_new(j, key, json_integer(v));
    else
        json_object_del(j, key);
}

/* Derives the public fields from what was reported: start time, ring and
 * talk seconds, outcome, the abandoned and targeted rules (proto/README.md). Ring
 * time is known only when a provider reported it or the start; abandoned
 * needs it. */
CF_TESTABLE void calls_derive(json_t *j_call, const struct calls_settings *cfg, int64_t fact_time)
{
    enum call_status st = status_parse(json_string_value(json_object_get(j_call, "status")));
    const json_t *j_rep = reported_of(j_call);
    int64_t started = cf_time_json_get(j_rep, "started_at");
    int64_t answered = cf_time_json_get(j_rep, "answered_at");
    int64_t ended = cf_time_json_get(j_rep, "ended_at");
    long long ring = int_of(j_rep, "ring_seconds");
    long long talk = int_of(j_rep, "talk_seconds");
    const char *agent_outcome = json_string_value(json_object_get(j_rep, "agent_outcome"));
    const int inbound =
        strcmp(json_string_value(json_object_get(j_call, "direction")), "inbound") == 0;

    /* The provider answered the caller itself and then rang the staff: the
     * call was answered when, and only if, the staff answered; the
     * provider's own answer is the latest the call can have started. */
    if (agent_outcome) {
        if (started < 0)
            started = answered;
        answered = strcmp(agent_outcome, "answered") == 0
                       ? cf_time_json_get(j_rep, "agent_answered_at")
                       : -1;
        talk = int_of(j_rep, "agent_talk_seconds");
        ring = -1;
    }

    /* What a fact said of the answer: an answer whose moment nobody
     * reported was the end minus the talk, when the talk was reported; a
     * call answered at an unknown moment has no known ring time (its whole
     * length is ring and talk together). */
    const char *said =
        agent_outcome ? agent_outcome : json_string_value(json_object_get(j_rep, "outcome"));
    const int said_answered =
        said && (strcmp(said, "answered") == 0 || strcmp(said, "voicemail") == 0);
    if (answered < 0 && ended >= 0 && talk >= 0 &&
        (said ? strcmp(said, "answered") == 0 : talk > 0))
        answered = ended - talk * 1000;
    if (ring < 0 && started >= 0) {
        if (answered >= 0)
            ring = answered >= started ? (answered - started) / 1000 : -1;
        else if (st == ST_ENDED && ended >= 0 && said && !said_answered)
            ring = (ended - started) / 1000; /* nobody answered: it rang to the end */
    }
    if (talk < 0 && answered >= 0 && ended >= 0)
        talk = (ended - answered) / 1000;
    if (started < 0) {
        if (ended >= 0 && ring >= 0)
            started = ended - (ring + (talk > 0 ? talk : 0)) * 1000;
        else if (answered >= 0)
            started = answered;
        else if (ended >= 0)
            started = ended;
        else
            started = fact_time;
    }
    cf_time_json_set(j_call, "started_at", started);
    if (answered >= 0)
        cf_time_json_set(j_call, "answered_at", answered);
    else
        json_object_del(j_call, "answered_at");
    if (ended >= 0)
        cf_time_json_set(j_call, "ended_at", ended);
    set_or_del_int(j_call, "ring_seconds", ring < 0 ? -1 : ring);
    set_or_del_int(j_call, "talk_seconds", talk < 0 ? -1 : talk);
    json_object_del(j_call, "outcome");
    json_object_del(j_call, "targeted");
    /* A staff leg is on its way: until it reports, the answer and the
     * outcome are the provider's own, and callbacks wait for the staff's.
     * A call the provider itself did not answer (no answer, busy, failed)
     * never reached a dial: nothing is on its way. */
    const char *own_outcome = json_string_value(json_object_get(j_rep, "outcome"));
    if (inbound && !agent_outcome && json_is_true(json_object_get(j_rep, "agent_expected")) &&
        (st != ST_ENDED || (own_outcome && strcmp(own_outcome, "answered") == 0)))
        json_object_set_new(j_call, "agent_pending", json_true());
    else
        json_object_del(j_call, "agent_pending");
    if (st != ST_ENDED)
        return;

    /* Missed only when a fact says so: an end that tells neither an
     * outcome nor an answer leaves the outcome unknown (absent), which opens
     * no callback task; a later fact may still tell it. */
    const char *outcome = said ? said : answered >= 0 ? "answered" : NULL;
    if (!outcome) {
        json_object_set_new(j_call, "targeted", json_false());
        return;
    }
    if (inbound && strcmp(outcome, "missed") == 0 && ring >= 0 && ring < cfg->abandoned_ring_s)
        outcome = "abandoned";
    const int targeted =
        inbound && strcmp(outcome, "answered") == 0 && talk >= cfg->targeted_talk_s;
    json_object_set_new(j_call, "outcome", json_string(outcome));
    json_object_set_new(j_call, "targeted", json_boolean(targeted));
}

/* The call as published: the stored document without its private part. */
CF_TESTABLE json_t *calls_public_copy(const json_t *j_call)
{
    json_t *j = json_deep_copy(j_call);

    json_object_del(j, "reported");
    json_object_del(j, "clinic_by_channel");
    return j;
}

/* The call's clinic from the fact ev (which names one): the first clinic
 * a call gets is its clinic, unless that was only the default of a
 * channel that maps numbers (clinic_by_channel, hooks.c: a fact that named
 * no number, as Sipuni's start names only the extension) and a later fact
 * names a mapped number: that number's clinic is the call's. */
static void take_clinic(json_t *j_call, const struct cf_event *ev)
{
    const int by_channel = json_is_true(json_object_get(ev->data, "clinic_by_channel"));
    const char *have = json_string_value(json_object_get(j_call, "clinic_id"));

    if (!have) {
        json_object_set_new(j_call, "clinic_id", json_string(ev->clinicid));
        if (by_channel)
            json_object_set_new(j_call, "clinic_by_channel", json_true());
        return;
    }
    if (by_channel || !json_is_true(json_object_get(j_call, "clinic_by_channel")))
        return;
    json_object_set_new(j_call, "clinic_id", json_string(ev->clinicid));
    json_object_del(j_call, "clinic_by_channel");
}

/* Emits call.<verb> with j_call; its id comes from the input event's and
 * the kind, and for another call than the input's (a correction) its call
 * id too. */
static void emit(struct cf_outbox *out, const struct cf_event *in, const char *verb,
                 const json_t *j_call, int64_t time_ms)
{
    struct cf_event ev = {0};
    char kind[32];
    const char *subject = json_string_value(json_object_get(j_call, "call_id"));
    const int other = subject && strcmp(subject, in->subject) != 0;

    if (!out) /* a batch's first pass */
        return;
    snprintf(kind, sizeof(kind), "call.%s", verb);
    cf_event_derive(&ev, in->id, kind, other ? subject : NULL, "calls/fold",
                    other ? subject : in->subject, time_ms, in->networkid,
                    json_string_value(json_object_get(j_call, "clinic_id")),
                    calls_public_copy(j_call));
    cf_outbox_add(out, CF_TOPIC_CALLS, ev.subject, &ev);
    cf_event_clear(&ev);
}

static int fact_valid(const json_t *j_fact, char *errbuf, size_t errbuf_size)
{
    static const char *const strings[] = {"provider", "provider_call_id", "event", "direction",
                                          NULL};

    for (const char *const *k = strings; *k; k++) {
        if (!json_is_string(json_object_get(j_fact, *k))) {
            snprintf(errbuf, errbuf_size, "fact lacks %s", *k);
            return 0;
        }
    }
    const char *event = json_string_value(json_object_get(j_fact, "event"));
    if (status_of_event(event) == ST_NONE && strcmp(event, "updated") != 0) {
        snprintf(errbuf, errbuf_size, "fact has an unknown event");
        return 0;
    }
    if (!json_is_object(json_object_get(j_fact, "from")) ||
        !json_is_object(json_object_get(j_fact, "to"))) {
        snprintf(errbuf, errbuf_size, "fact lacks its parties");
        return 0;
    }
    return 1;
}

/* Flags a call whose external party (the caller inbound, the called party
 * outbound) is on the network's block list: it stays on the topic, flagged,
 * and opens no callback task. */
static void flag_blocked(struct calls_ctx *ctx, json_t *j_call, const char *network_id)
{
    const int inbound =
        strcmp(json_string_value(json_object_get(j_call, "direction")), "inbound") == 0;
    const char *e164 = json_string_value(
        json_object_get(json_object_get(j_call, inbound ? "caller" : "called"), "e164"));
    struct cf_netconf_snapshot *snap;
    const struct cf_network *net;
    size_t i;
    json_t *j_num;

    if (!e164 || json_is_true(json_object_get(j_call, "blocked")))
        return;
    snap = cf_netconf_acquire(ctx->svc->netconf);
    net = cf_netconf_network(snap, network_id);
    json_array_foreach(net ? json_object_get(net->doc, "blocklist") : NULL, i, j_num)
    {
        if (json_is_string(j_num) && strcmp(json_string_value(j_num), e164) == 0) {
            json_object_set_new(j_call, "blocked", json_true());
            break;
        }
    }
    cf_netconf_release(snap);
}

/* A call result (results.c), the data of its event posted at time_ms, on
 * the call j_call: the latest result wins (booked, then refused, then
 * booked again ends booked); one that repeats the call's value and
 * comment changes nothing. Returns 1 when j_call changed, else 0. */
CF_TESTABLE int calls_apply_result(json_t *j_call, const json_t *j_data, int64_t time_ms)
{
    const json_t *j_value = json_object_get(j_data, "result");

    if (!json_is_string(j_value))
        return 0;
    json_t *j_result = json_pack("{s:O}", "value", j_value);
    json_t *j_comment = json_object_get(j_data, "comment");
    if (json_is_string(j_comment))
        json_object_set(j_result, "comment", j_comment);
    cf_time_json_set(j_result, "at", time_ms);
    json_t *j_old = json_object_get(j_call, "result");
    /* json_equal says two absent members differ: a result without a comment
     * given again would move result.at and emit call.updated each time. */
    const json_t *j_old_comment = json_object_get(j_old, "comment");
    const json_t *j_new_comment = json_object_get(j_result, "comment");
    int changed =
        !j_old ||
        !json_equal(json_object_get(j_old, "value"), json_object_get(j_result, "value")) ||
        (j_old_comment || j_new_comment ? !json_equal(j_old_comment, j_new_comment) : 0);
    if (changed)
        json_object_set_new(j_call, "result", j_result);
    else
        json_decref(j_result);
    return changed;
}

int calls_fold_take_result(json_t *j_call, const struct cf_event *ev, struct cf_outbox *out)
{
    if (!calls_apply_result(j_call, ev->data, ev->time_ms))
        return 0;
    emit(out, ev, "updated", j_call, ev->time_ms);
    return 1;
}

/* A call result event: sets the call's result and emits call.updated when
 * it changed. The result is keyed by the call id, so it is on the call's
 * partition, in order with its facts. A call not stored yet (the result
 * came before the call's first fact: its sender knew the call from
 * elsewhere; or the call never comes) keeps the result waiting in
 * calls.pending_results: the save that first stores a call of its network
 * takes it (fold_pending), or it expires (results.c). A call of another
 * network is never touched (calls_store_load says CF_EINVAL). */
static int fold_result(PGconn *conn, const struct cf_event *ev, const rd_kafka_message_t *rkm,
                       struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    json_t *j_call = NULL;
    int rc;

    if (!json_is_string(json_object_get(ev->data, "result"))) {
        snprintf(errbuf, errbuf_size, "result event without a result");
        return CF_EINVAL;
    }
    rc = calls_store_load(conn, ev->subject, ev->networkid, NULL, &j_call, errbuf, errbuf_size);
    if (rc == CF_ENOTFOUND)
        return calls_store_pend_result(conn, ev, rkm, errbuf, errbuf_size);
    if (rc != 0)
        return rc;
    /* the outbox is produced only once the whole batch applied: a failed
     * save discards the event with it */
    if (calls_fold_take_result(j_call, ev, out))
        rc = calls_store_save(conn, ev->networkid, j_call, NULL, errbuf, errbuf_size);
    json_decref(j_call);
    return rc;
}

/* The results that waited for the call j_call (the envelopes, as strings,
 * that its first save took, in their order on the partition) applied as
 * if they had come after its first fact: each that changes the call emits
 * the call.updated, with the id, it would have had then. */
int calls_fold_apply_pending(json_t *j_call, const json_t *j_pending, struct cf_outbox *out)
{
    size_t i;
    json_t *j_text;
    int changed = 0;

    json_array_foreach(j_pending, i, j_text)
    {
        struct cf_event rev = {0};
        char reason[256];
        const char *text = json_string_value(j_text);
        /* it parsed when it was put there */
        if (cf_event_parse(text, strlen(text), &rev, reason, sizeof(reason)) == 0)
            changed |= calls_fold_take_result(j_call, &rev, out);
        cf_event_clear(&rev);
    }
    return changed;
}

/* Folds the fact ev (validated) into j_call, stored or new (created), with
 * the enrich decisions (lk: a batch's), and emits what it changed; the
 * calls whose unique flag it took go to j_corrected, emitted by the
 * caller after the call's own events. The caller saves j_call. */
int calls_fold_one_fact(struct calls_ctx *ctx, PGconn *conn, struct calls_lookups *lk,
                        const struct cf_event *ev, json_t *j_call, const char *contact_locked,
                        json_t *j_corrected, struct cf_outbox *out, char *errbuf,
                        size_t errbuf_size)
{
    const char *verb = NULL;
    int64_t when;

    enum call_status before = status_parse(json_string_value(json_object_get(j_call, "status")));
    /* What the fact changed, to tell an update from nothing (a move to its
     * number's clinic alone is one): not needed in a batch's first pass (it
     * emits nothing), nor for a call's first fact (a call without a status
     * gets one: its stage advances). */
    json_t *j_before = out && before != ST_NONE ? calls_public_copy(j_call) : NULL;
    if (ev->clinicid)
        take_clinic(j_call, ev);
    calls_fold_fact(j_call, ev->data, ev->time_ms);
    calls_derive(j_call, &ctx->cfg, ev->time_ms);
    flag_blocked(ctx, j_call, ev->networkid);
    int rc = calls_enrich(ctx, conn, lk, j_call, ev->networkid, contact_locked, j_corrected, errbuf,
                          errbuf_size);
    if (rc != 0) {
        json_decref(j_before);
        return rc;
    }
    enum call_status after = status_parse(json_string_value(json_object_get(j_call, "status")));
    if (after > before) {
        verb = status_verbs[after];
    } else if (j_before) {
        json_t *j_after = calls_public_copy(j_call);
        if (!json_equal(j_before, j_after))
            verb = "updated";
        json_decref(j_after);
    }
    json_decref(j_before);
    json_object_set_new(j_call, "facts", json_integer(int_of(j_call, "facts") + 1));
    if (verb) {
        if (after > before && after == ST_RINGING)
            when = cf_time_json_get(j_call, "started_at");
        else if (after > before && after == ST_IN_PROGRESS)
            when = cf_time_json_get(j_call, "answered_at");
        else if (after > before && after == ST_ENDED)
            when = cf_time_json_get(j_call, "ended_at");
        else
            when = ev->time_ms;
        if (when < 0) /* in progress with no answer time (a staff leg said not
                       * answered before the provider's answer came) */
            when = ev->time_ms;
        emit(out, ev, verb, j_call, when);
    }
    return 0;
}

/* A call the fact ev is the first of. */
json_t *calls_fold_new_call(const struct cf_event *ev)
{
    return json_pack("{s:s, s:O, s:O, s:O, s:O, s:O, s:i}", "call_id", ev->subject, "direction",
                     json_object_get(ev->data, "direction"), "caller",
                     json_object_get(ev->data, "from"), "called", json_object_get(ev->data, "to"),
                     "provider", json_object_get(ev->data, "provider"), "provider_call_id",
                     json_object_get(ev->data, "provider_call_id"), "facts", 0);
}

void calls_fold_emit_corrected(struct cf_outbox *out, const struct cf_event *ev,
                               const json_t *j_corrected)
{
    size_t i;
    json_t *j_other;

    json_array_foreach(j_corrected, i, j_other) emit(out, ev, "updated", j_other, ev->time_ms);
}

/* Why ev can never be folded (CF_EINVAL with the reason), or 0. */
int calls_fold_event_check(const struct cf_event *ev, char *errbuf, size_t errbuf_size)
{
    if (!ev) {
        snprintf(errbuf, errbuf_size, "unexpected tombstone");
        return CF_EINVAL;
    }
    if (strcmp(ev->type, "clinicflow.call.result") == 0) {
        if (!json_is_string(json_object_get(ev->data, "result"))) {
            snprintf(errbuf, errbuf_size, "result event without a result");
            return CF_EINVAL;
        }
        return 0;
    }
    if (strcmp(ev->type, "clinicflow.call.reported") != 0) {
        snprintf(errbuf, errbuf_size, "unexpected event type %s", ev->type);
        return CF_EINVAL;
    }
    return fact_valid(ev->data, errbuf, errbuf_size) ? 0 : CF_EINVAL;
}

int calls_fold_apply(void *vctx, PGconn *conn, const struct cf_event *ev,
                     const rd_kafka_message_t *rkm, struct cf_outbox *out, char *errbuf,
                     size_t errbuf_size)
{
    struct calls_ctx *ctx = vctx;
    json_t *j_call = NULL, *j_corrected = NULL, *j_pending = NULL;
    char *contact_lock = NULL;
    int rc = calls_fold_event_check(ev, errbuf, errbuf_size);

    if (rc != 0)
        return rc;
    if (strcmp(ev->type, "clinicflow.call.result") == 0)
        return fold_result(conn, ev, rkm, out, errbuf, errbuf_size);

    j_corrected = json_array();
    /* An inbound call's contact may need its unique decision: its lock
     * comes with the load. */
    const char *fact_contact = json_string_value(json_object_get(ev->data, "contact_key"));
    const char *dir = json_string_value(json_object_get(ev->data, "direction"));
    if (fact_contact && strcmp(dir, "inbound") == 0)
        contact_lock = calls_contact_lock_key(ev->networkid, fact_contact);
    rc = calls_store_load(conn, ev->subject, ev->networkid, contact_lock, &j_call, errbuf,
                          errbuf_size);
    const int created = rc == CF_ENOTFOUND;
    if (created) {
        j_call = calls_fold_new_call(ev);
        rc = 0;
    }
    if (rc != 0)
        goto out;
    rc = calls_fold_one_fact(ctx, conn, NULL, ev, j_call, contact_lock ? fact_contact : NULL,
                             j_corrected, out, errbuf, errbuf_size);
    if (rc == 0)
        rc = calls_store_save(conn, ev->networkid, j_call, created ? &j_pending : NULL, errbuf,
                              errbuf_size);
    if (rc == 0 && calls_fold_apply_pending(j_call, j_pending, out))
        rc = calls_store_save(conn, ev->networkid, j_call, NULL, errbuf, errbuf_size);
    if (rc == 0)
        calls_fold_emit_corrected(out, ev, j_corrected);
out:
    json_decref(j_pending);
    json_decref(j_corrected);
    free(contact_lock);
    json_decref(j_call);
    return rc;
}
