/*
 * A foreign thread for Deno.UnsafeCallback.threadSafe: the way Windows calls a console control
 * handler (on a thread Deno did not create), reduced to pthreads so it runs on Linux.
 *
 * call_later() starts a thread that sleeps, calls the callback with an argument, and records
 * what came back and what the callback had written to `mark` by then; wait_result() joins it
 * (bind it nonblocking, so the JS thread stays free to run the callback).
 */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

typedef int32_t (*handler_fn)(uint32_t);

struct call {
  handler_fn fn;
  uint32_t arg;
  uint32_t delay_ms;
  volatile uint8_t *mark; /* the callback writes here just before it returns */
  int32_t result;
  uint8_t mark_after_return; /* *mark as the foreign thread read it right after the call */
};

static struct call current;
static pthread_t thread;

static void *run(void *unused) {
  (void)unused;
  struct timespec delay = {current.delay_ms / 1000, (long)(current.delay_ms % 1000) * 1000000L};
  nanosleep(&delay, NULL);
  current.result = current.fn(current.arg);
  current.mark_after_return = *current.mark;
  return NULL;
}

/* Start the thread; 0 on success. `mark` must stay valid until wait_result() returns. */
int32_t call_later(handler_fn fn, uint32_t arg, uint32_t delay_ms, volatile uint8_t *mark) {
  current.fn = fn;
  current.arg = arg;
  current.delay_ms = delay_ms;
  current.mark = mark;
  current.result = -1;
  current.mark_after_return = 0;
  return pthread_create(&thread, NULL, run, NULL);
}

/* Join the thread; returns what the callback returned. */
int32_t wait_result(void) {
  pthread_join(thread, NULL);
  return current.result;
}

/* The mark byte as the foreign thread read it right after the callback returned. */
int32_t mark_after_return(void) { return current.mark_after_return; }
