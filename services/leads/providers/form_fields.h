/*
 * Form fields to a lead fact, for the adapters whose payload is a site
 * form's fields by the names the site gave them (tilda, cf7): the channel's
 * field_map (our field -> the form's field) names them, and what it does
 * not name is looked for under the provider's default names. Names match
 * without regard to case (Tilda's "Name" is a form's "name" elsewhere).
 *
 * Our fields: name, phone, email, comment (the fact's "text"), service,
 * clinic_id (or clinic), consent, form_id and the ad tags utm_source,
 * utm_medium, utm_campaign, utm_term, utm_content, gclid, yclid, fbclid,
 * ym_uid, client_id, referrer, page_url (the fact's "tags").
 */
#ifndef CF_LEADS_PROVIDERS_FORM_FIELDS_H
#define CF_LEADS_PROVIDERS_FORM_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/hook.h"

/* A provider's default names: rows {our field, the form's field}; several
 * rows may name one field of ours (the first present wins). */
struct leads_form_default {
    const char *ours;
    const char *theirs;
};

/* The value of the form's field `name` (case-insensitive) in j_fields as a
 * new string, or NULL when absent or empty after trimming: a string as is,
 * a number in decimal, an array of strings (checkboxes) joined with ", ". */
char *leads_form_value(const json_t *j_fields, const char *name);

/* Sets on j_fact every member of ours the form has (name, phone, email,
 * text, service, clinic_id, consent, form_id, tags), each from the field
 * the channel's field_map names, else from defaults (n rows). Members the
 * form lacks are left out. */
void leads_form_apply(json_t *j_fact, const json_t *j_fields, const json_t *j_channel,
                      const struct leads_form_default *defaults, size_t n);

/* The value of cookie `name` in a raw Cookie string ("a=1; _ym_uid=2"), as
 * a new string, or NULL. */
char *leads_cookie_value(const char *cookies, const char *name);

/* 1 when the fact has a way to reach the person: a phone (one that does
 * not parse is kept raw) or an e-mail that looks like an address
 * (cf_validate_email: "asdf" reaches nobody). A name alone is nobody the
 * clinic can answer. */
int leads_fact_has_contact(const json_t *j_fact);

/* Why a fact without a contact (leads_fact_has_contact 0) is refused:
 * "email" with errbuf saying so when it gave an e-mail that is not one,
 * else "phone" (it gave neither). */
const char *leads_fact_no_contact(const json_t *j_fact, char *errbuf, size_t errbuf_size);

/* The request's fields as a new object: a JSON object body (content type
 * application/json, or a body that starts with '{' when no form was
 * decoded), else the decoded form body, else a GET's query. NULL when the
 * body is JSON but not an object. */
json_t *leads_form_fields(const struct cf_hook *h);

/* 1 when the channel names a honeypot field and the form filled it in (a
 * bot): the request is then acknowledged and gives no fact. */
int leads_form_honeypot(const struct cf_hook *h, const json_t *j_fields);

/* How long a sender that gives its submissions no id may take to resend
 * one: such a submission's event key is its content and the ten minutes it
 * arrived in, so a resend within them is the same event, and the same form
 * sent again another day is a new one (the applied ids are kept for weeks).
 * A resend that crosses the ten minutes' end is a second request, which
 * merges into the first one's lead. */
#define LEADS_FORM_RESEND_MS 600000

/* The LEADS_FORM_RESEND_MS period of received_ms as the digests take it,
 * 0x1F and its number, into out: its length. */
int leads_form_period(int64_t received_ms, char out[32]);

/* The lowercase hex SHA-256 of the fields as compact JSON with sorted keys
 * and the LEADS_FORM_RESEND_MS period of received_ms: the event key of a
 * form whose sender gives it no id, the same for a resent submission. */
void leads_form_digest(const json_t *j_fields, int64_t received_ms, char out[65]);

/* A new request fact of the form: its event_key (the digest of the fields
 * when NULL), the time the request came and every field of ours the form
 * has (leads_form_apply with defaults, n rows). */
json_t *leads_form_fact(const struct cf_hook *h, const json_t *j_fields, const char *event_key,
                        const struct leads_form_default *defaults, size_t n);

/* Appends j_fact to facts when it has a contact (leads_fact_has_contact):
 * 0. Else CF_EINVAL, *field_out and errbuf say why (leads_fact_no_contact):
 * a form that gives no way to reach the person is bad input, not a lead. */
int leads_form_emit(json_t *facts, json_t *j_fact, const char **field_out, char *errbuf,
                    size_t errbuf_size);

#endif
