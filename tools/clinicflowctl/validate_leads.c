/*
 * What a network document may say for clinicflow-leads: on a form channel
 * its field map (our field names only) and honeypot field, on a Telegram
 * channel the bot's username (for t.me links); on a clinic its lead
 * response due time, merge window and outgoing lead webhook. The bounds
 * are those of the service's own CLINICFLOW_LEADS_* defaults (settings.c),
 * which these values override per clinic.
 */
#include "validate_walk.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The lead fields a form's field map may fill, as each adapter reads them:
 * our own form (providers/generic.c) and the Tilda and Contact Form 7 ones
 * (providers/form_fields.c). JivoChat's body is its own and takes no map. */
static const char *const generic_fields[] = {
    "name",        "phone",    "email",        "comment",    "service",      "clinic",
    "code",        "consent",  "utm_source",   "utm_medium", "utm_campaign", "utm_term",
    "utm_content", "gclid",    "yclid",        "fbclid",     "ym_uid",       "client_id",
    "referrer",    "page_url", "submitted_at", NULL};
static const char *const form_fields[] = {
    "name",      "phone",       "email",    "comment",    "service",    "clinic_id",
    "clinic",    "consent",     "form_id",  "utm_source", "utm_medium", "utm_campaign",
    "utm_term",  "utm_content", "gclid",    "yclid",      "fbclid",     "ym_uid",
    "client_id", "referrer",    "page_url", NULL};

/* The form fields an adapter reads when the channel's map names none, and
 * those it reads for itself (a token or API key, Tilda's ids and test
 * request, a form's own event id), as providers/generic.c, tilda.c and
 * cf7.c read them: a honeypot named so would be filled in by every person,
 * and every lead dropped as a bot's. */
static const char *const read_by_adapters[] = {
    /* generic: our own names (generic_fields), and these */
    "_ym_uid", "token", "event_id", "request_id",
    /* tilda */
    "Name", "Phone", "Email", "Comment", "Textarea", "formid", "tranid", "test", "referer",
    "api_key", "apikey", "COOKIES",
    /* cf7 */
    "your-name", "your-email", "your-phone", "tel", "your-message", "your-service", "acceptance",
    NULL};

/* 1 when name is (in any case: Tilda and Contact Form 7 match field names
 * so) one of list's. */
static int listed_nocase(const char *const *list, const char *name)
{
    for (; *list; list++) {
        if (strcasecmp(*list, name) == 0)
            return 1;
    }
    return 0;
}

/* A form's own field name: 1-128 printable characters, no spaces. */
static int valid_form_field(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f)
            return 0;
    }
    return 1;
}

static int check_field_map(struct vctx *v, const char *path, const json_t *j_map,
                           const char *const *lead_fields)
{
    const char *key;
    json_t *j_field;
    char names[512];
    if (!json_is_object(j_map))
        return ctl_fail(v, path, "expected an object of strings");
    json_object_foreach((json_t *)j_map, key, j_field)
    {
        char child[PATH_MAX_LEN];
        ctl_path_key(child, path, key);
        if (!ctl_in_list(key, lead_fields)) {
            ctl_join_list(names, sizeof(names), lead_fields);
            return ctl_fail(v, child, "unknown lead field; expected one of %s", names);
        }
        if (!json_is_string(j_field) || !valid_form_field(json_string_value(j_field)))
            return ctl_fail(v, child,
                            "expected the form's field name: 1-128 characters, no spaces");
    }
    return 0;
}

/* A Telegram bot's username: 5-32 of A-Z a-z 0-9 _, ending in "bot". */
static int valid_bot_username(const char *s)
{
    size_t n = strlen(s);
    if (n < 5 || n > 32 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != n)
        return 0;
    return strcasecmp(s + n - 3, "bot") == 0;
}

