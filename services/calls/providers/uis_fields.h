/*
 * The call fields of a UIS notification, by our name, with the UIS
 * variable read when the channel's field_map names none (NULL: none by
 * default). One table for the adapter (uis.c) and for clinicflowctl, which
 * refuses a field_map entry the adapter would never read (a typo would
 * lose that field from every call).
 */
#ifndef CF_CALLS_UIS_FIELDS_H
#define CF_CALLS_UIS_FIELDS_H

static const char *const cf_uis_fields[][2] = {
    {"call_id", "call_session_id"},
    {"event", "notification_mnemonic"},
    {"direction", "direction"},
    {"from", "contact_phone_number"},
    {"to", "virtual_phone_number"},
    {"time", "notification_time"},
    {"started_at", "start_time"},
    {"answered_at", NULL},
    {"ended_at", NULL},
    {"talk_seconds", "talk_time_duration"},
    {"ring_seconds", "wait_time_duration"},
    {"outcome", NULL},
    {"agent_id", "employee_id"},
    {"recording_url", "file_link"},
    {"tracking_number", "virtual_phone_number"},
};
#define CF_UIS_FIELDS_N (sizeof(cf_uis_fields) / sizeof(cf_uis_fields[0]))

#endif
