/* rpc_builtin.c - echo, add, sleep and sha256 (rpc_builtin.h). */
#include "rpc/rpc_builtin.h"

#include <openssl/evp.h>

static int echo(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    if (params->size != 1)
        return rpc_error(call, "echo takes 1 argument, got %u", params->size);
    return msgpack_pack_object(rpc_result(call), params->ptr[0]);
}

static bool is_integer(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

/* Two unsigned values add as uint64; anything negative, as int64. */
static int add(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    if (params->size != 2 || !is_integer(&params->ptr[0]) || !is_integer(&params->ptr[1]))
        return rpc_error(call, "add takes 2 integers");
    const msgpack_object *a = &params->ptr[0], *b = &params->ptr[1];
    if (a->type == MSGPACK_OBJECT_POSITIVE_INTEGER && b->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        uint64_t sum;
        if (__builtin_add_overflow(a->via.u64, b->via.u64, &sum))
            return rpc_error(call, "add: the sum overflows 64 bits");
        return msgpack_pack_uint64(rpc_result(call), sum);
    }
    int64_t sum;
    if ((a->type == MSGPACK_OBJECT_POSITIVE_INTEGER && a->via.u64 > INT64_MAX) ||
        (b->type == MSGPACK_OBJECT_POSITIVE_INTEGER && b->via.u64 > INT64_MAX) ||
        __builtin_add_overflow(a->via.i64, b->via.i64, &sum))
        return rpc_error(call, "add: the sum overflows 64 bits");
    return msgpack_pack_int64(rpc_result(call), sum);
}

/* A real blocking sleep on the worker, which a closed connection cuts short (rpc_wait_ms). */
static int sleep_ms(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    if (params->size != 1 || params->ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        params->ptr[0].via.u64 > RPC_SLEEP_MAX_MS)
        return rpc_error(call, "sleep takes 1 integer, milliseconds from 0 to %u", RPC_SLEEP_MAX_MS);
    if (rpc_wait_ms(call, params->ptr[0].via.u64) < 0)
        return rpc_error(call, "sleep: cancelled");
    return msgpack_pack_nil(rpc_result(call));
}

static int sha256(rpc_call *call, const msgpack_object_array *params, void *arg)
{
    const msgpack_object *o = params->size == 1 ? &params->ptr[0] : NULL;
    if (!o || (o->type != MSGPACK_OBJECT_BIN && o->type != MSGPACK_OBJECT_STR))
        return rpc_error(call, "sha256 takes 1 bin or str");
    bool bin = o->type == MSGPACK_OBJECT_BIN;
    const void *data = bin ? (const void *)o->via.bin.ptr : (const void *)o->via.str.ptr;
    size_t len = bin ? o->via.bin.size : o->via.str.size;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (!EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL))
        return rpc_error(call, "sha256: the digest failed");
    msgpack_packer *pk = rpc_result(call);
    if (msgpack_pack_bin(pk, md_len) < 0)
        return -1;
    return msgpack_pack_bin_body(pk, md, md_len);
}

int rpc_builtin_methods(rpc_registry *methods)
{
    int err = rpc_method_add(methods, "echo", RPC_INLINE, echo, NULL);
    if (!err)
        err = rpc_method_add(methods, "add", RPC_INLINE, add, NULL);
    if (!err)
        err = rpc_method_add(methods, "sleep", RPC_WORKER, sleep_ms, NULL);
    if (!err)
        err = rpc_method_add(methods, "sha256", RPC_WORKER, sha256, NULL);
    return err;
}
