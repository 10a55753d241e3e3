/*
 * Digests, HMACs, UUIDs and contact keys on OpenSSL's libcrypto. Every
 * function is pure (except cf_uuid4, which draws from the CSPRNG); the only
 * state is the digest and MAC implementations, fetched once (pthread_once)
 * and shared read-only, and each thread's own HMAC contexts, so all are
 * thread-safe. (A digest named by EVP_sha1()
 * is looked up in the providers again on every use: a few per cent of the
 * lead fold, which derives several UUIDs a fact.) The OpenSSL calls here fail only on a
 * broken library or exhausted memory; since callers cannot do anything
 * useful with such a failure, it is logged and the process aborts, which
 * keeps these helpers infallible like the cf_xmalloc family.
 */
#include "common/hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/log.h"

/* 1eb51125-408e-4106-be64-c58349ed3825 */
const uint8_t cf_uuid_namespace[16] = {0x1e, 0xb5, 0x11, 0x25, 0x40, 0x8e, 0x41, 0x06,
                                       0xbe, 0x64, 0xc5, 0x83, 0x49, 0xed, 0x38, 0x25};

static const char hex_digits[] = "0123456789abcdef";

static _Noreturn void crypto_failure(const char *call)
{
    cf_error("%s failed in libcrypto", call);
    abort();
}

static EVP_MD *md_sha256_impl, *md_sha1_impl;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void md_fetch(void)
{
    md_sha256_impl = EVP_MD_fetch(NULL, "SHA256", NULL);
    md_sha1_impl = EVP_MD_fetch(NULL, "SHA1", NULL);
    if (!md_sha256_impl || !md_sha1_impl)
        crypto_failure("EVP_MD_fetch");
}

static const EVP_MD *md_sha256(void)
{
    pthread_once(&md_once, md_fetch);
    return md_sha256_impl;
}

static const EVP_MD *md_sha1(void)
{
    pthread_once(&md_once, md_fetch);
    return md_sha1_impl;
}

static void digest(const EVP_MD *md, const void *data, size_t len, uint8_t *out)
{
    unsigned int out_len = 0;
    if (EVP_Digest(data, len, out, &out_len, md, NULL) != 1)
        crypto_failure("EVP_Digest");
}

void cf_sha256(const void *data, size_t len, uint8_t out[32])
{
    digest(md_sha256(), data, len, out);
}

void cf_sha1(const void *data, size_t len, uint8_t out[20])
{
    digest(md_sha1(), data, len, out);
}

/* HMAC contexts, one per digest and thread, made once (their digest
 * fetched then) and given each call's key: HMAC() looks the MAC and the
 * digest up in the providers on every call, a few per cent of a form
 * post's CPU. A thread's contexts are freed when it exits (the key's
 * destructor); the main thread's stay reachable through its key. */
enum { MAC_SHA256, MAC_SHA1, MAC_N };
static EVP_MAC *mac_impl;
static pthread_key_t mac_key;
static pthread_once_t mac_once = PTHREAD_ONCE_INIT;

static void mac_ctxs_free(void *p)
{
    EVP_MAC_CTX **ctxs = p;
    for (int i = 0; i < MAC_N; i++)
        EVP_MAC_CTX_free(ctxs[i]);
    free(ctxs);
}

static void mac_init(void)
{
    mac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!mac_impl || pthread_key_create(&mac_key, mac_ctxs_free) != 0)
        crypto_failure("EVP_MAC_fetch");
}

static EVP_MAC_CTX *mac_ctx(int which)
{
    static const char *const names[MAC_N] = {"SHA256", "SHA1"};
    pthread_once(&mac_once, mac_init);
    EVP_MAC_CTX **ctxs = pthread_getspecific(mac_key);
    if (!ctxs) {
        ctxs = calloc(MAC_N, sizeof(*ctxs));
        if (!ctxs || pthread_setspecific(mac_key, ctxs) != 0)
            crypto_failure("HMAC context");
    }
    if (!ctxs[which]) {
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string("digest", (char *)names[which], 0),
            OSSL_PARAM_construct_end(),
        };
        ctxs[which] = EVP_MAC_CTX_new(mac_impl);
        if (!ctxs[which] || EVP_MAC_CTX_set_params(ctxs[which], params) != 1)
            crypto_failure("EVP_MAC_CTX_new");
    }
    return ctxs[which];
}

static void hmac(int which, const void *key, size_t keylen, const void *data, size_t len,
                 uint8_t *out, size_t out_size)
{
    /* A NULL key means "reuse the previous key" to EVP_MAC_init; an empty
     * key must still be an empty key. */
    static const uint8_t empty = 0;
    size_t out_len = 0;
    EVP_MAC_CTX *ctx = mac_ctx(which);
    if (EVP_MAC_init(ctx, key && keylen ? key : &empty, keylen, NULL) != 1 ||
        EVP_MAC_update(ctx, data ? data : &empty, len) != 1 ||
        EVP_MAC_final(ctx, out, &out_len, out_size) != 1 || out_len != out_size)
        crypto_failure("HMAC");
}

void cf_hmac_sha256(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[32])
{
    hmac(MAC_SHA256, key, keylen, data, len, out, 32);
}

