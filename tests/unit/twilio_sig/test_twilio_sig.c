/*
 * X-Twilio-Signature (common/twilio_sig.h) against Twilio's own test
 * vectors. Where each comes from and how sure it is:
 *
 * - Token "12345", URL https://mycompany.com/myapp.php?foo=1&bar=2, the
 *   params CallSid/Digits/From/To/Caller and the signatures
 *   RSOYDt4T1cUTdK1PDd93/VVr8B8= (as given), kvajT1Ptam85bY51eRf/AJRuM3w=
 *   (:443 added), 0ZXoZLH/DfblKGATFgpif+LLRf4= (http, :80 added),
 *   Zmvh+3yNM1Phv2jhDCwEM3q5ebU= (http with :1234), the repeated-name
 *   vector IK+Dwps556ElfBT0I3Rgjkr1wJU= and the JSON body's
 *   bodySHA256 0a1ff763...6620 with a9nBmqA0ju/hNViExpshrM61xv4=: verbatim
 *   from twilio-python's tests/unit/test_request_validator.py (twilio-node's
 *   webhooks spec signs the same way). Certain.
 * - tM//N+MVWOh7+ol2z8YCNxSY0Eg= (the repeated-name vector with the
 *   repeated pair signed twice, as older helper libraries did): computed
 *   independently with python3 hmac, not published by Twilio:
 *     python3 -c "import hmac,hashlib,base64; u='https://mycompany.com/myapp.php?foo=1&bar=2';
 *       p=sorted([('Sid','CA123'),('SidAccount','AC123'),('Digits','5678'),('Digits','1234'),
 *       ('Digits','1234')]); print(base64.b64encode(hmac.new(b'12345',
 *       (u+''.join(a+b for a,b in p)).encode(),hashlib.sha1).digest()).decode())"
 *   The other vectors above were re-computed the same way and agree.
 */
#include <stdlib.h>
#include <string.h>

#include "cftest.h"
#include "common/err.h"
#include "common/form.h"
#include "common/twilio_sig.h"

#define TOKEN "12345"
#define URL "https://mycompany.com/myapp.php?foo=1&bar=2"
#define BODY                                                                                       \
    "CallSid=CA1234567890ABCDE&Digits=1234&From=%2B14158675309&To=%2B18005551212&Caller=%"         \
    "2B14158675309"
#define SIG "RSOYDt4T1cUTdK1PDd93/VVr8B8="

static struct cf_form form_of(const char *body)
{
    struct cf_form form;
    int rc = cf_form_parse(body, strlen(body), 100, &form, NULL, 0);
    CHECK_INT(rc, 0);
    return form;
}

static int valid(const char *url, const char *body, const char *sig)
{
    struct cf_form form = form_of(body);
    int ok = cf_twilio_signature_valid(TOKEN, url, &form, sig);
    cf_form_free(&form);
    return ok;
}

static int verify_post(const char *url, const char *body, const char *sig)
{
    return cf_twilio_verify_request(TOKEN, url, "POST",
                                    "application/x-www-form-urlencoded; charset=UTF-8", body,
                                    strlen(body), NULL, sig, NULL, 0);
}

static void test_documented_vector(void)
{
    struct cf_form form = form_of(BODY);
    char out[CF_TWILIO_SIG_LEN + 1];

    cf_twilio_signature(TOKEN, URL, &form, 1, out);
    CHECK_STR(out, SIG);
    /* the caller's form keeps its order */
    CHECK_STR(form.fields[0].name, "CallSid");
    cf_form_free(&form);

    CHECK(valid(URL, BODY, SIG));
    CHECK_INT(verify_post(URL, BODY, SIG), 0);
}

