/*
 * The three ways to run (main.c: --month and --live; load.c: --load) and
 * what they share: turning one of the month's events into requests
 * (queue.c).
 */
#ifndef CF_SIM_MODES_H
#define CF_SIM_MODES_H

#include <signal.h>

#include "args.h"
#include "http.h"
#include "sim.h"

/* What later requests wait for: an appointment's booking (for its outcome
 * and reminders to follow it), a patient's recall history (for the
 * patient's record to follow it); each array indexed by the appointment or
 * person, holding the request's index (sim_http_add) once queued. */
struct sim_deps {
    long *appt_v1, *recall;
};
struct sim_deps *sim_deps_new(const struct sim_month *m);
void sim_deps_free(struct sim_deps *d);

/* Queues the requests of ev (times moved by offset_ms) on h, after what
 * they depend on in deps (NULL when nothing depends). With dni, a site
 * visitor's call (sim_dni_call) is queued as its page's request for a
 * number: the caller's done callback makes the call (sim_dni_follow). */
void sim_queue_event(struct sim_http *h, const struct sim_network *net, const struct sim_targets *t,
                     const struct sim_month *m, const struct sim_ev *ev, int64_t offset_ms,
                     struct sim_deps *deps, int dni);

/* For a done callback: when r is a DNI page's request answered 200,
 * queues on h the call to the number it got (due now) and returns 1, or
 * returns 0 when it got the default number (no call); -1 for any other
 * request or answer. */
int sim_dni_follow(struct sim_http *h, const struct sim_network *net, const struct sim_targets *t,
                   const struct sim_req *r, long status, const char *reply);

/* --load: sends the kinds of args->kinds (calls, leads) at args->rate a
 * second for args->duration seconds, whatever the answers; prints the
 * report (JSON with args->json). Stops early on a signal of sigs (blocked
 * by the caller). Returns the exit status: 0 when every request sent was
 * answered, 1 when one failed or went unanswered, 2 when the month has no
 * event of the kinds. */
int sim_load_run(const struct sim_args *args, const struct sim_network *net,
                 const struct sim_targets *t, const sigset_t *sigs);

#endif
