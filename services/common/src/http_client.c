/*
 * The libcurl wrapper (see http_client.h). Each call builds, runs and
 * frees its own easy handle: gateways are called a few times a second at
 * most, so connection reuse is not worth a shared, locked pool. Signals
 * are off (CURLOPT_NOSIGNAL) because threads call it; the body is
 * collected into a buffer that refuses to grow past the caller's cap, or
 * that ends the transfer there when the caller takes a body cut.
 */
#include "common/http_client.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/hash.h"
#include "common/xmalloc.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
    char *buf;
    size_t len, cap, max;
    int cut_at_max; /* the caller's: a longer body is cut, not an error */
    int too_big;    /* the body went past max, an error */
    int cut;        /* the body went past max, kept up to it */
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
    struct sink *s = user;
    size_t n = size * nmemb, take = n;

    if (n > s->max - s->len) {
        if (!s->cut_at_max) {
            s->too_big = 1;
            return 0; /* stops the transfer with CURLE_WRITE_ERROR */
        }
        take = s->max - s->len;
        s->cut = 1;
    }
    if (s->len + take + 1 > s->cap) {
        s->cap = s->cap * 2 > s->len + take + 1 ? s->cap * 2 : s->len + take + 1;
        s->buf = cf_xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    /* a cut body stops the transfer too: the rest is never read */
    return s->cut ? 0 : n;
}

/* Checks each curl_easy_setopt of a request: the first failure is kept. */
#define SETOPT(h, opt, val)                                                                        \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt((h), (opt), (val));                                              \
    } while (0)

/* A URL as an error shows it: without its query and fragment, where a
 * gateway's request may carry a phone number or a credential (the message
 * is logged). For "%.*s". */
#define SHOWN(url) (int)strcspn((url), "?#"), (url)

int cf_http_client_do(const struct cf_http_client_request *req,
                      struct cf_http_client_response *resp, char *errbuf, size_t errbuf_size)
{
    struct sink sink = {.max = req->max_response, .cut_at_max = req->cut_at_max};
    struct curl_slist *headers = NULL;
    char curl_err[CURL_ERROR_SIZE] = "";
    CURL *curl = NULL;
    CURLcode rc = CURLE_OK;
    int ret = CF_EUNAVAIL;

    memset(resp, 0, sizeof(*resp));
    if (!req->url || !req->method || req->timeout_ms <= 0 ||
        (strncmp(req->url, "http://", 7) != 0 && strncmp(req->url, "https://", 8) != 0)) {
        cf_seterr(errbuf, errbuf_size, "invalid request: an http(s) URL, a method and a timeout");
        return CF_EINVAL;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK || !(curl = curl_easy_init())) {
        cf_seterr(errbuf, errbuf_size, "could not initialize libcurl");
        return CF_EUNAVAIL;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *next = curl_slist_append(headers, req->headers[i]);
        if (!next)
            abort(); /* allocation failure, as cf_xmalloc */
        headers = next;
    }
    SETOPT(curl, CURLOPT_URL, req->url);
    SETOPT(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(curl, CURLOPT_NOSIGNAL, 1L);
    SETOPT(curl, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    SETOPT(curl, CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(curl, CURLOPT_ERRORBUFFER, curl_err);
    SETOPT(curl, CURLOPT_WRITEFUNCTION, on_data);
    SETOPT(curl, CURLOPT_WRITEDATA, &sink);
    /* refuses an announced length over the cap before reading any of it;
     * a body to cut is read up to the cap instead */
    if (!req->cut_at_max)
        SETOPT(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response);
    SETOPT(curl, CURLOPT_HTTPHEADER, headers);
    if (req->body) {
        SETOPT(curl, CURLOPT_POSTFIELDS, req->body);
        SETOPT(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    /* after POSTFIELDS, which would make it a POST */
    SETOPT(curl, CURLOPT_CUSTOMREQUEST, req->method);
    if (strcmp(req->method, "GET") == 0 && !req->body)
        SETOPT(curl, CURLOPT_HTTPGET, 1L);
    if (rc != CURLE_OK) {
        cf_seterr(errbuf, errbuf_size, "could not set up the request: %s", curl_easy_strerror(rc));
        ret = CF_EINVAL;
        goto out;
    }

    rc = curl_easy_perform(curl);
    long sent = 0;
    if (curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &sent) != CURLE_OK)
        sent = 1; /* unknown: as if it went out, the safe side for a caller that must not repeat */
    resp->request_sent = sent > 0;
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && sink.cut)) {
        /* the status came with the head, before any of the body */
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = sink.buf ? sink.buf : cf_xstrdup("");
        resp->body_len = sink.len;
        resp->truncated = sink.cut;
        if (sink.buf)
            sink.buf[sink.len] = '\0';
        sink.buf = NULL;
        ret = 0;
    } else if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED) {
        cf_seterr(errbuf, errbuf_size, "the answer from %.*s is over %zu bytes", SHOWN(req->url),
                  req->max_response);
        ret = CF_ETOOBIG;
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        cf_seterr(errbuf, errbuf_size, "no answer from %.*s within %ld ms", SHOWN(req->url),
                  req->timeout_ms);
        ret = CF_ETIMEOUT;
    } else if (rc == CURLE_URL_MALFORMAT || rc == CURLE_UNSUPPORTED_PROTOCOL) {
        cf_seterr(errbuf, errbuf_size, "invalid URL %.*s: %s", SHOWN(req->url),
                  curl_err[0] ? curl_err : curl_easy_strerror(rc));
        ret = CF_EINVAL;
    } else {
        cf_seterr(errbuf, errbuf_size, "could not call %.*s: %s", SHOWN(req->url),
                  curl_err[0] ? curl_err : curl_easy_strerror(rc));
        ret = CF_EUNAVAIL;
    }
out:
    free(sink.buf);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return ret;
}

void cf_http_client_response_free(struct cf_http_client_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

char *cf_http_basic_auth(const char *user, const char *password)
{
    char *pair = cf_xasprintf("%s:%s", user ? user : "", password ? password : "");
    const size_t n = strlen(pair);
    char *out = cf_xmalloc(6 + 4 * ((n + 2) / 3) + 1);
    memcpy(out, "Basic ", 6);
    cf_base64((const uint8_t *)pair, n, out + 6);
    free(pair);
    return out;
}
