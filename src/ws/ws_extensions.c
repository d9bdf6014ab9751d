/* ws_extensions.c - Sec-WebSocket-Extensions parsing and permessage-deflate negotiation; see
 * ws_extensions.h.
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" ( token | quoted-string ) ]
 *
 * with optional whitespace around the separators and empty list elements allowed, as the
 * HTTP list rule has it.  A quoted value must unescape to a token.
 */
#include "ws/ws_extensions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WINDOW_BITS_MIN 8
#define WINDOW_BITS_MAX 15
#define VALUE_MAX 16 /* longer values are syntax-checked but never valid for deflate */

struct cursor {
    const char *at;
    const char *end;
};

struct token {
    const char *start;
    size_t len;
};

/* One parameter value, unescaped. */
struct param_value {
    bool present;
    bool too_long;
    size_t len;
    char text[VALUE_MAX];
};

/* A permessage-deflate offer as it is read.  A window bits of 0 means absent; -1 present
 * without a value (client_max_window_bits only). */
struct deflate_offer {
    bool acceptable;
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    bool seen[4];
    int server_max_window_bits;
    int client_max_window_bits;
};

enum deflate_param { SERVER_NO_TAKEOVER, CLIENT_NO_TAKEOVER, SERVER_BITS, CLIENT_BITS };

static const char *const deflate_param_names[] = {
    [SERVER_NO_TAKEOVER] = "server_no_context_takeover",
    [CLIENT_NO_TAKEOVER] = "client_no_context_takeover",
    [SERVER_BITS] = "server_max_window_bits",
    [CLIENT_BITS] = "client_max_window_bits",
};

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(struct cursor *c)
{
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t'))
        c->at++;
}

static bool take(struct cursor *c, char ch)
{
    skip_ows(c);
    if (c->at < c->end && *c->at == ch) {
        c->at++;
        skip_ows(c);
        return true;
    }
    return false;
}

static bool parse_token(struct cursor *c, struct token *t)
{
    t->start = c->at;
    while (c->at < c->end && is_tchar((unsigned char)*c->at))
        c->at++;
    t->len = (size_t)(c->at - t->start);
    return t->len > 0;
}

static bool token_is(const struct token *t, const char *name)
{
    return strlen(name) == t->len && strncasecmp(t->start, name, t->len) == 0;
}

static void value_push(struct param_value *v, char ch)
{
    if (v->len < VALUE_MAX)
        v->text[v->len++] = ch;
    else
        v->too_long = true;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaping as it goes. */
static bool parse_quoted(struct cursor *c, struct param_value *v)
{
    c->at++; /* the opening quote */
    while (c->at < c->end) {
        unsigned char ch = (unsigned char)*c->at++;
        if (ch == '"')
            return true;
        if (ch == '\\') {
            if (c->at == c->end)
                return false;
            ch = (unsigned char)*c->at++;
        }
        if (!is_tchar(ch))
            return false; /* after unescaping the value must be a token */
        value_push(v, (char)ch);
    }
    return false;
}

static bool parse_value(struct cursor *c, struct param_value *v)
{
    v->present = true;
    if (c->at < c->end && *c->at == '"')
        return parse_quoted(c, v) && v->len > 0;
    struct token t;
    if (!parse_token(c, &t))
        return false;
    for (size_t i = 0; i < t.len; i++)
        value_push(v, t.start[i]);
    return true;
}

/* "8" to "15", without leading zeros; 0 if not that. */
static int window_bits_value(const struct param_value *v)
{
    if (v->too_long || v->len == 0 || v->len > 2 || v->text[0] == '0')
        return 0;
    int bits = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->text[i] < '0' || v->text[i] > '9')
            return 0;
        bits = bits * 10 + (v->text[i] - '0');
    }
    return bits >= WINDOW_BITS_MIN && bits <= WINDOW_BITS_MAX ? bits : 0;
}

static int deflate_param_index(const struct token *name)
{
    for (int i = 0; i < 4; i++)
        if (token_is(name, deflate_param_names[i]))
            return i;
    return -1;
}

/* Records one parameter of a permessage-deflate offer; any fault makes the offer one to
 * decline. */
