/*
 * Trusted proxy networks, and the address a public request is counted
 * under for rate limits (client_addr.c): the peer, or, behind a reverse
 * proxy the operator names, the client that proxy vouches for. Pure and
 * thread-safe; a parsed list is immutable.
 */
#ifndef CF_COMMON_CLIENT_ADDR_H
#define CF_COMMON_CLIENT_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cf_proxy_net {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    int bits;
};
struct cf_proxies {
    struct cf_proxy_net *nets;
    size_t n;
};

/* Parses "10.0.0.0/8, 192.168.1.5, fd00::/8": 0, or CF_EINVAL with the
 * reason (an empty or NULL spec is no proxy). */
int cf_proxies_parse(const char *spec, struct cf_proxies *out, char *errbuf, size_t errbuf_size);
void cf_proxies_free(struct cf_proxies *p);
/* A settings check (cf_config_var.check) for such a list: NULL when it
 * parses, else what is expected. */
const char *cf_proxies_check(const char *value);
/* The peer's address, or, when the peer is a trusted proxy, the rightmost
 * X-Forwarded-For entry (xff may be NULL) that is not one, its port or
 * brackets left out ("192.0.2.1:5555", "[2001:db8::1]:443"); an IPv6
 * address as its /64 ("2001:db8:1:2::/64"). Reads no more than 16 bytes of
 * peer (what ulfius keeps of it), so an IPv6 peer is "unknown". At least
 * 48 bytes of out. */
void cf_client_key(const struct sockaddr *peer, const char *xff, const struct cf_proxies *proxies,
                   char *out, size_t size);
/* 1 when the client (the peer, or the address a trusted proxy names, as
 * cf_client_key finds it, IPv6 whole) is in one of allowed's networks;
 * 0 otherwise, and for a peer without an address. */
int cf_client_allowed(const struct sockaddr *peer, const char *xff,
                      const struct cf_proxies *proxies, const struct cf_proxies *allowed);

#endif
