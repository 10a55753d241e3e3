/*
 * The address a public request is counted under for rate limits. Behind a
 * load balancer or reverse proxy every request arrives from the proxy, so
 * the operator names the proxies (a service's CLINICFLOW_<SVC>_TRUSTED_PROXIES,
 * addresses or CIDR networks): when the peer is one of them, the client is
 * the rightmost X-Forwarded-For entry that is not (the entries to its left
 * are whatever the client chose to send). An IPv6 client counts as its /64,
 * the block one subscriber is usually given; it is known only from a proxy,
 * as the listener is IPv4 only (from_sockaddr says why).
 */
#include "common/client_addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/xmalloc.h"

/* Parses "a.b.c.d", "a.b.c.d/n", "x::y" or "x::y/n" (n bytes at s). */
static int net_parse(const char *s, size_t n, struct cf_proxy_net *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash) {
        char *end;
        *slash = '\0';
        if (slash[1] < '0' || slash[1] > '9') /* no sign, no space: "/-5" is no prefix */
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0')
            return -1;
    }
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        out->bits = bits < 0 ? 32 : (int)bits;
        return bits > 32 ? -1 : 0;
    }
    if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        out->bits = bits < 0 ? 128 : (int)bits;
        return bits > 128 ? -1 : 0;
    }
    return -1;
}

int cf_proxies_parse(const char *spec, struct cf_proxies *out, char *errbuf, size_t errbuf_size)
{
    memset(out, 0, sizeof(*out));
    for (const char *p = spec ? spec : ""; *p;) {
        p += strspn(p, " ,");
        size_t n = strcspn(p, " ,");
        if (n == 0)
            break;
        struct cf_proxy_net net;
        if (net_parse(p, n, &net) != 0) {
            cf_seterr(errbuf, errbuf_size, "\"%.*s\" is not an address or network", (int)n, p);
            cf_proxies_free(out);
            return CF_EINVAL;
        }
        out->nets = cf_xrealloc(out->nets, (out->n + 1) * sizeof(*out->nets));
        out->nets[out->n++] = net;
        p += n;
    }
    return 0;
}

void cf_proxies_free(struct cf_proxies *p)
{
    free(p->nets);
    p->nets = NULL;
    p->n = 0;
}

