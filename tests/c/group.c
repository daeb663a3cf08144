/* The whole session through the C API, against the in-process local engine
 * (the test scenes): a conversation of three characters (carol added by
 * naming her resource) with next-turn triggers, its participants changed and
 * its end; characters removed and added; entity items; a like with its call
 * result and its undo, a dislike; the saved state and the dialog so far, each
 * reopening a new session that remembers; a scene change; and tokens from a
 * token provider answered by a "backend" thread (a failure first, then a
 * token minted by the engine), one never answered, and late answers. */
#include "test_util.h"

#include <pthread.h>

#define SCENE "workspaces/test-ws/scenes/test-scene"
#define OTHER_SCENE "workspaces/test-ws/scenes/other-scene"
#define CAROL "workspaces/test-ws/characters/carol"
#define BOB "workspaces/test-ws/characters/bob"

/* One reply: the packets of one interaction. */
struct reply {
    char interaction_id[37];
    char conversation_id[37]; /* what every packet of it must carry */
    char text[2048];
    char character[64];       /* agent id of who said it */
    int texts, ended;
};

/* Call results, by request id. */
struct call {
    uint64_t request_id;
    uint32_t call;
    int32_t grpc_code;
    char name[512];
    uint8_t *data; /* copied (malloc) */
    size_t data_len;
};

/* What the session said besides replies. */
struct seen {
    char scene_name[256];
    size_t scene_characters;
    int scene_statuses;
    /* The last scene mutation that went out, and how many did. */
    uint32_t mutation_what;
    char mutation_scene[256];
    char mutation_name[256]; /* its first character */
    int mutations;
    struct call calls[8];
    size_t call_count;
    int errors_allowed;
    int errors;
    char last_error[512];
    int ready, closed;
};

static void seen_free(struct seen *s) {
    size_t i;
    for (i = 0; i < s->call_count; i++) free(s->calls[i].data);
    memset(s, 0, sizeof *s);
}

static void reply_start(struct reply *r, const struct iw_sent_ids *ids, const char *conversation) {
    memset(r, 0, sizeof *r);
    memcpy(r->interaction_id, ids->interaction_id, sizeof r->interaction_id);
    snprintf(r->conversation_id, sizeof r->conversation_id, "%s", conversation);
}

static void take(struct seen *s, struct reply *r, const struct iw_packet *p) {
    if (p->kind == IW_PACKET_SCENE_STATUS) {
        snprintf(s->scene_name, sizeof s->scene_name, "%s", p->data.scene.name.ptr);
        s->scene_characters = p->data.scene.character_count;
        s->scene_statuses++;
    } else if (p->kind == IW_PACKET_SCENE_MUTATION) {
        const struct iw_scene_mutation *m = &p->data.scene_mutation;
        EXPECT(p->ids.packet_id.len > 0);
        s->mutation_what = m->what;
        snprintf(s->mutation_scene, sizeof s->mutation_scene, "%s", m->scene.ptr);
        snprintf(s->mutation_name, sizeof s->mutation_name, "%s",
                 m->name_count > 0 ? m->names[0].ptr : "");
        s->mutations++;
    } else if (p->kind == IW_PACKET_CALL_RESULT) {
        const struct iw_call_result *c = &p->data.call_result;
        struct call *mine;
        if (s->call_count == sizeof s->calls / sizeof s->calls[0]) FAIL("too many call results");
        mine = &s->calls[s->call_count++];
        mine->request_id = c->request_id;
        mine->call = c->call;
        mine->grpc_code = c->grpc_code;
        snprintf(mine->name, sizeof mine->name, "%s", c->name.ptr);
        mine->data_len = c->data_len;
        mine->data = NULL;
        if (c->data_len > 0) {
            mine->data = malloc(c->data_len);
            EXPECT(mine->data != NULL);
            memcpy(mine->data, c->data, c->data_len);
        }
        if (c->grpc_code != 0) fprintf(stderr, "call %llu failed: %s\n",
                                       (unsigned long long)c->request_id, c->message.ptr);
    } else if (p->kind == IW_PACKET_ERROR) {
        snprintf(s->last_error, sizeof s->last_error, "%s", p->data.error.message.ptr);
        s->errors++;
        if (!s->errors_allowed) FAIL("error packet: %s", p->data.error.message.ptr);
    } else if (p->kind == IW_PACKET_CONNECTION) {
        if (p->data.connection.state == IW_STATE_READY) s->ready++;
        if (p->data.connection.state == IW_STATE_CLOSED) s->closed = 1;
    }
    if (r == NULL || !str_eq(p->ids.interaction_id, r->interaction_id)) return;
    if (p->kind == IW_PACKET_TEXT && p->source.kind == IW_ACTOR_CHARACTER &&
        p->data.text.text.len > 0) {
        if (r->conversation_id[0] != '\0' && !str_eq(p->ids.conversation_id, r->conversation_id)) {
            FAIL("a reply of conversation %s came with conversation id \"%s\"",
                 r->conversation_id, p->ids.conversation_id.ptr);
        }
        if (r->texts > 0 && strcmp(r->character, p->source.name.ptr) != 0) {
            FAIL("one reply from two characters: %s and %s", r->character, p->source.name.ptr);
        }
        strncat(r->text, p->data.text.text.ptr, sizeof r->text - strlen(r->text) - 2);
        strcat(r->text, " ");
        snprintf(r->character, sizeof r->character, "%s", p->source.name.ptr);
        r->texts++;
    } else if (p->kind == IW_PACKET_CONTROL &&
               p->data.control.action == IW_CONTROL_INTERACTION_END) {
        r->ended = 1;
    }
}

