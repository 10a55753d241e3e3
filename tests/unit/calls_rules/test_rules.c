/*
 * The fold's rules (proto/README.md) one by one, on facts as the intake makes
 * them: the status never goes back, the earliest start and answer win, ring
 * time only from a reported start or ring, abandoned under the threshold
 * and only with a known ring time, targeted from the talk threshold and
 * inbound only, late facts update without moving the status, the private
 * part is never published; and static attribution by validity dates; and
 * the fold's batch plan. A call's row and its COPY text are test_store.c's.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "common/err.h"
#include "cftest.h"
#include "enrich_testable.h"
#include "fold_steps.h"
#include "fold_testable.h"

#include "call_fixture.h"

static void test_status_never_regresses_and_earliest_times_win(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z", NULL);
    CHECK_STR(str(c, "status"), "ended");
    apply(c, "answered", "2026-11-20T10:00:06Z", NULL);
    apply(c, "started", "2026-11-20T10:00:00Z", NULL);
    CHECK_STR(str(c, "status"), "ended");
    CHECK_STR(str(c, "started_at"), "2026-11-20T10:00:00.000Z");
    CHECK_STR(str(c, "answered_at"), "2026-11-20T10:00:06.000Z");
    CHECK_STR(str(c, "ended_at"), "2026-11-20T10:01:00.000Z");
    CHECK(num(c, "ring_seconds") == 6);
    CHECK(num(c, "talk_seconds") == 54);
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK(json_is_true(json_object_get(c, "targeted")));
    /* a later, later-dated started fact does not move the start */
    apply(c, "started", "2026-11-20T10:00:03Z", NULL);
    CHECK_STR(str(c, "started_at"), "2026-11-20T10:00:00.000Z");
    json_decref(c);
}

/* A provider whose every notification carries the durations (UIS's
 * templates) reports 0 on the start; delivered after the end, it does not
 * replace what the end reported. A late update does. */
static void test_an_earlier_stage_does_not_replace_the_end(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s, s:i, s:i, s:s}", "started_at", "2026-11-20T10:00:00Z", "ring_seconds", 8,
                    "talk_seconds", 52, "outcome", "answered"));
    apply(c, "started", "2026-11-20T10:00:00Z",
          json_pack("{s:i, s:i}", "ring_seconds", 0, "talk_seconds", 0));
    apply(c, "answered", "2026-11-20T10:00:08Z",
          json_pack("{s:i, s:i, s:s}", "ring_seconds", 8, "talk_seconds", 0, "outcome", "missed"));
    CHECK(num(c, "ring_seconds") == 8);
    CHECK(num(c, "talk_seconds") == 52);
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK(json_is_true(json_object_get(c, "targeted")));
    /* the same stage again (a second end) and a late update still count */
    apply(c, "ended", "2026-11-20T10:01:00Z", json_pack("{s:i}", "talk_seconds", 50));
    CHECK(num(c, "talk_seconds") == 50);
    apply(c, "updated", "2026-11-20T10:05:00Z", json_pack("{s:i}", "talk_seconds", 51));
    CHECK(num(c, "talk_seconds") == 51);
    json_decref(c);
}

static void test_abandoned_needs_a_known_short_ring(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:40Z",
          json_pack("{s:s, s:i}", "outcome", "missed", "ring_seconds", 9));
    CHECK_STR(str(c, "outcome"), "abandoned");
    CHECK(json_is_false(json_object_get(c, "targeted")));
    json_decref(c);

    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:40Z",
          json_pack("{s:s, s:i}", "outcome", "missed", "ring_seconds", 10));
    CHECK_STR(str(c, "outcome"), "missed"); /* the threshold itself is not "under" */
    json_decref(c);

    /* only the end is known: no ring time, so never abandoned */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:40Z", json_pack("{s:s}", "outcome", "missed"));
    CHECK_STR(str(c, "outcome"), "missed");
    CHECK(!json_object_get(c, "ring_seconds"));
    json_decref(c);

    /* a reported start gives the ring time: 4 s -> abandoned */
    c = new_call("inbound");
    apply(c, "started", "2026-11-20T10:00:00Z", NULL);
    apply(c, "ended", "2026-11-20T10:00:04Z", json_pack("{s:s}", "outcome", "missed"));
    CHECK_STR(str(c, "outcome"), "abandoned");
    CHECK(num(c, "ring_seconds") == 4);
    json_decref(c);

    /* outbound calls are never abandoned */
    c = new_call("outbound");
    apply(c, "ended", "2026-11-20T10:00:40Z",
          json_pack("{s:s, s:i}", "outcome", "missed", "ring_seconds", 3));
    CHECK_STR(str(c, "outcome"), "missed");
    json_decref(c);
}

