/*
 * The simulator's month (tools/sim/model.c): the same seed gives the same
 * month, another seed another one, and a full-scale month holds the seeds'
 * figures within a tolerance wide enough for any seed and narrow enough to
 * catch a rate that drifted (README.md of the tool, "The model").
 */
#include <string.h>

#include "cftest.h"
#include "latency.h"
#include "sim_testable.h"

#define DAY_MS 86400000LL

static int64_t end_ms(void)
{
    return cf_test_utc_ms(2026, 11, 20, 12, 0, 0);
}

static void gen(uint64_t seed, double scale, struct sim_month *m)
{
    const struct sim_params p = {.seed = seed, .days = 30, .scale = scale, .end_ms = end_ms()};
    sim_month_generate(&p, m);
}

static int same_month(const struct sim_month *a, const struct sim_month *b)
{
    return a->nevs == b->nevs && a->npersons == b->npersons && a->nappts == b->nappts &&
           memcmp(a->evs, b->evs, a->nevs * sizeof(*a->evs)) == 0 &&
           memcmp(a->appts, b->appts, a->nappts * sizeof(*a->appts)) == 0 &&
           memcmp(&a->totals, &b->totals, sizeof(a->totals)) == 0;
}

static void test_same_seed_same_month(void)
{
    struct sim_month a, b, c;
    gen(42, 0.2, &a);
    gen(42, 0.2, &b);
    gen(43, 0.2, &c);
    CHECK(a.nevs > 0);
    CHECK(same_month(&a, &b));
    CHECK(!same_month(&a, &c));
    sim_month_free(&a);
    sim_month_free(&b);
    sim_month_free(&c);
}

static void test_events_in_order_and_in_the_month(void)
{
    struct sim_month m;
    gen(7, 0.3, &m);
    int ordered = 1, inside = 1, appts_follow = 1;
    const int64_t start = end_ms() - 30 * DAY_MS;
    for (size_t i = 0; i < m.nevs; i++) {
        const struct sim_ev *ev = &m.evs[i];
        if (i > 0 && ev->at_ms < m.evs[i - 1].at_ms)
            ordered = 0;
        if (ev->kind == SIM_CALL || ev->kind == SIM_LEAD)
            inside &= ev->at_ms >= start && ev->at_ms < end_ms();
        if (ev->kind == SIM_APPT && ev->u.appt.version == 2)
            appts_follow &= m.appts[ev->u.appt.appt].booked_ms < ev->at_ms && ev->at_ms <= end_ms();
    }
    CHECK(ordered);
    CHECK(inside);
    CHECK(appts_follow);
    /* distinct phones: a lost caller must not be "called back" by
     * someone else's call */
    int distinct = 1;
    for (size_t i = 1; i < m.npersons && distinct; i++)
        distinct = strcmp(m.persons[i].phone, m.persons[i - 1].phone) != 0 &&
                   strcmp(m.persons[i].phone, m.persons[0].phone) != 0;
    CHECK(distinct);
    sim_month_free(&m);
}

static int within(double v, double lo, double hi)
{
    if (v >= lo && v <= hi)
        return 1;
    fprintf(stderr, "  %.3f not within [%.3f, %.3f]\n", v, lo, hi);
    return 0;
}

