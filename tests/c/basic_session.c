/* A session against the in-process local engine, through the C API only:
 * open, characters, text, trigger with parameters, the three ways of receiving
 * (poll, dispatch, library-thread callback) and the wake-up. */
#include "test_util.h"

#include <pthread.h>

/* What one reply consisted of. */
struct reply {
    char text[2048];
    int texts, emotions, audios, phonemes, visemes, triggers, ended;
    size_t samples;
    int64_t duration_us;
    int peak;
    int32_t last_behavior;
    char trigger_name[64];
    char character[64];
    char interaction_id[37];
};

static void reply_reset(struct reply *r, const struct iw_sent_ids *ids) {
    memset(r, 0, sizeof *r);
    memcpy(r->interaction_id, ids->interaction_id, sizeof r->interaction_id);
}

/* Accumulates one packet into `r` if it belongs to its interaction. */
static void reply_add(struct reply *r, const struct iw_packet *p) {
    if (p->struct_size != sizeof(struct iw_packet)) {
        FAIL("packet struct_size %u", p->struct_size);
    }
    if (!str_eq(p->ids.interaction_id, r->interaction_id)) {
        return;
    }
    switch (p->kind) {
    case IW_PACKET_TEXT:
        if (p->source.kind == IW_ACTOR_CHARACTER && p->data.text.text.len > 0) {
            EXPECT(p->data.text.text.ptr[p->data.text.text.len] == '\0');
            strncat(r->text, p->data.text.text.ptr, sizeof r->text - strlen(r->text) - 2);
            strcat(r->text, " ");
            snprintf(r->character, sizeof r->character, "%s", p->source.name.ptr);
            r->texts++;
        }
        break;
    case IW_PACKET_EMOTION:
        r->emotions++;
        r->last_behavior = p->data.emotion.behavior;
        break;
    case IW_PACKET_AUDIO: {
        /* Speech, decoded: 16 kHz mono PCM from the local engine. */
        const struct iw_audio *a = &p->data.audio;
        size_t i;
        r->audios++;
        EXPECT(p->ids.utterance_id.len > 0);
        EXPECT(a->decode_error.len == 0 && a->decode_error.ptr[0] == '\0');
        EXPECT(a->len == 0); /* the bytes as sent are kept only when not decodable */
        EXPECT(a->sample_rate == 16000);
        EXPECT(a->channels == 1);
        EXPECT(a->sample_count > 0 && a->samples != NULL);
        EXPECT(a->duration_us ==
               (int64_t)(a->sample_count / a->channels * 1000000 / a->sample_rate));
        r->samples += a->sample_count;
        r->duration_us += a->duration_us;
        /* Read every sample: valgrind checks they are readable. */
        for (i = 0; i < a->sample_count; i++) {
            int v = a->samples[i] < 0 ? -(int)a->samples[i] : a->samples[i];
            if (v > r->peak) r->peak = v;
        }
        r->phonemes += (int)a->phoneme_count;
        for (i = 0; i < a->phoneme_count; i++) {
            EXPECT(a->phonemes[i].phoneme.ptr != NULL);
            EXPECT(a->phonemes[i].start_offset_us >= 0);
            EXPECT(a->phonemes[i].start_offset_us < a->duration_us);
        }
        /* One viseme per change of mouth shape, on the phonemes' clock. */
        EXPECT(a->visemes != NULL);
        EXPECT(a->viseme_count <= a->phoneme_count);
        EXPECT((a->viseme_count > 0) == (a->phoneme_count > 0));
        if (a->viseme_count > 0) {
            EXPECT(a->visemes[0].start_offset_us == a->phonemes[0].start_offset_us);
        }
        r->visemes += (int)a->viseme_count;
        for (i = 0; i < a->viseme_count; i++) {
            EXPECT(a->visemes[i].viseme <= IW_VISEME_OU);
            EXPECT(strcmp(iw_viseme_name(a->visemes[i].viseme), "UNKNOWN") != 0);
            EXPECT(a->visemes[i].start_offset_us >= 0);
            EXPECT(a->visemes[i].start_offset_us < a->duration_us);
            if (i > 0) {
                EXPECT(a->visemes[i].start_offset_us > a->visemes[i - 1].start_offset_us);
                EXPECT(a->visemes[i].viseme != a->visemes[i - 1].viseme);
            }
        }
        break;
    }
    case IW_PACKET_TRIGGER:
        r->triggers++;
        snprintf(r->trigger_name, sizeof r->trigger_name, "%s", p->data.custom.name.ptr);
        break;
    case IW_PACKET_CONTROL:
        if (p->data.control.action == IW_CONTROL_INTERACTION_END) r->ended = 1;
        break;
    case IW_PACKET_ERROR:
        FAIL("error packet: %s", p->data.error.message.ptr);
    default:
        break;
    }
}

