/*
 * The demo patients (tools/gateway-sim/patient_rules.c): the same send
 * always gets the same answer, and 20,000 sends have the proportions the
 * seeds give a reminder robot (of the answered calls 9 in 10 confirm and
 * about 1 in 10 asks to reschedule, lasting about 25 s). The keys are
 * fixed, so the counts are exact for this code; the bounds say what the
 * proportions are meant to be.
 */
#include <stdio.h>

#include "cftest.h"
#include "patient_testable.h"

#define N 20000

static void test_same_send_same_answer(void)
{
    const char *key = "1b4e28ba-2fa1-51d2-883f-0016d3cca427";
    const enum sim_call a = sim_call_answer(key);
    for (int i = 0; i < 3; i++) {
        CHECK_INT(sim_call_answer(key), a);
        CHECK_INT(sim_call_seconds(key, a), sim_call_seconds(key, a));
        CHECK_INT(sim_sms_fate(key), sim_sms_fate(key));
    }
}

static void test_proportions(void)
{
    int calls[SIM_RESCHEDULE + 1] = {0}, delivered = 0, short_call = 0, long_call = 0;
    char key[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "send-%d", i);
        const enum sim_call a = sim_call_answer(key);
        calls[a]++;
        delivered += sim_sms_fate(key) == SIM_DELIVERED;
        const int s = sim_call_seconds(key, a);
        if (a == SIM_NO_ANSWER || a == SIM_BUSY)
            CHECK_INT(s, 0);
        else {
            CHECK(s >= 20 && s <= 30);
            short_call += s < 25;
            long_call += s > 25;
        }
    }
    const int answered = calls[SIM_CONFIRM] + calls[SIM_DECLINE] + calls[SIM_RESCHEDULE];
    /* a fifth not answered, a twentieth busy, three quarters answered */
    CHECK(calls[SIM_NO_ANSWER] > N * 18 / 100 && calls[SIM_NO_ANSWER] < N * 22 / 100);
    CHECK(calls[SIM_BUSY] > N * 4 / 100 && calls[SIM_BUSY] < N * 6 / 100);
    CHECK(answered > N * 73 / 100 && answered < N * 77 / 100);
    /* of the answered: 9 in 10 confirm, near 1 in 10 reschedule, a few decline */
    CHECK(calls[SIM_CONFIRM] * 100 > answered * 88 && calls[SIM_CONFIRM] * 100 < answered * 92);
    CHECK(calls[SIM_RESCHEDULE] * 100 > answered * 7 &&
          calls[SIM_RESCHEDULE] * 100 < answered * 11);
    CHECK(calls[SIM_DECLINE] > 0 && calls[SIM_DECLINE] * 100 < answered * 3);
    /* the length spread around 25 s */
    CHECK(short_call > answered / 3 && long_call > answered / 3);
    CHECK(delivered > N * 96 / 100 && delivered < N * 98 / 100);
}

static void test_nps(void)
{
    int answered = 0, promoters = 0, passives = 0, detractors = 0;
    char key[64];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "send-%d", i);
        const int s = sim_nps_score(key);
        CHECK(s >= -1 && s <= 10);
        CHECK_INT(sim_nps_score(key), s);
        if (s < 0)
            continue;
        answered++;
        promoters += s >= 9;
        passives += s == 7 || s == 8;
        detractors += s <= 6;
    }
    /* 35 in 100 answer; 62 in 100 of them promoters, the rest 55:45 */
    CHECK(answered > N * 33 / 100 && answered < N * 37 / 100);
    CHECK(promoters * 100 > answered * 59 && promoters * 100 < answered * 65);
    CHECK(passives > detractors && detractors * 100 > answered * 15);
    CHECK_INT(promoters + passives + detractors, answered);

    char link[128];
    CHECK_INT(sim_nps_link("Спасибо за визит! Оцените нас: http://127.0.0.1:8083/nps/AbC-123_x "
                           "Demo Dental",
                           link, sizeof(link)),
              1);
    CHECK_STR(link, "http://127.0.0.1:8083/nps/AbC-123_x");
    CHECK_INT(sim_nps_link("https://clinic.example/nps/tok", link, sizeof(link)), 1);
    CHECK_STR(link, "https://clinic.example/nps/tok");
    /* no link, no token, no scheme, too long for the buffer */
    CHECK_INT(sim_nps_link("Ждём вас завтра в 10:00", link, sizeof(link)), 0);
    CHECK_INT(sim_nps_link("see http://host/nps/ now", link, sizeof(link)), 0);
    CHECK_INT(sim_nps_link("path/nps/tok", link, sizeof(link)), 0);
    CHECK_INT(sim_nps_link("http://host/nps/tok", link, 10), 0);
    CHECK_INT(sim_nps_link(NULL, link, sizeof(link)), 0);
}

static void test_words(void)
{
    CHECK_STR(sim_call_digit(SIM_CONFIRM), "1");
    CHECK_STR(sim_call_digit(SIM_DECLINE), "2");
    CHECK_STR(sim_call_digit(SIM_RESCHEDULE), "3");
    CHECK(sim_call_digit(SIM_NO_ANSWER) == NULL && sim_call_digit(SIM_BUSY) == NULL);
    /* the generic dialer hook's vocabulary (services/reminders/gateway_webhook.c) */
    CHECK_STR(sim_call_outcome(SIM_CONFIRM), "confirmed");
    CHECK_STR(sim_call_outcome(SIM_DECLINE), "declined");
    CHECK_STR(sim_call_outcome(SIM_RESCHEDULE), "reschedule");
    CHECK_STR(sim_call_outcome(SIM_NO_ANSWER), "no_answer");
    CHECK_STR(sim_call_outcome(SIM_BUSY), "busy");
}

int main(void)
{
    test_same_send_same_answer();
    test_proportions();
    test_nps();
    test_words();
    return cf_test_done();
}