static void test_full_month_rates(uint64_t seed)
{
    struct sim_month m;
    gen(seed, 1.0, &m);
    const struct sim_model_totals *t = &m.totals;
    CHECK(within((double)t->calls_inbound, 2900, 3100));
    CHECK(within((double)(t->calls_outbound), 4900, 5100));
    CHECK(within((double)t->calls_missed, 150, 170)); /* seed 000: 150-170 */
    CHECK(t->calls_called_back > t->calls_missed / 2);
    CHECK(t->calls_lost > 0 && t->calls_lost < t->calls_missed / 2);
    CHECK(t->calls_called_back + t->calls_lost == t->calls_missed);
    /* first-contact conversion: strong ~90%, weak ~37% */
    CHECK(within((double)t->new_booked[0] / (double)t->new_contacts[0], 0.85, 0.95));
    CHECK(within((double)t->new_booked[1] / (double)t->new_contacts[1], 0.31, 0.43));
    /* a quarter of booked new patients do not come */
    CHECK(within((double)t->new_no_show / (double)t->new_booked_past, 0.19, 0.30));
    /* plans: 40-90% accepted by doctor, and the doctors differ */
    double lo = 1, hi = 0;
    for (int c = 0; c < SIM_CLINICS; c++)
        for (int d = 0; d < SIM_DOCTORS; d++) {
            const double r = (double)t->doctor_accepted[c][d] /
                             (double)(t->doctor_proposed[c][d] + !t->doctor_proposed[c][d]);
            lo = r < lo ? r : lo;
            hi = r > hi ? r : hi;
        }
    CHECK(within(lo, 0.30, 0.50));
    CHECK(within(hi, 0.80, 0.97));
    /* the robot's reminders: 9 in 10 answered calls short (~25 s), 1 in
     * 10 asks to reschedule */
    CHECK(within((double)t->reminder_short / (double)t->reminder_answered, 0.86, 0.94));
    CHECK(within((double)t->reminder_reschedule / (double)t->reminder_answered, 0.06, 0.14));
    CHECK(within(t->reminder_answered_seconds / (double)t->reminder_answered, 24, 32));
    /* ... sent for the visits past as their histories: one each, a day
     * before a visit booked earlier than that, after the visit started;
     * an SMS after each unanswered call; patients who confirmed came more
     * often than the others */
    long histories = 0, after_booking = 1, sms = 0;
    for (size_t i = 0; i < m.nevs; i++) {
        const struct sim_ev *ev = &m.evs[i];
        if (ev->kind != SIM_REMINDERS)
            continue;
        const struct sim_appt *a = &m.appts[ev->u.appt.appt];
        histories++;
        after_booking &= a->booked_ms < a->starts_ms - 86400000LL && ev->at_ms > a->starts_ms &&
                         a->status != SIM_BOOKED && a->status != SIM_CANCELLED &&
                         a->reminder != SIM_REM_NONE;
        sms += a->reminder == SIM_REM_UNANSWERED;
    }
    CHECK(histories == t->reminder_calls && histories > 0);
    CHECK(after_booking);
    CHECK(sms == t->reminder_sms && sms == t->reminder_calls - t->reminder_answered);
    const long(*v)[2] = t->reminded_visits;
    CHECK(v[0][0] + v[0][1] + v[1][0] + v[1][1] == histories);
    CHECK(v[1][0] + v[1][1] == t->reminder_confirmed);
    const double came_confirmed = (double)v[1][1] / (double)(v[1][0] + v[1][1]);
    const double came_unconfirmed = (double)v[0][1] / (double)(v[0][0] + v[0][1]);
    CHECK(within(came_confirmed - came_unconfirmed, 0.04, 0.5));
    /* the recall by the robot before: one history per member, before the
     * patient's record; asked within the month; a yes after the SMS */
    long recalls = 0, recall_ok = 1;
    size_t first_patient = m.nevs;
    for (size_t i = 0; i < m.nevs; i++)
        if (m.evs[i].kind == SIM_PATIENT && first_patient == m.nevs)
            first_patient = i;
    const int64_t month_start = m.params.end_ms - m.params.days * 86400000LL;
    for (size_t i = 0; i < m.nevs; i++) {
        if (m.evs[i].kind != SIM_RECALL)
            continue;
        const struct sim_person *p = &m.persons[m.evs[i].person];
        recalls++;
        recall_ok &= i < first_patient && p->recall != SIM_RECALL_NONE &&
                     p->recall_asked_ms >= month_start && p->recall_asked_ms < m.params.end_ms &&
                     (p->recall_reply_ms == 0 ||
                      (p->recall == SIM_RECALL_TARGET && p->recall_reply_ms > p->recall_asked_ms));
    }
    CHECK(recalls == t->recall_members && recall_ok);
    CHECK(t->recall_agreed > 0 && t->recall_agreed <= t->recall_booked_target);
    /* the recall campaign has its holdout, about a tenth, who book less */
    CHECK(within((double)t->recall_holdout / (double)t->recall_members, 0.06, 0.14));
    CHECK(t->recall_booked_target > t->recall_booked_holdout);
    /* brand traffic: the paid brand campaign brings mostly existing patients */
    CHECK(within((double)t->leads_brand_existing / (double)t->leads_brand, 0.65, 0.92));
    long chans = 0;
    for (int c = 0; c < SIM_LEAD_CHANS; c++)
        chans += t->leads_by_chan[c] > 0;
    CHECK(chans == SIM_LEAD_CHANS);
    CHECK(t->spend_rows == 30 * 4 && t->spend_amount > 0);
    CHECK(t->nps_replies > 0 && t->nps_promoters > t->nps_detractors);
    /* the totals count exactly the events */
    long calls = 0, leads = 0, v1 = 0, spend = 0;
    for (size_t i = 0; i < m.nevs; i++) {
        calls += m.evs[i].kind == SIM_CALL;
        leads += m.evs[i].kind == SIM_LEAD;
        v1 += m.evs[i].kind == SIM_APPT && m.evs[i].u.appt.version == 1;
        spend += m.evs[i].kind == SIM_SPEND;
    }
    CHECK(calls == t->calls_inbound + t->calls_outbound);
    CHECK(leads == t->leads);
    /* seed 003: the measured front desk replies in 2-10 working minutes,
     * the unmeasured one in hours (5-6 on average), the third between;
     * almost every request is answered; a report follows its request */
    CHECK(within(t->reply_working_min[0] / (double)t->replies[0], 5, 7));
    CHECK(within(t->reply_working_min[1] / (double)t->replies[1], 270, 390));
    CHECK(within(t->reply_working_min[2] / (double)t->replies[2], 32, 43));
    CHECK(within((double)t->lead_reports[SIM_REPLIED] / (double)t->leads, 0.88, 0.99));
    CHECK(within((double)t->lead_reports[SIM_LEAD_SPAM] / (double)t->leads, 0.005, 0.04));
    CHECK(t->lead_reports[SIM_LEAD_BOOKED] > 0 && t->lead_reports[SIM_LEAD_LOST] > 0);
    CHECK(t->lead_reports[SIM_LEAD_BOOKED] + t->lead_reports[SIM_LEAD_LOST] <=
          t->lead_reports[SIM_REPLIED]);
    long reports[SIM_REPORTS] = {0};
    for (size_t i = 0; i < m.nevs; i++) {
        const struct sim_ev *e = &m.evs[i];
        if (e->kind != SIM_LEAD_OUTCOME)
            continue;
        reports[e->u.outcome.report]++;
        int64_t asked = -1;
        for (size_t k = 0; k < i; k++)
            if (m.evs[k].kind == SIM_LEAD && m.evs[k].u.lead.id == e->u.outcome.id)
                asked = m.evs[k].at_ms;
        CHECK(asked >= 0 && asked <= e->at_ms);
        if (e->u.outcome.report == SIM_LEAD_BOOKED) /* the booking it reports */
            CHECK(m.appts[e->u.outcome.appt].booked_ms == e->at_ms &&
                  m.appts[e->u.outcome.appt].person == e->person);
    }
    for (int r = 0; r < SIM_REPORTS; r++)
        CHECK(reports[r] == t->lead_reports[r]);
    CHECK(v1 == t->appts);
    CHECK(spend == t->spend_rows);
    sim_month_free(&m);
}

