/* floor.h - what the two floor servers (epoll.c, uring.c) share: finding complete request
 * heads across reads, the state besides their own I/O (listener, protocol, connection table
 * size, the one answer they give each head, rebuilt when the second changes), and their main.
 *
 * A floor server does what any server of its I/O model must do per request and nothing more,
 * so that ioserve's backend can be measured against it; these helpers are the least HTTP that
 * correctness needs: a head split over two reads counts once, when its CRLFCRLF is complete.
 */
#ifndef FLOOR_H
#define FLOOR_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define FLOOR_RESPONSE_MAX 192
#define FLOOR_READ_BUFFER 16384
/* The most heads one read can complete: every 4 bytes a CRLFCRLF, plus one finished by them. */
#define FLOOR_HEADS_PER_READ_MAX (FLOOR_READ_BUFFER / 4 + 1)

struct floor_response {
    char bytes[FLOOR_RESPONSE_MAX]; /* 200, Date, text/plain, "Hello, World!" */
    size_t len;
    time_t second;                  /* the Date in bytes; (time_t)-1 before the first build */
};

/* What a floor server keeps besides its own I/O and its connection table. */
struct floor_base {
    int listen_fd;
    bool http;                      /* else echo */
    size_t conn_slots;              /* connection table entries, indexed by fd */
    char *answers;                  /* one read's HTTP answers (floor_answer) */
    struct floor_response response;
};

/* Fills b; conn_slots is one per descriptor the process may open, at most max_slots.
 * 0 or -errno. */
int floor_base_init(struct floor_base *b, int listen_fd, bool http, size_t max_slots);

/* Complete heads in bytes; *matched carries a partial CRLFCRLF from one read to the next. */
size_t floor_count_heads(unsigned *matched, const char *bytes, size_t len);

/* One 200 per head (heads <= FLOOR_HEADS_PER_READ_MAX) at b->answers, with the current
 * Date; returns their length. */
size_t floor_answer(struct floor_base *b, size_t heads);

/* A floor's main: the baselines' command line and listener (baseline.h), ETX refused (exit
 * 2), then run(listen_fd, http) until it fails: its -errno goes to stderr, exit 1. */
int floor_main(int argc, char **argv, const char *name, int (*run)(int listen_fd, bool http));

#endif
