/* Hands-free through the C API, against the in-process local engine: voice
 * detection on, espeak-ng speech (16 kHz mono 16-bit, made by the test
 * runner, whose path comes on stdin) pushed in real time with silence
 * around it: the game sees the turn start and end (IW_PACKET_VOICE_ACTIVITY)
 * and the engine answers the audio session the library made; the game's own
 * audio sessions are refused meanwhile; an echo reference takes pushes. */
#include "test_util.h"

#define SCENE "workspaces/test-ws/scenes/test-scene"

static int16_t *read_speech(size_t *count, int *slow) {
    char path[1024], mode[64] = "";
    FILE *f;
    long bytes;
    int16_t *samples;
    if (!fgets(path, sizeof path, stdin)) FAIL("no speech path on stdin");
    path[strcspn(path, "\n")] = 0;
    /* "slow" under valgrind: echo cancellation would not keep up there. */
    if (fgets(mode, sizeof mode, stdin)) *slow = strncmp(mode, "slow", 4) == 0;
    f = fopen(path, "rb");
    if (!f) FAIL("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    samples = malloc((size_t)bytes);
    if (!samples || fread(samples, 1, (size_t)bytes, f) != (size_t)bytes) FAIL("cannot read %s", path);
    fclose(f);
    *count = (size_t)bytes / 2;
    return samples;
}

/* A game's audio thread: what the ring refused (full: the session task
 * drains it late on a crowded machine or under valgrind) is pushed again on
 * the next callback. Returns the frames refused along the way, which the
 * library counts as dropped. */
static size_t push_input(struct iw_audio_input *input, const int16_t *frames, size_t n) {
    size_t accepted = 0, refused = 0;
    double deadline = now_s() + WAIT_S;
    for (;;) {
        CHECK(iw_audio_input_push_i16(input, frames, n, &accepted));
        EXPECT(accepted <= n);
        frames += accepted;
        n -= accepted;
        if (n == 0) return refused;
        refused += n;
        if (now_s() > deadline) FAIL("the microphone's ring stayed full for %.0f s", WAIT_S);
        sleep_ms(10);
    }
}

static size_t push_reference(struct iw_echo_reference *reference, const int16_t *frames, size_t n) {
    size_t accepted = 0, refused = 0;
    double deadline = now_s() + WAIT_S;
    for (;;) {
        CHECK(iw_echo_reference_push_i16(reference, frames, n, &accepted));
        EXPECT(accepted <= n);
        frames += accepted;
        n -= accepted;
        if (n == 0) return refused;
        refused += n;
        if (now_s() > deadline) FAIL("the echo reference's ring stayed full for %.0f s", WAIT_S);
        sleep_ms(10);
    }
}

int main(void) {
    char address[64], scene[256], turn[64] = "";
    struct iw_engine *engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    struct iw_client *client = new_client(address, SCENE, IW_CAP_DEFAULT);
    struct iw_session *session = NULL;
    struct iw_audio_input *input = NULL;
    struct iw_echo_reference *reference = NULL;
    struct iw_voice_detection config;
    size_t count = 0, start, accepted = 0, n, i, refused = 0, refused_input = 0;
    uint64_t input_dropped = 1;
    int slow = 0;
    int16_t *speech = read_speech(&count, &slow);
    int16_t quiet[160] = {0};
    uint64_t dropped = 1;
    int started = 0, ended = 0, heard = 0;
    double deadline;

    CHECK(iw_session_open(client, &session));
    wait_ready(session);

    CHECK(iw_voice_detection_init(&config));
    EXPECT(config.struct_size == sizeof config && config.end_silence_ms == 800);
    EXPECT(config.understanding == IW_UNDERSTANDING_FULL && config.echo_cancellation == 0);
    config.echo_cancellation = slow ? 0 : 1;
    CHECK(iw_session_set_voice_detection(session, &config));
    EXPECT_ERR(iw_session_start_audio_session(session, IW_MIC_PUSH_TO_TALK, IW_UNDERSTANDING_FULL, NULL),
               IW_E_INVALID_ARGUMENT, "voice detection is on");

    /* What the game plays: silence here, 10 ms pushed with each 10 ms heard.
     * On a crowded machine the library may drain its rings late: what they
     * refuse is pushed again later, and counted as dropped, nothing else. */
    CHECK(iw_echo_reference_open(session, 16000, 1, &reference));
    CHECK(iw_audio_input_open(session, 16000, 1, &input));
    for (start = 0; start < count; start += 160) {
        n = count - start < 160 ? count - start : 160;
        refused += push_reference(reference, quiet, n);
        refused_input += push_input(input, speech + start, n);
        sleep_ms(10);
    }
    CHECK(iw_echo_reference_dropped(reference, &dropped));
    EXPECT(dropped == refused);
    CHECK(iw_audio_input_dropped(input, &input_dropped));
    /* At least what was refused (a turn's audio that could not go is
     * counted there too). */
    EXPECT(input_dropped >= refused_input);
    if (refused || refused_input) {
        fprintf(stderr, "hands_free: the rings refused %zu reference and %zu microphone frames (pushed again)\n",
                refused, refused_input);
    }

    deadline = now_s() + WAIT_S;
    while (!(ended && heard) && now_s() < deadline) {
        struct iw_packet packets[16];
        CHECK(iw_session_poll(session, packets, 16, &n));
        for (i = 0; i < n; i++) {
            const struct iw_packet *p = &packets[i];
            if (p->kind == IW_PACKET_ERROR) FAIL("error: %s", p->data.error.message.ptr);
            if (p->kind == IW_PACKET_VOICE_ACTIVITY) {
                const struct iw_voice_activity *v = &p->data.voice_activity;
                EXPECT(v->cut_short == 0);
                EXPECT(v->audio_session_id.len == 36);
                EXPECT(p->ids.conversation_id.len == 36);
                if (v->speaking) {
                    EXPECT(!started);
                    started = 1;
                    snprintf(turn, sizeof turn, "%s", v->audio_session_id.ptr);
                } else {
                    EXPECT(started && !ended);
                    EXPECT(str_eq(v->audio_session_id, turn));
                    ended = 1;
                }
            }
            if (p->kind == IW_PACKET_TEXT && p->data.text.source == IW_TEXT_SOURCE_SPEECH_TO_TEXT &&
                p->data.text.is_final) {
                heard = 1;
            }
        }
        sleep_ms(5);
    }
    EXPECT(started && ended && heard);

    /* Off again: the game's audio sessions are its own. */
    CHECK(iw_session_set_voice_detection(session, NULL));
    CHECK(iw_session_start_audio_session(session, IW_MIC_PUSH_TO_TALK, IW_UNDERSTANDING_FULL, NULL));
    CHECK(iw_session_end_audio_session(session, NULL));

    /* The reference may outlive its session's free. */
    CHECK(iw_session_free(session));
    EXPECT(iw_echo_reference_push_i16(reference, quiet, 160, &accepted) == IW_E_CLOSED);
    CHECK(iw_echo_reference_free(reference));
    CHECK(iw_echo_reference_free(NULL));
    CHECK(iw_audio_input_free(input));
    CHECK(iw_client_free(client));
    CHECK(iw_engine_free(engine));
    CHECK(iw_shutdown());
    free(speech);
    (void)checks;
    printf("hands_free: OK\n");
    return 0;
}
