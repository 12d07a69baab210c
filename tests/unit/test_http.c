/*
 * Unit tests: the HTTP endpoint (connectors/http/ew_http.h) serving the daemon's /metrics and
 * /health (pipeline/ew_metrics.h) from a known set of stats, a POST body and its headers, and
 * streams (written later, from the loop; the client that goes is noticed), over real loopback
 * sockets: the libev loop runs in a thread, the test is a plain socket client.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ew_http.h"
#include "ew_metrics.h"

static struct ew_flow_stats stats;
static struct ev_loop *loop;
static struct ew_http *http;
static ev_async stop;
static pthread_t thread;
static char last_path[256];

/* A stream written on the loop by a timer: "/later" twice then its end, "/forever" until its
 * client goes. */
static struct ew_http_stream *stream;
static ev_timer ticker;
static int ticks;
static volatile int closed_calls;

static void on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l, (void)w, (void)revents;
    ticks++;
    ew_http_stream_write(stream, "tick\n", 5);
    if (w->repeat == 0) { /* "/later": its second part, then its end */
        ew_http_stream_end(stream);
        stream = NULL;
    }
}

static void on_closed(void *ctx, struct ew_http_stream *s)
{
    (void)ctx;
    assert_ptr_equal(s, stream);
    ev_timer_stop(loop, &ticker);
    stream = NULL;
    closed_calls++;
}

static int handler(void *ctx, struct ew_http_req *r)
{
    (void)ctx;
    const char *path = ew_http_path(r);
    snprintf(last_path, sizeof last_path, "%s", path);
    if (!strcmp(path, "/echo")) { /* the body, a header and an argument back */
        size_t len;
        const char *body = ew_http_body(r, &len);
        const char *h = ew_http_header(r, "X-Test"), *q = ew_http_arg(r, "q");
        struct ew_buf *b = ew_http_out(r);
        ew_buf_adds(b, ew_http_method(r));
        ew_buf_adds(b, "|");
        ew_buf_add(b, body, len);
        ew_buf_adds(b, "|");
        ew_buf_adds(b, h ? h : "-");
        ew_buf_adds(b, "|");
        ew_buf_adds(b, q ? q : "-");
        ew_http_set_header(r, "X-Echo", "yes");
        return 200;
    }
    if (!strcmp(path, "/idle")) { /* open, suspended, until the server stops */
        ew_http_type(r, "text/event-stream");
        stream = ew_http_stream_open(r, 200, on_closed, NULL);
        ew_http_stream_write(stream, "first\n", 6);
        return 0;
    }
    if (!strcmp(path, "/later") || !strcmp(path, "/forever")) {
        ew_http_type(r, "text/event-stream");
        stream = ew_http_stream_open(r, 200, on_closed, NULL);
        assert_non_null(stream);
        ew_http_stream_write(stream, "first\n", 6);
        bool forever = !strcmp(path, "/forever");
        ev_timer_init(&ticker, on_tick, 0.05, forever ? 0.02 : 0);
        ev_timer_start(loop, &ticker);
        return 0;
    }
    if (strcmp(path, "/health") && strcmp(path, "/metrics"))
        return 404;
    if (!strcmp(ew_http_method(r), "POST"))
        return ew_http_not_allowed(r, "GET, HEAD");
    if (!strcmp(path, "/health")) {
        ew_http_type(r, "application/json");
        return ew_metrics_health(&stats, ew_http_out(r));
    }
    ew_http_type(r, "text/plain; version=0.0.4");
    ew_metrics_prometheus(&stats, ew_http_out(r));
    return 200;
}

static void on_stop(struct ev_loop *l, ev_async *w, int revents)
{
    (void)w, (void)revents;
    ev_break(l, EVBREAK_ALL);
}

static void *run(void *arg)
{
    (void)arg;
    ev_run(loop, 0);
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    static const struct ew_redis_stats redis = {.replies = 3, .latency_buckets = {1, 2}};
    stats = (struct ew_flow_stats){
        .deadletters = 7,
        .topics = {"t.hj212", "t.telemetry", "t.enterprise"},
        .decode_errors = {[1] = 4},
        .redis = &redis,
        .kafka = {.messages = {10, 20, 30}, .connected = true},
    };
    stats.events_by_type[EW_AEV_FIRING] = 2;
    signal(SIGPIPE, SIG_IGN);
    loop = ev_loop_new(EVFLAG_AUTO);
    http = ew_http_new(loop, "127.0.0.1:0", handler, NULL);
    assert_non_null(http);
    assert_true(ew_http_port(http) > 0);
    ev_async_init(&stop, on_stop);
    ev_async_start(loop, &stop);
    return pthread_create(&thread, NULL, run, NULL);
}

