/* Faces through the C API, against the in-process local engine (the test
 * scenes): iw_playback_face gives all-zero weights before anything plays,
 * weights within 0..1 that open the jaw while a reply plays, the emotion
 * set with iw_playback_show_emotion on the upper face without touching the
 * mouth, and a mouth at rest soon after a cancel silences the stream;
 * iw_blendshape_name names the 52 ARKit blendshapes. */
#include "test_util.h"

#define SCENE "workspaces/test-ws/scenes/test-scene"
#define BUFFER 512
#define JAW_OPEN 17
#define MOUTH_CLOSE 18
#define MOUTH_PRESS_LEFT 35
#define CHEEK_SQUINT_LEFT 47

/* Indexes of the blendshapes speech moves (jaw, lips, tongue). */
static const int MOUTH[] = {14, 15, 16, 17, 18, 19, 20, 21, 22, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 51};

static void expect_mouth_at_rest(const float *w) {
    size_t i;
    for (i = 0; i < sizeof MOUTH / sizeof MOUTH[0]; i++) EXPECT(w[MOUTH[i]] == 0.0f);
}

static void expect_in_range(const float *w) {
    int i;
    for (i = 0; i < IW_BLENDSHAPE_COUNT; i++) EXPECT(w[i] >= 0.0f && w[i] <= 1.0f);
}

/* Sends `text`; returns once its first speech is in the stream. */
static void ask(struct iw_session *session, struct iw_playback *playback, const char *text,
                char *interaction) {
    struct iw_sent_ids ids;
    struct iw_packet packets[32];
    uint64_t pending = 0;
    double deadline = now_s() + WAIT_S;
    CHECK(iw_sent_ids_init(&ids));
    CHECK(iw_session_send_text(session, text, &ids));
    snprintf(interaction, 64, "%s", ids.interaction_id);
    while (now_s() < deadline) {
        size_t n = 0;
        CHECK(iw_session_poll(session, packets, 32, &n));
        CHECK(iw_playback_pending(playback, &pending));
        if (pending > 0) return;
        sleep_ms(5);
    }
    FAIL("no speech for %s", text);
}

int main(void) {
    char address[64], scene[256], interaction[64];
    struct iw_engine *engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    struct iw_client *client = new_client(address, SCENE, IW_CAP_DEFAULT | IW_CAP_PHONEMES);
    struct iw_session *session = NULL;
    struct iw_playback *playback = NULL;
    static float buffer[BUFFER];
    float w[IW_BLENDSHAPE_COUNT];
    float jaw_open = 0.0f, lips = 0.0f;
    size_t speech = 0;
    uint64_t pending = 0;
    int i, reads = 0;
    double deadline;

    /* Names, in ARKit's order. */
    EXPECT(IW_BLENDSHAPE_COUNT == 52);
    EXPECT(strcmp(iw_blendshape_name(0), "eyeBlinkLeft") == 0);
    EXPECT(strcmp(iw_blendshape_name(JAW_OPEN), "jawOpen") == 0);
    EXPECT(strcmp(iw_blendshape_name(MOUTH_PRESS_LEFT), "mouthPressLeft") == 0);
    EXPECT(strcmp(iw_blendshape_name(CHEEK_SQUINT_LEFT), "cheekSquintLeft") == 0);
    EXPECT(strcmp(iw_blendshape_name(51), "tongueOut") == 0);
    EXPECT(iw_blendshape_name(52) == NULL);

    CHECK(iw_session_open(client, &session));
    wait_ready(session);
    CHECK(iw_session_open_playback(session, 48000, 1, NULL, &playback));

    /* Nothing played: neutral. Misuse is refused. */
    CHECK(iw_playback_face(playback, w));
    for (i = 0; i < IW_BLENDSHAPE_COUNT; i++) EXPECT(w[i] == 0.0f);
    EXPECT(iw_playback_face(playback, NULL) == IW_E_NULL_POINTER);
    EXPECT(iw_playback_face(NULL, w) == IW_E_NULL_POINTER);
    EXPECT(iw_playback_show_emotion(NULL, 18, 2) == IW_E_NULL_POINTER);
    CHECK(iw_playback_set_blinks(playback, 1, 7));
    CHECK(iw_playback_set_blinks(playback, 0, 0));

    /* A reply plays: the mouth moves, within 0..1. */
    ask(session, playback, "tell me a long story", interaction);
    while (reads < 40) {
        size_t n = 0;
        struct iw_packet packets[32];
        CHECK(iw_session_poll(session, packets, 32, &n));
        CHECK(iw_playback_read_f32(playback, buffer, BUFFER, &speech));
        if (speech == 0) {
            sleep_ms(2);
            continue;
        }
        reads++;
        CHECK(iw_playback_face(playback, w));
        expect_in_range(w);
        if (w[JAW_OPEN] > jaw_open) jaw_open = w[JAW_OPEN];
        if (w[MOUTH_PRESS_LEFT] > lips) lips = w[MOUTH_PRESS_LEFT];
        if (w[MOUTH_CLOSE] > lips) lips = w[MOUTH_CLOSE];
    }
    EXPECT(jaw_open > 0.3f);
    EXPECT(lips > 0.2f);

    /* Joy shows on the cheeks once faded in (0.4 s); the mouth is speech's. */
    CHECK(iw_playback_show_emotion(playback, 18 /* JOY */, 2 /* STRONG */));
    sleep_ms(500);
    CHECK(iw_playback_face(playback, w));
    expect_in_range(w);
    EXPECT(w[CHEEK_SQUINT_LEFT] > 0.3f);

    /* Cancelled: silent at the next read, the mouth at rest 80 ms on; the
     * expression stays. */
    CHECK(iw_session_cancel_responses(session, interaction, NULL, 0));
    deadline = now_s() + WAIT_S;
    do {
        size_t n = 0;
        struct iw_packet packets[32];
        CHECK(iw_session_poll(session, packets, 32, &n));
        CHECK(iw_playback_pending(playback, &pending));
        sleep_ms(1);
    } while (pending > 0 && now_s() < deadline);
    EXPECT(pending == 0);
    CHECK(iw_playback_read_f32(playback, buffer, BUFFER, &speech));
    EXPECT(speech == 0);
    sleep_ms(200);
    CHECK(iw_playback_face(playback, w));
    expect_mouth_at_rest(w);
    EXPECT(w[CHEEK_SQUINT_LEFT] > 0.3f);

    CHECK(iw_playback_free(playback));
    CHECK(iw_session_free(session));
    CHECK(iw_client_free(client));
    CHECK(iw_engine_free(engine));
    CHECK(iw_shutdown());
    (void)checks;
    printf("face: OK\n");
    return 0;
}
