/*
 * The dashboard's files: GET / answers index.html and GET /assets/<name>
 * any file of the dashboard's folder (one flat folder, built from
 * services/analytics/web). The files are read once at start and served
 * from memory with an ETag; the page holds no data (it asks the API with
 * the session cookie), so serving it needs no sign-in. The headers keep
 * the page from being framed or from loading anything but its own files.
 */
#include "analytics.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/http.h"
#include "common/log.h"
#include "common/xmalloc.h"

#define WEB_FILES_MAX 64
#define WEB_FILE_MAX_BYTES (16 * 1024 * 1024)

struct web_file {
    char *name;
    const char *type;
    char *body;
    size_t len;
    char etag[24]; /* "\"" + 16 hex of the SHA-256 + "\"" */
};

struct analytics_web {
    char dir[PATH_MAX];
    struct web_file files[WEB_FILES_MAX];
    size_t nfiles;
};

static const char csp[] =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'";

static const char *type_of(const char *name)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".txt", "text/plain; charset=utf-8"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

static int valid_name(const char *name)
{
    if (name[0] == '\0' || name[0] == '.')
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* The configured folder, or share/clinicflow/dashboard beside the
 * binary's bin folder (the build tree and an installed prefix alike). */
static int web_dir(const char *configured, char out[PATH_MAX])
{
    if (configured && configured[0]) {
        snprintf(out, PATH_MAX, "%s", configured);
        return 0;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int w = snprintf(out, PATH_MAX, "%s/../share/clinicflow/dashboard", exe);
    return w > 0 && w < PATH_MAX ? 0 : -1;
}

static int read_file(const char *dir, const char *name, struct web_file *f)
{
    char path[PATH_MAX];
    int w = snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= sizeof(path))
        return -1;
    FILE *in = fopen(path, "rb");
    if (!in)
        return -1;
    struct stat st;
    if (fstat(fileno(in), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_FILE_MAX_BYTES) {
        fclose(in);
        return -1;
    }
    f->len = (size_t)st.st_size;
    f->body = cf_xmalloc(f->len + 1);
    size_t got = fread(f->body, 1, f->len, in);
    fclose(in);
    if (got != f->len) {
        free(f->body);
        f->body = NULL;
        return -1;
    }
    uint8_t h[32];
    char hex[CF_SHA256_HEX_LEN + 1];
    cf_sha256(f->body, f->len, h);
    cf_hex(h, sizeof(h), hex);
    snprintf(f->etag, sizeof(f->etag), "\"%.16s\"", hex);
    f->name = cf_xstrdup(name);
    f->type = type_of(name);
    return 0;
}

static const struct web_file *find(const struct analytics_web *web, const char *name)
{
    for (size_t i = 0; web && name && i < web->nfiles; i++)
        if (strcmp(web->files[i].name, name) == 0)
            return &web->files[i];
    return NULL;
}

static void answer_file(const struct _u_request *req, struct _u_response *resp,
                        const struct web_file *f)
{
    u_map_put(resp->map_header, "X-Content-Type-Options", "nosniff");
    u_map_put(resp->map_header, "Referrer-Policy", "no-referrer");
    u_map_put(resp->map_header, "X-Frame-Options", "DENY");
    u_map_put(resp->map_header, "Content-Security-Policy", csp);
    u_map_put(resp->map_header, "Cache-Control", "no-cache"); /* revalidated by ETag */
    u_map_put(resp->map_header, "ETag", f->etag);
    const char *inm = cf_http_header(req, "If-None-Match");
    if (inm && strstr(inm, f->etag)) {
        ulfius_set_empty_body_response(resp, 304);
        return;
    }
    u_map_put(resp->map_header, "Content-Type", f->type);
    ulfius_set_binary_body_response(resp, 200, f->body, f->len);
}

static int handle_index(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    const struct web_file *f = find(ctx->web, "index.html");
    if (!f)
        cf_http_error(resp, 404, "not_found",
                      "the dashboard is not installed (CLINICFLOW_ANALYTICS_WEB_DIR)", NULL);
    else
        answer_file(req, resp, f);
    return U_CALLBACK_COMPLETE;
}

static int handle_asset(const struct _u_request *req, struct _u_response *resp, void *user)
{
    struct analytics_ctx *ctx = user;
    const struct web_file *f = find(ctx->web, u_map_get(req->map_url, "name"));
    if (!f)
        cf_http_error(resp, 404, "not_found", "no such file", NULL);
    else
        answer_file(req, resp, f);
    return U_CALLBACK_COMPLETE;
}

int analytics_web_routes(struct analytics_ctx *ctx, char *errbuf, size_t errbuf_size)
{
    struct analytics_web *web = cf_xcalloc(1, sizeof(*web));
    ctx->web = web;
    cf_http_route(ctx->svc->http, "GET", "/", handle_index, ctx);
    cf_http_route(ctx->svc->http, "GET", "/assets/:name", handle_asset, ctx);
    if (web_dir(ctx->cfg.web_dir, web->dir) != 0) {
        snprintf(errbuf, errbuf_size, "the dashboard's folder cannot be found");
        return -1;
    }
    DIR *d = opendir(web->dir);
    if (!d) {
        snprintf(errbuf, errbuf_size, "the dashboard's folder %s cannot be read: %s", web->dir,
                 cf_strerror(errno));
        return -1;
    }
    const struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!valid_name(e->d_name) || !type_of(e->d_name))
            continue;
        if (web->nfiles == WEB_FILES_MAX) {
            cf_warn("dashboard: more than %d files in %s; the rest are not served", WEB_FILES_MAX,
                    web->dir);
            break;
        }
        if (read_file(web->dir, e->d_name, &web->files[web->nfiles]) == 0)
            web->nfiles++;
    }
    closedir(d);
    if (!find(web, "index.html")) {
        snprintf(errbuf, errbuf_size, "the dashboard's folder %s has no index.html", web->dir);
        return -1;
    }
    cf_info("dashboard: %zu files from %s", web->nfiles, web->dir);
    return 0;
}

void analytics_web_free(struct analytics_ctx *ctx)
{
    struct analytics_web *web = ctx->web;
    if (!web)
        return;
    for (size_t i = 0; i < web->nfiles; i++) {
        free(web->files[i].name);
        free(web->files[i].body);
    }
    free(web);
    ctx->web = NULL;
}
