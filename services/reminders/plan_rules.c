/*
 * Reminder planning (plan_testable.h). The seeds' ladder starts with a
 * reminder a day ahead and another two hours ahead, each inside the
 * clinic's calling windows in its own zone: a due time outside them moves
 * to the latest allowed moment before it, so a reminder is early rather
 * than late, and one that can no longer go in time is skipped with a
 * reason, never sent late.
 */
#include "plan_testable.h"

#include <stdio.h>
#include <string.h>

#include "common/err.h"

static const int default_offsets_h[] = {24, 2};

static int offsets_of(const json_t *j_offsets, struct plan_policy *p, char *errbuf,
                      size_t errbuf_size)
{
    size_t i;
    json_t *j_h;
    p->n_offsets = 0;
    json_array_foreach(j_offsets, i, j_h)
    {
        if (!json_is_integer(j_h) || json_integer_value(j_h) < 1 || json_integer_value(j_h) > 720 ||
            p->n_offsets == PLAN_OFFSETS_MAX) {
            snprintf(errbuf, errbuf_size, "offsets_hours: up to %d whole hours, each 1-720",
                     PLAN_OFFSETS_MAX);
            return CF_EINVAL;
        }
        int seen = 0; /* an offset twice is one reminder (the same job) */
        for (size_t k = 0; k < p->n_offsets; k++)
            seen |= p->offsets_h[k] == (int)json_integer_value(j_h);
        if (seen)
            continue;
        p->offsets_h[p->n_offsets] = (int)json_integer_value(j_h);
        p->offsets_ms[p->n_offsets] = (int64_t)json_integer_value(j_h) * 3600000;
        p->n_offsets++;
    }
    return 0;
}

int plan_policy_build(const json_t *j_network_policies, const char *tz, const json_t *j_clinic,
                      struct plan_policy *out, char *errbuf, size_t errbuf_size)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(default_offsets_h) / sizeof(default_offsets_h[0]); i++) {
        out->offsets_h[i] = default_offsets_h[i];
        out->offsets_ms[i] = (int64_t)default_offsets_h[i] * 3600000;
    }
    out->n_offsets = sizeof(default_offsets_h) / sizeof(default_offsets_h[0]);
    out->call_retries = 3;
    out->retry_ms = 60 * 60000;
    out->sms_fallback = 1;
    out->duplicate_ms = 6 * 3600000;
    memcpy(out->currency, "RUB", 4);
    out->reinvite = 1;
    out->reinvite_after_ms = 48 * 3600000LL;
    out->holdout_percent = 10;
    out->nps = 1;
    out->nps_delay_ms = 60 * 60000;
    out->recall_months = 6;
    out->recall_again_days = 60;
    out->seats = 1;
    out->tasks_per_seat_hour = 7;

    /* the clinic's own policy over the network's, member by member */
    const json_t *layers[] = {j_network_policies, json_object_get(j_clinic, "reminder_policy")};
    for (size_t l = 0; l < 2; l++) {
        const json_t *j_off = json_object_get(layers[l], "offsets_hours");
        if (j_off && offsets_of(j_off, out, errbuf, errbuf_size) != 0) {
            json_decref(out->recall_by_category); /* the network's, when the clinic's fail */
            out->recall_by_category = NULL;
            return CF_EINVAL;
        }
        const json_t *j_v;
        if (json_is_integer(j_v = json_object_get(layers[l], "call_retries")))
            out->call_retries = (int)json_integer_value(j_v);
        if (json_is_integer(j_v = json_object_get(layers[l], "retry_minutes")))
            out->retry_ms = json_integer_value(j_v) * 60000;
        if (json_is_boolean(j_v = json_object_get(layers[l], "sms_fallback")))
            out->sms_fallback = json_is_true(j_v);
        if (json_is_integer(j_v = json_object_get(layers[l], "duplicate_hours")))
            out->duplicate_ms = json_integer_value(j_v) * 3600000;
        if (json_is_number(j_v = json_object_get(layers[l], "sms_price_per_segment")))
            out->sms_price = json_number_value(j_v);
        if (json_is_string(j_v = json_object_get(layers[l], "currency")) &&
            json_string_length(j_v) == 3)
            memcpy(out->currency, json_string_value(j_v), 4);
        if (json_is_boolean(j_v = json_object_get(layers[l], "reinvite")))
            out->reinvite = json_is_true(j_v);
        if (json_is_integer(j_v = json_object_get(layers[l], "reinvite_after_hours")))
            out->reinvite_after_ms = json_integer_value(j_v) * 3600000;
        if (json_is_integer(j_v = json_object_get(layers[l], "holdout_percent")))
            out->holdout_percent = (int)json_integer_value(j_v);
        if (json_is_boolean(j_v = json_object_get(layers[l], "nps")))
            out->nps = json_is_true(j_v);
        if (json_is_integer(j_v = json_object_get(layers[l], "nps_delay_minutes")))
            out->nps_delay_ms = json_integer_value(j_v) * 60000;
        if (json_is_boolean(j_v = json_object_get(layers[l], "recall")))
            out->recall = json_is_true(j_v);
        if (json_is_integer(j_v = json_array_get(json_object_get(layers[l], "recall_months"), 0)))
            out->recall_months = (int)json_integer_value(j_v);
        if (json_is_integer(j_v = json_object_get(layers[l], "recall_again_days")))
            out->recall_again_days = (int)json_integer_value(j_v);
        const char *category;
        json_t *j_months;
        json_object_foreach(json_object_get(layers[l], "recall_months_by_category"), category,
                            j_months)
        {
            if (!json_is_integer(j_months))
                continue;
            if (!out->recall_by_category)
                out->recall_by_category = json_object();
            /* a value of its own: the configuration's is shared by every
             * thread, and a reference taken on it writes its count */
            json_object_set_new(out->recall_by_category, category,
                                json_integer(json_integer_value(j_months)));
        }
        if (json_is_integer(j_v = json_object_get(layers[l], "seats")))
            out->seats = (int)json_integer_value(j_v);
        if (json_is_integer(j_v = json_object_get(layers[l], "tasks_per_seat_hour")))
            out->tasks_per_seat_hour = (int)json_integer_value(j_v);
    }
    int rc = cf_time_windows_parse(tz, json_object_get(j_clinic, "calling_windows"), &out->windows,
                                   errbuf, errbuf_size);
    if (rc != 0) {
        json_decref(out->recall_by_category);
        out->recall_by_category = NULL;
    }
    return rc;
}

