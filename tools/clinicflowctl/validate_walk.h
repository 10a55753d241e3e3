/*
 * What the parts of the network validator share and nothing else sees (not
 * installed, not for validate.h's users): the walk's context, its helpers,
 * the value formats, and each section's check, which validate.c calls in
 * order. A check returns 0, or CF_EINVAL with "<path>: <reason>" in the
 * context's errbuf; path is the JSON path of the value it is given.
 */
#ifndef CF_CLINICFLOWCTL_VALIDATE_WALK_H
#define CF_CLINICFLOWCTL_VALIDATE_WALK_H

#include <stddef.h>

#include <jansson.h>

#define PATH_MAX_LEN 256

/* A key met on the walk (a clinic id, a number) and the path it was met at. */
struct seen_entry {
    char *key;
    char path[PATH_MAX_LEN];
    int from, to; /* tracking periods as YYYYMMDD; to = 99991231 when open */
};

struct seen {
    struct seen_entry *v;
    size_t n, cap;
};

/* The walk's state: the caller's error buffer and what it has met so far. */
struct vctx {
    char *errbuf;
    size_t errbuf_size;
    struct seen clinics;      /* clinic ids */
    struct seen channels;     /* channel ids */
    struct seen channel_nums; /* numbers mapped by telephony channels */
    struct seen tracking;     /* tracking numbers with periods */
    struct seen pool_ids;
    struct seen pool_clinics;    /* clinics with a pool: one each */
    struct seen gateway_clinics; /* clinics with a reminders gateway: one each */
    struct seen gateway_froms;   /* Twilio gateways' numbers: one gateway each */
    struct seen pool_nums;       /* numbers of dynamic pools */
    struct seen blocked;
    struct seen agents;        /* "provider id clinic" of the agents map */
    struct seen staff_numbers; /* "number clinic" of the staff numbers map */
};

/* ---- validate_walk.c: errors, seen lists, paths, members ---- */

/* Writes "<path>: <reason>" into v's errbuf; returns CF_EINVAL. */
int ctl_fail(struct vctx *v, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a copy of key, first met at path (from and to: a tracking period). */
void ctl_seen_add(struct seen *s, const char *key, const char *path, int from, int to);
/* The entry of key in s, or NULL (also for a NULL key). */
const struct seen_entry *ctl_seen_find(const struct seen *s, const char *key);
void ctl_seen_free(struct seen *s);

/* path.key, or path["key"] when key is not an identifier. */
void ctl_path_key(char out[PATH_MAX_LEN], const char *path, const char *key);
/* path[i] */
void ctl_path_index(char out[PATH_MAX_LEN], const char *path, size_t i);

/* 1 if s is in the NULL-terminated list. */
int ctl_in_list(const char *s, const char *const *list);
/* The NULL-terminated list as "a, b, c" in out, cut to fit. */
void ctl_join_list(char *out, size_t out_size, const char *const *list);

/* Every member of j_obj must be in the NULL-terminated allowed list. */
int ctl_check_members(struct vctx *v, const char *path, const json_t *j_obj,
                      const char *const *allowed);
/* Member readers: path is j_obj's; a missing optional member is no error
 * and leaves *out NULL. The strings are borrowed from j_obj. */
int ctl_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key, int required,
               json_t **out);
int ctl_string_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                      int required, size_t maxlen, const char **out);
/* Optional integer members, in [min, max]; unit names the items in messages. */
int ctl_int_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key, long min,
                   long max);
int ctl_int_array_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                         long min, long max, const char *unit);
/* An array of distinct strings that valid accepts; expected names them. */
int ctl_check_string_array(struct vctx *v, const char *path, const json_t *j_arr,
                           int (*valid)(const char *), const char *expected, int nonempty);

/* ---- validate_values.c: value formats ---- */

/* Member readers as above: an id (1-64 characters from a-z, 0-9 and "-"),
 * an IANA time zone name. */
int ctl_slug_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                    int required, const char **out);
int ctl_tz_member(struct vctx *v, const char *path, const json_t *j_obj, const char *key,
                  int required);
/* "YYYY-MM-DD" -> YYYYMMDD, 0 when not a real date (or before 1970). */
int ctl_parse_date(const char *s);
/* 1 for "ru" or "ru-RU". */
int ctl_valid_language(const char *s);
/* 1 for "https://host[:port]" or "http://host[:port]". */
int ctl_valid_origin(const char *s);
/* 1 when s is "http(s)://host[:port][/path][?query]": no user info, no
 * fragment, no spaces or control characters. */
int ctl_valid_http_url(const char *s);
/* 1 for such an origin as a browser's Origin header gives it (lower case,
 * no default port): what a clinic's cors_origins compares with. */
int ctl_valid_browser_origin(const char *s);
/* A phone number at path, already in E.164 form; *out borrows it. */
int ctl_check_phone(struct vctx *v, const char *path, const json_t *j_val, const char **out);
/* An array of "HH:MM-HH:MM", in order, not overlapping. */
int ctl_check_intervals(struct vctx *v, const char *path, const json_t *j_arr);

/* ---- the sections, one entry (or object) each ---- */

/* validate_clinics.c; clinic_id must name a clinic already checked. */
int ctl_check_clinic(struct vctx *v, const char *path, const json_t *j_clinic);
int ctl_check_clinic_ref(struct vctx *v, const char *path, const char *clinic_id);

/* validate_channels.c; a provider of kind, or NULL; its names as a list. */
struct provider_spec;
const struct provider_spec *ctl_find_provider(const char *kind, const char *provider);
void ctl_providers_of(const char *kind, char *out, size_t out_size);
int ctl_check_channel(struct vctx *v, const char *path, const json_t *j_ch);

/* validate_numbers.c */
int ctl_check_tracking_number(struct vctx *v, const char *path, const json_t *j_tn);
int ctl_check_pool(struct vctx *v, const char *path, const json_t *j_pool);
int ctl_check_blocklist(struct vctx *v, const char *path, const json_t *j_arr);

/* validate_staff.c */
int ctl_check_agent(struct vctx *v, const char *path, const json_t *j_agent);
int ctl_check_staff_number(struct vctx *v, const char *path, const json_t *j_staff);

/* validate_reminders.c */
int ctl_check_reminder_policies(struct vctx *v, const char *path, const json_t *j_pol);

/* validate_leads.c: a channel's lead members (field_map of a form, honeypot,
 * bot_username), checked after ctl_check_channel's own; a clinic's lead
 * members (lead_response_due_s, lead_merge_window_s, lead_webhook). */
int ctl_check_lead_channel(struct vctx *v, const char *path, const json_t *j_ch, const char *kind,
                           const char *provider);
int ctl_check_clinic_leads(struct vctx *v, const char *path, const json_t *j_clinic);

#endif