static void test_targeted_threshold(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s, s:i}", "answered_at", "2026-11-20T10:00:41Z", "talk_seconds", 19));
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK(json_is_false(json_object_get(c, "targeted")));
    json_decref(c);

    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s, s:i}", "answered_at", "2026-11-20T10:00:40Z", "talk_seconds", 20));
    CHECK(json_is_true(json_object_get(c, "targeted")));
    json_decref(c);

    c = new_call("outbound");
    apply(c, "ended", "2026-11-20T10:05:00Z",
          json_pack("{s:s, s:i}", "answered_at", "2026-11-20T10:00:00Z", "talk_seconds", 300));
    CHECK(json_is_false(json_object_get(c, "targeted")));
    json_decref(c);
}

static void test_updates_and_private_part(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s}", "answered_at", "2026-11-20T10:00:10Z"));
    json_t *before = calls_public_copy(c);
    apply(c, "updated", "2026-11-20T10:05:00Z",
          json_pack("{s:s}", "recording_url", "https://pbx.example/rec/1.mp3"));
    CHECK_STR(str(c, "status"), "ended");
    CHECK_STR(str(c, "recording_url"), "https://pbx.example/rec/1.mp3");
    CHECK_STR(str(c, "ended_at"), "2026-11-20T10:01:00.000Z");
    json_t *after = calls_public_copy(c);
    CHECK(!json_equal(before, after));
    CHECK(json_object_get(c, "reported") != NULL);
    CHECK(json_object_get(after, "reported") == NULL);
    json_decref(before);
    json_decref(after);
    json_decref(c);
}

/* The provider answered the caller itself (a greeting, then a dial to the
 * staff): its own "answered" says nothing about the clinic; the staff leg
 * decides the outcome, the answer and the talk time, in either order. */
static void test_a_staff_leg_stand_in_never_overrides_the_leg(void)
{
    /* the leg's answer reached the fold after the sweeper's wait: the
     * stand-in it wrote meanwhile (missed) comes after it and says nothing */
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:s, s:i, s:b}", "outcome", "answered", "answered_at",
                    "2026-11-20T10:00:01Z", "talk_seconds", 44, "agent_expected", 1));
    apply(c, "updated", "2026-11-20T10:00:46Z",
          json_pack("{s:s, s:s, s:i, s:s}", "agent_outcome", "answered", "agent_answered_at",
                    "2026-11-20T10:00:05Z", "agent_talk_seconds", 40, "provider_event_id",
                    "CA1:dial"));
    CHECK_STR(str(c, "outcome"), "answered");
    apply(c, "updated", "2026-11-20T10:06:00Z",
          json_pack("{s:s, s:i, s:s}", "agent_outcome", "missed", "agent_talk_seconds", 0,
                    "provider_event_id", "CA1:staff-leg-unreported"));
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK(num(c, "talk_seconds") == 40);
    json_decref(c);
    /* with no report of the leg, the stand-in decides */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:s, s:i, s:b}", "outcome", "answered", "answered_at",
                    "2026-11-20T10:00:01Z", "talk_seconds", 44, "agent_expected", 1));
    apply(c, "updated", "2026-11-20T10:06:00Z",
          json_pack("{s:s, s:i, s:s}", "agent_outcome", "missed", "agent_talk_seconds", 0,
                    "provider_event_id", "CA1:staff-leg-unreported"));
    CHECK_STR(str(c, "outcome"), "missed");
    json_decref(c);
}

