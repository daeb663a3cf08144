/* chat.c: a console chat with Inworld characters through the C API.
 *
 * By default it starts the local engine in-process with its demo scene (a
 * tavern: Marta the innkeeper, Finn the bard, Sergeant Holt), so it runs
 * offline with no account. With INWORLD_HOST, INWORLD_KEY, INWORLD_SECRET and
 * INWORLD_SCENE (a workspaces/<ws>/scenes/<id> resource name) all set, it
 * talks to that engine instead. With INWORLD_LLM_URL (an OpenAI-compatible API
 * base, e.g. http://127.0.0.1:11434/v1 for Ollama) and INWORLD_LLM_MODEL, the
 * local engine's characters are played by that model from their cards
 * (INWORLD_LLM_API_KEY if the endpoint needs a key); without, by the scene's
 * scripted lines.
 *
 * Type a line to talk. Commands:
 *   /trigger NAME [key=value ...]   send a trigger (with parameters)
 *   /action TEXT                    narrate an action ("waves")
 *   /character NAME                 talk to another character of the scene
 *                                   (display name in any case, agent id or
 *                                   resource name)
 *   /talk A B ...                   a group conversation with those
 *                                   characters: lines go to it, the scene's
 *                                   turn-taking picks who answers; /talk
 *                                   alone goes back to one-to-one
 *   /next                           let the next character of the group speak
 *   /scene NAME                     change the scene (an id of the workspace,
 *                                   or a scene or character resource name)
 *   /add NAME, /remove NAME         add a character of the workspace (id or
 *                                   resource name), remove one of the scene
 *   /like, /dislike [COMMENT]       feedback on the last reply
 *   /save [FILE]                    save the session (default
 *                                   inworld-session.state); start again with
 *                                   INWORLD_CONTINUE=FILE to continue it
 *   /help                           list the commands
 *   /quit                           leave (also while a reply is streaming)
 *
 * Replies stream in as they arrive: the game loop polls the session once per
 * ~16 ms frame and watches stdin in the same loop, so it never blocks on
 * either. Lines typed while a reply streams wait for its end (except /quit at
 * a terminal). When stdin is not a terminal (a script piped in), every line,
 * /quit included, waits for the previous reply's end, so scripted runs are
 * deterministic. A line the library reports it could not send (or may not
 * have sent: the connection broke before its reply) is not waited for, with
 * a note. A reply that stops arriving for INWORLD_CHAT_REPLY_TIMEOUT seconds
 * (default 60) is given up on, with a note.
 *
 * Build (from the repository root, after `cargo build`):
 *   make -C samples/c run
 * or by hand:
 *   gcc -std=c99 -Iinclude samples/c/chat.c -Ltarget/debug \
 *       -Wl,-rpath,$PWD/target/debug -linworld -o chat && ./chat
 */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* This program starts the local engine (iw_engine_*), which the header
 * declares only for code that asks for it. */
#define INWORLD_ENGINE 1
#include "inworld.h"

#define FRAME_MS 16
#define DEFAULT_REPLY_TIMEOUT_S 60.0
/* The in-process engine loads its scene at once; this only catches a hang
 * (valgrind and a busy machine make everything slow). */
#define LOCAL_SCENE_TIMEOUT_MS 120000u
#define MAX_CHARACTERS 32
#define MAX_PARAMS 8
#define LINE_MAX_LEN 1024

struct character {
    char id[128];
    char name[128];
    char resource[256];
};

/* Lines read from stdin, without ever blocking the game loop. */
struct input {
    char buf[4 * LINE_MAX_LEN];
    size_t len;
    int eof;
};

