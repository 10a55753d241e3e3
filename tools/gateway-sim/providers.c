/*
 * The three gateways' APIs as the reminders service calls them (sim.h),
 * each answered at once the way the provider answers, with the patient's
 * answer queued as that provider's callbacks:
 * - Twilio: POST .../Accounts/{sid}/Calls.json and Messages.json (basic
 *   auth), GET of both filtered by To (the record a send whose answer was
 *   lost is checked against); a call's gathered digit goes to the TwiML's
 *   action URL, then its end to StatusCallback, an SMS's delivery to its
 *   StatusCallback, every one signed with X-Twilio-Signature;
 * - SMS.ru: POST /sms/send (api_id), its JSON answer, then the delivery
 *   status to the channel's callback URL as data[] lines;
 * - webhook: POST /dialer/{channel}, signed by the service, then the
 *   generic outcome to /v1/hooks/reminders/generic/{channel}, signed back.
 * And GET /healthz, 200 while it serves.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ulfius.h>

#include "common/form.h"
#include "common/hash.h"
#include "common/http_client.h"
#include "common/strbuf.h"
#include "common/time.h"
#include "common/twilio_sig.h"
#include "common/xmalloc.h"
#include "patient_testable.h"
#include "sim.h"

#define FORM "application/x-www-form-urlencoded"
#define RECORD_MAX 10000 /* Twilio resources kept for the list pages */
#define MAX_FIELDS 64

static const struct sim_config *cfg;

/* Twilio's record of what was sent: [{"kind", "to", "doc"}], newest last,
 * under record_mu. */
static pthread_mutex_t record_mu = PTHREAD_MUTEX_INITIALIZER;
static json_t *record;
/* SMS.ru's ids, under record_mu; from the clock's milliseconds at start,
 * so that a stand-in started again (the database kept) gives no id a send
 * of an earlier run has: its delivery reports would land on that send. */
static unsigned long sms_seq;

const char *sim_cred(const json_t *channel, const char *field)
{
    return json_string_value(json_object_get(json_object_get(channel, "credentials"), field));
}

const json_t *sim_channel(const struct sim_config *c, const char *provider, const char *field,
                          const char *value)
{
    size_t i;
    const json_t *ch;
    json_array_foreach(json_object_get(c->network, "channels"), i, ch)
    {
        const char *kind = json_string_value(json_object_get(ch, "kind"));
        const char *prov = json_string_value(json_object_get(ch, "provider"));
        const char *have = strcmp(field, "id") == 0 ? json_string_value(json_object_get(ch, "id"))
                                                    : sim_cred(ch, field);
        if (kind && strcmp(kind, "gateway") == 0 && prov && strcmp(prov, provider) == 0 && have &&
            value && strcmp(have, value) == 0)
            return ch;
    }
    return NULL;
}

/* fields[n][2] as a form body. */
static char *form_body(const char *const (*fields)[2], size_t n)
{
    struct cf_strbuf b = {0};
    for (size_t i = 0; i < n; i++)
        cf_strbuf_add_form(&b, fields[i][0], fields[i][1]);
    return cf_strbuf_take(&b);
}

/* A Twilio callback of fields to url, signed with token, due at due_ms. */
static void twilio_callback(const char *token, const char *url, const char *const (*fields)[2],
                            size_t n, int64_t due_ms)
{
    struct cf_form_field ff[MAX_FIELDS];
    struct cf_form form = {ff, n};
    char sig[CF_TWILIO_SIG_LEN + 1], header[64];
    for (size_t i = 0; i < n; i++)
        ff[i] = (struct cf_form_field){(char *)fields[i][0], (char *)fields[i][1],
                                       strlen(fields[i][0]), strlen(fields[i][1])};
    cf_twilio_signature(token, url, &form, 0, sig);
    snprintf(header, sizeof(header), "X-Twilio-Signature: %s", sig);
    sim_callback_add(due_ms, cf_xstrdup(url), form_body(fields, n), FORM, header);
}

