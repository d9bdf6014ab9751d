/* rpc_message.h - the msgpack-rpc envelope, read and written.
 *
 * In:  request [0, msgid, method, params] and notification [2, method, params].
 * Out: response [1, msgid, error, result] -- error nil and the result on success, the error
 *      text and nil on failure.
 * A message that is not a request or a notification, or whose msgid is not an unsigned 32-bit
 * integer, cannot be answered: the caller closes the connection.  A request with a method that
 * is not a string or params that are not an array can: `problem` says what to answer.
 */
#ifndef IOSERVE_RPC_MESSAGE_H
#define IOSERVE_RPC_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "rpc/rpc_internal.h"

#define RPC_TYPE_REQUEST 0
#define RPC_TYPE_RESPONSE 1
#define RPC_TYPE_NOTIFICATION 2

struct rpc_message {
    bool notification;
    uint32_t msgid;                      /* requests only */
    const char *method;                  /* not NUL-terminated */
    size_t method_len;
    const msgpack_object_array *params;
    const char *problem;                 /* set: answer this error instead of calling */
};

/* Decode exactly len bytes (one message, framed by rpc_frame) into u, whose objects point into
 * data.  0, or -EPROTO when it is not an rpc request or notification.  The caller destroys u. */
int rpc_message_decode(msgpack_unpacked *u, const char *data, size_t len, struct rpc_message *msg);

/* The response to msgid from a finished call, or with error text and no call. */
int rpc_response_pack(msgpack_packer *pk, uint32_t msgid, const rpc_call *call);
int rpc_response_pack_error(msgpack_packer *pk, uint32_t msgid, const char *error);

#endif
