/*
 * A call as its PBX reports it when it ends: Mango's signed
 * events/summary (the call centre, its tracking numbers and every
 * outbound call), Asterisk's dialplan CURL() hangup post (reception of the
 * weak clinic) and Sipuni's event 2 (reception of the third clinic), in
 * the shapes services/calls/PROVIDERS.md documents. One request per call:
 * the end-of-call report carries the start, answer, talk time and outcome,
 * which is what the month's figures are made of; the live legs would add
 * nothing the reports count.
 */
#include "sim.h"

#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/time.h"
#include "common/strbuf.h"
#include "common/xmalloc.h"

/* The number a Mango line stands for on a call of clinic (an id) at t0:
 * line 0 the clinic's own number that tracks nothing (the call centre
 * calls out from the line of the clinic it calls for), then the tracking
 * numbers of the brand campaign, google and 2gis in use that day (a
 * campaign's number is replaced now and then); the channel's first
 * number when none is. */
static const char *mango_line(const struct sim_network *net, int line, const char *clinic,
                              long long t0)
{
    static const char *const sources[4] = {NULL, "yandex_direct", "google_ads", "2gis"};
    static const char *const campaigns[4] = {NULL, "brand", NULL, NULL};
    const json_t *j_numbers = json_object_get(net->chan_calls[SIM_MANGO], "numbers");
    const char *number;
    const json_t *v;
    char date[11];

    sim_network_date(net, t0, date);
    json_object_foreach((json_t *)j_numbers, number, v)
    {
        const json_t *j_src = NULL;
        int tracked = 0;
        size_t i;
        const json_t *j_tn;
        json_array_foreach(json_object_get(net->j_doc, "tracking_numbers"), i, j_tn)
        {
            const char *n = json_string_value(json_object_get(j_tn, "number"));
            if (n && strcmp(n, number) == 0) {
                tracked = 1;
                if (sim_tracking_in_use(j_tn, date))
                    j_src = j_tn;
            }
        }
        const char *src = json_string_value(json_object_get(j_src, "source"));
        const char *campaign = json_string_value(json_object_get(j_src, "campaign"));
        if (!sources[line] && !tracked && clinic && json_is_string(v) &&
            strcmp(json_string_value(v), clinic) == 0)
            return number;
        if (sources[line] && src && strcmp(src, sources[line]) == 0 &&
            (!campaigns[line] || (campaign && strcmp(campaign, campaigns[line]) == 0)))
            return number;
    }
    return json_object_iter_key(json_object_iter((json_t *)j_numbers));
}

/* The first number a channel maps (the clinic's reception line). */
static const char *first_number(const json_t *j_chan)
{
    const json_t *j_numbers = json_object_get(j_chan, "numbers");
    return json_object_iter_key(json_object_iter((json_t *)j_numbers));
}

static void add_num(struct cf_strbuf *b, const char *name, long long v)
{
    char s[32];
    snprintf(s, sizeof(s), "%lld", v);
    cf_strbuf_add_form(b, name, s);
}

static void form_request(struct sim_req *out, char *url, char *body)
{
    out->url = url;
    out->body = body ? body : cf_xstrdup("");
    out->body_len = strlen(out->body);
    sim_req_header(out, "Content-Type: application/x-www-form-urlencoded");
}

static void mango(const struct sim_network *net, const struct sim_targets *t,
                  const struct sim_month *m, const struct sim_ev *ev, int64_t t0,
                  struct sim_req *out)
{
    const json_t *j_chan = net->chan_calls[SIM_MANGO];
    const char *key = sim_chan_cred(j_chan, "vpbx_api_key");
    const char *salt = sim_chan_cred(j_chan, "vpbx_api_salt");
    const char *line =
        mango_line(net, ev->u.call.inbound ? ev->u.call.line : 0, net->clinic_ids[ev->clinic], t0);
    const char *phone = m->persons[ev->person].phone + 1;
    const long long end = t0 + ev->u.call.ring_s + ev->u.call.talk_s;
    char entry[64], tag[16];
    sim_tag(m, tag);
    snprintf(entry, sizeof(entry), "%s-c%u", tag, ev->u.call.id);
    /* the agent: the call centre's operator, or reception at the centre */
    const char *ext = ev->u.call.reception ? "201" : "101";
    json_t *j = json_pack(
        "{s:s, s:i, s:s, s:I, s:I, s:I, s:i, s:i}", "entry_id", entry, "call_direction",
        ev->u.call.inbound ? 1 : 2, "line_number", line + 1, "create_time", (json_int_t)t0,
        "talk_time", (json_int_t)(ev->u.call.answered ? t0 + ev->u.call.ring_s : 0), "end_time",
        (json_int_t)end, "entry_result", ev->u.call.answered, "disconnect_reason", 1110);
    if (ev->u.call.inbound) {
        json_object_set_new(j, "from", json_pack("{s:s}", "number", phone));
        json_object_set_new(j, "to", json_pack("{s:s}", "extension", ext));
    } else {
        json_object_set_new(j, "from",
                            json_pack("{s:s, s:s}", "extension", ext, "number", line + 1));
        json_object_set_new(j, "to", json_pack("{s:s}", "number", phone));
    }
    char *js = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    /* sign = sha256(key + json + salt), over the json field as sent */
    struct cf_strbuf sb = {0};
    cf_strbuf_add(&sb, key);
    cf_strbuf_add(&sb, js);
    cf_strbuf_add(&sb, salt);
    uint8_t h[32];
    char sign[CF_SHA256_HEX_LEN + 1];
    cf_sha256(sb.p, sb.len, h);
    cf_hex(h, sizeof(h), sign);
    free(cf_strbuf_take(&sb));