static void test_staff_leg_decides(void)
{
    /* Twilio's order: the dial's end, then the parent's completed. */
    json_t *c = new_call("inbound");
    apply(c, "updated", "2026-11-20T10:00:40Z",
          json_pack("{s:s, s:i}", "agent_outcome", "missed", "agent_talk_seconds", 0));
    CHECK_STR(str(c, "status"), "ringing"); /* a late fact first: the call exists */
    apply(c, "ended", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:s, s:i}", "outcome", "answered", "answered_at", "2026-11-20T10:00:01Z",
                    "talk_seconds", 44));
    CHECK_STR(str(c, "status"), "ended");
    CHECK_STR(str(c, "outcome"), "missed");
    CHECK(!json_object_get(c, "answered_at"));
    CHECK(num(c, "talk_seconds") == 0);
    CHECK(json_is_false(json_object_get(c, "targeted")));
    json_decref(c);

    /* The other order: the call first looked answered, then is not. */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:s, s:i}", "outcome", "answered", "answered_at", "2026-11-20T10:00:01Z",
                    "talk_seconds", 44));
    CHECK_STR(str(c, "outcome"), "answered");
    apply(c, "updated", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:i}", "agent_outcome", "busy", "agent_talk_seconds", 0));
    CHECK_STR(str(c, "outcome"), "busy");
    CHECK(!json_object_get(c, "answered_at"));
    CHECK(!json_object_get(c, "agent_pending")); /* nobody expected a staff leg */
    json_decref(c);

    /* The same, on a channel that announces its staff leg: the call is
     * pending until the leg reports, then pending no more. */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:s, s:i, s:b}", "outcome", "answered", "answered_at",
                    "2026-11-20T10:00:01Z", "talk_seconds", 44, "agent_expected", 1));
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK(json_is_true(json_object_get(c, "agent_pending")));
    apply(c, "updated", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:i}", "agent_outcome", "missed", "agent_talk_seconds", 0));
    CHECK_STR(str(c, "outcome"), "missed");
    CHECK(!json_object_get(c, "agent_pending"));
    /* a late fact of the provider's own (a recording) does not bring it back */
    apply(c, "updated", "2026-11-20T10:02:00Z",
          json_pack("{s:s, s:b}", "recording_url", "https://rec.example/1", "agent_expected", 1));
    CHECK(!json_object_get(c, "agent_pending"));
    CHECK_STR(str(c, "outcome"), "missed");
    json_decref(c);

    /* A call Twilio itself did not answer never reached the dial: no staff
     * leg will come, the call is missed now. */
    c = new_call("inbound");
    apply(c, "started", "2026-11-20T10:00:00Z", json_pack("{s:b}", "agent_expected", 1));
    CHECK(json_is_true(json_object_get(c, "agent_pending"))); /* may still be answered */
    apply(
        c, "ended", "2026-11-20T10:00:30Z",
        json_pack("{s:s, s:i, s:b}", "outcome", "missed", "talk_seconds", 0, "agent_expected", 1));
    CHECK(!json_object_get(c, "agent_pending"));
    CHECK_STR(str(c, "outcome"), "missed");
    json_decref(c);

    /* An outbound call has no greeting in front of it. */
    c = new_call("outbound");
    apply(c, "ended", "2026-11-20T10:00:45Z",
          json_pack("{s:s, s:s, s:i, s:b}", "outcome", "answered", "answered_at",
                    "2026-11-20T10:00:01Z", "talk_seconds", 44, "agent_expected", 1));
    CHECK(!json_object_get(c, "agent_pending"));
    json_decref(c);

    /* Staff answered 12 s into the call and talked 30 s. */
    c = new_call("inbound");
    apply(c, "updated", "2026-11-20T10:00:42Z",
          json_pack("{s:s, s:s, s:i}", "agent_outcome", "answered", "agent_answered_at",
                    "2026-11-20T10:00:12Z", "agent_talk_seconds", 30));
    apply(c, "ended", "2026-11-20T10:00:43Z",
          json_pack("{s:s, s:s, s:i}", "outcome", "answered", "answered_at", "2026-11-20T10:00:01Z",
                    "talk_seconds", 42));
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK_STR(str(c, "answered_at"), "2026-11-20T10:00:12.000Z");
    CHECK(num(c, "talk_seconds") == 30);
    /* the caller waited from the provider's answer to the staff's */
    CHECK_STR(str(c, "started_at"), "2026-11-20T10:00:01.000Z");
    CHECK(num(c, "ring_seconds") == 11);
    CHECK(json_is_true(json_object_get(c, "targeted")));
    json_decref(c);
}

/* Ring time only from what was reported. A UIS end with a talk length and
 * no answer time (a 192 s call that talked 120 s): the answer is the end
 * minus the talk, so 72 s rang; a Sipuni hang-up with status=ANSWER and no
 * answer timestamp: the ring and the talk are unknown, not the whole
 * length as ring. */
static void test_ring_only_from_what_was_reported(void)
{
    json_t *c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:03:12Z",
          json_pack("{s:s, s:i, s:s}", "started_at", "2026-11-20T10:00:00Z", "talk_seconds", 120,
                    "outcome", "answered"));
    CHECK_STR(str(c, "answered_at"), "2026-11-20T10:01:12.000Z");
    CHECK(num(c, "ring_seconds") == 72);
    CHECK(num(c, "talk_seconds") == 120);
    CHECK_STR(str(c, "outcome"), "answered");
    json_decref(c);

    /* no outcome, but a talk length: answered, the same way */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:03:12Z",
          json_pack("{s:s, s:i}", "started_at", "2026-11-20T10:00:00Z", "talk_seconds", 120));
    CHECK_STR(str(c, "answered_at"), "2026-11-20T10:01:12.000Z");
    CHECK(num(c, "ring_seconds") == 72);
    CHECK_STR(str(c, "outcome"), "answered");
    json_decref(c);

    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:03:12Z",
          json_pack("{s:s, s:s, s:s}", "started_at", "2026-11-20T10:00:00Z", "ended_at",
                    "2026-11-20T10:03:12Z", "outcome", "answered"));
    CHECK_STR(str(c, "outcome"), "answered");
    CHECK(!json_object_get(c, "ring_seconds"));
    CHECK(!json_object_get(c, "talk_seconds"));
    CHECK(!json_object_get(c, "answered_at"));
    json_decref(c);

    /* a missed call rang to its end, as before */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:30Z",
          json_pack("{s:s, s:s, s:i}", "started_at", "2026-11-20T10:00:00Z", "outcome", "missed",
                    "talk_seconds", 0));
    CHECK(num(c, "ring_seconds") == 30);
    CHECK(!json_object_get(c, "answered_at"));
    CHECK_STR(str(c, "outcome"), "missed");
    json_decref(c);
}

