/*
 * When a patient is due a recall: each service category after its own
 * months (the seeds' 6 for a check-up or cleaning, 12 for implants), from
 * the latest completed visit of that category; any category due makes the
 * patient due; a doctor's recall date overrides the categories until a
 * visit answers it; the record's last_visit_at is a visit of its own only
 * when no completed appointment explains it.
 */
#include "recall_testable.h"

#include "cftest.h"
#include "policy.h"
#include "common/err.h"

#define DAY (24 * 3600000LL)

static void test_add_months(void)
{
    const int64_t t = 10 * 3600000LL + 15 * 60000 + 7; /* 10:15:00.007 */
    /* the day kept, or cut to the month's last, as PostgreSQL does */
    CHECK_INT(recall_add_months(cf_test_utc_ms(2026, 5, 15, 0, 0, 0) + t, 6),
              cf_test_utc_ms(2026, 11, 15, 0, 0, 0) + t);
    CHECK_INT(recall_add_months(cf_test_utc_ms(2026, 1, 31, 0, 0, 0) + t, 1),
              cf_test_utc_ms(2026, 2, 28, 0, 0, 0) + t);
    CHECK_INT(recall_add_months(cf_test_utc_ms(2024, 1, 31, 0, 0, 0), 1),
              cf_test_utc_ms(2024, 2, 29, 0, 0, 0));
    CHECK_INT(recall_add_months(cf_test_utc_ms(2026, 8, 31, 23, 59, 59), 6),
              cf_test_utc_ms(2027, 2, 28, 23, 59, 59));
    CHECK_INT(recall_add_months(cf_test_utc_ms(2026, 12, 1, 0, 0, 0), 12),
              cf_test_utc_ms(2027, 12, 1, 0, 0, 0));
    CHECK_INT(recall_add_months(cf_test_utc_ms(2026, 11, 30, 0, 0, 0), 3),
              cf_test_utc_ms(2027, 2, 28, 0, 0, 0));
    CHECK_INT(recall_add_months(cf_test_utc_ms(2026, 3, 10, 12, 0, 0), 60),
              cf_test_utc_ms(2031, 3, 10, 12, 0, 0));
    /* before 1970 too (a negative instant rounds down to its day) */
    CHECK_INT(recall_add_months(cf_test_utc_ms(1969, 12, 31, 22, 0, 0), 2),
              cf_test_utc_ms(1970, 2, 28, 22, 0, 0));
}

static void test_months_per_category(void)
{
    struct plan_policy p = policy(NULL, NULL);
    CHECK(p.recall_by_category == NULL);
    CHECK_INT(recall_months_for(&p, "implants"), 6);
    CHECK_INT(recall_min_months(&p), 6);
    plan_policy_free(&p);

    /* the clinic's categories over the network's, one by one; the
     * default for the others and for a visit with no category */
    p = policy("{\"recall_months\": [6], \"recall_months_by_category\":"
               " {\"implants\": 12, \"orthodontics\": 9}}",
               "{\"reminder_policy\": {\"recall_months_by_category\": {\"implants\": 18,"
               " \"whitening\": 3}}}");
    CHECK_INT(recall_months_for(&p, "implants"), 18);
    CHECK_INT(recall_months_for(&p, "orthodontics"), 9);
    CHECK_INT(recall_months_for(&p, "whitening"), 3);
    CHECK_INT(recall_months_for(&p, "hygiene"), 6);
    CHECK_INT(recall_months_for(&p, ""), 6);
    CHECK_INT(recall_months_for(&p, NULL), 6);
    CHECK_INT(recall_min_months(&p), 3);
    plan_policy_free(&p);

    p = policy("{\"recall_months\": [12, 6], \"recall_months_by_category\": {\"hygiene\": 6}}",
               NULL);
    CHECK_INT(recall_months_for(&p, "implants"), 12);
    CHECK_INT(recall_months_for(&p, "hygiene"), 6);
    CHECK_INT(recall_min_months(&p), 6);
    plan_policy_free(&p);

    /* a bad clinic policy frees the network's categories (ASan: no leak) */
    struct plan_policy bad;
    char errbuf[256];
    json_t *j_net = json_loads("{\"recall_months_by_category\": {\"implants\": 12}}", 0, NULL);
    json_t *j_clinic = json_loads("{\"reminder_policy\": {\"offsets_hours\": [0]}}", 0, NULL);
    CHECK_INT(plan_policy_build(j_net, "Europe/Moscow", j_clinic, &bad, errbuf, sizeof(errbuf)),
              CF_EINVAL);
    CHECK_INT(plan_policy_build(j_net, "Mars/Olympus", NULL, &bad, errbuf, sizeof(errbuf)),
              CF_EINVAL);
    json_decref(j_net);
    json_decref(j_clinic);
}

/* recall_due's input: times as Unix ms, 0 for none; visits as JSON text
 * with the placeholders filled by the caller */
static json_t *patient(int64_t recall_at, int64_t last_visit_at, json_t *visits)
{
    json_t *j = json_pack("{s:o}", "visits", visits ? visits : json_object());
    json_object_set_new(j, "recall_at", recall_at ? json_integer(recall_at) : json_null());
    json_object_set_new(j, "last_visit_at",
                        last_visit_at ? json_integer(last_visit_at) : json_null());
    return j;
}

