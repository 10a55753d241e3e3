/*
 * The demo patients' answers (patient_testable.h): a number in 0..999 from
 * the SHA-256 of the send's key and what it names, so answers are spread
 * evenly and never depend on the order sends arrive in.
 */
#include "patient_testable.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"

/* 0..999 from key and salt (a different salt, an independent draw). */
static int draw(const char *key, const char *salt)
{
    uint8_t d[32];
    char name[320];
    int n = snprintf(name, sizeof(name), "%s\x1f%s", salt, key);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(name))
        n = (int)sizeof(name) - 1;
    cf_sha256(name, (size_t)n, d);
    return (int)(((uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 | (uint32_t)d[2] << 8 | d[3]) %
                 1000u);
}

enum sim_call sim_call_answer(const char *key)
{
    const int n = draw(key, "call");
    if (n < 200)
        return SIM_NO_ANSWER;
    if (n < 250)
        return SIM_BUSY;
    if (n < 925) /* 675 of the 750 answered: 9 in 10 */
        return SIM_CONFIRM;
    if (n < 990) /* 65: near 1 in 10 */
        return SIM_RESCHEDULE;
    return SIM_DECLINE;
}

enum sim_sms sim_sms_fate(const char *key)
{
    return draw(key, "sms") < 970 ? SIM_DELIVERED : SIM_UNDELIVERED;
}

int sim_nps_score(const char *key)
{
    if (draw(key, "nps") >= 350)
        return -1;
    const int n = draw(key, "nps-score");
    if (n < 620)
        return 9 + n % 2;
    if (n < 620 + 209) /* 55 of the other 38 in 100 */
        return 7 + n % 2;
    return n % 7;
}

int sim_nps_link(const char *text, char *out, size_t out_size)
{
    const char *at = text ? strstr(text, "/nps/") : NULL;
    if (!at)
        return 0;
    const char *start = at;
    while (start > text && !isspace((unsigned char)start[-1]))
        start--;
    const char *end = at + 5;
    while (*end && !isspace((unsigned char)*end))
        end++;
    const size_t n = (size_t)(end - start);
    if (end == at + 5 || strncmp(start, "http", 4) != 0 || n >= out_size)
        return 0;
    memcpy(out, start, n);
    out[n] = '\0';
    return 1;
}

int sim_call_seconds(const char *key, enum sim_call answer)
{
    if (answer == SIM_NO_ANSWER || answer == SIM_BUSY)
        return 0;
    return 20 + draw(key, "seconds") % 11;
}

/* What each answer presses (NULL: nothing) and the outcome it makes. */
static const struct {
    const char *digit, *outcome;
} answers[] = {
    [SIM_NO_ANSWER] = {NULL, "no_answer"},  [SIM_BUSY] = {NULL, "busy"},
    [SIM_CONFIRM] = {"1", "confirmed"},     [SIM_DECLINE] = {"2", "declined"},
    [SIM_RESCHEDULE] = {"3", "reschedule"},
};

const char *sim_call_digit(enum sim_call answer)
{
    return (unsigned)answer < sizeof(answers) / sizeof(answers[0]) ? answers[answer].digit : NULL;
}

const char *sim_call_outcome(enum sim_call answer)
{
    return (unsigned)answer < sizeof(answers) / sizeof(answers[0]) ? answers[answer].outcome
                                                                   : "failed";
}