/* Unknown is not missed: an end that says neither how the call went nor
 * when it was answered (a UIS "call ended" template without durations)
 * leaves the outcome absent, and no ring is guessed; a later fact that
 * says missed (UIS's lost-call notification) decides it. */
static void test_unknown_is_not_missed(void)
{
    json_t *c = new_call("inbound");
    apply(c, "started", "2026-11-20T10:00:00Z", NULL);
    apply(c, "ended", "2026-11-20T10:00:40Z", NULL);
    CHECK_STR(str(c, "status"), "ended");
    CHECK(!json_object_get(c, "outcome"));
    CHECK(!json_object_get(c, "ring_seconds"));
    CHECK(json_is_false(json_object_get(c, "targeted")));
    apply(c, "ended", "2026-11-20T10:00:40Z", json_pack("{s:s}", "outcome", "missed"));
    CHECK_STR(str(c, "outcome"), "missed");
    CHECK(num(c, "ring_seconds") == 40);
    json_decref(c);

    /* an answer time alone still says answered */
    c = new_call("inbound");
    apply(c, "ended", "2026-11-20T10:00:40Z",
          json_pack("{s:s}", "answered_at", "2026-11-20T10:00:10Z"));
    CHECK_STR(str(c, "outcome"), "answered");
    json_decref(c);
}

static void test_static_attribution_validity(void)
{
    json_error_t jerr;
    json_t *doc = json_loads("{\"tracking_numbers\": ["
                             "{\"number\": \"+74950000301\", \"source\": \"yandex\", \"medium\":"
                             " \"cpc\", \"valid_from\": \"2026-01-01\", \"valid_to\": "
                             "\"2026-06-30\"},"
                             "{\"number\": \"+74950000301\", \"source\": \"google\","
                             " \"valid_from\": \"2026-07-01\"}]}",
                             0, &jerr);
    struct cf_network net = {.id = "demo", .doc = doc};
    json_t *a = calls_static_attribution(&net, "+74950000301", "2026-06-30T23:59:59.000Z");
    CHECK_STR(str(a, "source"), "yandex");
    CHECK_STR(str(a, "medium"), "cpc");
    CHECK_STR(str(a, "kind"), "static");
    json_decref(a);
    a = calls_static_attribution(&net, "+74950000301", "2026-07-01T00:00:00.000Z");
    CHECK_STR(str(a, "source"), "google"); /* the number moved to another campaign */
    CHECK(!json_object_get(a, "medium"));
    json_decref(a);
    a = calls_static_attribution(&net, "+74950000301", "2025-12-31T12:00:00.000Z");
    CHECK(a == NULL); /* before any validity */
    a = calls_static_attribution(&net, "+74950000999", "2026-03-01T12:00:00.000Z");
    CHECK(a == NULL);

    /* The dates are the network's days: in Moscow (UTC+3) 22:00Z on 30 June
     * is 1 July, and 21:30Z on 31 December 2025 is already 2026. */
    net.tz = "Europe/Moscow";
    a = calls_static_attribution(&net, "+74950000301", "2026-06-30T22:00:00.000Z");
    CHECK_STR(str(a, "source"), "google");
    json_decref(a);
    a = calls_static_attribution(&net, "+74950000301", "2026-06-30T20:59:59.000Z");
    CHECK_STR(str(a, "source"), "yandex");
    json_decref(a);
    a = calls_static_attribution(&net, "+74950000301", "2025-12-31T21:30:00.000Z");
    CHECK_STR(str(a, "source"), "yandex");
    json_decref(a);
    /* A zone the database does not know falls back to the UTC date. */
    net.tz = "Nowhere/Atlantis";
    a = calls_static_attribution(&net, "+74950000301", "2026-06-30T22:00:00.000Z");
    CHECK_STR(str(a, "source"), "yandex");
    json_decref(a);
    json_decref(doc);
}

/* The agent group map (network config "agents" and "staff_numbers"): by
 * provider and id, a clinic's own entry over a network-wide one, another
 * clinic's never; a phone-number agent by its E.164 form. */
static const char agents_doc[] =
    "{\"agents\": ["
    " {\"provider\": \"mango\", \"id\": \"101\", \"group\": \"call_center\"},"
    " {\"provider\": \"mango\", \"id\": \"201\", \"group\": \"call_center\"},"
    " {\"provider\": \"mango\", \"id\": \"201\", \"group\": \"reception\","
    "  \"clinic_id\": \"demo-north\"},"
    " {\"provider\": \"sipuni\", \"id\": \"301\", \"group\": \"reception\","
    "  \"clinic_id\": \"demo-south\"},"
    " {\"provider\": \"uis\", \"id\": \"323409\", \"group\": \"reception\"}],"
    " \"staff_numbers\": ["
    " {\"number\": \"+79031112233\", \"group\": \"reception\"},"
    " {\"number\": \"+79031112244\", \"group\": \"call_center\", \"clinic_id\": \"demo-north\"}]}";