struct chat {
    struct iw_engine *engine;
    struct iw_client *client;
    struct iw_session *session;
    char workspace[64];         /* of the scene: short names are in it */
    struct character characters[MAX_CHARACTERS];
    size_t character_count;
    struct character met[MAX_CHARACTERS]; /* every character seen, for /add */
    size_t met_count;
    int ready;
    int closed;
    int waiting;                /* a reply is expected */
    char waiting_for[37];       /* its interaction id */
    int waiting_scene;          /* a scene status is expected (/scene, /add) */
    char awaited[512];          /* the scene it names, or a character it has */
    uint64_t waiting_call;      /* a call result is expected (/like, /save), or 0 */
    double last_activity;       /* when the reply last made progress */
    double reply_timeout_s;
    char last_error[512];       /* the last error line shown */
    char conversation[IW_CONVERSATION_ID_SIZE]; /* the group conversation, or "" */
    char last_reply[37];        /* interaction id of the last character reply */
    char last_reply_by[128];    /* who said it */
    char save_path[512];        /* where /save writes */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Prints the failed call's error and its message. */
static void report(const char *what, iw_result r) {
    char message[512];
    size_t len = 0;
    if (iw_last_error(message, sizeof message, &len) != IW_OK) message[0] = '\0';
    fprintf(stderr, "%s failed: %s: %s\n", what, iw_result_name(r), message);
}

static void cleanup(struct chat *chat) {
    iw_session_free(chat->session);
    iw_client_free(chat->client);
    iw_engine_free(chat->engine);
    iw_shutdown();
}

#define TRY(chat, call)                                                 \
    do {                                                                \
        iw_result r_ = (call);                                          \
        if (r_ != IW_OK) {                                              \
            report(#call, r_);                                          \
            cleanup(chat);                                              \
            exit(1);                                                    \
        }                                                               \
    } while (0)

/* Keeps `c` among the characters met, so that /add finds it by name later. */
static void remember(struct chat *chat, const struct character *c) {
    size_t i;
    for (i = 0; i < chat->met_count; i++) {
        if (strcmp(chat->met[i].resource, c->resource) == 0) return;
    }
    if (chat->met_count < MAX_CHARACTERS) chat->met[chat->met_count++] = *c;
}

/* Copies the scene's characters (agent id, display name, resource name). */
static void load_characters(struct chat *chat) {
    size_t count = 0, i;
    if (iw_session_character_count(chat->session, &count) != IW_OK) return;
    chat->character_count = 0;
    for (i = 0; i < count && chat->character_count < MAX_CHARACTERS; i++) {
        struct iw_character c;
        struct character *mine = &chat->characters[chat->character_count];
        if (iw_session_character_at(chat->session, i, &c) != IW_OK) continue;
        snprintf(mine->id, sizeof mine->id, "%s", c.id.ptr);
        snprintf(mine->name, sizeof mine->name, "%s",
                 c.display_name.len > 0 ? c.display_name.ptr : c.id.ptr);
        snprintf(mine->resource, sizeof mine->resource, "%s", c.resource_name.ptr);
        chat->character_count++;
        remember(chat, mine);
    }
}

static const char *name_of(const struct chat *chat, iw_str id) {
    size_t i;
    for (i = 0; i < chat->character_count; i++) {
        if (strcmp(chat->characters[i].id, id.ptr) == 0) return chat->characters[i].name;
    }
    return id.ptr;
}

static int same_ignoring_case(const char *a, const char *b) {
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
    }
    return *a == *b;
}

static int starts_ignoring_case(const char *s, const char *prefix) {
    for (; *prefix != '\0'; s++, prefix++) {
        if (tolower((unsigned char)*s) != tolower((unsigned char)*prefix)) return 0;
    }
    return 1;
}

/* Does a word of `name` start with `part` ("holt" in "Sergeant Holt")? */
static int word_starts_ignoring_case(const char *name, const char *part) {
    const char *word = name;
    if (*part == '\0') return 0;
    while (word != NULL) {
        if (starts_ignoring_case(word, part)) return 1;
        word = strchr(word, ' ');
        if (word != NULL) word++;
    }
    return 0;
}

/* The character `who` names: its display name (any case), agent id, resource
 * name or the resource name's last part ("innkeeper"); else the one character
 * with a word of its display name starting with it ("sergeant", "holt").
 * NULL if none or ambiguous. */
static const struct character *find_in(const struct character *list, size_t count,
                                       const char *who) {
    const struct character *prefixed = NULL;
    size_t i, prefixes = 0;
    for (i = 0; i < count; i++) {
        const struct character *c = &list[i];
        const char *slash = strrchr(c->resource, '/');
        if (same_ignoring_case(c->name, who) || strcmp(c->id, who) == 0 ||
            strcmp(c->resource, who) == 0 || (slash != NULL && same_ignoring_case(slash + 1, who))) {
            return c;
        }
        if (word_starts_ignoring_case(c->name, who)) {
            prefixed = c;
            prefixes++;
        }
    }
    return prefixes == 1 ? prefixed : NULL;
}

/* The character of the scene `who` names (see find_in). */
static const struct character *find_character(const struct chat *chat, const char *who) {
    return find_in(chat->characters, chat->character_count, who);
}

static void print_parameters(const iw_parameter *params, size_t count) {
    size_t i;
    for (i = 0; i < count; i++) printf(" %s=%s", params[i].name.ptr, params[i].value.ptr);
}

/* An error from the session. The message names the gRPC status already
 * ("16 UNAUTHENTICATED: ..."); the same error repeated by reconnect attempts
 * is shown once. */
static void show_error(struct chat *chat, const struct iw_error *e) {
    const char *message = e->message.len > 0 ? e->message.ptr : "unknown error";
    int repeated = strcmp(message, chat->last_error) == 0;
    if (e->will_retry) {
        if (!repeated) printf("  [error: %s; reconnecting]\n", message);
    } else if (repeated) {
        printf("  [giving up]\n");
    } else {
        printf("  [error: %s]\n", message);
    }
    snprintf(chat->last_error, sizeof chat->last_error, "%s", message);
}

static void print_current(struct chat *chat, const char *prefix) {
    struct iw_character c;
    if (iw_session_current_character(chat->session, &c) == IW_OK) {
        printf("%s%s\n", prefix, c.display_name.len > 0 ? c.display_name.ptr : c.id.ptr);
    }
}

static void print_characters(const struct chat *chat) {
    size_t i;
    for (i = 0; i < chat->character_count; i++) {
        printf("%s%s", i == 0 ? "" : ", ", chat->characters[i].name);
    }
}

/* The answer to /like, /dislike or /save. */
static void call_done(struct chat *chat, const struct iw_call_result *r) {
    FILE *f;
    if (r->grpc_code != 0) {
        printf("  [the call failed: %s]\n", r->message.ptr);
        return;
    }
    switch (r->call) {
    case IW_CALL_LIKE:
        printf("  [liked %s's reply]\n", chat->last_reply_by);
        break;
    case IW_CALL_DISLIKE:
        printf("  [disliked %s's reply]\n", chat->last_reply_by);
        break;
    case IW_CALL_SESSION_STATE:
        f = fopen(chat->save_path, "wb");
        if (f == NULL || fwrite(r->data, 1, r->data_len, f) != r->data_len) {
            printf("  [could not write %s: %s]\n", chat->save_path, strerror(errno));
        } else {
            printf("  [saved %zu bytes to %s; INWORLD_CONTINUE=%s continues from here]\n",
                   r->data_len, chat->save_path, chat->save_path);
        }
        if (f != NULL) fclose(f);
        break;
    default:
        break;
    }
}

/* Shows one packet; ignores kinds it does not know (as wrappers must). */
static void handle(struct chat *chat, const struct iw_packet *p) {
    int from_character = p->source.kind == IW_ACTOR_CHARACTER;
    if (chat->waiting && strcmp(p->ids.interaction_id.ptr, chat->waiting_for) == 0) {
        chat->last_activity = now_s();
    }
    switch (p->kind) {
    case IW_PACKET_TEXT:
        if (from_character && p->data.text.text.len > 0) {
            printf("%s: %s\n", name_of(chat, p->source.name), p->data.text.text.ptr);
            snprintf(chat->last_reply, sizeof chat->last_reply, "%s", p->ids.interaction_id.ptr);
            snprintf(chat->last_reply_by, sizeof chat->last_reply_by, "%s",
                     name_of(chat, p->source.name));
        }
        break;
    case IW_PACKET_EMOTION:
        printf("  [emotion %s, %s]\n", iw_emotion_behavior_name(p->data.emotion.behavior),
               iw_emotion_strength_name(p->data.emotion.strength));
        break;
    case IW_PACKET_TRIGGER:
        printf("  [trigger %s", p->data.custom.name.ptr);
        print_parameters(p->data.custom.parameters, p->data.custom.parameter_count);
        printf("]\n");
        break;
    case IW_PACKET_TASK:
        printf("  [task %s", p->data.custom.name.ptr);
        print_parameters(p->data.custom.parameters, p->data.custom.parameter_count);
        printf("]\n");
        break;
    case IW_PACKET_NARRATED_ACTION:
        if (from_character) {
            printf("  *%s %s*\n", name_of(chat, p->source.name), p->data.narrated_action.content.ptr);
        }
        break;
    case IW_PACKET_SCENE_STATUS:
        load_characters(chat);
        if (chat->ready && chat->waiting_scene &&
            (strcmp(p->data.scene.name.ptr, chat->awaited) == 0 ||
             find_in(chat->characters, chat->character_count, chat->awaited) != NULL)) {
            printf("  [scene %s: ", p->data.scene.name.ptr);
            print_characters(chat);
            printf("]\n");
            print_current(chat, "Talking to ");
            chat->waiting_scene = 0;
        }
        break;
    case IW_PACKET_CONTROL:
        if (p->data.control.action == IW_CONTROL_INTERACTION_END && chat->waiting &&
            strcmp(p->ids.interaction_id.ptr, chat->waiting_for) == 0) {
            chat->waiting = 0;
        } else if (p->data.control.action == IW_CONTROL_WARNING) {
            /* e.g. an added character the workspace does not have */
            printf("  [warning: %s]\n", p->data.control.description.ptr);
            chat->waiting_scene = 0;
        }
        break;
    case IW_PACKET_CALL_RESULT:
        if (p->data.call_result.request_id == chat->waiting_call) {
            call_done(chat, &p->data.call_result);
            chat->waiting_call = 0;
        }
        break;
    case IW_PACKET_ERROR:
        show_error(chat, &p->data.error);
        /* A refused scene change or addition: the scene stays as it was. */
        chat->waiting_scene = 0;
        if (!p->data.error.will_retry) chat->waiting = 0;
        break;
    case IW_PACKET_CONNECTION:
        if (p->data.connection.state == IW_STATE_READY) {
            chat->ready = 1;
            chat->last_error[0] = '\0';
        } else if (p->data.connection.state == IW_STATE_CLOSED) {
            chat->closed = 1;
            chat->waiting = 0;
        }
        break;
    case IW_PACKET_SEND_FAILED:
        /* What was sent, and may never be answered: stop waiting for it. */
        if (chat->waiting && strcmp(p->ids.interaction_id.ptr, chat->waiting_for) == 0) {
            printf("  [not sent%s: %s]\n",
                   p->data.send_failed.reason == IW_SEND_MAYBE_SENT ? " (or lost with the connection)" : "",
                   p->data.send_failed.message.ptr);
            chat->waiting = 0;
        } else {
            printf("  [not sent: %s]\n", p->data.send_failed.message.ptr);
        }
        break;
    case IW_PACKET_OVERFLOW:
        printf("  [%llu packets dropped]\n", (unsigned long long)p->data.overflow.dropped);
        break;
    default:
        break;
    }
}

/* One frame of the game loop: drain what arrived. */
static void frame(struct chat *chat) {
    struct iw_packet packets[32];
    size_t count = 0, i;
    TRY(chat, iw_session_poll(chat->session, packets, 32, &count));
    for (i = 0; i < count; i++) handle(chat, &packets[i]);
    fflush(stdout);
}

/* Waits up to one frame for stdin and reads what is there (never blocks
 * longer). With nothing to watch, just sleeps the frame. */
static void read_input(struct input *in) {
    struct pollfd pfd;
    ssize_t n;
    if (in->eof || in->len == sizeof in->buf) {
        sleep_ms(FRAME_MS);
        return;
    }
    pfd.fd = STDIN_FILENO;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, FRAME_MS) <= 0) return;
    n = read(STDIN_FILENO, in->buf + in->len, sizeof in->buf - in->len);
    if (n > 0) {
        in->len += (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        in->eof = 1;
    }
}

