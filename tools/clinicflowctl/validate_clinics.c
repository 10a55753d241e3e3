/*
 * The clinics of a network document: each one's id, name, address, time
 * zone, working hours by day, holidays, calling windows, languages, default
 * phone and allowed web origins; and the check that another section's
 * clinic_id names one of them (clinics are checked first for that).
 */
#include "validate_walk.h"

static const char *const days[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

static int check_working_hours(struct vctx *v, const char *path, const json_t *j_hours)
{
    const char *key;
    json_t *j_day;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_hours))
        return ctl_fail(v, path, "expected an object with members mon..sun");
    json_object_foreach((json_t *)j_hours, key, j_day)
    {
        ctl_path_key(child, path, key);
        if (!ctl_in_list(key, days))
            return ctl_fail(v, child,
                            "unknown day; expected one of mon, tue, wed, thu, fri, sat, sun");
        int rc = ctl_check_intervals(v, child, j_day);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int check_holidays(struct vctx *v, const char *path, const json_t *j_arr)
{
    char child[PATH_MAX_LEN];
    size_t i;
    json_t *j_item;
    if (!json_is_array(j_arr))
        return ctl_fail(v, path, "expected an array of dates \"YYYY-MM-DD\"");
    json_array_foreach(j_arr, i, j_item)
    {
        ctl_path_index(child, path, i);
        if (!json_is_string(j_item) || !ctl_parse_date(json_string_value(j_item)))
            return ctl_fail(v, child, "expected a date \"YYYY-MM-DD\"");
        for (size_t k = 0; k < i; k++) {
            if (json_equal(json_array_get(j_arr, k), j_item))
                return ctl_fail(v, child, "duplicate date");
        }
    }
    return 0;
}

int ctl_check_clinic(struct vctx *v, const char *path, const json_t *j_clinic)
{
    static const char *const allowed[] = {"id",
                                          "name",
                                          "address",
                                          "timezone",
                                          "working_hours",
                                          "holidays",
                                          "languages",
                                          "calling_windows",
                                          "default_phone",
                                          "cors_origins",
                                          "lead_response_due_s",
                                          "lead_merge_window_s",
                                          "lead_webhook",
                                          "reminder_policy",
                                          NULL};
    const char *id, *s;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc;

    if (!json_is_object(j_clinic))
        return ctl_fail(v, path, "expected an object");
    if ((rc = ctl_check_members(v, path, j_clinic, allowed)) != 0 ||
        (rc = ctl_slug_member(v, path, j_clinic, "id", 1, &id)) != 0)
        return rc;
    const struct seen_entry *dup = ctl_seen_find(&v->clinics, id);
    ctl_path_key(child, path, "id");
    if (dup)
        return ctl_fail(v, child, "duplicate clinic id \"%s\" (also at %s)", id, dup->path);
    ctl_seen_add(&v->clinics, id, path, 0, 0);
    if ((rc = ctl_string_member(v, path, j_clinic, "name", 1, 200, &s)) != 0 ||
        (rc = ctl_string_member(v, path, j_clinic, "address", 1, 500, &s)) != 0 ||
        (rc = ctl_tz_member(v, path, j_clinic, "timezone", 1)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_clinic, "working_hours", 1, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "working_hours");
    if ((rc = check_working_hours(v, child, j_val)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_clinic, "holidays", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "holidays");
    if (j_val && (rc = check_holidays(v, child, j_val)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_clinic, "calling_windows", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "calling_windows");
    if (j_val && (rc = ctl_check_intervals(v, child, j_val)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_clinic, "languages", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "languages");
    if (j_val && (rc = ctl_check_string_array(v, child, j_val, ctl_valid_language,
                                              "a language code like \"ru\"", 1)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_clinic, "default_phone", 1, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "default_phone");
    if ((rc = ctl_check_phone(v, child, j_val, &s)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_clinic, "cors_origins", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "cors_origins");
    if (j_val && (rc = ctl_check_string_array(v, child, j_val, ctl_valid_browser_origin,
                                              "an origin as browsers send it (lower case, no"
                                              " default port) like \"https://clinic.example\"",
                                              0)) != 0)
        return rc;
    /* the network's reminder_policies for this clinic, member by member */
    if ((rc = ctl_member(v, path, j_clinic, "reminder_policy", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "reminder_policy");
    if (j_val && (rc = ctl_check_reminder_policies(v, child, j_val)) != 0)
        return rc;
    return ctl_check_clinic_leads(v, path, j_clinic);
}

int ctl_check_clinic_ref(struct vctx *v, const char *path, const char *clinic_id)
{
    if (!ctl_seen_find(&v->clinics, clinic_id))
        return ctl_fail(v, path, "unknown clinic \"%s\"", clinic_id);
    return 0;
}
