/* Misuse of the C API: every call gets its error code and a message, nothing
 * crashes or hangs. NULL for every pointer argument, invalid UTF-8, stale,
 * foreign and made-up handles, double frees, freeing a session from inside its
 * own callbacks, polling one session from two threads, calls after shutdown. */
#include "test_util.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

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

static void noop_token(struct iw_client *c, uint64_t id, const char *ws, const char *sid, void *u) {
    (void)c;
    (void)id;
    (void)ws;
    (void)sid;
    (void)u;
}

/* The calls of the whole session (scene changes, characters, conversations,
 * feedback, the saved state, the dialog, items) on a ready session: NULL for
 * every pointer, invalid UTF-8 in every string, unknown names and ids, bad
 * numbers and struct sizes. Nothing is sent by a call that fails. */
static void whole_session_misuse(struct iw_session *session) {
    char id[IW_CONVERSATION_ID_SIZE], other_id[IW_CONVERSATION_ID_SIZE];
    size_t len = 0, count = 0;
    uint64_t request = 0;
    const char *names[2];
    const char *bad_names[1];
    const char *null_names[1] = {NULL};
    struct iw_scene_change change;
    struct iw_dialog_line line;
    struct iw_sent_ids ids;
    iw_key_value kv;
    iw_entity_item item;
    uint32_t types[1];
    uint8_t state_bytes[1] = {1};

    bad_names[0] = BAD_UTF8;

    /* Scene changes. */
    EXPECT_ERR(iw_scene_change_init(NULL), IW_E_NULL_POINTER, "change is NULL");
    CHECK(iw_scene_change_init(&change));
    EXPECT_ERR(iw_session_change_scene(NULL, "workspaces/test-ws/scenes/other-scene", NULL),
               IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_change_scene(session, NULL, NULL), IW_E_NULL_POINTER, "scene is NULL");
    EXPECT_ERR(iw_session_change_scene(session, BAD_UTF8, NULL), IW_E_INVALID_UTF8, "scene");
    EXPECT_ERR(iw_session_change_scene(session, "not a scene", NULL), IW_E_INVALID_ARGUMENT,
               "workspaces/<ws>/scenes/<name>");
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/other-ws/scenes/x", NULL),
               IW_E_INVALID_ARGUMENT, "workspace");
    change.struct_size = 3;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_INVALID_ARGUMENT, "iw_scene_change_init");
    CHECK(iw_scene_change_init(&change));
    change.capabilities = 0x80000000u;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_INVALID_ARGUMENT, "change->capabilities");
    change.capabilities = IW_CAP_KEEP;
    change.game_session_id = BAD_UTF8;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_INVALID_UTF8, "change->game_session_id");
    change.game_session_id = NULL;
    change.continuation_state_len = 1;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_NULL_POINTER, "change->continuation_state");
    change.continuation_state = state_bytes;
    line.talker = IW_TALKER_PLAYER;
    line.text = "hi";
    change.dialog_history = &line;
    change.dialog_history_count = 1;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_INVALID_ARGUMENT, "at most one");
    change.continuation_state = NULL;
    change.continuation_state_len = 0;
    line.talker = 7;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_INVALID_ARGUMENT, "change->dialog_history[0].talker");
    line.talker = IW_TALKER_CHARACTER;
    line.text = BAD_UTF8;
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", &change),
               IW_E_INVALID_UTF8, "change->dialog_history[0].text");

    /* Characters added and removed. */
    names[0] = "workspaces/test-ws/characters/carol";
    EXPECT_ERR(iw_session_add_characters(NULL, names, 1), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_add_characters(session, NULL, 1), IW_E_NULL_POINTER, "names is NULL");
    EXPECT_ERR(iw_session_add_characters(session, null_names, 1), IW_E_NULL_POINTER, "names[0] is NULL");
    EXPECT_ERR(iw_session_add_characters(session, bad_names, 1), IW_E_INVALID_UTF8, "names[0]");
    EXPECT_ERR(iw_session_add_characters(session, names, 0), IW_E_INVALID_ARGUMENT, "no characters");
    names[0] = "alice";
    EXPECT_ERR(iw_session_add_characters(session, names, 1), IW_E_INVALID_ARGUMENT,
               "not a character resource name");
    names[0] = "workspaces/other-ws/characters/alice";
    EXPECT_ERR(iw_session_add_characters(session, names, 1), IW_E_INVALID_ARGUMENT, "workspace");
    names[0] = "alice";
    names[1] = "nobody";
    EXPECT_ERR(iw_session_remove_characters(NULL, names, 1), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_remove_characters(session, NULL, 1), IW_E_NULL_POINTER, "names is NULL");
    EXPECT_ERR(iw_session_remove_characters(session, null_names, 1), IW_E_NULL_POINTER, "names[0]");
    EXPECT_ERR(iw_session_remove_characters(session, bad_names, 1), IW_E_INVALID_UTF8, "names[0]");
    EXPECT_ERR(iw_session_remove_characters(session, names, 0), IW_E_INVALID_ARGUMENT, "no characters");
    EXPECT_ERR(iw_session_remove_characters(session, names, 2), IW_E_NOT_FOUND, "nobody");
    CHECK(iw_session_character_count(session, &count));
    EXPECT(count == 2); /* alice stayed: nothing is removed when a name is unknown */

    /* Conversations. */
    names[0] = "alice";
    names[1] = "bob";
    EXPECT_ERR(iw_session_start_conversation(NULL, names, 2, 1, id, sizeof id, &len),
               IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_start_conversation(session, NULL, 2, 1, id, sizeof id, &len),
               IW_E_NULL_POINTER, "characters is NULL");
    EXPECT_ERR(iw_session_start_conversation(session, null_names, 1, 1, id, sizeof id, &len),
               IW_E_NULL_POINTER, "characters[0] is NULL");
    EXPECT_ERR(iw_session_start_conversation(session, bad_names, 1, 1, id, sizeof id, &len),
               IW_E_INVALID_UTF8, "characters[0]");
    EXPECT_ERR(iw_session_start_conversation(session, names, 0, 1, id, sizeof id, &len),
               IW_E_INVALID_ARGUMENT, "at least one character");
    EXPECT_ERR(iw_session_start_conversation(session, names, 2, 2, id, sizeof id, &len),
               IW_E_INVALID_ARGUMENT, "with_player");
    EXPECT_ERR(iw_session_start_conversation(session, names, 2, 1, NULL, sizeof id, &len),
               IW_E_NULL_POINTER, "id is NULL");
    EXPECT_ERR(iw_session_start_conversation(session, names, 2, 1, id, sizeof id, NULL),
               IW_E_NULL_POINTER, "len is NULL");
    len = 0;
    EXPECT_ERR(iw_session_start_conversation(session, names, 2, 1, id, 8, &len),
               IW_E_BUFFER_TOO_SMALL, "too small");
    EXPECT(len == IW_CONVERSATION_ID_SIZE - 1);
    bad_names[0] = "nobody";
    EXPECT_ERR(iw_session_start_conversation(session, bad_names, 1, 1, id, sizeof id, &len),
               IW_E_NOT_FOUND, "nobody");
    bad_names[0] = BAD_UTF8;
    CHECK(iw_session_start_conversation(session, names, 2, 1, id, sizeof id, &len));
    CHECK(iw_session_start_conversation(session, names, 1, 0, other_id, sizeof other_id, &len));
    EXPECT(strcmp(id, other_id) != 0);

    EXPECT_ERR(iw_session_send_text_in(NULL, id, "hi", NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_send_text_in(session, NULL, "hi", NULL), IW_E_NULL_POINTER,
               "conversation_id is NULL");
    EXPECT_ERR(iw_session_send_text_in(session, BAD_UTF8, "hi", NULL), IW_E_INVALID_UTF8,
               "conversation_id");
    EXPECT_ERR(iw_session_send_text_in(session, "no-such-conversation", "hi", NULL), IW_E_NOT_FOUND,
               "no conversation \"no-such-conversation\"");
    EXPECT_ERR(iw_session_send_text_in(session, id, NULL, NULL), IW_E_NULL_POINTER, "text is NULL");
    EXPECT_ERR(iw_session_send_text_in(session, id, BAD_UTF8, NULL), IW_E_INVALID_UTF8, "text");
    EXPECT_ERR(iw_session_send_text_in(session, id, "", NULL), IW_E_INVALID_ARGUMENT, "empty");
    memset(&ids, 0, sizeof ids);
    EXPECT_ERR(iw_session_send_text_in(session, id, "hi", &ids), IW_E_INVALID_ARGUMENT,
               "iw_sent_ids_init");
    kv.key = "k";
    kv.value = BAD_UTF8;
    EXPECT_ERR(iw_session_send_trigger_in(NULL, id, "t", NULL, 0, NULL, NULL), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_send_trigger_in(session, NULL, "t", NULL, 0, NULL, NULL),
               IW_E_NULL_POINTER, "conversation_id is NULL");
    EXPECT_ERR(iw_session_send_trigger_in(session, "nope", "t", NULL, 0, NULL, NULL),
               IW_E_NOT_FOUND, "no conversation");
    EXPECT_ERR(iw_session_send_trigger_in(session, id, NULL, NULL, 0, NULL, NULL),
               IW_E_NULL_POINTER, "name is NULL");
    EXPECT_ERR(iw_session_send_trigger_in(session, id, BAD_UTF8, NULL, 0, NULL, NULL),
               IW_E_INVALID_UTF8, "name");
    EXPECT_ERR(iw_session_send_trigger_in(session, id, "t", NULL, 1, NULL, NULL),
               IW_E_NULL_POINTER, "parameters is NULL");
    EXPECT_ERR(iw_session_send_trigger_in(session, id, "t", &kv, 1, NULL, NULL),
               IW_E_INVALID_UTF8, "parameters[0].value");
    EXPECT_ERR(iw_session_send_trigger_in(session, id, "t", NULL, 0, BAD_UTF8, NULL),
               IW_E_INVALID_UTF8, "character");
    EXPECT_ERR(iw_session_send_trigger_in(session, id, "t", NULL, 0, "nobody", NULL),
               IW_E_NOT_FOUND, "nobody");
    EXPECT_ERR(iw_session_next_turn(NULL, id, NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_next_turn(session, NULL, NULL), IW_E_NULL_POINTER, "conversation_id is NULL");
    EXPECT_ERR(iw_session_next_turn(session, BAD_UTF8, NULL), IW_E_INVALID_UTF8, "conversation_id");
    EXPECT_ERR(iw_session_next_turn(session, "nope", NULL), IW_E_NOT_FOUND, "no conversation");
    EXPECT_ERR(iw_session_next_turn(session, id, &ids), IW_E_INVALID_ARGUMENT, "iw_sent_ids_init");
    EXPECT_ERR(iw_session_send_narrated_action_in(NULL, id, "waves", NULL), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_send_narrated_action_in(session, NULL, "waves", NULL), IW_E_NULL_POINTER,
               "conversation_id is NULL");
    EXPECT_ERR(iw_session_send_narrated_action_in(session, "nope", "waves", NULL), IW_E_NOT_FOUND,
               "no conversation");
    EXPECT_ERR(iw_session_send_narrated_action_in(session, other_id, NULL, NULL), IW_E_NULL_POINTER,
               "text is NULL");
    EXPECT_ERR(iw_session_send_narrated_action_in(session, other_id, BAD_UTF8, NULL),
               IW_E_INVALID_UTF8, "text");
    EXPECT_ERR(iw_session_send_narrated_action_in(session, id, "waves", NULL), IW_E_INVALID_ARGUMENT,
               "one character");
    EXPECT_ERR(iw_session_update_conversation(NULL, id, names, 1, 1), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_update_conversation(session, NULL, names, 1, 1), IW_E_NULL_POINTER,
               "conversation_id is NULL");
    EXPECT_ERR(iw_session_update_conversation(session, BAD_UTF8, names, 1, 1), IW_E_INVALID_UTF8,
               "conversation_id");
    EXPECT_ERR(iw_session_update_conversation(session, "nope", names, 1, 1), IW_E_NOT_FOUND,
               "no conversation");
    EXPECT_ERR(iw_session_update_conversation(session, id, NULL, 1, 1), IW_E_NULL_POINTER,
               "characters is NULL");
    EXPECT_ERR(iw_session_update_conversation(session, id, bad_names, 1, 1), IW_E_INVALID_UTF8,
               "characters[0]");
    EXPECT_ERR(iw_session_update_conversation(session, id, names, 1, 5), IW_E_INVALID_ARGUMENT,
               "with_player");
    EXPECT_ERR(iw_session_update_conversation(session, id, names, 0, 1), IW_E_INVALID_ARGUMENT,
               "at least one character");
    bad_names[0] = "nobody";
    EXPECT_ERR(iw_session_update_conversation(session, id, bad_names, 1, 1), IW_E_NOT_FOUND, "nobody");
    bad_names[0] = BAD_UTF8;
    /* The narrated action still refused: the failed updates changed nothing. */
    EXPECT_ERR(iw_session_send_narrated_action_in(session, id, "waves", NULL), IW_E_INVALID_ARGUMENT,
               "one character");
    EXPECT_ERR(iw_session_end_conversation(NULL, id), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_end_conversation(session, NULL), IW_E_NULL_POINTER, "conversation_id is NULL");
    EXPECT_ERR(iw_session_end_conversation(session, BAD_UTF8), IW_E_INVALID_UTF8, "conversation_id");
    EXPECT_ERR(iw_session_end_conversation(session, "nope"), IW_E_NOT_FOUND, "no conversation");
    CHECK(iw_session_end_conversation(session, other_id));
    EXPECT_ERR(iw_session_end_conversation(session, other_id), IW_E_NOT_FOUND, "no conversation");
    EXPECT_ERR(iw_session_next_turn(session, other_id, NULL), IW_E_NOT_FOUND, "no conversation");

    /* Feedback and the saved state. */
    EXPECT_ERR(iw_session_like(NULL, "i", NULL, &request), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_like(session, NULL, NULL, &request), IW_E_NULL_POINTER,
               "interaction_id is NULL");
    EXPECT_ERR(iw_session_like(session, BAD_UTF8, NULL, &request), IW_E_INVALID_UTF8, "interaction_id");
    EXPECT_ERR(iw_session_like(session, "i", BAD_UTF8, &request), IW_E_INVALID_UTF8, "correlation_id");
    EXPECT_ERR(iw_session_like(session, "i", NULL, NULL), IW_E_NULL_POINTER, "request_id is NULL");
    EXPECT_ERR(iw_session_like(session, "", NULL, &request), IW_E_INVALID_ARGUMENT, "not an id");
    EXPECT_ERR(iw_session_like(session, "a/b", NULL, &request), IW_E_INVALID_ARGUMENT, "not an id");
    EXPECT_ERR(iw_session_like(session, "i", "c/d", &request), IW_E_INVALID_ARGUMENT, "not an id");
    types[0] = IW_DISLIKE_TOO_LONG;
    EXPECT_ERR(iw_session_dislike(NULL, "i", NULL, types, 1, NULL, &request), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_dislike(session, NULL, NULL, types, 1, NULL, &request), IW_E_NULL_POINTER,
               "interaction_id is NULL");
    EXPECT_ERR(iw_session_dislike(session, BAD_UTF8, NULL, types, 1, NULL, &request),
               IW_E_INVALID_UTF8, "interaction_id");
    EXPECT_ERR(iw_session_dislike(session, "i", BAD_UTF8, types, 1, NULL, &request),
               IW_E_INVALID_UTF8, "correlation_id");
    EXPECT_ERR(iw_session_dislike(session, "i", NULL, NULL, 1, NULL, &request), IW_E_NULL_POINTER,
               "types is NULL");
    types[0] = 42;
    EXPECT_ERR(iw_session_dislike(session, "i", NULL, types, 1, NULL, &request),
               IW_E_INVALID_ARGUMENT, "types[0] is 42");
    types[0] = 0;
    EXPECT_ERR(iw_session_dislike(session, "i", NULL, types, 1, NULL, &request),
               IW_E_INVALID_ARGUMENT, "IW_DISLIKE_");
    types[0] = IW_DISLIKE_UNSAFE;
    EXPECT_ERR(iw_session_dislike(session, "i", NULL, types, 1, BAD_UTF8, &request),
               IW_E_INVALID_UTF8, "comment");
    EXPECT_ERR(iw_session_dislike(session, "i", NULL, types, 1, NULL, NULL), IW_E_NULL_POINTER,
               "request_id is NULL");
    EXPECT_ERR(iw_session_undo_feedback(NULL, "x/feedbacks/y", &request), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_undo_feedback(session, NULL, &request), IW_E_NULL_POINTER, "name is NULL");
    EXPECT_ERR(iw_session_undo_feedback(session, BAD_UTF8, &request), IW_E_INVALID_UTF8, "name");
    EXPECT_ERR(iw_session_undo_feedback(session, "x/feedbacks/y", NULL), IW_E_NULL_POINTER,
               "request_id is NULL");
    EXPECT_ERR(iw_session_undo_feedback(session, "not-a-feedback", &request), IW_E_INVALID_ARGUMENT,
               "not a feedback name");
    EXPECT_ERR(iw_session_request_state(NULL, &request), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_request_state(session, NULL), IW_E_NULL_POINTER, "request_id is NULL");
    EXPECT(request == 0); /* out-parameters are written only on success */

    /* The dialog. */
    EXPECT_ERR(iw_session_dialog_count(NULL, &count), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_dialog_count(session, NULL), IW_E_NULL_POINTER, "count is NULL");
    CHECK(iw_session_dialog_count(session, &count));
    EXPECT_ERR(iw_session_dialog_line_at(NULL, 0, &line), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_dialog_line_at(session, 0, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_session_dialog_line_at(session, count, &line), IW_E_INVALID_ARGUMENT, "out of range");

    /* Items. */
    memset(&item, 0, sizeof item);
    item.id = "sword";
    names[0] = "loot";
    EXPECT_ERR(iw_session_create_or_update_items(NULL, &item, 1, names, 1), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_create_or_update_items(session, NULL, 1, names, 1), IW_E_NULL_POINTER,
               "items is NULL");
    item.id = NULL;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_NULL_POINTER,
               "items[0].id is NULL");
    item.id = BAD_UTF8;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_INVALID_UTF8,
               "items[0].id");
    item.id = "";
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_INVALID_ARGUMENT,
               "empty id");
    item.id = "sword";
    item.display_name = BAD_UTF8;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_INVALID_UTF8,
               "items[0].display_name");
    item.display_name = NULL;
    item.description = BAD_UTF8;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_INVALID_UTF8,
               "items[0].description");
    item.description = NULL;
    item.property_count = 1;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_NULL_POINTER,
               "items[0].properties is NULL");
    item.properties = &kv;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, names, 1), IW_E_INVALID_UTF8,
               "items[0].properties[0].value");
    item.property_count = 0;
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, NULL, 1), IW_E_NULL_POINTER,
               "entities is NULL");
    EXPECT_ERR(iw_session_create_or_update_items(session, &item, 1, bad_names, 1), IW_E_INVALID_UTF8,
               "entities[0]");
    EXPECT_ERR(iw_session_remove_items(NULL, names, 1), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_remove_items(session, NULL, 1), IW_E_NULL_POINTER, "item_ids is NULL");
    EXPECT_ERR(iw_session_remove_items(session, bad_names, 1), IW_E_INVALID_UTF8, "item_ids[0]");
    EXPECT_ERR(iw_session_remove_items(session, names, 0), IW_E_INVALID_ARGUMENT, "no item ids");
    EXPECT_ERR(iw_session_items_in_entities(NULL, IW_ITEMS_ADD, names, 1, names, 1), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_items_in_entities(session, 9, names, 1, names, 1), IW_E_INVALID_ARGUMENT,
               "how is 9");
    EXPECT_ERR(iw_session_items_in_entities(session, IW_ITEMS_ADD, NULL, 1, names, 1),
               IW_E_NULL_POINTER, "item_ids is NULL");
    EXPECT_ERR(iw_session_items_in_entities(session, IW_ITEMS_ADD, bad_names, 1, names, 1),
               IW_E_INVALID_UTF8, "item_ids[0]");
    EXPECT_ERR(iw_session_items_in_entities(session, IW_ITEMS_ADD, names, 1, NULL, 1),
               IW_E_NULL_POINTER, "entity_names is NULL");
    EXPECT_ERR(iw_session_items_in_entities(session, IW_ITEMS_ADD, names, 1, bad_names, 1),
               IW_E_INVALID_UTF8, "entity_names[0]");
    EXPECT_ERR(iw_session_items_in_entities(session, IW_ITEMS_REMOVE, names, 1, names, 0),
               IW_E_INVALID_ARGUMENT, "no entity names");
    CHECK(iw_session_end_conversation(session, id));
}

