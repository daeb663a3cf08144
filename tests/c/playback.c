/* Speech out through the C API, against the in-process local engine (the
 * test scenes): a reply pulled from an iw_playback as an audio callback
 * would, at 48 kHz stereo float and 22.05 kHz mono 16-bit, gives exactly
 * the reply's speech resampled, while iw_playback_now_playing names the
 * reply's interaction and utterances and a viseme; a stream for Bob hears
 * nothing of Alice; a cancelled reply goes silent; a stream outlives its
 * session. */
#include "test_util.h"

#define SCENE "workspaces/test-ws/scenes/test-scene"
#define BUFFER 512
#define MAX_UTTERANCES 16

/* A reply's speech: its utterances and the frames of each (at 16 kHz). */
struct speech {
    char interaction[64];
    char utterances[MAX_UTTERANCES][64];
    uint64_t frames[MAX_UTTERANCES];
    uint32_t rate;
    int count;
};

/* Sends `text` and receives the reply to its end, noting its speech. */
static void reply(struct iw_session *session, const char *text, struct speech *s) {
    struct iw_sent_ids ids;
    struct iw_packet packets[32];
    double deadline = now_s() + WAIT_S;
    memset(s, 0, sizeof *s);
    CHECK(iw_sent_ids_init(&ids));
    CHECK(iw_session_send_text(session, text, &ids));
    snprintf(s->interaction, sizeof s->interaction, "%s", ids.interaction_id);
    while (now_s() < deadline) {
        size_t n = 0, i;
        CHECK(iw_session_poll(session, packets, 32, &n));
        for (i = 0; i < n; i++) {
            const struct iw_packet *p = &packets[i];
            if (!str_eq(p->ids.interaction_id, s->interaction)) continue;
            if (p->kind == IW_PACKET_AUDIO) {
                const struct iw_audio *a = &p->data.audio;
                EXPECT(a->channels == 1 && a->sample_count > 0);
                s->rate = a->sample_rate;
                if (s->count == 0 || !str_eq(p->ids.utterance_id, s->utterances[s->count - 1])) {
                    EXPECT(s->count < MAX_UTTERANCES);
                    snprintf(s->utterances[s->count], 64, "%s", p->ids.utterance_id.ptr);
                    s->count++;
                }
                s->frames[s->count - 1] += a->sample_count;
            } else if (p->kind == IW_PACKET_CONTROL &&
                       p->data.control.action == IW_CONTROL_INTERACTION_END) {
                EXPECT(s->count > 0);
                return;
            }
        }
        sleep_ms(5);
    }
    FAIL("no reply to %s", text);
}

/* Frames the speech makes at `rate`: each utterance resampled whole. */
static uint64_t frames_at(const struct speech *s, uint32_t rate) {
    uint64_t total = 0;
    int i;
    for (i = 0; i < s->count; i++) total += (s->frames[i] * rate + s->rate - 1) / s->rate;
    return total;
}

/* Reads the stream to its end, as an audio callback; checks what it says
 * is playing. Returns the frames of speech read. */
static uint64_t play_out(struct iw_playback *playback, const struct speech *s, uint32_t channels,
                         int is_float) {
    static float f[2 * BUFFER];
    static int16_t i16[2 * BUFFER];
    uint64_t total = 0, pending = 1, last_position = 0;
    int utterance = -1;
    double deadline = now_s() + WAIT_S;
    struct iw_now_playing now;
    while (now_s() < deadline) {
        size_t speech = 0, i;
        if (is_float) {
            CHECK(iw_playback_read_f32(playback, f, BUFFER, &speech));
            for (i = speech * channels; i < BUFFER * channels; i++) EXPECT(f[i] == 0.0f);
        } else {
            CHECK(iw_playback_read_i16(playback, i16, BUFFER, &speech));
            for (i = speech * channels; i < BUFFER * channels; i++) EXPECT(i16[i] == 0);
        }
        CHECK(iw_playback_now_playing(playback, &now));
        if (speech == 0) {
            EXPECT(now.playing == 0 && now.viseme == IW_VISEME_SIL && now.utterance_id[0] == 0);
            CHECK(iw_playback_pending(playback, &pending));
            if (pending == 0) return total;
            sleep_ms(2);
            continue;
        }
        total += speech;
        EXPECT(now.playing == 1);
        EXPECT(strcmp(now.interaction_id, s->interaction) == 0);
        EXPECT(strlen(now.character) == 36);
        EXPECT(now.viseme <= IW_VISEME_OU);
        if (utterance < 0 || strcmp(now.utterance_id, s->utterances[utterance]) != 0) {
            /* The next utterance of the reply, in order. */
            utterance++;
            EXPECT(utterance < s->count);
            EXPECT(strcmp(now.utterance_id, s->utterances[utterance]) == 0);
            last_position = 0;
        }
        EXPECT(now.position_frames > last_position);
        last_position = now.position_frames;
    }
    FAIL("the stream never played out");
    return total;
}

