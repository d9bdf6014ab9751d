/* rpc_call.c - one method's run: its result buffer, its error, its cancel token
 * (rpc_internal.h), and the calls a method makes on it (rpc.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "rpc/rpc_internal.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

int rpc_cancel_init(struct rpc_cancel *cancel)
{
    pthread_condattr_t attr;
    int err = pthread_condattr_init(&attr);
    if (err)
        return -err;
    /* A wait measured on CLOCK_MONOTONIC is not stretched or cut by a change of the wall clock. */
    err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (!err)
        err = pthread_cond_init(&cancel->fired, &attr);
    pthread_condattr_destroy(&attr);
    if (err)
        return -err;
    pthread_mutex_init(&cancel->lock, NULL);
    cancel->cancelled = false;
    return 0;
}

void rpc_cancel_fini(struct rpc_cancel *cancel)
{
    pthread_cond_destroy(&cancel->fired);
    pthread_mutex_destroy(&cancel->lock);
}

void rpc_cancel_fire(struct rpc_cancel *cancel)
{
    pthread_mutex_lock(&cancel->lock);
    cancel->cancelled = true;
    pthread_cond_broadcast(&cancel->fired);
    pthread_mutex_unlock(&cancel->lock);
}

void rpc_call_init(rpc_call *call, struct rpc_cancel *cancel)
{
    msgpack_sbuffer_init(&call->result);
    msgpack_packer_init(&call->packer, &call->result, msgpack_sbuffer_write);
    call->cancel = cancel;
    call->failed = false;
    call->error[0] = '\0';
}

void rpc_call_reset(rpc_call *call, size_t keep)
{
    if (call->result.alloc > keep) {
        msgpack_sbuffer_destroy(&call->result);
        msgpack_sbuffer_init(&call->result);
    }
    msgpack_sbuffer_clear(&call->result);
    call->failed = false;
    call->error[0] = '\0';
}

void rpc_call_fini(rpc_call *call)
{
    msgpack_sbuffer_destroy(&call->result);
}

void rpc_call_run(rpc_call *call, const struct rpc_method *method, const msgpack_object_array *params)
{
    int rc = method->fn(call, params, method->arg);
    if (rc < 0 && !call->failed) {
        call->failed = true;
        snprintf(call->error, sizeof(call->error), "internal error");
    }
}

msgpack_packer *rpc_result(rpc_call *call)
{
    return &call->packer;
}

int rpc_error(rpc_call *call, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(call->error, sizeof(call->error), format, ap);
    va_end(ap);
    call->failed = true;
    return -1;
}

bool rpc_cancelled(rpc_call *call)
{
    if (!call->cancel)
        return false;
    pthread_mutex_lock(&call->cancel->lock);
    bool cancelled = call->cancel->cancelled;
    pthread_mutex_unlock(&call->cancel->lock);
    return cancelled;
}

int rpc_wait_ms(rpc_call *call, uint64_t ms)
{
    struct rpc_cancel *cancel = call->cancel;
    if (!cancel)
        return -EINVAL;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + ms % 1000 * NS_PER_MS;
    until.tv_sec += (time_t)(ms / 1000 + ns / NS_PER_S);
    until.tv_nsec = (long)(ns % NS_PER_S);
    pthread_mutex_lock(&cancel->lock);
    int err = 0;
    while (!cancel->cancelled && err != ETIMEDOUT)
        err = pthread_cond_timedwait(&cancel->fired, &cancel->lock, &until);
    bool cancelled = cancel->cancelled;
    pthread_mutex_unlock(&cancel->lock);
    return cancelled ? -ECANCELED : 0;
}