void cf_hmac_sha1(const void *key, size_t keylen, const void *data, size_t len, uint8_t out[20])
{
    hmac(MAC_SHA1, key, keylen, data, len, out, 20);
}

int cf_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cf_unhex(const char *hex, size_t len, uint8_t *out)
{
    for (size_t i = 0; i < len; i++) {
        const int hi = cf_hex_digit((unsigned char)hex[2 * i]);
        const int lo = hi < 0 ? -1 : cf_hex_digit((unsigned char)hex[2 * i + 1]);
        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

void cf_hex(const uint8_t *bytes, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[bytes[i] >> 4];
        out[2 * i + 1] = hex_digits[bytes[i] & 0x0f];
    }
    out[2 * len] = '\0';
}

void cf_base64(const uint8_t *bytes, size_t len, char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];
        out[o++] = alphabet[(v >> 18) & 0x3f];
        out[o++] = alphabet[(v >> 12) & 0x3f];
        out[o++] = alphabet[(v >> 6) & 0x3f];
        out[o++] = alphabet[v & 0x3f];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)bytes[i] << 16;
        out[o++] = alphabet[(v >> 18) & 0x3f];
        out[o++] = alphabet[(v >> 12) & 0x3f];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8;
        out[o++] = alphabet[(v >> 18) & 0x3f];
        out[o++] = alphabet[(v >> 12) & 0x3f];
        out[o++] = alphabet[(v >> 6) & 0x3f];
        out[o++] = '=';
    }
    out[o] = '\0';
}

int cf_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

/* Sets the version nibble and the RFC 4122 variant bits, then formats. */
static void uuid_format(uint8_t b[16], unsigned int version, char out[CF_UUID_STR_LEN + 1])
{
    b[6] = (uint8_t)((b[6] & 0x0f) | (version << 4));
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex_digits[b[i] >> 4];
        out[o++] = hex_digits[b[i] & 0x0f];
    }
    out[o] = '\0';
}

/*
 * UUIDv5: SHA-1 over the namespace's 16 bytes followed by the name, the
 * first 16 bytes of the digest with version 5 and the variant set. The name
 * is the parts joined with 0x1F, fed to the digest piecewise so nothing is
 * allocated.
 */
void cf_uuid5(const char *const *parts, size_t nparts, char out[CF_UUID_STR_LEN + 1])
{
    static const uint8_t sep = 0x1f;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        crypto_failure("EVP_MD_CTX_new");
    int ok = EVP_DigestInit_ex(ctx, md_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, cf_uuid_namespace, sizeof(cf_uuid_namespace)) == 1;
    for (size_t i = 0; ok && i < nparts; i++) {
        if (i > 0)
            ok = EVP_DigestUpdate(ctx, &sep, 1) == 1;
        if (ok)
            ok = EVP_DigestUpdate(ctx, parts[i], strlen(parts[i])) == 1;
    }
    if (ok)
        ok = EVP_DigestFinal_ex(ctx, md, &md_len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        crypto_failure("SHA-1 for UUIDv5");
    uuid_format(md, 5, out);
}

void cf_uuid4(char out[CF_UUID_STR_LEN + 1])
{
    uint8_t b[16];
    if (RAND_bytes(b, sizeof(b)) != 1)
        crypto_failure("RAND_bytes");
    uuid_format(b, 4, out);
}

int cf_uuid_valid(const char *s)
{
    int lower = 0, upper = 0;
    if (!s)
        return 0;
    for (size_t i = 0; i < CF_UUID_STR_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (c >= 'a' && c <= 'f') {
            lower = 1;
        } else if (c >= 'A' && c <= 'F') {
            upper = 1;
        } else if (!(c >= '0' && c <= '9')) {
            return 0;
        }
    }
    /* One case throughout: a mixed-case id is not canonical. */
    return s[CF_UUID_STR_LEN] == '\0' && !(lower && upper);
}

void cf_uuid_lower(char *s)
{
    for (size_t i = 0; i < CF_UUID_STR_LEN && s[i]; i++)
        if (s[i] >= 'A' && s[i] <= 'F')
            s[i] = (char)(s[i] - 'A' + 'a');
}

void cf_hmac_sha256_sig(const char *key, const void *data, size_t len,
                        char out[CF_HMAC_SIG_LEN + 1])
{
    uint8_t mac[32];
    cf_hmac_sha256(key, strlen(key), data, len, mac);
    memcpy(out, "sha256=", 7);
    cf_hex(mac, sizeof(mac), out + 7);
}

int cf_hmac_sha256_sig_valid(const char *key, const void *data, size_t len, const char *header)
{
    char want[CF_HMAC_SIG_LEN + 1];
    if (!key || !*key || !header)
        return 0;
    cf_hmac_sha256_sig(key, data, len, want);
    return cf_ct_equal(want, strlen(want), header, strlen(header));
}

void cf_contact_key(const char *network_secret, const char *e164, char out[CF_SHA256_HEX_LEN + 1])
{
    uint8_t mac[32];
    cf_hmac_sha256(network_secret, strlen(network_secret), e164, strlen(e164), mac);
    cf_hex(mac, sizeof(mac), out);
}
