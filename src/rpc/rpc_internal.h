/* rpc_internal.h - what the connection glue needs of the registry and of a call (rpc.h is
 * the applications' side).
 *
 * A call is one method's run: the buffer its result is packed into, its error, and, for a
 * worker method, the connection's cancel token (worker_pool.h).  The token is shared by every
 * worker job of one connection: worker_cancel_fire() (on the loop, when the connection goes)
 * wakes each rpc_wait_ms() at once, so that a closed connection or a stopping server never
 * waits for a sleeping method.
 */
#ifndef IOSERVE_RPC_INTERNAL_H
#define IOSERVE_RPC_INTERNAL_H

#include "rpc/rpc.h"
#include "worker_pool.h"

struct rpc_method {
    char name[RPC_METHOD_NAME_MAX];
    size_t name_len;
    enum rpc_where where;
    rpc_method_fn fn;
    void *arg;
};

/* The method called name (len bytes, not NUL-terminated), or NULL. */
const struct rpc_method *rpc_method_find(const rpc_registry *methods, const char *name, size_t len);

struct rpc_call {
    msgpack_sbuffer result;     /* the packed result */
    msgpack_packer packer;      /* writes into result */
    worker_cancel *cancel;      /* NULL for an inline call */
    bool failed;
    char error[RPC_ERROR_MAX];
};

void rpc_call_init(rpc_call *call, worker_cancel *cancel);
/* Ready for the next call; a result buffer grown past keep bytes is given back. */
void rpc_call_reset(rpc_call *call, size_t keep);
void rpc_call_fini(rpc_call *call);
/* Run the method, turning its return value into call->failed and call->error. */
void rpc_call_run(rpc_call *call, const struct rpc_method *method, const msgpack_object_array *params);

#endif
