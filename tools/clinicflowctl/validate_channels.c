/*
 * The channels of a network document, where calls, messages and form leads
 * come in: the providers of each kind and the credentials each one takes
 * (PROVIDERS.md), the numbers a telephony channel maps to clinics, the
 * addresses a provider calls from, a form's field map.
 */
#include "validate_walk.h"

#include <string.h>

#include "common/client_addr.h"   /* the services' own reading of allowed_sources */
#include "providers/uis_fields.h" /* the UIS adapter's call fields */

/* Channel providers and the credentials each one defines (PROVIDERS.md). */
struct provider_spec {
    const char *kind;
    const char *provider;
    const char *required[3];
    const char *optional[5];
};

static const struct provider_spec providers[] = {
    {"telephony", "twilio", {"auth_token"}, {"account_sid"}},
    {"telephony", "asterisk", {"url_token"}, {NULL}},
    {"telephony", "mango", {"vpbx_api_key", "vpbx_api_salt"}, {NULL}},
    {"telephony", "zadarma", {"secret"}, {"key", "api_base"}},
    {"telephony", "sipuni", {"url_token"}, {NULL}},
    {"telephony", "uis", {"url_token"}, {NULL}},
    {"telephony", "generic", {NULL}, {NULL}},
    {"messenger", "telegram", {"secret_token"}, {"bot_token"}},
    {"messenger", "whatsapp", {"app_secret", "verify_token"}, {"access_token", "phone_number_id"}},
    {"messenger", "vk", {"secret"}, {"confirmation"}},
    {"messenger", "viber", {"auth_token"}, {NULL}},
    {"messenger", "instagram", {"app_secret", "verify_token"}, {"access_token", "account_id"}},
    {"messenger", "email", {"signing_key"}, {NULL}},
    {"form", "tilda", {"url_token"}, {"api_key"}},
    {"form", "cf7", {"url_token"}, {NULL}},
    {"form", "jivo", {"url_token"}, {NULL}},
    {"form", "generic", {"token"}, {NULL}},
    {"gateway", "webhook", {"url", "secret"}, {NULL}},
    {"gateway",
     "twilio",
     {"account_sid", "auth_token", "api_url"},
     {"from", "messaging_service_sid", "voice", "machine_detection"}},
    {"gateway", "smsru", {"api_id", "callback_token", "api_url"}, {"from", "test"}},
};

static const char *const kinds[] = {"telephony", "messenger", "form", "gateway", NULL};

const struct provider_spec *ctl_find_provider(const char *kind, const char *provider)
{
    if (!kind || !provider)
        return NULL;
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        if (strcmp(providers[i].kind, kind) == 0 && strcmp(providers[i].provider, provider) == 0)
            return &providers[i];
    }
    return NULL;
}

void ctl_providers_of(const char *kind, char *out, size_t out_size)
{
    const char *list[sizeof(providers) / sizeof(providers[0]) + 1];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        if (kind && strcmp(providers[i].kind, kind) == 0)
            list[n++] = providers[i].provider;
    }
    list[n] = NULL;
    ctl_join_list(out, out_size, list);
}

static int check_credentials(struct vctx *v, const char *path, const json_t *j_cred,
                             const struct provider_spec *spec)
{
    const char *key;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_cred))
        return ctl_fail(v, path, "expected an object");
    json_object_foreach((json_t *)j_cred, key, j_val)
    {
        ctl_path_key(child, path, key);
        if (!ctl_in_list(key, spec->required) && !ctl_in_list(key, spec->optional)) {
            char names[128];
            const char *all[7];
            size_t n = 0;
            for (size_t i = 0; i < 3 && spec->required[i]; i++)
                all[n++] = spec->required[i];
            for (size_t i = 0; i < 3 && spec->optional[i]; i++)
                all[n++] = spec->optional[i];
            all[n] = NULL;
            ctl_join_list(names, sizeof(names), all);
            if (n == 0)
                return ctl_fail(v, child, "unknown member; %s takes no credentials",
                                spec->provider);
            return ctl_fail(v, child, "unknown member; %s credentials are: %s", spec->provider,
                            names);
        }
        if (!json_is_string(j_val) || json_string_length(j_val) == 0)
            return ctl_fail(v, child, "expected a non-empty string");
    }
    for (size_t i = 0; i < 3 && spec->required[i]; i++) {
        if (!json_object_get(j_cred, spec->required[i]))
            return ctl_fail(v, path, "missing member \"%s\" (required by %s)", spec->required[i],
                            spec->provider);
    }
    if (strcmp(spec->provider, "telegram") == 0) {
        /* Telegram allows 1-256 characters A-Z a-z 0-9 _ - in the secret. */
        const char *t = json_string_value(json_object_get(j_cred, "secret_token"));
        size_t n = strlen(t);
        ctl_path_key(child, path, "secret_token");
        if (n > 256 || strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789_-") != n)
            return ctl_fail(v, child, "expected 1-256 characters from A-Z, a-z, 0-9, _ and -");
    }
    return 0;
}

