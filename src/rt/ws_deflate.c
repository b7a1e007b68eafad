/*
 * ws_deflate.c — permessage-deflate (RFC 7692): reading the client's
 * offers and answering the one we accept, and the zlib streams that
 * compress what we send and inflate what we receive.
 *
 * Negotiation follows section 7 to the letter: an offer with an unknown
 * parameter, a parameter given twice or a value out of range is declined
 * (the next offer is tried), never an error of the handshake.  A
 * server_max_window_bits of 8 is declined too: zlib's deflate cannot make
 * an LZ77 window of 256 bytes (it silently uses 512), which the client's
 * inflater would then reject.  Our own inflater always uses the largest
 * window, which can read anything a client makes, so client_max_window_bits
 * needs no answer.
 *
 * Memory is the reason for the `takeover` switch: a deflater with a
 * 32 KiB window costs ~256 KiB, an inflater ~40 KiB, for as long as the
 * connection lives when context is taken over between messages.  Without
 * takeover (the default) the response asks for no context takeover both
 * ways, which RFC 7692 allows whatever the offer said; then no connection
 * keeps a zlib stream between messages (ws.c borrows them from its worker).
 *
 * Inflating never produces more than the caller's limit: the output window
 * handed to zlib ends one byte past it, so a small compressed message
 * claiming gigabytes (a decompression bomb) costs at most the limit.
 */
#include "rt.h"

#include <stdlib.h>
#include <zlib.h>

/* ------------------------------------------------------------------ negotiation */

static bool is_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(const char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
}

/* A token at *p: its span, or n == 0. */
static vial__str token(const char **p)
{
    const char *s = *p;
    while (is_tchar((unsigned char)**p))
        (*p)++;
    return (vial__str){ s, (size_t)(*p - s) };
}

/* A window size as a parameter value: "8".."15" without leading zeros. */
static int window_bits(vial__str v)
{
    if (v.n == 1 && v.p[0] >= '8' && v.p[0] <= '9')
        return v.p[0] - '0';
    if (v.n == 2 && v.p[0] == '1' && v.p[1] >= '0' && v.p[1] <= '5')
        return 10 + v.p[1] - '0';
    return -1;
}

enum { P_SNCT = 1, P_CNCT = 2, P_SMWB = 4, P_CMWB = 8 };

/*
 * One offer at *p (up to the ',' that ends it or the end).  Returns 1 when
 * it is a valid permessage-deflate offer (parameters in *seen, *sbits),
 * 0 when it is anything else, -1 when the header is malformed beyond this
 * offer (the rest cannot be read).
 */
static int read_offer(const char **p, unsigned *seen, int *sbits)
{
    skip_ows(p);
    vial__str name = token(p);
    bool ok = name.n == 18 && vial__streq_ci(name.p, name.n, "permessage-deflate");
    *seen = 0;
    *sbits = 15;
    if (!name.n)
        ok = false;
    for (;;) {
        skip_ows(p);
        if (**p == ',' || **p == 0)
            break;
        if (**p != ';')
            return -1;
        (*p)++;
        skip_ows(p);
        vial__str k = token(p);
        if (!k.n)
            return -1;
        skip_ows(p);
        vial__str v = { NULL, 0 };
        bool has_value = false;
        if (**p == '=') {
            (*p)++;
            skip_ows(p);
            has_value = true;
            if (**p == '"') {
                /* quoted-string: the value must still be a token once unquoted */
                const char *s = ++*p;
                while (**p && **p != '"') {
                    if (**p == '\\' && (*p)[1])
                        (*p)++;
                    (*p)++;
                }
                if (**p != '"')
                    return -1;
                v = (vial__str){ s, (size_t)(*p - s) };
                (*p)++;
            } else {
                v = token(p);
                if (!v.n)
                    return -1;
            }
        }
        if (!ok)
            continue; /* another extension's parameters: read past them */
        unsigned bit;
        if (vial__streq_ci(k.p, k.n, "server_no_context_takeover"))
            bit = P_SNCT;
        else if (vial__streq_ci(k.p, k.n, "client_no_context_takeover"))
            bit = P_CNCT;
        else if (vial__streq_ci(k.p, k.n, "server_max_window_bits"))
            bit = P_SMWB;
        else if (vial__streq_ci(k.p, k.n, "client_max_window_bits"))
            bit = P_CMWB;
        else
            bit = 0; /* unknown: declined */
        if (!bit || (*seen & bit)) {
            ok = false;
            continue;
        }
        *seen |= bit;
        if ((bit == P_SNCT || bit == P_CNCT) && has_value)
            ok = false;
        if (bit == P_SMWB) {
            int b = has_value ? window_bits(v) : -1;
            if (b < 0)
                ok = false;
            else
                *sbits = b;
        }
        if (bit == P_CMWB && has_value && window_bits(v) < 0)
            ok = false;
    }
    return ok ? 1 : 0;
}

