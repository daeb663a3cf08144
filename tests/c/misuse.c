/* Misuse of the C API: every call gets its error code and a message, nothing
 * crashes or hangs. NULL for every pointer argument, invalid UTF-8, stale,
 * foreign and made-up handles, double frees, freeing a session from inside its
 * own callbacks, polling one session from two threads, calls after shutdown. */
#include "test_util.h"

#include <pthread.h>

static const char BAD_UTF8[] = {'h', 'i', (char)0xff, (char)0xfe, 0};

static int frees = 0;
static void count_free(void *userdata) {
    (void)userdata;
    frees++;
}

static void noop_packet(struct iw_session *s, const struct iw_packet *p, void *u) {
    (void)s;
    (void)p;
    (void)u;
}
static void noop_wakeup(struct iw_session *s, void *u) {
    (void)s;
    (void)u;
}
static void noop_log(uint32_t level, const char *target, const char *message, void *u) {
    (void)level;
    (void)target;
    (void)message;
    (void)u;
}

/* Dispatch callback that polls and dispatches the same session: both BUSY. */
static void reenter(struct iw_session *s, const struct iw_packet *p, void *u) {
    struct iw_packet out[1];
    size_t n = 0;
    int *seen = (int *)u;
    (void)p;
    if (*seen) return;
    *seen = 1;
    EXPECT_ERR(iw_session_poll(s, out, 1, &n), IW_E_BUSY, "already being polled");
    EXPECT_ERR(iw_session_dispatch(s, noop_packet, NULL, 1, &n), IW_E_BUSY,
               "already being polled");
}

/* Dispatch callback that frees its own session. */
static void free_self(struct iw_session *s, const struct iw_packet *p, void *u) {
    int *calls = (int *)u;
    (void)p;
    (*calls)++;
    CHECK(iw_session_free(s));
    /* The packet stays readable until the callback returns. */
    EXPECT(p->struct_size == sizeof(struct iw_packet));
}

/* Library-thread callback that frees its own session, then signals. */
struct self_free {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    iw_result result;
};
static void free_self_on_thread(struct iw_session *s, const struct iw_packet *p, void *u) {
    struct self_free *sf = (struct self_free *)u;
    iw_result r = IW_OK;
    (void)p;
    pthread_mutex_lock(&sf->lock);
    if (!sf->done) {
        r = iw_session_free(s);
        sf->result = r;
        sf->done = 1;
        pthread_cond_broadcast(&sf->cond);
    }
    pthread_mutex_unlock(&sf->lock);
}

/* Two threads polling one session: thread A sits in a dispatch callback while
 * the main thread polls. */
