/* The tilda adapter: not written yet (it refuses every request). */
#include "adapters.h"

#include "common/err.h"

static int verify(const struct cf_hook *h, char *errbuf, size_t errbuf_size)
{
    (void)h;
    (void)errbuf;
    (void)errbuf_size;
    return CF_EAUTH;
}

static int parse(const struct cf_hook *h, json_t *facts, const char **field_out, char *errbuf,
                 size_t errbuf_size)
{
    (void)h;
    (void)facts;
    (void)field_out;
    (void)errbuf;
    (void)errbuf_size;
    return CF_EINVAL;
}

static void reply_ok(const struct cf_hook *h, struct cf_hook_reply *reply)
{
    (void)h;
    (void)reply;
}

const struct leads_adapter leads_adapter_tilda = {
    .provider = "tilda",
    .verify = verify,
    .parse = parse,
    .reply_ok = reply_ok,
};