static void poll_reply(struct iw_session *s, struct reply *r) {
    struct iw_packet packets[8];
    double deadline = now_s() + WAIT_S;
    while (!r->ended && now_s() < deadline) {
        size_t n = 0, i;
        CHECK(iw_session_poll(s, packets, 8, &n));
        for (i = 0; i < n; i++) reply_add(r, &packets[i]);
        if (n == 0) sleep_ms(2);
    }
    if (!r->ended) FAIL("no INTERACTION_END for %s", r->interaction_id);
}

static void on_dispatch(struct iw_session *s, const struct iw_packet *p, void *userdata) {
    (void)s;
    reply_add((struct reply *)userdata, p);
}

/* State shared with the library thread. */
struct shared {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct reply reply;
    int wakeups;
    int callbacks;
};

static int userdata_frees = 0;

static void on_packet(struct iw_session *s, const struct iw_packet *p, void *userdata) {
    struct shared *sh = (struct shared *)userdata;
    (void)s;
    pthread_mutex_lock(&sh->lock);
    sh->callbacks++;
    reply_add(&sh->reply, p);
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
}

static void on_wakeup(struct iw_session *s, void *userdata) {
    struct shared *sh = (struct shared *)userdata;
    (void)s;
    pthread_mutex_lock(&sh->lock);
    sh->wakeups++;
    pthread_cond_broadcast(&sh->cond);
    pthread_mutex_unlock(&sh->lock);
}

static void count_free(void *userdata) {
    (void)userdata;
    userdata_frees++;
}

/* Waits (library thread side) until `done(sh)` holds. */
static void wait_for(struct shared *sh, int (*done)(struct shared *)) {
    double deadline = now_s() + WAIT_S;
    pthread_mutex_lock(&sh->lock);
    while (!done(sh)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&sh->cond, &sh->lock, &ts);
        if (now_s() > deadline) FAIL("timed out waiting for the library thread");
    }
    pthread_mutex_unlock(&sh->lock);
}

