/*
 * Who answers calls, in a network document: the agents (as a provider
 * reports who answered) and the staff numbers calls are forwarded to, each
 * in a group, call centre or reception, and at most once per clinic.
 */
#include "validate_walk.h"

#include <stdio.h>

static const char *const agent_groups[] = {"call_center", "reception", NULL};

/* The members an agents or staff_numbers entry shares: group (required),
 * name, clinic_id; and the entry's duplicate key (what, clinic) in seen. */
static int check_agent_common(struct vctx *v, const char *path, const json_t *j_e,
                              struct seen *seen, const char *what, const char *dup_what)
{
    const char *group, *name, *clinic_id;
    char child[PATH_MAX_LEN], key[512];
    int rc;

    if ((rc = ctl_string_member(v, path, j_e, "group", 1, 32, &group)) != 0)
        return rc;
    ctl_path_key(child, path, "group");
    if (!ctl_in_list(group, agent_groups))
        return ctl_fail(v, child, "unknown group \"%s\"; expected one of call_center, reception",
                        group);
    if ((rc = ctl_string_member(v, path, j_e, "name", 0, 200, &name)) != 0 ||
        (rc = ctl_string_member(v, path, j_e, "clinic_id", 0, 64, &clinic_id)) != 0)
        return rc;
    ctl_path_key(child, path, "clinic_id");
    if (clinic_id && (rc = ctl_check_clinic_ref(v, child, clinic_id)) != 0)
        return rc;
    snprintf(key, sizeof(key), "%s%c%s", what, '\x1f', clinic_id ? clinic_id : "");
    const struct seen_entry *dup = ctl_seen_find(seen, key);
    if (dup)
        return ctl_fail(v, path, "duplicate %s%s%s (also at %s)", dup_what,
                        clinic_id ? " for clinic " : "", clinic_id ? clinic_id : "", dup->path);
    ctl_seen_add(seen, key, path, 0, 0);
    return 0;
}

/* {"provider", "id", "group", "name"?, "clinic_id"?}: an agent as the
 * provider reports who answered (extension, SIP login, employee id). */
int ctl_check_agent(struct vctx *v, const char *path, const json_t *j_agent)
{
    static const char *const allowed[] = {"provider", "id", "group", "name", "clinic_id", NULL};
    const char *provider, *id;
    char child[PATH_MAX_LEN], what[256], dup_what[256];
    int rc;

    if (!json_is_object(j_agent))
        return ctl_fail(v, path, "expected an object");
    if ((rc = ctl_check_members(v, path, j_agent, allowed)) != 0 ||
        (rc = ctl_string_member(v, path, j_agent, "provider", 1, 32, &provider)) != 0)
        return rc;
    if (!ctl_find_provider("telephony", provider)) {
        char names[256];
        ctl_providers_of("telephony", names, sizeof(names));
        ctl_path_key(child, path, "provider");
        return ctl_fail(v, child, "unknown telephony provider \"%s\"; expected one of %s", provider,
                        names);
    }
    if ((rc = ctl_string_member(v, path, j_agent, "id", 1, 128, &id)) != 0)
        return rc;
    snprintf(what, sizeof(what), "%s%c%s", provider, '\x1f', id);
    snprintf(dup_what, sizeof(dup_what), "%s agent \"%.128s\"", provider, id);
    return check_agent_common(v, path, j_agent, &v->agents, what, dup_what);
}

/* {"number", "group", "name"?, "clinic_id"?}: a staff phone calls are
 * forwarded to. */
int ctl_check_staff_number(struct vctx *v, const char *path, const json_t *j_staff)
{
    static const char *const allowed[] = {"number", "group", "name", "clinic_id", NULL};
    const char *number;
    json_t *j_val;
    char child[PATH_MAX_LEN], dup_what[64];
    int rc;

    if (!json_is_object(j_staff))
        return ctl_fail(v, path, "expected an object");
    if ((rc = ctl_check_members(v, path, j_staff, allowed)) != 0 ||
        (rc = ctl_member(v, path, j_staff, "number", 1, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "number");
    if ((rc = ctl_check_phone(v, child, j_val, &number)) != 0)
        return rc;
    snprintf(dup_what, sizeof(dup_what), "staff number %s", number);
    return check_agent_common(v, path, j_staff, &v->staff_numbers, number, dup_what);
}
