/*
 * The NPS survey as pure functions (nps_rules.c): its token, the page in
 * the patient's language, the answer read from the page's form. No I/O;
 * unit-tested.
 */
#ifndef CF_REMINDERS_NPS_TESTABLE_H
#define CF_REMINDERS_NPS_TESTABLE_H

#include <stddef.h>

#include "common/form.h"

#define NPS_TOKEN_LEN 32
#define NPS_COMMENT_MAX 1000

/* A survey's token: the first 16 bytes of HMAC-SHA256(the network's
 * secret, "nps" 0x1F job id) in hex: unguessable without the secret, the
 * same for the same job (a send made again links to the same survey). */
void nps_token(const char *network_secret, const char *job_id, char out[NPS_TOKEN_LEN + 1]);

/* 1 when s has a token's shape (32 lowercase hex digits). */
int nps_token_ok(const char *s);

/* What the page says. */
enum nps_page {
    NPS_ASK,      /* the question: 0-10 and a comment */
    NPS_THANKS,   /* answered now */
    NPS_ANSWERED, /* answered before: single use */
    NPS_EXPIRED,  /* too late */
    NPS_UNKNOWN,  /* no such survey */
    NPS_INVALID,  /* the question again, with "choose a score from 0 to 10" */
};

/* The page, a complete HTML document with no outside resources, in
 * language ("en", else Russian), naming the clinic (escaped); the ask and
 * invalid pages post a form to /nps/<token>. A new string. */
char *nps_page(enum nps_page page, const char *language, const char *clinic_name,
               const char *token);

/* The page's form: "score" (0-10, required) and "comment" (optional, up to
 * NPS_COMMENT_MAX bytes, leading blanks dropped; NULL when empty, no NUL
 * byte). 0, or CF_EINVAL with
 * *field the one at fault (an unknown field too). */
int nps_read_answer(const struct cf_form *form, int *score, const char **comment,
                    const char **field);

/* promoter (9-10), passive (7-8) or detractor (0-6). */
const char *nps_category(int score);

#endif
