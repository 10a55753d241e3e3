/*
 * Unit tests for common/hash.h. Every expected value was computed outside
 * our code, with the command written beside it, so a bug shared by the
 * implementation and the test cannot hide.
 */
#include <stdint.h>
#include <string.h>

#include "common/hash.h"
#include "cftest.h"

struct digest_case {
    const char *key; /* NULL: plain digest */
    const char *data;
    const char *hex;
};

static const struct digest_case sha256_cases[] = {
    /* printf 'abc' | openssl dgst -sha256 */
    {NULL, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    /* printf '' | openssl dgst -sha256 */
    {NULL, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    /* printf 'test' | openssl dgst -sha256 -hmac secret  (the WhatsApp signature vector) */
    {"secret", "test", "0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"},
    /* /usr/bin/python3 -c 'import hmac,hashlib;
     *   print(hmac.new(b"", b"", hashlib.sha256).hexdigest())' */
    {"", "", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"},
};

static const struct digest_case sha1_cases[] = {
    /* printf 'abc' | openssl dgst -sha1 */
    {NULL, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    /* printf 'The quick brown fox jumps over the lazy dog' | openssl dgst -sha1 -hmac key */
    {"key", "The quick brown fox jumps over the lazy dog",
     "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"},
};

static void test_digests(void)
{
    for (size_t i = 0; i < sizeof(sha256_cases) / sizeof(sha256_cases[0]); i++) {
        const struct digest_case *c = &sha256_cases[i];
        uint8_t md[32];
        char hex[65];
        if (c->key)
            cf_hmac_sha256(c->key, strlen(c->key), c->data, strlen(c->data), md);
        else
            cf_sha256(c->data, strlen(c->data), md);
        cf_hex(md, sizeof(md), hex);
        CHECK_STR(hex, c->hex);
    }
    for (size_t i = 0; i < sizeof(sha1_cases) / sizeof(sha1_cases[0]); i++) {
        const struct digest_case *c = &sha1_cases[i];
        uint8_t md[20];
        char hex[41];
        if (c->key)
            cf_hmac_sha1(c->key, strlen(c->key), c->data, strlen(c->data), md);
        else
            cf_sha1(c->data, strlen(c->data), md);
        cf_hex(md, sizeof(md), hex);
        CHECK_STR(hex, c->hex);
    }
}

static void test_unhex(void)
{
    uint8_t out[4] = {0}, back[4];
    char hex[9];
    CHECK_INT(cf_unhex("00fFa51b", 4, out), 0);
    CHECK(out[0] == 0x00 && out[1] == 0xff && out[2] == 0xa5 && out[3] == 0x1b);
    cf_hex(out, 4, hex);
    CHECK_STR(hex, "00ffa51b");
    CHECK_INT(cf_unhex(hex, 4, back), 0);
    CHECK(memcmp(out, back, 4) == 0);
    CHECK_INT(cf_unhex("0g", 1, out), -1);
    CHECK_INT(cf_unhex("g0", 1, out), -1);
    CHECK_INT(cf_unhex("abc", 2, out), -1); /* the string ends inside the second byte */
}

static void test_base64(void)
{
    /* RFC 4648 section 10; each also: printf '<in>' | openssl base64 -A */
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[16];
        cf_base64((const uint8_t *)cases[i].in, strlen(cases[i].in), out);
        CHECK_STR(out, cases[i].out);
    }

    /* Binary bytes: printf '\x00\xff\x10' | openssl base64 -A -> AP8Q, | xxd -p -> 00ff10 */
    static const uint8_t bin[] = {0x00, 0xff, 0x10};
    char b64[8], hex[8];
    cf_base64(bin, sizeof(bin), b64);
    cf_hex(bin, sizeof(bin), hex);
    CHECK_STR(b64, "AP8Q");
    CHECK_STR(hex, "00ff10");

    /* Twilio-style signature: base64 of an HMAC-SHA1.
     * printf 'The quick brown fox jumps over the lazy dog' \
     *   | openssl dgst -sha1 -hmac key -binary | openssl base64 */
    const char *fox = "The quick brown fox jumps over the lazy dog";
    uint8_t md1[20];
    char sig1[32];
    cf_hmac_sha1("key", 3, fox, strlen(fox), md1);
    cf_base64(md1, sizeof(md1), sig1);
    CHECK_STR(sig1, "3nybhbi3iqa8ino29wqQcBydtNk=");

    /* printf 'test' | openssl dgst -sha256 -hmac secret -binary | openssl base64 */
    uint8_t md256[32];
    char sig256[48];
    cf_hmac_sha256("secret", 6, "test", 4, md256);
    cf_base64(md256, sizeof(md256), sig256);
    CHECK_STR(sig256, "Aymga2LNFrM+tnkr6MYLFY2Jou46h2/Omogeu0iMCRQ=");
}

static void test_ct_equal(void)
{
    CHECK_INT(cf_ct_equal("abc", 3, "abc", 3), 1);
    CHECK_INT(cf_ct_equal("abc", 3, "abd", 3), 0);
    CHECK_INT(cf_ct_equal("abc", 3, "abcd", 4), 0);
    CHECK_INT(cf_ct_equal("", 0, "", 0), 1);
}

/*
 * UUIDv5 vectors, each computed with
 *   /usr/bin/python3 -c 'import uuid;
 *     ns = uuid.UUID("1eb51125-408e-4106-be64-c58349ed3825");
 *     print(uuid.uuid5(ns, "\x1f".join([<parts>])))'
 */
static void test_uuid5(void)
{
    static const char *const ingest[] = {"net-1", "generic", "-", "evt-1"};
    static const char *const call[] = {"net-1", "generic", "call", "c-42"};
    static const char *const single[] = {"only"};
    static const char *const derived[] = {"0b6c8f0e-6b8a-5d0e-9c53-3f4a6f0a8b1c", "call.answered"};
    static const struct {
        const char *const *parts;
        size_t n;
        const char *expected;
    } cases[] = {
        /* parts "net-1","generic","-","evt-1" */
        {ingest, 4, "f45d65fd-03de-585f-a546-6beb29071c00"},
        /* parts "net-1","generic","call","c-42" */
        {call, 4, "4ac2102b-9218-561e-adbd-a3935c125eb9"},
        /* name "only" */
        {single, 1, "955d70c9-c4d7-5325-ba97-a5b99a1ee83a"},
        /* name "" (no parts) */
        {NULL, 0, "cf0acf8a-97ab-51c8-a331-c398275f867e"},
        /* parts "0b6c8f0e-6b8a-5d0e-9c53-3f4a6f0a8b1c","call.answered" */
        {derived, 2, "22fc4526-7b1d-5281-b049-540a136df289"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[CF_UUID_STR_LEN + 1];
        cf_uuid5(cases[i].parts, cases[i].n, out);
        CHECK_STR(out, cases[i].expected);
        CHECK(cf_uuid_valid(out));
        CHECK(out[14] == '5');
        CHECK(strchr("89ab", out[19]) != NULL);
    }
}

static void test_uuid4(void)
{
    char a[CF_UUID_STR_LEN + 1], b[CF_UUID_STR_LEN + 1];
    cf_uuid4(a);
    cf_uuid4(b);
    CHECK(cf_uuid_valid(a));
    CHECK(cf_uuid_valid(b));
    CHECK(strcmp(a, b) != 0);
    CHECK(a[14] == '4');
    CHECK(strchr("89ab", a[19]) != NULL);
}

static void test_uuid_valid(void)
{
    static const struct {
        const char *s;
        int valid;
    } cases[] = {
        {"f45d65fd-03de-585f-a546-6beb29071c00", 1},
        {"F45D65FD-03DE-585F-A546-6BEB29071C00", 1},
        {"F45d65fd-03de-585f-a546-6beb29071c00", 0},  /* mixed case */
        {"f45d65fd03de585fa5466beb29071c00", 0},      /* no hyphens */
        {"f45d65fd-03de-585f-a546-6beb29071c0", 0},   /* short */
        {"f45d65fd-03de-585f-a546-6beb29071c000", 0}, /* long */
        {"g45d65fd-03de-585f-a546-6beb29071c00", 0},  /* not hex */
        {"f45d65fd-03de-585f-a546_6beb29071c00", 0},  /* wrong separator */
        {"", 0},
        {NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(cf_uuid_valid(cases[i].s), cases[i].valid);

    char up[] = "F45D65FD-03DE-585F-A546-6BEB29071C00";
    cf_uuid_lower(up);
    CHECK_STR(up, "f45d65fd-03de-585f-a546-6beb29071c00");
}

static void test_contact_key(void)
{
    char key[CF_SHA256_HEX_LEN + 1];
    /* printf '+79161234567' | openssl dgst -sha256 -hmac demo-network-secret */
    cf_contact_key("demo-network-secret", "+79161234567", key);
    CHECK_STR(key, "07172ccfcfe9e1c4c18068e4289ab9bb06c44d6dfe0bee7f47bda89ed351af97");
    CHECK_INT(strlen(key), CF_SHA256_HEX_LEN);
}

int main(void)
{
    test_unhex();
    test_digests();
    test_base64();
    test_ct_equal();
    test_uuid5();
    test_uuid4();
    test_uuid_valid();
    test_contact_key();
    return cf_test_done();
}