static void test_scale_and_days(void)
{
    struct sim_month m;
    const struct sim_params p = {.seed = 5, .days = 7, .scale = 0.1, .end_ms = end_ms()};
    sim_month_generate(&p, &m);
    /* 3000 * 0.1 * 7 / 30 = 70 inbound calls */
    CHECK(m.totals.calls_inbound == 70);
    CHECK(m.totals.spend_rows == 7 * 4);
    sim_month_free(&m);
}

/* Calls come in the front desk's day (none from 23:00 to 07:00 Moscow
 * time); written requests around the clock, the evening most. */
static void test_hours_of_calls_and_requests(void)
{
    const struct sim_params p = {.seed = 3, .days = 30, .scale = 1.0, .end_ms = end_ms()};
    struct sim_rng r;
    int calls[24] = {0}, leads[24] = {0};
    sim_rng_init(&r, 11, 1);
    for (int i = 0; i < 20000; i++) {
        const int64_t t = sim_draw_time(&r, &p, 3600000LL) + 3 * 3600000LL; /* Moscow */
        calls[(t % DAY_MS) / 3600000LL]++;
    }
    sim_rng_init(&r, 11, 2);
    for (int i = 0; i < 20000; i++) {
        const int64_t t = sim_draw_lead_time(&r, &p, 3600000LL) + 3 * 3600000LL;
        CHECK(t - 3 * 3600000LL < end_ms() - 3600000LL &&
              t - 3 * 3600000LL >= end_ms() - 30 * DAY_MS);
        leads[(t % DAY_MS) / 3600000LL]++;
    }
    int calls_night = 0, leads_night = 0;
    for (int h = 0; h < 7; h++) {
        calls_night += calls[h];
        leads_night += leads[h];
    }
    calls_night += calls[23];
    leads_night += leads[23];
    CHECK_INT(calls_night, 0);
    /* weights of 12 in 152 at those hours: ~8% of the requests */
    CHECK(leads_night > 600 && leads_night < 1800);
    for (int h = 0; h < 24; h++)
        CHECK(leads[h] > 0);
    CHECK(leads[20] > 3 * leads[3]);
}