static void pump(struct iw_session *session, struct seen *s, struct reply *r) {
    struct iw_packet packets[16];
    size_t n = 0, i;
    CHECK(iw_session_poll(session, packets, 16, &n));
    for (i = 0; i < n; i++) take(s, r, &packets[i]);
    if (n == 0) sleep_ms(2);
}

static void wait_reply(struct iw_session *session, struct seen *s, struct reply *r) {
    double deadline = now_s() + WAIT_S;
    while (!r->ended && now_s() < deadline) pump(session, s, r);
    if (!r->ended) FAIL("no INTERACTION_END for %s", r->interaction_id);
    if (r->texts == 0) FAIL("a reply without text for %s", r->interaction_id);
}

static void wait_open(struct iw_session *session, struct seen *s) {
    double deadline = now_s() + WAIT_S;
    while (s->ready == 0 && !s->closed && now_s() < deadline) pump(session, s, NULL);
    if (s->ready == 0) FAIL("the session did not become ready");
}

static const struct call *wait_call(struct iw_session *session, struct seen *s, uint64_t id) {
    double deadline = now_s() + WAIT_S;
    while (now_s() < deadline) {
        size_t i;
        for (i = 0; i < s->call_count; i++) {
            if (s->calls[i].request_id == id) return &s->calls[i];
        }
        pump(session, s, NULL);
    }
    FAIL("no call result for request %llu", (unsigned long long)id);
    return NULL;
}

/* Whether the last scene status is one after the `after`th, of scene `name`
 * with `count` characters. */
static int scene_is(const struct seen *s, int after, const char *name, size_t count) {
    return s->scene_statuses > after && strcmp(s->scene_name, name) == 0 &&
           s->scene_characters == count;
}

/* Waits for a scene status after the `after`th one, of scene `name` with
 * `count` characters (an earlier change's status may come first). */
static void wait_scene(struct iw_session *session, struct seen *s, int after, const char *name,
                       size_t count) {
    double deadline = now_s() + WAIT_S;
    while (!scene_is(s, after, name, count) && now_s() < deadline) pump(session, s, NULL);
    if (!scene_is(s, after, name, count)) {
        FAIL("no scene status of %s with %zu characters (last: %s, %zu)", name, count,
             s->scene_name, s->scene_characters);
    }
}

/* Sends `text` one-to-one and waits for its reply. */
static void talk(struct iw_session *session, struct seen *s, const char *text, struct reply *r) {
    struct iw_sent_ids ids;
    CHECK(iw_sent_ids_init(&ids));
    CHECK(iw_session_send_text(session, text, &ids));
    reply_start(r, &ids, "");
    wait_reply(session, s, r);
}