void plan_policy_free(struct plan_policy *p)
{
    cf_time_hours_free(&p->windows);
    json_decref(p->recall_by_category);
    p->recall_by_category = NULL;
}

size_t plan_reminders(const struct plan_policy *p, int64_t starts_ms, int64_t now_ms,
                      struct plan_job *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n_offsets && n < max; i++) {
        struct plan_job *j = &out[n++];
        j->offset_h = p->offsets_h[i];
        j->due_ms = 0;
        j->skip = NULL;
        const int64_t want = starts_ms - p->offsets_ms[i];
        if (want < now_ms) {
            j->skip = "too_late";
            continue;
        }
        int64_t due;
        if (cf_time_last_allowed(&p->windows, want, PLAN_LEAD_MS, now_ms, &due) != 0 ||
            due >= starts_ms) {
            j->skip = "no_window";
            continue;
        }
        for (size_t k = 0; k + 1 < n && !j->skip; k++)
            if (!out[k].skip && out[k].due_ms == due)
                j->skip = "same_time";
        if (!j->skip)
            j->due_ms = due;
    }
    return n;
}

int plan_status_reminds(const char *status)
{
    return status && (strcmp(status, "booked") == 0 || strcmp(status, "rescheduled") == 0);
}

const char *plan_send_too_late(const char *kind, int64_t due_ms, int64_t visit_ms, int64_t now_ms,
                               long grace_s)
{
    /* a survey is never sent more than the grace late, as the scheduler
     * would not take it so late: its gateway away, it was put off and
     * emitted again for as long as the gateway stayed away */
    if (kind && strcmp(kind, "nps") == 0)
        return due_ms > 0 && now_ms - due_ms > (int64_t)grace_s * 1000 ? "late" : NULL;
    if (!kind || strcmp(kind, "reminder") != 0)
        return NULL;
    if (visit_ms > 0 && visit_ms <= now_ms)
        return "visit_started";
    if (due_ms > 0 && now_ms - due_ms > (int64_t)grace_s * 1000)
        return "late";
    return NULL;
}

int plan_window_now(const struct plan_policy *p, int64_t now_ms, int64_t *next_ms)
{
    if (cf_time_is_open(&p->windows, now_ms))
        return 0;
    return cf_time_next_allowed(&p->windows, now_ms, next_ms) == 0 ? 1 : CF_ENOTFOUND;
}

void plan_job_id(const char *appointment_id, int64_t starts_ms, int offset_h,
                 char out[CF_UUID_STR_LEN + 1])
{
    char at[32], off[16];
    snprintf(at, sizeof(at), "%lld", (long long)starts_ms);
    snprintf(off, sizeof(off), "%dh", offset_h);
    const char *parts[] = {appointment_id, "reminder", at, off};
    cf_uuid5(parts, 4, out);
}

int plan_holdout(const char *campaign, const char *patient_id, int percent)
{
    char buf[256];
    uint8_t digest[32];
    int n = snprintf(buf, sizeof(buf), "%s\x1f%s", campaign, patient_id);
    cf_sha256(buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1), digest);
    return ((digest[0] << 8) | digest[1]) % 100 < percent;
}

int plan_reinvite(const struct plan_policy *p, int64_t missed_ms, int64_t now_ms, int64_t *due_ms)
{
    if (!p->reinvite || now_ms - missed_ms > PLAN_REINVITE_FRESH_MS)
        return CF_ENOTFOUND;
    return cf_time_next_allowed(&p->windows, now_ms + p->reinvite_after_ms, due_ms) == 0
               ? 0
               : CF_ENOTFOUND;
}

void plan_reinvite_id(const char *appointment_id, char out[CF_UUID_STR_LEN + 1])
{
    plan_campaign_id(appointment_id, "reinvite", out);
}

void plan_campaign_id(const char *appointment_id, const char *campaign,
                      char out[CF_UUID_STR_LEN + 1])
{
    const char *parts[] = {appointment_id, campaign};
    cf_uuid5(parts, 2, out);
}

void plan_recall_id(const char *patient_id, int again_days, int64_t now_ms,
                    char out[CF_UUID_STR_LEN + 1])
{
    char period[32];
    snprintf(period, sizeof(period), "%lld",
             (long long)(now_ms / ((int64_t)(again_days > 0 ? again_days : 1) * 86400000)));
    const char *parts[] = {patient_id, "recall", period};
    cf_uuid5(parts, 3, out);
}

int plan_nps(const struct plan_policy *p, int64_t ended_ms, int64_t now_ms, int64_t *due_ms)
{
    if (!p->nps || now_ms - ended_ms > PLAN_NPS_FRESH_MS)
        return CF_ENOTFOUND;
    const int64_t from = (ended_ms > now_ms ? ended_ms : now_ms) + p->nps_delay_ms;
    return cf_time_next_allowed(&p->windows, from, due_ms) == 0 ? 0 : CF_ENOTFOUND;
}
