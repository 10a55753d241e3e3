/*
 * The reminder policies of a network document: when reminders go out, how
 * often they are retried, when patients are recalled and asked for a score.
 */
#include "validate_walk.h"

/* The reminders service owns this object; only the members named here are
 * type-checked, others are kept as they are for it to interpret. */
int ctl_check_reminder_policies(struct vctx *v, const char *path, const json_t *j_pol)
{
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc;
    if (!json_is_object(j_pol))
        return ctl_fail(v, path, "expected an object");
    /* the planner keeps up to 8 reminders a visit (PLAN_OFFSETS_MAX) */
    const json_t *j_off = json_object_get(j_pol, "offsets_hours");
    if (json_is_array(j_off) && json_array_size(j_off) > 8) {
        ctl_path_key(child, path, "offsets_hours");
        return ctl_fail(v, child, "at most 8 reminders a visit");
    }
    if ((rc = ctl_int_array_member(v, path, j_pol, "offsets_hours", 1, 720, "whole hours")) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "retry_minutes", 1, 1440)) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "max_attempts", 0, 10)) != 0 ||
        (rc = ctl_int_array_member(v, path, j_pol, "recall_months", 1, 60, "months")) != 0 ||
        (rc = ctl_int_member(v, path, j_pol, "nps_delay_minutes", 0, 10080)) != 0)
        return rc;
    if ((j_val = json_object_get(j_pol, "sms_fallback")) && !json_is_boolean(j_val)) {
        ctl_path_key(child, path, "sms_fallback");
        return ctl_fail(v, child, "expected true or false");
    }
    return 0;
}