/* Polls until each of the four calls' results has come, each once: the
 * saved state succeeds, the feedback on made-up ids may fail. */
static void wait_call_results(struct iw_session *s, const uint64_t *requests,
                              const uint32_t *calls) {
    struct iw_packet packets[16];
    int seen[4] = {0, 0, 0, 0}, left = 4, i;
    double deadline = now_s() + WAIT_S;
    for (i = 0; i < 4; i++) {
        int j;
        EXPECT(requests[i] != 0);
        for (j = 0; j < i; j++) {
            EXPECT(requests[i] != requests[j]);
        }
    }
    while (left > 0 && now_s() < deadline) {
        size_t n = 0, k;
        CHECK(iw_session_poll(s, packets, 16, &n));
        for (k = 0; k < n; k++) {
            const struct iw_call_result *c = &packets[k].data.call_result;
            if (packets[k].kind != IW_PACKET_CALL_RESULT) {
                continue;
            }
            for (i = 0; i < 4 && requests[i] != c->request_id; i++) {
            }
            EXPECT(i < 4);
            EXPECT(!seen[i]);
            EXPECT(c->call == calls[i]);
            if (c->call == IW_CALL_SESSION_STATE) {
                EXPECT(c->grpc_code == 0 && c->data_len > 0);
            }
            seen[i] = 1;
            left--;
        }
        sleep_ms(5);
    }
    EXPECT(left == 0);
}