/* The agent id of the character whose display name is `name`. */
static void agent_id(struct iw_session *session, const char *name, char *out, size_t cap) {
    size_t count = 0, i;
    CHECK(iw_session_character_count(session, &count));
    for (i = 0; i < count; i++) {
        struct iw_character c;
        CHECK(iw_session_character_at(session, i, &c));
        if (str_eq(c.display_name, name)) {
            snprintf(out, cap, "%s", c.id.ptr);
            return;
        }
    }
    FAIL("no character %s in the scene", name);
}

static size_t character_count(struct iw_session *session) {
    size_t count = 0;
    CHECK(iw_session_character_count(session, &count));
    return count;
}

/* ---- Tokens from a "backend" thread ---- */

static struct iw_engine *engine; /* the backend mints its tokens there */

struct provider {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct iw_client *client;
    uint64_t requests[16];
    int request_count;
    int with_session_id;
    char workspace[64];
    iw_result mint_in_callback;
    int answer;    /* the backend thread answers (else nobody does) */
    int answered;  /* requests it answered */
    char session_id[128]; /* of the token it gave */
    int frees;
};

static void on_token_request(struct iw_client *client, uint64_t request_id, const char *workspace,
                             const char *session_id, void *userdata) {
    struct provider *p = (struct provider *)userdata;
    struct iw_engine_token token;
    iw_result minted;
    /* Minting waits for the engine: not on a library thread. */
    iw_engine_token_init(&token);
    minted = iw_engine_mint_token(engine, &token);
    pthread_mutex_lock(&p->lock);
    EXPECT(client == p->client);
    p->mint_in_callback = minted;
    if (p->request_count < 16) p->requests[p->request_count++] = request_id;
    if (session_id != NULL) p->with_session_id++;
    snprintf(p->workspace, sizeof p->workspace, "%s", workspace);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

static void provider_free(void *userdata) {
    struct provider *p = (struct provider *)userdata;
    pthread_mutex_lock(&p->lock);
    p->frees++;
    pthread_mutex_unlock(&p->lock);
}

/* The game's backend: the first request fails ("down for a moment"), the
 * second gets a token; then the first is answered again (refused). */
static void *backend(void *userdata) {
    struct provider *p = (struct provider *)userdata;
    double deadline = now_s() + WAIT_S;
    pthread_mutex_lock(&p->lock);
    while (p->answered < 2 && now_s() < deadline) {
        struct timespec ts;
        if (p->answered < p->request_count) {
            uint64_t id = p->requests[p->answered];
            pthread_mutex_unlock(&p->lock);
            if (p->answered == 0) {
                CHECK(iw_client_token_failed(p->client, id, "the backend is down for a moment"));
            } else {
                struct iw_engine_token token;
                CHECK(iw_engine_token_init(&token));
                CHECK(iw_engine_mint_token(engine, &token));
                EXPECT(strlen(token.token) > 0 && strlen(token.session_id) > 0);
                CHECK(iw_client_provide_token(p->client, id, token.token, token.token_type,
                                              token.session_id, token.expires_ms));
                pthread_mutex_lock(&p->lock);
                snprintf(p->session_id, sizeof p->session_id, "%s", token.session_id);
                pthread_mutex_unlock(&p->lock);
                /* Each request is answered once. */
                EXPECT_ERR(iw_client_provide_token(p->client, id, token.token, NULL,
                                                   token.session_id, 0),
                           IW_E_NOT_FOUND, "no token request");
                EXPECT_ERR(iw_client_provide_token(p->client, p->requests[0], token.token, NULL,
                                                   token.session_id, 0),
                           IW_E_NOT_FOUND, "no token request");
            }
            pthread_mutex_lock(&p->lock);
            p->answered++;
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static struct iw_client *provider_client(const char *address, struct provider *p,
                                         uint32_t connect_timeout_ms, uint32_t attempts) {
    struct iw_client_config cc;
    CHECK(iw_client_config_init(&cc));
    cc.host = address;
    cc.tls = IW_TLS_OFF;
    cc.scene = SCENE;
    cc.user_name = "Tester";
    cc.capabilities = IW_CAP_DEFAULT & ~IW_CAP_AUDIO;
    cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
    cc.connect_timeout_ms = connect_timeout_ms;
    cc.reconnect_max_attempts = attempts;
    cc.token_provider = on_token_request;
    cc.token_provider_userdata = p;
    cc.token_provider_userdata_free = provider_free;
    CHECK(iw_client_new(IW_ABI_VERSION, &cc, &p->client));
    return p->client;
}

static void provider_init(struct provider *p) {
    memset(p, 0, sizeof *p);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
}

static void provider_destroy(struct provider *p) {
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

static void tokens_from_a_backend(const char *address) {
    struct provider p;
    struct iw_session *session;
    struct seen s;
    struct reply r;
    pthread_t thread;
    char id[128];
    size_t len = 0;

    /* A failure, then a token, both from the backend thread. */
    provider_init(&p);
    memset(&s, 0, sizeof s);
    s.errors_allowed = 1;
    provider_client(address, &p, 120000, 8);
    EXPECT(pthread_create(&thread, NULL, backend, &p) == 0);
    CHECK(iw_session_open(p.client, &session));
    wait_open(session, &s);
    pthread_join(thread, NULL);
    EXPECT(p.answered == 2);
    EXPECT(p.request_count == 2);
    EXPECT(p.with_session_id == 0); /* new sessions */
    EXPECT(strcmp(p.workspace, "test-ws") == 0);
    EXPECT(p.mint_in_callback == IW_E_BUSY);
    EXPECT(s.errors >= 1 && strstr(s.last_error, "the backend is down for a moment") != NULL);
    talk(session, &s, "hello with a token from the backend", &r);
    /* The session is the token's. */
    CHECK(iw_session_id(session, id, sizeof id, &len));
    EXPECT(strcmp(id, p.session_id) == 0);
    /* The client goes: its provider's userdata is released once. */
    CHECK(iw_client_free(p.client));
    EXPECT(p.frees == 1);
    EXPECT_ERR(iw_client_token_failed(p.client, 1, NULL), IW_E_INVALID_HANDLE, "iw_client");
    /* The session keeps running on its token. */
    talk(session, &s, "still here", &r);
    CHECK(iw_session_free(session));
    provider_destroy(&p);
    seen_free(&s);

    /* A provider that never answers: each attempt gives up at the connect
     * timeout, the session closes, and a late answer is refused. */
    provider_init(&p);
    memset(&s, 0, sizeof s);
    s.errors_allowed = 1;
    provider_client(address, &p, 300, 1);
    CHECK(iw_session_open(p.client, &session));
    {
        double deadline = now_s() + WAIT_S;
        int i;
        while (!s.closed && now_s() < deadline) pump(session, &s, NULL);
        EXPECT(s.closed);
        EXPECT(s.ready == 0);
        pthread_mutex_lock(&p.lock);
        EXPECT(p.request_count >= 1);
        for (i = 0; i < p.request_count; i++) {
            EXPECT_ERR(iw_client_token_failed(p.client, p.requests[i], "too late"), IW_E_NOT_FOUND,
                       "stopped waiting");
        }
        pthread_mutex_unlock(&p.lock);
    }
    EXPECT_ERR(iw_client_token_failed(p.client, 999999, "never asked"), IW_E_NOT_FOUND,
               "no token request 999999");
    CHECK(iw_session_free(session));

    CHECK(iw_client_free(p.client));
    EXPECT(p.frees == 1);
    provider_destroy(&p);
    seen_free(&s);

    /* The client freed while a request waits: the request fails, later
     * attempts find no provider, and the session gives up; nothing hangs. */
    provider_init(&p);
    memset(&s, 0, sizeof s);
    s.errors_allowed = 1;
    provider_client(address, &p, 120000, 1);
    CHECK(iw_session_open(p.client, &session));
    {
        double deadline = now_s() + WAIT_S;
        pthread_mutex_lock(&p.lock);
        while (p.request_count == 0 && now_s() < deadline) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&p.cond, &p.lock, &ts);
        }
        EXPECT(p.request_count == 1);
        pthread_mutex_unlock(&p.lock);
        CHECK(iw_client_free(p.client));
        EXPECT(p.frees == 1);
        while (!s.closed && now_s() < deadline) pump(session, &s, NULL);
        EXPECT(s.closed && s.ready == 0);
        EXPECT(strstr(s.last_error, "freed") != NULL);
        EXPECT(p.request_count == 1); /* never called after the free */
    }
    CHECK(iw_session_free(session));
    provider_destroy(&p);
    seen_free(&s);
}

/* Reopens a session with `cc` and checks that it remembers `said`. */
static void reopen_and_remember(struct iw_client_config *cc, const char *said) {
    struct iw_client *client;
    struct iw_session *session;
    struct seen s;
    struct reply r;
    char expected[256];
    memset(&s, 0, sizeof s);
    CHECK(iw_client_new(IW_ABI_VERSION, cc, &client));
    CHECK(iw_session_open(client, &session));
    wait_open(session, &s);
    talk(session, &s, "do you remember?", &r);
    snprintf(expected, sizeof expected, "I remember. You said: %s", said);
    if (strstr(r.text, expected) == NULL) FAIL("\"%s\" lacks \"%s\"", r.text, expected);
    CHECK(iw_session_free(session));
    CHECK(iw_client_free(client));
    seen_free(&s);
}

int main(void) {
    char address[64], scene[256], conversation[IW_CONVERSATION_ID_SIZE];
    char alice[64], bob[64], carol[64], name[512];
    size_t len = 0;
    struct iw_client *client;
    struct iw_session *session;
    struct iw_client_config cc;
    struct iw_sent_ids ids;
    struct reply replies[3], r;
    struct seen s;
    uint64_t request = 0;
    uint8_t *state = NULL;
    size_t state_len = 0, i;
    const char *members[3];
    int statuses, mutations_before;

    memset(&s, 0, sizeof s);
    engine = start_engine("test", address, sizeof address, scene, sizeof scene);
    EXPECT(strcmp(scene, SCENE) == 0);
    client = new_client(address, SCENE, IW_CAP_DEFAULT & ~IW_CAP_AUDIO);
    CHECK(iw_session_open(client, &session));
    wait_open(session, &s);
    EXPECT(character_count(session) == 2);
    agent_id(session, "Alice", alice, sizeof alice);
    agent_id(session, "Bob", bob, sizeof bob);

    /* A conversation of three: carol is not in the scene, her resource name
     * adds her. */
    members[0] = "Alice";
    members[1] = bob;
    members[2] = CAROL;
    EXPECT_ERR(iw_session_start_conversation(session, members, 3, 1, conversation, 36, &len),
               IW_E_BUFFER_TOO_SMALL, "IW_CONVERSATION_ID_SIZE");
    EXPECT(len == 36);
    len = 0;
    CHECK(iw_session_start_conversation(session, members, 3, 1, conversation,
                                        sizeof conversation, &len));
    EXPECT(len == 36 && strlen(conversation) == 36);

    CHECK(iw_sent_ids_init(&ids));
    CHECK(iw_session_send_text_in(session, conversation, "hello everyone", &ids));
    EXPECT(strcmp(ids.conversation_id, conversation) == 0);
    reply_start(&replies[0], &ids, conversation);
    wait_reply(session, &s, &replies[0]);
    for (i = 1; i < 3; i++) {
        CHECK(iw_session_next_turn(session, conversation, &ids));
        EXPECT(strcmp(ids.conversation_id, conversation) == 0);
        reply_start(&replies[i], &ids, conversation);
        wait_reply(session, &s, &replies[i]);
    }
    /* Three turns, three characters, carol among them (her scene status
     * came before her turn). */
    EXPECT(s.scene_statuses >= 2 && s.scene_characters == 3);
    EXPECT(character_count(session) == 3);
    agent_id(session, "Carol", carol, sizeof carol);
    for (i = 0; i < 3; i++) printf("turn %zu: %s: %s\n", i, replies[i].character, replies[i].text);
    EXPECT(strcmp(replies[0].character, replies[1].character) != 0);
    EXPECT(strcmp(replies[1].character, replies[2].character) != 0);
    EXPECT(strcmp(replies[0].character, replies[2].character) != 0);
    EXPECT(strcmp(replies[0].character, carol) == 0 || strcmp(replies[1].character, carol) == 0 ||
           strcmp(replies[2].character, carol) == 0);

    /* A like on the first reply, its result, its undo; a dislike. */
    CHECK(iw_session_like(session, replies[0].interaction_id, NULL, &request));
    {
        const struct call *c = wait_call(session, &s, request);
        EXPECT(c->call == IW_CALL_LIKE);
        EXPECT(c->grpc_code == 0);
        EXPECT(strstr(c->name, "/feedbacks/") != NULL);
        snprintf(name, sizeof name, "%s", c->name);
    }
    CHECK(iw_session_undo_feedback(session, name, &request));
    {
        const struct call *c = wait_call(session, &s, request);
        EXPECT(c->call == IW_CALL_UNDO_FEEDBACK);
        EXPECT(c->grpc_code == 0);
    }
    {
        uint32_t why[2] = {IW_DISLIKE_IRRELEVANT, IW_DISLIKE_TOO_LONG};
        const struct call *c;
        CHECK(iw_session_dislike(session, replies[1].interaction_id, NULL, why, 2, "too chatty",
                                 &request));
        c = wait_call(session, &s, request);
        EXPECT(c->call == IW_CALL_DISLIKE);
        EXPECT(c->grpc_code == 0);
        EXPECT(c->name[0] != '\0');
    }

    /* Alice alone now (by display name), then a trigger to her; the
     * conversation ends. */
    members[0] = "alice";
    CHECK(iw_session_update_conversation(session, conversation, members, 1, 1));
    CHECK(iw_session_send_text_in(session, conversation, "just you now", &ids));
    reply_start(&r, &ids, conversation);
    wait_reply(session, &s, &r);
    EXPECT(strcmp(r.character, alice) == 0);
    {
        iw_key_value mood;
        mood.key = "mood";
        mood.value = "cheerful";
        CHECK(iw_session_send_trigger_in(session, conversation, "greet", &mood, 1, "Alice", &ids));
        reply_start(&r, &ids, conversation);
        wait_reply(session, &s, &r);
        EXPECT(strcmp(r.character, alice) == 0);
        EXPECT(strstr(r.text, "You look cheerful today.") != NULL);
    }
    CHECK(iw_session_send_narrated_action_in(session, conversation, "waves", &ids));
    reply_start(&r, &ids, conversation);
    wait_reply(session, &s, &r);
    EXPECT(strstr(r.text, "Waves back.") != NULL);
    CHECK(iw_session_end_conversation(session, conversation));
    EXPECT_ERR(iw_session_send_text_in(session, conversation, "anyone?", NULL), IW_E_NOT_FOUND,
               "no conversation");
    EXPECT_ERR(iw_session_end_conversation(session, conversation), IW_E_NOT_FOUND,
               "no conversation");

    /* Bob leaves at once, and comes back with the next scene status. */
    members[0] = "Bob";
    mutations_before = s.mutations;
    CHECK(iw_session_remove_characters(session, members, 1));
    EXPECT(character_count(session) == 2);
    EXPECT_ERR(iw_session_set_character(session, "Bob"), IW_E_NOT_FOUND, "Bob");
    members[0] = BOB;
    statuses = s.scene_statuses;
    CHECK(iw_session_add_characters(session, members, 1));
    wait_scene(session, &s, statuses, SCENE, 3);
    /* Each went out as a scene mutation, before the status. */
    EXPECT(s.mutations == mutations_before + 2);
    EXPECT(s.mutation_what == IW_MUTATION_ADD_CHARACTERS);
    EXPECT(strcmp(s.mutation_name, BOB) == 0);
    CHECK(iw_session_set_character(session, "Bob"));
    CHECK(iw_session_set_character(session, "Alice"));

    /* Entity items. */
    {
        iw_key_value property;
        iw_entity_item item;
        const char *entities[1] = {"loot"};
        const char *item_ids[1] = {"sword-1"};
        property.key = "damage";
        property.value = "7";
        item.id = "sword-1";
        item.display_name = "Sword";
        item.description = "Sharp.";
        item.properties = &property;
        item.property_count = 1;
        CHECK(iw_session_create_or_update_items(session, &item, 1, entities, 1));
        CHECK(iw_session_items_in_entities(session, IW_ITEMS_ADD, item_ids, 1, entities, 1));
        CHECK(iw_session_items_in_entities(session, IW_ITEMS_REPLACE, NULL, 0, entities, 1));
        CHECK(iw_session_remove_items(session, item_ids, 1));
    }

    /* The saved state, and the dialog so far. */
    talk(session, &s, "the password is walnut", &r);
    EXPECT(strcmp(r.character, alice) == 0);
    CHECK(iw_session_request_state(session, &request));
    {
        const struct call *c = wait_call(session, &s, request);
        EXPECT(c->call == IW_CALL_SESSION_STATE);
        EXPECT(c->grpc_code == 0);
        EXPECT(c->data_len > 0);
        state_len = c->data_len;
        state = malloc(state_len);
        EXPECT(state != NULL);
        memcpy(state, c->data, state_len);
    }

    /* A new session continues from the saved state. */
    CHECK(iw_client_config_init(&cc));
    cc.host = address;
    cc.tls = IW_TLS_OFF;
    cc.api_key = "test-api-key";
    cc.api_secret = "test-api-secret";
    cc.scene = SCENE;
    cc.user_name = "Tester";
    cc.capabilities = IW_CAP_DEFAULT & ~IW_CAP_AUDIO;
    cc.scene_timeout_ms = SCENE_TIMEOUT_MS;
    cc.connect_timeout_ms = CONNECT_TIMEOUT_MS;
    cc.continuation_state = state;
    cc.continuation_state_len = state_len;
    reopen_and_remember(&cc, "the password is walnut");

    /* And one from the dialog so far. */
    {
        size_t count = 0;
        iw_dialog_line *lines;
        int player_lines = 0;
        CHECK(iw_session_dialog_count(session, &count));
        EXPECT(count >= 2);
        lines = calloc(count, sizeof *lines);
        EXPECT(lines != NULL);
        for (i = 0; i < count; i++) {
            CHECK(iw_session_dialog_line_at(session, i, &lines[i]));
            EXPECT(lines[i].talker == IW_TALKER_PLAYER || lines[i].talker == IW_TALKER_CHARACTER);
            if (lines[i].talker == IW_TALKER_PLAYER) player_lines++;
        }
        EXPECT(player_lines >= 1);
        /* The last line the player said, then Alice's answer. */
        i = count;
        while (i > 0 && lines[i - 1].talker == IW_TALKER_CHARACTER) i--;
        EXPECT(i > 0 && i < count);
        EXPECT(strcmp(lines[i - 1].text, "the password is walnut") == 0);
        EXPECT(strstr(lines[count - 1].text, "the password is walnut") != NULL);
        EXPECT_ERR(iw_session_dialog_line_at(session, count, &lines[0]), IW_E_INVALID_ARGUMENT,
                   "out of range");
        cc.continuation_state = NULL;
        cc.continuation_state_len = 0;
        cc.dialog_history = lines;
        cc.dialog_history_count = count;
        reopen_and_remember(&cc, "the password is walnut");
        free(lines);
    }

    /* Another scene, same session: carol and alice; alice stays current. */
    {
        struct iw_scene_change change;
        struct iw_character current;
        CHECK(iw_scene_change_init(&change));
        EXPECT(change.capabilities == IW_CAP_KEEP);
        change.game_session_id = "game-session-2";
        statuses = s.scene_statuses;
        CHECK(iw_session_change_scene(session, OTHER_SCENE, &change));
        wait_scene(session, &s, statuses, OTHER_SCENE, 2);
        EXPECT(s.mutation_what == IW_MUTATION_LOAD_SCENE);
        EXPECT(strcmp(s.mutation_scene, OTHER_SCENE) == 0);
        EXPECT(character_count(session) == 2);
        CHECK(iw_session_current_character(session, &current));
        EXPECT(str_eq(current.display_name, "Alice"));
        agent_id(session, "Carol", carol, sizeof carol);
        talk(session, &s, "where are we?", &r);
        EXPECT(strstr(r.text, "Alice") != NULL);
        /* Back, with nothing but the name. */
        statuses = s.scene_statuses;
        CHECK(iw_session_change_scene(session, SCENE, NULL));
        wait_scene(session, &s, statuses, SCENE, 2);
        talk(session, &s, "back again", &r);
    }

    tokens_from_a_backend(address);

    CHECK(iw_session_free(session));
    CHECK(iw_client_free(client));
    CHECK(iw_engine_free(engine));
    free(state);
    seen_free(&s);
    CHECK(iw_shutdown());
    printf("group: OK (%d error checks)\n", checks);
    return 0;
}
