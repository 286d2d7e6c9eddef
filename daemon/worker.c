/* vcrund: the pool of threads that run blocking libvcrun calls.
 *
 * A pool of its own rather than GTask's: GDBus runs its method authorisation
 * on GTask's pool, and a few sandboxes booting for tens of seconds must not
 * hold up the answer to anyone else's call.
 */
#include "vcrund.h"

/* Enough for many sandboxes booting at once; more calls wait in the queue. */
#define WORKER_MAX_THREADS 64

struct VcdWorker {
  GThreadPool *pool;
};

typedef struct {
  VcdWorkFunc    work;
  VcdDoneFunc    done;
  gpointer       data;
  GDestroyNotify free_data;
  GMainContext  *context;
  GError        *error;
} Job;

static gboolean
job_finish (gpointer user_data)
{
  Job *job = user_data;
  job->done (job->data, job->error);
  if (job->free_data)
    job->free_data (job->data);
  g_clear_error (&job->error);
  g_main_context_unref (job->context);
  g_free (job);
  return G_SOURCE_REMOVE;
}

static void
job_run (gpointer job_data, gpointer pool_data)
{
  Job *job = job_data;
  if (!job->work (job->data, &job->error) && job->error == NULL)
    job->error = g_error_new_literal (VC_ERROR, VC_ERROR_FAILED, "failed (no reason given)");
  g_main_context_invoke (job->context, job_finish, job);
}

VcdWorker *
vcd_worker_new (void)
{
  VcdWorker *worker = g_new0 (VcdWorker, 1);
  /* Cannot fail when not exclusive. */
  worker->pool = g_thread_pool_new (job_run, worker, WORKER_MAX_THREADS, FALSE, NULL);
  return worker;
}

void
vcd_worker_run (VcdWorker *worker, VcdWorkFunc work, VcdDoneFunc done, gpointer data,
                GDestroyNotify free_data)
{
  Job *job = g_new0 (Job, 1);
  job->work = work;
  job->done = done;
  job->data = data;
  job->free_data = free_data;
  job->context = g_main_context_ref_thread_default ();
  g_thread_pool_push (worker->pool, job, NULL);
}

void
vcd_worker_free (VcdWorker *worker)
{
  if (worker == NULL)
    return;
  /* Running jobs finish (a boot in progress completes and is saved, so a
   * later vcrund finds it); their done callbacks never run. */
  g_thread_pool_free (worker->pool, TRUE, TRUE);
  g_free (worker);
}
