/* One include that moves a thread-per-connection C program onto weft's
   fibers: after it, pthread_create, pthread_join and pthread_detach start,
   join and detach weft threads (<weft/c.h>). Link weft::weft and weft::hook,
   so the blocking calls, locks and condition variables in those threads park
   their fiber. Include it after <pthread.h>, in the files that create threads.

   A pthread_t made here holds a weft_thread_t; pthread_self() inside such a
   thread still names its worker's OS thread, so do not compare the two. Of
   pthread_attr_t only the detach state is honoured (stack size: weft's
   default); a NULL attr is the default, joinable. */
#ifndef WEFT_PTHREAD_COMPAT_H
#define WEFT_PTHREAD_COMPAT_H

#include <pthread.h>

#include "weft/c.h"

static inline int weft_compat_pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                                             void* (*fn)(void*), void* arg) {
    int detach = PTHREAD_CREATE_JOINABLE;
    if (attr && pthread_attr_getdetachstate(attr, &detach) != 0) detach = PTHREAD_CREATE_JOINABLE;
    weft_thread_t t;
    int r = weft_thread_create(&t, fn, arg);
    if (r != 0) return r;
    if (detach == PTHREAD_CREATE_DETACHED) return weft_thread_detach(t);
    *thread = (pthread_t)t;
    return 0;
}

#define pthread_create(thread, attr, fn, arg) weft_compat_pthread_create((thread), (attr), (fn), (arg))
#define pthread_join(thread, ret) weft_thread_join((weft_thread_t)(thread), (ret))
#define pthread_detach(thread) weft_thread_detach((weft_thread_t)(thread))

#endif /* WEFT_PTHREAD_COMPAT_H */
