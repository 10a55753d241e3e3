/*
 * Phone numbers to E.164, Russian-first (PROVIDERS.md section 10). The raw
 * value is always kept by callers; normalisation only adds the E.164 form.
 */
#ifndef CF_COMMON_PHONE_H
#define CF_COMMON_PHONE_H

#include <stddef.h>

enum cf_phone_kind {
    CF_PHONE_E164,      /* out holds "+<digits>" */
    CF_PHONE_EXTENSION, /* 2-5 digits: an internal extension; out holds the digits */
    CF_PHONE_ANONYMOUS, /* empty, anonymous, unknown, restricted, "s" */
    CF_PHONE_INVALID    /* anything else (SIP user names, garbage) */
};

#define CF_PHONE_MAX 17 /* "+" 15 digits NUL, rounded */

/* Normalizes raw (strips tel:/sip:/whatsapp:/client:, masks, 00, 8-trunk).
 * default_cc is the country code for national forms ("7"). out has
 * CF_PHONE_MAX bytes; it is set only for E164 and EXTENSION. */
enum cf_phone_kind cf_phone_normalize(const char *raw, const char *default_cc, char *out,
                                      size_t out_size);

/* The first phone number a person wrote in text (len bytes, UTF-8): '+'
 * and 10-15 digits, or with default_cc "7" the Russian forms 8/7 and ten
 * digits or ten from 9, with spaces, '-' and brackets between digits, not
 * run on from a word or another number (a date, an order number). Returns
 * 1 with its E.164 form in out (CF_PHONE_MAX bytes) and where it is
 * (*at, *match_len bytes), else 0 and "". */
int cf_phone_find(const char *text, size_t len, const char *default_cc, char *out, size_t out_size,
                  size_t *at, size_t *match_len);

#endif
