/*
 * common/client_addr.h: the address a public request is counted under.
 * Without trusted proxies it is the peer, whatever X-Forwarded-For says;
 * from a trusted proxy it is the rightmost forwarded address that is not a
 * proxy (entries further left are the client's own say), with or without
 * the port or brackets a proxy writes; an IPv6 client counts as its /64;
 * a peer is read no further than the 16 bytes ulfius keeps of it; a
 * malformed setting is refused.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/client_addr.h"
#include "common/err.h"
#include "cftest.h"

/* A socket address for a literal IPv4 or IPv6 address. */
static struct sockaddr_storage peer(const char *a)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, a, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
    } else {
        sin6->sin6_family = AF_INET6;
        CHECK_INT(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1);
    }
    return ss;
}

static const char *key(const struct sockaddr_storage *ss, const char *xff,
                       const struct cf_proxies *p)
{
    static char out[64];
    cf_client_key((const struct sockaddr *)ss, xff, p, out, sizeof(out));
    return out;
}

/* The peer as ulfius 2.7 hands it to a handler: sizeof(struct sockaddr)
 * (16) bytes copied from the connection's address, whatever its family;
 * ASan sees any read past them. Free it. */
static struct sockaddr *ulfius_peer(const char *a)
{
    struct sockaddr_storage ss = peer(a);
    struct sockaddr *sa = malloc(sizeof(struct sockaddr));
    CHECK(sa != NULL);
    memcpy(sa, &ss, sizeof(struct sockaddr));
    return sa;
}

