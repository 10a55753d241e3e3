/*
 * The month, generated from a seed: who calls and writes, when, what
 * becomes of each contact, and what the network spends. Pure: the same
 * params give the same month, byte for byte, so a test can compare what
 * the services counted with what the model says it sent. Every random
 * draw comes from one splitmix64 stream per purpose (persons, calls,
 * leads, ...), so changing how one part draws leaves the others as they
 * were. The figures are the seeds' (README.md, "The model").
 */
#include "sim_testable.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/xmalloc.h"

#define DAY_MS 86400000LL
#define MIN_MS 60000LL
/* Moscow has kept UTC+3 all year since 2014; the demo's clinics are all
 * there, so a fixed offset is exact and keeps the model free of zone data. */
#define LOCAL_OFFSET_MS (3 * 3600000LL)

/* Per full-scale 30-day month, the seeds' orders of magnitude. */
#define INBOUND_PER_MONTH 3000.0
#define OUTBOUND_PER_MONTH 5000.0
#define MISSED_PER_MONTH 160.0 /* seed 000: 150-170 missed calls a month */
#define LEADS_PER_MONTH 500.0
#define BASE_PATIENTS 2400.0

/* seed 002: first-contact conversion 37% at a weak front desk, 93% at a
 * strong one; the third clinic sits between. */
static const double conversion_new[SIM_CLINICS] = {0.90, 0.37, 0.62};
#define CONVERSION_EXISTING 0.55
/* seed 000: "до 25% может не дойти" - a quarter of booked new patients */
#define NO_SHOW_NEW 0.25
#define NO_SHOW_EXISTING 0.10
#define CANCELLED 0.05
/* seed 002: treatment-plan acceptance 40% -> 90%, by doctor */
static const double plan_acceptance[SIM_CLINICS][SIM_DOCTORS] = {
    {0.90, 0.75}, {0.40, 0.55}, {0.65, 0.80}};

/* Local-hour weights of calls: the front desk's day, peaks in the late
 * morning and after work. */
static const int hour_weight[24] = {0,  0,  0, 0, 0, 0,  0,  1, 4, 9, 12, 12,
                                    11, 10, 9, 9, 9, 10, 10, 8, 5, 2, 1,  0};
/* Of written requests (forms, messengers): people write when they have
 * time, the evening most, and some at night, to be answered when the
 * clinic opens (the seeds' slow answers to web and social requests). */
static const int lead_hour_weight[24] = {2,  1, 1, 1, 1, 1,  1,  2,  4,  7,  9, 10,
                                         10, 9, 9, 9, 9, 10, 11, 12, 12, 10, 7, 4};
/* Monday first: Monday is the busiest day, Sunday the quietest. */
static const int weekday_weight[7] = {12, 10, 10, 10, 10, 6, 3};

/* seed 003: a front desk nobody measures answers web and social requests
 * in 5-6 hours on average; once it is measured, in 2-10 minutes. Working
 * minutes from the request to the reply, by clinic (strong, weak,
 * middle, as conversion_new), and the share never answered. */
static const int reply_min_lo[SIM_CLINICS] = {2, 60, 15};
static const int reply_min_hi[SIM_CLINICS] = {10, 600, 60};
static const double unanswered[SIM_CLINICS] = {0.0, 0.08, 0.03};
#define SPAM 0.02
/* of the replied requests that book nothing, the share the front desk
 * closes as lost, a day or three later, and why */
#define LOST 0.7
static const double lost_reason_w[SIM_LOST_REASONS] = {0.30, 0.25, 0.20, 0.15, 0.10};
/* The front desk's hours, local, as the demo network's clinics keep them
 * (deploy/local/demo-network.json; holidays aside): the same Monday to
 * Friday, then Saturday and Sunday, up to two spans a day in minutes of
 * the day, {0, 0} for none. */
static const struct {
    int weekday[4], saturday[4], sunday[4];
} desk_hours[SIM_CLINICS] = {
    /* demo-center */
    {{540, 840, 900, 1260}, {600, 960, 0, 0}, {0, 0, 0, 0}},
    /* demo-north */
    {{480, 780, 840, 1200}, {540, 780, 840, 1020}, {0, 0, 0, 0}},
    /* demo-south */
    {{600, 900, 960, 1320}, {600, 900, 0, 0}, {660, 900, 0, 0}},
};

static const char *const first_names[] = {"Анна",    "Мария",   "Елена",   "Ольга",  "Ирина",
                                          "Иван",    "Сергей",  "Павел",   "Андрей", "Дмитрий",
                                          "Наталья", "Татьяна", "Алексей", "Михаил"};

