/* rpc.h - msgpack-rpc service methods, the API applications write against.
 *
 *     static int add(rpc_call *call, const msgpack_object_array *params, void *arg)
 *     {
 *         if (params->size != 2 || params->ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
 *             params->ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
 *             return rpc_error(call, "add takes two unsigned integers");
 *         return msgpack_pack_uint64(rpc_result(call), params->ptr[0].via.u64 + params->ptr[1].via.u64);
 *     }
 *     rpc_method_add(methods, "add", RPC_INLINE, add, NULL);
 *
 * A method runs either INLINE, on the connection's IO loop as soon as its request is parsed
 * (it must not block: cheap computations only), or on a WORKER thread of the pool
 * (worker_pool.h), where it may block; its response leaves when it returns, whatever the
 * order of the requests (msgpack-rpc matches responses by msgid).  params and everything it
 * points to are valid during the call only.  A method returns:
 *   0            it packed exactly one object, the result, with rpc_result() (nothing packed:
 *                the result is nil);
 *   rpc_error()  the response carries that text as its error and nil as its result (what was
 *                packed is dropped);
 *   other < 0    the response's error is "internal error".
 * A notification runs the method the same way; its result is dropped.
 * Methods are added before the server starts; the registry is read-only while it serves, so
 * one registry serves every loop and every worker.
 */
#ifndef IOSERVE_RPC_H
#define IOSERVE_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define RPC_METHOD_NAME_MAX 64u
#define RPC_ERROR_MAX 160u

enum rpc_where { RPC_INLINE, RPC_WORKER };

typedef struct rpc_call rpc_call;
typedef struct rpc_registry rpc_registry;
typedef int (*rpc_method_fn)(rpc_call *call, const msgpack_object_array *params, void *arg);

int rpc_registry_create(rpc_registry **out);
void rpc_registry_destroy(rpc_registry *methods);

/* 0, -EINVAL (no fn, a name empty or over RPC_METHOD_NAME_MAX bytes), -EEXIST (the name is
 * taken), -ENOMEM. */
int rpc_method_add(rpc_registry *methods, const char *name, enum rpc_where where, rpc_method_fn fn,
                   void *arg);

/* Where the method packs its result. */
msgpack_packer *rpc_result(rpc_call *call);
/* Make the response an error with this text (printf-style, cut at RPC_ERROR_MAX bytes);
 * returns the value the method returns. */
int rpc_error(rpc_call *call, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* Worker methods only: block for ms, or less once the caller's connection is gone (the
 * server is stopping, or the peer left): 0 after the whole wait, -ECANCELED when cut short,
 * -EINVAL from an inline method (the loop must never block). */
int rpc_wait_ms(rpc_call *call, uint64_t ms);
/* Whether the caller's connection is gone: a long computation may stop early. */
bool rpc_cancelled(rpc_call *call);

#endif
