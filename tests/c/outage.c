/* The engine goes away under a ready session: the game sees the error and
 * the reconnect attempts, sends beyond the bound are refused at the call,
 * every accepted send that never went out is reported with its ids, and the
 * session ends with IW_STATE_CLOSED as its last packet. */
#include "test_util.h"

int main(void) {
    char address[128], scene[256];
    struct iw_engine *engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    struct iw_client_config cc;
    struct iw_client *client = NULL;
    struct iw_session *session = NULL;
    struct iw_sent_ids sent[2];
    struct iw_packet packets[16];
    int reconnecting = 0, errors = 0, reported = 0, closed = 0, i;
    double deadline;

    CHECK(iw_client_config_init(&cc));
    EXPECT(cc.max_pending_sends == 256);
    EXPECT(cc.stall_timeout_ms == 3000);
    EXPECT(cc.keepalive_interval_ms == 15000);
    cc.host = address;
    cc.tls = IW_TLS_OFF;
    cc.api_key = "test-api-key";
    cc.api_secret = "test-api-secret";
    cc.scene = scene;
    cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
    cc.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    cc.max_pending_sends = 2;
    /* Enough attempts (backoff 0.25, 0.5, 1, 2, 4 s) that the session is
     * still trying when a program slowed by valgrind on a busy machine sends
     * after seeing Reconnecting; few enough that giving up comes soon. */
    cc.reconnect_max_attempts = 5;
    cc.keepalive_interval_ms = 0; /* keepalive off: checked as a valid choice */
    CHECK(iw_client_new(IW_ABI_VERSION, &cc, &client));
    CHECK(iw_session_open(client, &session));
    wait_ready(session);

    CHECK(iw_engine_stop(engine));
    /* Wait for the reconnect to begin, then send while it cannot go out. */
    deadline = now_s() + WAIT_S;
    while (!reconnecting) {
        size_t n = 0, k;
        if (now_s() > deadline) FAIL("never reconnecting");
        CHECK(iw_session_poll(session, packets, 16, &n));
        /* Up to the first Reconnecting: later attempts fail too (nothing
         * listens), and a slow poll may bring their errors in this batch. */
        for (k = 0; k < n && !reconnecting; k++) {
            if (packets[k].kind == IW_PACKET_ERROR) {
                errors++;
                EXPECT(packets[k].data.error.will_retry == 1);
            }
            if (packets[k].kind == IW_PACKET_CONNECTION &&
                packets[k].data.connection.state == IW_STATE_RECONNECTING) {
                reconnecting = 1;
            }
        }
        sleep_ms(5);
    }
    EXPECT(errors == 1);
    for (i = 0; i < 2; i++) {
        CHECK(iw_sent_ids_init(&sent[i]));
        CHECK(iw_session_send_text(session, "while away", &sent[i]));
    }
    EXPECT_ERR(iw_session_send_text(session, "one too many", NULL), IW_E_QUEUE_FULL, "too many");

    /* The engine stays away: the session gives up and says what was lost. */
    deadline = now_s() + WAIT_S;
    while (!closed) {
        size_t n = 0, k;
        if (now_s() > deadline) FAIL("never closed");
        CHECK(iw_session_poll(session, packets, 16, &n));
        for (k = 0; k < n; k++) {
            const struct iw_packet *p = &packets[k];
            EXPECT(!closed); /* nothing after Closed */
            if (p->kind == IW_PACKET_SEND_FAILED) {
                EXPECT(p->data.send_failed.reason == IW_SEND_NOT_SENT);
                EXPECT(p->data.send_failed.message.len > 0);
                EXPECT(str_eq(p->ids.interaction_id, sent[reported].interaction_id));
                reported++;
            }
            if (p->kind == IW_PACKET_CONNECTION && p->data.connection.state == IW_STATE_CLOSED) {
                closed = 1;
            }
        }
        sleep_ms(5);
    }
    EXPECT(reported == 2);
    EXPECT_ERR(iw_session_send_text(session, "late", NULL), IW_E_CLOSED, "closed");

    CHECK(iw_session_free(session));
    CHECK(iw_client_free(client));
    CHECK(iw_engine_free(engine));
    CHECK(iw_shutdown());
    printf("outage: OK (%d checks)\n", checks);
    return 0;
}