/* Takes the next complete line (or the last, unterminated one at EOF) into
 * `line`, without its newline. Returns 0 when there is none yet. */
static int next_line(struct input *in, char *line, size_t cap) {
    char *nl = memchr(in->buf, '\n', in->len);
    size_t take, copy;
    if (nl != NULL) {
        take = (size_t)(nl - in->buf) + 1;
        copy = take - 1;
    } else if (in->len > 0 && (in->eof || in->len == sizeof in->buf)) {
        take = copy = in->len;
    } else {
        return 0;
    }
    if (copy >= cap) copy = cap - 1;
    memcpy(line, in->buf, copy);
    line[copy] = '\0';
    line[strcspn(line, "\r")] = '\0';
    memmove(in->buf, in->buf + take, in->len - take);
    in->len -= take;
    return 1;
}

/* Is `/quit` among the lines waiting to be handled? */
static int quit_pending(const struct input *in) {
    size_t start = 0;
    while (start < in->len) {
        const char *nl = memchr(in->buf + start, '\n', in->len - start);
        size_t end = nl != NULL ? (size_t)(nl - in->buf) : in->len;
        size_t len = end - start;
        if (nl == NULL && !in->eof) return 0; /* still being typed */
        if (len > 0 && in->buf[end - 1] == '\r') len--;
        if (len == 5 && memcmp(in->buf + start, "/quit", 5) == 0) return 1;
        start = end + 1;
    }
    return 0;
}

