/* ws_utf8.c - a table-driven UTF-8 validator (a DFA in the manner of Bjoern Hoehrmann's, with
 * our own byte classes and states); see ws_utf8.h.
 *
 * Each byte is mapped to a class, and (state, class) to the next state.  The classes split the
 * continuation range 80-BF three ways because the second byte after E0, ED, F0 and F4 is
 * restricted to a sub-range: that is what excludes overlongs, surrogates and > U+10FFFF.
 */
#include "ws/ws_utf8.h"

#include <string.h>

enum byte_class {
    C_ASCII,    /* 00-7F */
    C_CONT_LO,  /* 80-8F */
    C_CONT_MID, /* 90-9F */
    C_CONT_HI,  /* A0-BF */
    C_NEVER,    /* C0, C1, F5-FF: cannot appear in UTF-8 */
    C_LEAD2,    /* C2-DF */
    C_E0,       /* E0: next A0-BF, else overlong */
    C_LEAD3,    /* E1-EC, EE, EF */
    C_ED,       /* ED: next 80-9F, else a surrogate */
    C_F0,       /* F0: next 90-BF, else overlong */
    C_LEAD4,    /* F1-F3 */
    C_F4,       /* F4: next 80-8F, else above U+10FFFF */
    CLASS_COUNT
};

/* States are stored premultiplied by CLASS_COUNT, so a step is one add and one load: the
 * byte-by-byte dependency chain is what bounds the speed on non-ASCII text. */
enum state {
    S_ACCEPT = 0 * CLASS_COUNT,   /* on a character boundary */
    S_REJECT = 1 * CLASS_COUNT,
    S_TAIL1 = 2 * CLASS_COUNT,    /* one continuation byte (80-BF) to go */
    S_TAIL2 = 3 * CLASS_COUNT,
    S_TAIL3 = 4 * CLASS_COUNT,
    S_AFTER_E0 = 5 * CLASS_COUNT,
    S_AFTER_ED = 6 * CLASS_COUNT,
    S_AFTER_F0 = 7 * CLASS_COUNT,
    S_AFTER_F4 = 8 * CLASS_COUNT,
    STATE_END = 9 * CLASS_COUNT
};

#define A C_ASCII
#define L C_CONT_LO
#define M C_CONT_MID
#define H C_CONT_HI
#define N C_NEVER
#define T2 C_LEAD2
#define T3 C_LEAD3
#define T4 C_LEAD4
static const uint8_t byte_class[256] = {
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 00 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 10 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 20 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 30 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 40 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 50 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 60 */
    A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, A, /* 70 */
    L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, L, /* 80 */
    M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, /* 90 */
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, /* A0 */
    H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, H, /* B0 */
    N, N, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, /* C0 */
    T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, T2, /* D0 */
    C_E0, T3, T3, T3, T3, T3, T3, T3, T3, T3, T3, T3, T3, C_ED, T3, T3, /* E0 */
    C_F0, T4, T4, T4, C_F4, N, N, N, N, N, N, N, N, N, N, N, /* F0 */
};
#undef A
#undef L
#undef M
#undef H
#undef N
#undef T2
#undef T3
#undef T4

/* One row per state, one column per byte class. */
#define R S_REJECT
static const uint8_t next_state[STATE_END] = {
    /* ASCII     LO        MID       HI        NEVER LEAD2    E0          LEAD3    ED          F0          LEAD4    F4 */
    S_ACCEPT,    R,        R,        R,        R, S_TAIL1, S_AFTER_E0, S_TAIL2, S_AFTER_ED, S_AFTER_F0, S_TAIL3, S_AFTER_F4, /* S_ACCEPT */
    R,           R,        R,        R,        R, R,       R,          R,       R,          R,          R,       R,          /* S_REJECT */
    R,           S_ACCEPT, S_ACCEPT, S_ACCEPT, R, R,       R,          R,       R,          R,          R,       R,          /* S_TAIL1 */
    R,           S_TAIL1,  S_TAIL1,  S_TAIL1,  R, R,       R,          R,       R,          R,          R,       R,          /* S_TAIL2 */
    R,           S_TAIL2,  S_TAIL2,  S_TAIL2,  R, R,       R,          R,       R,          R,          R,       R,          /* S_TAIL3 */
    R,           R,        R,        S_TAIL1,  R, R,       R,          R,       R,          R,          R,       R,          /* S_AFTER_E0 */
    R,           S_TAIL1,  S_TAIL1,  R,        R, R,       R,          R,       R,          R,          R,       R,          /* S_AFTER_ED */
    R,           R,        S_TAIL2,  S_TAIL2,  R, R,       R,          R,       R,          R,          R,       R,          /* S_AFTER_F0 */
    R,           S_TAIL2,  R,        R,        R, R,       R,          R,       R,          R,          R,       R,          /* S_AFTER_F4 */
};
#undef R

/* Text is mostly ASCII: between characters, whole words with no high bit set need no table. */
static size_t skip_ascii_words(const uint8_t *data, size_t i, size_t len)
{
    for (; i + 8 <= len; i += 8) {
        uint64_t word;
        memcpy(&word, data + i, sizeof word);
        if (word & 0x8080808080808080ull)
            break;
    }
    return i;
}

bool ws_utf8_feed(struct ws_utf8 *v, const uint8_t *data, size_t len)
{
    unsigned state = v->state;
    size_t i = 0;
    while (i < len && state != S_REJECT) {
        if (state == S_ACCEPT && data[i] < 0x80) {
            i = skip_ascii_words(data, i, len);
            if (i == len)
                break;
        }
        state = next_state[state + byte_class[data[i]]];
        i++;
    }
    v->state = (uint8_t)state;
    return state != S_REJECT;
}

bool ws_utf8_complete(const struct ws_utf8 *v)
{
    return v->state == S_ACCEPT;
}

bool ws_utf8_valid(const uint8_t *data, size_t len)
{
    struct ws_utf8 v;
    ws_utf8_init(&v);
    return ws_utf8_feed(&v, data, len) && ws_utf8_complete(&v);
}