/* Every call of the whole session on a closed session: IW_E_CLOSED, but for
 * the service's calls (feedback, the saved state) and the dialog. */
static void after_close(struct iw_client *client) {
    struct iw_session *s = NULL;
    char id[IW_CONVERSATION_ID_SIZE];
    size_t len = 0, count = 0;
    uint64_t request = 0;
    uint64_t requests[4] = {0, 0, 0, 0};
    const uint32_t calls[4] = {IW_CALL_LIKE, IW_CALL_DISLIKE, IW_CALL_UNDO_FEEDBACK,
                               IW_CALL_SESSION_STATE};
    const char *names[1];
    uint32_t types[1] = {IW_DISLIKE_UNTRUE};
    iw_entity_item item;
    CHECK(iw_session_open(client, &s));
    wait_ready(s);
    names[0] = "alice";
    CHECK(iw_session_start_conversation(s, names, 1, 1, id, sizeof id, &len));
    EXPECT_ERR(iw_session_mute_speech(NULL, 1, NULL), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_mute_speech(s, 2, NULL), IW_E_INVALID_ARGUMENT, "muted is 2");
    EXPECT_ERR(iw_session_cancel_responses(NULL, "i", NULL, 0), IW_E_NULL_POINTER,
               "iw_session is NULL");
    EXPECT_ERR(iw_session_cancel_responses(s, NULL, NULL, 0), IW_E_NULL_POINTER,
               "interaction_id is NULL");
    EXPECT_ERR(iw_session_cancel_responses(s, BAD_UTF8, NULL, 0), IW_E_INVALID_UTF8,
               "interaction_id");
    EXPECT_ERR(iw_session_cancel_responses(s, "", NULL, 0), IW_E_INVALID_ARGUMENT,
               "no interaction id");
    EXPECT_ERR(iw_session_cancel_responses(s, "i", NULL, 1), IW_E_NULL_POINTER,
               "utterance_ids is NULL");
    {
        const char *bad[1];
        bad[0] = BAD_UTF8;
        EXPECT_ERR(iw_session_cancel_responses(s, "i", bad, 1), IW_E_INVALID_UTF8,
                   "utterance_ids[0]");
    }
    CHECK(iw_session_close(s));
    EXPECT_ERR(iw_session_mute_speech(s, 1, NULL), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_cancel_responses(s, "i", NULL, 0), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_change_scene(s, "workspaces/test-ws/scenes/other-scene", NULL), IW_E_CLOSED,
               "closed");
    EXPECT_ERR(iw_session_remove_characters(s, names, 1), IW_E_CLOSED, "closed");
    names[0] = "workspaces/test-ws/characters/carol";
    EXPECT_ERR(iw_session_add_characters(s, names, 1), IW_E_CLOSED, "closed");
    names[0] = "alice";
    EXPECT_ERR(iw_session_start_conversation(s, names, 1, 1, id, sizeof id, &len), IW_E_CLOSED,
               "closed");
    EXPECT_ERR(iw_session_send_text_in(s, id, "hi", NULL), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_send_trigger_in(s, id, "t", NULL, 0, NULL, NULL), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_next_turn(s, id, NULL), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_send_narrated_action_in(s, id, "waves", NULL), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_update_conversation(s, id, names, 1, 0), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_end_conversation(s, id), IW_E_CLOSED, "closed");
    /* A refused end keeps the id. */
    EXPECT_ERR(iw_session_end_conversation(s, id), IW_E_CLOSED, "closed");
    /* Calls to the service still work, with the session's last token; their
     * results come (after the final Closed packet, if need be). */
    CHECK(iw_session_like(s, "i", NULL, &requests[0]));
    CHECK(iw_session_dislike(s, "i", NULL, types, 1, "x", &requests[1]));
    CHECK(iw_session_undo_feedback(s, "x/feedbacks/y", &requests[2]));
    CHECK(iw_session_request_state(s, &requests[3]));
    wait_call_results(s, requests, calls);
    memset(&item, 0, sizeof item);
    item.id = "sword";
    EXPECT_ERR(iw_session_create_or_update_items(s, &item, 1, NULL, 0), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_remove_items(s, names, 1), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_items_in_entities(s, IW_ITEMS_ADD, names, 1, names, 1), IW_E_CLOSED,
               "closed");
    CHECK(iw_session_dialog_count(s, &count));
    CHECK(iw_session_free(s));

    /* A stale handle. */
    EXPECT_ERR(iw_session_change_scene(s, "workspaces/test-ws/scenes/other-scene", NULL),
               IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_mute_speech(s, 0, NULL), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_cancel_responses(s, "i", NULL, 0), IW_E_INVALID_HANDLE,
               "invalid iw_session");
    EXPECT_ERR(iw_session_add_characters(s, names, 1), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_start_conversation(s, names, 1, 1, id, sizeof id, &len),
               IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_send_text_in(s, id, "hi", NULL), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_end_conversation(s, id), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_like(s, "i", NULL, &request), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_request_state(s, &request), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_dialog_count(s, &count), IW_E_INVALID_HANDLE, "invalid iw_session");
    EXPECT_ERR(iw_session_remove_items(s, names, 1), IW_E_INVALID_HANDLE, "invalid iw_session");
}