static void test_agent_group_map(void)
{
    json_error_t jerr;
    json_t *doc = json_loads(agents_doc, 0, &jerr);
    struct cf_network net = {.id = "demo", .doc = doc};

    CHECK(doc != NULL);
    CHECK_STR(calls_agent_group(&net, "mango", "101", "demo-center", "7"), "call_center");
    CHECK_STR(calls_agent_group(&net, "mango", "101", NULL, "7"), "call_center");
    CHECK(calls_agent_group(&net, "zadarma", "101", "demo-center", "7") == NULL); /* provider */
    CHECK(calls_agent_group(&net, "mango", "102", "demo-center", "7") == NULL);
    /* the clinic's own entry wins over the network-wide one, in any order */
    CHECK_STR(calls_agent_group(&net, "mango", "201", "demo-north", "7"), "reception");
    CHECK_STR(calls_agent_group(&net, "mango", "201", "demo-south", "7"), "call_center");
    /* another clinic's entry never applies */
    CHECK_STR(calls_agent_group(&net, "sipuni", "301", "demo-south", "7"), "reception");
    CHECK(calls_agent_group(&net, "sipuni", "301", "demo-north", "7") == NULL);
    CHECK(calls_agent_group(&net, "sipuni", "301", NULL, "7") == NULL);
    /* a staff phone in any form the provider writes it */
    CHECK_STR(calls_agent_group(&net, "sipuni", "89031112233", "demo-south", "7"), "reception");
    CHECK_STR(calls_agent_group(&net, "asterisk", "+7 903 111-22-33", NULL, "7"), "reception");
    CHECK_STR(calls_agent_group(&net, "generic", "79031112244", "demo-north", "7"), "call_center");
    CHECK(calls_agent_group(&net, "generic", "79031112244", "demo-center", "7") == NULL);
    /* an extension is not a phone: no staff-number match by its digits */
    CHECK(calls_agent_group(&net, "asterisk", "101", NULL, "7") == NULL);
    CHECK(calls_agent_group(&net, "mango", "", NULL, "7") == NULL);
    CHECK(calls_agent_group(&net, "mango", NULL, NULL, "7") == NULL);
    CHECK(calls_agent_group(NULL, "mango", "101", NULL, "7") == NULL);
    json_decref(doc);

    /* a network without the maps */
    doc = json_object();
    net.doc = doc;
    CHECK(calls_agent_group(&net, "mango", "101", NULL, "7") == NULL);
    json_decref(doc);
}

/* The decision on a call: set from the map when the facts carried no group,
 * the provider's own group wins (even over a group the map set before),
 * kept while the agent stays, decided again when the agent changes. */
static void test_agent_group_decision(void)
{
    json_error_t jerr;
    json_t *doc = json_loads(agents_doc, 0, &jerr);
    struct cf_network net = {.id = "demo", .doc = doc};

    json_t *c = new_call("inbound");
    json_object_set_new(c, "provider", json_string("mango"));
    apply(c, "answered", "2026-11-20T10:00:08Z", json_pack("{s:s}", "agent_id", "101"));
    calls_decide_agent_group(&net, c, "7");
    CHECK_STR(str(c, "agent_group"), "call_center");
    /* the map's memory is private: not published */
    json_t *pub = calls_public_copy(c);
    CHECK(!json_object_get(pub, "reported"));
    CHECK_STR(str(pub, "agent_group"), "call_center");
    json_decref(pub);

    /* a network change does not move a decided call while its agent stays */
    json_t *other = json_loads("{\"agents\": [{\"provider\": \"mango\", \"id\": \"101\","
                               " \"group\": \"reception\"}]}",
                               0, &jerr);
    struct cf_network net2 = {.id = "demo", .doc = other};
    apply(c, "ended", "2026-11-20T10:01:00Z", json_pack("{s:s}", "agent_id", "101"));
    calls_decide_agent_group(&net2, c, "7");
    CHECK_STR(str(c, "agent_group"), "call_center");
    json_decref(other);

    /* a transfer to an agent the map does not know: the old group goes */
    apply(c, "updated", "2026-11-20T10:01:05Z", json_pack("{s:s}", "agent_id", "999"));
    calls_decide_agent_group(&net, c, "7");
    CHECK(!json_object_get(c, "agent_group"));
    /* ... and one it knows */
    apply(c, "updated", "2026-11-20T10:01:06Z", json_pack("{s:s}", "agent_id", "201"));
    json_object_set_new(c, "clinic_id", json_string("demo-north"));
    calls_decide_agent_group(&net, c, "7");
    CHECK_STR(str(c, "agent_group"), "reception");

    /* a fact with a group of its own wins over the map's, and stays */
    apply(c, "updated", "2026-11-20T10:01:07Z",
          json_pack("{s:s, s:s}", "agent_id", "201", "agent_group", "call_center"));
    calls_decide_agent_group(&net, c, "7");
    CHECK_STR(str(c, "agent_group"), "call_center");
    apply(c, "updated", "2026-11-20T10:01:08Z", json_pack("{s:s}", "agent_id", "101"));
    calls_decide_agent_group(&net, c, "7");
    CHECK_STR(str(c, "agent_group"), "call_center");
    CHECK_STR(str(c, "agent_id"), "101");
    json_decref(c);

    /* explicit from the start (the generic route, Asterisk): the map is not asked */
    c = new_call("inbound");
    json_object_set_new(c, "provider", json_string("mango"));
    apply(c, "ended", "2026-11-20T10:01:00Z",
          json_pack("{s:s, s:s}", "agent_id", "101", "agent_group", "reception"));
    calls_decide_agent_group(&net, c, "7");
    CHECK_STR(str(c, "agent_group"), "reception");
    json_decref(c);

    /* no agent, no group; a staff phone as the agent */
    c = new_call("inbound");
    json_object_set_new(c, "provider", json_string("sipuni"));
    apply(c, "ended", "2026-11-20T10:01:00Z", NULL);
    calls_decide_agent_group(&net, c, "7");
    CHECK(!json_object_get(c, "agent_group"));
    apply(c, "updated", "2026-11-20T10:01:02Z", json_pack("{s:s}", "agent_id", "89031112233"));
    calls_decide_agent_group(&net, c, "7");
    CHECK_STR(str(c, "agent_group"), "reception");
    json_decref(c);
    json_decref(doc);
}

