/* rpc_message.c - the msgpack-rpc envelope (rpc_message.h), over msgpack-c. */
#include "rpc/rpc_message.h"

#include <errno.h>
#include <string.h>

static bool is_uint(const msgpack_object *o, uint64_t max)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= max;
}

static bool is_type(const msgpack_object *o, uint64_t type)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 == type;
}

int rpc_message_decode(msgpack_unpacked *u, const char *data, size_t len, struct rpc_message *msg)
{
    size_t off = 0;
    if (msgpack_unpack_next(u, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
        return -EPROTO;
    const msgpack_object *o = &u->data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 3)
        return -EPROTO;
    const msgpack_object *item = o->via.array.ptr;
    *msg = (struct rpc_message){0};
    if (is_type(&item[0], RPC_TYPE_REQUEST) && o->via.array.size == 4) {
        if (!is_uint(&item[1], UINT32_MAX))
            return -EPROTO;
        msg->msgid = (uint32_t)item[1].via.u64;
        item += 2;
    } else if (is_type(&item[0], RPC_TYPE_NOTIFICATION) && o->via.array.size == 3) {
        msg->notification = true;
        item += 1;
    } else {
        return -EPROTO;
    }
    if (item[0].type != MSGPACK_OBJECT_STR) {
        msg->problem = "the method name must be a string";
        return 0;
    }
    msg->method = item[0].via.str.ptr;
    msg->method_len = item[0].via.str.size;
    if (item[1].type != MSGPACK_OBJECT_ARRAY) {
        msg->problem = "params must be an array";
        return 0;
    }
    msg->params = &item[1].via.array;
    return 0;
}

static int pack_head(msgpack_packer *pk, uint32_t msgid)
{
    if (msgpack_pack_array(pk, 4) < 0 || msgpack_pack_uint8(pk, RPC_TYPE_RESPONSE) < 0)
        return -1;
    return msgpack_pack_uint32(pk, msgid);
}

int rpc_response_pack_error(msgpack_packer *pk, uint32_t msgid, const char *error)
{
    size_t len = strlen(error);
    if (pack_head(pk, msgid) < 0 || msgpack_pack_str_with_body(pk, error, len) < 0)
        return -1;
    return msgpack_pack_nil(pk);
}

int rpc_response_pack(msgpack_packer *pk, uint32_t msgid, const rpc_call *call)
{
    if (call->failed)
        return rpc_response_pack_error(pk, msgid, call->error);
    if (pack_head(pk, msgid) < 0 || msgpack_pack_nil(pk) < 0)
        return -1;
    if (call->result.size == 0)
        return msgpack_pack_nil(pk);
    /* The result is packed already: its bytes go as they are. */
    return pk->callback(pk->data, call->result.data, call->result.size);
}