CF_TESTABLE uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

CF_TESTABLE void sim_rng_init(struct sim_rng *r, uint64_t seed, uint64_t stream)
{
    r->state = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    (void)sim_rng_next(r);
}

/* A uniform double in [0, 1). */
static double uni(struct sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static int chance(struct sim_rng *r, double p)
{
    return uni(r) < p;
}

/* A whole number in [lo, hi]. */
static long between(struct sim_rng *r, long lo, long hi)
{
    return lo + (long)(sim_rng_next(r) % (uint64_t)(hi - lo + 1));
}

static int pick(struct sim_rng *r, const double *weights, int n)
{
    double sum = 0, x;
    for (int i = 0; i < n; i++)
        sum += weights[i];
    x = uni(r) * sum;
    for (int i = 0; i < n; i++) {
        if (x < weights[i])
            return i;
        x -= weights[i];
    }
    return n - 1;
}

static long scaled(const struct sim_params *p, double per_month)
{
    long n = lround(per_month * p->scale * p->days / 30.0);
    return n > 0 ? n : 1;
}

/* A moment of the month at the hourly pattern hours (local) and the
 * weekly one, at least margin_ms before its end (so what follows it still
 * fits). */
static int64_t draw_time(struct sim_rng *r, const struct sim_params *p, int64_t margin_ms,
                         const int hours[24])
{
    const int64_t start = p->end_ms - p->days * DAY_MS;
    const int64_t first_day = (start + LOCAL_OFFSET_MS) / DAY_MS;
    for (;;) {
        const int64_t day = first_day + between(r, 0, p->days);
        const int wday = (int)((day + 3) % 7); /* 1970-01-01 was a Thursday */
        if (between(r, 0, 11) >= weekday_weight[wday])
            continue;
        double hw[24];
        for (int h = 0; h < 24; h++)
            hw[h] = hours[h];
        const int hour = pick(r, hw, 24);
        const int64_t t =
            day * DAY_MS - LOCAL_OFFSET_MS + hour * 3600000LL + between(r, 0, 3599) * 1000LL;
        if (t >= start && t < p->end_ms - margin_ms)
            return t;
    }
}

CF_TESTABLE int64_t sim_draw_time(struct sim_rng *r, const struct sim_params *p, int64_t margin_ms)
{
    return draw_time(r, p, margin_ms, hour_weight);
}

CF_TESTABLE int64_t sim_draw_lead_time(struct sim_rng *r, const struct sim_params *p,
                                       int64_t margin_ms)
{
    return draw_time(r, p, margin_ms, lead_hour_weight);
}

/* A visit slot: days after at, at a whole quarter hour of 09:00-19:45. */
static int64_t visit_slot(struct sim_rng *r, int64_t at, long min_days, long max_days)
{
    const int64_t day = (at + LOCAL_OFFSET_MS) / DAY_MS + between(r, min_days, max_days);
    return day * DAY_MS - LOCAL_OFFSET_MS + between(r, 9 * 4, 19 * 4 + 3) * 15 * MIN_MS;
}

/* Whether the clinic's front desk works at the minute starting at t. */
static int desk_open(int clinic, int64_t t)
{
    const int64_t local = t + LOCAL_OFFSET_MS;
    const int wday = (int)((local / DAY_MS + 3) % 7); /* Monday 0: 1970-01-01 was a Thursday */
    const int minute = (int)(local % DAY_MS / MIN_MS);
    const int *h = wday < 5    ? desk_hours[clinic].weekday
                   : wday == 5 ? desk_hours[clinic].saturday
                               : desk_hours[clinic].sunday;
    return (minute >= h[0] && minute < h[1]) || (minute >= h[2] && minute < h[3]);
}

CF_TESTABLE int64_t sim_reply_at(int clinic, int64_t at, int working_min)
{
    /* whole minutes from the request's: a fortnight without an open
     * minute (no hours at all) gives up */
    int64_t t = at;
    for (int left = working_min, steps = 0; left > 0 && steps < 14 * 1440; steps++) {
        left -= desk_open(clinic, t);
        t += MIN_MS;
    }
    return t;
}

struct builder {
    struct sim_month *m;
    size_t cap_persons, cap_appts, cap_evs;
    struct sim_rng r_call, r_lead, r_visit, r_person, r_reply;
    uint32_t next_call_id, next_lead_id;
    long nbase;
};

static struct sim_person *person_new(struct builder *b, int clinic, int existing)
{
    struct sim_month *m = b->m;
    if (m->npersons == b->cap_persons) {
        b->cap_persons = b->cap_persons ? b->cap_persons * 2 : 1024;
        m->persons = cf_xrealloc(m->persons, b->cap_persons * sizeof(*m->persons));
    }
    struct sim_person *p = &m->persons[m->npersons];
    memset(p, 0, sizeof(*p));
    p->idx = (uint32_t)m->npersons++;
    p->clinic = clinic;
    p->existing = existing;
    /* Distinct numbers per person and per seed: an affine map of the index
     * modulo 10^7 (3141 is prime to it) with a seed-chosen offset; a base
     * patient of another month's seed keeps that month's number. */
    const uint64_t seed =
        existing && m->params.has_base_seed ? m->params.base_seed : m->params.seed;
    const uint64_t n = (p->idx * 3141ULL + seed % 10000000ULL) % 10000000ULL;
    snprintf(p->phone, sizeof(p->phone), "+7916%07llu", (unsigned long long)n);
    p->first_name =
        first_names[sim_rng_next(&b->r_person) % (sizeof(first_names) / sizeof(first_names[0]))];
    return p;
}

static struct sim_ev *ev_new(struct builder *b, enum sim_kind kind, int64_t at, int clinic,
                             uint32_t person)
{
    struct sim_month *m = b->m;
    if (m->nevs == b->cap_evs) {
        b->cap_evs = b->cap_evs ? b->cap_evs * 2 : 4096;
        m->evs = cf_xrealloc(m->evs, b->cap_evs * sizeof(*m->evs));
    }
    struct sim_ev *ev = &m->evs[m->nevs++];
    memset(ev, 0, sizeof(*ev));
    ev->at_ms = at;
    ev->kind = kind;
    ev->clinic = clinic;
    ev->person = person;
    return ev;
}

/* A base patient of the clinic (any clinic after a few tries). */
static uint32_t base_person(struct builder *b, int clinic)
{
    uint32_t idx = 0;
    for (int i = 0; i < 8; i++) {
        idx = (uint32_t)(sim_rng_next(&b->r_person) % (uint64_t)b->nbase);
        if (b->m->persons[idx].clinic == clinic)
            break;
    }
    return idx;
}

/* seed 004: the robot's call a day before the visit (the system before
 * clinicflow; SIM_REMINDERS sends it as the visit's history). 9 in 10
 * answered calls take about 25 s and confirm, 1 in 10 asks to reschedule
 * (a human takes over); nobody answers the rest, and an SMS follows. A
 * patient who came answered 80% of the calls, one who did not 40%. The
 * draws are made for every visit past, so that a visit booked within the
 * day (too late for the call) does not shift the month's other draws. */
static void remind(struct builder *b, struct sim_appt *a, double answered)
{
    struct sim_model_totals *t = &b->m->totals;
    struct sim_rng *r = &b->r_visit;
    enum sim_reminder rem = SIM_REM_UNANSWERED;
    long secs = 0;
    if (chance(r, answered)) {
        const int reschedule = chance(r, 0.1);
        secs = reschedule ? between(r, 35, 70) : between(r, 21, 29);
        rem = reschedule ? SIM_REM_RESCHEDULE : SIM_REM_CONFIRMED;
    }
    if (a->booked_ms >= a->starts_ms - DAY_MS)
        return;
    a->reminder = rem;
    a->reminder_s = (int)secs;
    t->reminder_calls++;
    if (rem == SIM_REM_UNANSWERED) {
        t->reminder_sms++;
    } else {
        t->reminder_answered++;
        t->reminder_answered_seconds += (double)secs;
        t->reminder_reschedule += rem == SIM_REM_RESCHEDULE;
        t->reminder_confirmed += rem == SIM_REM_CONFIRMED;
        t->reminder_short += rem == SIM_REM_CONFIRMED;
    }
    t->reminded_visits[rem == SIM_REM_CONFIRMED][a->status == SIM_COMPLETED]++;
    ev_new(b, SIM_REMINDERS, a->starts_ms + 3600000LL, a->clinic, a->person)->u.appt.appt = a->idx;
}

/* What the booking made at `at` by person comes to: one appointment, its
 * booking and, once its time has come, its outcome. */
static void book(struct builder *b, uint32_t person, int clinic, int64_t at, int recall)
{
    struct sim_month *m = b->m;
    struct sim_model_totals *t = &m->totals;
    struct sim_rng *r = &b->r_visit;
    if (m->nappts == b->cap_appts) {
        b->cap_appts = b->cap_appts ? b->cap_appts * 2 : 1024;
        m->appts = cf_xrealloc(m->appts, b->cap_appts * sizeof(*m->appts));
    }
    struct sim_appt *a = &m->appts[m->nappts];
    memset(a, 0, sizeof(*a));
    a->idx = (uint32_t)m->nappts++;
    a->person = person;
    a->clinic = clinic;
    a->doctor = (int)between(r, 0, SIM_DOCTORS - 1);
    a->new_patient = !m->persons[person].existing;
    a->recall = recall;
    a->booked_ms = at + between(r, 1, 5) * MIN_MS;
    a->starts_ms = visit_slot(r, at, 1, 10);
    a->status = SIM_BOOKED;
    t->appts++;
    ev_new(b, SIM_APPT, a->booked_ms, clinic, person)->u.appt.appt = a->idx;
    m->evs[m->nevs - 1].u.appt.version = 1;
    if (a->starts_ms + 3600000LL > m->params.end_ms) {
        t->appts_ahead++;
        return;
    }
    if (a->new_patient)
        t->new_booked_past++;
    const double u = uni(r);
    const double no_show = a->new_patient ? NO_SHOW_NEW : NO_SHOW_EXISTING;
    if (u < CANCELLED) {
        a->status = SIM_CANCELLED;
        t->appts_cancelled++;
    } else if (u < CANCELLED + (1 - CANCELLED) * no_show) {
        a->status = SIM_NO_SHOW;
        t->appts_no_show++;
        t->new_no_show += a->new_patient;
        remind(b, a, 0.4);
    } else {
        a->status = SIM_COMPLETED;
        t->appts_completed++;
        a->paid = (double)between(r, 15, 300) * 100.0;
        t->revenue += a->paid;
        /* a plan follows a new patient's first visit, and a third of the others */
        if (a->new_patient || chance(r, 0.33)) {
            a->plan_amount = (double)between(r, 30, 250) * 1000.0;
            t->plans_proposed++;
            t->doctor_proposed[clinic][a->doctor]++;
            if (chance(r, plan_acceptance[clinic][a->doctor])) {
                a->plan = SIM_PLAN_ACCEPTED;
                t->plans_accepted++;
                t->doctor_accepted[clinic][a->doctor]++;
                t->plans_accepted_amount += a->plan_amount;
            } else {
                a->plan = SIM_PLAN_PROPOSED;
            }
        }
        remind(b, a, 0.8);
        /* seed 001: the NPS call an hour after the visit */
        if (chance(r, 0.35)) {
            const long score = chance(r, 0.62)
                                   ? between(r, 9, 10)
                                   : (chance(r, 0.55) ? between(r, 7, 8) : between(r, 0, 6));
            t->nps_replies++;
            t->nps_promoters += score >= 9;
            t->nps_detractors += score <= 6;
        }
    }
    struct sim_ev *ev = ev_new(b, SIM_APPT, a->starts_ms + 3600000LL, clinic, person);
    ev->u.appt.appt = a->idx;
    ev->u.appt.version = 2;
}

/* The first contact of a person decides whether they book. */
static void maybe_book(struct builder *b, uint32_t person, int clinic, int64_t at,
                       uint8_t *contacted)
{
    if (contacted[person])
        return;
    contacted[person] = 1;
    const struct sim_person *p = &b->m->persons[person];
    if (!p->existing)
        b->m->totals.new_contacts[clinic]++;
    if (chance(&b->r_visit, p->existing ? CONVERSION_EXISTING : conversion_new[clinic])) {
        if (!p->existing)
            b->m->totals.new_booked[clinic]++;
        book(b, person, clinic, at, 0);
    }
}

static struct sim_ev *call_new(struct builder *b, int64_t at, int clinic, uint32_t person,
                               enum sim_call_prov prov, int inbound)
{
    struct sim_ev *ev = ev_new(b, SIM_CALL, at, clinic, person);
    ev->u.call.prov = prov;
    ev->u.call.inbound = inbound;
    ev->u.call.id = b->next_call_id++;
    struct sim_model_totals *t = &b->m->totals;
    t->calls_by_prov[prov]++;
    if (inbound) {
        t->calls_inbound++;
    } else {
        t->calls_outbound++;
        t->calls_outbound_by_clinic[clinic]++;
    }
    return ev;
}

static void talk(struct builder *b, struct sim_ev *ev)
{
    struct sim_rng *r = &b->r_call;
    ev->u.call.answered = 1;
    ev->u.call.ring_s = (int)between(r, 3, 20);
    /* a sixth of the conversations are too short to be "targeted" (< 20 s) */
    ev->u.call.talk_s = chance(r, 0.16) ? (int)between(r, 5, 19) : (int)between(r, 40, 420);
}

/* The mango lines: index 0 the call centre's plain number, then the
 * tracking numbers of yandex (brand), google, 2gis (network.c maps them). */
static const int mango_line_clinic[4] = {0, 0, 1, 2};
static const enum sim_source mango_line_source[4] = {SIM_SRC_NONE, SIM_SRC_YANDEX_BRAND,
                                                     SIM_SRC_GOOGLE, SIM_SRC_2GIS};

static void gen_inbound(struct builder *b, uint8_t *contacted)
{
    struct sim_month *m = b->m;
    struct sim_rng *r = &b->r_call;
    const long n = scaled(&m->params, INBOUND_PER_MONTH);
    /* exactly the month's share of missed calls (seed 000: 150-170 a
     * month), spread over the month by selection sampling: call i is
     * missed with probability (still to miss) / (calls left) */
    long to_miss = scaled(&m->params, MISSED_PER_MONTH);
    static const double route_w[3] = {0.55, 0.22, 0.23};
    static const double line_w[4] = {0.40, 0.30, 0.15, 0.15};
    for (long i = 0; i < n; i++) {
        const int64_t at = sim_draw_time(r, &m->params, 3 * 3600000LL);
        const enum sim_call_prov prov = (enum sim_call_prov)pick(r, route_w, 3);
        const int line = prov == SIM_MANGO ? pick(r, line_w, 4) : 0;
        const int clinic = prov == SIM_MANGO      ? mango_line_clinic[line]
                           : prov == SIM_ASTERISK ? 1
                                                  : 2;
        /* the brand campaign's number is dialled mostly by patients who
         * already know the clinic (seed 000: "brand traffic") */
        const double p_existing = mango_line_source[line] == SIM_SRC_YANDEX_BRAND ? 0.8 : 0.5;
        const int existing = chance(r, p_existing);
        const uint32_t person = existing ? base_person(b, clinic) : person_new(b, clinic, 0)->idx;
        struct sim_ev *ev = call_new(b, at, clinic, person, prov, 1);
        ev->u.call.line = line;
        m->totals.calls_brand_line += prov == SIM_MANGO && line == 1;
        const int missed = chance(r, (double)to_miss / (double)(n - i));
        to_miss -= missed;
        if (!missed) {
            talk(b, ev);
            ev->u.call.reception = prov != SIM_MANGO || chance(r, 0.15);
            m->totals.calls_answered_inbound++;
            maybe_book(b, person, clinic, at, contacted);
            continue;
        }
        ev->u.call.role = SIM_CALL_MISSED;
        ev->u.call.ring_s = (int)between(r, 12, 60);
        m->totals.calls_missed++;
        /* a new caller nobody rings back is lost; everyone else is called
         * back by the call centre, most within the 15-minute SLA */
        if (!existing && chance(r, 0.3)) {
            m->totals.calls_lost++;
            contacted[person] = 1;
            continue;
        }
        const int64_t after = chance(r, 0.8) ? between(r, 2, 14) : between(r, 16, 120);
        struct sim_ev *cb = call_new(b, at + ev->u.call.ring_s * 1000LL + after * MIN_MS, clinic,
                                     person, SIM_MANGO, 0);
        cb->u.call.role = SIM_CALL_CALLBACK;
        talk(b, cb);
        m->totals.calls_called_back++;
        maybe_book(b, person, clinic, cb->at_ms, contacted);
    }
}

static void gen_outbound(struct builder *b)
{
    struct sim_month *m = b->m;
    struct sim_rng *r = &b->r_call;
    const long n = scaled(&m->params, OUTBOUND_PER_MONTH) - m->totals.calls_called_back;
    for (long i = 0; i < n; i++) {
        const int64_t at = sim_draw_time(r, &m->params, 3600000LL);
        const int clinic = (int)between(r, 0, SIM_CLINICS - 1);
        struct sim_ev *ev = call_new(b, at, clinic, base_person(b, clinic), SIM_MANGO, 0);
        if (chance(r, 0.65)) {
            talk(b, ev);
        } else {
            ev->u.call.ring_s = (int)between(r, 15, 40);
        }
    }
}

static void report_new(struct builder *b, const struct sim_ev *req, int64_t at,
                       enum sim_lead_report report)
{
    const enum sim_lead_chan chan = req->u.lead.chan;
    const uint32_t id = req->u.lead.id;
    struct sim_ev *ev = ev_new(b, SIM_LEAD_OUTCOME, at, req->clinic, req->person);
    ev->u.outcome.chan = chan;
    ev->u.outcome.id = id;
    ev->u.outcome.report = report;
    b->m->totals.lead_reports[report]++;
}

/* What the front desk makes of the request req (seed 003): a reply after
 * the clinic's working minutes (never, for a few), the booking it brings
 * (maybe_book at the reply), or the lead closed as lost a day or more
 * later; spam is closed as such. A report that would fall after the month
 * is not made: the lead is still open when it ends. */
static void lead_outcome(struct builder *b, struct sim_ev req, uint8_t *contacted)
{
    struct sim_month *m = b->m;
    struct sim_rng *r = &b->r_reply;
    const int clinic = req.clinic;
    const int64_t latest = m->params.end_ms - 10 * MIN_MS;
    const int spam = chance(r, SPAM);
    const int silent = chance(r, unanswered[clinic]);
    const int minutes = (int)between(r, reply_min_lo[clinic], reply_min_hi[clinic]);
    const int64_t reply = sim_reply_at(clinic, req.at_ms, minutes);
    const int lost = chance(r, LOST);
    const int64_t lost_at = reply + between(r, 24, 72) * 3600000LL;
    const enum sim_lost_reason reason =
        (enum sim_lost_reason)pick(r, lost_reason_w, SIM_LOST_REASONS);

    if (spam) {
        if (reply <= latest)
            report_new(b, &req, reply, SIM_LEAD_SPAM);
        return; /* nobody to book */
    }
    if (silent || reply > latest) {
        m->totals.lead_unanswered++;
        maybe_book(b, req.person, clinic, req.at_ms, contacted); /* they call themselves */
        return;
    }
    report_new(b, &req, reply, SIM_REPLIED);
    m->totals.replies[clinic]++;
    m->totals.reply_working_min[clinic] += minutes;
    const size_t before = m->nappts;
    maybe_book(b, req.person, clinic, reply, contacted);
    if (m->nappts > before) {
        const struct sim_appt *a = &m->appts[before];
        report_new(b, &req, a->booked_ms, SIM_LEAD_BOOKED);
        m->evs[m->nevs - 1].u.outcome.appt = a->idx;
    } else if (lost && lost_at <= latest) {
        report_new(b, &req, lost_at, SIM_LEAD_LOST);
        m->evs[m->nevs - 1].u.outcome.reason = reason;
    }
}

static void gen_leads(struct builder *b, uint8_t *contacted)
{
    struct sim_month *m = b->m;
    struct sim_rng *r = &b->r_lead;
    const long n = scaled(&m->params, LEADS_PER_MONTH);
    static const double chan_w[SIM_LEAD_CHANS] = {0.40, 0.15, 0.20, 0.10, 0.15};
    static const int chan_clinic[SIM_LEAD_CHANS] = {-1, 0, 0, 2, 1};
    static const double src_w[SIM_SOURCES] = {0.10, 0.35, 0.15, 0.20, 0, 0.20};
    /* a person writes once: two requests within a day would merge */
    uint8_t *wrote = cf_xcalloc((size_t)b->nbase, 1);
    for (long i = 0; i < n; i++) {
        const int64_t at = sim_draw_lead_time(r, &m->params, 3600000LL);
        const enum sim_lead_chan chan = (enum sim_lead_chan)pick(r, chan_w, SIM_LEAD_CHANS);
        const int clinic = chan_clinic[chan] >= 0 ? chan_clinic[chan] : (int)between(r, 0, 2);
        const enum sim_source src =
            chan == SIM_FORM ? (enum sim_source)pick(r, src_w, SIM_SOURCES) : SIM_SRC_NONE;
        const int brand = src == SIM_SRC_YANDEX_BRAND;
        uint32_t person = 0;
        int existing = chance(r, brand ? 0.8 : 0.2);
        if (existing) {
            person = base_person(b, clinic);
            existing = !wrote[person];
            wrote[person] = 1;
        }
        if (!existing)
            person = person_new(b, clinic, 0)->idx;
        struct sim_ev *ev = ev_new(b, SIM_LEAD, at, clinic, person);
        ev->u.lead.chan = chan;
        ev->u.lead.source = src;
        ev->u.lead.id = b->next_lead_id++;
        m->totals.leads++;
        m->totals.leads_by_chan[chan]++;
        m->totals.leads_brand += brand;
        m->totals.leads_brand_existing += brand && existing;
        lead_outcome(b, *ev, contacted);
    }
    free(wrote);
}

/* seed 004: patients not seen for over 6-12 months are asked back; a
 * tenth is the holdout, never asked, so the campaign's effect shows
 * against it. The draw is by the MIS id, as the service draws its own. */
CF_TESTABLE int sim_in_holdout(const char *tag, uint32_t person)
{
    char name[64];
    uint8_t h[32];
    const int len = snprintf(name, sizeof(name), "recall\x1f%s-p%u", tag, person);
    cf_sha256(name, (size_t)len, h);
    return ((h[0] << 8) | h[1]) % 100 < 10;
}

static void gen_recall(struct builder *b, uint8_t *contacted)
{
    struct sim_month *m = b->m;
    struct sim_rng *r = &b->r_visit;
    char tag[16];
    const int64_t start = m->params.end_ms - m->params.days * DAY_MS;
    /* the robot asked on a morning of the month's first ten days
     * (11:00-12:00 Moscow), and the asked booked within three. The month
     * starts at whatever hour it was made in, so the mornings are counted
     * from the first local 11:00 at or after its start */
    const int64_t ask_hour = 11 * 3600000LL;
    const int64_t first_morning =
        ((start + LOCAL_OFFSET_MS - ask_hour + DAY_MS - 1) / DAY_MS) * DAY_MS - LOCAL_OFFSET_MS +
        ask_hour;
    const long ask_days = m->params.days > 13 ? 9 : (m->params.days > 4 ? m->params.days - 4 : 0);
    for (long i = 0; i < b->nbase; i++) {
        struct sim_person *p = &m->persons[i];
        if (m->params.end_ms - p->last_visit_ms < 183 * DAY_MS)
            continue;
        sim_person_tag(m, p->idx, tag);
        const int holdout = sim_in_holdout(tag, p->idx);
        p->recall = holdout ? SIM_RECALL_HOLDOUT : SIM_RECALL_TARGET;
        p->recall_asked_ms =
            first_morning + between(r, 0, ask_days) * DAY_MS + between(r, 0, 59) * MIN_MS;
        /* a month of a day or so may have no morning left: the one before */
        while (p->recall_asked_ms >= m->params.end_ms)
            p->recall_asked_ms -= DAY_MS;
        m->totals.recall_members++;
        m->totals.recall_holdout += holdout;
        /* its history goes before the patient's record (queue.c) */
        ev_new(b, SIM_RECALL, start - DAY_MS - 1000, p->clinic, (uint32_t)i);
        /* the asked book a quarter of the time; the holdout on its own rarely */
        if (contacted[i] || !chance(r, holdout ? 0.06 : 0.25))
            continue;
        contacted[i] = 1;
        int64_t at = p->recall_asked_ms + between(r, 60, 3 * 24 * 60) * MIN_MS;
        if (at > m->params.end_ms - 2 * 3600000LL)
            at = m->params.end_ms - 2 * 3600000LL;
        if (!holdout) { /* a yes to the SMS, and the front desk's call books */
            p->recall_reply_ms = p->recall_asked_ms + between(r, 5, 55) * MIN_MS;
            m->totals.recall_agreed++;
        }
        book(b, (uint32_t)i, p->clinic, at, !holdout);
    }
}

/* The members who booked after they were asked (or held out), however
 * they booked: what the recall report counts. */
static void count_recall_bookings(struct sim_month *m)
{
    uint8_t *booked = cf_xcalloc(m->npersons ? m->npersons : 1, 1);
    for (size_t i = 0; i < m->nappts; i++) {
        const struct sim_appt *a = &m->appts[i];
        const struct sim_person *p = &m->persons[a->person];
        if (p->recall != SIM_RECALL_NONE && a->booked_ms > p->recall_asked_ms)
            booked[a->person] = 1;
    }
    for (size_t i = 0; i < m->npersons; i++) {
        if (!booked[i])
            continue;
        m->totals.recall_booked_target += m->persons[i].recall == SIM_RECALL_TARGET;
        m->totals.recall_booked_holdout += m->persons[i].recall == SIM_RECALL_HOLDOUT;
    }
    free(booked);
}

/* A day's spend per paid source (RUB), seed 000's "end-to-end analytics":
 * what each source cost next to what it brought. */
static void gen_spend(struct builder *b)
{
    struct sim_month *m = b->m;
    static const enum sim_source paid[4] = {SIM_SRC_YANDEX_BRAND, SIM_SRC_YANDEX, SIM_SRC_GOOGLE,
                                            SIM_SRC_2GIS};
    static const int daily[4] = {6000, 9000, 5000, 1500};
    static const int clinic[4] = {0, 0, 1, 2};
    const int64_t start = m->params.end_ms - m->params.days * DAY_MS;
    for (int d = 0; d < m->params.days; d++) {
        for (int s = 0; s < 4; s++) {
            const double amount =
                floor(daily[s] * m->params.scale * (0.8 + 0.4 * uni(&b->r_lead)) * 100) / 100;
            struct sim_ev *ev = ev_new(b, SIM_SPEND, start + d * DAY_MS, clinic[s], 0);
            ev->u.spend.source = paid[s];
            ev->u.spend.amount = amount;
            m->totals.spend_rows++;
            m->totals.spend_amount += amount;
        }
    }
}

static int ev_cmp(const void *a, const void *b)
{
    const struct sim_ev *x = a, *y = b;
    if (x->at_ms != y->at_ms)
        return x->at_ms < y->at_ms ? -1 : 1;
    /* a stable order between equal times: the order of creation is lost
     * by qsort, so compare what tells events apart */
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return memcmp(&x->u, &y->u, sizeof(x->u));
}

void sim_month_generate(const struct sim_params *params, struct sim_month *out)
{
    struct builder b = {.m = out};
    memset(out, 0, sizeof(*out));
    out->params = *params;
    /* the base is drawn first, from its own seed's stream: the same
     * patients (clinic, name, number) as the month that registered them */
    sim_rng_init(&b.r_person, params->has_base_seed ? params->base_seed : params->seed, 1);
    sim_rng_init(&b.r_call, params->seed, 2);
    sim_rng_init(&b.r_lead, params->seed, 3);
    sim_rng_init(&b.r_visit, params->seed, 4);
    sim_rng_init(&b.r_reply, params->seed, 5);

    static const double clinic_w[SIM_CLINICS] = {0.45, 0.30, 0.25};
    b.nbase = lround(BASE_PATIENTS * params->scale);
    if (b.nbase < 20)
        b.nbase = 20;
    for (long i = 0; i < b.nbase; i++) {
        struct sim_person *p = person_new(&b, pick(&b.r_person, clinic_w, SIM_CLINICS), 1);
        /* seed 001: repeat patients were seen within 6 months, the lapsed
         * ("tertiary") before; 60/40 */
        const long ago = chance(&b.r_person, 0.6) ? between(&b.r_person, 10, 170)
                                                  : between(&b.r_person, 190, 700);
        p->last_visit_ms = params->end_ms - ago * DAY_MS;
    }
    out->totals.patients_existing = b.nbase;
    /* the month's own people from its own seed */
    if (params->has_base_seed)
        sim_rng_init(&b.r_person, params->seed, 1);

    /* every person there can be: the base, and one new a call or a lead */
    uint8_t *contacted = cf_xcalloc(
        (size_t)(b.nbase + scaled(params, INBOUND_PER_MONTH) + scaled(params, LEADS_PER_MONTH)), 1);
    gen_inbound(&b, contacted);
    gen_outbound(&b);
    gen_leads(&b, contacted);
    gen_recall(&b, contacted);
    count_recall_bookings(out);
    gen_spend(&b);
    free(contacted);

    /* every person is sent once, before the month: the base as it was,
     * new patients as the MIS creates them at their booking (their
     * version 1 comes with it; see mis.c) */
    out->totals.patients = b.nbase;
    for (size_t i = 0; i < out->nappts; i++)
        if (out->appts[i].new_patient) {
            const struct sim_appt *a = &out->appts[i];
            ev_new(&b, SIM_PATIENT, a->booked_ms - 1000, a->clinic, a->person);
            out->totals.patients++;
        }
    for (long i = 0; i < b.nbase; i++)
        ev_new(&b, SIM_PATIENT, params->end_ms - params->days * DAY_MS - DAY_MS,
               out->persons[i].clinic, (uint32_t)i);
    qsort(out->evs, out->nevs, sizeof(*out->evs), ev_cmp);
}

void sim_month_free(struct sim_month *m)
{
    free(m->persons);
    free(m->appts);
    free(m->evs);
    memset(m, 0, sizeof(*m));
}

static void tag_of(uint64_t seed, char out[16])
{
    snprintf(out, 16, "s%llu", (unsigned long long)(seed % 100000000ULL));
}

void sim_tag(const struct sim_month *m, char out[16])
{
    tag_of(m->params.seed, out);
}

void sim_person_tag(const struct sim_month *m, uint32_t person, char out[16])
{
    const int base = m->params.has_base_seed && m->persons[person].existing;
    tag_of(base ? m->params.base_seed : m->params.seed, out);
}