struct blocker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int inside, release, done;
    struct iw_session *session;
    iw_result result;
};
static void block_in_callback(struct iw_session *s, const struct iw_packet *p, void *u) {
    struct blocker *b = (struct blocker *)u;
    (void)s;
    (void)p;
    pthread_mutex_lock(&b->lock);
    b->inside = 1;
    pthread_cond_broadcast(&b->cond);
    while (!b->release) pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
}
static void *dispatch_thread(void *u) {
    struct blocker *b = (struct blocker *)u;
    size_t n = 0;
    iw_result r = iw_session_dispatch(b->session, block_in_callback, b, 1, &n);
    pthread_mutex_lock(&b->lock);
    b->result = r;
    b->done = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

struct counter {
    pthread_mutex_t lock;
    int calls;
};
static void count_packet(struct iw_session *s, const struct iw_packet *p, void *u) {
    struct counter *c = (struct counter *)u;
    (void)s;
    (void)p;
    pthread_mutex_lock(&c->lock);
    c->calls++;
    pthread_mutex_unlock(&c->lock);
}

int main(void) {
    char address[64], scene[256], buf[256];
    size_t len = 0, count = 0;
    struct iw_engine *engine;
    struct iw_client *client = NULL, *stale_client = NULL;
    struct iw_session *session = NULL, *other = NULL;
    struct iw_client_config cc;
    struct iw_engine_config ec;
    struct iw_sent_ids ids;
    struct iw_character ch;
    struct iw_packet packets[4];
    iw_key_value kv[1];
    uint32_t state = 0;
    struct iw_session *made_up = (struct iw_session *)(uintptr_t)0x1234;

    /* Before the runtime starts: worker threads. */
    EXPECT_ERR(iw_runtime_set_worker_threads(0), IW_E_INVALID_ARGUMENT, "at least 1");
    CHECK(iw_runtime_set_worker_threads(2));

    /* Result names and the error buffer. */
    EXPECT(strcmp(iw_result_name(IW_E_BUSY), "IW_E_BUSY") == 0);
    EXPECT(strcmp(iw_result_name(-9999), "IW_E_UNKNOWN") == 0);
    EXPECT(iw_abi_version() == IW_ABI_VERSION);
    EXPECT(iw_version() > 0);

    /* Init functions. */
    EXPECT_ERR(iw_client_config_init(NULL), IW_E_NULL_POINTER, "config is NULL");
    EXPECT_ERR(iw_engine_config_init(NULL), IW_E_NULL_POINTER, "config is NULL");
    EXPECT_ERR(iw_sent_ids_init(NULL), IW_E_NULL_POINTER, "ids is NULL");

    /* iw_last_error: too small a buffer, NULLs. */
    EXPECT(iw_last_error(buf, 4, &len) == IW_E_BUFFER_TOO_SMALL);
    EXPECT(len == strlen("ids is NULL"));
    EXPECT(iw_last_error(NULL, 0, &len) == IW_E_BUFFER_TOO_SMALL);
    EXPECT(iw_last_error(buf, sizeof buf, NULL) == IW_E_NULL_POINTER);
    EXPECT(iw_last_error(NULL, 10, &len) == IW_E_NULL_POINTER);
    CHECK(iw_last_error(buf, sizeof buf, &len));
    EXPECT(strcmp(buf, "ids is NULL") == 0);

    /* Engine misuse. */
    EXPECT_ERR(iw_engine_start(NULL, NULL), IW_E_NULL_POINTER, "config is NULL");
    CHECK(iw_engine_config_init(&ec));
    EXPECT_ERR(iw_engine_start(&ec, NULL), IW_E_NULL_POINTER, "out is NULL");
    ec.scene = "/nonexistent/scene.toml";
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_SCENE, "/nonexistent/scene.toml");
    ec.scene = BAD_UTF8;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_UTF8, "config->scene");
    ec.scene = "test";
    ec.listen = "not an address";
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT, "config->listen");
    ec.listen = NULL;
    ec.pacing = 77;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT, "pacing");
    ec.struct_size = 3;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT, "struct_size");
    engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    EXPECT_ERR(iw_engine_address(NULL, buf, sizeof buf, &len), IW_E_NULL_POINTER, "NULL");
    EXPECT_ERR(iw_engine_address(engine, NULL, 10, &len), IW_E_NULL_POINTER, "buf is NULL");
    EXPECT_ERR(iw_engine_address(engine, buf, sizeof buf, NULL), IW_E_NULL_POINTER, "len is NULL");
    EXPECT_ERR(iw_engine_address(engine, buf, 3, &len), IW_E_BUFFER_TOO_SMALL, "too small");
    EXPECT(len == strlen(address));
    EXPECT_ERR(iw_engine_scene_name(engine, 99, buf, sizeof buf, &len), IW_E_NOT_FOUND, "no scene 99");
    EXPECT_ERR(iw_engine_scene_name(NULL, 0, buf, sizeof buf, &len), IW_E_NULL_POINTER, "NULL");
    EXPECT_ERR(iw_engine_stop(NULL), IW_E_NULL_POINTER, "NULL");
    CHECK(iw_engine_free(NULL));

    /* Client config misuse. */
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, NULL, &client), IW_E_NULL_POINTER, "config is NULL");
    CHECK(iw_client_config_init(&cc));
    cc.host = address;
    cc.tls = IW_TLS_OFF;
    cc.api_key = "test-api-key";
    cc.api_secret = "test-api-secret";
    cc.scene = scene;
    cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
    cc.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION + 0x10000, &cc, &client), IW_E_ABI_VERSION, "ABI 2.0");
    EXPECT_ERR(iw_client_new(0, &cc, &client), IW_E_ABI_VERSION, "ABI 0.0");
    cc.user_name = BAD_UTF8;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_UTF8, "config->user_name");
    cc.user_name = NULL;
    kv[0].key = "fav_color";
    kv[0].value = BAD_UTF8;
    cc.profile_fields = kv;
    cc.profile_field_count = 1;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_UTF8,
               "config->profile_fields[0].value");
    cc.profile_fields = NULL;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_NULL_POINTER, "profile_fields");
    cc.profile_field_count = 0;
    cc.tls = 9;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "config->tls");
    cc.tls = IW_TLS_OFF;
    cc.capabilities = 0x80000000u;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "capabilities");
    cc.capabilities = IW_CAP_DEFAULT;
    cc.scene = NULL;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_NULL_POINTER, "config->scene");
    cc.scene = "not a scene";
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "scene");
    cc.scene = scene;
    cc.host = "no port";
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "host");
    cc.host = address;
    cc.api_secret = NULL;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "secret");
    cc.api_secret = "test-api-secret";
    cc.queue_capacity = 0;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "queue capacity");
    cc.queue_capacity = 64;
    {
        struct iw_dialog_line line;
        uint8_t state_bytes[2] = {1, 2};
        line.talker = 7;
        line.text = "hi";
        cc.dialog_history = &line;
        cc.dialog_history_count = 1;
        EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT,
                   "dialog_history[0].talker");
        line.talker = IW_TALKER_PLAYER;
        line.text = BAD_UTF8;
        EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_UTF8,
                   "config->dialog_history[0].text");
        cc.continuation_state = state_bytes;
        cc.continuation_state_len = 2;
        EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT, "at most one");
        cc.dialog_history = NULL;
        cc.dialog_history_count = 0;
        cc.continuation_state = NULL;
        EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_NULL_POINTER, "continuation_state");
        cc.continuation_state_len = 0;
    }
    cc.struct_size = 8;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT,
               "iw_client_config_init");
    cc.struct_size = sizeof cc;
    EXPECT(client == NULL); /* out-parameters are written only on success */

    /* Stale and double-freed client. */
    CHECK(iw_client_new(IW_ABI_VERSION, &cc, &stale_client));
    CHECK(iw_client_free(stale_client));
    EXPECT_ERR(iw_client_free(stale_client), IW_E_INVALID_HANDLE, "invalid iw_client handle");
    EXPECT_ERR(iw_session_open(stale_client, &session), IW_E_INVALID_HANDLE, "invalid iw_client");
    CHECK(iw_client_free(NULL));

    CHECK(iw_client_new(IW_ABI_VERSION, &cc, &client));
    EXPECT_ERR(iw_session_open(NULL, &session), IW_E_NULL_POINTER, "iw_client is NULL");
    EXPECT_ERR(iw_session_open(client, NULL), IW_E_NULL_POINTER, "out is NULL");
    /* A client handle is not a session; a made-up value is not either. */
    EXPECT_ERR(iw_session_close((struct iw_session *)client), IW_E_INVALID_HANDLE, "iw_session");
    EXPECT_ERR(iw_session_free(made_up), IW_E_INVALID_HANDLE, "iw_session");
    EXPECT_ERR(iw_engine_free((struct iw_engine *)client), IW_E_INVALID_HANDLE, "iw_engine");

    CHECK(iw_session_open(client, &session));
    /* The first session started the runtime (the engine runs on threads of its own). */
    EXPECT_ERR(iw_runtime_set_worker_threads(4), IW_E_ALREADY_STARTED, "already started");
    wait_ready(session);

    /* NULL for every pointer argument of the session calls. */
    EXPECT_ERR(iw_session_state(NULL, &state), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_state(session, NULL), IW_E_NULL_POINTER, "state is NULL");
    EXPECT_ERR(iw_session_id(NULL, buf, sizeof buf, &len), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_id(session, buf, sizeof buf, NULL), IW_E_NULL_POINTER, "len is NULL");
    EXPECT_ERR(iw_session_id(session, buf, 2, &len), IW_E_BUFFER_TOO_SMALL, "too small");
    CHECK(iw_session_id(session, buf, sizeof buf, &len));
    EXPECT(len > 0 && strlen(buf) == len);
    EXPECT_ERR(iw_session_character_count(NULL, &count), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_character_count(session, NULL), IW_E_NULL_POINTER, "count is NULL");
    CHECK(iw_session_character_count(session, &count));
    EXPECT_ERR(iw_session_character_at(NULL, 0, &ch), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_character_at(session, 0, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_session_character_at(session, count, &ch), IW_E_INVALID_ARGUMENT, "out of range");
    EXPECT_ERR(iw_session_current_character(NULL, &ch), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_current_character(session, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_session_set_character(NULL, "bob"), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_set_character(session, NULL), IW_E_NULL_POINTER, "who is NULL");
    EXPECT_ERR(iw_session_set_character(session, BAD_UTF8), IW_E_INVALID_UTF8, "who");
    EXPECT_ERR(iw_session_set_character(session, "nobody"), IW_E_NOT_FOUND, "nobody");
    EXPECT_ERR(iw_session_send_text(NULL, "hi", NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_send_text(session, NULL, NULL), IW_E_NULL_POINTER, "text is NULL");
    EXPECT_ERR(iw_session_send_text(session, BAD_UTF8, NULL), IW_E_INVALID_UTF8, "text is not valid UTF-8");
    memset(&ids, 0, sizeof ids);
    EXPECT_ERR(iw_session_send_text(session, "hi", &ids), IW_E_INVALID_ARGUMENT, "iw_sent_ids_init");
    EXPECT_ERR(iw_session_send_trigger(NULL, "t", NULL, 0, NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_send_trigger(session, NULL, NULL, 0, NULL), IW_E_NULL_POINTER, "name is NULL");
    EXPECT_ERR(iw_session_send_trigger(session, "t", NULL, 2, NULL), IW_E_NULL_POINTER, "parameters is NULL");
    kv[0].key = NULL;
    kv[0].value = "v";
    EXPECT_ERR(iw_session_send_trigger(session, "t", kv, 1, NULL), IW_E_NULL_POINTER, "parameters[0].key");
    kv[0].key = "k";
    kv[0].value = BAD_UTF8;
    EXPECT_ERR(iw_session_send_trigger(session, "t", kv, 1, NULL), IW_E_INVALID_UTF8, "parameters[0].value");
    EXPECT_ERR(iw_session_send_trigger(session, BAD_UTF8, NULL, 0, NULL), IW_E_INVALID_UTF8, "name");
    EXPECT_ERR(iw_session_send_narrated_action(NULL, "x", NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_send_narrated_action(session, NULL, NULL), IW_E_NULL_POINTER, "text is NULL");
    EXPECT_ERR(iw_session_send_narrated_action(session, BAD_UTF8, NULL), IW_E_INVALID_UTF8, "text");
    EXPECT_ERR(iw_session_poll(NULL, packets, 4, &count), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_poll(session, NULL, 4, &count), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_session_poll(session, packets, 4, NULL), IW_E_NULL_POINTER, "count is NULL");
    EXPECT_ERR(iw_session_dispatch(NULL, noop_packet, NULL, 1, &count), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_dispatch(session, NULL, NULL, 1, &count), IW_E_NULL_POINTER, "callback is NULL");
    EXPECT_ERR(iw_session_close(NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    CHECK(iw_session_free(NULL));

    /* Registrations: userdata_free runs exactly once, also when the call fails. */
    frees = 0;
    EXPECT_ERR(iw_session_set_callback(NULL, noop_packet, &frees, count_free), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT(frees == 1);
    EXPECT_ERR(iw_session_set_wakeup(made_up, noop_wakeup, &frees, count_free), IW_E_INVALID_HANDLE, "iw_session");
    EXPECT(frees == 2);
    CHECK(iw_session_set_wakeup(session, noop_wakeup, &frees, count_free));
    CHECK(iw_session_set_wakeup(session, noop_wakeup, &frees, count_free)); /* replaces */
    EXPECT(frees == 3);
    CHECK(iw_session_set_wakeup(session, NULL, &frees, count_free)); /* removes: both freed */
    EXPECT(frees == 5);
    EXPECT_ERR(iw_set_log_callback(noop_log, &frees, count_free, 9), IW_E_INVALID_ARGUMENT, "max_level");
    EXPECT(frees == 6);
    CHECK(iw_set_log_callback(noop_log, &frees, count_free, IW_LOG_DEBUG));
    CHECK(iw_set_log_callback(NULL, NULL, NULL, 0));
    EXPECT(frees == 7);

    /* Re-entrant poll/dispatch from a dispatch callback: IW_E_BUSY. */
    CHECK(iw_session_send_text(session, "hello", NULL));
    {
        int seen = 0;
        double deadline = now_s() + WAIT_S;
        while (!seen && now_s() < deadline) {
            CHECK(iw_session_dispatch(session, reenter, &seen, 1, &count));
            if (!seen) sleep_ms(5);
        }
        EXPECT(seen);
    }

    /* Two threads: one dispatching (blocked in its callback), one polling. */
    CHECK(iw_session_send_text(session, "hello again", NULL));
    {
        struct blocker b;
        pthread_t t;
        double deadline = now_s() + WAIT_S;
        memset(&b, 0, sizeof b);
        pthread_mutex_init(&b.lock, NULL);
        pthread_cond_init(&b.cond, NULL);
        b.session = session;
        /* Retry until the dispatch finds a packet and blocks in its callback. */
        while (now_s() < deadline) {
            pthread_create(&t, NULL, dispatch_thread, &b);
            pthread_mutex_lock(&b.lock);
            while (!b.inside && !b.done) pthread_cond_wait(&b.cond, &b.lock);
            pthread_mutex_unlock(&b.lock);
            if (b.inside) break;
            pthread_join(t, NULL);
            b.done = 0;
            sleep_ms(5);
        }
        EXPECT(b.inside);
        EXPECT_ERR(iw_session_poll(session, packets, 4, &count), IW_E_BUSY, "another thread");
        EXPECT_ERR(iw_session_dispatch(session, noop_packet, NULL, 4, &count), IW_E_BUSY, "another thread");
        pthread_mutex_lock(&b.lock);
        b.release = 1;
        pthread_cond_broadcast(&b.cond);
        pthread_mutex_unlock(&b.lock);
        pthread_join(t, NULL);
        CHECK(b.result);
        pthread_mutex_destroy(&b.lock);
        pthread_cond_destroy(&b.cond);
        /* Free again afterwards. */
        CHECK(iw_session_poll(session, packets, 4, &count));
    }

    /* Free a session from inside its own dispatch callback. */
    CHECK(iw_session_open(client, &other));
    {
        int calls = 0;
        double deadline = now_s() + WAIT_S;
        while (calls == 0 && now_s() < deadline) {
            CHECK(iw_session_dispatch(other, free_self, &calls, (size_t)-1, &count));
            if (calls == 0) sleep_ms(5);
        }
        EXPECT(calls == 1); /* the dispatch stopped after the free */
        EXPECT(count == 1);
        EXPECT_ERR(iw_session_poll(other, packets, 4, &count), IW_E_INVALID_HANDLE, "invalid iw_session");
        EXPECT_ERR(iw_session_free(other), IW_E_INVALID_HANDLE, "invalid iw_session");
    }

    /* Free a session from inside its own library-thread callback. */
    CHECK(iw_session_open(client, &other));
    {
        struct self_free sf;
        double deadline = now_s() + WAIT_S;
        memset(&sf, 0, sizeof sf);
        pthread_mutex_init(&sf.lock, NULL);
        pthread_cond_init(&sf.cond, NULL);
        frees = 0;
        CHECK(iw_session_set_callback(other, free_self_on_thread, &sf, count_free));
        pthread_mutex_lock(&sf.lock);
        while (!sf.done && now_s() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&sf.cond, &sf.lock, &ts);
        }
        pthread_mutex_unlock(&sf.lock);
        EXPECT(sf.done);
        CHECK(sf.result);
        /* userdata_free runs once the callback has returned. */
        while (frees == 0 && now_s() < deadline) sleep_ms(5);
        EXPECT(frees == 1);
        EXPECT_ERR(iw_session_free(other), IW_E_INVALID_HANDLE, "invalid iw_session");
        pthread_mutex_destroy(&sf.lock);
        pthread_cond_destroy(&sf.cond);
    }

    /* After close returns, the library-thread callback never runs again. */
    CHECK(iw_session_open(client, &other));
    {
        struct counter c;
        int before;
        memset(&c, 0, sizeof c);
        pthread_mutex_init(&c.lock, NULL);
        wait_ready(other);
        CHECK(iw_session_set_callback(other, count_packet, &c, NULL));
        CHECK(iw_session_send_text(other, "tell me a long story", NULL));
        sleep_ms(2);
        CHECK(iw_session_close(other));
        pthread_mutex_lock(&c.lock);
        before = c.calls;
        pthread_mutex_unlock(&c.lock);
        sleep_ms(300);
        pthread_mutex_lock(&c.lock);
        EXPECT(c.calls == before);
        pthread_mutex_unlock(&c.lock);
        CHECK(iw_session_free(other));
        pthread_mutex_destroy(&c.lock);
    }

    /* Stale session handle and double free. */
    CHECK(iw_session_free(session));
    EXPECT_ERR(iw_session_free(session), IW_E_INVALID_HANDLE, "already freed");
    EXPECT_ERR(iw_session_poll(session, packets, 4, &count), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_send_text(session, "hi", NULL), IW_E_INVALID_HANDLE, "invalid iw_session");

    /* A live session, a live client and an engine are released by iw_shutdown. */
    CHECK(iw_session_open(client, &session));
    frees = 0;
    CHECK(iw_session_set_callback(session, noop_packet, &frees, count_free));
    CHECK(iw_shutdown());
    EXPECT(frees == 1);
    CHECK(iw_shutdown()); /* idempotent */

    /* After shutdown. */
    CHECK(iw_client_config_init(&cc)); /* pure: still fine */
    cc.host = address;
    cc.scene = scene;
    cc.api_key = "k";
    cc.api_secret = "s";
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &stale_client), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_poll(session, packets, 4, &count), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_send_text(session, "hi", NULL), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_free(session), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_client_free(client), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_engine_free(engine), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_runtime_set_worker_threads(2), IW_E_SHUTDOWN, "iw_shutdown");
    frees = 0;
    EXPECT_ERR(iw_session_set_callback(session, noop_packet, &frees, count_free), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT(frees == 1);
    EXPECT_ERR(iw_set_log_callback(noop_log, &frees, count_free, 3), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT(frees == 2);

    printf("misuse: OK (%d error checks)\n", checks);
    return 0;
}
