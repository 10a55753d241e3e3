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

#endif