    struct cf_strbuf body = {0};
    cf_strbuf_add_form(&body, "vpbx_api_key", key);
    cf_strbuf_add_form(&body, "sign", sign);
    cf_strbuf_add_form(&body, "json", js);
    free(js);
    form_request(
        out,
        cf_xasprintf("%s/v1/hooks/calls/mango/%s/events/summary", t->calls, sim_chan_id(j_chan)),
        cf_strbuf_take(&body));
}

static void asterisk(const struct sim_network *net, const struct sim_targets *t,
                     const struct sim_month *m, const struct sim_ev *ev, int64_t t0,
                     struct sim_req *out)
{
    const json_t *j_chan = net->chan_calls[SIM_ASTERISK];
    const int answered = ev->u.call.answered;
    const long long answer = t0 + ev->u.call.ring_s, end = answer + ev->u.call.talk_s;
    char linkedid[64], tag[16], ts[32];
    sim_tag(m, tag);
    snprintf(linkedid, sizeof(linkedid), "%s.%u", tag, ev->u.call.id);
    struct cf_strbuf b = {0};
    cf_strbuf_add_form(&b, "event", "hangup");
    cf_strbuf_add_form(&b, "direction", "inbound");
    cf_strbuf_add_form(&b, "did", first_number(j_chan) + 1);
    cf_strbuf_add_form(&b, "uniqueid", linkedid);
    cf_strbuf_add_form(&b, "linkedid", linkedid);
    cf_strbuf_add_form(&b, "src", m->persons[ev->person].phone + 1);
    cf_strbuf_add_form(&b, "dst", "reception");
    cf_strbuf_add_form(&b, "disposition", answered ? "ANSWERED" : "NO ANSWER");
    add_num(&b, "duration", end - t0);
    add_num(&b, "billsec", answered ? ev->u.call.talk_s : 0);
    /* CDR(start,u) and friends: Unix seconds with microseconds; an
     * unanswered call's answer is 0.000000 */
    snprintf(ts, sizeof(ts), "%lld.000000", (long long)t0);
    cf_strbuf_add_form(&b, "start", ts);
    cf_strbuf_add_form(&b, "call_start", ts);
    snprintf(ts, sizeof(ts), "%lld.000000", answered ? answer : 0);
    cf_strbuf_add_form(&b, "answer", ts);
    snprintf(ts, sizeof(ts), "%lld.000000", end);
    cf_strbuf_add_form(&b, "end", ts);
    cf_strbuf_add_form(&b, "agent", answered ? "101" : "");
    cf_strbuf_add_form(&b, "dialstatus", answered ? "ANSWER" : "NOANSWER");
    add_num(&b, "answeredtime", answered ? ev->u.call.talk_s : 0);
    form_request(out,
                 cf_xasprintf("%s/v1/hooks/calls/asterisk/%s?token=%s", t->calls,
                              sim_chan_id(j_chan), sim_chan_cred(j_chan, "url_token")),
                 cf_strbuf_take(&b));
}

static void sipuni(const struct sim_network *net, const struct sim_targets *t,
                   const struct sim_month *m, const struct sim_ev *ev, int64_t t0,
                   struct sim_req *out)
{
    const json_t *j_chan = net->chan_calls[SIM_SIPUNI];
    const int answered = ev->u.call.answered;
    const long long answer = t0 + ev->u.call.ring_s, end = answer + ev->u.call.talk_s;
    const char *did = first_number(j_chan) + 1;
    const char *phone = m->persons[ev->person].phone + 1;
    char call_id[64], tag[16];
    sim_tag(m, tag);
    snprintf(call_id, sizeof(call_id), "%lld.%s%u", (long long)t0, tag + 1, ev->u.call.id);
    struct cf_strbuf b = {0};
    cf_strbuf_add_form(&b, "event", "2");
    cf_strbuf_add_form(&b, "call_id", call_id);
    cf_strbuf_add_form(&b, "src_type", "1");
    cf_strbuf_add_form(&b, "src_num", phone);
    cf_strbuf_add_form(&b, "short_src_num", phone);
    cf_strbuf_add_form(&b, "dst_type", "1");
    cf_strbuf_add_form(&b, "dst_num", did);
    cf_strbuf_add_form(&b, "short_dst_num", did);
    cf_strbuf_add_form(&b, "pbxdstnum", did);
    cf_strbuf_add_form(&b, "status", answered ? "ANSWER" : "NOANSWER");
    add_num(&b, "call_start_timestamp", t0);
    if (answered) {
        add_num(&b, "call_answer_timestamp", answer);
        cf_strbuf_add_form(&b, "last_called", "201");
    }
    add_num(&b, "timestamp", end);
    form_request(out,
                 cf_xasprintf("%s/v1/hooks/calls/sipuni/%s?token=%s", t->calls, sim_chan_id(j_chan),
                              sim_chan_cred(j_chan, "url_token")),
                 cf_strbuf_take(&b));
}

void sim_calls_requests(const struct sim_network *net, const struct sim_targets *t,
                        const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                        struct sim_req *out)
{
    const int64_t t0 = (ev->at_ms + offset_ms) / 1000;
    out->kind = "call";
    switch (ev->u.call.prov) {
    case SIM_MANGO:
        mango(net, t, m, ev, t0, out);
        break;
    case SIM_ASTERISK:
        asterisk(net, t, m, ev, t0, out);
        break;
    case SIM_SIPUNI:
    case SIM_CALL_PROVS:
        sipuni(net, t, m, ev, t0, out);
        break;
    }
}