/* The token provider: configuration, answers, the engine's minting. */
static void token_misuse(const struct iw_client_config *base, struct iw_client *plain,
                         struct iw_engine *engine) {
    struct iw_client_config cc = *base;
    struct iw_client *client = NULL;
    struct iw_engine_token token;
    int frees_before = frees;

    cc.api_key = NULL;
    cc.api_secret = NULL;
    cc.token_provider = noop_token;
    cc.token_provider_userdata = &frees;
    cc.token_provider_userdata_free = count_free;
    /* userdata_free runs once whenever iw_client_new read the config... */
    cc.api_key = "k";
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT,
               "one way to authenticate");
    EXPECT(frees == frees_before + 1);
    cc.api_key = NULL;
    cc.session_token = "t";
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT,
               "one way to authenticate");
    cc.session_token = NULL;
    cc.scene = NULL;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_NULL_POINTER, "config->scene");
    cc.scene = base->scene;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT(frees == frees_before + 4);
    /* ...and not when it could not. */
    cc.struct_size = 8;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &client), IW_E_INVALID_ARGUMENT,
               "iw_client_config_init");
    cc.struct_size = sizeof cc;
    EXPECT_ERR(iw_client_new(0, &cc, &client), IW_E_ABI_VERSION, "ABI 0.0");
    EXPECT(frees == frees_before + 4);
    EXPECT(client == NULL);
    CHECK(iw_client_new(IW_ABI_VERSION, &cc, &client));
    EXPECT(frees == frees_before + 4);

    EXPECT_ERR(iw_client_provide_token(NULL, 1, "t", NULL, "s", 0), IW_E_NULL_POINTER,
               "iw_client is NULL");
    EXPECT_ERR(iw_client_provide_token(plain, 1, "t", NULL, "s", 0), IW_E_INVALID_ARGUMENT,
               "no token provider");
    EXPECT_ERR(iw_client_provide_token(client, 1, NULL, NULL, "s", 0), IW_E_NULL_POINTER,
               "token is NULL");
    EXPECT_ERR(iw_client_provide_token(client, 1, BAD_UTF8, NULL, "s", 0), IW_E_INVALID_UTF8, "token");
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", BAD_UTF8, "s", 0), IW_E_INVALID_UTF8,
               "token_type");
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", NULL, NULL, 0), IW_E_NULL_POINTER,
               "session_id is NULL");
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", NULL, BAD_UTF8, 0), IW_E_INVALID_UTF8,
               "session_id");
    EXPECT_ERR(iw_client_provide_token(client, 1, "", NULL, "s", 0), IW_E_INVALID_ARGUMENT,
               "token is empty");
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", "", "s", 0), IW_E_INVALID_ARGUMENT,
               "token_type is empty");
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", NULL, "", 0), IW_E_INVALID_ARGUMENT,
               "session_id is empty");
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", NULL, "s", 0), IW_E_NOT_FOUND,
               "no token request 1");
    EXPECT_ERR(iw_client_token_failed(NULL, 1, "m"), IW_E_NULL_POINTER, "iw_client is NULL");
    EXPECT_ERR(iw_client_token_failed(client, 1, BAD_UTF8), IW_E_INVALID_UTF8, "message");
    EXPECT_ERR(iw_client_token_failed(plain, 1, "m"), IW_E_INVALID_ARGUMENT, "no token provider");
    EXPECT_ERR(iw_client_token_failed(client, 1, NULL), IW_E_NOT_FOUND, "no token request 1");
    CHECK(iw_client_free(client));
    EXPECT(frees == frees_before + 5);
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", NULL, "s", 0), IW_E_INVALID_HANDLE,
               "invalid iw_client");
    EXPECT_ERR(iw_client_token_failed(client, 1, NULL), IW_E_INVALID_HANDLE, "invalid iw_client");

    /* The engine's minting. */
    EXPECT_ERR(iw_engine_token_init(NULL), IW_E_NULL_POINTER, "token is NULL");
    CHECK(iw_engine_token_init(&token));
    EXPECT_ERR(iw_engine_mint_token(NULL, &token), IW_E_NULL_POINTER, "iw_engine is NULL");
    EXPECT_ERR(iw_engine_mint_token(engine, NULL), IW_E_NULL_POINTER, "token is NULL");
    EXPECT_ERR(iw_engine_mint_token((struct iw_engine *)plain, &token), IW_E_INVALID_HANDLE,
               "iw_engine");
    token.struct_size = 4;
    EXPECT_ERR(iw_engine_mint_token(engine, &token), IW_E_INVALID_ARGUMENT, "iw_engine_token_init");
    EXPECT(token.token[0] == '\0');
    CHECK(iw_engine_token_init(&token));
    CHECK(iw_engine_mint_token(engine, &token));
    EXPECT(strlen(token.token) > 0 && strcmp(token.token_type, "Bearer") == 0);
    EXPECT(strlen(token.session_id) > 0 && token.expires_ms > 0);
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

