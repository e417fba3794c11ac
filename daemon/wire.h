/* wire.h — the one place protobuf meets tasks/: Request → struct task_request, task_run,
 * struct task_response → Response. Compiled only when the tasks module is built. */
#ifndef SOCLED_WIRE_H
#define SOCLED_WIRE_H

#include "daemon/daemon.h"

#ifdef SOCLE_HAVE_TASKS
/* Run a classify/ner/qa/summarize/embed request on the worker's task_worker; the result is
 * built in arena a and set on r (result, n_tokens, truncated), stage times on tm. Returns a
 * socle.v1 Code; when not OK, msg says why. */
int wire_run(const struct daemon *d, struct task_worker *tw, const PbRequest *req, struct arena *a,
             PbResponse *r, PbTiming *tm, char *msg, size_t msglen);
/* wire_run's halves, for the batcher (scheduler.c): Request → task_request (texts validated,
 * arrays in arena a; returns a Code, msg when not OK), and task_response → r's result
 * (0, or -1 out of memory). */
int wire_build_request(const struct daemon *d, struct arena *a, const PbRequest *req,
                       struct task_request *tr, char *msg, size_t msglen);
int wire_convert(struct arena *a, const struct task_request *tr, const struct task_response *tp,
                 PbResponse *r);
/* A MultiRequest → one task_request per sub-task over the same texts (*trs in arena a, n_trs
 * of them; returns a Code, msg when not OK: no tasks, a sub-task with no task or with texts of
 * its own, or what the sub-task's own request would have been refused for). */
int wire_build_multi(const struct daemon *d, struct arena *a, const PbRequest *req,
                     struct task_request **trs, size_t *n_trs, char *msg, size_t msglen);
/* task_responses of a multi job (tps[i] answers trs[i]) → r's MultiResult (0, or -1 out of
 * memory). r->n_tokens is left to the caller: the model tokens are counted once, not per task. */
int wire_convert_multi(struct arena *a, const PbRequest *req, const struct task_request *trs,
                       struct task_response *const *tps, size_t n, PbResponse *r);
/* socle.v1 Code for an enum task_status. */
int wire_code(int task_status);
#endif

#endif
