/*
 * net.c — address lists: "127.0.0.1/8, 10.0.0.0/8, ::1, fd00::/8" parsed
 * once, then matched against a peer's address string.  trusted_proxies and
 * metrics_allow are such lists; both decide who may tell the server
 * something (a forwarded client address, a request id) or read it (metrics).
 */
#include "base.h"

#include <arpa/inet.h>
#include <stdlib.h>

struct vial__netlist {
    struct vial__net {
        int family; /* AF_INET or AF_INET6 */
        unsigned char addr[16];
        unsigned prefix; /* bits that must match */
    } *v;
    size_t n;
};

/* An IPv4 address as IPv6 sees it (::ffff:a.b.c.d) matches IPv4 entries. */
static int parse_addr(const char *s, unsigned char out[16], int *family)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, s, &a4) == 1) {
        memcpy(out, &a4, 4);
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, &a6) != 1)
        return VIAL_EPARSE;
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (!memcmp(&a6, mapped, 12)) {
        memcpy(out, (unsigned char *)&a6 + 12, 4);
        *family = AF_INET;
        return 0;
    }
    memcpy(out, &a6, 16);
    *family = AF_INET6;
    return 0;
}

int vial__netlist_parse(const char *text, vial__netlist **out, char *why, size_t whylen)
{
    *out = NULL;
    vial__netlist *l = calloc(1, sizeof *l);
    if (!l)
        return VIAL_ENOMEM;
    const char *p = text ? text : "";
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        if (e == p)
            break;
        char item[128];
        size_t n = (size_t)(e - p);
        if (n >= sizeof item) {
            snprintf(why, whylen, "'%.40s...' is too long for an address", p);
            vial__netlist_free(l);
            return VIAL_EPARSE;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        char *slash = strchr(item, '/');
        long bits = -1;
        if (slash) {
            char *end;
            *slash = '\0';
            bits = strtol(slash + 1, &end, 10);
            if (!slash[1] || *end || bits < 0)
                bits = 1000;
        }
        struct vial__net net = { 0 };
        if (parse_addr(item, net.addr, &net.family) ||
            bits > (net.family == AF_INET ? 32 : 128)) {
            snprintf(why, whylen, "'%.*s' is not an address or CIDR range (e.g. 10.0.0.0/8, ::1)",
                     (int)n, p);
            vial__netlist_free(l);
            return VIAL_EPARSE;
        }
        net.prefix = bits < 0 ? (net.family == AF_INET ? 32 : 128) : (unsigned)bits;
        struct vial__net *v = realloc(l->v, (l->n + 1) * sizeof *v);
        if (!v) {
            vial__netlist_free(l);
            return VIAL_ENOMEM;
        }
        l->v = v;
        l->v[l->n++] = net;
        p = e;
    }
    *out = l;
    return 0;
}

bool vial__netlist_match(const vial__netlist *l, const char *addr, size_t n)
{
    if (!l || !l->n || !addr || n == 0 || n >= 64)
        return false;
    char s[64];
    memcpy(s, addr, n);
    s[n] = '\0';
    unsigned char a[16];
    int family;
    if (parse_addr(s, a, &family))
        return false;
    for (size_t i = 0; i < l->n; i++) {
        const struct vial__net *net = &l->v[i];
        if (net->family != family)
            continue;
        unsigned full = net->prefix / 8, rest = net->prefix % 8;
        if (memcmp(a, net->addr, full))
            continue;
        if (rest && ((a[full] ^ net->addr[full]) & (0xff00u >> rest) & 0xff))
            continue;
        return true;
    }
    return false;
}

bool vial__netlist_loopback(const char *addr)
{
    static const struct vial__net nets[2] = {
        { AF_INET, { 127 }, 8 },
        { AF_INET6, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128 },
    };
    static const vial__netlist lo = { (struct vial__net *)nets, 2 };
    return addr && vial__netlist_match(&lo, addr, strlen(addr));
}

void vial__netlist_free(vial__netlist *l)
{
    if (!l)
        return;
    free(l->v);
    free(l);
}