/* Log records routed to the game's console. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_records = 0, token_logged = 0, secret_logged = 0, log_frees = 0;

static void on_log(uint32_t level, const char *target, const char *message, void *userdata) {
    (void)userdata;
    EXPECT(level >= IW_LOG_ERROR && level <= IW_LOG_DEBUG);
    EXPECT(target != NULL && message != NULL);
    pthread_mutex_lock(&log_lock);
    log_records++;
    if (strstr(message, "got a session token") != NULL && strncmp(target, "inworld", 7) == 0) {
        token_logged = 1;
    }
    if (strstr(message, "test-api-secret") != NULL) secret_logged = 1;
    pthread_mutex_unlock(&log_lock);
}

static void on_log_free(void *userdata) {
    (void)userdata;
    pthread_mutex_lock(&log_lock);
    log_frees++;
    pthread_mutex_unlock(&log_lock);
}

static int log_freed(void) {
    int n;
    pthread_mutex_lock(&log_lock);
    n = log_frees;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static int reply_ended(struct shared *sh) { return sh->reply.ended; }
static int woken(struct shared *sh) { return sh->wakeups > 0; }

int main(void) {
    char address[64], scene[256];
    iw_result log_installed = iw_set_log_callback(on_log, NULL, on_log_free, IW_LOG_DEBUG);
    struct iw_engine *engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    struct iw_client *client =
        new_client(address, scene, IW_CAP_DEFAULT | IW_CAP_EMOTIONS | IW_CAP_PHONEMES);
    struct iw_session *session = NULL;
    struct iw_sent_ids ids;
    struct iw_character ch;
    struct reply reply;
    size_t count = 0, i;
    uint32_t state = 0;
    iw_key_value params[1];
    struct shared sh;

    CHECK(log_installed);
    printf("engine at %s, scene %s\n", address, scene);
    CHECK(iw_session_open(client, &session));
    /* The client config was copied: the client can go. */
    CHECK(iw_client_free(client));
    wait_ready(session);
    CHECK(iw_session_state(session, &state));
    EXPECT(state == IW_STATE_READY);

    /* Characters. */
    CHECK(iw_session_character_count(session, &count));
    EXPECT(count == 2);
    for (i = 0; i < count; i++) {
        CHECK(iw_session_character_at(session, i, &ch));
        EXPECT(ch.struct_size == sizeof ch);
        printf("character %u: %s (%s) %s\n", (unsigned)i, ch.id.ptr, ch.display_name.ptr,
               ch.resource_name.ptr);
    }
    CHECK(iw_session_character_at(session, 0, &ch));
    EXPECT(str_eq(ch.display_name, "Alice"));
    EXPECT(str_contains(ch.resource_name, "characters/"));
    CHECK(iw_session_current_character(session, &ch));
    EXPECT(str_eq(ch.display_name, "Alice"));

    /* Text, polled. */
    CHECK(iw_sent_ids_init(&ids));
    CHECK(iw_session_send_text(session, "hello there", &ids));
    EXPECT(strlen(ids.interaction_id) == 36);
    EXPECT(strlen(ids.packet_id) == 36);
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    printf("reply (%s): %s [%d texts, %d emotions, %d audio, %d phonemes, %d visemes]\n",
           reply.character, reply.text, reply.texts, reply.emotions, reply.audios,
           reply.phonemes, reply.visemes);
    printf("speech: %lu samples, %ld us, peak %d\n", (unsigned long)reply.samples,
           (long)reply.duration_us, reply.peak);
    /* The first reply of a character greets the player by name. */
    EXPECT(reply.texts > 0);
    EXPECT(strstr(reply.text, "Tester") != NULL);
    EXPECT(reply.audios > 0);
    EXPECT(reply.phonemes > 0);
    EXPECT(reply.visemes > 0);
    /* Sound, not silence; a sentence or two of speech. Each chunk's duration
     * is rounded down to the microsecond, so the sum is within a microsecond
     * a chunk of the samples' total. */
    EXPECT(reply.peak > 1000);
    EXPECT(reply.duration_us > 500000 && reply.duration_us < 60000000);
    EXPECT((int64_t)(reply.samples * 1000000 / 16000) - reply.duration_us >= 0);
    EXPECT((int64_t)(reply.samples * 1000000 / 16000) - reply.duration_us <= reply.audios);

    /* Then it answers what was said. */
    CHECK(iw_session_send_text(session, "hello there", &ids));
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    printf("reply: %s\n", reply.text);
    EXPECT(strstr(reply.text, "hello there") != NULL);

    /* Trigger with a parameter. */
    params[0].key = "mood";
    params[0].value = "sunny";
    CHECK(iw_session_send_trigger(session, "greet", params, 1, &ids));
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    printf("trigger reply: %s [emotion %s, trigger %s]\n", reply.text,
           iw_emotion_behavior_name(reply.last_behavior), reply.trigger_name);
    EXPECT(strstr(reply.text, "sunny") != NULL);
    EXPECT(reply.emotions > 0);
    EXPECT(strcmp(iw_emotion_behavior_name(reply.last_behavior), "JOY") == 0);
    EXPECT(strcmp(reply.trigger_name, "greeted") == 0);

    /* Narrated action. */
    CHECK(iw_session_send_narrated_action(session, "waves at everyone", &ids));
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    EXPECT(reply.texts > 0);

    /* Speech muted: text without audio; unmuted: audio again. */
    CHECK(iw_session_mute_speech(session, 1, &ids));
    EXPECT(ids.packet_id[0] != '\0' && ids.conversation_id[0] != '\0');
    CHECK(iw_session_send_text(session, "hello muted", &ids));
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    EXPECT(reply.texts > 0 && reply.audios == 0);
    CHECK(iw_session_mute_speech(session, 0, NULL));
    CHECK(iw_session_send_text(session, "hello aloud", &ids));
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    EXPECT(reply.audios > 0);

    /* A reply cancelled at once still ends (its INTERACTION_END comes). */
    CHECK(iw_session_send_text(session, "tell me a long story", &ids));
    {
        const char *utterances[1] = {"no-such-utterance"};
        CHECK(iw_session_cancel_responses(session, ids.interaction_id, utterances, 1));
        CHECK(iw_session_cancel_responses(session, ids.interaction_id, NULL, 0));
    }
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);

    /* Dispatch on this thread. */
    CHECK(iw_session_send_text(session, "dispatch please", &ids));
    reply_reset(&reply, &ids);
    {
        double deadline = now_s() + WAIT_S;
        while (!reply.ended && now_s() < deadline) {
            size_t n = 0;
            CHECK(iw_session_dispatch(session, on_dispatch, &reply, (size_t)-1, &n));
            if (n == 0) sleep_ms(2);
        }
    }
    EXPECT(reply.ended);
    EXPECT(strstr(reply.text, "dispatch please") != NULL);

    /* Switch character (by display name), then the library-thread callback. */
    CHECK(iw_session_set_character(session, "Bob"));
    CHECK(iw_session_current_character(session, &ch));
    EXPECT(str_eq(ch.display_name, "Bob"));
    {
        char bob_id[64];
        snprintf(bob_id, sizeof bob_id, "%s", ch.id.ptr);
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.cond, NULL);
    CHECK(iw_session_set_callback(session, on_packet, &sh, count_free));
    pthread_mutex_lock(&sh.lock);
    CHECK(iw_session_send_text(session, "callback please", &ids));
    reply_reset(&sh.reply, &ids);
    pthread_mutex_unlock(&sh.lock);
    wait_for(&sh, reply_ended);
    printf("callback reply (%s): %s\n", sh.reply.character, sh.reply.text);
    EXPECT(strcmp(sh.reply.character, bob_id) == 0);
    }
    EXPECT(strstr(sh.reply.text, "Bob") != NULL);
    /* Back to the queue: the registration's userdata is released once. */
    CHECK(iw_session_set_callback(session, NULL, NULL, NULL));
    EXPECT(userdata_frees == 1);

    /* Wake-up, then poll. */
    CHECK(iw_session_set_wakeup(session, on_wakeup, &sh, count_free));
    {
        size_t n = 0;
        struct iw_packet drain[64];
        do {
            CHECK(iw_session_poll(session, drain, 64, &n));
        } while (n > 0);
    }
    pthread_mutex_lock(&sh.lock);
    sh.wakeups = 0;
    pthread_mutex_unlock(&sh.lock);
    CHECK(iw_session_send_text(session, "wake me", &ids));
    wait_for(&sh, woken);
    reply_reset(&reply, &ids);
    poll_reply(session, &reply);
    EXPECT(strstr(reply.text, "wake me") != NULL);

    /* Close: no more sends; free releases the wake-up's userdata. */
    CHECK(iw_session_close(session));
    EXPECT_ERR(iw_session_send_text(session, "too late", NULL), IW_E_CLOSED, "closed");
    CHECK(iw_session_free(session));
    EXPECT(userdata_frees == 2);
    pthread_mutex_destroy(&sh.lock);
    pthread_cond_destroy(&sh.cond);

    /* A new session continuing a previous dialog: the character remembers it. */
    {
        struct iw_client_config cc;
        struct iw_dialog_line dialog[2];
        dialog[0].talker = IW_TALKER_PLAYER;
        dialog[0].text = "the password is swordfish";
        dialog[1].talker = IW_TALKER_CHARACTER;
        dialog[1].text = "Noted.";
        CHECK(iw_client_config_init(&cc));
        cc.host = address;
        cc.tls = IW_TLS_OFF;
        cc.api_key = "test-api-key";
        cc.api_secret = "test-api-secret";
        cc.scene = scene;
        cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
        cc.connect_timeout_ms = CONNECT_TIMEOUT_MS;
        cc.dialog_history = dialog;
        cc.dialog_history_count = 2;
        CHECK(iw_client_new(IW_ABI_VERSION, &cc, &client));
        CHECK(iw_session_open(client, &session));
        CHECK(iw_client_free(client));
        wait_ready(session);
        CHECK(iw_session_send_text(session, "do you remember?", &ids));
        reply_reset(&reply, &ids);
        poll_reply(session, &reply);
        printf("continued: %s\n", reply.text);
        EXPECT(strstr(reply.text, "swordfish") != NULL);
        CHECK(iw_session_free(session));
    }

    /* A tiny queue that the game does not drain: what is dropped is reported.
     * How long a reply takes to arrive depends on the machine (valgrind, a busy
     * CPU), so the game stays away for a while, then drains; if the whole
     * reply fit meanwhile, it tries again, staying away twice as long. Only
     * WAIT_S, which catches a hang, bounds it. */
    {
        struct iw_client_config cc;
        struct iw_packet packets[8];
        uint64_t dropped = 0;
        int ended = 0, attempts = 0;
        long away_ms = 50;
        double deadline = now_s() + WAIT_S;
        CHECK(iw_client_config_init(&cc));
        cc.host = address;
        cc.tls = IW_TLS_OFF;
        cc.api_key = "test-api-key";
        cc.api_secret = "test-api-secret";
        cc.scene = scene;
        cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
        cc.connect_timeout_ms = CONNECT_TIMEOUT_MS;
        /* Text only (speech comes in many small chunks): a one-line reply
         * (two texts and its end) fits, a long story (five texts) does not. */
        cc.capabilities = IW_CAP_DEFAULT & ~IW_CAP_AUDIO;
        cc.queue_capacity = 4;
        CHECK(iw_client_new(IW_ABI_VERSION, &cc, &client));
        CHECK(iw_session_open(client, &session));
        CHECK(iw_client_free(client));
        wait_ready(session);
        while (dropped == 0) {
            if (now_s() > deadline) FAIL("no overflow after %d long stories", attempts);
            attempts++;
            CHECK(iw_session_send_text(session, "tell me a long story", &ids));
            sleep_ms(away_ms); /* not polling: the queue fills up */
            away_ms *= 2;
            /* Drain until the story ends or a drop is reported (the report
             * comes at the latest once the queue is empty). */
            ended = 0;
            while (!ended && dropped == 0) {
                size_t n = 0;
                if (now_s() > deadline) FAIL("the long story neither ended nor overflowed");
                CHECK(iw_session_poll(session, packets, 8, &n));
                for (i = 0; i < n; i++) {
                    if (packets[i].kind == IW_PACKET_OVERFLOW) dropped += packets[i].data.overflow.dropped;
                    if (packets[i].kind == IW_PACKET_CONTROL &&
                        packets[i].data.control.action == IW_CONTROL_INTERACTION_END &&
                        str_eq(packets[i].ids.interaction_id, ids.interaction_id)) {
                        ended = 1;
                    }
                }
                if (n == 0) sleep_ms(5);
            }
        }
        EXPECT(dropped > 0);
        /* The session still works after an overflow. */
        CHECK(iw_session_send_text(session, "hello", &ids));
        ended = 0;
        deadline = now_s() + WAIT_S;
        while (!ended && now_s() < deadline) {
            size_t n = 0;
            CHECK(iw_session_poll(session, packets, 8, &n));
            for (i = 0; i < n; i++) {
                if (packets[i].kind == IW_PACKET_OVERFLOW) dropped += packets[i].data.overflow.dropped;
                if (packets[i].kind == IW_PACKET_CONTROL &&
                    packets[i].data.control.action == IW_CONTROL_INTERACTION_END &&
                    str_eq(packets[i].ids.interaction_id, ids.interaction_id)) {
                    ended = 1;
                }
            }
            if (n == 0) sleep_ms(5);
        }
        EXPECT(ended);
        printf("overflow: %llu packets dropped and reported (attempt %d)\n",
               (unsigned long long)dropped, attempts);
        EXPECT(dropped > 0);
        CHECK(iw_session_free(session));
    }

    CHECK(iw_engine_free(engine));

    /* Logging reached the callback, without secrets. */
    pthread_mutex_lock(&log_lock);
    printf("log records: %d\n", log_records);
    EXPECT(token_logged);
    EXPECT(!secret_logged);
    pthread_mutex_unlock(&log_lock);
    CHECK(iw_set_log_callback(NULL, NULL, NULL, 0));
    {
        /* Released once no log call with it runs (maybe on a library thread). */
        double deadline = now_s() + WAIT_S;
        while (log_freed() == 0 && now_s() < deadline) sleep_ms(5);
        EXPECT(log_freed() == 1);
    }
    CHECK(iw_shutdown());
    printf("basic_session: OK\n");
    return 0;
}