static void print_commands(void) {
    printf("commands: /trigger NAME [key=value ...], /action TEXT, /character NAME, "
           "/talk A B ..., /talk, /next, /scene NAME, /add NAME, /remove NAME, /like, "
           "/dislike [COMMENT], /save [FILE], /help, /quit\n");
}

/* "/trigger NAME k=v k=v" */
static iw_result send_trigger(struct chat *chat, char *args, struct iw_sent_ids *ids, int *sent) {
    iw_key_value params[MAX_PARAMS];
    size_t count = 0;
    char *name = strtok(args, " \t");
    char *word;
    if (name == NULL) {
        printf("usage: /trigger NAME [key=value ...]\n");
        return IW_OK;
    }
    while ((word = strtok(NULL, " \t")) != NULL && count < MAX_PARAMS) {
        char *eq = strchr(word, '=');
        if (eq == NULL) continue;
        *eq = '\0';
        params[count].key = word;
        params[count].value = eq + 1;
        count++;
    }
    *sent = 1;
    if (chat->conversation[0] != '\0') {
        return iw_session_send_trigger_in(chat->session, chat->conversation, name, params, count,
                                          NULL, ids);
    }
    return iw_session_send_trigger(chat->session, name, params, count, ids);
}

/* "/character NAME" */
static iw_result set_character(struct chat *chat, const char *who) {
    const struct character *c;
    iw_result r;
    while (*who == ' ' || *who == '\t') who++;
    c = find_character(chat, who);
    if (c == NULL) {
        printf("no character \"%s\" here; characters: ", who);
        print_characters(chat);
        printf("\n");
        return IW_OK;
    }
    r = iw_session_set_character(chat->session, c->id);
    if (r == IW_OK) print_current(chat, "Now talking to ");
    return r;
}