/* Microphone misuse on a session of its own (`client` is live): NULLs, bad
 * formats and modes, pushes outside an audio session, stale and foreign
 * handles, a replaced input, and pushes after the session closed. Returns an
 * input kept open past iw_shutdown. */
static struct iw_audio_input *mic_misuse(struct iw_client *client) {
    struct iw_session *s = NULL;
    struct iw_audio_input *input = NULL, *second = NULL, *kept = NULL;
    int16_t frames[8] = {0};
    float floats[8] = {0};
    size_t accepted = 99;
    uint64_t dropped = 99;

    CHECK(iw_session_open(client, &s));
    wait_ready(s);
    EXPECT_ERR(iw_audio_input_open(NULL, 16000, 1, &input), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_audio_input_open(s, 16000, 1, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_audio_input_open(s, 7999, 1, &input), IW_E_INVALID_ARGUMENT, "7999 Hz");
    EXPECT_ERR(iw_audio_input_open(s, 48001, 1, &input), IW_E_INVALID_ARGUMENT, "48001 Hz");
    EXPECT_ERR(iw_audio_input_open(s, 16000, 0, &input), IW_E_INVALID_ARGUMENT, "0 audio channels");
    EXPECT_ERR(iw_audio_input_open(s, 16000, 3, &input), IW_E_INVALID_ARGUMENT, "3 audio channels");
    EXPECT_ERR(iw_audio_input_open(s, 16000, 70000, &input), IW_E_INVALID_ARGUMENT, "channels");
    EXPECT(input == NULL); /* out-parameters are written only on success */
    CHECK(iw_audio_input_open(s, 16000, 2, &input));

    EXPECT_ERR(iw_audio_input_push_i16(NULL, frames, 4, &accepted), IW_E_NULL_POINTER, "iw_audio_input is NULL");
    EXPECT_ERR(iw_audio_input_push_i16(input, NULL, 4, &accepted), IW_E_NULL_POINTER, "frames is NULL");
    EXPECT_ERR(iw_audio_input_push_f32(input, floats, 4, NULL), IW_E_NULL_POINTER, "accepted is NULL");
    EXPECT_ERR(iw_audio_input_dropped(input, NULL), IW_E_NULL_POINTER, "frames is NULL");
    EXPECT_ERR(iw_audio_input_push_i16((struct iw_audio_input *)s, frames, 4, &accepted),
               IW_E_INVALID_HANDLE, "iw_audio_input");
    /* Outside an audio session, audio is refused at the call. */
    EXPECT_ERR(iw_audio_input_push_i16(input, frames, 4, &accepted), IW_E_NOT_READY, "no audio session");
    EXPECT(accepted == 99);

    EXPECT_ERR(iw_session_start_audio_session(NULL, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
               IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_start_audio_session(s, 0, IW_UNDERSTANDING_FULL, NULL),
               IW_E_INVALID_ARGUMENT, "mode is 0");
    EXPECT_ERR(iw_session_start_audio_session(s, IW_MIC_PUSH_TO_TALK, 3, NULL),
               IW_E_INVALID_ARGUMENT, "understanding is 3");
    EXPECT_ERR(iw_session_start_audio_session_in(s, NULL, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
               IW_E_NULL_POINTER, "conversation_id is NULL");
    EXPECT_ERR(iw_session_start_audio_session_in(s, "nope", IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
               IW_E_NOT_FOUND, "no conversation");
    EXPECT_ERR(iw_session_end_audio_session(s, NULL), IW_E_INVALID_ARGUMENT, "no audio session is open");
    CHECK(iw_session_start_audio_session(s, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY, NULL));
    EXPECT_ERR(iw_session_start_audio_session(s, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
               IW_E_INVALID_ARGUMENT, "already open");
    CHECK(iw_audio_input_push_i16(input, frames, 4, &accepted));
    EXPECT(accepted == 4);
    CHECK(iw_audio_input_push_f32(input, floats, 0, &accepted)); /* nothing is fine */
    EXPECT(accepted == 0);
    CHECK(iw_audio_input_dropped(input, &dropped));
    EXPECT(dropped == 0);

    /* Voice detection is refused while the game's audio session is open. */
    {
        struct iw_voice_detection vd;
        CHECK(iw_voice_detection_init(&vd));
        EXPECT_ERR(iw_session_set_voice_detection(s, &vd), IW_E_INVALID_ARGUMENT, "an audio session is open");
    }

    /* Another input replaces this one: its pushes then fail. */
    CHECK(iw_audio_input_open(s, 48000, 1, &second));
    {
        double deadline = now_s() + WAIT_S;
        iw_result r;
        while ((r = iw_audio_input_push_i16(input, frames, 1, &accepted)) == IW_OK) {
            if (now_s() > deadline) FAIL("the replaced input still takes audio");
            sleep_ms(5);
        }
        EXPECT(r == IW_E_CLOSED);
    }
    CHECK(iw_session_end_audio_session(s, NULL));

    /* Voice detection and echo references: bad settings, NULLs, stale and
     * foreign handles, a replaced reference. */
    {
        struct iw_voice_detection vd;
        struct iw_echo_reference *ref = NULL, *ref2 = NULL;
        EXPECT_ERR(iw_voice_detection_init(NULL), IW_E_NULL_POINTER, "config is NULL");
        CHECK(iw_voice_detection_init(&vd));
        EXPECT_ERR(iw_session_set_voice_detection(NULL, &vd), IW_E_NULL_POINTER, "iw_session is NULL");
        vd.struct_size = 4;
        EXPECT_ERR(iw_session_set_voice_detection(s, &vd), IW_E_INVALID_ARGUMENT, "struct_size");
        CHECK(iw_voice_detection_init(&vd));
        vd.end_silence_ms = 0;
        EXPECT_ERR(iw_session_set_voice_detection(s, &vd), IW_E_INVALID_ARGUMENT, "end_silence_ms is 0");
        CHECK(iw_voice_detection_init(&vd));
        vd.understanding = 7;
        EXPECT_ERR(iw_session_set_voice_detection(s, &vd), IW_E_INVALID_ARGUMENT, "understanding is 7");
        CHECK(iw_voice_detection_init(&vd));
        vd.echo_cancellation = 2;
        EXPECT_ERR(iw_session_set_voice_detection(s, &vd), IW_E_INVALID_ARGUMENT, "echo_cancellation is 2");
        CHECK(iw_voice_detection_init(&vd));
        CHECK(iw_session_set_voice_detection(s, &vd));
        EXPECT_ERR(iw_session_start_audio_session(s, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
                   IW_E_INVALID_ARGUMENT, "voice detection is on");
        /* With voice detection on, the input takes audio outside audio sessions. */
        CHECK(iw_audio_input_push_i16(second, frames, 4, &accepted));
        EXPECT(accepted == 4);
        CHECK(iw_session_set_voice_detection(s, NULL));
        CHECK(iw_session_set_voice_detection(s, NULL)); /* off twice is fine */

        EXPECT_ERR(iw_echo_reference_open(NULL, 16000, 1, &ref), IW_E_NULL_POINTER, "iw_session is NULL");
        EXPECT_ERR(iw_echo_reference_open(s, 16000, 1, NULL), IW_E_NULL_POINTER, "out is NULL");
        EXPECT_ERR(iw_echo_reference_open(s, 7999, 1, &ref), IW_E_INVALID_ARGUMENT, "7999 Hz");
        EXPECT_ERR(iw_echo_reference_open(s, 16000, 3, &ref), IW_E_INVALID_ARGUMENT, "3 audio channels");
        EXPECT(ref == NULL);
        CHECK(iw_echo_reference_open(s, 48000, 2, &ref));
        EXPECT_ERR(iw_echo_reference_push_i16(NULL, frames, 4, &accepted), IW_E_NULL_POINTER,
                   "iw_echo_reference is NULL");
        EXPECT_ERR(iw_echo_reference_push_i16(ref, NULL, 4, &accepted), IW_E_NULL_POINTER, "frames is NULL");
        EXPECT_ERR(iw_echo_reference_push_f32(ref, floats, 4, NULL), IW_E_NULL_POINTER, "accepted is NULL");
        EXPECT_ERR(iw_echo_reference_dropped(ref, NULL), IW_E_NULL_POINTER, "frames is NULL");
        EXPECT_ERR(iw_echo_reference_push_i16((struct iw_echo_reference *)s, frames, 4, &accepted),
                   IW_E_INVALID_HANDLE, "iw_echo_reference");
        CHECK(iw_echo_reference_push_f32(ref, floats, 4, &accepted));
        EXPECT(accepted == 4);
        CHECK(iw_echo_reference_dropped(ref, &dropped));
        EXPECT(dropped == 0);
        /* Another replaces it. */
        CHECK(iw_echo_reference_open(s, 16000, 1, &ref2));
        EXPECT_ERR(iw_echo_reference_push_i16(ref, frames, 1, &accepted), IW_E_CLOSED, "closed");
        CHECK(iw_echo_reference_push_i16(ref2, frames, 1, &accepted));
        CHECK(iw_echo_reference_free(ref));
        EXPECT_ERR(iw_echo_reference_free(ref), IW_E_INVALID_HANDLE, "invalid iw_echo_reference");
        EXPECT_ERR(iw_echo_reference_push_i16(ref, frames, 1, &accepted), IW_E_INVALID_HANDLE,
                   "invalid iw_echo_reference");
        CHECK(iw_echo_reference_free(ref2));
        CHECK(iw_echo_reference_free(NULL));
    }

    /* Stale handle and double free. */
    CHECK(iw_audio_input_free(input));
    EXPECT_ERR(iw_audio_input_free(input), IW_E_INVALID_HANDLE, "invalid iw_audio_input");
    EXPECT_ERR(iw_audio_input_push_i16(input, frames, 1, &accepted), IW_E_INVALID_HANDLE, "invalid iw_audio_input");
    EXPECT_ERR(iw_audio_input_dropped(input, &dropped), IW_E_INVALID_HANDLE, "invalid iw_audio_input");
    CHECK(iw_audio_input_free(NULL));

    /* After the session closed: pushes and audio sessions are refused, the
     * input is still freed normally. */
    CHECK(iw_session_close(s));
    EXPECT_ERR(iw_audio_input_push_i16(second, frames, 1, &accepted), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_start_audio_session(s, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
               IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_audio_input_open(s, 16000, 1, &kept), IW_E_CLOSED, "closed");
    EXPECT_ERR(iw_session_set_voice_detection(s, NULL), IW_E_CLOSED, "closed");
    {
        struct iw_echo_reference *ref = NULL;
        EXPECT_ERR(iw_echo_reference_open(s, 16000, 1, &ref), IW_E_CLOSED, "closed");
    }
    CHECK(iw_audio_input_free(second));
    CHECK(iw_session_free(s));

    /* One kept past iw_shutdown (of a live session). */
    CHECK(iw_session_open(client, &s));
    CHECK(iw_audio_input_open(s, 22050, 1, &kept));
    return kept;
}

/* Playback misuse on a session of its own: NULLs, bad formats and
 * characters, stale and foreign handles, reads after the session closed.
 * Returns a stream kept open past iw_shutdown. */
static struct iw_playback *playback_misuse(struct iw_client *client) {
    struct iw_session *s = NULL;
    struct iw_playback *p = NULL, *kept = NULL;
    struct iw_now_playing now;
    float frames[16] = {1.0f};
    int16_t samples[16] = {1};
    size_t speech = 99;
    uint64_t pending = 99;

    CHECK(iw_session_open(client, &s));
    wait_ready(s);
    EXPECT_ERR(iw_session_open_playback(NULL, 48000, 2, NULL, &p), IW_E_NULL_POINTER, "iw_session is NULL");
    EXPECT_ERR(iw_session_open_playback(s, 48000, 2, NULL, NULL), IW_E_NULL_POINTER, "out is NULL");
    EXPECT_ERR(iw_session_open_playback(s, 7999, 2, NULL, &p), IW_E_INVALID_ARGUMENT, "7999 Hz");
    EXPECT_ERR(iw_session_open_playback(s, 192001, 2, NULL, &p), IW_E_INVALID_ARGUMENT, "192001 Hz");
    EXPECT_ERR(iw_session_open_playback(s, 48000, 0, NULL, &p), IW_E_INVALID_ARGUMENT, "0 playback channels");
    EXPECT_ERR(iw_session_open_playback(s, 48000, 3, NULL, &p), IW_E_INVALID_ARGUMENT, "3 playback channels");
    EXPECT_ERR(iw_session_open_playback(s, 48000, 70000, NULL, &p), IW_E_INVALID_ARGUMENT, "channels");
    EXPECT_ERR(iw_session_open_playback(s, 48000, 2, "nobody", &p), IW_E_NOT_FOUND, "nobody");
    EXPECT_ERR(iw_session_open_playback(s, 48000, 2, "\xff", &p), IW_E_INVALID_UTF8, "UTF-8");
    EXPECT(p == NULL);

    CHECK(iw_session_open_playback(s, 48000, 2, "alice", &p));
    EXPECT_ERR(iw_playback_read_f32(NULL, frames, 8, &speech), IW_E_NULL_POINTER, "iw_playback is NULL");
    EXPECT_ERR(iw_playback_read_f32(p, NULL, 8, &speech), IW_E_NULL_POINTER, "frames is NULL");
    EXPECT_ERR(iw_playback_read_i16(p, samples, 8, NULL), IW_E_NULL_POINTER, "speech_frames is NULL");
    EXPECT_ERR(iw_playback_now_playing(p, NULL), IW_E_NULL_POINTER, "now is NULL");
    EXPECT_ERR(iw_playback_pending(p, NULL), IW_E_NULL_POINTER, "frames is NULL");
    EXPECT_ERR(iw_playback_read_f32((struct iw_playback *)s, frames, 8, &speech), IW_E_INVALID_HANDLE,
               "iw_playback");
    /* Nothing said yet: silence, nothing playing; zero frames is fine. */
    CHECK(iw_playback_read_f32(p, frames, 8, &speech));
    EXPECT(speech == 0 && frames[0] == 0.0f);
    CHECK(iw_playback_read_i16(p, samples, 8, &speech));
    EXPECT(speech == 0 && samples[0] == 0);
    CHECK(iw_playback_read_f32(p, NULL, 0, &speech));
    CHECK(iw_playback_now_playing(p, &now));
    EXPECT(now.playing == 0 && now.interaction_id[0] == 0);
    CHECK(iw_playback_pending(p, &pending));
    EXPECT(pending == 0);

    /* Stale: freed twice, used after free. */
    CHECK(iw_playback_free(p));
    EXPECT_ERR(iw_playback_free(p), IW_E_INVALID_HANDLE, "invalid iw_playback");
    EXPECT_ERR(iw_playback_read_f32(p, frames, 8, &speech), IW_E_INVALID_HANDLE, "invalid iw_playback");
    EXPECT_ERR(iw_playback_now_playing(p, &now), IW_E_INVALID_HANDLE, "invalid iw_playback");
    CHECK(iw_playback_free(NULL));

    /* After the session closed: no new stream; an open one reads silence. */
    CHECK(iw_session_open_playback(s, 16000, 1, NULL, &p));
    CHECK(iw_session_close(s));
    EXPECT_ERR(iw_session_open_playback(s, 16000, 1, NULL, &kept), IW_E_CLOSED, "closed");
    CHECK(iw_playback_read_f32(p, frames, 8, &speech));
    EXPECT(speech == 0);
    CHECK(iw_session_free(s));
    CHECK(iw_playback_read_i16(p, samples, 8, &speech));
    CHECK(iw_playback_free(p));

    /* One kept past iw_shutdown (of a live session). */
    CHECK(iw_session_open(client, &s));
    wait_ready(s);
    CHECK(iw_session_open_playback(s, 44100, 2, NULL, &kept));
    return kept;
}

/* The engine's speech parts: bad values, whisper's model file, the parts
 * this build lacks (refused, never replaced by others: tests/c_api.rs says
 * which are built in), and a caller of ABI 2.3 whose smaller struct ends
 * before them (exactly that many bytes are allocated: under valgrind, a
 * read past them fails the test). */
static void engine_speech_parts(void) {
    static const char MODEL[] = "/models/ggml-tiny.en.bin";
    struct iw_engine_config ec;
    struct iw_engine *engine = NULL;
    const size_t old_size = offsetof(struct iw_engine_config, synthesizer);
    unsigned char *old = malloc(old_size);
    uint32_t size = 0;

    CHECK(iw_engine_config_init(&ec));
    EXPECT(ec.struct_size == sizeof ec);
    EXPECT(ec.synthesizer == IW_SYNTHESIZER_DEFAULT && ec.recognizer == IW_RECOGNIZER_DEFAULT);
    EXPECT(ec.whisper_model == NULL);
    ec.scene = "test";
    ec.synthesizer = 77;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT, "config->synthesizer is 77");
    ec.synthesizer = IW_SYNTHESIZER_TONES;
    ec.recognizer = 77;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT, "config->recognizer is 77");
    ec.recognizer = IW_RECOGNIZER_WHISPER;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT, "whisper_model is NULL");
    ec.whisper_model = BAD_UTF8;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_UTF8, "config->whisper_model");
    ec.recognizer = IW_RECOGNIZER_SCRIPTED;
    ec.whisper_model = MODEL;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_INVALID_ARGUMENT,
               "whisper_model is for IW_RECOGNIZER_WHISPER");
    ec.whisper_model = NULL;
#ifndef INWORLD_BUILT_WITH_ESPEAK
    ec.synthesizer = IW_SYNTHESIZER_ESPEAK;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_UNSUPPORTED, "`espeak` cargo feature");
    ec.synthesizer = IW_SYNTHESIZER_TONES;
#endif
#ifndef INWORLD_BUILT_WITH_POCKETSPHINX
    ec.recognizer = IW_RECOGNIZER_POCKETSPHINX;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_UNSUPPORTED, "`pocketsphinx` cargo feature");
#endif
#ifndef INWORLD_BUILT_WITH_WHISPER
    ec.recognizer = IW_RECOGNIZER_WHISPER;
    ec.whisper_model = MODEL;
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_UNSUPPORTED, "`whisper` cargo feature");
    ec.recognizer = IW_RECOGNIZER_DEFAULT; /* a model file alone chooses whisper */
    EXPECT_ERR(iw_engine_start(&ec, &engine), IW_E_UNSUPPORTED, "`whisper` cargo feature");
    ec.whisper_model = NULL;