static void answer_json(struct _u_response *resp, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    ulfius_set_string_body_response(resp, (unsigned)status, text);
    u_map_put(resp->map_header, "Content-Type", "application/json");
    free(text);
    json_decref(j);
}

static int parse_form(const struct _u_request *req, struct cf_form *form)
{
    char errbuf[128];
    return cf_form_parse(req->binary_body ? req->binary_body : "", req->binary_body_length,
                         MAX_FIELDS, form, errbuf, sizeof(errbuf));
}

/* How long after a survey SMS its patient answers, in delays. */
#define SURVEY_DELAYS 20

/* A survey SMS delivered: its patient may answer on the page its link
 * opens (POST score=N, as the page's form does), a while later. */
static void survey_reply(const char *text, const char *key, int delivered)
{
    char link[512], body[24];
    const int score = sim_nps_score(key);
    if (!delivered || score < 0 || !sim_nps_link(text, link, sizeof(link)))
        return;
    snprintf(body, sizeof(body), "score=%d", score);
    sim_callback_add(sim_now_ms() + SURVEY_DELAYS * cfg->delay_ms, cf_xstrdup(link),
                     cf_xstrdup(body), FORM, NULL);
}

/* What a patient's answer is drawn from: the send id a Twilio callback
 * URL carries (the reminders service puts it there), else the whole URL.
 * The same send gets the same answer whichever gateway carried it. A new
 * string. */
static char *send_key(const char *url)
{
    const char *q = strchr(url, '?');
    struct cf_form query = {0};
    char errbuf[64], *key = NULL;
    if (q &&
        cf_form_parse(q + 1, strcspn(q + 1, "#"), MAX_FIELDS, &query, errbuf, sizeof(errbuf)) ==
            0 &&
        cf_form_get(&query, "send_id"))
        key = cf_xstrdup(cf_form_get(&query, "send_id"));
    cf_form_free(&query);
    return key ? key : cf_xstrdup(url);
}

/* 32 hex characters of key's SHA-256: a sid that is the same for a send
 * sent again. */
static void sid_of(const char *prefix, const char *key, char out[35])
{
    uint8_t d[32];
    char hex[65];
    cf_sha256(key, strlen(key), d);
    cf_hex(d, 16, hex);
    snprintf(out, 35, "%s%.32s", prefix, hex);
}

/* --- Twilio ---------------------------------------------------------------- */

/* The Twilio channel of the request's account, when its basic auth is
 * that account's. */
static const json_t *twilio_account(const struct _u_request *req)
{
    const char *sid = u_map_get(req->map_url, "sid");
    const json_t *ch = sim_channel(cfg, "twilio", "account_sid", sid);
    const char *token = sim_cred(ch, "auth_token");
    if (!ch || !token)
        return NULL;
    char *want = cf_http_basic_auth(sid, token);
    const char *got = u_map_get_case(req->map_header, "Authorization");
    const int ok = got && cf_ct_equal(want, strlen(want), got, strlen(got));
    free(want);
    return ok ? ch : NULL;
}

static int twilio_denied(struct _u_response *resp)
{
    answer_json(
        resp, 401,
        json_pack("{s:i, s:s, s:i}", "code", 20003, "message", "Authenticate", "status", 401));
    return U_CALLBACK_COMPLETE;
}

/* Keeps doc in the record and answers it, 201. */
static int twilio_created(struct _u_response *resp, const char *kind, const char *to, json_t *doc)
{
    pthread_mutex_lock(&record_mu);
    if (json_array_size(record) >= RECORD_MAX)
        json_array_remove(record, 0);
    json_array_append_new(record, json_pack("{s:s, s:s, s:O}", "kind", kind, "to", to, "doc", doc));
    pthread_mutex_unlock(&record_mu);
    answer_json(resp, 201, doc);
    return U_CALLBACK_COMPLETE;
}