/* A fact of direction dir from `from` to `to` (E.164), with the contact key
 * the intake computed for its external party (NULL: none, a withheld
 * number). */
static json_t *party_fact(const char *dir, const char *from, const char *to, const char *key)
{
    json_t *j_fact = json_pack("{s:s, s:{s:s,s:s}, s:{s:s,s:s,s:s}}", "direction", dir, "from",
                               "raw", from, "kind", from[0] == '+' ? "e164" : "anonymous", "to",
                               "raw", to, "kind", "e164", "e164", to);
    if (from[0] == '+')
        json_object_set_new(json_object_get(j_fact, "from"), "e164", json_string(from));
    if (key)
        json_object_set_new(j_fact, "contact_key", json_string(key));
    return j_fact;
}

/* The caller keeps the first number seen, and the contact key is that
 * number's, whichever fact came last: both are the same person, always. */
static void test_contact_key_follows_the_kept_party(void)
{
    json_t *c = new_call("inbound"); /* its caller: +79161234567 */
    apply(c, "started", "2026-11-20T10:00:00Z",
          party_fact("inbound", "+79161234567", "+74950000301", "key-a"));
    CHECK_STR(str(c, "contact_key"), "key-a");
    /* a later leg reports another number: the caller stays, so does its key */
    apply(c, "ended", "2026-11-20T10:01:00Z",
          party_fact("inbound", "+79169990000", "+74950000301", "key-b"));
    CHECK_STR(str(json_object_get(c, "caller"), "e164"), "+79161234567");
    CHECK_STR(str(c, "contact_key"), "key-a");
    /* a fact of the other direction names another external party */
    apply(c, "updated", "2026-11-20T10:02:00Z",
          party_fact("outbound", "+79161234567", "+74950000301", "key-c"));
    CHECK_STR(str(c, "contact_key"), "key-a");
    json_decref(c);

    /* A withheld caller has no key; the number a later leg reports becomes
     * the caller, and its key the call's. */
    c = new_call("inbound");
    json_object_set_new(c, "caller",
                        json_pack("{s:s, s:s}", "raw", "anonymous", "kind", "anonymous"));
    apply(c, "started", "2026-11-20T10:00:00Z",
          party_fact("inbound", "anonymous", "+74950000301", NULL));
    CHECK(!json_object_get(c, "contact_key"));
    apply(c, "ended", "2026-11-20T10:01:00Z",
          party_fact("inbound", "+79169990000", "+74950000301", "key-b"));
    CHECK_STR(str(json_object_get(c, "caller"), "e164"), "+79169990000");
    CHECK_STR(str(c, "contact_key"), "key-b");
    json_decref(c);

    /* Outbound, the called party is the contact. */
    c = new_call("outbound"); /* its called party: +74950000301 */
    apply(c, "ended", "2026-11-20T10:01:00Z",
          party_fact("outbound", "+79161234567", "+74950000301", "key-called"));
    CHECK_STR(str(c, "contact_key"), "key-called");
    apply(c, "updated", "2026-11-20T10:02:00Z",
          party_fact("outbound", "+79161234567", "+74950000999", "key-other"));
    CHECK_STR(str(c, "contact_key"), "key-called");
    json_decref(c);
}

/* Every result posted is a new one and the latest wins; one that repeats
 * the call's value and comment changes nothing. */
