/*
 * The pure parts of the outgoing webhook's sender (notify_send.c): the
 * signature and the retry schedule. Included by the defining file and by
 * its unit test, so both see one declaration: static in normal builds,
 * external in unit tests (common/testable.h).
 */
#ifndef CF_LEADS_NOTIFY_TESTABLE_H
#define CF_LEADS_NOTIFY_TESTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/testable.h"

/* "v1=" and 64 lowercase hex digits. */
#define LEADS_NOTIFY_SIG_LEN (3 + 64)
/* Retries are never spaced further apart than this. */
#define LEADS_NOTIFY_BACKOFF_CAP_MS 3600000L

/* The X-Clinicflow-Signature value of one attempt: "v1=" and the lowercase
 * hex HMAC-SHA256, keyed with the secret, of the decimal timestamp (unix
 * seconds, as in X-Clinicflow-Timestamp), a '.', and the body's bytes. */
CF_TESTABLE void leads_notify_sign(const char *secret, int64_t timestamp_s, const char *body,
                                   size_t len, char out[LEADS_NOTIFY_SIG_LEN + 1]);

/* The delay before the next attempt after failed_attempts (>= 1) attempts
 * failed in a row: first_ms, doubling with each failure, at most
 * LEADS_NOTIFY_BACKOFF_CAP_MS. */
CF_TESTABLE long leads_notify_backoff_ms(long first_ms, long failed_attempts);

/* The receiver a webhook url sends to, as sends in flight are counted
 * (notify_send.c: a receiver that stops answering holds two at most,
 * however many clinics name it): the url's scheme and authority
 * ("https://crm.example:8443"), lowercase, without a user's name or
 * password or the scheme's own port (443, 80), into out (cut to
 * out_size). */
CF_TESTABLE void leads_notify_receiver(const char *url, char *out, size_t out_size);

enum leads_notify_next {
    LEADS_NOTIFY_DONE,    /* delivered: the receiver answered 2xx */
    LEADS_NOTIFY_RETRY,   /* failed: try again after *delay_ms */
    LEADS_NOTIFY_GIVE_UP, /* failed max_attempts times: stop (counted) */
};

/* What follows attempt number `attempts` (1 for the first) that got HTTP
 * status `status` (0: no answer: timeout, refused, too big an answer):
 * 2xx is delivered; anything else is retried after the backoff until
 * max_attempts attempts were made. *delay_ms is set for a retry. */
CF_TESTABLE enum leads_notify_next leads_notify_after(long status, long attempts, long max_attempts,
                                                      long first_ms, long *delay_ms);

#endif