/* The <Gather action="..."> of TwiML, unescaped, or NULL. */
static char *gather_action(const char *twiml)
{
    const char *p = twiml ? strstr(twiml, "action=\"") : NULL;
    if (!p)
        return NULL;
    p += 8;
    const char *end = strchr(p, '"');
    if (!end)
        return NULL;
    struct cf_strbuf b = {0};
    while (p < end) {
        if (strncmp(p, "&amp;", 5) == 0) {
            cf_strbuf_add(&b, "&");
            p += 5;
        } else {
            cf_strbuf_add_n(&b, p++, 1);
        }
    }
    return cf_strbuf_take(&b);
}

static int twilio_call(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)user;
    const json_t *ch = twilio_account(req);
    struct cf_form f = {0};
    if (!ch)
        return twilio_denied(resp);
    if (parse_form(req, &f) != 0 || !cf_form_get(&f, "To") || !cf_form_get(&f, "StatusCallback")) {
        cf_form_free(&f);
        answer_json(resp, 400, json_pack("{s:i, s:s}", "code", 21201, "message", "No To"));
        return U_CALLBACK_COMPLETE;
    }
    const char *to = cf_form_get(&f, "To"), *from = cf_form_get(&f, "From");
    const char *status_url = cf_form_get(&f, "StatusCallback");
    const char *token = sim_cred(ch, "auth_token");
    const char *account = u_map_get(req->map_url, "sid");
    char sid[35], seconds[16];
    char *key = send_key(status_url);
    sid_of("CA", status_url, sid);
    const enum sim_call answer = sim_call_answer(key);
    const char *digit = sim_call_digit(answer);
    char *action = gather_action(cf_form_get(&f, "Twiml"));
    int64_t due = sim_now_ms() + cfg->delay_ms;
    from = from ? from : "";
    if (digit && action) {
        const char *const pressed[][2] = {{"AccountSid", account},
                                          {"CallSid", sid},
                                          {"CallStatus", "in-progress"},
                                          {"Digits", digit},
                                          {"Direction", "outbound-api"},
                                          {"From", from},
                                          {"To", to}};
        twilio_callback(token, action, pressed, sizeof(pressed) / sizeof(pressed[0]), due);
        due += 1000;
    }
    snprintf(seconds, sizeof(seconds), "%d", sim_call_seconds(key, answer));
    free(key);
    const char *const end[][2] = {
        {"AccountSid", account},
        {"CallSid", sid},
        {"CallStatus", answer == SIM_NO_ANSWER ? "no-answer"
                       : answer == SIM_BUSY    ? "busy"
                                               : "completed"},
        {"CallDuration", seconds},
        {"Direction", "outbound-api"},
        {"From", from},
        {"To", to},
    };
    twilio_callback(token, status_url, end, sizeof(end) / sizeof(end[0]), due);
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "sid", sid, "account_sid", account, "to", to,
                  "from", from, "status", "queued", "direction", "outbound-api");
    free(action);
    const int rc = twilio_created(resp, "call", to, doc);
    cf_form_free(&f);
    return rc;
}

static int twilio_message(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)user;
    const json_t *ch = twilio_account(req);
    struct cf_form f = {0};
    if (!ch)
        return twilio_denied(resp);
    if (parse_form(req, &f) != 0 || !cf_form_get(&f, "To") || !cf_form_get(&f, "Body") ||
        !cf_form_get(&f, "StatusCallback")) {
        cf_form_free(&f);
        answer_json(resp, 400, json_pack("{s:i, s:s}", "code", 21602, "message", "No Body"));
        return U_CALLBACK_COMPLETE;
    }
    const char *to = cf_form_get(&f, "To"), *from = cf_form_get(&f, "From");
    const char *status_url = cf_form_get(&f, "StatusCallback");
    const char *account = u_map_get(req->map_url, "sid");
    char sid[35];
    sid_of("SM", status_url, sid);
    from = from ? from : "";
    char *key = send_key(status_url);
    const int delivered = sim_sms_fate(key) == SIM_DELIVERED;
    survey_reply(cf_form_get(&f, "Body"), key, delivered);
    free(key);
    const char *const st[][2] = {
        {"AccountSid", account},
        {"MessageSid", sid},
        {"MessageStatus", delivered ? "delivered" : "undelivered"},
        {"From", from},
        {"To", to},
        {"ErrorCode", "30003"}, /* only with undelivered: Twilio's "unreachable" */
    };
    twilio_callback(sim_cred(ch, "auth_token"), status_url, st,
                    sizeof(st) / sizeof(st[0]) - (delivered ? 1 : 0), sim_now_ms() + cfg->delay_ms);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "sid", sid, "account_sid",
                            account, "to", to, "from", from, "body", cf_form_get(&f, "Body"),
                            "status", "queued", "direction", "outbound-api");
    const int rc = twilio_created(resp, "sms", to, doc);
    cf_form_free(&f);
    return rc;
}

