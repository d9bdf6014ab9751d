/* rpc_registry.c - the method table (rpc.h): names to handlers, read-only once serving.
 * A service has a handful of methods, so a linear scan beats hashing the name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/rpc_internal.h"

struct rpc_registry {
    struct rpc_method *methods;
    size_t count, cap;
};

int rpc_registry_create(rpc_registry **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : -ENOMEM;
}

void rpc_registry_destroy(rpc_registry *methods)
{
    if (!methods)
        return;
    free(methods->methods);
    free(methods);
}

const struct rpc_method *rpc_method_find(const rpc_registry *methods, const char *name, size_t len)
{
    for (size_t i = 0; i < methods->count; i++) {
        const struct rpc_method *m = &methods->methods[i];
        if (m->name_len == len && memcmp(m->name, name, len) == 0)
            return m;
    }
    return NULL;
}

int rpc_method_add(rpc_registry *methods, const char *name, enum rpc_where where, rpc_method_fn fn,
                   void *arg)
{
    size_t len = name ? strlen(name) : 0;
    if (!fn || len == 0 || len >= RPC_METHOD_NAME_MAX || (where != RPC_INLINE && where != RPC_WORKER))
        return -EINVAL;
    if (rpc_method_find(methods, name, len))
        return -EEXIST;
    if (methods->count == methods->cap) {
        size_t cap = methods->cap ? methods->cap * 2 : 8;
        struct rpc_method *grown = realloc(methods->methods, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        methods->methods = grown;
        methods->cap = cap;
    }
    struct rpc_method *m = &methods->methods[methods->count++];
    *m = (struct rpc_method){.name_len = len, .where = where, .fn = fn, .arg = arg};
    memcpy(m->name, name, len);
    return 0;
}