int ctl_check_lead_channel(struct vctx *v, const char *path, const json_t *j_ch, const char *kind,
                           const char *provider)
{
    const char *honeypot, *bot;
    json_t *j_map;
    char child[PATH_MAX_LEN];
    int rc;

    /* Forms of our own, Tilda's and Contact Form 7's map and drop bots. */
    const int mapped = strcmp(kind, "form") == 0 && strcmp(provider, "jivo") != 0;
    j_map = json_object_get(j_ch, "field_map");
    ctl_path_key(child, path, "field_map");
    if (j_map && strcmp(kind, "telephony") != 0 && !mapped)
        return ctl_fail(v, child,
                        "only generic, tilda, cf7 and telephony channels have a field map");
    if (j_map && mapped &&
        (rc = check_field_map(v, child, j_map,
                              strcmp(provider, "generic") == 0 ? generic_fields : form_fields)) !=
            0)
        return rc;

    if ((rc = ctl_string_member(v, path, j_ch, "honeypot", 0, 128, &honeypot)) != 0)
        return rc;
    ctl_path_key(child, path, "honeypot");
    if (honeypot && strcmp(kind, "form") != 0)
        return ctl_fail(v, child, "only form channels have a honeypot field");
    if (honeypot && !mapped)
        return ctl_fail(v, child, "only generic, tilda and cf7 forms have a honeypot field");
    if (honeypot && !valid_form_field(honeypot))
        return ctl_fail(v, child, "expected the form's field name: 1-128 characters, no spaces");
    if (honeypot && j_map) {
        const char *key;
        json_t *j_field;
        json_object_foreach(j_map, key, j_field)
        {
            if (strcasecmp(json_string_value(j_field), honeypot) == 0)
                return ctl_fail(v, child,
                                "\"%s\" is the form's field for %s; a honeypot is a "
                                "field people leave empty",
                                honeypot, key);
        }
    }
    if (honeypot &&
        (listed_nocase(generic_fields, honeypot) || listed_nocase(form_fields, honeypot) ||
         listed_nocase(read_by_adapters, honeypot)))
        return ctl_fail(v, child,
                        "\"%s\" is a field the %s adapter reads; a honeypot is a field people "
                        "leave empty, under a name no form uses (\"website\", \"fax\")",
                        honeypot, provider);

    if ((rc = ctl_string_member(v, path, j_ch, "bot_username", 0, 64, &bot)) != 0)
        return rc;
    ctl_path_key(child, path, "bot_username");
    if (bot && strcmp(provider, "telegram") != 0)
        return ctl_fail(v, child, "only telegram channels have a bot username");
    if (bot && !valid_bot_username(bot))
        return ctl_fail(v, child,
                        "expected a bot's username without the @: 5-32 of A-Z, a-z, "
                        "0-9 and _, ending in \"bot\"");
    return 0;
}

static int check_lead_webhook(struct vctx *v, const char *path, const json_t *j_hook)
{
    static const char *const allowed[] = {"url", "secret", NULL};
    const char *url, *secret;
    char child[PATH_MAX_LEN];
    int rc;
    if (!json_is_object(j_hook))
        return ctl_fail(v, path, "expected an object with members url and secret");
    if ((rc = ctl_check_members(v, path, j_hook, allowed)) != 0 ||
        (rc = ctl_string_member(v, path, j_hook, "url", 1, 2048, &url)) != 0)
        return rc;
    ctl_path_key(child, path, "url");
    if (!ctl_valid_http_url(url))
        return ctl_fail(v, child,
                        "expected an http or https URL like "
                        "\"https://crm.example/hooks/leads\" (no user:password@, no #fragment)");
    if ((rc = ctl_string_member(v, path, j_hook, "secret", 1, 256, &secret)) != 0)
        return rc;
    ctl_path_key(child, path, "secret");
    if (json_string_length(json_object_get(j_hook, "secret")) < 16)
        return ctl_fail(v, child, "must be at least 16 characters");
    return 0;
}

int ctl_check_clinic_leads(struct vctx *v, const char *path, const json_t *j_clinic)
{
    json_t *j_hook;
    char child[PATH_MAX_LEN];
    int rc;
    /* The ranges of CLINICFLOW_LEADS_RESPONSE_DUE_S and _MERGE_WINDOW_S. */
    if ((rc = ctl_int_member(v, path, j_clinic, "lead_response_due_s", 1, 604800)) != 0 ||
        (rc = ctl_int_member(v, path, j_clinic, "lead_merge_window_s", 0, 31536000)) != 0 ||
        (rc = ctl_member(v, path, j_clinic, "lead_webhook", 0, &j_hook)) != 0)
        return rc;
    ctl_path_key(child, path, "lead_webhook");
    if (j_hook && (rc = check_lead_webhook(v, child, j_hook)) != 0)
        return rc;
    return 0;
}