#endif
    EXPECT(engine == NULL);

    /* ABI 2.3's struct: the defaults for what it lacks. */
    EXPECT(old != NULL && old_size < sizeof ec);
    CHECK(iw_engine_config_init(&ec));
    ec.scene = "test";
    memcpy(old, &ec, old_size);
    size = (uint32_t)old_size;
    memcpy(old, &size, sizeof size);
    CHECK(iw_engine_start((const struct iw_engine_config *)(const void *)old, &engine));
    CHECK(iw_engine_free(engine));
    size = (uint32_t)old_size - 1;
    memcpy(old, &size, sizeof size);
    EXPECT_ERR(iw_engine_start((const struct iw_engine_config *)(const void *)old, &engine),
               IW_E_INVALID_ARGUMENT, "struct_size");
    free(old);
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
    uint64_t request = 0;
    struct iw_session *made_up = (struct iw_session *)(uintptr_t)0x1234;
    struct iw_audio_input *kept_input = NULL;
    struct iw_playback *kept_playback = NULL;
    float played[8];
    int16_t silence[2] = {0, 0};
    size_t accepted = 0;

    /* Before the runtime starts: worker threads. */
    EXPECT_ERR(iw_runtime_set_worker_threads(0), IW_E_INVALID_ARGUMENT, "at least 1");
    CHECK(iw_runtime_set_worker_threads(2));

    /* Result names and the error buffer. */
    EXPECT(strcmp(iw_result_name(IW_E_BUSY), "IW_E_BUSY") == 0);
    EXPECT(strcmp(iw_result_name(-9999), "IW_E_UNKNOWN") == 0);
    EXPECT(strcmp(iw_viseme_name(IW_VISEME_OU), "ou") == 0);
    EXPECT(strcmp(iw_viseme_name(IW_VISEME_OU + 1), "UNKNOWN") == 0);
    EXPECT(strcmp(iw_viseme_name(UINT32_MAX), "UNKNOWN") == 0);
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
    engine_speech_parts();
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
    {
        /* The message names the library's own version (this header's). */
        char library_abi[48];
        snprintf(library_abi, sizeof library_abi, "implements ABI %d.%d",
                 (int)IW_ABI_VERSION_MAJOR, (int)(IW_ABI_VERSION & 0xffff));
        EXPECT_ERR(iw_client_new(IW_ABI_VERSION + 0x10000, &cc, &client), IW_E_ABI_VERSION,
                   library_abi);
    }
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

    whole_session_misuse(session);
    after_close(client);
    token_misuse(&cc, client, engine);

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

    kept_input = mic_misuse(client);
    kept_playback = playback_misuse(client);

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
    cc.api_key = NULL;
    cc.api_secret = NULL;
    cc.token_provider = noop_token;
    cc.token_provider_userdata = &frees;
    cc.token_provider_userdata_free = count_free;
    EXPECT_ERR(iw_client_new(IW_ABI_VERSION, &cc, &stale_client), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT(frees == 3);
    EXPECT_ERR(iw_client_provide_token(client, 1, "t", NULL, "s", 0), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_change_scene(session, "workspaces/test-ws/scenes/other-scene", NULL),
               IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_request_state(session, &request), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_end_conversation(session, "x"), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_audio_input_push_i16(kept_input, silence, 1, &accepted), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_session_start_audio_session(session, IW_MIC_OPEN_MIC, IW_UNDERSTANDING_FULL, NULL),
               IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_audio_input_free(kept_input), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_playback_read_f32(kept_playback, played, 8, &accepted), IW_E_SHUTDOWN, "iw_shutdown");
    EXPECT_ERR(iw_playback_free(kept_playback), IW_E_SHUTDOWN, "iw_shutdown");

    printf("misuse: OK (%d error checks)\n", checks);
    return 0;
}
