/*
 * clinicflow-sim: a clinic network's month, generated from a seed and sent
 * through the services' public HTTP interfaces only. The month is a plain
 * array of dated events (model.c, pure); each event becomes one or more
 * HTTP requests in a provider's real format (providers_calls.c,
 * providers_leads.c, mis.c, spend.c); http.c sends them with bounded
 * concurrency; main.c picks the mode (--month, --live, --load).
 */
#ifndef CF_SIM_SIM_H
#define CF_SIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SIM_CLINICS 3
#define SIM_DOCTORS 2 /* per clinic */

enum sim_kind {
    SIM_PATIENT,      /* a patient record (PUT /v1/patients) */
    SIM_CALL,         /* one call, sent as its provider's end-of-call webhook */
    SIM_LEAD,         /* one request of a person through a form or a messenger */
    SIM_APPT,         /* one version of an appointment (PUT /v1/appointments) */
    SIM_SPEND,        /* one day's spend of one source (PUT /v1/spend) */
    SIM_LEAD_OUTCOME, /* the front desk's word on a lead (POST /v1/leads/{id}/events) */
    SIM_REMINDERS,    /* a past visit's reminders by the robot before clinicflow
                         (PUT /v1/appointments/{id}/reminders); --month only */
    SIM_RECALL,       /* a lapsed patient's recall by the robot before clinicflow
                         (PUT /v1/patients/{id}/recall-history), sent before the
                         patient; --month only */
};

enum sim_call_prov { SIM_MANGO, SIM_ASTERISK, SIM_SIPUNI, SIM_CALL_PROVS };
enum sim_lead_chan { SIM_FORM, SIM_TELEGRAM, SIM_WHATSAPP, SIM_VK, SIM_VIBER, SIM_LEAD_CHANS };
enum sim_status { SIM_BOOKED, SIM_COMPLETED, SIM_NO_SHOW, SIM_CANCELLED };
/* What the front desk (its CRM) reports of a lead, in the events route's
 * types; a lost lead's reason is one of the route's. */
enum sim_lead_report { SIM_REPLIED, SIM_LEAD_BOOKED, SIM_LEAD_LOST, SIM_LEAD_SPAM, SIM_REPORTS };
enum sim_lost_reason {
    SIM_LOST_NO_ANSWER,
    SIM_LOST_PRICE,
    SIM_LOST_OTHER_CLINIC,
    SIM_LOST_NOT_RELEVANT,
    SIM_LOST_OTHER,
    SIM_LOST_REASONS
};
enum sim_plan { SIM_PLAN_NONE, SIM_PLAN_PROPOSED, SIM_PLAN_ACCEPTED };
/* The robot's call a day before a visit: none (booked later than that, or
 * cancelled), the patient's key, or nobody (an SMS follows an hour later). */
enum sim_reminder { SIM_REM_NONE, SIM_REM_CONFIRMED, SIM_REM_RESCHEDULE, SIM_REM_UNANSWERED };

/* The demo network's SMS: one segment at its sms_price_per_segment, in
 * kopecks. */
#define SIM_SMS_COST_MINOR 335

/* What a call was in the month's story (the totals count by it). */
enum sim_call_role { SIM_CALL_PLAIN, SIM_CALL_MISSED, SIM_CALL_CALLBACK };

/* Ad sources the model knows; a call's comes from its tracking number,
 * a form lead's from its UTM tags. */
enum sim_source {
    SIM_SRC_NONE,
    SIM_SRC_YANDEX_BRAND, /* paid brand campaign: mostly existing patients */
    SIM_SRC_YANDEX,       /* paid, implants campaign */
    SIM_SRC_GOOGLE,
    SIM_SRC_2GIS,
    SIM_SRC_SITE,
    SIM_SOURCES
};

struct sim_person {
    uint32_t idx;
    int clinic;
    int existing;          /* a patient before the month (PUT with the base) */
    int64_t last_visit_ms; /* existing patients: their last visit */
    char phone[16];        /* E.164 */
    const char *first_name;
    /* a member of the month's recall campaign: asked back (the target) or
     * held out at recall_asked_ms; a target who agreed replied at
     * recall_reply_ms (0: never) */
    enum { SIM_RECALL_NONE, SIM_RECALL_TARGET, SIM_RECALL_HOLDOUT } recall;
    int64_t recall_asked_ms, recall_reply_ms;
};

struct sim_appt {
    uint32_t idx;
    uint32_t person;
    int clinic, doctor;
    int new_patient;
    int recall; /* booked through the recall campaign */
    int64_t booked_ms, starts_ms;
    enum sim_status status; /* the final one (SIM_BOOKED: still ahead) */
    double paid;
    enum sim_plan plan;
    double plan_amount;
    enum sim_reminder reminder; /* a visit past: what its reminder came to */
    int reminder_s;             /* the answered call's length */
};

