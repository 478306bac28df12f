/* weft's C API: pthread-style fibers for C programs, so a thread-per-connection
   C server (linked with weft::weft and weft::hook) spawns weft::threads
   without a C++ shim. Each call returns 0 or an errno value, as pthreads do;
   no C++ exception ever crosses it. */
#ifndef WEFT_C_H
#define WEFT_C_H

#ifdef __cplusplus
extern "C" {
#endif

/* A weft thread: a fiber. Valid from weft_thread_create until
   weft_thread_join or weft_thread_detach. */
typedef struct weft_thread* weft_thread_t;

/* Starts fn(arg) as a weft::thread: on the calling worker from a fiber, else
   on the process's own runtime ($WEFT_WORKERS workers, default one per
   usable CPU). Returns 0, EAGAIN (no memory for a stack, or the runtime could not
   start) or ENOMEM. */
int weft_thread_create(weft_thread_t* thread, void* (*fn)(void*), void* arg);
/* Waits for the thread and stores what fn returned in *ret (if ret is not
   NULL); then the handle is gone. EDEADLK when a thread joins itself. */
int weft_thread_join(weft_thread_t thread, void** ret);
/* Lets the thread run on; its resources go when it ends. */
int weft_thread_detach(weft_thread_t thread);

/* Non-zero on a fiber (a weft thread, or code under weft_run). */
int weft_in_fiber(void);
/* On a fiber: lets the other fibers of its worker run; elsewhere sched_yield. */
void weft_yield(void);
/* Sleeps ms milliseconds: the fiber parks; elsewhere the thread sleeps.
   Returns 0, or EINTR when the fiber was canceled meanwhile. */
int weft_sleep_ms(unsigned long ms);

/* Runs fn(arg) as the first fiber of a weft::run on the calling thread and
   returns when every fiber started there has ended: a C main's body on one
   worker, like weft::run. EDEADLK on a thread already running one. */
int weft_run(void (*fn)(void*), void* arg);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_C_H */