static int due_of(const struct plan_policy *p, json_t *j_patient, int64_t *due)
{
    *due = 0;
    int rc = recall_due(p, j_patient, due);
    json_decref(j_patient);
    return rc;
}

static void test_due(void)
{
    struct plan_policy p =
        policy("{\"recall_months\": [6], \"recall_months_by_category\": {\"implants\": 12}}", NULL);
    const int64_t now = cf_test_utc_ms(2026, 12, 4, 12, 0, 0);
    const int64_t m7 = cf_test_utc_ms(2026, 5, 4, 9, 0, 0);   /* 7 months ago */
    const int64_t m8 = cf_test_utc_ms(2026, 4, 4, 9, 0, 0);   /* 8 months ago */
    const int64_t m13 = cf_test_utc_ms(2025, 11, 4, 9, 0, 0); /* 13 months ago */
    int64_t due;

    /* nothing known: never due */
    CHECK_INT(due_of(&p, patient(0, 0, NULL), &due), CF_ENOTFOUND);

    /* a hygiene visit 7 months ago is due a month ago; an implant visit
     * 7 months ago is not due until its 12 */
    CHECK_INT(due_of(&p, patient(0, 0, json_pack("{s:I}", "hygiene", m7)), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 11, 4, 9, 0, 0));
    CHECK(due <= now);
    CHECK_INT(due_of(&p, patient(0, 0, json_pack("{s:I}", "implants", m7)), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2027, 5, 4, 9, 0, 0));
    CHECK(due > now);
    CHECK_INT(due_of(&p, patient(0, 0, json_pack("{s:I}", "implants", m13)), &due), 0);
    CHECK(due <= now);
    /* a visit with no category: the default */
    CHECK_INT(due_of(&p, patient(0, 0, json_pack("{s:I}", "", m7)), &due), 0);
    CHECK(due <= now);

    /* any category due makes the patient due: the earliest of them */
    CHECK_INT(
        due_of(&p, patient(0, 0, json_pack("{s:I, s:I}", "implants", m7, "hygiene", m8)), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 10, 4, 9, 0, 0));
    /* a recent visit of one category does not answer another's */
    CHECK_INT(
        due_of(&p,
               patient(0, 0, json_pack("{s:I, s:I}", "implants", now - 30 * DAY, "hygiene", m7)),
               &due),
        0);
    CHECK(due <= now);

    /* the doctor's date wins both ways: later than the categories say ... */
    const int64_t soon = now + 30 * DAY;
    CHECK_INT(due_of(&p, patient(soon, 0, json_pack("{s:I}", "hygiene", m7)), &due), 0);
    CHECK_INT(due, soon);
    /* ... and earlier */
    const int64_t past = now - DAY;
    CHECK_INT(due_of(&p, patient(past, 0, json_pack("{s:I}", "implants", m7)), &due), 0);
    CHECK_INT(due, past);
    /* with nothing else known */
    CHECK_INT(due_of(&p, patient(past, 0, NULL), &due), 0);
    CHECK_INT(due, past);
    /* until a visit at or after it answers it: the categories again */
    CHECK_INT(due_of(&p, patient(m8, 0, json_pack("{s:I}", "implants", m7)), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2027, 5, 4, 9, 0, 0));
    CHECK_INT(due_of(&p, patient(m7, 0, json_pack("{s:I}", "implants", m7)), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2027, 5, 4, 9, 0, 0));
    CHECK_INT(due_of(&p, patient(m8, m7, NULL), &due), 0); /* the record's date answers too */
    CHECK_INT(due, cf_test_utc_ms(2026, 11, 4, 9, 0, 0));

    /* last_visit_at alone: a visit of no category */
    CHECK_INT(due_of(&p, patient(0, m7, NULL), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2026, 11, 4, 9, 0, 0));
    /* the date of the implant visit itself (the day's start, or its end)
     * adds nothing: not due until the implant's 12 months */
    CHECK_INT(
        due_of(&p,
               patient(0, cf_test_utc_ms(2026, 5, 4, 0, 0, 0), json_pack("{s:I}", "implants", m7)),
               &due),
        0);
    CHECK_INT(due, cf_test_utc_ms(2027, 5, 4, 9, 0, 0));
    CHECK_INT(
        due_of(&p,
               patient(0, cf_test_utc_ms(2026, 5, 5, 8, 0, 0), json_pack("{s:I}", "implants", m7)),
               &due),
        0);
    CHECK_INT(due, cf_test_utc_ms(2027, 5, 4, 9, 0, 0));
    /* a visit days after every appointment we know of: one of its own */
    CHECK_INT(
        due_of(&p,
               patient(0, cf_test_utc_ms(2026, 5, 8, 9, 0, 0), json_pack("{s:I}", "implants", m7)),
               &due),
        0);
    CHECK_INT(due, cf_test_utc_ms(2026, 11, 8, 9, 0, 0));
    /* an older date than the appointments adds nothing either */
    CHECK_INT(due_of(&p, patient(0, m13, json_pack("{s:I}", "implants", m7)), &due), 0);
    CHECK_INT(due, cf_test_utc_ms(2027, 5, 4, 9, 0, 0));

    /* values that are not times are no visits */
    CHECK_INT(due_of(&p, patient(0, 0, json_pack("{s:s}", "hygiene", "2026-05-04")), &due),
              CF_ENOTFOUND);
    plan_policy_free(&p);
}

int main(void)
{
    test_add_months();
    test_months_per_category();
    test_due();
    return cf_test_done();
}
