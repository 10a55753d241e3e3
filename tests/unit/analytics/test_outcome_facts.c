/*
 * reminders.outcomes.v1 as analytics keeps it (outcome_facts.c): a send's
 * outcome with its SMS cost in currency units, a campaign member, an NPS
 * answer, each at the network's local hour; events missing what their
 * schema requires are refused.
 */
#include "outcome_facts_testable.h"

#include "cftest.h"

static json_t *row(const char *type, const char *data_text)
{
    char err[128];
    json_t *data = json_loads(data_text, 0, NULL);
    json_t *r =
        an_outcome_row(an_outcome_kind_of(type), "e1", cf_test_utc_ms(2026, 12, 7, 12, 0, 0), data,
                       "net", "Europe/Moscow", err, sizeof(err));
    json_decref(data);
    return r;
}

static const char *s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int main(void)
{
    CHECK_INT(an_outcome_kind_of("clinicflow.reminder.outcome"), AN_OUTCOME_SEND);
    CHECK_INT(an_outcome_kind_of("clinicflow.campaign.member"), AN_OUTCOME_MEMBER);
    CHECK_INT(an_outcome_kind_of("clinicflow.nps.answered"), AN_OUTCOME_NPS);
    CHECK_INT(an_outcome_kind_of("clinicflow.reminder.command"), AN_OUTCOME_OTHER);

    json_t *r = row("clinicflow.reminder.outcome",
                    "{\"send_id\": \"S\", \"job_id\": \"J\", \"kind\": \"reminder\","
                    " \"appointment_id\": \"A\", \"patient_id\": \"P\", \"clinic_id\": \"c1\","
                    " \"channel\": \"sms\", \"attempt\": 4, \"gateway\": \"smsru\", \"outcome\":"
                    " \"sms_sent\", \"reminder_status\": \"not_confirmed\", \"sms\": {\"segments\":"
                    " 2, \"cost_minor\": 670, \"currency\": \"RUB\"}}");
    CHECK_STR(s(r, "hour"), "2026-12-07 15:00:00");
    CHECK_STR(s(r, "event_id"), "e1");
    CHECK_STR(s(r, "reminder_status"), "not_confirmed");
    CHECK_INT(json_integer_value(json_object_get(r, "sms_segments")), 2);
    CHECK(json_real_value(json_object_get(r, "sms_cost")) == 6.7);
    CHECK(json_is_null(json_object_get(r, "duration_s")));
    json_decref(r);

    r = row("clinicflow.campaign.member",
            "{\"campaign\": \"recall\", \"job_id\": \"J\", \"patient_id\": \"P\", \"clinic_id\":"
            " \"c1\", \"group\": \"holdout\", \"holdout_percent\": 10}");
    CHECK_STR(s(r, "group"), "holdout");
    CHECK(json_is_null(json_object_get(r, "appointment_id")));
    json_decref(r);

    r = row("clinicflow.nps.answered", "{\"job_id\": \"J\", \"clinic_id\": \"c1\", \"doctor_id\":"
                                       " \"dr\", \"score\": 6, \"category\": \"detractor\"}");
    CHECK_INT(json_integer_value(json_object_get(r, "score")), 6);
    CHECK_STR(s(r, "doctor_id"), "dr");
    json_decref(r);

    CHECK(row("clinicflow.reminder.outcome", "{\"send_id\": \"S\"}") == NULL);
    CHECK(row("clinicflow.campaign.member", "{\"campaign\": \"recall\"}") == NULL);
    return cf_test_done();
}