static const char *skip_spaces(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

/* A resource name from what the player typed: as is when it has a '/', else
 * `kind` ("scenes", "characters") `id` of the session's workspace. */
static void resource_name(const struct chat *chat, const char *kind, const char *id, char *out,
                          size_t cap) {
    if (strchr(id, '/') != NULL) {
        snprintf(out, cap, "%s", id);
    } else {
        snprintf(out, cap, "workspaces/%s/%s/%s", chat->workspace, kind, id);
    }
}

/* "/talk A B ...": a group conversation with those characters; "/talk" ends it. */
static iw_result talk(struct chat *chat, char *args) {
    const char *ids[MAX_CHARACTERS];
    const char *names[MAX_CHARACTERS];
    size_t count = 0, len = 0, i;
    char *word;
    iw_result r;
    for (word = strtok(args, " \t"); word != NULL; word = strtok(NULL, " \t")) {
        const struct character *c = find_character(chat, word);
        if (c == NULL) {
            printf("no character \"%s\" here; characters: ", word);
            print_characters(chat);
            printf("\n");
            return IW_OK;
        }
        if (count < MAX_CHARACTERS) {
            ids[count] = c->id;
            names[count] = c->name;
            count++;
        }
    }
    if (chat->conversation[0] != '\0') {
        r = iw_session_end_conversation(chat->session, chat->conversation);
        chat->conversation[0] = '\0';
        if (r != IW_OK) return r;
    }
    if (count == 0) {
        print_current(chat, "Back to one-to-one: talking to ");
        return IW_OK;
    }
    r = iw_session_start_conversation(chat->session, ids, count, 1, chat->conversation,
                                      sizeof chat->conversation, &len);
    if (r != IW_OK) return r;
    printf("Talking with ");
    for (i = 0; i < count; i++) printf("%s%s", i == 0 ? "" : (i + 1 == count ? " and " : ", "), names[i]);
    printf(" (/next: the next one speaks; /talk: back to one-to-one)\n");
    return IW_OK;
}

/* "/remove NAME" */
static iw_result remove_character(struct chat *chat, const char *who) {
    const struct character *c = find_character(chat, who);
    char name[128];
    iw_result r;
    if (c == NULL) {
        printf("no character \"%s\" here; characters: ", who);
        print_characters(chat);
        printf("\n");
        return IW_OK;
    }
    snprintf(name, sizeof name, "%s", c->name);
    {
        const char *ids[1];
        ids[0] = c->id;
        r = iw_session_remove_characters(chat->session, ids, 1);
    }
    if (r != IW_OK) return r;
    load_characters(chat); /* gone at once */
    printf("  [%s left; characters: ", name);
    print_characters(chat);
    printf("]\n");
    print_current(chat, "Talking to ");
    return IW_OK;
}

/* Handles one line of input; returns 0 to quit. */
static int command(struct chat *chat, char *line) {
    struct iw_sent_ids ids;
    iw_result r = IW_OK;
    int sent = 0;
    int group = chat->conversation[0] != '\0';
    uint64_t request = 0;
    char name[512];
    if (line[0] == '\0') return 1;
    iw_sent_ids_init(&ids);
    if (strcmp(line, "/quit") == 0) {
        return 0;
    } else if (strncmp(line, "/trigger ", 9) == 0) {
        r = send_trigger(chat, line + 9, &ids, &sent);
    } else if (strncmp(line, "/action ", 8) == 0) {
        r = group ? iw_session_send_narrated_action_in(chat->session, chat->conversation, line + 8, &ids)
                  : iw_session_send_narrated_action(chat->session, line + 8, &ids);
        sent = 1;
    } else if (strncmp(line, "/character ", 11) == 0) {
        r = set_character(chat, line + 11);
    } else if (strcmp(line, "/talk") == 0 || strncmp(line, "/talk ", 6) == 0) {
        r = talk(chat, line + 5);
    } else if (strcmp(line, "/next") == 0) {
        if (!group) {
            printf("/next lets the next character of a group speak: start one with /talk A B\n");
        } else {
            r = iw_session_next_turn(chat->session, chat->conversation, &ids);
            sent = 1;
        }
    } else if (strncmp(line, "/scene ", 7) == 0) {
        resource_name(chat, "scenes", skip_spaces(line + 7), name, sizeof name);
        r = iw_session_change_scene(chat->session, name, NULL);
        if (r == IW_OK) {
            snprintf(chat->awaited, sizeof chat->awaited, "%s", name);
            chat->conversation[0] = '\0'; /* conversations start anew in the new scene */
            chat->waiting_scene = 1;
        }
    } else if (strncmp(line, "/add ", 5) == 0) {
        const char *names[1];
        const char *who = skip_spaces(line + 5);
        const struct character *met = find_in(chat->met, chat->met_count, who);
        if (met != NULL) {
            snprintf(name, sizeof name, "%s", met->resource);
        } else {
            resource_name(chat, "characters", who, name, sizeof name);
        }
        names[0] = name;
        r = iw_session_add_characters(chat->session, names, 1);
        if (r == IW_OK) {
            snprintf(chat->awaited, sizeof chat->awaited, "%s", name);
            chat->waiting_scene = 1;
        }
    } else if (strncmp(line, "/remove ", 8) == 0) {
        r = remove_character(chat, skip_spaces(line + 8));
    } else if (strcmp(line, "/like") == 0 || strcmp(line, "/dislike") == 0 ||
               strncmp(line, "/dislike ", 9) == 0) {
        if (chat->last_reply[0] == '\0') {
            printf("no reply yet\n");
        } else if (line[1] == 'l') {
            r = iw_session_like(chat->session, chat->last_reply, NULL, &request);
        } else {
            r = iw_session_dislike(chat->session, chat->last_reply, NULL, NULL, 0,
                                   line[8] == ' ' ? skip_spaces(line + 9) : NULL, &request);
        }
    } else if (strcmp(line, "/save") == 0 || strncmp(line, "/save ", 6) == 0) {
        const char *path = line[5] == ' ' ? skip_spaces(line + 6) : "";
        snprintf(chat->save_path, sizeof chat->save_path, "%s",
                 *path != '\0' ? path : "inworld-session.state");
        r = iw_session_request_state(chat->session, &request);
    } else if (line[0] == '/') {
        print_commands();
    } else if (group) {
        r = iw_session_send_text_in(chat->session, chat->conversation, line, &ids);
        sent = 1;
    } else {
        r = iw_session_send_text(chat->session, line, &ids);
        sent = 1;
    }
    if (r != IW_OK) {
        report(line, r);
    } else if (sent && ids.interaction_id[0] != '\0') {
        chat->waiting = 1;
        memcpy(chat->waiting_for, ids.interaction_id, sizeof chat->waiting_for);
    } else if (request != 0) {
        chat->waiting_call = request;
    }
    chat->last_activity = now_s();
    fflush(stdout);
    return 1;
}

/* Something is awaited before the next line is read. */
static int busy(const struct chat *chat) {
    return chat->waiting || chat->waiting_scene || chat->waiting_call != 0;
}

/* INWORLD_CONTINUE=FILE: the state a /save wrote, read into `*bytes`
 * (malloc'd). Returns 0 if unreadable. */
static int read_state(const char *path, uint8_t **bytes, size_t *len) {
    FILE *f = fopen(path, "rb");
    long size;
    if (f == NULL) return 0;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return 0;
    }
    *bytes = malloc((size_t)size);
    if (*bytes == NULL || fread(*bytes, 1, (size_t)size, f) != (size_t)size) {
        free(*bytes);
        *bytes = NULL;
        fclose(f);
        return 0;
    }
    fclose(f);
    *len = (size_t)size;
    return 1;
}

