/*
 * The network document validator. It walks the document once, top to
 * bottom, carrying the JSON path of the value being checked, and stops at
 * the first problem with "<path>: <reason>". Every object is checked against
 * its list of allowed members first, so a misspelt optional member is
 * reported as unknown instead of being ignored. Cross references (clinic
 * ids, numbers used twice, overlapping tracking periods) are checked with
 * small linear "seen" lists: a network document has at most a few thousand
 * entries, so quadratic scans cost nothing and keep the code plain. Phone
 * numbers must already be in canonical E.164 form, so that services can
 * compare stored numbers byte for byte.
 *
 * This file is the walk's top: the document's own members and its sections
 * in order. The parts it calls share validate_walk.h: validate_walk.c (the
 * context, errors, paths, member helpers), validate_values.c (value
 * formats), and one file per section: validate_clinics.c,
 * validate_channels.c, validate_numbers.c (tracking numbers, pools, the
 * blocklist), validate_staff.c (agents, staff numbers) and
 * validate_reminders.c. A new section is a file of its own, called from
 * check_network.
 */
#include "validate.h"

#include <string.h>

#include "common/validate.h"
#include "validate_walk.h"

static int check_array_section(struct vctx *v, const json_t *j_net, const char *key, int required,
                               int (*check)(struct vctx *, const char *, const json_t *))
{
    json_t *j_arr, *j_item;
    char path[PATH_MAX_LEN], child[PATH_MAX_LEN];
    size_t i;
    int rc = ctl_member(v, "$", j_net, key, required, &j_arr);
    if (rc != 0 || !j_arr)
        return rc;
    ctl_path_key(path, "$", key);
    if (!json_is_array(j_arr))
        return ctl_fail(v, path, "expected an array");
    json_array_foreach(j_arr, i, j_item)
    {
        ctl_path_index(child, path, i);
        if ((rc = check(v, child, j_item)) != 0)
            return rc;
    }
    return 0;
}

static int check_network(struct vctx *v, const json_t *j_net)
{
    static const char *const allowed[] = {"id",
                                          "name",
                                          "secret",
                                          "timezone",
                                          "currency",
                                          "clinics",
                                          "channels",
                                          "tracking_numbers",
                                          "number_pools",
                                          "blocklist",
                                          "reminder_policies",
                                          "agents",
                                          "staff_numbers",
                                          NULL};
    const char *s;
    json_t *j_val;
    int rc;

    if (!json_is_object(j_net))
        return ctl_fail(v, "$", "expected an object");
    if ((rc = ctl_check_members(v, "$", j_net, allowed)) != 0 ||
        (rc = ctl_slug_member(v, "$", j_net, "id", 1, &s)) != 0 ||
        (rc = ctl_string_member(v, "$", j_net, "name", 1, 200, &s)) != 0 ||
        (rc = ctl_string_member(v, "$", j_net, "secret", 1, 256, &s)) != 0)
        return rc;
    if (!s || cf_validate_utf8_chars(s, strlen(s)) < 16)
        return ctl_fail(v, "$.secret", "must be at least 16 characters");
    if ((rc = ctl_tz_member(v, "$", j_net, "timezone", 1)) != 0 ||
        (rc = ctl_string_member(v, "$", j_net, "currency", 0, 3, &s)) != 0)
        return rc;
    if (s && !cf_validate_currency(s))
        return ctl_fail(v, "$.currency", "must be an ISO 4217 code: three capital letters");
    /* Clinics first: every other section refers to them. */
    if ((rc = check_array_section(v, j_net, "clinics", 1, ctl_check_clinic)) != 0 ||
        (rc = check_array_section(v, j_net, "channels", 0, ctl_check_channel)) != 0 ||
        (rc = check_array_section(v, j_net, "tracking_numbers", 0, ctl_check_tracking_number)) !=
            0 ||
        (rc = check_array_section(v, j_net, "number_pools", 0, ctl_check_pool)) != 0)
        return rc;
    if ((rc = check_array_section(v, j_net, "agents", 0, ctl_check_agent)) != 0 ||
        (rc = check_array_section(v, j_net, "staff_numbers", 0, ctl_check_staff_number)) != 0)
        return rc;
    if ((rc = ctl_member(v, "$", j_net, "blocklist", 0, &j_val)) != 0)
        return rc;
    if (j_val && (rc = ctl_check_blocklist(v, "$.blocklist", j_val)) != 0)
        return rc;
    if ((rc = ctl_member(v, "$", j_net, "reminder_policies", 0, &j_val)) != 0)
        return rc;
    if (j_val && (rc = ctl_check_reminder_policies(v, "$.reminder_policies", j_val)) != 0)
        return rc;
    return 0;
}

int ctl_validate_network(const json_t *j_net, char *errbuf, size_t errbuf_size)
{
    struct vctx v = {.errbuf = errbuf, .errbuf_size = errbuf_size};
    if (errbuf_size > 0)
        errbuf[0] = '\0';
    int rc = check_network(&v, j_net);
    ctl_seen_free(&v.clinics);
    ctl_seen_free(&v.channels);
    ctl_seen_free(&v.channel_nums);
    ctl_seen_free(&v.tracking);
    ctl_seen_free(&v.pool_ids);
    ctl_seen_free(&v.pool_clinics);
    ctl_seen_free(&v.gateway_clinics);
    ctl_seen_free(&v.gateway_froms);
    ctl_seen_free(&v.pool_nums);
    ctl_seen_free(&v.blocked);
    ctl_seen_free(&v.agents);
    ctl_seen_free(&v.staff_numbers);
    return rc;
}