static void test_client_key(void)
{
    struct cf_proxies none = {0}, lb;
    char errbuf[256];
    CHECK_INT(cf_proxies_parse("10.0.0.0/8, 192.0.2.1 ,fd00::/8", &lb, errbuf, sizeof(errbuf)), 0);
    CHECK_INT((int)lb.n, 3);

    struct sockaddr_storage client = peer("203.0.113.5"), proxy = peer("10.1.2.3");
    /* No proxies configured: the peer, forwarded addresses ignored. */
    CHECK_STR(key(&client, "198.51.100.7", &none), "203.0.113.5");
    CHECK_STR(key(&proxy, "198.51.100.7", &none), "10.1.2.3");
    /* A peer that is not a trusted proxy cannot name another client. */
    CHECK_STR(key(&client, "198.51.100.7", &lb), "203.0.113.5");
    /* From the balancer: the client it names, past other trusted hops, and
     * not what the client wrote further left. */
    CHECK_STR(key(&proxy, "198.51.100.7", &lb), "198.51.100.7");
    CHECK_STR(key(&proxy, "6.6.6.6, 198.51.100.7 , 192.0.2.1", &lb), "198.51.100.7");
    /* Nothing usable forwarded: the proxy itself. */
    CHECK_STR(key(&proxy, NULL, &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "unknown", &lb), "10.1.2.3");
    /* Proxies that add the client's port, or bracket IPv6 (RFC 7239), name
     * the same client; the hops past them are still walked. */
    CHECK_STR(key(&proxy, "198.51.100.7:51234", &lb), "198.51.100.7");
    CHECK_STR(key(&proxy, "6.6.6.6, 198.51.100.7:1, 192.0.2.1:443", &lb), "198.51.100.7");
    CHECK_STR(key(&proxy, "[2001:db8:aa:bb::1]", &lb), "2001:db8:aa:bb::/64");
    CHECK_STR(key(&proxy, "[2001:db8:aa:bb::1]:443", &lb), "2001:db8:aa:bb::/64");
    CHECK_STR(key(&proxy, "198.51.100.7, [fd00::5]:8080", &lb), "198.51.100.7");
    CHECK_STR(key(&proxy, " [::ffff:198.51.100.8]:80 ", &lb), "198.51.100.8");
    /* Anything else around an address is no address. */
    CHECK_STR(key(&proxy, "198.51.100.7:", &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "198.51.100.7:123456", &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "198.51.100.7:80:80", &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "[2001:db8::1", &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "[2001:db8::1]x", &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "[198.51.100.7:80]", &lb), "10.1.2.3");
    CHECK_STR(key(&proxy, "[]", &lb), "10.1.2.3");
    /* A v4-mapped forwarded address is the v4 address. */
    CHECK_STR(key(&proxy, "::ffff:198.51.100.8", &lb), "198.51.100.8");
    CHECK_STR(key(&proxy, "198.51.100.9, ::ffff:10.0.0.7", &lb), "198.51.100.9");
    /* IPv6 clients count per /64. */
    CHECK_STR(key(&proxy, "2001:db8:aa:bb:1::9", &lb), "2001:db8:aa:bb::/64");
    CHECK_STR(key(NULL, NULL, &lb), "unknown");
    cf_proxies_free(&lb);

    /* Empty is no proxy; a bad entry is refused with its text. */
    CHECK_INT(cf_proxies_parse("", &lb, errbuf, sizeof(errbuf)), 0);
    CHECK_INT((int)lb.n, 0);
    CHECK_INT(cf_proxies_parse("10.0.0.0/33", &lb, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK(strstr(errbuf, "10.0.0.0/33") != NULL);
    CHECK_INT(cf_proxies_parse("10.0.0.1, lb.internal", &lb, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK(strstr(errbuf, "lb.internal") != NULL);
    CHECK_INT(cf_proxies_parse("::1/129", &lb, errbuf, sizeof(errbuf)), CF_EINVAL);
    /* A prefix is digits: not a sign (strtol would take "-5"), not empty. */
    CHECK_INT(cf_proxies_parse("10.0.0.0/-5", &lb, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_INT(cf_proxies_parse("10.0.0.0/+8", &lb, errbuf, sizeof(errbuf)), CF_EINVAL);
    CHECK_INT(cf_proxies_parse("10.0.0.0/", &lb, errbuf, sizeof(errbuf)), CF_EINVAL);
}

/* A channel's allowed_sources: the client as cf_client_key finds it
 * (the peer, or what a trusted proxy forwards), whole, in one of the
 * networks. */
static void test_client_allowed(void)
{
    struct cf_proxies none = {0}, lb, allowed;
    char errbuf[256];
    CHECK_INT(cf_proxies_parse("10.0.0.0/8", &lb, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_proxies_parse("203.0.113.0/24, 2001:db8:1::/48", &allowed, errbuf, sizeof(errbuf)),
              0);
    struct sockaddr_storage direct = peer("203.0.113.9"), other = peer("198.51.100.9");
    struct sockaddr_storage proxy = peer("10.1.2.3");
    CHECK_INT(cf_client_allowed((struct sockaddr *)&direct, NULL, &none, &allowed), 1);
    CHECK_INT(cf_client_allowed((struct sockaddr *)&other, NULL, &none, &allowed), 0);
    /* X-Forwarded-For from an untrusted peer is the sender's say */
    CHECK_INT(cf_client_allowed((struct sockaddr *)&other, "203.0.113.9", &none, &allowed), 0);
    /* from a trusted proxy, the address it names */
    CHECK_INT(cf_client_allowed((struct sockaddr *)&proxy, "1.2.3.4, 203.0.113.9", &lb, &allowed),
              1);
    CHECK_INT(cf_client_allowed((struct sockaddr *)&proxy, "203.0.113.9, 1.2.3.4", &lb, &allowed),
              0);
    CHECK_INT(cf_client_allowed((struct sockaddr *)&proxy, NULL, &lb, &allowed), 0);
    CHECK_INT(cf_client_allowed(NULL, NULL, &lb, &allowed), 0);
    /* the proxy's port or brackets do not hide an allowed client */
    CHECK_INT(cf_client_allowed((struct sockaddr *)&proxy, "203.0.113.9:40000", &lb, &allowed), 1);
    CHECK_INT(cf_client_allowed((struct sockaddr *)&proxy, "[2001:db8:1:ff::5]:443", &lb, &allowed),
              1);
    cf_proxies_free(&lb);
    cf_proxies_free(&allowed);
}

/* A peer as the HTTP server keeps it (16 bytes): an IPv4 one is whole; of
 * an IPv6 one not even the address is, so it is no address (never bytes
 * read past the 16, which ASan would report), whether it would be allowed,
 * trusted or v4-mapped. */
static void test_short_peer(void)
{
    struct cf_proxies lb, allowed;
    char errbuf[256], out[64];
    CHECK_INT(cf_proxies_parse("10.0.0.0/8, fd00::/8", &lb, errbuf, sizeof(errbuf)), 0);
    CHECK_INT(cf_proxies_parse("203.0.113.0/24, 2001:db8:1::/48", &allowed, errbuf, sizeof(errbuf)),
              0);
    struct sockaddr *v4 = ulfius_peer("203.0.113.9"), *proxy = ulfius_peer("10.1.2.3");
    struct sockaddr *v6 = ulfius_peer("2001:db8:1:ff::5"), *v6proxy = ulfius_peer("fd12::1");
    struct sockaddr *mapped = ulfius_peer("::ffff:203.0.113.10");

    cf_client_key(v4, NULL, &lb, out, sizeof(out));
    CHECK_STR(out, "203.0.113.9");
    cf_client_key(proxy, "198.51.100.7:51234", &lb, out, sizeof(out));
    CHECK_STR(out, "198.51.100.7");
    cf_client_key(v6, NULL, &lb, out, sizeof(out));
    CHECK_STR(out, "unknown");
    cf_client_key(v6proxy, "198.51.100.7", &lb, out, sizeof(out));
    CHECK_STR(out, "unknown");
    cf_client_key(mapped, NULL, &lb, out, sizeof(out));
    CHECK_STR(out, "unknown");
    CHECK_INT(cf_client_allowed(v4, NULL, &lb, &allowed), 1);
    CHECK_INT(cf_client_allowed(v6, NULL, &lb, &allowed), 0);
    CHECK_INT(cf_client_allowed(mapped, NULL, &lb, &allowed), 0);
    CHECK_INT(cf_client_allowed(v6proxy, "203.0.113.9", &lb, &allowed), 0);
    free(v4);
    free(proxy);
    free(v6);
    free(v6proxy);
    free(mapped);
    cf_proxies_free(&lb);
    cf_proxies_free(&allowed);
}

int main(void)
{
    test_client_key();
    test_client_allowed();
    test_short_peer();
    return cf_test_done();
}