static void test_latest_result_wins(void)
{
    json_t *c = new_call("inbound");
    static const char *const posted[] = {"booked", "refused", "booked"};
    for (int i = 0; i < 3; i++) {
        json_t *j_data = json_pack("{s:s}", "result", posted[i]);
        CHECK(calls_apply_result(c, j_data, 1000 * (i + 1)) == 1);
        CHECK_STR(str(json_object_get(c, "result"), "value"), posted[i]);
        json_decref(j_data);
    }
    CHECK_STR(str(json_object_get(c, "result"), "at"), "1970-01-01T00:00:03.000Z");
    json_t *j_same = json_pack("{s:s}", "result", "booked");
    CHECK(calls_apply_result(c, j_same, 9000) == 0);
    CHECK_STR(str(json_object_get(c, "result"), "at"), "1970-01-01T00:00:03.000Z");
    json_object_set_new(j_same, "comment", json_string("Tuesday 10:00"));
    CHECK(calls_apply_result(c, j_same, 9000) == 1);
    CHECK_STR(str(json_object_get(c, "result"), "comment"), "Tuesday 10:00");
    json_decref(j_same);
    json_t *j_none = json_object();
    CHECK(calls_apply_result(c, j_none, 9000) == 0);
    json_decref(j_none);
    json_decref(c);
}

/* A fold event of the batch tests. */
static void batch_event(struct cf_event *ev, const char *type, const char *subject,
                        const char *network, const char *dir, const char *contact)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = (char *)type;
    ev->subject = (char *)subject;
    ev->networkid = (char *)network;
    ev->data = json_object();
    if (dir)
        json_object_set_new(ev->data, "direction", json_string(dir));
    if (contact)
        json_object_set_new(ev->data, "contact_key", json_string(contact));
}

static void test_batch_plan(void)
{
    static const char *const fact = "clinicflow.call.reported", *const result =
                                                                    "clinicflow.call.result";
    struct cf_event evs[7];
    batch_event(&evs[0], fact, "call-a", "n1", "inbound", "+7916000002");
    batch_event(&evs[1], result, "call-b", "n1", NULL, NULL);
    batch_event(&evs[2], fact, "call-a", "n1", "inbound", "+7916000002");
    batch_event(&evs[3], fact, "call-c", "n1", "outbound", "+7916000003");
    batch_event(&evs[4], fact, "call-d", "n2", "inbound", "+7916000002");
    batch_event(&evs[5], fact, "call-e", "n1", "inbound", "+7916000001");
    batch_event(&evs[6], fact, "call-b", "n1", "inbound", NULL);
    const struct cf_event *ptrs[8] = {&evs[0], &evs[1], &evs[2], &evs[3],
                                      &evs[4], &evs[5], &evs[6], NULL};
    json_t *ids = json_array(), *nets = json_object(), *locks = json_array();

    calls_batch_plan(ptrs, 8, ids, nets, locks); /* a tombstone (NULL) is skipped */
    /* each call once, in the order it first comes */
    json_t *want_ids = json_pack("[s,s,s,s,s]", "call-a", "call-b", "call-c", "call-d", "call-e");
    CHECK(json_equal(ids, want_ids));
    /* the network of each call's first fact (call-b's result is no fact) */
    json_t *want_nets = json_pack("{s:s, s:s, s:s, s:s, s:s}", "call-a", "n1", "call-b", "n1",
                                  "call-c", "n1", "call-d", "n2", "call-e", "n1");
    CHECK(json_equal(nets, want_nets));
    /* inbound facts' contacts, once each, sorted: every instance locks them
     * in one order; an outbound fact's contact takes no unique lock */
    json_t *want_locks = json_pack("[s,s,s]", "n1/+7916000001", "n1/+7916000002", "n2/+7916000002");
    CHECK(json_equal(locks, want_locks));
    if (!json_equal(locks, want_locks)) {
        char *got = json_dumps(locks, 0);
        fprintf(stderr, "locks: %s\n", got);
        free(got);
    }
    json_decref(want_ids);
    json_decref(want_nets);
    json_decref(want_locks);
    json_decref(ids);
    json_decref(nets);
    json_decref(locks);
    for (int i = 0; i < 7; i++)
        json_decref(evs[i].data);
}

/* An inbound call of contact +7916000001 started at t, in the batch's
 * calls (lk->calls and its index) when lk is given. */
static json_t *contact_call(struct calls_lookups *lk, const char *id, const char *t, int unique)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:s}", "call_id", id, "direction", "inbound",
                          "contact_key", "+7916000001", "started_at", t);
    if (unique >= 0)
        json_object_set_new(c, "unique", json_boolean(unique));
    if (lk) {
        json_object_set_new(lk->calls, id, json_pack("{s:s, s:O}", "n", "net-1", "doc", c));
        calls_lookups_index(lk, id, "net-1", c);
    }
    return c;
}

static int64_t ms_of(const char *t)
{
    int64_t ms = 0;
    cf_time_parse(t, &ms);
    return ms;
}

