/* fuzz_etx.c - the ETX framer (src/etx.c) over fake_conn: bytes in, acks out.
 *
 * The first byte chooses how acks leave: at once, after a delay on the connection's timer, or
 * from a worker job; the next two the cuts.  The input is delivered whole and in pieces (the
 * clock moving and due timers firing between pieces), then EOF, then every timer and post
 * runs.  Invariants: the output is exactly one "ack\x03" per message a plain reference framer
 * finds before "goodbye" (none lost, none extra, nothing else); the connection ends closed,
 * not aborted, with every hold released; cutting changes nothing.
 */
#include "fake_conn.h"
#include "proto.h"

struct outcome {
    fuzz_buf out;
};

/* The acks a plain reading of the whole input owes, and whether it ends the connection early
 * (a message over the limit). */
static size_t reference_acks(const uint8_t *in, size_t len, bool *too_long)
{
    size_t acks = 0, start = 0;
    *too_long = false;
    for (size_t i = 0; i <= len; i++) {
        size_t msg_len = i - start;
        if (msg_len > ETX_MAX_MESSAGE) {
            *too_long = true;
            return acks;
        }
        if (i == len || in[i] != 0x03)
            continue;
        if (msg_len == 7 && memcmp(in + start, "goodbye", 7) == 0)
            return acks;
        acks++;
        start = i + 1;
    }
    return acks;
}

static void fire_due_timer(conn *c, bool all)
{
    while (!c->closed && !c->aborted && c->timer_armed &&
           (all || c->timer_due_ns <= c->loop.now_ns)) {
        fake_conn_advance_to_timer(c);
        etx_proto.on_timer(c);
    }
}

static void run(const uint8_t *in, size_t len, uint8_t mode, fuzz_cut *cut, struct outcome *o)
{
    struct etx_config cfg = {0};
    if (mode % 3 == 1)
        cfg.ack_delay_ms = 1 + mode / 3 % 16;
    else if (mode % 3 == 2)
        cfg.workers = (struct worker_pool *)&cfg; /* never dereferenced: jobs run at once */
    conn *c = calloc(1, sizeof(*c));
    FUZZ_CHECK(c != NULL, "out of memory");
    c->proto = &etx_proto;
    FUZZ_CHECK(etx_proto.on_open(c, &cfg) == 0, "on_open");
    for (size_t at = 0; at < len && !c->closed && !c->aborted;) {
        size_t n = cut ? fuzz_cut_next(cut, len - at) : len - at;
        fake_conn_feed(c, (const char *)in + at, n);
        at += n;
        FUZZ_CHECK(c->corks == 0, "cork left on");
        fake_conn_run_posts(c);
        fake_conn_advance(c, 1);
        fire_due_timer(c, false);
        fake_conn_replay(c);
    }
    if (!c->closed && !c->aborted)
        fake_conn_eof(c);
    for (int turn = 0; turn < 4096 && !c->closed && !c->aborted; turn++) {
        fake_conn_run_posts(c);
        fake_conn_replay(c);
        fire_due_timer(c, true);
    }
    fake_conn_run_posts(c); /* posts of acks owed when the connection closed */
    FUZZ_CHECK(!c->aborted, "aborted");
    FUZZ_CHECK(c->closed, "never closed after EOF");
    FUZZ_CHECK(c->holds == 0, "%d holds left", c->holds);
    etx_proto.on_close(c);
    fuzz_buf_free(&c->inbox);
    o->out = c->out;
    free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t mode;
    fuzz_cut cut;
    if (!fuzz_take_prefix(&data, &size, &mode, &cut))
        return 0;
    struct outcome whole = {0}, pieces = {0};
    run(data, size, mode, NULL, &whole);
    run(data, size, mode, &cut, &pieces);
    bool too_long;
    size_t acks = reference_acks(data, size, &too_long);
    const size_t ack_len = sizeof(ETX_ACK) - 1;
    FUZZ_CHECK(whole.out.len % ack_len == 0, "output of %zu bytes", whole.out.len);
    for (size_t i = 0; i < whole.out.len; i += ack_len)
        FUZZ_CHECK(memcmp(whole.out.data + i, ETX_ACK, ack_len) == 0, "not an ack at %zu", i);
    size_t answered = whole.out.len / ack_len;
    if (too_long)
        FUZZ_CHECK(answered <= acks, "%zu acks, at most %zu owed", answered, acks);
    else
        FUZZ_CHECK(answered == acks, "%zu acks, %zu owed", answered, acks);
    FUZZ_CHECK(too_long || fuzz_buf_equal(&whole.out, &pieces.out), "cut input answered differently");
    fuzz_buf_free(&whole.out);
    fuzz_buf_free(&pieces.out);
    return 0;
}
