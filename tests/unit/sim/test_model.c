/*
 * The simulator's month (tools/sim/model.c): the same seed gives the same
 * month, another seed another one, and a full-scale month holds the seeds'
 * figures within a tolerance wide enough for any seed and narrow enough to
 * catch a rate that drifted (README.md of the tool, "The model"). --live's
 * month keeps the demo month's patients and the weekdays, and the ids the
 * lead requests carry tell seeds apart (their builders, with the demo
 * network).
 */
#include <string.h>

#include <jansson.h>

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

/* Moscow's weekday of ms, Monday 0 (1970-01-01 was a Thursday). */
static int weekday(int64_t ms)
{
    return (int)(((ms + 3 * 3600000LL) / DAY_MS + 3) % 7);
}

static const struct sim_targets targets = {.calls = "http://calls",
                                           .leads = "http://leads",
                                           .reminders = "http://reminders",
                                           .analytics = "http://analytics",
                                           .ingest_key = "key"};

/* The body of r, parsed (a new reference; NULL when it is not JSON). */
static json_t *body_of(const struct sim_req *r)
{
    return json_loadb(r->body, r->body_len, 0, NULL);
}

/* --live's trickle books and calls as the patients the demo month of its
 * seed registered (it does not send that base again): the base's numbers
 * and clinics are the month's, and every appointment it books is of a
 * patient the month sent or the trickle sends itself. */
static void test_live_patients_are_the_months(void)
{
    struct sim_network net = {.clinic_ids = {"c1", "c2", "c3"}};
    struct sim_month month, live;
    struct sim_params p;
    gen(1, 0.2, &month);
    sim_live_params(1, 30, 0.2, end_ms() + 3 * DAY_MS + 1234567, &p);
    sim_month_generate(&p, &live);
    CHECK(live.totals.patients_existing == month.totals.patients_existing);
    int same_base = 1;
    for (long i = 0; i < month.totals.patients_existing; i++)
        same_base &= strcmp(live.persons[i].phone, month.persons[i].phone) == 0 &&
                     live.persons[i].clinic == month.persons[i].clinic &&
                     live.persons[i].existing && month.persons[i].existing;
    CHECK(same_base);
    /* the patients' ids the services have: the month's, all sent, and the
     * trickle's own new ones (main.c skips the base) */
    json_t *j_known = json_object();
    for (size_t m = 0; m < 2; m++) {
        const struct sim_month *mo = m == 0 ? &month : &live;
        for (size_t i = 0; i < mo->nevs; i++) {
            const struct sim_ev *ev = &mo->evs[i];
            if (ev->kind != SIM_PATIENT || (mo == &live && mo->persons[ev->person].existing))
                continue;
            struct sim_req r = {.dep = -1};
            sim_mis_patient_request(&net, &targets, mo, &mo->persons[ev->person], 0, &r);
            json_object_set_new(j_known, strrchr(r.url, '/') + 1, json_true());
            sim_req_free(&r);
        }
    }
    long booked = 0, unknown = 0, base_booked = 0;
    for (size_t i = 0; i < live.nevs; i++) {
        const struct sim_ev *ev = &live.evs[i];
        if (ev->kind != SIM_APPT || ev->u.appt.version != 1)
            continue;
        struct sim_req r = {.dep = -1};
        sim_mis_appt_request(&net, &targets, &live, ev, 0, &r);
        json_t *j = body_of(&r);
        const char *patient = json_string_value(json_object_get(j, "patient_id"));
        booked++;
        base_booked += live.persons[ev->person].existing;
        unknown += !patient || !json_object_get(j_known, patient);
        json_decref(j);
        sim_req_free(&r);
    }
    CHECK(booked > 0 && base_booked > 0);
    CHECK_INT(unknown, 0);
    json_decref(j_known);
    sim_month_free(&month);
    sim_month_free(&live);
}

/* --live moves its month by whole weeks: Monday's traffic goes on a
 * Monday, and a reply the front desk made in its hours is sent in them
 * (demo-center, the first clinic, is closed on Sundays); the month runs
 * from the hour it starts in. */
static void test_live_keeps_weekdays(void)
{
    static const int64_t starts[] = {0, 1 * DAY_MS + 7 * 3600000LL + 1000, 4 * DAY_MS + 62000000};
    for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
        const int64_t now = end_ms() + starts[k];
        const int64_t hour = now / 3600000 * 3600000;
        struct sim_params p;
        struct sim_month m;
        const int64_t offset = sim_live_params(7, 30, 0.5, now, &p);
        sim_month_generate(&p, &m);
        long by_day[7] = {0}, sunday_replies = 0, outside = 0;
        for (size_t i = 0; i < m.nevs; i++) {
            const struct sim_ev *ev = &m.evs[i];
            const int64_t at = ev->at_ms + offset;
            if (ev->kind == SIM_CALL) {
                by_day[weekday(at)]++;
                outside += at < hour || at >= hour + 30 * DAY_MS;
            }
            if (ev->kind == SIM_LEAD_OUTCOME && ev->u.outcome.report == SIM_REPLIED &&
                ev->clinic == 0)
                sunday_replies += weekday(at) == 6;
        }
        CHECK_INT(offset % (7 * DAY_MS), 0);
        CHECK_INT(outside, 0);
        CHECK_INT(sunday_replies, 0);
        CHECK(by_day[0] > 2 * by_day[6]);
        sim_month_free(&m);
    }
}

/* The recall's robot asked between 11:00 and 12:00 Moscow, whatever hour
 * the month was made in, on a day of the month. */
