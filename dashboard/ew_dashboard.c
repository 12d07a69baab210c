/*
 * ew_dashboard.c - the live risk map's page and API (see ew_dashboard.h, DASHBOARD.md).
 *
 * A live page is an HTTP stream fed by a follower of the events stream (its own Redis
 * connection, ew_feed.h); a state request is a stream answered once, when Redis has replied.
 * Either ends when its connection does (closed), whatever Redis is doing.
 */
#include "ew_dashboard.h"

#include "ew_feed.h"
#include "ew_log.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The page, built into the binary (ew_assets.c). */
struct ew_asset {
    const char *path, *type;
    const char *start, *end;
};
extern const struct ew_asset ew_assets[];
extern const size_t ew_nassets;

struct ew_dashboard {
    struct ew_feed *feed;
    const struct ew_registry *reg;
    char token[256];
    size_t nlive;
};

/* One live page. */
struct ew_live {
    struct ew_dashboard *d;
    struct ew_http_stream *s;
    struct ew_follow *w;
    struct ew_buf out;
};

/* One state request waiting for Redis. */
struct ew_pending {
    struct ew_dashboard *d;
    struct ew_http_stream *s;
    void *ticket;
    char region[32]; /* sites whose region starts so ("" all) */
};

/* Every answer: no framing, no sniffing, nothing loaded from elsewhere, no inline script. */
static void ew_dash_headers(struct ew_http_req *r)
{
    ew_http_set_header(r, "Content-Security-Policy",
                       "default-src 'none'; script-src 'self'; style-src 'self'; "
                       "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                       "form-action 'none'; frame-ancestors 'none'");
    ew_http_set_header(r, "X-Content-Type-Options", "nosniff");
    ew_http_set_header(r, "Referrer-Policy", "no-referrer");
    ew_http_set_header(r, "Cache-Control", "no-store");
}

static int ew_dash_error(struct ew_http_req *r, int status, const char *why)
{
    struct ew_buf *b = ew_http_out(r);
    ew_http_type(r, "application/json");
    ew_buf_adds(b, "{\"error\":");
    ew_buf_json_str(b, why);
    ew_buf_adds(b, "}\n");
    return status;
}

/* ---- the page ---- */

static int ew_dash_asset(struct ew_http_req *r, const struct ew_asset *a)
{
    ew_http_type(r, a->type);
    ew_buf_add(ew_http_out(r), a->start, (size_t)(a->end - a->start));
    return 200;
}

/* ---- state ---- */

struct ew_sites_ctx {
    struct ew_buf *b;
    const char *region;
    bool first;
};

static void ew_dash_site(void *ctx, const struct ew_outlet *o)
{
    struct ew_sites_ctx *c = ctx;
    if (*c->region && (!o->region || strncmp(o->region, c->region, strlen(c->region))))
        return;
    struct ew_buf *b = c->b;
    ew_buf_adds(b, c->first ? "{" : ",{");
    c->first = false;
    ew_buf_json_key(b, "mn");
    ew_buf_json_str(b, o->mn);
    ew_buf_json_opt_str(b, "enterprise_id", o->enterprise_id);
    ew_buf_json_opt_str(b, "enterprise_name", o->enterprise_name);
    ew_buf_json_opt_str(b, "outlet_id", o->outlet_id);
    ew_buf_json_opt_str(b, "region", o->region);
    if (!isnan(o->lon) && !isnan(o->lat)) {
        ew_buf_adds(b, ",\"lon\":");
        ew_buf_json_num(b, o->lon);
        ew_buf_adds(b, ",\"lat\":");
        ew_buf_json_num(b, o->lat);
    }
    ew_buf_addc(b, '}');
}

static void ew_pending_state(void *ctx, const char *last_id, size_t n, const char *const *alerts,
                             const size_t *lens)
{
    struct ew_pending *p = ctx;
    struct ew_buf b = EW_BUF_INIT;
    ew_buf_adds(&b, "{\"last_id\":");
    ew_buf_json_str(&b, last_id);
    ew_buf_adds(&b, p->d->token[0] ? ",\"ack\":true" : ",\"ack\":false");
    ew_buf_adds(&b, ",\"active\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            ew_buf_addc(&b, ',');
        ew_buf_json_strn(&b, alerts[i], lens[i]); /* the page parses each: one bad one alone */
    }
    ew_buf_adds(&b, "],\"sites\":[");
    struct ew_sites_ctx sc = {&b, p->region, true};
    ew_registry_each(p->d->reg, ew_dash_site, &sc);
    ew_buf_adds(&b, "]}\n");
    if (!b.err)
        ew_http_stream_write(p->s, b.data, b.len);
    ew_buf_release(&b);
    ew_http_stream_end(p->s); /* closed will not be called */
    free(p);
}

static void ew_pending_closed(void *ctx, struct ew_http_stream *s)
{
    (void)s;
    struct ew_pending *p = ctx;
    ew_feed_cancel(p->d->feed, p->ticket);
    free(p);
}

static int ew_dash_state(struct ew_dashboard *d, struct ew_http_req *r)
{
    const char *region = ew_http_arg(r, "region");
    if (region && strlen(region) >= sizeof(((struct ew_pending *)0)->region))
        return ew_dash_error(r, 400, "region: too long");
    struct ew_pending *p = calloc(1, sizeof *p);
    if (!p)
        return ew_dash_error(r, 503, "out of memory");
    p->d = d;
    snprintf(p->region, sizeof p->region, "%s", region ? region : "");
    ew_http_type(r, "application/json");
    if (!(p->s = ew_http_stream_open(r, 200, ew_pending_closed, p))) {
        free(p);
        return ew_dash_error(r, 503, "out of memory");
    }
    if (!(p->ticket = ew_feed_state(d->feed, ew_pending_state, p))) {
        ew_http_stream_end(p->s); /* an empty answer: the page asks again */
        free(p);
    }
    return 0;
}

/* ---- live ---- */

/* "id: ID\nevent: alert\ndata: JSON\n\n"; a line break inside (none from ecowarn) starts a new
 * data line, as Server-Sent Events join them. */
static void ew_live_event(void *ctx, const char *id, const char *json, size_t len)
{
    struct ew_live *l = ctx;
    struct ew_buf *b = &l->out;
    ew_buf_clear(b);
    if (!id) {
        ew_buf_adds(b, ": keepalive\n\n"); /* also finds a page that went */
    } else {
        ew_buf_adds(b, "id: ");
        ew_buf_adds(b, id);
        ew_buf_adds(b, "\nevent: alert\ndata: ");
        for (size_t i = 0; i < len; i++) {
            if (json[i] == '\n')
                ew_buf_adds(b, "\ndata: ");
            else if (json[i] != '\r')
                ew_buf_addc(b, json[i]);
        }
        ew_buf_adds(b, "\n\n");
    }
    if (!b->err)
        ew_http_stream_write(l->s, b->data, b->len); /* a failure ends it: closed follows */
}

static void ew_live_closed(void *ctx, struct ew_http_stream *s)
{
    (void)s;
    struct ew_live *l = ctx;
    ew_follow_free(l->w);
    ew_buf_release(&l->out);
    l->d->nlive--;
    free(l);
}

static int ew_dash_events(struct ew_dashboard *d, struct ew_http_req *r)
{
    const char *since = ew_http_header(r, "Last-Event-ID");
    if (!since || !*since)
        since = ew_http_arg(r, "since");
    if (since && !*since)
        since = NULL;
    if (since && !ew_feed_is_id(since))
        return ew_dash_error(r, 400, "since: expected a stream id (MS-SEQ)");
    if (d->nlive >= EW_DASHBOARD_MAX_FOLLOWERS)
        return ew_dash_error(r, 503, "too many live pages");
    struct ew_live *l = calloc(1, sizeof *l);
    if (!l)
        return ew_dash_error(r, 503, "out of memory");
    l->d = d;
    if (!(l->w = ew_follow_new(d->feed, since, ew_live_event, l))) {
        free(l);
        return ew_dash_error(r, 503, "out of memory");
    }
    ew_http_type(r, "text/event-stream; charset=utf-8");
    if (!(l->s = ew_http_stream_open(r, 200, ew_live_closed, l))) {
        ew_follow_free(l->w);
        free(l);
        return ew_dash_error(r, 503, "out of memory");
    }
    d->nlive++;
    static const char hello[] = "retry: 2000\n\n"; /* a page reconnects after 2 s */
    ew_http_stream_write(l->s, hello, sizeof hello - 1);
    return 0;
}

/* ---- acknowledgements ---- */

/* Equal in time independent of where they differ. */
static bool ew_same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (nb ? nb : 1)]);
    return !diff;
}