/* GET Calls.json or Messages.json?To=...: newest first, one page. */
static int twilio_list(const struct _u_request *req, struct _u_response *resp, void *user)
{
    const char *kind = user;
    const char *to = u_map_get(req->map_url, "To");
    if (!twilio_account(req))
        return twilio_denied(resp);
    json_t *items = json_array();
    size_t i = 0;
    pthread_mutex_lock(&record_mu);
    for (i = json_array_size(record); i-- > 0;) {
        const json_t *r = json_array_get(record, i);
        if (strcmp(json_string_value(json_object_get(r, "kind")), kind) == 0 &&
            (!to || strcmp(json_string_value(json_object_get(r, "to")), to) == 0) &&
            json_array_size(items) < 50)
            json_array_append(items, json_object_get(r, "doc"));
    }
    pthread_mutex_unlock(&record_mu);
    answer_json(resp, 200,
                json_pack("{s:o, s:i}", strcmp(kind, "sms") == 0 ? "messages" : "calls", items,
                          "page_size", 50));
    return U_CALLBACK_COMPLETE;
}

/* --- SMS.ru --------------------------------------------------------------- */

static int smsru_send(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)user;
    struct cf_form f = {0};
    parse_form(req, &f);
    const json_t *ch = sim_channel(cfg, "smsru", "api_id", cf_form_get(&f, "api_id"));
    const char *to = cf_form_get(&f, "to");
    if (!ch || !to || !cf_form_get(&f, "msg")) {
        cf_form_free(&f);
        answer_json(resp, 200,
                    json_pack("{s:s, s:i, s:s}", "status", "ERROR", "status_code", ch ? 202 : 200,
                              "status_text",
                              ch ? "Неправильно указан получатель" : "Неправильный api_id"));
        return U_CALLBACK_COMPLETE;
    }
    char sms_id[32];
    pthread_mutex_lock(&record_mu);
    snprintf(sms_id, sizeof(sms_id), "%06lu-%06lu", 100000 + (sms_seq / 1000000) % 900000,
             sms_seq % 1000000);
    sms_seq++;
    pthread_mutex_unlock(&record_mu);
    const char *token = sim_cred(ch, "callback_token");
    char *url = cf_xasprintf("%s/v1/hooks/reminders/smsru/%s?token=%s", cfg->reminders_url,
                             json_string_value(json_object_get(ch, "id")), token ? token : "");
    const int delivered = sim_sms_fate(sms_id) == SIM_DELIVERED;
    char *line = cf_xasprintf("sms_status\n%s\n%s", sms_id, delivered ? "103" : "105");
    survey_reply(cf_form_get(&f, "msg"), sms_id, delivered);
    const char *const data[][2] = {{"data[0]", line}};
    sim_callback_add(sim_now_ms() + cfg->delay_ms, url, form_body(data, 1), FORM, NULL);
    free(line);
    json_t *sms = json_object();
    json_object_set_new(
        sms, to,
        json_pack("{s:s, s:i, s:s}", "status", "OK", "status_code", 100, "sms_id", sms_id));
    answer_json(resp, 200,
                json_pack("{s:s, s:i, s:o, s:f}", "status", "OK", "status_code", 100, "sms", sms,
                          "balance", 1000.0));
    cf_form_free(&f);
    return U_CALLBACK_COMPLETE;
}

/* --- a clinic's dialer (webhook) ------------------------------------------ */