static int idle_fd = -1, idle_closed_before;

static int teardown(void **state)
{
    (void)state;
    ev_async_send(loop, &stop);
    pthread_join(thread, NULL);
    ew_http_free(http); /* with a suspended stream open: it ends, and its owner is told */
    ev_loop_destroy(loop);
    if (idle_fd >= 0)
        close(idle_fd);
    return idle_fd >= 0 && closed_calls != idle_closed_before + 1;
}

static int connect_to_server(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)ew_http_port(http))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0}; /* no test waits longer than this for a reply */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void send_all(int fd, const char *s)
{
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads one response (headers and a Content-Length body) into out; returns its status, or -1
 * when the connection closed first. */
static int read_response(int fd, char *out, size_t n)
{
    size_t len = 0;
    for (;;) {
        char *end = len ? strstr(out, "\r\n\r\n") : NULL;
        if (end) {
            const char *cl = strstr(out, "Content-Length: ");
            size_t body = cl && cl < end ? (size_t)atol(cl + 16) : 0;
            if (len >= (size_t)(end + 4 - out) + body)
                break;
        }
        ssize_t got = read(fd, out + len, n - 1 - len);
        if (got <= 0)
            return -1;
        len += (size_t)got;
        out[len] = '\0';
    }
    int status = -1;
    sscanf(out, "HTTP/1.%*d %d", &status);
    return status;
}

static int get(const char *request, char *out, size_t n)
{
    int fd = connect_to_server();
    send_all(fd, request);
    int status = read_response(fd, out, n);
    close(fd);
    return status;
}

static void test_metrics(void **state)
{
    (void)state;
    static char r[65536];
    assert_int_equal(get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r), 200);
    assert_non_null(strstr(r, "Content-Type: text/plain; version=0.0.4"));
    assert_non_null(strstr(r, "ecowarn_messages_total{topic=\"t.telemetry\"} 20\n"));
    assert_non_null(strstr(r, "ecowarn_decode_errors_total{code=\"malformed\"} 4\n"));
    assert_non_null(strstr(r, "# TYPE ecowarn_deadletters_total counter\n"
                              "ecowarn_deadletters_total 7\n"));
    assert_non_null(strstr(r, "ecowarn_events_total{event=\"firing\"} 2\n"));
    assert_non_null(strstr(r, "ecowarn_redis_latency_seconds_bucket{le=\"0.002\"} 3\n"));
    assert_non_null(strstr(r, "ecowarn_redis_latency_seconds_count 3\n"));
    assert_non_null(strstr(r, "ecowarn_kafka_connected 1\n"));
    assert_non_null(strstr(r, "ecowarn_redis_connected 0\n"));
}

static void test_health(void **state)
{
    (void)state;
    char r[4096];
    assert_int_equal(get("GET /health HTTP/1.0\r\n\r\n", r, sizeof r), 503); /* Redis is down */
    assert_non_null(strstr(r, "Content-Type: application/json"));
    assert_non_null(strstr(r, "{\"kafka\":true,\"redis\":false,\"draining\":false}"));
}

static void test_keep_alive_and_query(void **state)
{
    (void)state;
    static char r[65536];
    int fd = connect_to_server();
    send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(read_response(fd, r, sizeof r), 503);
    send_all(fd, "GET /metrics?debug=1 HTTP/1.1\r\nHost: x\r\n\r\n"); /* the same connection */
    assert_int_equal(read_response(fd, r, sizeof r), 200);
    assert_string_equal(last_path, "/metrics"); /* the handler sees no query string */
    close(fd);
}

