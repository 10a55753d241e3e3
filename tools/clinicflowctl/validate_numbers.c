/*
 * The numbers of a network document outside its channels: tracking numbers
 * (a number tied to an ad source for a period; one number's periods must not
 * overlap), the pools numbers are handed out from (a pool number is in no
 * other pool and not tracked), and the blocklist.
 */
#include "validate_walk.h"

#include <string.h>

#include "validate.h"

int ctl_check_tracking_number(struct vctx *v, const char *path, const json_t *j_tn)
{
    static const char *const allowed[] = {"number",   "clinic_id",  "source",   "medium",
                                          "campaign", "valid_from", "valid_to", NULL};
    const char *number, *s;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc, from, to = 99991231;

    if (!json_is_object(j_tn))
        return ctl_fail(v, path, "expected an object");
    if ((rc = ctl_check_members(v, path, j_tn, allowed)) != 0 ||
        (rc = ctl_member(v, path, j_tn, "number", 1, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "number");
    if ((rc = ctl_check_phone(v, child, j_val, &number)) != 0)
        return rc;
    if ((rc = ctl_string_member(v, path, j_tn, "clinic_id", 1, 64, &s)) != 0)
        return rc;
    ctl_path_key(child, path, "clinic_id");
    if ((rc = ctl_check_clinic_ref(v, child, s)) != 0)
        return rc;
    if ((rc = ctl_string_member(v, path, j_tn, "source", 1, 100, &s)) != 0 ||
        (rc = ctl_string_member(v, path, j_tn, "medium", 0, 100, &s)) != 0 ||
        (rc = ctl_string_member(v, path, j_tn, "campaign", 0, 200, &s)) != 0 ||
        (rc = ctl_string_member(v, path, j_tn, "valid_from", 1, 64, &s)) != 0)
        return rc;
    ctl_path_key(child, path, "valid_from");
    if (!(from = ctl_parse_date(s)))
        return ctl_fail(v, child, "expected a date \"YYYY-MM-DD\"");
    if ((rc = ctl_member(v, path, j_tn, "valid_to", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "valid_to");
    if (j_val) {
        if (!json_is_string(j_val) || !(to = ctl_parse_date(json_string_value(j_val))))
            return ctl_fail(v, child, "expected a date \"YYYY-MM-DD\"");
        if (to < from)
            return ctl_fail(v, child, "must not be before valid_from");
    }
    for (size_t i = 0; i < v->tracking.n; i++) {
        const struct seen_entry *e = &v->tracking.v[i];
        if (number && strcmp(e->key, number) == 0 && from <= e->to && e->from <= to) {
            ctl_path_key(child, path, "number");
            return ctl_fail(v, child, "%s is already tracked for an overlapping period at %s",
                            number, e->path);
        }
    }
    ctl_seen_add(&v->tracking, number, path, from, to);
    return 0;
}

int ctl_check_pool(struct vctx *v, const char *path, const json_t *j_pool)
{
    static const char *const allowed[] = {"id", "clinic_id", "numbers", "hold_seconds", NULL};
    const char *id, *s;
    json_t *j_val, *j_num;
    char child[PATH_MAX_LEN], num_path[PATH_MAX_LEN];
    size_t i;
    int rc;

    if (!json_is_object(j_pool))
        return ctl_fail(v, path, "expected an object");
    if ((rc = ctl_check_members(v, path, j_pool, allowed)) != 0 ||
        (rc = ctl_slug_member(v, path, j_pool, "id", 1, &id)) != 0)
        return rc;
    const struct seen_entry *dup = ctl_seen_find(&v->pool_ids, id);
    ctl_path_key(child, path, "id");
    if (dup)
        return ctl_fail(v, child, "duplicate pool id \"%s\" (also at %s)", id, dup->path);
    ctl_seen_add(&v->pool_ids, id, path, 0, 0);
    if ((rc = ctl_string_member(v, path, j_pool, "clinic_id", 1, 64, &s)) != 0)
        return rc;
    ctl_path_key(child, path, "clinic_id");
    if ((rc = ctl_check_clinic_ref(v, child, s)) != 0)
        return rc;
    /* the DNI route hands out the first pool of a clinic, never a second */
    if ((dup = ctl_seen_find(&v->pool_clinics, s)))
        return ctl_fail(v, child, "clinic \"%s\" has a pool already (at %s): one a clinic", s,
                        dup->path);
    ctl_seen_add(&v->pool_clinics, s, path, 0, 0);

    if ((rc = ctl_member(v, path, j_pool, "numbers", 1, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "numbers");
    if (!json_is_array(j_val) || json_array_size(j_val) == 0)
        return ctl_fail(v, child, "expected a non-empty array of phone numbers");
    json_array_foreach(j_val, i, j_num)
    {
        const char *number;
        ctl_path_index(num_path, child, i);
        if ((rc = ctl_check_phone(v, num_path, j_num, &number)) != 0)
            return rc;
        const struct seen_entry *used = ctl_seen_find(&v->pool_nums, number);
        if (!used)
            used = ctl_seen_find(&v->tracking, number);
        if (used)
            return ctl_fail(v, num_path, "%s is already used at %s", number, used->path);
        ctl_seen_add(&v->pool_nums, number, num_path, 0, 0);
    }

    if ((rc = ctl_member(v, path, j_pool, "hold_seconds", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "hold_seconds");
    if (j_val && (!json_is_integer(j_val) || json_integer_value(j_val) < CTL_MIN_HOLD_SECONDS ||
                  json_integer_value(j_val) > CTL_MAX_HOLD_SECONDS))
        return ctl_fail(v, child, "expected an integer from %d to %d", CTL_MIN_HOLD_SECONDS,
                        CTL_MAX_HOLD_SECONDS);
    return 0;
}

int ctl_check_blocklist(struct vctx *v, const char *path, const json_t *j_arr)
{
    char child[PATH_MAX_LEN];
    size_t i;
    json_t *j_num;
    if (!json_is_array(j_arr))
        return ctl_fail(v, path, "expected an array of phone numbers");
    json_array_foreach(j_arr, i, j_num)
    {
        const char *number;
        int rc;
        ctl_path_index(child, path, i);
        if ((rc = ctl_check_phone(v, child, j_num, &number)) != 0)
            return rc;
        const struct seen_entry *dup = ctl_seen_find(&v->blocked, number);
        if (dup)
            return ctl_fail(v, child, "duplicate number (also at %s)", dup->path);
        ctl_seen_add(&v->blocked, number, child, 0, 0);
    }
    return 0;
}