/* The front desk's working minutes (the demo clinics' weekly hours,
 * Moscow time): a reply does not count the lunch hour, the night or a
 * closed Sunday. */
static void test_reply_in_working_minutes(void)
{
    const int64_t tue_noon = cf_test_utc_ms(2026, 11, 17, 9, 0, 0); /* 12:00 Moscow */
    const int64_t min = 60000;
    /* demo-center: 09:00-14:00 and 15:00-21:00 on weekdays */
    CHECK(sim_reply_at(0, tue_noon, 10) == tue_noon + 10 * min);
    CHECK(sim_reply_at(0, tue_noon + 115 * min, 10) == tue_noon + 185 * min); /* 13:55 -> 15:05 */
    /* 23:00 Tuesday at demo-north (from 08:00): 08:05 Wednesday */
    CHECK(sim_reply_at(1, tue_noon + 11 * 60 * min, 5) == tue_noon + 20 * 60 * min + 5 * min);
    /* 15:58 Saturday at demo-center (10:00-16:00, Sunday closed): 09:08 Monday */
    const int64_t sat = cf_test_utc_ms(2026, 11, 21, 12, 58, 0);
    CHECK(sim_reply_at(0, sat, 10) == cf_test_utc_ms(2026, 11, 23, 6, 8, 0));
    /* demo-south works Sundays 11:00-15:00 */
    CHECK(sim_reply_at(2, sat + 2 * 60 * min, 10) == cf_test_utc_ms(2026, 11, 22, 8, 10, 0));
}

static void test_holdout_draw_is_stable(void)
{
    int n = 0;
    for (uint32_t i = 0; i < 1000; i++)
        n += sim_in_holdout("s1", i);
    CHECK(n > 60 && n < 140);
    CHECK(sim_in_holdout("s1", 17) == sim_in_holdout("s1", 17));
}

/* --load's percentiles (latency.c) by nearest rank: p99 of 1..100 is 99,
 * not the maximum; p50 of two values is the first. */
static void test_percentile_nearest_rank(void)
{
    double v[100];
    for (int i = 0; i < 100; i++)
        v[i] = (double)(100 - i);
    sim_latency_sort(v, 100);
    CHECK(v[0] == 1 && v[99] == 100);
    CHECK(sim_percentile(v, 100, 0.5) == 50);
    CHECK(sim_percentile(v, 100, 0.9) == 90);
    CHECK(sim_percentile(v, 100, 0.99) == 99);
    CHECK(sim_percentile(v, 100, 0.999) == 100);
    CHECK(sim_percentile(v, 100, 1.0) == 100);
    const double two[2] = {3, 7};
    CHECK(sim_percentile(two, 2, 0.5) == 3);
    CHECK(sim_percentile(two, 2, 0.99) == 7);
    const double one[1] = {4};
    CHECK(sim_percentile(one, 1, 0.5) == 4 && sim_percentile(one, 1, 1.0) == 4);
    CHECK(sim_percentile(NULL, 0, 0.99) == 0);
}

int main(void)
{
    test_percentile_nearest_rank();
    test_hours_of_calls_and_requests();
    test_same_seed_same_month();
    test_events_in_order_and_in_the_month();
    test_full_month_rates(1);
    test_full_month_rates(2024);
    test_scale_and_days();
    test_holdout_draw_is_stable();
    test_reply_in_working_minutes();
    return cf_test_done();
}