static void test_ports(void)
{
    /* Signed with :443, known without; and known with a port Twilio
     * signed without. */
    CHECK(valid(URL, BODY, "kvajT1Ptam85bY51eRf/AJRuM3w="));
    CHECK(valid("https://mycompany.com:1234/myapp.php?foo=1&bar=2", BODY, SIG));
    CHECK(valid("https://mycompany.com:443/myapp.php?foo=1&bar=2", BODY, SIG));
    /* http: :80 added, a port kept as given */
    CHECK(
        valid("http://mycompany.com/myapp.php?foo=1&bar=2", BODY, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    CHECK(valid("http://mycompany.com:1234/myapp.php?foo=1&bar=2", BODY,
                "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="));
    /* another path or query is another URL */
    CHECK(!valid("https://mycompany.com/myapp.php?foo=1&bar=3", BODY, SIG));
    CHECK(!valid("https://mycompany.com/other.php?foo=1&bar=2", BODY, SIG));
}

static void test_repeated_names(void)
{
    const char *body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
    struct cf_form form = form_of(body);
    char out[CF_TWILIO_SIG_LEN + 1];

    cf_twilio_signature(TOKEN, URL, &form, 1, out);
    CHECK_STR(out, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    cf_twilio_signature(TOKEN, URL, &form, 0, out);
    CHECK_STR(out, "tM//N+MVWOh7+ol2z8YCNxSY0Eg=");
    cf_form_free(&form);
    /* both forms are accepted */
    CHECK(valid(URL, body, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    CHECK(valid(URL, body, "tM//N+MVWOh7+ol2z8YCNxSY0Eg="));
    /* the order on the wire does not matter, the values do */
    CHECK(valid(URL, "Digits=1234&Digits=1234&Digits=5678&SidAccount=AC123&Sid=CA123",
                "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
    CHECK(!valid(URL, "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234",
                 "tM//N+MVWOh7+ol2z8YCNxSY0Eg="));
}

static void test_wrong(void)
{
    char *tampered = strdup(BODY);
    *strstr(tampered, "Digits=1234") = 'X';
    CHECK(!valid(URL, tampered, SIG));
    CHECK_INT(verify_post(URL, tampered, SIG), CF_EAUTH);
    free(tampered);
    CHECK(!valid(URL, BODY, "RSOYDt4T1cUTdK1PDd93/VVr8B8"));
    CHECK(!valid(URL, BODY, ""));
    CHECK(!valid(URL, BODY, NULL));
    CHECK(!valid(URL, "", SIG));

    struct cf_form form = form_of(BODY);
    CHECK(!cf_twilio_signature_valid("", URL, &form, SIG));
    CHECK(!cf_twilio_signature_valid(NULL, URL, &form, SIG));
    CHECK(!cf_twilio_signature_valid("54321", URL, &form, SIG));
    cf_form_free(&form);

    char errbuf[128] = "";
    CHECK_INT(cf_twilio_verify_request(NULL, URL, "POST", "application/x-www-form-urlencoded", BODY,
                                       strlen(BODY), NULL, SIG, errbuf, sizeof(errbuf)),
              CF_EAUTH);
    CHECK(strstr(errbuf, "auth_token") != NULL);
    CHECK_INT(cf_twilio_verify_request(TOKEN, URL, "POST", "application/x-www-form-urlencoded",
                                       BODY, strlen(BODY), NULL, NULL, errbuf, sizeof(errbuf)),
              CF_EAUTH);
    CHECK(strstr(errbuf, "missing") != NULL);
    CHECK_INT(cf_twilio_verify_request(TOKEN, URL, "POST", "application/x-www-form-urlencoded",
                                       "a=%zz", 5, NULL, SIG, errbuf, sizeof(errbuf)),
              CF_EAUTH);
    CHECK(strstr(errbuf, "malformed") != NULL);
    /* a form body sent as another content type is not signed field by field */
    CHECK_INT(cf_twilio_verify_request(TOKEN, URL, "POST", "text/plain", BODY, strlen(BODY), NULL,
                                       SIG, NULL, 0),
              CF_EAUTH);
}

static void test_json_body(void)
{
    const char *body = "{\"property\": \"value\", \"boolean\": true}";
    const char *hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const char *url = URL "&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f9"
                          "6e6620";
    const char *sig = "a9nBmqA0ju/hNViExpshrM61xv4=";

    CHECK_INT(cf_twilio_verify_request(TOKEN, url, "POST", "application/json", body, strlen(body),
                                       hash, sig, NULL, 0),
              0);
    /* a changed body fails its hash, a changed hash its signature */
    char errbuf[64] = "";
    CHECK_INT(cf_twilio_verify_request(TOKEN, url, "POST", "application/json", "{}", 2, hash, sig,
                                       errbuf, sizeof(errbuf)),
              CF_EAUTH);
    CHECK_STR(errbuf, "wrong bodySHA256");
    CHECK_INT(cf_twilio_verify_request(TOKEN, URL, "POST", "application/json", "{}", 2,
                                       "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61ca"
                                       "aff8a",
                                       sig, errbuf, sizeof(errbuf)),
              CF_EAUTH);
    CHECK_STR(errbuf, "wrong X-Twilio-Signature");
}

static void test_get(void)
{
    /* A GET is signed over its URL alone: the query is in the URL. */
    struct cf_form none = {0};
    char out[CF_TWILIO_SIG_LEN + 1];
    cf_twilio_signature(TOKEN, URL, NULL, 1, out);
    CHECK(cf_twilio_signature_valid(TOKEN, URL, &none, out));
    CHECK(cf_twilio_signature_valid(TOKEN, URL, NULL, out));
    CHECK_INT(cf_twilio_verify_request(TOKEN, URL, "GET", NULL, NULL, 0, NULL, out, NULL, 0), 0);
    /* that signature covers no body: the same URL replayed with a form of
     * one's own, as a GET or a POST in another case or type, is refused */
    static const struct {
        const char *method, *type;
    } replays[] = {
        {"GET", "application/x-www-form-urlencoded"},
        {"post", "application/x-www-form-urlencoded"},
        {"get", "application/x-www-form-urlencoded"},
        {"POST", "text/plain"},
        {"POST", NULL},
    };
    const char *forged = "CallSid=CA1&CallStatus=completed&From=%2B79161234567";
    for (size_t i = 0; i < sizeof(replays) / sizeof(replays[0]); i++) {
        char errbuf[96] = "";
        CHECK_INT(cf_twilio_verify_request(TOKEN, URL, replays[i].method, replays[i].type, forged,
                                           strlen(forged), NULL, out, errbuf, sizeof(errbuf)),
                  CF_EAUTH);
        CHECK(strstr(errbuf, "does not sign") != NULL);
    }
}

int main(void)
{
    test_documented_vector();
    test_ports();
    test_repeated_names();
    test_wrong();
    test_json_body();
    test_get();
    return cf_test_done();
}
