/*
 * Leads become work (proto/README.md). The fold's own lead events, in the
 * fold's transaction (fold_consumer.c): each batch's lead events, as they
 * go to leads.v1, keep the leads' tasks in leads.tasks and tell
 * clinicflow.tasks.v1, so a lead and its tasks never disagree, not even
 * for a moment:
 *
 *   - lead.received opens a `respond` task, due the clinic's
 *     lead_response_due_s (else CLINICFLOW_LEADS_RESPONSE_DUE_S) of its
 *     working hours after the lead was received (a lead at 23:00 is due
 *     that long after the next opening; common/time.h), and, for a form
 *     (generic, tilda, cf7) that left a phone number, a `callback` task at
 *     once, due CLINICFLOW_LEADS_CALLBACK_DUE_S of working time later
 *     (task.opened each);
 *   - lead.merged moves no due time: the person's new request is the
 *     same lead (a call from a phone the lead gained answers it: the keys
 *     are the lead's, in leads.lead_contacts). A merge that asked to be
 *     called back (callback_phone: a form with a phone, a JivoChat
 *     callback, merged before the lead was answered, the first such of
 *     the lead) opens the lead's callback task to that number at its
 *     merged_at, as a lead.received would have;
 *   - lead.responded (the first response: a message, the events route, an
 *     answered call) closes the lead's open tasks at the response's time,
 *     on time or not against due_at (task.closed); lead.status_changed
 *     (booked, lost, spam) closes them at its time;
 *   - a respond task closed after its due time that the sweeper has not
 *     reported yet (it runs every CLINICFLOW_LEADS_SWEEP_INTERVAL_MS) gets
 *     its lead.sla_breached here, the sweeper's event with the same id and
 *     time: the due time passed unanswered either way, and the row's
 *     breached_at (taken under the row's lock) lets only one of the two
 *     emit it.
 *
 * The rules are pure functions (task_rules.c); the statements are
 * task_store.c; the sweeper is sweeper.c. The events are read back from
 * the outbox as leads.v1 will carry them (as the fold kept them there, not
 * parsed again: common/outbox.h), so the tasks follow exactly what the
 * topic says. Event ids: uuid5(lead event id, "task.<verb>", task id);
 * the task id is uuid5(network, "lead-task", kind, lead id).
 */
#include "tasks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/netconf.h"
#include "common/topics.h"
#include "common/xmalloc.h"

static void emit_task(struct cf_outbox *out, const char *id_base, const char *verb, json_t *j_task,
                      const char *network_id, int64_t time_ms)
{
    struct cf_event ev;
    leads_task_event(&ev, id_base, verb, j_task, network_id, time_ms);
    cf_outbox_add(out, CF_TOPIC_TASKS, ev.subject, &ev);
    cf_event_clear(&ev);
}

/* A clinic's due time and schedule, looked up once a batch. */
struct clinic_hours {
    char *network_id, *clinic_id;
    long due_s;
    int have_hours; /* else: unknown clinic, or hours that do not parse */
    struct cf_time_hours hours;
};

/* The clinic's due time and schedule: NULL hours for an unknown clinic or
 * hours that do not parse (wall-clock time then). */
static void clinic_hours_load(struct leads_ctx *ctx, struct clinic_hours *c)
{
    struct cf_netconf_snapshot *snap = cf_netconf_acquire(ctx->svc->netconf);
    const struct cf_network *net = cf_netconf_network(snap, c->network_id);
    const struct cf_clinic *clinic =
        net && c->clinic_id ? cf_netconf_clinic(net, c->clinic_id) : NULL;
    char errbuf[256];

    c->due_s = leads_task_response_due_s(&ctx->cfg, clinic ? clinic->doc : NULL);
    c->have_hours = clinic && leads_task_hours(clinic->tz ? clinic->tz : net->tz, clinic->doc,
                                               &c->hours, errbuf, sizeof(errbuf)) == 0;
    if (clinic && !c->have_hours)
        cf_warn("lead tasks: clinic %s: %s; due times in wall-clock time", c->clinic_id, errbuf);
    cf_netconf_release(snap);
}

/* What a batch's lead.received (and callback-asking lead.merged) events do, gathered and written in
 * one statement (flush): the tasks they open (rows), with what their task.opened needs (opened:
 * {"base": the event's id, "network", "at": ms, "doc"}); and the hours of the clinics they went to,
 * for the batch. */
struct queue {
    json_t *rows;
    json_t *opened;
    struct clinic_hours *clinics; /* those the batch's leads went to */
    size_t nclinics;
};

static void queue_init(struct queue *q)
{
    memset(q, 0, sizeof(*q));
    q->rows = json_array();
    q->opened = json_array();
}

static void queue_free(struct queue *q)
{
    json_decref(q->rows);
    json_decref(q->opened);
    for (size_t i = 0; i < q->nclinics; i++) {
        free(q->clinics[i].network_id);
        free(q->clinics[i].clinic_id);
        if (q->clinics[i].have_hours)
            cf_time_hours_free(&q->clinics[i].hours);
    }
    free(q->clinics);
}