static void test_unique_decision_of_a_batch(void)
{
    struct calls_lookups lk = {0};
    char errbuf[256] = "";
    lk.calls = json_object();
    lk.by_contact = json_object();
    lk.contacts = json_object();
    lk.corrected_ids = json_array();
    json_t *corrected = json_array();
    char *key = calls_lookup_key("net-1", "+7916000001", NULL);

    /* First pass: the window of starts is noted (the look-back, 3600 s,
     * either side of each start); nothing is asked of PostgreSQL. */
    lk.recording = 1;
    json_t *x = contact_call(NULL, "call-x", "2026-11-20T10:00:00Z", -1);
    json_t *y = contact_call(NULL, "call-y", "2026-11-20T12:00:00Z", -1);
    CHECK_INT(calls_decide_unique_batch(&lk, "net-1", x, 3600, corrected, errbuf, sizeof(errbuf)),
              0);
    CHECK_INT(calls_decide_unique_batch(&lk, "net-1", y, 3600, corrected, errbuf, sizeof(errbuf)),
              0);
    json_t *j_c = json_object_get(lk.contacts, key);
    CHECK_INT(json_integer_value(json_object_get(j_c, "lo")), ms_of("2026-11-20T09:00:00Z"));
    CHECK_INT(json_integer_value(json_object_get(j_c, "hi")), ms_of("2026-11-20T13:00:00Z"));
    json_decref(x);
    json_decref(y);

    /* Second pass, with what was fetched: a call stored before the batch
     * 30 minutes after x, flagged unique, and one 5 hours before x. */
    lk.recording = 0;
    json_object_set_new(j_c, "rows",
                        json_pack("[{s:s, s:I, s:b, s:s}, {s:s, s:I, s:b}]", "id", "stored-later",
                                  "at", (json_int_t)ms_of("2026-11-20T10:30:00Z"), "unique", 1,
                                  "doc", "{\"call_id\":\"stored-later\",\"unique\":true}", "id",
                                  "stored-old", "at", (json_int_t)ms_of("2026-11-20T05:00:00Z"),
                                  "unique", 1));
    /* a call of the batch folded before, 10 minutes after x, flagged unique */
    json_t *b = contact_call(&lk, "call-b", "2026-11-20T10:10:00Z", 1);
    x = contact_call(NULL, "call-x", "2026-11-20T10:00:00Z", -1);
    CHECK_INT(calls_decide_unique_batch(&lk, "net-1", x, 3600, corrected, errbuf, sizeof(errbuf)),
              0);
    /* nothing started in the hour before x: unique; both later ones lose it */
    CHECK(json_is_true(json_object_get(x, "unique")));
    CHECK(json_is_false(json_object_get(b, "unique")));
    CHECK(json_is_true(json_object_get(json_object_get(lk.calls, "call-b"), "corrected")));
    CHECK_INT(json_array_size(lk.corrected_ids), 1);
    CHECK_STR(json_string_value(json_array_get(lk.corrected_ids, 0)), "stored-later");
    CHECK_INT(json_array_size(corrected), 2); /* both emitted, un-flagged */
    CHECK(json_is_false(json_object_get(json_array_get(corrected, 0), "unique")));
    CHECK(json_array_get(corrected, 1) == b);

    /* y, 2 hours after x: nothing within its hour before: unique. */
    y = contact_call(NULL, "call-y", "2026-11-20T12:00:00Z", -1);
    CHECK_INT(calls_decide_unique_batch(&lk, "net-1", y, 3600, corrected, errbuf, sizeof(errbuf)),
              0);
    CHECK(json_is_true(json_object_get(y, "unique")));
    /* z, at the same second as b (folded before it): not unique; the
     * stored call already corrected is not corrected again. */
    json_t *z = contact_call(NULL, "call-z", "2026-11-20T10:10:00Z", -1);
    CHECK_INT(calls_decide_unique_batch(&lk, "net-1", z, 3600, corrected, errbuf, sizeof(errbuf)),
              0);
    CHECK(json_is_false(json_object_get(z, "unique")));
    CHECK_INT(json_array_size(lk.corrected_ids), 1);
    /* a start the first pass did not see: the batch goes the careful way */
    json_t *w = contact_call(NULL, "call-w", "2026-11-21T10:00:00Z", -1);
    CHECK_INT(calls_decide_unique_batch(&lk, "net-1", w, 3600, corrected, errbuf, sizeof(errbuf)),
              CF_EINVAL);
    CHECK(json_object_get(w, "unique") == NULL);

    free(key);
    json_decref(w);
    json_decref(z);
    json_decref(y);
    json_decref(x);
    json_decref(b);
    json_decref(corrected);
    json_decref(lk.calls);
    json_decref(lk.by_contact);
    json_decref(lk.contacts);
    json_decref(lk.corrected_ids);
}

int main(void)
{
    test_status_never_regresses_and_earliest_times_win();
    test_an_earlier_stage_does_not_replace_the_end();
    test_abandoned_needs_a_known_short_ring();
    test_targeted_threshold();
    test_updates_and_private_part();
    test_staff_leg_decides();
    test_a_staff_leg_stand_in_never_overrides_the_leg();
    test_ring_only_from_what_was_reported();
    test_unknown_is_not_missed();
    test_static_attribution_validity();
    test_agent_group_map();
    test_agent_group_decision();
    test_contact_key_follows_the_kept_party();
    test_latest_result_wins();
    test_batch_plan();
    test_unique_decision_of_a_batch();
    return cf_test_done();
}