int main(void) {
    char address[64], scene[256];
    struct iw_engine *engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    struct iw_client *client = new_client(address, SCENE, IW_CAP_DEFAULT | IW_CAP_PHONEMES);
    struct iw_session *session = NULL;
    struct iw_playback *stereo = NULL, *mono = NULL, *bob = NULL;
    struct speech story, greeting;
    static float buffer[2 * BUFFER];
    size_t speech = 0, reads = 0;
    uint64_t pending = 0;

    CHECK(iw_session_open(client, &session));
    wait_ready(session);
    reply(session, "hi", &greeting);

    /* 48 kHz stereo float and 22.05 kHz mono 16-bit, both fed at once. */
    CHECK(iw_session_open_playback(session, 48000, 2, NULL, &stereo));
    CHECK(iw_session_open_playback(session, 22050, 1, NULL, &mono));
    CHECK(iw_session_open_playback(session, 16000, 1, "Bob", &bob));
    reply(session, "how are you", &greeting);
    EXPECT(greeting.count >= 1 && greeting.rate == 16000);
    EXPECT(play_out(stereo, &greeting, 2, 1) == frames_at(&greeting, 48000));
    EXPECT(play_out(mono, &greeting, 1, 0) == frames_at(&greeting, 22050));
    /* Alice said it: Bob's stream has nothing. */
    CHECK(iw_playback_pending(bob, &pending));
    EXPECT(pending == 0);
    CHECK(iw_playback_read_f32(bob, buffer, BUFFER, &speech));
    EXPECT(speech == 0);
    CHECK(iw_playback_free(bob));
    CHECK(iw_playback_free(mono));
    CHECK(iw_playback_free(stereo));

    /* Cancelled while it plays (at the voice's own rate): silent. */
    CHECK(iw_session_open_playback(session, 16000, 1, NULL, &stereo));
    reply(session, "tell me a long story", &story);
    EXPECT(story.count == 5);
    /* The reply's packets come before its speech reaches the stream (the
     * session's playback thread feeds it): read until it plays. */
    {
        double deadline = now_s() + WAIT_S;
        do {
            CHECK(iw_playback_read_f32(stereo, buffer, BUFFER, &speech));
            if (speech == 0) sleep_ms(1);
        } while (speech == 0 && now_s() < deadline);
    }
    EXPECT(speech > 0);
    CHECK(iw_session_cancel_responses(session, story.interaction, NULL, 0));
    /* Nothing read meanwhile: only the flush empties it. */
    do {
        CHECK(iw_playback_pending(stereo, &pending));
        sleep_ms(1);
    } while (pending > 0 && ++reads < 1000000);
    EXPECT(pending == 0);
    CHECK(iw_playback_read_f32(stereo, buffer, BUFFER, &speech));
    EXPECT(speech == 0);

    /* A stream outlives its session: silence, no error. */
    CHECK(iw_session_free(session));
    CHECK(iw_playback_read_f32(stereo, buffer, BUFFER, &speech));
    EXPECT(speech == 0);
    CHECK(iw_playback_free(stereo));
    CHECK(iw_client_free(client));
    CHECK(iw_engine_free(engine));
    CHECK(iw_shutdown());
    (void)checks;
    printf("playback: OK\n");
    return 0;
}
