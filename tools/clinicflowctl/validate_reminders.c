/*
 * The reminder policies of a network document (the network's
 * reminder_policies, a clinic's reminder_policy over them): when reminders
 * go out, how often an unanswered call is retried, what the robot says and
 * the SMS carries, what an SMS costs, when patients are recalled (per
 * service category) and asked for a score, how fast campaign contacts go
 * to the front desk. Templates are checked with the reminders service's own
 * renderer (message_testable.h), so a placeholder it would not fill is
 * refused here rather than read out to a patient.
 */
#include "validate_walk.h"

#include <string.h>

#include "common/err.h"
#include "common/validate.h"
#include "message_testable.h"

/* The template languages and channels msg_template_pick knows. */
static const char *const template_languages[] = {"ru", "en", NULL};
static const char *const template_channels[] = {"call", "sms", "reinvite", "nps", "recall", NULL};

/* templates: {"ru": {"call": "...", "sms": "..."}, "en": {...}} */
static int check_templates(struct vctx *v, const char *path, const json_t *j_templates)
{
    const char *lang;
    json_t *j_lang;
    char lang_path[PATH_MAX_LEN], child[PATH_MAX_LEN], list[64], errbuf[160];
    int rc;
    if (!json_is_object(j_templates))
        return ctl_fail(v, path, "expected an object of languages");
    json_object_foreach((json_t *)j_templates, lang, j_lang)
    {
        ctl_path_key(lang_path, path, lang);
        if (!ctl_in_list(lang, template_languages)) {
            ctl_join_list(list, sizeof(list), template_languages);
            return ctl_fail(v, lang_path, "unknown language; expected one of %s", list);
        }
        if (!json_is_object(j_lang))
            return ctl_fail(
                v, lang_path,
                "expected an object of \"call\", \"sms\", \"reinvite\", \"nps\", \"recall\"");
        if ((rc = ctl_check_members(v, lang_path, j_lang, template_channels)) != 0)
            return rc;
        for (size_t i = 0; template_channels[i]; i++) {
            const char *tmpl;
            if ((rc = ctl_string_member(v, lang_path, j_lang, template_channels[i], 0, MSG_TEXT_MAX,
                                        &tmpl)) != 0)
                return rc;
            ctl_path_key(child, lang_path, template_channels[i]);
            if (tmpl && msg_template_check(tmpl, errbuf, sizeof(errbuf)) != 0)
                return ctl_fail(v, child,
                                "%s; expected {first_name}, {doctor}, {date}, {time}, "
                                "{clinic}, {address} or {link}",
                                errbuf);
            /* a survey's SMS is its page's link: without it no answer comes */
            if (tmpl && strcmp(template_channels[i], "nps") == 0 && !strstr(tmpl, "{link}"))
                return ctl_fail(v, child, "a survey's SMS needs {link}, its page");
        }
    }
    return 0;
}

/* An appointment's service_category is 1-64 characters (mis_rules.c); a
 * category no appointment can carry would never match. */
#define CATEGORY_MAX_CHARS 64
#define CATEGORIES_MAX 64

/* recall_months_by_category: {"hygiene": 6, "implants": 12} */
static int check_recall_categories(struct vctx *v, const char *path, const json_t *j_map)
{
    const char *category;
    json_t *j_months;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_map))
        return ctl_fail(v, path, "expected an object of service categories and months");
    if (json_object_size(j_map) > CATEGORIES_MAX)
        return ctl_fail(v, path, "at most %d categories", CATEGORIES_MAX);
    json_object_foreach((json_t *)j_map, category, j_months)
    {
        ctl_path_key(child, path, category);
        const size_t chars = cf_validate_utf8_chars(category, strlen(category));
        if (chars == 0 || chars > CATEGORY_MAX_CHARS)
            return ctl_fail(v, child,
                            "a service category is 1-%d characters, as appointments carry it",
                            CATEGORY_MAX_CHARS);
        if (!json_is_integer(j_months) || json_integer_value(j_months) < 1 ||
            json_integer_value(j_months) > 60)
            return ctl_fail(v, child, "expected months from 1 to 60");
    }
    return 0;
}