static double reply_timeout_from_env(void) {
    const char *s = getenv("INWORLD_CHAT_REPLY_TIMEOUT");
    char *end = NULL;
    double v;
    if (s == NULL || *s == '\0') return DEFAULT_REPLY_TIMEOUT_S;
    v = strtod(s, &end);
    return (end != s && v > 0) ? v : DEFAULT_REPLY_TIMEOUT_S;
}

int main(void) {
    static struct chat chat;
    static struct input in;
    struct iw_client_config config;
    const char *host = getenv("INWORLD_HOST");
    const char *key = getenv("INWORLD_KEY");
    const char *secret = getenv("INWORLD_SECRET");
    const char *scene = getenv("INWORLD_SCENE");
    const char *continue_from = getenv("INWORLD_CONTINUE");
    uint8_t *state = NULL;
    size_t state_len = 0;
    int interactive = isatty(STDIN_FILENO);
    int prompted = 0;
    char address[128], local_scene[256], line[LINE_MAX_LEN];
    size_t len = 0;
    double connect_deadline;

    chat.reply_timeout_s = reply_timeout_from_env();
    TRY(&chat, iw_client_config_init(&config));
    if (host != NULL) {
        if (key == NULL || secret == NULL || scene == NULL) {
            fprintf(stderr, "with INWORLD_HOST, set INWORLD_KEY, INWORLD_SECRET and INWORLD_SCENE "
                            "(workspaces/<ws>/scenes/<scene>) too\n");
            return 1;
        }
        config.host = host;
        config.api_key = key;
        config.api_secret = secret;
        config.scene = scene;
    } else {
        /* Offline: the local engine, in this process, with its demo scene. */
        struct iw_engine_config engine_config;
        TRY(&chat, iw_engine_config_init(&engine_config));
        engine_config.scene = "default";
        engine_config.pacing = interactive ? IW_PACING_HUMAN : IW_PACING_INSTANT;
        const char *llm_url = getenv("INWORLD_LLM_URL");
        if (llm_url != NULL && *llm_url != '\0') {
            const char *llm_model = getenv("INWORLD_LLM_MODEL");
            engine_config.brain = IW_BRAIN_LLM;
            engine_config.llm_url = llm_url;
            engine_config.llm_model = llm_model != NULL && *llm_model != '\0' ? llm_model : "llama3.2";
            engine_config.llm_api_key = getenv("INWORLD_LLM_API_KEY");
            printf("(characters played by %s at %s)\n", engine_config.llm_model, llm_url);
        }
        TRY(&chat, iw_engine_start(&engine_config, &chat.engine));
        TRY(&chat, iw_engine_address(chat.engine, address, sizeof address, &len));
        TRY(&chat, iw_engine_scene_name(chat.engine, 0, local_scene, sizeof local_scene, &len));
        config.host = address;
        config.tls = IW_TLS_OFF;
        config.api_key = "test-api-key";
        config.api_secret = "test-api-secret";
        config.scene = local_scene;
        config.scene_timeout_ms = LOCAL_SCENE_TIMEOUT_MS;
        printf("(local engine at %s)\n", address);
    }
    config.user_name = "Traveler";
    config.capabilities = IW_CAP_DEFAULT | IW_CAP_EMOTIONS | IW_CAP_NARRATED_ACTIONS;
    if (continue_from != NULL && *continue_from != '\0') {
        if (!read_state(continue_from, &state, &state_len)) {
            fprintf(stderr, "cannot read the saved session %s (INWORLD_CONTINUE)\n", continue_from);
            cleanup(&chat);
            return 1;
        }
        config.continuation_state = state;
        config.continuation_state_len = state_len;
        printf("(continuing the session saved in %s)\n", continue_from);
    }
    /* The workspace: "workspaces/<ws>/..." */
    sscanf(config.scene, "workspaces/%63[^/]", chat.workspace);
    TRY(&chat, iw_client_new(IW_ABI_VERSION, &config, &chat.client));
    free(state); /* copied by iw_client_new */
    TRY(&chat, iw_session_open(chat.client, &chat.session));

    printf("Connecting to %s...\n", config.scene);
    fflush(stdout);
    /* The library gives up by itself (scene timeout, reconnect limits) and
     * then closes the session; the deadline here only guards against a hang. */
    connect_deadline = now_s() + config.scene_timeout_ms / 1000.0 + 60.0;
    while (!chat.ready && !chat.closed && now_s() < connect_deadline) {
        frame(&chat);
        sleep_ms(FRAME_MS);
    }
    if (!chat.ready) {
        fprintf(stderr, "could not connect to %s\n", config.host);
        cleanup(&chat);
        return 1;
    }
    load_characters(&chat);
    printf("Characters: ");
    print_characters(&chat);
    printf("\n");
    print_current(&chat, "Talking to ");
    printf("Type to talk; /trigger NAME [key=value ...], /action TEXT, /character NAME, "
           "/talk A B, /help, /quit.\n");
    fflush(stdout);

    for (;;) {
        frame(&chat);
        if (chat.closed) {
            printf("(the session ended)\n");
            break;
        }
        if (busy(&chat) && now_s() - chat.last_activity > chat.reply_timeout_s) {
            printf("  (no reply for %.0f s; giving up on it)\n", chat.reply_timeout_s);
            chat.waiting = 0;
            chat.waiting_scene = 0;
            chat.waiting_call = 0;
        }
        /* At a terminal, /quit (or Ctrl-D) leaves at once, even mid-reply. */
        if (interactive && (quit_pending(&in) || (in.eof && in.len == 0))) break;
        if (!busy(&chat)) {
            if (next_line(&in, line, sizeof line)) {
                prompted = 0;
                if (!interactive) printf("> %s\n", line); /* echo scripted input */
                if (!command(&chat, line)) break;
                continue;
            }
            if (in.eof) break; /* the script is over and so is its last reply */
            if (interactive && !prompted) {
                printf("> ");
                fflush(stdout);
                prompted = 1;
            }
        }
        read_input(&in);
    }
    printf("Bye.\n");
    cleanup(&chat);
    return 0;
}