int vial__wsd_negotiate(const char *offers, bool takeover, vial__wsd_params *out, char *resp,
                        size_t cap)
{
    if (!offers)
        return 0;
    const char *p = offers;
    while (*p) {
        unsigned seen;
        int sbits;
        int r = read_offer(&p, &seen, &sbits);
        if (r < 0)
            return 0;
        if (r == 1 && sbits >= 9) { /* 8: see the top of the file */
            out->server_no_takeover = (seen & P_SNCT) || !takeover;
            out->client_no_takeover = (seen & P_CNCT) || !takeover;
            out->server_bits = (uint8_t)sbits;
            int n = snprintf(resp, cap, "permessage-deflate%s%s", out->server_no_takeover ?
                             "; server_no_context_takeover" : "",
                             out->client_no_takeover ? "; client_no_context_takeover" : "");
            if (n > 0 && (size_t)n < cap && (seen & P_SMWB))
                n += snprintf(resp + n, cap - (size_t)n, "; server_max_window_bits=%d", sbits);
            return n > 0 && (size_t)n < cap;
        }
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ------------------------------------------------------------------ zlib streams */

struct vial__wsz {
    z_stream z;
    bool deflater;
    bool ended; /* the client ended its stream (BFINAL): the rest of the message is ignored */
};

vial__wsz *vial__wsz_inflater(void)
{
    vial__wsz *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    if (inflateInit2(&z->z, -15) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

vial__wsz *vial__wsz_deflater(int bits)
{
    if (bits < 9 || bits > 15)
        return NULL;
    vial__wsz *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->deflater = true;
    if (deflateInit2(&z->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(z);
        return NULL;
    }
    return z;
}

void vial__wsz_free(vial__wsz *z)
{
    if (!z)
        return;
    if (z->deflater)
        deflateEnd(&z->z);
    else
        inflateEnd(&z->z);
    free(z);
}

void vial__wsz_reset(vial__wsz *z)
{
    if (z->deflater)
        deflateReset(&z->z);
    else
        inflateReset(&z->z);
    z->ended = false;
}

static int inflate_some(vial__wsz *z, const unsigned char *in, size_t n, vial__buf *out,
                        uint64_t limit)
{
    z->z.next_in = (unsigned char *)in;
    z->z.avail_in = (uInt)n;
    for (;;) {
        if (z->ended) {
            z->z.avail_in = 0;
            return 0;
        }
        /* At most one byte past the limit: enough to know it was passed. */
        uint64_t allowed = limit + 1 - (out->n < limit + 1 ? out->n : limit + 1);
        if (allowed == 0)
            return VIAL__WS_C_TOO_BIG;
        size_t room = out->cap > out->n + 1 ? out->cap - out->n - 1 : 0;
        if (room == 0) {
            size_t want = out->n < 4096 ? 4096 : out->n; /* doubling */
            if (want > allowed)
                want = (size_t)allowed;
            if (vial__buf_reserve(out, want))
                return VIAL__WS_C_INTERNAL;
            room = out->cap - out->n - 1;
        }
        if (room > allowed)
            room = (size_t)allowed;
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        z->z.next_out = (unsigned char *)out->p + out->n;
        z->z.avail_out = (uInt)room;
        int r = inflate(&z->z, Z_SYNC_FLUSH);
        out->n += room - z->z.avail_out;
        if (out->n > limit)
            return VIAL__WS_C_TOO_BIG;
        if (r == Z_STREAM_END) {
            z->ended = true;
            continue;
        }
        if (r == Z_MEM_ERROR)
            return VIAL__WS_C_INTERNAL;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return VIAL__WS_C_BAD_DATA;
        if (z->z.avail_in == 0 && z->z.avail_out > 0)
            return 0; /* all input read, all output flushed */
        if (r == Z_BUF_ERROR && z->z.avail_out > 0)
            return 0; /* no progress possible with more room: waits for input */
    }
}

int vial__wsz_inflate(vial__wsz *z, const char *in, size_t n, bool fin, vial__buf *out,
                      uint64_t limit)
{
    static const unsigned char tail[4] = { 0x00, 0x00, 0xff, 0xff };
    int rc = n ? inflate_some(z, (const unsigned char *)in, n, out, limit) : 0;
    if (!rc && fin) {
        rc = inflate_some(z, tail, sizeof tail, out, limit);
        if (z->ended) {
            /* A client that ended its stream starts a new one next time. */
            inflateReset(&z->z);
            z->ended = false;
        }
    }
    return rc;
}

int vial__wsz_deflate(vial__wsz *z, const void *in, size_t n, vial__buf *out)
{
    z->z.next_in = (unsigned char *)in;
    z->z.avail_in = (uInt)n;
    do {
        size_t want = n / 2 + 64;
        if (vial__buf_reserve(out, want))
            return VIAL_ENOMEM;
        size_t room = out->cap - out->n - 1;
        if (room > UINT32_MAX)
            room = UINT32_MAX;
        z->z.next_out = (unsigned char *)out->p + out->n;
        z->z.avail_out = (uInt)room;
        int r = deflate(&z->z, Z_SYNC_FLUSH);
        out->n += room - z->z.avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return VIAL_ENOMEM;
    } while (z->z.avail_out == 0 || z->z.avail_in > 0);
    /* A sync flush ends in an empty stored block, 00 00 ff ff, which RFC
     * 7692 leaves off the wire (the receiver adds it back). */
    if (out->n >= 4 && !memcmp(out->p + out->n - 4, "\x00\x00\xff\xff", 4))
        out->n -= 4;
    return 0;
}
