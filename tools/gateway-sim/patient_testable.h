/*
 * What a demo patient does with a reminder (patient_rules.c): pure
 * functions of the send, so the same send always gets the same answer and a
 * month of them has the seeds' proportions. No I/O; unit-tested.
 */
#ifndef CF_GATEWAY_SIM_PATIENT_TESTABLE_H
#define CF_GATEWAY_SIM_PATIENT_TESTABLE_H

#include <stddef.h>

/* A robot call's end, as the patient made it. */
enum sim_call {
    SIM_NO_ANSWER, /* nobody picked up */
    SIM_BUSY,
    SIM_CONFIRM,    /* picked up and pressed 1 */
    SIM_DECLINE,    /* 2 */
    SIM_RESCHEDULE, /* 3: the front desk calls back */
};

/* An SMS's fate. */
enum sim_sms {
    SIM_DELIVERED,
    SIM_UNDELIVERED,
};

/* Per thousand calls: 200 not answered, 50 busy; of the 750 answered 9 in
 * 10 confirm and 1 in 10 asks to reschedule (the seeds' robot: "9 in 10
 * answered calls last about 25 s, 1 in 10 asks to reschedule"), a few
 * decline. key is anything unique to the send (its id); the same key gives
 * the same answer. */
enum sim_call sim_call_answer(const char *key);

/* 97 in 100 delivered. */
enum sim_sms sim_sms_fate(const char *key);

/* The call's length in seconds: 0 unanswered, 20-30 answered (the seeds'
 * "about 25 s"). */
int sim_call_seconds(const char *key, enum sim_call answer);

/* A survey SMS's reply: the score 0-10 the patient gives on the page its
 * link opens, or -1 when the patient does not answer. 35 in 100 answer; of
 * them 62 in 100 give 9-10, the rest 7-8 and 0-6 at 55:45 (clinicflow-sim's
 * NPS figures). */
int sim_nps_score(const char *key);

/* The survey link (".../nps/<token>") in an SMS text, copied into out (up
 * to out_size - 1 bytes): 1, or 0 when the text has none or it does not
 * fit. */
int sim_nps_link(const char *text, char *out, size_t out_size);

/* The digit pressed ("1", "2", "3"), or NULL when none was. */
const char *sim_call_digit(enum sim_call answer);

/* The generic dialer's outcome word for answer (services/reminders' hook
 * vocabulary: confirmed, declined, reschedule, no_answer, busy). */
const char *sim_call_outcome(enum sim_call answer);

#endif
