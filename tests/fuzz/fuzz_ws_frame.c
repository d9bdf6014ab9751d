/* fuzz_ws_frame.c - the frame parser, fed whole and in pieces.
 *
 * The first byte chooses the role and whether RSV1 (permessage-deflate) is allowed, the next
 * two the cuts.  Invariants: the parser always makes progress; each frame's payload is exactly
 * its declared length, control frames are final and at most 125 bytes, a server sees only
 * masked frames; the input up to the end of the last complete frame is rebuilt byte for byte
 * from what was reported (header written back in shortest form, payload masked again), so no
 * byte is lost or reordered; an error carries a close code valid on the wire; and any cut
 * reports the same frames, payloads and error at the same offset as the whole input.
 */
#include "fuzz.h"
#include "ws/ws_frame.h"

struct transcript {
    fuzz_buf events;  /* what was reported, in a form compared between cuttings */
    fuzz_buf rebuilt; /* the wire rebuilt from the reported frames */
    fuzz_buf payload; /* the current frame's payload, unmasked */
    size_t frames_end; /* input offset just past the last complete frame */
};

static void frame_ended(struct transcript *t, const struct ws_frame_parser *p, size_t at)
{
    const struct ws_frame_header *h = &p->header;
    FUZZ_CHECK(t->payload.len == h->payload_len, "payload %zu bytes, declared %llu",
               t->payload.len, (unsigned long long)h->payload_len);
    if (ws_opcode_is_control(h->opcode))
        FUZZ_CHECK(h->fin && h->payload_len <= WS_CONTROL_PAYLOAD_MAX, "bad control frame");
    uint8_t head[WS_FRAME_HEADER_MAX];
    size_t n = ws_frame_write_header(head, (enum ws_opcode)h->opcode, h->fin, h->rsv1,
                                     h->payload_len, h->masked ? h->mask_key : NULL);
    fuzz_buf_put(&t->rebuilt, head, n);
    if (h->masked)
        ws_frame_mask(t->payload.data, t->payload.data, t->payload.len, h->mask_key, 0);
    fuzz_buf_put(&t->rebuilt, t->payload.data, t->payload.len);
    uint8_t fields[5] = {'E', h->opcode, h->fin, h->rsv1, h->masked};
    fuzz_buf_put(&t->events, fields, sizeof(fields));
    fuzz_buf_put(&t->events, &h->payload_len, sizeof(h->payload_len));
    fuzz_buf_put(&t->events, h->mask_key, sizeof(h->mask_key));
    if (h->masked)
        ws_frame_mask(t->payload.data, t->payload.data, t->payload.len, h->mask_key, 0);
    fuzz_buf_put(&t->events, t->payload.data, t->payload.len);
    t->payload.len = 0;
    t->frames_end = at;
}

/* Parses in[0..len) in cut pieces (one piece when cut is NULL). */
static void parse(const uint8_t *in, size_t len, uint8_t mode, fuzz_cut *cut, struct transcript *t)
{
    struct ws_frame_parser p;
    ws_frame_parser_init(&p, mode & 1 ? WS_ROLE_CLIENT : WS_ROLE_SERVER, mode & 2);
    size_t at = 0, piece = cut ? fuzz_cut_next(cut, len) : len;
    for (size_t guard = 0;; guard++) {
        FUZZ_CHECK(guard < 4 * len + 16, "no progress after %zu of %zu bytes", at, len);
        size_t n;
        enum ws_frame_event ev = ws_frame_parse(&p, in + at, piece, &n);
        FUZZ_CHECK(n <= piece, "consumed %zu of %zu", n, piece);
        at += n, piece -= n;
        switch (ev) {
        case WS_FRAME_NEED_MORE:
            FUZZ_CHECK(piece == 0, "NEED_MORE with %zu bytes left", piece);
            if (at == len)
                return;
            piece = cut ? fuzz_cut_next(cut, len - at) : len - at;
            break;
        case WS_FRAME_HEADER:
            FUZZ_CHECK(p.header.masked == !(mode & 1), "masking does not fit the role");
            FUZZ_CHECK(!p.header.rsv1 || (mode & 2), "RSV1 without deflate");
            break;
        case WS_FRAME_PAYLOAD: {
            FUZZ_CHECK(n > 0 && p.span_offset == t->payload.len, "span at %llu, have %zu",
                       (unsigned long long)p.span_offset, t->payload.len);
            uint8_t *dst = malloc(n);
            FUZZ_CHECK(dst != NULL, "out of memory");
            ws_frame_unmask(&p, dst, in + at - n, n, p.span_offset);
            fuzz_buf_put(&t->payload, dst, n);
            free(dst);
            break;
        }
        case WS_FRAME_END:
            FUZZ_CHECK(n == 0, "END consumed %zu", n);
            frame_ended(t, &p, at);
            break;
        case WS_FRAME_ERROR:
            FUZZ_CHECK(ws_close_code_valid(p.error), "error code %u", (unsigned)p.error);
            fuzz_buf_put(&t->events, "X", 1);
            fuzz_buf_put(&t->events, &p.error, sizeof(p.error));
            fuzz_buf_put(&t->events, &at, sizeof(at));
            return;
        }
    }
}

static void transcript_free(struct transcript *t)
{
    fuzz_buf_free(&t->events);
    fuzz_buf_free(&t->rebuilt);
    fuzz_buf_free(&t->payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    fuzz_cut cut;
    if (!fuzz_take_prefix(&data, &size, &mode, &cut))
        return 0;
    struct transcript whole = {0}, pieces = {0};
    parse(data, size, mode, NULL, &whole);
    parse(data, size, mode, &cut, &pieces);
    FUZZ_CHECK(whole.rebuilt.len == whole.frames_end &&
                   (whole.frames_end == 0 || memcmp(whole.rebuilt.data, data, whole.frames_end) == 0),
               "the frames reported do not rebuild the %zu bytes they came from", whole.frames_end);
    FUZZ_CHECK(fuzz_buf_equal(&whole.events, &pieces.events), "cut input reports differently");
    transcript_free(&whole);
    transcript_free(&pieces);
    return 0;
}
