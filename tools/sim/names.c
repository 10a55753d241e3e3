/*
 * The model's names as the services know them: a source's UTM tags, a
 * lead channel's and a call provider's names in the demo network, the
 * outcomes the front desk reports, and the doctors (sim.h). model.c
 * draws the month by the enums; its senders name them through these.
 */
#include "sim.h"

#include <stddef.h>

static const char *const doctor_names[SIM_CLINICS][SIM_DOCTORS] = {
    {"Иванов И.И.", "Петрова А.С."},
    {"Сидоров П.П.", "Кузнецова Е.В."},
    {"Смирнов Д.А.", "Волкова О.Н."}};

const char *sim_source_name(enum sim_source s)
{
    static const char *const names[SIM_SOURCES] = {NULL,         "yandex_direct", "yandex_direct",
                                                   "google_ads", "2gis",          "site"};
    return names[s];
}

const char *sim_source_medium(enum sim_source s)
{
    static const char *const names[SIM_SOURCES] = {NULL, "cpc", "cpc", "cpc", "listing", "organic"};
    return names[s];
}

const char *sim_source_campaign(enum sim_source s)
{
    static const char *const names[SIM_SOURCES] = {NULL,           "brand", "implants-2026",
                                                   "hygiene-2026", NULL,    NULL};
    return names[s];
}

const char *sim_chan_name(enum sim_lead_chan c)
{
    static const char *const names[SIM_LEAD_CHANS] = {"generic", "telegram", "whatsapp", "vk",
                                                      "viber"};
    return names[c];
}

const char *sim_report_name(enum sim_lead_report r)
{
    static const char *const names[SIM_REPORTS] = {"responded", "booked", "lost", "spam"};
    return names[r];
}

const char *sim_lost_reason_name(enum sim_lost_reason r)
{
    static const char *const names[SIM_LOST_REASONS] = {"no_answer", "price", "chose_other_clinic",
                                                        "not_relevant", "other"};
    return names[r];
}

const char *sim_prov_name(enum sim_call_prov p)
{
    static const char *const names[SIM_CALL_PROVS] = {"mango", "asterisk", "sipuni"};
    return names[p];
}

const char *sim_doctor_name(int clinic, int doctor)
{
    return doctor_names[clinic][doctor];
}