static void offer_add_param(struct deflate_offer *o, const struct token *name,
                            const struct param_value *v)
{
    int which = deflate_param_index(name);
    if (which < 0 || o->seen[which]) {
        o->acceptable = false;
        return;
    }
    o->seen[which] = true;
    switch (which) {
    case SERVER_NO_TAKEOVER:
        o->server_no_context_takeover = true;
        o->acceptable &= !v->present;
        break;
    case CLIENT_NO_TAKEOVER:
        o->client_no_context_takeover = true;
        o->acceptable &= !v->present;
        break;
    case SERVER_BITS:
        o->server_max_window_bits = v->present ? window_bits_value(v) : 0;
        o->acceptable &= o->server_max_window_bits != 0;
        break;
    default:
        o->client_max_window_bits = v->present ? window_bits_value(v) : -1;
        o->acceptable &= o->client_max_window_bits != 0;
        break;
    }
}

static void append(struct ws_extensions *ext, const char *text, int number)
{
    size_t room = sizeof ext->response - ext->response_len;
    int n = number ? snprintf(ext->response + ext->response_len, room, "%s=%d", text, number)
                   : snprintf(ext->response + ext->response_len, room, "%s", text);
    if (n > 0)
        ext->response_len += (size_t)n < room ? (size_t)n : room - 1;
}

static int smaller(int a, int b)
{
    return a < b ? a : b;
}

static void accept_offer(struct ws_extensions *ext, const struct deflate_offer *o)
{
    struct ws_deflate_params *d = &ext->deflate;
    int max = ext->window_bits_max;
    d->enabled = true;
    d->server_no_context_takeover = o->server_no_context_takeover;
    d->client_no_context_takeover = o->client_no_context_takeover;
    /* Compressing with a smaller window than the client allows needs no word (its inflater
     * copes with any); a smaller window for the client needs its consent: the parameter. */
    d->server_max_window_bits = (uint8_t)smaller(
        o->server_max_window_bits > 0 ? o->server_max_window_bits : WINDOW_BITS_MAX, max);
    d->client_max_window_bits = (uint8_t)(o->client_max_window_bits == 0 ? WINDOW_BITS_MAX
        : smaller(o->client_max_window_bits > 0 ? o->client_max_window_bits : WINDOW_BITS_MAX,
                  max));

    ext->response_len = 0;
    append(ext, "permessage-deflate", 0);
    if (o->server_no_context_takeover)
        append(ext, "; server_no_context_takeover", 0);
    if (o->client_no_context_takeover)
        append(ext, "; client_no_context_takeover", 0);
    if (o->server_max_window_bits > 0)
        append(ext, "; server_max_window_bits", d->server_max_window_bits);
    if (o->client_max_window_bits > 0 ||
        (o->client_max_window_bits < 0 && d->client_max_window_bits < WINDOW_BITS_MAX))
        append(ext, "; client_max_window_bits", d->client_max_window_bits);
}

/* One extension with its parameters; the cursor ends after it. */
static bool parse_extension(struct cursor *c, struct ws_extensions *ext)
{
    struct token name;
    if (!parse_token(c, &name))
        return false;
    bool is_deflate = token_is(&name, "permessage-deflate");
    struct deflate_offer offer = {.acceptable = true};

    while (take(c, ';')) {
        struct token param;
        struct param_value value = {0};
        if (!parse_token(c, &param))
            return false;
        if (take(c, '=') && !parse_value(c, &value))
            return false;
        if (is_deflate)
            offer_add_param(&offer, &param, &value);
    }
    if (is_deflate && offer.acceptable && !ext->deflate.enabled)
        accept_offer(ext, &offer);
    return true;
}

void ws_extensions_init(struct ws_extensions *ext, unsigned window_bits_max)
{
    memset(ext, 0, sizeof *ext);
    ext->window_bits_max = (uint8_t)window_bits_max;
}

int ws_extensions_negotiate(struct ws_extensions *ext, const char *value, size_t len)
{
    struct cursor c = {value, value + len};

    skip_ows(&c);
    while (c.at < c.end) {
        if (take(&c, ','))
            continue; /* an empty list element */
        if (!parse_extension(&c, ext))
            return -EINVAL;
        skip_ows(&c);
        if (c.at < c.end && !take(&c, ','))
            return -EINVAL;
    }
    return 0;
}