static void test_recall_asked_in_the_morning(void)
{
    static const int hours[][2] = {{12, 0}, {21, 30}, {0, 10}, {8, 0}, {7, 59}};
    static const int days[] = {30, 7, 1};
    for (size_t k = 0; k < sizeof(hours) / sizeof(hours[0]); k++) {
        for (size_t d = 0; d < sizeof(days) / sizeof(days[0]); d++) {
            struct sim_month m;
            const struct sim_params p = {
                .seed = 9,
                .days = days[d],
                .scale = 0.2,
                .end_ms = cf_test_utc_ms(2026, 11, 20, hours[k][0], hours[k][1], 0)};
            sim_month_generate(&p, &m);
            const int64_t start = p.end_ms - p.days * DAY_MS;
            long members = 0, off_hours = 0, outside = 0;
            for (size_t i = 0; i < m.npersons; i++) {
                const struct sim_person *pe = &m.persons[i];
                if (pe->recall == SIM_RECALL_NONE)
                    continue;
                const int64_t local = pe->recall_asked_ms + 3 * 3600000LL;
                members++;
                off_hours += (local % DAY_MS) / 3600000LL != 11;
                /* a month of a day may hold no morning: then the one before */
                outside += pe->recall_asked_ms >= p.end_ms ||
                           pe->recall_asked_ms < start - (p.days < 2 ? DAY_MS : 0);
            }
            CHECK(members > 0);
            CHECK_INT(off_hours, 0);
            CHECK_INT(outside, 0);
            sim_month_free(&m);
        }
    }
}

/* The lead request ids (Telegram's update_id, Viber's message_token) and,
 * with users, the Telegram users of m, by kind, into j_ids: {"update_id":
 * {id: seed}}. Returns how many of them another seed already had there. */
static long lead_ids(const struct sim_network *net, const struct sim_month *m, int users,
                     json_t *j_ids)
{
    long shared = 0;
    for (size_t i = 0; i < m->nevs; i++) {
        const struct sim_ev *ev = &m->evs[i];
        if (ev->kind != SIM_LEAD ||
            (ev->u.lead.chan != SIM_TELEGRAM && ev->u.lead.chan != SIM_VIBER))
            continue;
        struct sim_req r = {.dep = -1};
        sim_leads_request(net, &targets, m, ev, 0, &r);
        json_t *j = body_of(&r);
        json_t *j_vals[3] = {json_object_get(j, "update_id"),
                             json_object_get(json_object_get(j, "message"), "from"),
                             json_object_get(j, "message_token")};
        static const char *const kinds[3] = {"update_id", "user", "message_token"};
        for (int k = 0; k < 3; k++) {
            json_t *v = k == 1 ? json_object_get(j_vals[1], "id") : j_vals[k];
            if (!v || (k == 1 && !users))
                continue;
            CHECK(json_is_integer(v));
            const json_int_t n = json_integer_value(v);
            /* Telegram's under 2^53, a user under VK's group-chat ids */
            CHECK(n > 0 && (k != 0 || n < (1LL << 53)) && (k != 1 || n < 2000000000LL));
            char key[32];
            snprintf(key, sizeof(key), "%lld", (long long)n);
            json_t *j_kind = json_object_get(j_ids, kinds[k]);
            if (!j_kind) {
                j_kind = json_object();
                json_object_set_new(j_ids, kinds[k], j_kind);
            }
            const json_t *j_seen = json_object_get(j_kind, key);
            shared += j_seen && json_integer_value(j_seen) != (json_int_t)m->params.seed;
            json_object_set_new(j_kind, key, json_integer((json_int_t)m->params.seed));
        }
        json_decref(j);
        sim_req_free(&r);
    }
    return shared;
}

/* Seeds 1 and 1001, and two live trickles 1000 hours apart, send lead
 * requests with ids of their own: the same ids would be taken for the
 * same requests (their leads collapse into one). */
static void test_lead_ids_unique_per_seed(void)
{
    struct sim_network net;
    char errbuf[256];
    if (sim_network_load(SIM_DEMO_NETWORK, &net, errbuf, sizeof(errbuf)) != 0) {
        fprintf(stderr, "%s\n", errbuf);
        CHECK(0);
        return;
    }
    struct sim_month a, b;
    struct sim_params p;
    json_t *j_ids = json_object();
    gen(1, 0.3, &a);
    gen(1001, 0.3, &b);
    CHECK_INT(lead_ids(&net, &a, 1, j_ids), 0);
    CHECK_INT(lead_ids(&net, &b, 1, j_ids), 0);
    CHECK(json_object_size(json_object_get(j_ids, "update_id")) > 10);
    CHECK(json_object_size(json_object_get(j_ids, "message_token")) > 10);
    sim_month_free(&a);
    sim_month_free(&b);
    json_decref(j_ids);
    j_ids = json_object();
    sim_live_params(1, 30, 0.3, end_ms(), &p);
    sim_month_generate(&p, &a);
    sim_live_params(1, 30, 0.3, end_ms() + 1000 * 3600000LL, &p);
    sim_month_generate(&p, &b);
    /* the trickles share the demo month's patients, and so their users */
    CHECK_INT(lead_ids(&net, &a, 0, j_ids), 0);
    CHECK_INT(lead_ids(&net, &b, 0, j_ids), 0);
    sim_month_free(&a);
    sim_month_free(&b);
    json_decref(j_ids);
    sim_network_free(&net);
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
    test_live_patients_are_the_months();
    test_live_keeps_weekdays();
    test_recall_asked_in_the_morning();
    test_lead_ids_unique_per_seed();
    return cf_test_done();
}
