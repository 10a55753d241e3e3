/*
 * A site visitor's call through dynamic number insertion, as a clinic's
 * page and PBX make it: the page asks the calls service which number to
 * show (GET /v1/tracking/number with the landing's UTM tags, what
 * clinicflow-dni.js sends), and the visitor dials it; the PBX of the
 * network's number pools (UIS in the demo network) reports the call when
 * it ends, in the notification the channel's template writes (field names
 * of UIS's variables, the account's wall-clock times). A hold is taken
 * now, so only calls made now go this way (--live, --load --kinds dni);
 * a past month's calls dial the call centre's own number.
 */
#include "modes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/time.h"
#include "common/xmalloc.h"

/* The share of the call centre's own-number calls that come from the
 * site's visitors: every other one. */
int sim_dni_call(const struct sim_ev *ev)
{
    return ev->kind == SIM_CALL && ev->u.call.inbound && ev->u.call.prov == SIM_MANGO &&
           ev->u.call.line == 0 && ev->u.call.id % 2 == 0;
}

/* The ad the visitor landed from: the paid implants campaign, Google's
 * hygiene campaign or a search result, in turn. */
enum sim_source sim_dni_source(const struct sim_ev *ev)
{
    static const enum sim_source sources[3] = {SIM_SRC_YANDEX, SIM_SRC_GOOGLE, SIM_SRC_SITE};
    return sources[(ev->u.call.id / 2) % 3];
}

void sim_dni_number_request(const struct sim_network *net, const struct sim_targets *t,
                            const struct sim_month *m, const struct sim_ev *ev, struct sim_req *out)
{
    const enum sim_source src = sim_dni_source(ev);
    struct sim_dni_visit *v = cf_xcalloc(1, sizeof(*v));
    char tag[16];
    sim_tag(m, tag);
    snprintf(v->clinic, sizeof(v->clinic), "%s", net->clinic_ids[ev->clinic]);
    snprintf(v->visitor, sizeof(v->visitor), "%s-v%u", tag, ev->u.call.id);
    snprintf(v->call_id, sizeof(v->call_id), "%s-d%u", tag, ev->u.call.id);
    snprintf(v->phone, sizeof(v->phone), "%s", m->persons[ev->person].phone);
    v->ring_s = ev->u.call.ring_s;
    v->talk_s = ev->u.call.answered ? ev->u.call.talk_s : 0;

    struct cf_strbuf q = {0};
    cf_strbuf_add_form(&q, "clinic", v->clinic);
    cf_strbuf_add_form(&q, "visitor", v->visitor);
    cf_strbuf_add_form(&q, "utm_source", sim_source_name(src));
    cf_strbuf_add_form(&q, "utm_medium", sim_source_medium(src));
    /* the click is now, as the hold it asks for */
    const char *campaign = sim_source_campaign_at(net, src, cf_time_now_ms() / 1000);
    if (campaign)
        cf_strbuf_add_form(&q, "utm_campaign", campaign);
    char *query = cf_strbuf_take(&q);
    out->kind = "dni";
    out->url = cf_xasprintf("%s/v1/tracking/number?%s", t->calls, query);
    free(query);
    /* a browser's page, not a robot's (robots get the default number) */
    sim_req_header(out,
                   "User-Agent: Mozilla/5.0 (X11; Linux x86_64; clinicflow-sim) Firefox/128.0");
    sim_req_header(out, "Accept: application/json");
    out->visit = v;
}

/* The account's wall clock of ms in zone tz, as UIS prints it (RFC 3339,
 * which the adapter takes too, without a zone). */
static void uis_time(const char *tz, int64_t ms, char out[32])
{
    struct cf_time_local lt;
    if (!tz || cf_time_to_local(tz, ms, &lt) != 0) {
        sim_rfc3339(ms, out);
        return;
    }
    snprintf(out, 32, "%04d-%02d-%02d %02d:%02d:%02d", lt.year, lt.month, lt.day, lt.hour,
             lt.minute, lt.second);
}

/* The call to the number reply (the page's answer) gave: 0, or -1 when it
 * gave no pool number (the visitor saw the default one). */
static int call_request(const struct sim_network *net, const struct sim_targets *t,
                        const struct sim_dni_visit *v, const char *reply, int64_t now_ms,
                        struct sim_req *out)
{
    json_t *j_reply = reply ? json_loads(reply, 0, NULL) : NULL;
    const char *number = json_string_value(json_object_get(j_reply, "number"));
    /* the clinic's default number (pool in use): the call centre's line,
     * which a past month's calls already take; nothing to show here */
    if (!net->chan_uis || !number || !json_is_true(json_object_get(j_reply, "dynamic"))) {
        json_decref(j_reply);
        return -1;
    }
    /* the channel's zone, else the network's (as the calls service reads it) */
    const char *tz = json_string_value(json_object_get(net->chan_uis, "timezone"));
    if (!tz)
        tz = json_string_value(json_object_get(net->j_doc, "timezone"));
    /* dialled a few seconds after the page showed the number */
    const int64_t start = now_ms + 3000;
    char started[32], ended[32];
    uis_time(tz, start, started);
    uis_time(tz, start + (v->ring_s + v->talk_s) * 1000LL, ended);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "call_session_id",
                          v->call_id, "notification_mnemonic", "ended", "direction", "in",
                          "contact_phone_number", v->phone + 1, "virtual_phone_number", number + 1,
                          "notification_time", ended, "start_time", started, "talk_time_duration",
                          v->talk_s, "wait_time_duration", v->ring_s);
    json_decref(j_reply);
    out->kind = "dni call";
    out->url = cf_xasprintf("%s/v1/hooks/calls/uis/%s?token=%s", t->calls,
                            sim_chan_id(net->chan_uis), sim_chan_cred(net->chan_uis, "url_token"));
    out->body = json_dumps(j, JSON_COMPACT);
    out->body_len = strlen(out->body);
    json_decref(j);
    sim_req_header(out, "Content-Type: application/json");
    return 0;
}

int sim_dni_follow(struct sim_http *h, const struct sim_network *net, const struct sim_targets *t,
                   const struct sim_req *r, long status, const char *reply)
{
    if (!r->visit || status != 200)
        return -1;
    struct sim_req call = {.dep = -1};
    if (call_request(net, t, r->visit, reply, cf_time_now_ms(), &call) != 0)
        return 0;
    call.due_us = sim_http_now_us();
    sim_http_add(h, &call);
    return 1;
}
