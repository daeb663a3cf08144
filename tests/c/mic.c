/* Microphone in through the C API, against the in-process local engine (the
 * test scenes): push-to-talk with 44.1 kHz stereo floats and open mic with
 * 16 kHz mono 16-bit samples, each answered with the recognised speech and a
 * reply; an audio session in a group conversation (its replies carry the
 * conversation's id); and audio beyond the input's buffer, counted and
 * reported. */
#include "test_util.h"

#include <math.h>

#define SCENE "workspaces/test-ws/scenes/test-scene"
#define TRANSCRIPT "hello from the microphone"

/* Pushes `seconds` of a loud 300 Hz tone in 10 ms blocks. */
static void speak_f32(struct iw_audio_input *input, uint32_t rate, double seconds) {
    float block[2 * 480];
    size_t frames = (size_t)(rate * seconds), start, i, n, accepted = 0;
    size_t step = rate / 100;
    for (start = 0; start < frames; start += step) {
        n = frames - start < step ? frames - start : step;
        for (i = 0; i < n; i++) {
            float v = (float)(0.5 * sin(2.0 * 3.14159265358979 * 300.0 * (double)(start + i) / rate));
            block[2 * i] = v;
            block[2 * i + 1] = v;
        }
        CHECK(iw_audio_input_push_f32(input, block, n, &accepted));
        EXPECT(accepted == n);
    }
}

static void speak_i16(struct iw_audio_input *input, uint32_t rate, double seconds) {
    int16_t block[480];
    size_t frames = (size_t)(rate * seconds), start, i, n, accepted = 0;
    size_t step = rate / 100;
    for (start = 0; start < frames; start += step) {
        n = frames - start < step ? frames - start : step;
        for (i = 0; i < n; i++) {
            block[i] = (int16_t)(16000.0 * sin(2.0 * 3.14159265358979 * 300.0 * (double)(start + i) / rate));
        }
        CHECK(iw_audio_input_push_i16(input, block, n, &accepted));
        EXPECT(accepted == n);
    }
}

/* Waits for the recognised speech (partial texts may come first), then its
 * reply's end; checks both carry `conversation` and that a character
 * answered. */
static void heard_and_answered(struct iw_session *session, const char *conversation) {
    struct iw_packet packets[16];
    char interaction[37] = "";
    int heard = 0, answered = 0;
    double deadline = now_s() + WAIT_S;
    while (now_s() < deadline) {
        size_t n = 0, i;
        CHECK(iw_session_poll(session, packets, 16, &n));
        for (i = 0; i < n; i++) {
            const struct iw_packet *p = &packets[i];
            if (p->kind == IW_PACKET_ERROR) FAIL("error: %s", p->data.error.message.ptr);
            if (p->kind == IW_PACKET_SEND_FAILED) FAIL("send failed: %s", p->data.send_failed.message.ptr);
            if (p->kind == IW_PACKET_TEXT && p->data.text.source == IW_TEXT_SOURCE_SPEECH_TO_TEXT &&
                !p->data.text.is_final) {
                /* Heard so far: the start of the transcript. */
                EXPECT(strncmp(TRANSCRIPT, p->data.text.text.ptr, p->data.text.text.len) == 0);
                EXPECT(p->source.kind == IW_ACTOR_PLAYER);
            } else if (p->kind == IW_PACKET_TEXT &&
                       p->data.text.source == IW_TEXT_SOURCE_SPEECH_TO_TEXT) {
                EXPECT(str_eq(p->data.text.text, TRANSCRIPT));
                EXPECT(p->source.kind == IW_ACTOR_PLAYER);
                EXPECT(str_eq(p->ids.conversation_id, conversation));
                snprintf(interaction, sizeof interaction, "%s", p->ids.interaction_id.ptr);
                heard = 1;
            } else if (heard && p->kind == IW_PACKET_TEXT && str_eq(p->ids.interaction_id, interaction)) {
                EXPECT(p->data.text.source == IW_TEXT_SOURCE_GENERATED);
                EXPECT(str_eq(p->ids.conversation_id, conversation));
                answered = 1;
            } else if (heard && p->kind == IW_PACKET_CONTROL &&
                       p->data.control.action == IW_CONTROL_INTERACTION_END &&
                       str_eq(p->ids.interaction_id, interaction)) {
                EXPECT(answered);
                return;
            }
        }
        sleep_ms(5);
    }
    FAIL("no reply to the speech in %.0f s (heard: %d)", WAIT_S, heard);
}

