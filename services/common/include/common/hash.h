/*
 * Digests, HMACs, UUIDv5 event ids and contact keys, on OpenSSL's libcrypto.
 * All functions are pure and thread-safe.
 */
#ifndef CF_COMMON_HASH_H
#define CF_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define CF_UUID_STR_LEN 36 /* without the NUL */
#define CF_SHA256_HEX_LEN 64

/* The project namespace for every UUIDv5 (documented in proto/README.md). */
extern const uint8_t cf_uuid_namespace[16];

void cf_sha256(const void *data, size_t len, uint8_t out[32]);
void cf_sha1(const void *data, size_t len, uint8_t out[20]);
void cf_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32]);
void cf_hmac_sha1(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[20]);

/* The value of one hex digit (either case), or -1. */
int cf_hex_digit(int c);
/* The len bytes whose hex (either case) is the first 2*len characters of
 * hex into out: 0, or -1 when one of them is not a hex digit. */
int cf_unhex(const char *hex, size_t len, uint8_t *out);
/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void cf_hex(const uint8_t *bytes, size_t len, char *out);
/* Standard base64 with padding into out (4*((len+2)/3)+1 bytes). */
void cf_base64(const uint8_t *bytes, size_t len, char *out);
/* Constant-time equality of two byte strings (different lengths: not equal). */
int cf_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* UUIDv5 (RFC 4122/9562, SHA-1) over the name parts joined with one 0x1F
 * byte (unit separator) in namespace cf_uuid_namespace. out: 37 bytes. */
void cf_uuid5(const char *const *parts, size_t nparts, char out[CF_UUID_STR_LEN + 1]);
/* Random UUIDv4 (request ids). */
void cf_uuid4(char out[CF_UUID_STR_LEN + 1]);
/* 1 if s is a canonical lowercase or uppercase UUID string. */
int cf_uuid_valid(const char *s);
/* Lowercases a valid UUID string in place: the one form ids are compared,
 * keyed and stored in (PostgreSQL's uuid type prints lowercase). */
void cf_uuid_lower(char *s);

/* "sha256=" and the hex HMAC-SHA256 of data under key: the signature
 * header value of clinicflow's own webhooks (X-Clinicflow-Signature). */
#define CF_HMAC_SIG_LEN (7 + CF_SHA256_HEX_LEN)
void cf_hmac_sha256_sig(const char *key, const void *data, size_t len,
                        char out[CF_HMAC_SIG_LEN + 1]);
/* 1 when header is that signature, compared in constant time; 0
 * otherwise, and with no key or no header. */
int cf_hmac_sha256_sig_valid(const char *key, const void *data, size_t len, const char *header);

/* contact_key: lowercase hex HMAC-SHA256(key = network secret, msg = E.164). */
void cf_contact_key(const char *network_secret, const char *e164, char out[CF_SHA256_HEX_LEN + 1]);

#endif
