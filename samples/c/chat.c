/* chat.c: a console chat with Inworld characters through the C API.
 *
 * By default it starts the local engine in-process with its demo scene (a
 * tavern), so it runs offline with no account. With INWORLD_HOST, INWORLD_KEY
 * and INWORLD_SECRET (and optionally INWORLD_SCENE) set, it talks to that
 * engine instead.
 *
 * Type a line to talk. Commands:
 *   /trigger NAME [key=value ...]   send a trigger (with parameters)
 *   /action TEXT                    narrate an action ("waves")
 *   /character NAME                 talk to another character of the scene
 *   /quit                           leave
 *
 * Replies stream in as they arrive: the game loop polls the session once per
 * ~16 ms frame. When stdin is not a terminal (a script piped in), each line
 * waits for the reply's INTERACTION_END before the next is read, so scripted
 * runs are deterministic.
 *
 * Build (from the repository root, after `cargo build`):
 *   gcc -std=c99 -Iinclude samples/c/chat.c -Ltarget/debug \
 *       -Wl,-rpath,$PWD/target/debug -linworld -o chat && ./chat
 * or: make -C samples/c run
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

/* This program starts the local engine (iw_engine_*), which the header
 * declares only for code that asks for it. */
#define INWORLD_ENGINE 1
#include "inworld.h"

#define FRAME_MS 16
#define REPLY_TIMEOUT_S 60.0
#define MAX_CHARACTERS 32
#define MAX_PARAMS 8

struct character {
    char id[128];
    char name[128];
};

