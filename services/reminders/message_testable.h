/*
 * Reminder messages as pure functions (message_rules.c): the text a robot
 * says and an SMS carries, rendered from a template in the clinic's own
 * zone; how many SMS segments a text takes and what they cost; which
 * template a clinic uses. No I/O; unit-tested, and linked by clinicflowctl
 * to check the templates a network file gives.
 */
#ifndef CF_REMINDERS_MESSAGE_TESTABLE_H
#define CF_REMINDERS_MESSAGE_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The longest text we render or accept as a template, in bytes: about
 * seven SMS segments of Cyrillic, and more than a robot should say. */
#define MSG_TEXT_MAX 1000

/* --- SMS segments --------------------------------------------------- */

enum msg_encoding { MSG_GSM7, MSG_UCS2 };

struct msg_segments {
    enum msg_encoding encoding;
    size_t units;    /* GSM-7 septets, or UCS-2 (UTF-16) code units */
    size_t segments; /* 0 for an empty text */
};

/* Counts utf8 (NUL-terminated) as an SMS would carry it. units: GSM-7
 * septets when every character is in the GSM 03.38 default alphabet or
 * its extension table (a basic character counts 1; ^ { } \ [ ~ ] | euro
 * sign and form feed count 2, an escape and the character); else UCS-2
 * code units (a character outside the BMP, most emoji, counts 2).
 * segments: 0 for an empty text, 1 up to 160 septets / 70 units, else
 * ceil(units / 153) / ceil(units / 67) (the user data header takes the
 * rest), except that an extension character's escape pair is never split:
 * when one septet is left in a segment it moves to the next. Invalid
 * UTF-8 makes the text UCS-2, each bad byte one unit. */
void msg_sms_segments(const char *utf8, struct msg_segments *out);

/* A message's cost in minor units (kopecks, cents): segments *
 * price_per_segment * 100, rounded to the nearest (halves away from
 * zero); a price is written in decimal, so 1.005 is read as 1.005. */
int64_t msg_sms_cost_minor(size_t segments, double price_per_segment);

/* --- templates ------------------------------------------------------ */

/* What a template's placeholders are replaced with: {first_name},
 * {doctor}, {clinic}, {address} as they are (NULL or "" renders empty);
 * {date} and {time} from visit_ms read in zone tz. */
struct msg_values {
    const char *first_name, *doctor, *clinic, *address; /* NULL or "" renders empty */
    const char *tz;                                     /* clinic's IANA zone */
    int64_t visit_ms;                                   /* visit start, Unix ms */
    const char *language;                               /* "ru" or "en": date format */
    const char *link;                                   /* {link}: a survey's page, or NULL */
};

/* Renders tmpl (NUL-terminated) with v: each placeholder replaced; {date}
 * "05.12" (DD.MM) or, for language "en", "Dec 5"; {time} "14:30" (24 h)
 * for both; both in the clinic's zone through cf_time_to_local, so the
 * process's TZ is never touched and any thread may call this. An unknown
 * zone renders {date} and {time} empty (clinicflowctl refuses one). A '{'
 * that does not start a known placeholder is kept as it is. Returns a new
 * string (free it), cut to at most MSG_TEXT_MAX bytes at a UTF-8
 * character boundary. */
char *msg_render(const char *tmpl, const struct msg_values *v);

/* 0 when every placeholder in tmpl is one msg_render knows, else
 * CF_EINVAL with "unknown placeholder {foo}" in errbuf. A placeholder is
 * '{', one or more of A-Z a-z 0-9 _, and '}'; any other '{' is text. */
int msg_template_check(const char *tmpl, char *errbuf, size_t errbuf_size);

/* The template for language ("ru" or "en"; anything else, NULL too, is
 * "ru") and channel ("call": what the robot says; "sms"; "reinvite": the
 * SMS that asks a patient who missed a visit to book again; "nps": the
 * survey's SMS with its {link}; "recall": a patient not seen for a
 * while asked back): the clinic's
 * reminder_policy (j_clinic_policy, the policy object itself, may be NULL)
 * templates.<lang>.<channel>, over the network's reminder_policies
 * (j_network_policies, may be NULL) templates.<lang>.<channel>, over the
 * built-in defaults. replies 0: the channel's gateway brings no answer
 * back (gateway_takes_replies), and the built-in SMS, re-invite and
 * recall texts ask the patient to call instead of to reply (a clinic's or
 * network's own template is used as written). Borrowed: from the JSON
 * given (valid while it lives) or static. NULL only for an unknown
 * channel. */
const char *msg_template_pick(const json_t *j_network_policies, const json_t *j_clinic_policy,
                              const char *language, const char *channel, int replies);

#endif