/* A string member of at most max - 1 bytes, def when absent; NULL when it is not one. */
static const char *ew_dash_member(json_t *o, const char *key, size_t max, const char *def)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return def;
    const char *s = json_string_value(v);
    return s && strlen(s) < max ? s : NULL;
}

static int ew_dash_ack(struct ew_dashboard *d, struct ew_http_req *r)
{
    if (!d->token[0])
        return ew_dash_error(r, 403, "read-only: this ecowarnd has no http.token");
    const char *auth = ew_http_header(r, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) || !ew_same_secret(auth + 7, d->token)) {
        ew_http_set_header(r, "WWW-Authenticate", "Bearer realm=\"ecowarn\"");
        return ew_dash_error(r, 401, "a valid token is needed to acknowledge");
    }
    const char *type = ew_http_header(r, "Content-Type");
    if (!type || strncmp(type, "application/json", 16))
        return ew_dash_error(r, 415, "expected application/json");
    size_t len;
    const char *body = ew_http_body(r, &len);
    json_t *o = json_loadb(body, len, 0, NULL);
    const char *id = o ? ew_dash_member(o, "alert_id", 128, NULL) : NULL;
    const char *by = o ? ew_dash_member(o, "by", 128, "dashboard") : NULL;
    const char *note = o ? ew_dash_member(o, "note", 512, "") : NULL;
    int status;
    if (!json_is_object(o) || !id || !*id || !by || !*by || !note)
        status = ew_dash_error(r, 400,
                               "expected {\"alert_id\": ID, \"by\"?: NAME, \"note\"?: TEXT} (at "
                               "most 127, 127 and 511 bytes)");
    else if (ew_feed_ack(d->feed, id, by, note))
        status = ew_dash_error(r, 503, "out of memory");
    else {
        ew_log(EW_LOG_INFO, "dashboard", "acknowledgement of %s by %s queued", id, by);
        ew_http_type(r, "application/json");
        ew_buf_adds(ew_http_out(r), "{\"queued\":true}\n");
        status = 202;
    }
    json_decref(o);
    return status;
}

