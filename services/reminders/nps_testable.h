/*
 * The NPS survey as pure functions (nps_rules.c): its token, the page in
 * the patient's language, the answer read from the page's form or from an
 * SMS reply, and which pending question an SMS reply answers. No I/O;
 * unit-tested.
 */
#ifndef CF_REMINDERS_NPS_TESTABLE_H
#define CF_REMINDERS_NPS_TESTABLE_H

#include <stddef.h>

#include "common/form.h"

#define NPS_TOKEN_LEN 32
#define NPS_COMMENT_MAX 1000
/* A comment on the page: up to this many characters (its textarea's
 * maxlength, which a browser counts in characters, not bytes: a Russian
 * comment of 600 letters is 1200 bytes). */
#define NPS_PAGE_COMMENT_CHARS 1000

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
 * invalid pages post a form to their own address (a relative "<token>":
 * behind a proxy's path prefix too). A new string. */
char *nps_page(enum nps_page page, const char *language, const char *clinic_name,
               const char *token);

/* The page's form: "score" (0-10, required) and "comment" (optional, up to
 * NPS_PAGE_COMMENT_CHARS characters, leading blanks dropped; NULL when
 * empty, no NUL byte). 0, or CF_EINVAL with
 * *field the one at fault (an unknown field too). */
int nps_read_answer(const struct cf_form *form, int *score, const char **comment,
                    const char **field);

/* promoter (9-10), passive (7-8) or detractor (0-6). */
const char *nps_category(int score);

/* An answer by SMS: the score (0-10) first, blanks before it dropped; then
 * nothing, or a blank or an ASCII punctuation mark and a comment ("9
 * спасибо": 9 and "спасибо"); "/10" right after the score is its scale
 * ("9/10"). The comment, blanks and ASCII punctuation before it and blanks
 * after it dropped, cut to NPS_COMMENT_MAX bytes at a character boundary,
 * goes to comment ("" when none). 0, or CF_EINVAL when the text does not
 * start with a score ("11", "9.5", "9,5", "3D", "спасибо", ""). */
int nps_read_sms(const char *body, int *score, char comment[NPS_COMMENT_MAX + 1]);

/* What an SMS reply answers. */
enum nps_reply_target {
    NPS_REPLY_SEND,   /* the SMS it replies to, as a gateway reads it: a digit, a stop word */
    NPS_REPLY_SURVEY, /* the survey that SMS linked to: a score, in *score and comment */
};

/* Which pending question an SMS reply (body) from a phone answers: the one
 * the latest SMS sent to that phone asked, by its job's kind (latest_kind:
 * reminder, reinvite, recall, nps; NULL when none was sent lately). A stop
 * word (opt_out: the gateway read one) opts the number out whatever was
 * asked; a reply to a survey's SMS that reads as a score (nps_read_sms)
 * answers the survey, so "1" then is a score, not a confirmation; anything
 * else keeps its meaning for that SMS (1, 2, 3 for a reminder's, a
 * re-invite's or a recall's). Pure. */
enum nps_reply_target nps_reply_target(const char *latest_kind, int opt_out, const char *body,
                                       int *score, char comment[NPS_COMMENT_MAX + 1]);

/* The SMS that answers a reply to a survey, in language ("en", else
 * Russian): NPS_THANKS (answered now), NPS_ANSWERED (answered before:
 * single use), NPS_EXPIRED; NULL for any other page. Static. */
const char *nps_sms_text(enum nps_page page, const char *language);

#endif
