/* fake_conn.c - the recording conn of fake_conn.h. */
#include "fake_conn.h"

#include <errno.h>

#include "worker_pool.h"

#define NS_PER_MS 1000000ull

io_loop *conn_loop(const conn *c)
{
    return (io_loop *)&c->loop;
}

uint64_t io_loop_now_ns(const io_loop *loop)
{
    return loop->now_ns;
}

void *conn_state(const conn *c)
{
    return c->state;
}

void conn_set_state(conn *c, void *state)
{
    c->state = state;
}

int conn_write(conn *c, const void *data, size_t len)
{
    if (c->closed || c->aborted)
        return -EPIPE;
    fuzz_buf_put(&c->out, data, len);
    return 0;
}

void conn_cork(conn *c)
{
    c->corks++;
}

void conn_uncork(conn *c)
{
    FUZZ_CHECK(c->corks > 0, "uncork without cork");
    c->corks--;
}

void conn_read_pause(conn *c)
{
    c->read_paused = true;
}

void conn_read_resume(conn *c)
{
    c->read_paused = false;
}

int conn_unread(conn *c, const char *data, size_t len)
{
    c->read_paused = true;
    fuzz_buf front = {0};
    fuzz_buf_put(&front, data, len);
    fuzz_buf_put(&front, c->inbox.data, c->inbox.len);
    fuzz_buf_free(&c->inbox);
    c->inbox = front;
    return 0;
}

static bool taking(const conn *c)
{
    return !c->read_paused && !c->closed && !c->aborted;
}

void fake_conn_feed(conn *c, const char *data, size_t len)
{
    if (taking(c) && c->inbox.len == 0)
        c->proto->on_data(c, data, len);
    else
        fuzz_buf_put(&c->inbox, data, len);
}

void fake_conn_eof(conn *c)
{
    if (taking(c) && c->inbox.len == 0)
        c->proto->on_eof(c);
    else
        c->eof_parked = true;
}

void fake_conn_replay(conn *c)
{
    while (taking(c) && c->inbox.len) {
        fuzz_buf slice = c->inbox;
        c->inbox = (fuzz_buf){0};
        c->proto->on_data(c, (const char *)slice.data, slice.len);
        fuzz_buf_free(&slice);
    }
    if (taking(c) && c->eof_parked) {
        c->eof_parked = false;
        c->proto->on_eof(c);
    }
}

int conn_timer_set(conn *c, uint64_t ms)
{
    c->timer_armed = true;
    c->timer_due_ns = c->loop.now_ns + ms * NS_PER_MS;
    return 0;
}

void conn_close(conn *c)
{
    c->closed = true;
}

void conn_abort(conn *c)
{
    c->aborted = true;
}

void conn_hold(conn *c)
{
    c->holds++;
}

void conn_unhold(conn *c)
{
    FUZZ_CHECK(c->holds > 0, "unhold without hold");
    c->holds--;
}

void worker_pool_submit(worker_pool *pool, worker_queue *queue, worker_job *job)
{
    job->run(job);
}

/* Jobs run as they are submitted, with no delay to wait: a token only records the firing. */
int worker_cancel_init(worker_cancel *cancel)
{
    cancel->fired = false;
    return 0;
}

void worker_cancel_fini(worker_cancel *cancel)
{
}

void worker_cancel_fire(worker_cancel *cancel)
{
    cancel->fired = true;
}

int worker_cancel_wait_ms(worker_cancel *cancel, uint64_t ms)
{
    return cancel->fired ? -ECANCELED : 0;
}

/* Jobs run as they are submitted: none is ever left to withdraw. */
worker_job *worker_pool_withdraw(worker_pool *pool, worker_queue *queue)
{
    return NULL;
}

int io_loop_post(io_loop *from, io_loop *to, io_post *post)
{
    FUZZ_CHECK(to->post_count < FAKE_CONN_MAX_POSTS, "post queue full");
    to->posts[to->post_count++] = post;
    return 0;
}

void fake_conn_run_posts(conn *c)
{
    for (size_t i = 0; i < c->loop.post_count; i++)
        c->loop.posts[i]->fn(&c->loop, c->loop.posts[i]);
    c->loop.post_count = 0;
}

bool fake_conn_advance_to_timer(conn *c)
{
    if (!c->timer_armed)
        return false;
    c->timer_armed = false;
    if (c->timer_due_ns > c->loop.now_ns)
        c->loop.now_ns = c->timer_due_ns;
    return true;
}

void fake_conn_advance(conn *c, uint64_t ms)
{
    c->loop.now_ns += ms * NS_PER_MS;
}