int main(void) {
    char address[64], scene[256], group_id[IW_CONVERSATION_ID_SIZE];
    size_t len = 0, accepted = 0;
    uint64_t dropped = 1;
    struct iw_engine *engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    struct iw_client *client = new_client(address, SCENE, IW_CAP_DEFAULT);
    struct iw_session *session = NULL;
    struct iw_audio_input *input = NULL;
    struct iw_sent_ids ids;
    const char *characters[1] = {"alice"};
    int16_t loud[16000];
    double deadline;
    int reported = 0;
    size_t i;

    CHECK(iw_session_open(client, &session));
    wait_ready(session);

    /* Push to talk, 44.1 kHz stereo floats. */
    CHECK(iw_audio_input_open(session, 44100, 2, &input));
    CHECK(iw_sent_ids_init(&ids));
    CHECK(iw_session_start_audio_session(session, IW_MIC_PUSH_TO_TALK, IW_UNDERSTANDING_FULL, &ids));
    EXPECT(strlen(ids.conversation_id) == 36 && strlen(ids.packet_id) == 36);
    EXPECT(ids.interaction_id[0] == 0);
    speak_f32(input, 44100, 0.5);
    CHECK(iw_session_end_audio_session(session, NULL));
    heard_and_answered(session, ids.conversation_id);
    CHECK(iw_audio_input_dropped(input, &dropped));
    EXPECT(dropped == 0);
    CHECK(iw_audio_input_free(input));

    /* Open mic, 16 kHz mono 16-bit. */
    CHECK(iw_audio_input_open(session, 16000, 1, &input));
    CHECK(iw_session_start_audio_session(session, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL));
    speak_i16(input, 16000, 0.5);
    CHECK(iw_session_end_audio_session(session, NULL));
    heard_and_answered(session, ids.conversation_id);

    /* In a group conversation: its id on the speech and the reply. */
    CHECK(iw_session_start_conversation(session, characters, 1, 1, group_id, sizeof group_id, &len));
    CHECK(iw_session_start_audio_session_in(session, group_id, IW_MIC_PUSH_TO_TALK, IW_UNDERSTANDING_FULL, &ids));
    EXPECT(strcmp(ids.conversation_id, group_id) == 0);
    speak_i16(input, 16000, 0.3);
    CHECK(iw_session_end_audio_session(session, NULL));
    heard_and_answered(session, group_id);
    CHECK(iw_audio_input_free(input));

    /* Two seconds at once into a one-second buffer: counted and reported. */
    CHECK(iw_audio_input_open(session, 8000, 1, &input));
    CHECK(iw_session_start_audio_session(session, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL));
    for (i = 0; i < 16000; i++) loud[i] = 8000;
    CHECK(iw_audio_input_push_i16(input, loud, 16000, &accepted));
    EXPECT(accepted <= 8000);
    CHECK(iw_audio_input_dropped(input, &dropped));
    EXPECT(dropped >= 8000);
    deadline = now_s() + WAIT_S;
    while (!reported && now_s() < deadline) {
        struct iw_packet packets[16];
        size_t n = 0;
        CHECK(iw_session_poll(session, packets, 16, &n));
        for (i = 0; i < n; i++) {
            if (packets[i].kind == IW_PACKET_SEND_FAILED &&
                packets[i].data.send_failed.reason == IW_SEND_NOT_SENT &&
                str_contains(packets[i].data.send_failed.message, "microphone audio")) {
                reported = 1;
            }
        }
        sleep_ms(5);
    }
    EXPECT(reported);
    CHECK(iw_session_end_audio_session(session, NULL));

    /* The input may outlive its session's free. */
    CHECK(iw_session_free(session));
    EXPECT(iw_audio_input_push_i16(input, loud, 1, &accepted) == IW_E_CLOSED);
    CHECK(iw_audio_input_free(input));
    CHECK(iw_client_free(client));
    CHECK(iw_engine_free(engine));
    CHECK(iw_shutdown());
    (void)checks; /* of test_util.h: this program expects no errors */
    printf("mic: OK\n");
    return 0;
}