static int same(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The clinic's hours, looked up the first time the batch names it. */
static const struct clinic_hours *hours_of(struct leads_ctx *ctx, struct queue *q,
                                           const char *network_id, const char *clinic_id)
{
    for (size_t i = 0; i < q->nclinics; i++)
        if (same(q->clinics[i].network_id, network_id) && same(q->clinics[i].clinic_id, clinic_id))
            return &q->clinics[i];
    q->clinics = cf_xrealloc(q->clinics, (q->nclinics + 1) * sizeof(*q->clinics));
    struct clinic_hours *c = &q->clinics[q->nclinics++];
    memset(c, 0, sizeof(*c));
    c->network_id = cf_xstrdup(network_id);
    c->clinic_id = clinic_id ? cf_xstrdup(clinic_id) : NULL;
    clinic_hours_load(ctx, c);
    return c;
}

/* Queues the task of kind for j_lead (lead.received's data, or what a
 * merge tells of its lead) that the lead event ev opens. */
static void open_task(const struct cf_event *ev, const json_t *j_lead, const char *kind,
                      int64_t opened, int64_t due, struct queue *q)
{
    json_t *j_task = leads_task_new(ev->networkid, kind, j_lead, opened, due);
    json_array_append_new(q->rows,
                          leads_tasks_row(ev->networkid, j_task,
                                          json_string_value(json_object_get(ev->data, "channel")),
                                          json_string_value(json_object_get(ev->data, "provider")),
                                          json_is_true(json_object_get(j_lead, "erased"))));
    json_array_append_new(q->opened,
                          json_pack("{s:s, s:s, s:I, s:o}", "base", ev->id, "network",
                                    ev->networkid, "at", (json_int_t)opened, "doc", j_task));
}

static void on_received(struct leads_ctx *ctx, const struct cf_event *ev, struct queue *q)
{
    const char *clinic_id = json_string_value(json_object_get(ev->data, "clinic_id"));
    int64_t received = cf_time_json_get(ev->data, "received_at");

    if (received < 0)
        received = ev->time_ms;
    if (!clinic_id)
        clinic_id = ev->clinicid;
    const struct clinic_hours *c = hours_of(ctx, q, ev->networkid, clinic_id);
    const struct cf_time_hours *h = c->have_hours ? &c->hours : NULL;

    open_task(ev, ev->data, "respond", received, leads_task_due_at(h, received, c->due_s), q);
    if (leads_task_wants_callback(ev->data))
        open_task(ev, ev->data, "callback", received,
                  leads_task_due_at(h, received, ctx->cfg.callback_due_s), q);
}

/* lead.merged that asked to be called back: the lead's callback task. */
static void on_merged(struct leads_ctx *ctx, const struct cf_event *ev, struct queue *q)
{
    const json_t *j_phone = json_object_get(ev->data, "callback_phone");
    if (!json_is_object(j_phone))
        return;
    int64_t merged = cf_time_json_get(ev->data, "merged_at");
    if (merged < 0)
        merged = ev->time_ms;
    const struct clinic_hours *c = hours_of(ctx, q, ev->networkid, ev->clinicid);
    json_t *j_lead = json_pack("{s:O, s:{s:O}}", "lead_id", json_object_get(ev->data, "lead_id"),
                               "contact", "phone", j_phone);
    json_t *j_key = json_object_get(ev->data, "contact_key");
    if (json_is_string(j_key))
        json_object_set(j_lead, "contact_key", j_key);
    if (ev->clinicid)
        json_object_set_new(j_lead, "clinic_id", json_string(ev->clinicid));
    open_task(ev, j_lead, "callback", merged,
              leads_task_due_at(c->have_hours ? &c->hours : NULL, merged, ctx->cfg.callback_due_s),
              q);
    json_decref(j_lead);
}

/* Writes what q gathered: the new tasks (task.opened for each that was
 * new, in their order). */
static int flush(PGconn *conn, struct queue *q, struct cf_outbox *out, char *errbuf,
                 size_t errbuf_size)
{
    json_t *inserted = json_object();
    size_t i;
    json_t *j_o;
    int rc = leads_tasks_insert_many(conn, q->rows, inserted, errbuf, errbuf_size);

    json_array_foreach(q->opened, i, j_o)
    {
        json_t *j_task = json_object_get(j_o, "doc");
        if (rc == 0 &&
            json_object_get(inserted, json_string_value(json_object_get(j_task, "task_id"))))
            emit_task(out, json_string_value(json_object_get(j_o, "base")), "opened", j_task,
                      json_string_value(json_object_get(j_o, "network")),
                      json_integer_value(json_object_get(j_o, "at")));
    }
    json_decref(inserted);
    json_array_clear(q->rows);
    json_array_clear(q->opened);
    return rc;
}

/* lead.responded or lead.status_changed: the lead's open tasks close. */
static int on_closing(PGconn *conn, const struct cf_event *ev, enum leads_task_input input,
                      struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    const char *lead_id = json_string_value(json_object_get(ev->data, "lead_id"));
    const int64_t closed = leads_task_closed_at(input, ev->data, ev->time_ms);
    const char *call_id = json_string_value(json_object_get(ev->data, "call_id"));
    json_t *j_open = NULL;
    size_t i;
    json_t *j_item;

    int rc = leads_tasks_load_open(conn, lead_id, &j_open, errbuf, errbuf_size);
    json_array_foreach(j_open, i, j_item)
    {
        if (rc != 0)
            break;
        json_t *j_task = json_object_get(j_item, "doc");
        const int is_respond =
            strcmp(json_string_value(json_object_get(j_task, "kind")), "respond") == 0;
        const int64_t due = cf_time_json_get(j_task, "due_at");
        /* closed late and not reported by the sweeper: its breach is told
         * now, unless a call with the person answered in time is still
         * under way (staff booking the lead while on the call): as the
         * sweeper, the fold does not breach it, and the call, once over,
         * is the lead's response (leads_tasks_find_open_lead), or, nobody's
         * (a voicemail), leaves the task to the sweeper's breach
         * (leads_tasks_take_breached) */
        int breach =
            is_respond && closed > due && !json_is_true(json_object_get(j_item, "breached"));
        int held = 0;
        if (breach)
            rc = leads_tasks_call_holds(conn, lead_id, cf_time_json_get(j_task, "opened_at"), due,
                                        &held, errbuf, errbuf_size);
        if (rc != 0)
            break;
        breach = breach && !held;
        leads_task_close(j_task, closed, input == LEADS_TASK_RESPONDED ? "response" : "status",
                         input == LEADS_TASK_RESPONDED && !is_respond ? call_id : NULL);
        rc = leads_tasks_save(conn, j_task, breach, errbuf, errbuf_size);
        if (rc != 0)
            break;
        if (breach) {
            struct cf_event bev;
            leads_task_breach_event(&bev, json_object_get(j_item, "row"), ev->networkid, due);
            cf_outbox_add(out, CF_TOPIC_LEADS, bev.subject, &bev);
            cf_event_clear(&bev);
        }
        emit_task(out, ev->id, "closed", j_task, ev->networkid, closed);
    }
    json_decref(j_open);
    return rc;
}

/* One event: gathered, or the closing it does, in order (a closing
 * writes what was gathered before it first). */
static int apply_one(struct leads_ctx *ctx, PGconn *conn, const struct cf_event *ev,
                     struct queue *q, struct cf_outbox *out, char *errbuf, size_t errbuf_size)
{
    const enum leads_task_input input =
        ev ? leads_task_input(ev->type, ev->networkid, ev->data) : LEADS_TASK_IGNORE;
    int rc = 0;

    switch (input) {
    case LEADS_TASK_RECEIVED:
        on_received(ctx, ev, q);
        break;
    case LEADS_TASK_RESPONDED:
    case LEADS_TASK_STATUS:
        rc = flush(conn, q, out, errbuf, errbuf_size);
        if (rc == 0)
            rc = on_closing(conn, ev, input, out, errbuf, errbuf_size);
        break;
    case LEADS_TASK_MERGED:
        on_merged(ctx, ev, q);
        break;
    case LEADS_TASK_IGNORE:
        break;
    }
    return rc;
}

/* The lead events out holds from index from to end that may open or
 * close tasks into evs: each as the fold kept it, or
 * parsed back into own (cleared by the caller) when it was queued without
 * it; their count. */
static size_t lead_events(const struct cf_outbox *out, size_t from, size_t end,
                          const struct cf_event **evs, struct cf_event *own, char *errbuf,
                          size_t errbuf_size, int *rc)
{
    size_t n = 0;

    *rc = 0;
    for (size_t i = from; i < end && *rc == 0; i++) {
        const struct cf_outbox_msg *m = &out->msgs[i];
        if (strcmp(m->topic, CF_TOPIC_LEADS) != 0 || (m->type && !leads_task_type_acts(m->type)))
            continue;
        if (m->event) {
            evs[n++] = m->event;
            continue;
        }
        if (cf_event_parse(m->value, m->valuelen, &own[n], errbuf, errbuf_size) != 0) {
            /* the fold's own output: its writer and this reader disagree */
            *rc = CF_EINTERNAL;
            break;
        }
        evs[n] = &own[n];
        n++;
    }
    return n;
}

int leads_tasks_follow(void *vctx, PGconn *conn, struct cf_outbox *out, size_t from, char *errbuf,
                       size_t errbuf_size)
{
    /* the tasks' own events go after end, and are not read again */
    const size_t end = out->n;
    const struct cf_event **evs = end > from ? cf_xcalloc(end - from, sizeof(*evs)) : NULL;
    struct cf_event *own = end > from ? cf_xcalloc(end - from, sizeof(*own)) : NULL;
    struct queue q;
    int rc = 0;
    const size_t n = lead_events(out, from, end, evs, own, errbuf, errbuf_size, &rc);

    queue_init(&q);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = apply_one(vctx, conn, evs[i], &q, out, errbuf, errbuf_size);
    if (rc == 0)
        rc = flush(conn, &q, out, errbuf, errbuf_size);
    queue_free(&q);
    for (size_t i = 0; i < end - from && own; i++)
        cf_event_clear(&own[i]);
    free(own);
    free(evs);
    return rc;
}