/* ---- the rest ---- */

int ew_dashboard_serve(struct ew_dashboard *d, struct ew_http_req *r)
{
    const char *path = ew_http_path(r), *method = ew_http_method(r);
    bool post = !strcmp(method, "POST");
    ew_dash_headers(r);
    if (!strcmp(path, "/api/ack"))
        return post ? ew_dash_ack(d, r) : ew_http_not_allowed(r, "POST");
    bool api = !strncmp(path, "/api/", 5);
    const struct ew_asset *asset = NULL;
    for (size_t i = 0; !api && i < ew_nassets; i++)
        if (!strcmp(path, ew_assets[i].path))
            asset = &ew_assets[i];
    if (!api && !asset)
        return 404;
    if (post)
        return ew_http_not_allowed(r, "GET, HEAD");
    if (asset)
        return ew_dash_asset(r, asset);
    if (!strcmp(path, "/api/state"))
        return ew_dash_state(d, r);
    if (!strcmp(path, "/api/events"))
        return ew_dash_events(d, r);
    return ew_dash_error(r, 404, "no such API");
}

struct ew_dashboard *ew_dashboard_new(struct ev_loop *loop, const struct ew_dashboard_conf *c)
{
    struct ew_dashboard *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->reg = c->reg;
    snprintf(d->token, sizeof d->token, "%s", c->token);
    struct ew_feed_conf fc = {c->redis, c->prefix, c->timeout_s, c->reconnect_max_s};
    if (!(d->feed = ew_feed_new(loop, &fc))) {
        free(d);
        return NULL;
    }
    return d;
}

void ew_dashboard_free(struct ew_dashboard *d)
{
    if (!d)
        return;
    ew_feed_free(d->feed);
    explicit_bzero(d->token, sizeof d->token);
    free(d);
}