static int dialer(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)user;
    const char *channel = u_map_get(req->map_url, "channel");
    const json_t *ch = sim_channel(cfg, "webhook", "id", channel);
    const char *secret = sim_cred(ch, "secret");
    char *body = cf_xcalloc(req->binary_body_length + 1, 1);
    char sig[CF_HMAC_SIG_LEN + 1], header[32 + CF_HMAC_SIG_LEN];
    if (req->binary_body_length)
        memcpy(body, req->binary_body, req->binary_body_length);
    const char *got = u_map_get_case(req->map_header, "X-Clinicflow-Signature");
    if (!cf_hmac_sha256_sig_valid(secret, body, req->binary_body_length, got)) {
        free(body);
        ulfius_set_string_body_response(resp, 401, "bad signature");
        return U_CALLBACK_COMPLETE;
    }
    json_t *doc = json_loads(body, 0, NULL);
    free(body);
    const char *send_id = json_string_value(json_object_get(doc, "send_id"));
    const char *kind =
        json_string_value(json_object_get(json_object_get(doc, "command"), "channel"));
    if (!send_id || !kind) {
        json_decref(doc);
        ulfius_set_string_body_response(resp, 400, "no send_id or command.channel");
        return U_CALLBACK_COMPLETE;
    }
    json_t *report;
    if (strcmp(kind, "sms") == 0) {
        const int delivered = sim_sms_fate(send_id) == SIM_DELIVERED;
        report = json_pack("{s:s, s:s}", "send_id", send_id, "outcome",
                           delivered ? "sms_delivered" : "sms_failed");
        survey_reply(json_string_value(json_object_get(doc, "text")), send_id, delivered);
    } else {
        const enum sim_call answer = sim_call_answer(send_id);
        report =
            json_pack("{s:s, s:s, s:i}", "send_id", send_id, "outcome", sim_call_outcome(answer),
                      "duration_s", sim_call_seconds(send_id, answer));
    }
    char *text = json_dumps(report, JSON_COMPACT);
    cf_hmac_sha256_sig(secret, text, strlen(text), sig);
    snprintf(header, sizeof(header), "X-Clinicflow-Signature: %s", sig);
    sim_callback_add(sim_now_ms() + cfg->delay_ms,
                     cf_xasprintf("%s/v1/hooks/reminders/generic/%s", cfg->reminders_url, channel),
                     text, "application/json", header);
    json_decref(report);
    json_decref(doc);
    ulfius_set_string_body_response(resp, 200, "accepted");
    return U_CALLBACK_COMPLETE;
}

static int healthz(const struct _u_request *req, struct _u_response *resp, void *user)
{
    (void)req;
    (void)user;
    ulfius_set_string_body_response(resp, 200, "ok");
    return U_CALLBACK_COMPLETE;
}

void sim_routes(struct _u_instance *inst, const struct sim_config *c)
{
    cfg = c;
    record = json_array();
    sms_seq = (unsigned long)(cf_time_now_ms() % 900000000000LL);
    ulfius_add_endpoint_by_val(inst, "POST", NULL, "/2010-04-01/Accounts/:sid/Calls.json", 0,
                               twilio_call, NULL);
    ulfius_add_endpoint_by_val(inst, "POST", NULL, "/2010-04-01/Accounts/:sid/Messages.json", 0,
                               twilio_message, NULL);
    ulfius_add_endpoint_by_val(inst, "GET", NULL, "/2010-04-01/Accounts/:sid/Calls.json", 0,
                               twilio_list, "call");
    ulfius_add_endpoint_by_val(inst, "GET", NULL, "/2010-04-01/Accounts/:sid/Messages.json", 0,
                               twilio_list, "sms");
    ulfius_add_endpoint_by_val(inst, "POST", NULL, "/sms/send", 0, smsru_send, NULL);
    ulfius_add_endpoint_by_val(inst, "POST", NULL, "/dialer/:channel", 0, dialer, NULL);
    ulfius_add_endpoint_by_val(inst, "GET", NULL, "/healthz", 0, healthz, NULL);
}

void sim_routes_free(void)
{
    json_decref(record);
    record = NULL;
}
