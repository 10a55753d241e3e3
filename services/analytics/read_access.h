/*
 * Who may read analytics, and which clinics: a read (or admin) key given
 * as "Authorization: Bearer", or a dashboard session (session.c) signed in
 * with one. A key limited to some clinics reads only those: a request
 * that names no clinic gets the key's clinics, one that names another
 * clinic is refused (403).
 */
#ifndef CF_ANALYTICS_READ_ACCESS_H
#define CF_ANALYTICS_READ_ACCESS_H

#include <stdint.h>

#include "analytics.h"

struct an_reader {
    struct cf_netconf_snapshot *snap; /* held while the reader is */
    struct cf_key_grant grant;        /* points into snap */
    int64_t session_expires_s;        /* a session's end (Unix seconds); 0: a Bearer key */
};

/* 0 with *reader filled (release it); otherwise the refusal is answered
 * (401, 403 or 503) and nothing is held. */
int analytics_authorize_read(struct analytics_ctx *ctx, const struct _u_request *req,
                             struct _u_response *resp, struct an_reader *reader);
void analytics_reader_release(struct an_reader *reader);

/* Checks the clinics a request names (*clinics, a JSON array of ids or
 * NULL) against the reader's network (400 unknown_clinic) and grant (403
 * forbidden); a limited key naming none gets its own clinics in *clinics.
 * 0, or the error answered in resp. */
int analytics_check_clinics(const struct an_reader *reader, json_t **clinics,
                            struct _u_response *resp);

#endif
