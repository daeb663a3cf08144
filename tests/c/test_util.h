/* Helpers shared by the C tests of the inworld C API. */
#ifndef IW_TEST_UTIL_H
#define IW_TEST_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* This program starts the local engine (iw_engine_*), which the header
 * declares only for code that asks for it. */
#define INWORLD_ENGINE 1
#include "inworld.h"

/* Seconds to wait for the engine before failing. Only catches a hang: under
 * valgrind, on a busy machine, everything is slow. */
#define WAIT_S 300.0

/* How long a session may take to load its scene (the library's default, 15 s,
 * is for a game on a network; here it only catches a hang). */
#define SCENE_TIMEOUT_MS 120000u
/* Likewise for a token and a stream (5 s by default): under valgrind on a
 * busy machine the first connection can take longer. */
#define CONNECT_TIMEOUT_MS 60000u

static char last_message[1024];

static inline const char *last_error(void) {
    size_t len = 0;
    if (iw_last_error(last_message, sizeof last_message, &len) != IW_OK) {
        return "<iw_last_error failed>";
    }
    return last_message;
}

#define FAIL(...)                                                   \
    do {                                                            \
        fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);     \
        fprintf(stderr, __VA_ARGS__);                               \
        fprintf(stderr, "\n");                                      \
        exit(1);                                                    \
    } while (0)

/* The call must succeed. */
#define CHECK(call)                                                          \
    do {                                                                     \
        iw_result r_ = (call);                                               \
        if (r_ != IW_OK) {                                                   \
            FAIL("%s -> %s: %s", #call, iw_result_name(r_), last_error());   \
        }                                                                    \
    } while (0)

/* The call must fail with `code`, and its message must contain `needle`. */
#define EXPECT_ERR(call, code, needle)                                               \
    do {                                                                             \
        iw_result r_ = (call);                                                       \
        if (r_ != (code)) {                                                          \
            FAIL("%s -> %s, expected %s (%s)", #call, iw_result_name(r_),            \
                 iw_result_name(code), r_ == IW_OK ? "" : last_error());             \
        }                                                                            \
        if (strstr(last_error(), (needle)) == NULL) {                                \
            FAIL("%s: message \"%s\" does not mention \"%s\"", #call, last_message,  \
                 (needle));                                                          \
        }                                                                            \
        checks++;                                                                    \
    } while (0)

#define EXPECT(cond)                                   \
    do {                                               \
        if (!(cond)) {                                 \
            FAIL("expected %s", #cond);                \
        }                                              \
    } while (0)

static int checks = 0;

static inline double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static inline int str_eq(iw_str s, const char *c) {
    return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0;
}

static inline int str_contains(iw_str s, const char *needle) {
    /* iw_str has a trailing NUL: it is a C string too. */
    return strstr(s.ptr, needle) != NULL;
}

/* Starts a local engine with `scene` ("test", "default" or a file). */
static inline struct iw_engine *start_engine(const char *scene, char *address, size_t address_cap,
                                      char *scene_name, size_t scene_cap) {
    struct iw_engine_config ec;
    struct iw_engine *engine = NULL;
    size_t len = 0;
    CHECK(iw_engine_config_init(&ec));
    ec.scene = scene;
    CHECK(iw_engine_start(&ec, &engine));
    CHECK(iw_engine_address(engine, address, address_cap, &len));
    CHECK(iw_engine_scene_name(engine, 0, scene_name, scene_cap, &len));
    return engine;
}

/* A client for that engine with its default test credentials. */
static inline struct iw_client *new_client(const char *address, const char *scene, uint32_t caps) {
    struct iw_client_config cc;
    struct iw_client *client = NULL;
    CHECK(iw_client_config_init(&cc));
    cc.host = address;
    cc.tls = IW_TLS_OFF;
    cc.api_key = "test-api-key";
    cc.api_secret = "test-api-secret";
    cc.scene = scene;
    cc.user_name = "Tester";
    cc.capabilities = caps;
    cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
    cc.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    CHECK(iw_client_new(IW_ABI_VERSION, &cc, &client));
    return client;
}

/* Polls until the session is READY (fails on an error packet or timeout). */
static inline void wait_ready(struct iw_session *session) {
    struct iw_packet packets[16];
    double deadline = now_s() + WAIT_S;
    while (now_s() < deadline) {
        size_t n = 0, i;
        CHECK(iw_session_poll(session, packets, 16, &n));
        for (i = 0; i < n; i++) {
            if (packets[i].kind == IW_PACKET_ERROR) {
                FAIL("error while connecting: %s", packets[i].data.error.message.ptr);
            }
            if (packets[i].kind == IW_PACKET_CONNECTION &&
                packets[i].data.connection.state == IW_STATE_READY) {
                return;
            }
        }
        sleep_ms(5);
    }
    FAIL("the session did not become ready in %.0f s", WAIT_S);
}

#endif