/* 1 if the first bits of a and b are equal. */
static int prefix_equal(const uint8_t *a, const uint8_t *b, int bits)
{
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

static int trusted(const struct cf_proxies *p, int family, const uint8_t *addr)
{
    for (size_t i = 0; p && i < p->n; i++)
        if (p->nets[i].family == family && prefix_equal(p->nets[i].addr, addr, p->nets[i].bits))
            return 1;
    return 0;
}

/* The counting form of an address: IPv4 as is, IPv6 as its /64. */
static void key_of(int family, const uint8_t *addr, char *out, size_t size)
{
    char text[INET6_ADDRSTRLEN];
    if (family == AF_INET) {
        inet_ntop(AF_INET, addr, text, sizeof(text));
        snprintf(out, size, "%s", text);
        return;
    }
    uint8_t net[16] = {0};
    memcpy(net, addr, 8);
    inet_ntop(AF_INET6, net, text, sizeof(text));
    snprintf(out, size, "%s/64", text);
}

/* An IPv6 address into addr, as IPv4 if it is a mapped one
 * (::ffff:a.b.c.d, as dual-stack sockets and proxies write them): its
 * family. */
static int from_v6(const uint8_t a6[16], uint8_t addr[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(a6, mapped, sizeof(mapped)) == 0) {
        uint8_t v4[4];
        memcpy(v4, a6 + 12, 4);
        memset(addr, 0, 16);
        memcpy(addr, v4, 4);
        return AF_INET;
    }
    memmove(addr, a6, 16);
    return AF_INET6;
}

/* An address from a socket address: its family, 0 if none. The HTTP
 * server (ulfius 2.7) keeps only sizeof(struct sockaddr), 16 bytes, of the
 * peer: a sockaddr_in whole, but of a sockaddr_in6 not even the address's
 * second half. So nothing past those 16 bytes is read, and an IPv6 peer
 * has no address we can know (the listener is IPv4 only, CLINICFLOW_HTTP_HOST;
 * an IPv6 client reaches us through a proxy, which names it). */
static int from_sockaddr(const struct sockaddr *sa, uint8_t addr[16])
{
    if (sa && sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return AF_INET;
    }
    return 0;
}

/* 1 if the n bytes at s are ':' and a port (1 to 5 digits). */
static int is_port(const char *s, size_t n)
{
    if (n < 2 || n > 6 || s[0] != ':')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* Narrows a forwarded hop to its address: proxies write the client's port
 * ("198.51.100.7:51234") and IPv6 in brackets ("[2001:db8::1]",
 * "[2001:db8::1]:443"), as RFC 7239 does. A bare IPv6 address has two
 * colons or more, so one colon is always a port. */
static void hop_address(const char **s, size_t *n)
{
    const char *p = *s;
    const char *colon = memchr(p, ':', *n);

    if (*n > 0 && p[0] == '[') {
        const char *close = memchr(p, ']', *n);
        size_t inner = close ? (size_t)(close - p) - 1 : 0;
        if (close && (inner + 2 == *n || is_port(close + 1, *n - inner - 2))) {
            *s = p + 1;
            *n = inner;
        }
    } else if (colon && !memchr(colon + 1, ':', *n - (size_t)(colon - p) - 1) &&
               is_port(colon, *n - (size_t)(colon - p))) {
        *n = (size_t)(colon - p);
    }
}

/* The client's address into addr: the peer, or the hop a trusted proxy
 * vouches for. Its family, 0 when the peer has no address. */
static int client_of(const struct sockaddr *peer, const char *xff, const struct cf_proxies *proxies,
                     uint8_t addr[16])
{
    int family = from_sockaddr(peer, addr);

    if (!family)
        return 0;
    /* From the right: each hop that is a trusted proxy vouches for the one
     * before it. The first entry that is not trusted is the client; an
     * entry that is not an address (with a port or brackets or not) ends
     * the walk at the last trusted hop. */
    for (size_t end = xff ? strlen(xff) : 0; family && trusted(proxies, family, addr) && end > 0;) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        const char *s = xff + start;
        size_t n = end - start;
        while (n > 0 && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        struct cf_proxy_net hop;
        hop_address(&s, &n);
        if (net_parse(s, n, &hop) != 0 || hop.bits != (hop.family == AF_INET ? 32 : 128))
            break;
        if (hop.family == AF_INET6) {
            family = from_v6(hop.addr, addr);
        } else {
            family = AF_INET;
            memcpy(addr, hop.addr, 16);
        }
        end = start > 0 ? start - 1 : 0;
    }
    return family;
}

void cf_client_key(const struct sockaddr *peer, const char *xff, const struct cf_proxies *proxies,
                   char *out, size_t size)
{
    uint8_t addr[16] = {0};
    int family = client_of(peer, xff, proxies, addr);

    if (!family) {
        snprintf(out, size, "unknown");
        return;
    }
    key_of(family, addr, out, size);
}

int cf_client_allowed(const struct sockaddr *peer, const char *xff,
                      const struct cf_proxies *proxies, const struct cf_proxies *allowed)
{
    uint8_t addr[16] = {0};
    int family = client_of(peer, xff, proxies, addr);

    return family && trusted(allowed, family, addr);
}

const char *cf_proxies_check(const char *value)
{
    struct cf_proxies proxies = {0};
    char errbuf[256];
    const int rc = cf_proxies_parse(value, &proxies, errbuf, sizeof(errbuf));
    cf_proxies_free(&proxies);
    return rc == 0 ? NULL : "addresses or CIDR networks, comma-separated (10.0.0.0/8, fd00::1)";
}