struct chat {
    struct iw_engine *engine;
    struct iw_client *client;
    struct iw_session *session;
    struct character characters[MAX_CHARACTERS];
    size_t character_count;
    int ready;
    int closed;
    int waiting;                /* a reply is expected */
    char waiting_for[37];       /* its interaction id */
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

/* Copies the scene's characters (agent id -> display name). */
static void load_characters(struct chat *chat) {
    size_t count = 0, i;
    if (iw_session_character_count(chat->session, &count) != IW_OK) return;
    chat->character_count = 0;
    for (i = 0; i < count && i < MAX_CHARACTERS; i++) {
        struct iw_character c;
        if (iw_session_character_at(chat->session, i, &c) != IW_OK) continue;
        snprintf(chat->characters[i].id, sizeof chat->characters[i].id, "%s", c.id.ptr);
        snprintf(chat->characters[i].name, sizeof chat->characters[i].name, "%s",
                 c.display_name.len > 0 ? c.display_name.ptr : c.id.ptr);
        chat->character_count++;
    }
}

static const char *name_of(const struct chat *chat, iw_str id) {
    size_t i;
    for (i = 0; i < chat->character_count; i++) {
        if (strcmp(chat->characters[i].id, id.ptr) == 0) return chat->characters[i].name;
    }
    return id.ptr;
}

static void print_parameters(const iw_parameter *params, size_t count) {
    size_t i;
    for (i = 0; i < count; i++) printf(" %s=%s", params[i].name.ptr, params[i].value.ptr);
}

/* Shows one packet; ignores kinds it does not know (as wrappers must). */
static void handle(struct chat *chat, const struct iw_packet *p) {
    int from_character = p->source.kind == IW_ACTOR_CHARACTER;
    switch (p->kind) {
    case IW_PACKET_TEXT:
        if (from_character && p->data.text.text.len > 0) {
            printf("%s: %s\n", name_of(chat, p->source.name), p->data.text.text.ptr);
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
        break;
    case IW_PACKET_CONTROL:
        if (p->data.control.action == IW_CONTROL_INTERACTION_END && chat->waiting &&
            strcmp(p->ids.interaction_id.ptr, chat->waiting_for) == 0) {
            chat->waiting = 0;
        }
        break;
    case IW_PACKET_ERROR:
        printf("  [error %d: %s%s]\n", p->data.error.grpc_code, p->data.error.message.ptr,
               p->data.error.will_retry ? " (reconnecting)" : "");
        if (!p->data.error.will_retry) chat->waiting = 0;
        break;
    case IW_PACKET_CONNECTION:
        if (p->data.connection.state == IW_STATE_READY) {
            chat->ready = 1;
        } else if (p->data.connection.state == IW_STATE_CLOSED) {
            chat->closed = 1;
            chat->waiting = 0;
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

static void print_current(struct chat *chat, const char *prefix) {
    struct iw_character c;
    if (iw_session_current_character(chat->session, &c) == IW_OK) {
        printf("%s%s\n", prefix, c.display_name.len > 0 ? c.display_name.ptr : c.id.ptr);
    }
}

/* "/trigger NAME k=v k=v" */
static iw_result send_trigger(struct chat *chat, char *args, struct iw_sent_ids *ids) {
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
    return iw_session_send_trigger(chat->session, name, params, count, ids);
}

/* Handles one line of input; returns 0 to quit. */
static int command(struct chat *chat, char *line) {
    struct iw_sent_ids ids;
    iw_result r = IW_OK;
    int sent = 0;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0') return 1;
    iw_sent_ids_init(&ids);
    if (strcmp(line, "/quit") == 0) {
        return 0;
    } else if (strncmp(line, "/trigger ", 9) == 0) {
        r = send_trigger(chat, line + 9, &ids);
        sent = 1;
    } else if (strncmp(line, "/action ", 8) == 0) {
        r = iw_session_send_narrated_action(chat->session, line + 8, &ids);
        sent = 1;
    } else if (strncmp(line, "/character ", 11) == 0) {
        r = iw_session_set_character(chat->session, line + 11);
        if (r == IW_OK) print_current(chat, "Now talking to ");
    } else if (line[0] == '/') {
        printf("commands: /trigger NAME [key=value ...], /action TEXT, /character NAME, /quit\n");
    } else {
        r = iw_session_send_text(chat->session, line, &ids);
        sent = 1;
    }
    if (r != IW_OK) {
        report(line, r);
    } else if (sent && ids.interaction_id[0] != '\0') {
        chat->waiting = 1;
        memcpy(chat->waiting_for, ids.interaction_id, sizeof chat->waiting_for);
    }
    fflush(stdout);
    return 1;
}

/* Is a line waiting on stdin (a terminal)? Waits up to one frame. */
static int stdin_ready(void) {
    fd_set fds;
    struct timeval tv;
    FD_ZERO(&fds);
    FD_SET(STDIN_FILENO, &fds);
    tv.tv_sec = 0;
    tv.tv_usec = FRAME_MS * 1000;
    return select(STDIN_FILENO + 1, &fds, NULL, NULL, &tv) > 0;
}

int main(void) {
    struct chat chat;
    struct iw_client_config config;
    const char *host = getenv("INWORLD_HOST");
    const char *key = getenv("INWORLD_KEY");
    const char *secret = getenv("INWORLD_SECRET");
    const char *scene = getenv("INWORLD_SCENE");
    int interactive = isatty(STDIN_FILENO);
    char address[128], local_scene[256], line[1024];
    size_t len = 0;
    double deadline;

    memset(&chat, 0, sizeof chat);
    TRY(&chat, iw_client_config_init(&config));
    if (host != NULL && key != NULL && secret != NULL) {
        config.host = host;
        config.api_key = key;
        config.api_secret = secret;
        config.scene = scene;
        if (scene == NULL) {
            fprintf(stderr, "set INWORLD_SCENE (workspaces/<ws>/scenes/<scene>) with INWORLD_HOST\n");
            return 1;
        }
    } else {
        /* Offline: the local engine, in this process, with its demo scene. */
        struct iw_engine_config engine_config;
        TRY(&chat, iw_engine_config_init(&engine_config));
        engine_config.scene = "default";
        engine_config.pacing = interactive ? IW_PACING_HUMAN : IW_PACING_INSTANT;
        TRY(&chat, iw_engine_start(&engine_config, &chat.engine));
        TRY(&chat, iw_engine_address(chat.engine, address, sizeof address, &len));
        TRY(&chat, iw_engine_scene_name(chat.engine, 0, local_scene, sizeof local_scene, &len));
        config.host = address;
        config.tls = IW_TLS_OFF;
        config.api_key = "test-api-key";
        config.api_secret = "test-api-secret";
        config.scene = local_scene;
        printf("(local engine at %s)\n", address);
    }
    config.user_name = "Traveler";
    config.capabilities = IW_CAP_DEFAULT | IW_CAP_EMOTIONS | IW_CAP_NARRATED_ACTIONS;
    TRY(&chat, iw_client_new(IW_ABI_VERSION, &config, &chat.client));
    TRY(&chat, iw_session_open(chat.client, &chat.session));

    printf("Connecting to %s...\n", config.scene);
    fflush(stdout);
    deadline = now_s() + REPLY_TIMEOUT_S;
    while (!chat.ready && !chat.closed && now_s() < deadline) {
        frame(&chat);
        sleep_ms(FRAME_MS);
    }
    if (!chat.ready) {
        fprintf(stderr, "could not connect\n");
        cleanup(&chat);
        return 1;
    }
    load_characters(&chat);
    {
        size_t i;
        printf("Characters:");
        for (i = 0; i < chat.character_count; i++) printf(" %s", chat.characters[i].name);
        printf("\n");
    }
    print_current(&chat, "Talking to ");
    printf("Type to talk; /trigger NAME, /action TEXT, /character NAME, /quit.\n");
    fflush(stdout);

    for (;;) {
        frame(&chat);
        if (chat.closed) break;
        if (chat.waiting && !interactive) {
            /* Scripted input: finish this reply before reading on. */
            if (now_s() > deadline) {
                printf("  (no reply)\n");
                chat.waiting = 0;
            } else {
                sleep_ms(FRAME_MS);
                continue;
            }
        }
        if (interactive) {
            if (!chat.waiting) {
                static int prompted = 0;
                if (!prompted) {
                    printf("> ");
                    fflush(stdout);
                    prompted = 1;
                }
                if (!stdin_ready()) continue;
                prompted = 0;
            } else {
                sleep_ms(FRAME_MS);
                continue;
            }
        }
        if (fgets(line, sizeof line, stdin) == NULL) break;
        if (!interactive) printf("> %s", line); /* echo scripted input */
        if (!command(&chat, line)) break;
        deadline = now_s() + REPLY_TIMEOUT_S;
    }
    printf("Bye.\n");
    cleanup(&chat);
    return 0;
}