static int valid_currency(const char *s)
{
    if (strlen(s) != 3)
        return 0;
    for (const char *p = s; *p; p++)
        if (*p < 'A' || *p > 'Z')
            return 0;
    return 1;
}

/* The reminders service owns this object; only the members named here are
 * type-checked, others are kept as they are for it to interpret. */
int ctl_check_reminder_policies(struct vctx *v, const char *path, const json_t *j_pol)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    const char *currency;
    int rc;
    if (!json_is_object(j_pol))
        return ctl_fail(v, path, "expected an object");
    /* a member renamed: kept as an unknown one, it would be read by nobody,
     * and the robot would call as often as the default says */
    if (json_object_get(j_pol, "max_attempts")) {
        ctl_path_key(child, path, "max_attempts");
        return ctl_fail(v, child,
                        "renamed call_retries (the calls after the first one: max_attempts - 1)");
    }
    /* the planner keeps up to 8 reminders a visit (PLAN_OFFSETS_MAX) */
    const json_t *j_off = json_object_get(j_pol, "offsets_hours");
    if (json_is_array(j_off) && json_array_size(j_off) > 8) {
        ctl_path_key(child, path, "offsets_hours");
        return ctl_fail(v, child, "at most 8 reminders a visit");
    }
    size_t i, k;
    json_t *j_h;
    json_array_foreach(json_is_array(j_off) ? j_off : NULL, i, j_h)
    {
        for (k = 0; k < i; k++)
            if (json_is_integer(j_h) && json_equal(j_h, json_array_get(j_off, k))) {
                ctl_path_key(child, path, "offsets_hours");
                return ctl_fail(v, child, "an offset listed twice (each reminder once)");
            }
    }
    if ((rc = ctl_int_array_member(v, path, j_pol, "offsets_hours", 1, 720, "whole hours")) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "retry_minutes", 1, 1440)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "call_retries", 0, 10)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "duplicate_hours", 0, 168)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "reinvite_after_hours", 0, 720)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "holdout_percent", 0, 50)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "recall_again_days", 1, 365)) != 0 ||
        (rc = ctl_int_array_member(v, path, j_pol, "recall_months", 1, 60, "months")) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "nps_delay_minutes", 0, 10080)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "seats", 1, 100)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "tasks_per_seat_hour", 1, 60)) != 0)
        return rc;
    if ((j_val = json_object_get(j_pol, "recall_months_by_category"))) {
        ctl_path_key(child, path, "recall_months_by_category");
        if ((rc = check_recall_categories(v, child, j_val)) != 0)
            return rc;
    }
    static const char *const flags[] = {"sms_fallback", "reinvite", "nps", "recall"};
    for (size_t f = 0; f < 4; f++) {
        if ((j_val = json_object_get(j_pol, flags[f])) && !json_is_boolean(j_val)) {
            ctl_path_key(child, path, flags[f]);
            return ctl_fail(v, child, "expected true or false");
        }
    }
    if ((j_val = json_object_get(j_pol, "sms_price_per_segment")) &&
        (!json_is_number(j_val) || json_number_value(j_val) < 0)) {
        ctl_path_key(child, path, "sms_price_per_segment");
        return ctl_fail(v, child,
                        "expected a number of at least 0 (a segment's price in the "
                        "currency)");
    }
    if ((rc = ctl_string_member(v, path, j_pol, "currency", 0, 16, &currency)) != 0)
        return rc;
    if (currency && !valid_currency(currency)) {
        ctl_path_key(child, path, "currency");
        return ctl_fail(v, child, "expected an ISO 4217 code of 3 capital letters like \"RUB\"");
    }
    if ((j_val = json_object_get(j_pol, "templates"))) {
        ctl_path_key(child, path, "templates");
        if ((rc = check_templates(v, child, j_val)) != 0)
            return rc;
    }
    return 0;
}
