/* rpc_call.c - one method's run: its result buffer, its error, its cancel token
 * (rpc_internal.h), and the calls a method makes on it (rpc.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "rpc/rpc_internal.h"

void rpc_call_init(rpc_call *call, worker_cancel *cancel)
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
    return call->cancel && worker_cancel_fired(call->cancel);
}

int rpc_wait_ms(rpc_call *call, uint64_t ms)
{
    if (!call->cancel)
        return -EINVAL;
    return worker_cancel_wait_ms(call->cancel, ms);
}