static void test_not_found_and_methods(void **state)
{
    (void)state;
    char r[4096];
    assert_int_equal(get("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r), 404);
    assert_int_equal(
        get("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", r, sizeof r), 405);
    assert_non_null(strstr(r, "Allow: GET, HEAD"));
    assert_int_equal(get("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r), 200);
    assert_null(strstr(r, "ecowarn_")); /* no body */
    assert_int_equal(get("BREW /pot HTCPCP/1.0\r\n\r\n", r, sizeof r) / 100, 4);
}

/* A POST's body, a header and a query argument reach the handler; a body over 8 KiB is 413. */
static void test_post_body_headers_args(void **state)
{
    (void)state;
    static char r[65536], big[12000];
    assert_int_equal(get("POST /echo?q=a%20b HTTP/1.1\r\nHost: x\r\nX-Test: hi\r\n"
                         "Content-Length: 10\r\n\r\n{\"k\": \"v\"}",
                         r, sizeof r),
                     200);
    assert_non_null(strstr(r, "X-Echo: yes"));
    assert_non_null(strstr(r, "\r\n\r\nPOST|{\"k\": \"v\"}|hi|a b"));
    assert_int_equal(get("GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r), 200);
    assert_non_null(strstr(r, "\r\n\r\nGET||-|-"));
    int n =
        snprintf(big, sizeof big, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n");
    memset(big + n, 'a', 9000);
    big[n + 9000] = '\0';
    assert_int_equal(get(big, r, sizeof r), 413);
    assert_int_equal(get("PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", r, sizeof r),
                     405);
    assert_non_null(strstr(r, "Allow: GET, HEAD, POST"));
}

/* Reads from fd until text is in what came (or 5 s pass); returns what came. */
static const char *read_until(int fd, char *out, size_t n, const char *text)
{
    size_t len = 0;
    out[0] = '\0';
    while (!strstr(out, text) && len + 1 < n) {
        ssize_t got = read(fd, out + len, n - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        out[len] = '\0';
    }
    return out;
}

/* A stream: its first part at once, the rest when the loop writes it, then its end (chunked). */
static void test_stream_written_later(void **state)
{
    (void)state;
    static char r[65536];
    int fd = connect_to_server();
    send_all(fd, "GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, r, sizeof r, "\r\n0\r\n\r\n"); /* the last chunk */
    close(fd);
    assert_non_null(strstr(r, "HTTP/1.1 200"));
    assert_non_null(strstr(r, "Content-Type: text/event-stream"));
    const char *first = strstr(r, "first\n"), *tick = strstr(r, "tick\n");
    assert_non_null(first);
    assert_non_null(tick);
    assert_true(first < tick);
    assert_non_null(strstr(r, "\r\n0\r\n\r\n"));
    assert_int_equal(closed_calls, 0); /* ended by its owner: not told again */
}

/* A client that goes is noticed at the next write: closed is called, once. */
static void test_stream_client_goes(void **state)
{
    (void)state;
    static char r[65536];
    int before = closed_calls;
    int fd = connect_to_server();
    send_all(fd, "GET /forever HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, r, sizeof r, "tick\n");
    assert_non_null(strstr(r, "tick\n"));
    close(fd);
    for (int i = 0; i < 500 && closed_calls == before; i++)
        usleep(10000);
    assert_int_equal(closed_calls, before + 1);
}

/* A stream left open and idle (its connection suspended) when the server stops: teardown. */
static void test_stream_idle_at_free(void **state)
{
    (void)state;
    static char r[4096];
    idle_closed_before = closed_calls;
    idle_fd = connect_to_server();
    send_all(idle_fd, "GET /idle HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_non_null(strstr(read_until(idle_fd, r, sizeof r, "first\n"), "first\n"));
}

/* A request larger than a connection may hold is refused, and the server goes on. */
static void test_oversized_request(void **state)
{
    (void)state;
    static char big[40000], r[65536];
    int n = snprintf(big, sizeof big, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(big + n, 'a', sizeof big - (size_t)n - 5);
    memcpy(big + sizeof big - 5, "\r\n\r\n", 5);
    int fd = connect_to_server();
    ssize_t sent = write(fd, big, sizeof big - 1); /* the server may close before it all went */
    (void)sent;
    int status = read_response(fd, r, sizeof r);
    close(fd);
    assert_true(status == -1 || status / 100 == 4);
    assert_int_equal(get("GET /health HTTP/1.1\r\nHost: x\r\n\r\n", r, sizeof r), 503);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_keep_alive_and_query),
        cmocka_unit_test(test_not_found_and_methods),
        cmocka_unit_test(test_oversized_request),
        cmocka_unit_test(test_post_body_headers_args),
        cmocka_unit_test(test_stream_written_later),
        cmocka_unit_test(test_stream_client_goes),
        cmocka_unit_test(test_stream_idle_at_free), /* the last: teardown stops the server */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
