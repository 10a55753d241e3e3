/*
 * Twilio's request signature (X-Twilio-Signature), shared by every service
 * that takes Twilio webhooks (calls' voice callbacks, reminders' message,
 * call and gather callbacks).
 *
 * The signature is base64(HMAC-SHA1(auth token, URL + every POST parameter
 * as name+value, sorted by name, then by value)). The parameters are the
 * decoded fields of the raw body with repeated names kept (form.h): the
 * HTTP framework's parsed form keeps one value per name and Twilio signs
 * all of them. The helper libraries differ on a repeated name=value pair
 * (signed once, or as often as it came) and on the URL's port (Twilio
 * signs with or without an explicit :443/:80 depending on how the URL was
 * configured), so a request is valid under any of those forms.
 */
#ifndef CF_COMMON_TWILIO_SIG_H
#define CF_COMMON_TWILIO_SIG_H

#include <stddef.h>

#include "common/form.h"

/* base64 of a SHA-1 MAC, without the NUL */
#define CF_TWILIO_SIG_LEN 28

/* The signature of url and params (NULL or empty: none, as for a GET or a
 * JSON body) under auth_token into out. dedup nonzero signs a name=value
 * pair equal to the one sorted before it once. Values are taken up to their
 * first NUL byte. Pure and thread-safe. */
void cf_twilio_signature(const char *auth_token, const char *url, const struct cf_form *params,
                         int dedup, char out[CF_TWILIO_SIG_LEN + 1]);

/* 1 when signature_header is the signature of url (as given, or with its
 * port removed or the scheme's default port added) and params (every
 * decoded POST field, repeated names kept; NULL or empty when there are
 * none), with repeated pairs signed once or, when there are any, as often
 * as they came; 0 otherwise, and for a NULL or empty token or header.
 * Compared in constant time. Pure and thread-safe. */
int cf_twilio_signature_valid(const char *auth_token, const char *url, const struct cf_form *params,
                              const char *signature_header);

/* The whole check of one webhook request, as a route sees it: url is the
 * public URL Twilio called (scheme, host, port as configured, path and
 * query); body_sha256 the URL's bodySHA256 query parameter, or NULL. A
 * JSON-bodied webhook (body_sha256 set) is signed over the URL alone and
 * its body must hash to body_sha256; a form-encoded POST is signed over
 * its decoded fields; anything else (a GET) over the URL alone, and is
 * refused when it has a body (nothing would cover it). 0 when valid;
 * CF_EAUTH with the reason in errbuf (no token configured, no header,
 * malformed or unsigned body, wrong hash, wrong signature), never a
 * secret.
 * Pure and thread-safe. */
int cf_twilio_verify_request(const char *auth_token, const char *url, const char *method,
                             const char *content_type, const char *body, size_t body_len,
                             const char *body_sha256, const char *signature_header, char *errbuf,
                             size_t errbuf_size);

#endif