static int check_channel_numbers(struct vctx *v, const char *path, const json_t *j_nums,
                                 const char *channel_path)
{
    const char *key;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    if (!json_is_object(j_nums))
        return ctl_fail(v, path, "expected an object mapping E.164 numbers to clinic ids");
    json_object_foreach((json_t *)j_nums, key, j_val)
    {
        const char *num;
        json_t *j_key = json_string(key);
        ctl_path_key(child, path, key);
        int rc = ctl_check_phone(v, child, j_key, &num);
        json_decref(j_key);
        if (rc != 0)
            return rc;
        const struct seen_entry *dup = ctl_seen_find(&v->channel_nums, key);
        if (dup)
            return ctl_fail(v, child, "number is already mapped by %s", dup->path);
        ctl_seen_add(&v->channel_nums, key, channel_path, 0, 0);
        if (!json_is_string(j_val))
            return ctl_fail(v, child, "expected a clinic id");
        if ((rc = ctl_check_clinic_ref(v, child, json_string_value(j_val))) != 0)
            return rc;
    }
    return 0;
}

/* Whether name is one of UIS's call fields (the adapter's own table). */
static int uis_field(const char *name)
{
    for (size_t i = 0; i < CF_UIS_FIELDS_N; i++) {
        if (strcmp(cf_uis_fields[i][0], name) == 0)
            return 1;
    }
    return 0;
}

/* The names of UIS's call fields, ", "-separated, into list. */
static void uis_field_names(char *list, size_t list_size)
{
    const char *names[CF_UIS_FIELDS_N + 1] = {NULL};
    for (size_t i = 0; i < CF_UIS_FIELDS_N; i++)
        names[i] = cf_uis_fields[i][0];
    ctl_join_list(list, list_size, names);
}

/* The bytes of s once & < > " ' are written as XML entities. */
static size_t xml_escaped_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '&' ? 5 : *s == '<' || *s == '>' ? 4 : *s == '"' || *s == '\'' ? 6 : 1;
    return n;
}