struct sim_ev {
    int64_t at_ms; /* when it happened; events are sorted by it */
    enum sim_kind kind;
    int clinic;
    uint32_t person;
    union {
        struct {
            enum sim_call_prov prov;
            enum sim_call_role role;
            int inbound, answered, ring_s, talk_s;
            int line;      /* index into the provider's numbers (sim_lines) */
            int reception; /* answered by reception, not the call centre */
            uint32_t id;
        } call;
        struct {
            enum sim_lead_chan chan;
            enum sim_source source;
            uint32_t id;
        } lead;
        struct {
            uint32_t appt;
            int version; /* 1 booked, 2 the outcome */
        } appt;
        struct {
            enum sim_source source;
            double amount;
        } spend;
        struct {
            enum sim_lead_chan chan; /* the request's: its id is the lead's */
            uint32_t id;             /* the request's lead.id */
            enum sim_lead_report report;
            enum sim_lost_reason reason; /* SIM_LEAD_LOST */
            uint32_t appt;               /* SIM_LEAD_BOOKED: the appointment */
        } outcome;
    } u;
};

/* The figures of the seeds, and what the month is asked for. */
struct sim_params {
    uint64_t seed;
    /* --live: the patient base is the demo month's, of base_seed (and the
     * same scale), not one of seed's own: the services were sent that one
     * and no other (main.c does not send it again) */
    int has_base_seed;
    uint64_t base_seed;
    int days;
    double scale;
    int64_t end_ms; /* the month ends here (now) */
};

/* What the model made; the part that cannot be sent for a past month
 * (survey replies) is figures. */
struct sim_model_totals {
    long calls_inbound, calls_outbound, calls_missed, calls_called_back, calls_lost;
    long calls_answered_inbound, calls_by_prov[SIM_CALL_PROVS];
    long calls_outbound_by_clinic[SIM_CLINICS]; /* by the clinic they called for */
    long calls_brand_line; /* inbound on the brand campaign's tracking number */
    long leads_by_chan[SIM_LEAD_CHANS], leads, leads_brand, leads_brand_existing;
    /* the front desk's reports (SIM_LEAD_OUTCOME), and each clinic's
     * replies with their working minutes after the request */
    long lead_reports[SIM_REPORTS], lead_unanswered;
    long replies[SIM_CLINICS];
    double reply_working_min[SIM_CLINICS];
    long patients, patients_existing;
    long appts, appts_completed, appts_no_show, appts_cancelled, appts_ahead;
    long new_booked_past, new_no_show; /* booked new patients whose visit has come */
    long new_contacts[SIM_CLINICS], new_booked[SIM_CLINICS];
    long plans_proposed, plans_accepted;
    long doctor_proposed[SIM_CLINICS][SIM_DOCTORS], doctor_accepted[SIM_CLINICS][SIM_DOCTORS];
    double revenue, plans_accepted_amount;
    long spend_rows;
    double spend_amount;
    long reminder_calls, reminder_answered, reminder_confirmed, reminder_reschedule;
    long reminder_short; /* answered calls of 20-30 s */
    double reminder_answered_seconds;
    long reminder_sms;          /* after an unanswered call */
    long reminded_visits[2][2]; /* [confirmed][came]: the show rates' four counts */
    /* the campaign's members, and those who booked after being asked (or
     * held out), by whatever way they booked */
    long recall_members, recall_holdout, recall_booked_target, recall_booked_holdout;
    long recall_agreed; /* targets who replied yes */
    long nps_replies, nps_promoters, nps_detractors;
};

struct sim_month {
    struct sim_params params;
    struct sim_person *persons;
    size_t npersons;
    struct sim_appt *appts;
    size_t nappts;
    struct sim_ev *evs;
    size_t nevs;
    struct sim_model_totals totals;
};

/* model.c: the month for params (deterministic in params). The caller
 * owns out and frees it with sim_month_free. Pure: no I/O, no clock. */
void sim_month_generate(const struct sim_params *params, struct sim_month *out);
void sim_month_free(struct sim_month *m);
/* The month --live sends from now_ms on (pure): a month of its own (the
 * seed mixed with now's hour, so its ids repeat neither the demo month's
 * nor an earlier trickle's) with the demo month's patient base, made in
 * the past and to be moved forward by the returned offset, whole weeks, so
 * that its events fall from now's hour on for days days, each on the
 * weekday it was made for. */
int64_t sim_live_params(uint64_t seed, int days, double scale, int64_t now_ms,
                        struct sim_params *out);
/* Names the model uses, for the request builders and the totals. */
const char *sim_source_name(enum sim_source s);
const char *sim_source_medium(enum sim_source s);
const char *sim_source_campaign(enum sim_source s);
const char *sim_chan_name(enum sim_lead_chan c);
const char *sim_report_name(enum sim_lead_report r);
const char *sim_lost_reason_name(enum sim_lost_reason r);
const char *sim_prov_name(enum sim_call_prov p);
const char *sim_doctor_name(int clinic, int doctor);

/* network.c: what the requests need from the network file. */
struct sim_network {
    json_t *j_doc; /* the whole file */
    const char *id, *secret;
    const char *clinic_ids[SIM_CLINICS];
    const json_t *chan_calls[SIM_CALL_PROVS]; /* channel objects, borrowed */
    const json_t *chan_leads[SIM_LEAD_CHANS];
    const json_t *chan_uis; /* the number pools' PBX; NULL: no DNI calls */
};
int sim_network_load(const char *path, struct sim_network *out, char *errbuf, size_t errbuf_size);
void sim_network_free(struct sim_network *net);
/* Whether tracking number j_tn is in use on date, the network's calendar
 * day ("YYYY-MM-DD": valid_from and valid_to are such days, both
 * inclusive, as the calls service reads them). */
int sim_tracking_in_use(const json_t *j_tn, const char *date);
/* The network's calendar day of t0 (Unix seconds), in its zone (UTC when
 * it names none). */
void sim_network_date(const struct sim_network *net, long long t0, char date[11]);
/* The campaign source s's spend and ad clicks go under at t0 (Unix
 * seconds): that of the source's tracking number in use on the network's
 * day then whose campaign is the model's, or the same name for another
 * period ("hygiene-2026h2" for "hygiene-2026", "implants-2027" for
 * "implants-2026"), so that spend, clicks and calls meet under one
 * campaign; the model's own when none is in use. NULL for a source
 * without one. */
const char *sim_source_campaign_at(const struct sim_network *net, enum sim_source s, long long t0);
/* A credential of a channel, or "" when absent. */
const char *sim_chan_cred(const json_t *j_chan, const char *name);
const char *sim_chan_id(const json_t *j_chan);

/* The services' base URLs and keys (args.c). */
struct sim_targets {
    const char *calls, *leads, *reminders, *analytics;
    const char *ingest_key;
};

/* A site visitor's call (dni.c): what it needs once the page has its
 * number. */
struct sim_dni_visit {
    char clinic[64];
    char visitor[48];
    char call_id[48];
    char phone[16];     /* the caller, E.164 */
    int ring_s, talk_s; /* talk 0: missed */
};

/* One HTTP request, owned by whoever holds it (http.c frees sent ones). */
struct sim_req {
    const char *kind; /* a static label for the totals: "call", "lead", ... */
    int method_put;
    char *url;
    char *body;
    size_t body_len;
    char *headers[6]; /* "Name: value" strings */
    size_t nheaders;
    long dep;                    /* the index of a request that must be answered first, or -1 */
    int64_t due_us;              /* --load: when it was due (sim_http_now_us); 0 elsewhere */
    struct sim_dni_visit *visit; /* a DNI page view: the call its answer leads to */
};
void sim_req_header(struct sim_req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_req_free(struct sim_req *r);

/* Request builders: append to *out what the event becomes (0, 1 or more
 * requests); offset_ms moves the event's times (live mode shifts the month
 * forward). */
void sim_calls_requests(const struct sim_network *net, const struct sim_targets *t,
                        const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                        struct sim_req *out);
void sim_leads_request(const struct sim_network *net, const struct sim_targets *t,
                       const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                       struct sim_req *out);
void sim_mis_patient_request(const struct sim_network *net, const struct sim_targets *t,
                             const struct sim_month *m, const struct sim_person *p,
                             int64_t offset_ms, struct sim_req *out);
void sim_mis_appt_request(const struct sim_network *net, const struct sim_targets *t,
                          const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                          struct sim_req *out);
/* A lapsed patient's recall as its history from the system before. */
void sim_mis_recall_request(const struct sim_network *net, const struct sim_targets *t,
                            const struct sim_month *m, const struct sim_ev *ev,
                            struct sim_req *out);
/* A past visit's reminders as its history from the system before. */
void sim_mis_reminders_request(const struct sim_targets *t, const struct sim_month *m,
                               const struct sim_ev *ev, int64_t offset_ms, struct sim_req *out);
void sim_spend_request(const struct sim_network *net, const struct sim_targets *t,
                       const struct sim_ev *ev, int64_t offset_ms, struct sim_req *out);
void sim_lead_outcome_request(const struct sim_network *net, const struct sim_targets *t,
                              const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                              struct sim_req *out);

/* dni.c: whether ev, made now, is a site visitor's call through dynamic
 * number insertion (pure), the ad the visitor came from, and the page's
 * request for a number (the call follows its answer: sim_dni_follow). */
int sim_dni_call(const struct sim_ev *ev);
enum sim_source sim_dni_source(const struct sim_ev *ev);
void sim_dni_number_request(const struct sim_network *net, const struct sim_targets *t,
                            const struct sim_month *m, const struct sim_ev *ev,
                            struct sim_req *out);

/* An id prefix unique to the seed, so two seeds never share ids. */
void sim_tag(const struct sim_month *m, char out[16]);
/* The prefix of a person's ids: the month's, or for a patient of the base
 * another month made (has_base_seed), that month's. */
void sim_person_tag(const struct sim_month *m, uint32_t person, char out[16]);
/* mis.c: the MIS id of the month's appointment appt ("<tag>-a<appt>"). */
void sim_appt_id(const struct sim_month *m, uint32_t appt, char out[32]);
/* RFC 3339 UTC of ms, "2026-11-20T09:00:00Z". */
void sim_rfc3339(int64_t ms, char out[32]);

#endif