int ctl_check_channel(struct vctx *v, const char *path, const json_t *j_ch)
{
    static const char *const allowed[] = {
        "id",       "kind",         "provider",       "clinic_id", "credentials",
        "timezone", "numbers",      "field_map",      "staff_leg", "allowed_sources",
        "honeypot", "bot_username", "after_dial_url", NULL};
    const char *id, *kind, *provider, *clinic_id;
    json_t *j_val;
    char child[PATH_MAX_LEN];
    int rc;

    if (!json_is_object(j_ch))
        return ctl_fail(v, path, "expected an object");
    if ((rc = ctl_check_members(v, path, j_ch, allowed)) != 0 ||
        (rc = ctl_slug_member(v, path, j_ch, "id", 1, &id)) != 0)
        return rc;
    const struct seen_entry *dup = ctl_seen_find(&v->channels, id);
    ctl_path_key(child, path, "id");
    if (dup)
        return ctl_fail(v, child, "duplicate channel id \"%s\" (also at %s)", id, dup->path);
    ctl_seen_add(&v->channels, id, path, 0, 0);

    if ((rc = ctl_string_member(v, path, j_ch, "kind", 1, 32, &kind)) != 0)
        return rc;
    ctl_path_key(child, path, "kind");
    if (!ctl_in_list(kind, kinds))
        return ctl_fail(v, child, "expected one of telephony, messenger, form, gateway");
    if ((rc = ctl_string_member(v, path, j_ch, "provider", 1, 32, &provider)) != 0)
        return rc;
    const struct provider_spec *spec = ctl_find_provider(kind, provider);
    if (!spec) {
        char names[256];
        ctl_providers_of(kind, names, sizeof(names));
        ctl_path_key(child, path, "provider");
        return ctl_fail(v, child, "unknown %s provider \"%s\"; expected one of %s", kind, provider,
                        names);
    }

    if ((rc = ctl_string_member(v, path, j_ch, "clinic_id", 0, 64, &clinic_id)) != 0)
        return rc;
    ctl_path_key(child, path, "clinic_id");
    if (clinic_id && (rc = ctl_check_clinic_ref(v, child, clinic_id)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_ch, "credentials", spec->required[0] != NULL, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "credentials");
    if (j_val && (rc = check_credentials(v, child, j_val, spec)) != 0)
        return rc;
    /* Zadarma's API base, on which its recordings' links are built
     * (calls/providers/zadarma.c takes one of at most 200 bytes, else no
     * link at all) */
    const char *api_base = json_string_value(json_object_get(j_val, "api_base"));
    if (strcmp(provider, "zadarma") == 0 && api_base &&
        (!ctl_valid_http_url(api_base) || strlen(api_base) > 200)) {
        char base_path[PATH_MAX_LEN];
        ctl_path_key(base_path, child, "api_base");
        return ctl_fail(v, base_path, "expected an http:// or https:// URL of at most 200 bytes");
    }

    if ((rc = ctl_tz_member(v, path, j_ch, "timezone", 0)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_ch, "numbers", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "numbers");
    if (j_val && strcmp(kind, "telephony") != 0)
        return ctl_fail(v, child, "only telephony channels map numbers to clinics");
    if (j_val && (rc = check_channel_numbers(v, child, j_val, path)) != 0)
        return rc;

    if ((rc = ctl_member(v, path, j_ch, "staff_leg", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "staff_leg");
    if (j_val && !json_is_boolean(j_val))
        return ctl_fail(v, child, "expected true or false");
    if (json_is_true(j_val) && strcmp(provider, "twilio") != 0)
        return ctl_fail(v, child, "only twilio channels have a staff leg");
    /* where a dial nobody at the clinic answered goes on (calls/providers/
     * twilio.c redirects the call there, the URL escaped for XML: its
     * answer has room for 400 bytes of it) */
    const int staff_leg = json_is_true(j_val);
    if ((rc = ctl_member(v, path, j_ch, "after_dial_url", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "after_dial_url");
    if (j_val && !staff_leg)
        return ctl_fail(v, child, "only a twilio channel with a staff leg dials on to a URL");
    if (j_val &&
        (!json_is_string(j_val) || !ctl_valid_http_url(json_string_value(j_val)) ||
         strlen(json_string_value(j_val)) > 300 || xml_escaped_len(json_string_value(j_val)) > 400))
        return ctl_fail(v, child,
                        "expected an http:// or https:// URL of at most 300 bytes (and 400 with "
                        "its & < > \" ' written as XML entities)");

    /* The provider's source addresses, read as clinicflow-calls and
     * clinicflow-leads read them (a request from elsewhere is refused) */
    if ((rc = ctl_member(v, path, j_ch, "allowed_sources", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "allowed_sources");
    if (j_val && strcmp(kind, "gateway") == 0)
        return ctl_fail(v, child, "a gateway receives no webhooks: no allowed sources");
    if (j_val && (!json_is_array(j_val) || json_array_size(j_val) == 0))
        return ctl_fail(v, child, "expected a non-empty array of addresses or CIDR networks");
    size_t i;
    json_t *j_src;
    json_array_foreach(j_val, i, j_src)
    {
        char src_path[PATH_MAX_LEN], errbuf[256];
        struct cf_proxies nets = {0};
        ctl_path_index(src_path, child, i);
        const char *s = json_string_value(j_src);
        const int bad = !s || !*s || strpbrk(s, ", ") ||
                        cf_proxies_parse(s, &nets, errbuf, sizeof(errbuf)) != 0;
        cf_proxies_free(&nets);
        if (bad)
            return ctl_fail(v, src_path, "expected an address or CIDR network (203.0.113.0/24)");
    }

    if ((rc = ctl_member(v, path, j_ch, "field_map", 0, &j_val)) != 0)
        return rc;
    ctl_path_key(child, path, "field_map");
    if (j_val) {
        const char *key;
        json_t *j_field;
        if (!json_is_object(j_val))
            return ctl_fail(v, child, "expected an object of strings");
        /* a telephony channel's map is UIS's: our call fields only */
        if (strcmp(kind, "telephony") == 0 && strcmp(provider, "uis") != 0)
            return ctl_fail(v, child, "of the telephony providers only uis has a field map");
        json_object_foreach(j_val, key, j_field)
        {
            char field_path[PATH_MAX_LEN];
            ctl_path_key(field_path, child, key);
            if (strcmp(kind, "telephony") == 0 && !uis_field(key)) {
                char list[512];
                uis_field_names(list, sizeof(list));
                return ctl_fail(v, field_path, "unknown call field; expected one of %s", list);
            }
            if (!json_is_string(j_field) || json_string_length(j_field) == 0)
                return ctl_fail(v, field_path, "expected a non-empty string");
        }
    }
    if (strcmp(kind, "gateway") == 0) {
        /* the dispatcher sends a clinic's reminders through its gateway */
        ctl_path_key(child, path, "clinic_id");
        if (!clinic_id)
            return ctl_fail(v, child, "a gateway channel belongs to a clinic");
        /* the dispatcher takes a clinic's first: a second would never send */
        const struct seen_entry *other = ctl_seen_find(&v->gateway_clinics, clinic_id);
        if (other)
            return ctl_fail(v, child, "clinic \"%s\" has a gateway already (at %s)", clinic_id,
                            other->path);
        ctl_seen_add(&v->gateway_clinics, clinic_id, path, 0, 0);
        const json_t *cred = json_object_get(j_ch, "credentials");
        ctl_path_key(child, path, "credentials");
        static const char *const url_members[] = {"url", "api_url"};
        for (size_t u = 0; u < 2; u++) {
            const char *url = json_string_value(json_object_get(cred, url_members[u]));
            if (url && !ctl_valid_http_url(url)) {
                char url_path[PATH_MAX_LEN];
                ctl_path_key(url_path, child, url_members[u]);
                return ctl_fail(v, url_path,
                                "expected an http:// or https:// URL with a host (no user info,"
                                " fragment or spaces)");
            }
        }
        /* a robot call needs a number to call from; SMS.ru's test mode
         * answers without sending */
        const char *from = json_string_value(json_object_get(cred, "from"));
        const char *test = json_string_value(json_object_get(cred, "test"));
        char member_path[PATH_MAX_LEN];
        if (strcmp(provider, "twilio") == 0 && from) {
            const char *number;
            ctl_path_key(member_path, child, "from");
            if ((rc = ctl_check_phone(v, member_path, json_object_get(cred, "from"), &number)) != 0)
                return rc;
            /* the patients' SMS replies to a number reach the one channel
             * its webhook names, which matches them among its clinic's
             * sends: a number two gateways send SMS from loses the other's
             * (one with a messaging service sends its SMS from that, and
             * calls alone from the number) */
            const int sms_from = !json_object_get(cred, "messaging_service_sid");
            const struct seen_entry *twin =
                sms_from ? ctl_seen_find(&v->gateway_froms, number) : NULL;
            if (twin)
                return ctl_fail(v, member_path,
                                "%s is the \"from\" of the gateway at %s too: a number's SMS "
                                "replies reach one channel, so each clinic needs a number of its "
                                "own",
                                number, twin->path);
            if (sms_from)
                ctl_seen_add(&v->gateway_froms, number, path, 0, 0);
        }
        if (strcmp(provider, "twilio") == 0 && !from &&
            !json_object_get(cred, "messaging_service_sid"))
            return ctl_fail(v, child,
                            "twilio needs \"from\" (robot calls and SMS) or"
                            " \"messaging_service_sid\" (SMS only)");
        if (test && strcmp(test, "1") != 0 && strcmp(test, "0") != 0) {
            ctl_path_key(member_path, child, "test");
            return ctl_fail(v, member_path, "expected \"1\" (SMS.ru's test mode) or \"0\"");
        }
        const char *amd = json_string_value(json_object_get(cred, "machine_detection"));
        if (json_object_get(cred, "machine_detection") &&
            (!amd || (strcmp(amd, "1") != 0 && strcmp(amd, "0") != 0))) {
            ctl_path_key(member_path, child, "machine_detection");
            return ctl_fail(v, member_path,
                            "expected \"1\" (Twilio tells a voicemail from a person) or \"0\"");
        }
    }
    return ctl_check_lead_channel(v, path, j_ch, kind, provider);
}
