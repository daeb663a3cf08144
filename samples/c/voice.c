/* voice.c: a voice chat with an Inworld character through the C API.
 *
 *   voice [--rate HZ] [--channels 1|2] [--format s16|f32] [--out PREFIX]
 *         [--fast] PLAYER.wav [PLAYER.wav ...]
 *
 * Each WAV file (16-bit or float, mono or stereo, 8-48 kHz, at its own rate)
 * is the player's microphone: it is streamed through the library in 10 ms
 * pieces, in real time, with a pause after each file. The library's voice
 * detection hears where the player speaks, starts and ends the audio
 * sessions by itself and sends only the speech. Each character reply is
 * pulled from the library's playback stream, as an audio callback would,
 * in the format asked (default 48 kHz stereo float) and written to
 * PREFIX-1.wav, PREFIX-2.wav, ... (default PREFIX: reply). It prints what
 * the player was heard saying, what the character says, and each reply's
 * viseme timeline as it was played (seconds into the reply, viseme name).
 * Beside each reply's WAV, PREFIX-N.csv holds the face read after each
 * buffer (iw_playback_face): a column of seconds into the reply (where the
 * buffer began), then the 52 ARKit blendshape weights, named in the header
 * row; ready to plot.
 *
 * --fast streams the files and pulls the replies as fast as the library
 * takes them rather than in real time (for tests; the result is the same).
 *
 * By default it starts the local engine in-process with its demo scene (a
 * tavern), so it runs offline. With INWORLD_HOST, INWORLD_KEY,
 * INWORLD_SECRET and INWORLD_SCENE all set, it talks to that engine instead.
 *
 * Speech to try it with (Debian's espeak-ng and sox):
 *   espeak-ng -w hi.wav "Good evening, what do you recommend?"
 *   sox hi.wav -r 44100 -c 2 hi44.wav
 *   cargo build && make -C samples/c voice && samples/c/voice hi44.wav
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INWORLD_ENGINE 1
#include "inworld.h"

/* One audio callback's worth: 10 ms of microphone, 512 frames of playback. */
#define MIC_MS 10
#define PLAYBACK_FRAMES 512
/* The pause after each file: longer than voice detection's end of speech. */
#define PAUSE_MS 1500
#define LOCAL_SCENE_TIMEOUT_MS 120000u
/* Only catches a hang: a reply that stops arriving for this long. */
#define REPLY_TIMEOUT_S 120.0
#define MAX_VISEMES 4096

/* ---- WAV files ---------------------------------------------------------- */

struct wav {
    uint32_t rate;
    uint16_t channels;
    int is_float;        /* 32-bit float samples, else 16-bit */
    size_t frames;
    void *samples;       /* int16_t or float, interleaved */
};

static uint32_t le32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static uint16_t le16(const unsigned char *b) { return (uint16_t)(b[0] | b[1] << 8); }

/* Reads a PCM 16-bit or IEEE float 32-bit WAV file; 0 on failure (said why). */
static int wav_read(const char *path, struct wav *wav) {
    unsigned char header[12], chunk[8], fmt[40];
    int have_fmt = 0;
    uint16_t format = 0, bits = 0;
    FILE *f = fopen(path, "rb");
    memset(wav, 0, sizeof *wav);
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open it\n", path);
        return 0;
    }
    if (fread(header, 1, 12, f) != 12 || memcmp(header, "RIFF", 4) != 0 ||
        memcmp(header + 8, "WAVE", 4) != 0) {
        fprintf(stderr, "%s: not a WAV file\n", path);
        fclose(f);
        return 0;
    }
    while (fread(chunk, 1, 8, f) == 8) {
        uint32_t size = le32(chunk + 4);
        if (memcmp(chunk, "fmt ", 4) == 0 && size >= 16) {
            size_t n = size < sizeof fmt ? size : sizeof fmt;
            if (fread(fmt, 1, n, f) != n) break;
            if (size > n) fseek(f, (long)(size - n), SEEK_CUR);
            format = le16(fmt);
            wav->channels = le16(fmt + 2);
            wav->rate = le32(fmt + 4);
            bits = le16(fmt + 14);
            /* WAVE_FORMAT_EXTENSIBLE: the format is the sub-format's. */
            if (format == 0xFFFE && n >= 26) format = le16(fmt + 24);
            have_fmt = 1;
        } else if (memcmp(chunk, "data", 4) == 0 && have_fmt) {
            size_t sample_bytes = bits / 8u, frame_bytes = sample_bytes * wav->channels, got;
            wav->is_float = format == 3;
            if (!((format == 1 && bits == 16) || (format == 3 && bits == 32)) ||
                wav->channels < 1 || wav->channels > 2) {
                fprintf(stderr, "%s: only 16-bit or float, mono or stereo WAV files are taken\n",
                        path);
                break;
            }
            wav->samples = malloc(size > 0 ? size : 1);
            if (wav->samples == NULL) break;
            got = fread(wav->samples, 1, size, f);
            wav->frames = got / frame_bytes;
            fclose(f);
            return 1;
        } else {
            fseek(f, (long)(size + (size & 1)), SEEK_CUR);
        }
    }
    if (wav->samples == NULL) fprintf(stderr, "%s: no audio in it\n", path);
    free(wav->samples);
    wav->samples = NULL;
    fclose(f);
    return 0;
}

/* A WAV file being written: the sizes are filled in when it closes. */
struct wav_out {
    FILE *f;
    uint32_t data_bytes;
};

static void put32(unsigned char *b, uint32_t v) {
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static void put16(unsigned char *b, uint16_t v) {
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
}

static void wav_header(unsigned char h[44], uint32_t rate, uint16_t channels, int is_float,
                       uint32_t data_bytes) {
    uint16_t bits = is_float ? 32 : 16;
    memcpy(h, "RIFF", 4);
    put32(h + 4, 36 + data_bytes);
    memcpy(h + 8, "WAVEfmt ", 8);
    put32(h + 16, 16);
    put16(h + 20, is_float ? 3 : 1);
    put16(h + 22, channels);
    put32(h + 24, rate);
    put32(h + 28, rate * channels * (bits / 8u));
    put16(h + 32, (uint16_t)(channels * (bits / 8u)));
    put16(h + 34, bits);
    memcpy(h + 36, "data", 4);
    put32(h + 40, data_bytes);
}

static int wav_create(struct wav_out *out, const char *path, uint32_t rate, uint16_t channels,
                      int is_float) {
    unsigned char h[44];
    out->data_bytes = 0;
    out->f = fopen(path, "wb");
    if (out->f == NULL) return 0;
    wav_header(h, rate, channels, is_float, 0);
    return fwrite(h, 1, sizeof h, out->f) == sizeof h;
}

static void wav_write(struct wav_out *out, const void *samples, size_t bytes) {
    if (fwrite(samples, 1, bytes, out->f) == bytes) out->data_bytes += (uint32_t)bytes;
}

static void wav_close(struct wav_out *out, uint32_t rate, uint16_t channels, int is_float) {
    unsigned char h[44];
    wav_header(h, rate, channels, is_float, out->data_bytes);
    fseek(out->f, 0, SEEK_SET);
    if (fwrite(h, 1, sizeof h, out->f) != sizeof h) fprintf(stderr, "cannot finish a WAV file\n");
    fclose(out->f);
    out->f = NULL;
}

/* ---- the chat ----------------------------------------------------------- */

struct options {
    uint32_t rate;
    uint16_t channels;
    int is_float;
    const char *prefix;
    int fast;
};

struct voice {
    struct options opt;
    struct iw_engine *engine;
    struct iw_client *client;
    struct iw_session *session;
    struct iw_audio_input *mic;
    struct iw_playback *playback;
    int ready, closed, failed;
    int turns;                 /* the player's turns voice detection heard end */
    int utterances;            /* the player's, recognised */
    int expected;              /* replies the player's utterances await */
    int replies_ended;         /* INTERACTION_END of a character's reply */
    /* The reply being pulled from the playback stream. */
    struct wav_out out;
    FILE *face_csv;            /* its face, buffer by buffer */
    int replies_written;
    char playing[IW_NOW_PLAYING_ID_SIZE]; /* its interaction id ("" between replies) */
    uint64_t frames;           /* its frames written */
    uint32_t viseme;           /* the viseme last shown */
    char timeline[MAX_VISEMES * 12];
    size_t timeline_len;
    void *buffer;              /* one playback buffer */
    double last_progress;
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

static void report(const char *what, iw_result r) {
    char message[512];
    size_t len = 0;
    if (iw_last_error(message, sizeof message, &len) != IW_OK) message[0] = '\0';
    fprintf(stderr, "%s failed: %s: %s\n", what, iw_result_name(r), message);
}

#define TRY(call)                      \
    do {                               \
        iw_result r_ = (call);         \
        if (r_ != IW_OK) {             \
            report(#call, r_);         \
            return 0;                  \
        }                              \
    } while (0)

static void handle(struct voice *v, const struct iw_packet *p) {
    switch (p->kind) {
    case IW_PACKET_VOICE_ACTIVITY:
        if (p->data.voice_activity.speaking) {
            printf("  (listening...)\n");
        } else if (p->data.voice_activity.cut_short) {
            printf("  (cut short)\n");
        } else {
            printf("  (heard)\n");
            v->turns++;
        }
        v->last_progress = now_s();
        break;
    case IW_PACKET_TEXT:
        if (p->data.text.source == IW_TEXT_SOURCE_SPEECH_TO_TEXT && p->data.text.is_final) {
            printf("You said: %s\n", p->data.text.text.ptr);
            v->utterances++;
            v->expected++;
        } else if (p->source.kind == IW_ACTOR_CHARACTER && p->data.text.text.len > 0) {
            printf("Character: %s\n", p->data.text.text.ptr);
        }
        v->last_progress = now_s();
        break;
    case IW_PACKET_CONTROL:
        if (p->data.control.action == IW_CONTROL_INTERACTION_END &&
            p->source.kind == IW_ACTOR_CHARACTER) {
            v->replies_ended++;
            v->last_progress = now_s();
        }
        break;
    case IW_PACKET_CONNECTION:
        if (p->data.connection.state == IW_STATE_READY) v->ready = 1;
        if (p->data.connection.state == IW_STATE_CLOSED) v->closed = 1;
        break;
    case IW_PACKET_ERROR:
        fprintf(stderr, "error: %s\n", p->data.error.message.ptr);
        break;
    case IW_PACKET_SEND_FAILED:
        fprintf(stderr, "not sent: %s\n", p->data.send_failed.message.ptr);
        break;
    default:
        break;
    }
}

static void poll_packets(struct voice *v) {
    struct iw_packet packets[32];
    size_t n = 0, i;
    do {
        iw_result r = iw_session_poll(v->session, packets, 32, &n);
        if (r != IW_OK) {
            report("iw_session_poll", r);
            v->closed = 1;
            return;
        }
        for (i = 0; i < n; i++) handle(v, &packets[i]);
    } while (n == 32);
    fflush(stdout);
}

/* Ends the reply being written: its file, and its viseme timeline. */
static void reply_done(struct voice *v) {
    if (v->playing[0] == '\0') return;
    wav_close(&v->out, v->opt.rate, v->opt.channels, v->opt.is_float);
    if (v->face_csv != NULL) fclose(v->face_csv);
    v->face_csv = NULL;
    printf("  [reply %d: %.2f s written to %s-%d.wav]\n", v->replies_written,
           (double)v->frames / v->opt.rate, v->opt.prefix, v->replies_written);
    printf("  [visemes as played:%s]\n", v->timeline);
    v->playing[0] = '\0';
    fflush(stdout);
}

/* One audio callback: pulls a buffer from the playback stream, writes its
 * speech to the reply's file and notes the viseme playing. */
static void pull(struct voice *v) {
    size_t frames = 0, sample_bytes = v->opt.is_float ? sizeof(float) : sizeof(int16_t);
    struct iw_now_playing now;
    iw_result r = v->opt.is_float
                      ? iw_playback_read_f32(v->playback, v->buffer, PLAYBACK_FRAMES, &frames)
                      : iw_playback_read_i16(v->playback, v->buffer, PLAYBACK_FRAMES, &frames);
    if (r != IW_OK) {
        report("reading the playback stream", r);
        v->failed = 1;
        return;
    }
    if (frames == 0) return;
    if (iw_playback_now_playing(v->playback, &now) != IW_OK || !now.playing) return;
    if (strcmp(now.interaction_id, v->playing) != 0) {
        /* A new reply: a file of its own. */
        char path[512];
        reply_done(v);
        v->replies_written++;
        snprintf(path, sizeof path, "%s-%d.wav", v->opt.prefix, v->replies_written);
        if (!wav_create(&v->out, path, v->opt.rate, v->opt.channels, v->opt.is_float)) {
            fprintf(stderr, "cannot write %s\n", path);
            v->failed = 1;
            return;
        }
        snprintf(path, sizeof path, "%s-%d.csv", v->opt.prefix, v->replies_written);
        v->face_csv = fopen(path, "w");
        if (v->face_csv != NULL) {
            uint32_t i;
            fprintf(v->face_csv, "time_s");
            for (i = 0; i < IW_BLENDSHAPE_COUNT; i++) fprintf(v->face_csv, ",%s", iw_blendshape_name(i));
            fprintf(v->face_csv, "\n");
        }
        snprintf(v->playing, sizeof v->playing, "%s", now.interaction_id);
        v->frames = 0;
        v->viseme = UINT32_MAX;
        v->timeline[0] = '\0';
        v->timeline_len = 0;
    }
    if (now.viseme != v->viseme && v->timeline_len + 32 < sizeof v->timeline) {
        v->viseme = now.viseme;
        v->timeline_len += (size_t)snprintf(v->timeline + v->timeline_len,
                                            sizeof v->timeline - v->timeline_len, " %.2f %s",
                                            (double)v->frames / v->opt.rate,
                                            iw_viseme_name(now.viseme));
    }
    if (v->face_csv != NULL) {
        float face[IW_BLENDSHAPE_COUNT];
        int i;
        if (iw_playback_face(v->playback, face) == IW_OK) {
            fprintf(v->face_csv, "%.4f", (double)v->frames / v->opt.rate);
            for (i = 0; i < IW_BLENDSHAPE_COUNT; i++) fprintf(v->face_csv, ",%.4f", face[i]);
            fprintf(v->face_csv, "\n");
        }
    }
    wav_write(&v->out, v->buffer, frames * v->opt.channels * sample_bytes);
    v->frames += frames;
    v->last_progress = now_s();
}

/* Whether speech is still to play. */
static int speech_pending(struct voice *v) {
    uint64_t pending = 0;
    return iw_playback_pending(v->playback, &pending) == IW_OK && pending > 0;
}

/* Plays `ms` of the session: playback pulled and packets polled as a game
 * frame would, in real time (or at once with --fast). */
static void run_for(struct voice *v, long ms) {
    double until = now_s() + ms / 1000.0;
    do {
        poll_packets(v);
        pull(v);
        if (!v->opt.fast) sleep_ms(PLAYBACK_FRAMES * 1000L / v->opt.rate);
    } while (!v->opt.fast && now_s() < until);
}

/* Pushes `frames` of `samples` (in the input's format); waits while the
 * library's input is full (it drains every few ms: only --fast fills it). */
static int push(struct voice *v, const void *samples, int is_float, uint16_t channels,
                size_t frames) {
    size_t done = 0;
    while (done < frames) {
        size_t accepted = 0, n = frames - done;
        iw_result r =
            is_float ? iw_audio_input_push_f32(v->mic, (const float *)samples + done * channels, n,
                                               &accepted)
                     : iw_audio_input_push_i16(v->mic, (const int16_t *)samples + done * channels,
                                               n, &accepted);
        if (r != IW_OK) {
            report("pushing the microphone's audio", r);
            return 0;
        }
        done += accepted;
        if (accepted < n) {
            poll_packets(v);
            pull(v);
            sleep_ms(5);
        }
    }
    return 1;
}

/* `ms` of silence from the microphone, 10 ms at a time, in its format. */
static int pause_for(struct voice *v, const struct wav *format, long ms) {
    static const float silent_f32[2 * 480];
    static const int16_t silent_i16[2 * 480];
    size_t step = format->rate * MIC_MS / 1000, start, frames = (size_t)format->rate * ms / 1000;
    for (start = 0; start < frames; start += step) {
        const void *silence = format->is_float ? (const void *)silent_f32 : (const void *)silent_i16;
        if (!push(v, silence, format->is_float, format->channels, step)) return 0;
        run_for(v, MIC_MS);
        if (v->opt.fast) sleep_ms(MIC_MS / 2);
    }
    return 1;
}

/* Streams one file as the microphone, 10 ms at a time, then a pause. */
static int speak(struct voice *v, const char *path, int first) {
    struct wav wav;
    size_t start, step;
    struct iw_audio_input *mic = NULL;
    iw_result r;
    int ok = 1;
    if (!wav_read(path, &wav)) return 0;
    printf("(%s: %.2f s, %u Hz, %u channel%s, %s)\n", path, (double)wav.frames / wav.rate,
           wav.rate, wav.channels, wav.channels == 1 ? "" : "s",
           wav.is_float ? "float" : "16-bit");
    fflush(stdout);
    /* An input in this file's format; it replaces the previous one. */
    r = iw_audio_input_open(v->session, wav.rate, wav.channels, &mic);
    if (r != IW_OK) {
        report("iw_audio_input_open", r);
        free(wav.samples);
        return 0;
    }
    iw_audio_input_free(v->mic);
    v->mic = mic;
    /* The microphone opens on a moment of room tone before the player speaks. */
    if (first) ok = pause_for(v, &wav, 500);
    step = wav.rate * MIC_MS / 1000;
    for (start = 0; ok && start < wav.frames; start += step) {
        size_t n = wav.frames - start < step ? wav.frames - start : step;
        const void *piece = wav.is_float ? (const void *)((float *)wav.samples + start * wav.channels)
                                         : (const void *)((int16_t *)wav.samples + start * wav.channels);
        ok = push(v, piece, wav.is_float, wav.channels, n);
        run_for(v, MIC_MS);
        /* --fast: twice real time, well within what the input holds. */
        if (v->opt.fast) sleep_ms(MIC_MS / 2);
    }
    /* The player pauses: voice detection hears the end of the speech. */
    if (ok) ok = pause_for(v, &wav, PAUSE_MS);
    free(wav.samples);
    /* Let the library take what was pushed before the next file's input
     * replaces this one (--fast pushes ahead of it). */
    for (start = 0; ok && start < 10; start++) {
        poll_packets(v);
        pull(v);
        sleep_ms(10);
    }
    return ok;
}

static int parse(int argc, char **argv, struct options *opt, int *first_file) {
    int i;
    opt->rate = 48000;
    opt->channels = 2;
    opt->is_float = 1;
    opt->prefix = "reply";
    opt->fast = 0;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--fast") == 0) {
            opt->fast = 1;
            continue;
        }
        if (value == NULL) return 0;
        if (strcmp(argv[i], "--rate") == 0) {
            opt->rate = (uint32_t)strtoul(value, NULL, 10);
        } else if (strcmp(argv[i], "--channels") == 0) {
            opt->channels = (uint16_t)strtoul(value, NULL, 10);
        } else if (strcmp(argv[i], "--format") == 0) {
            if (strcmp(value, "f32") == 0) {
                opt->is_float = 1;
            } else if (strcmp(value, "s16") == 0) {
                opt->is_float = 0;
            } else {
                return 0;
            }
        } else if (strcmp(argv[i], "--out") == 0) {
            opt->prefix = value;
        } else {
            return 0;
        }
        i++;
    }
    *first_file = i;
    return i < argc;
}

static int connect(struct voice *v) {
    struct iw_client_config config;
    struct iw_voice_detection detection;
    const char *host = getenv("INWORLD_HOST");
    static char address[128], local_scene[256];
    size_t len = 0;
    double deadline;
    TRY(iw_client_config_init(&config));
    if (host != NULL) {
        config.host = host;
        config.api_key = getenv("INWORLD_KEY");
        config.api_secret = getenv("INWORLD_SECRET");
        config.scene = getenv("INWORLD_SCENE");
        if (config.api_key == NULL || config.api_secret == NULL || config.scene == NULL) {
            fprintf(stderr, "with INWORLD_HOST, set INWORLD_KEY, INWORLD_SECRET and "
                            "INWORLD_SCENE too\n");
            return 0;
        }
    } else {
        struct iw_engine_config engine_config;
        TRY(iw_engine_config_init(&engine_config));
        engine_config.scene = "default";
        engine_config.pacing = v->opt.fast ? IW_PACING_INSTANT : IW_PACING_HUMAN;
        TRY(iw_engine_start(&engine_config, &v->engine));
        TRY(iw_engine_address(v->engine, address, sizeof address, &len));
        TRY(iw_engine_scene_name(v->engine, 0, local_scene, sizeof local_scene, &len));
        config.host = address;
        config.tls = IW_TLS_OFF;
        config.api_key = "test-api-key";
        config.api_secret = "test-api-secret";
        config.scene = local_scene;
        config.scene_timeout_ms = LOCAL_SCENE_TIMEOUT_MS;
        printf("(local engine at %s)\n", address);
    }
    config.user_name = "Traveler";
    /* Phonemes for the visemes; interruptions: speaking over a character
     * silences it. */
    config.capabilities = IW_CAP_DEFAULT | IW_CAP_PHONEMES | IW_CAP_INTERRUPTIONS;
    TRY(iw_client_new(IW_ABI_VERSION, &config, &v->client));
    TRY(iw_session_open(v->client, &v->session));
    deadline = now_s() + LOCAL_SCENE_TIMEOUT_MS / 1000.0 + 60.0;
    while (!v->ready && !v->closed && now_s() < deadline) {
        poll_packets(v);
        sleep_ms(10);
    }
    if (!v->ready) {
        fprintf(stderr, "could not connect to %s\n", config.host);
        return 0;
    }
    TRY(iw_voice_detection_init(&detection));
    TRY(iw_session_set_voice_detection(v->session, &detection));
    TRY(iw_session_open_playback(v->session, v->opt.rate, v->opt.channels, NULL, &v->playback));
    printf("(talking to %s; replies in %u Hz, %u channel%s, %s)\n", config.scene, v->opt.rate,
           v->opt.channels, v->opt.channels == 1 ? "" : "s", v->opt.is_float ? "float" : "16-bit");
    return 1;
}

int main(int argc, char **argv) {
    static struct voice v;
    int first = 0, i, ok = 1;
    double deadline;
    if (!parse(argc, argv, &v.opt, &first) || v.opt.rate < 8000 || v.opt.rate > 192000 ||
        v.opt.channels < 1 || v.opt.channels > 2) {
        fprintf(stderr, "usage: voice [--rate HZ] [--channels 1|2] [--format s16|f32] "
                        "[--out PREFIX] [--fast] PLAYER.wav [PLAYER.wav ...]\n");
        return 2;
    }
    v.buffer = malloc((size_t)PLAYBACK_FRAMES * v.opt.channels * sizeof(float));
    if (v.buffer == NULL || !connect(&v)) ok = 0;
    for (i = first; ok && i < argc; i++) ok = speak(&v, argv[i], i == first);
    /* The last replies: until each utterance heard was answered and its
     * speech played out. */
    deadline = now_s() + REPLY_TIMEOUT_S;
    v.last_progress = now_s();
    while (ok && !v.closed && now_s() - v.last_progress < REPLY_TIMEOUT_S && now_s() < deadline &&
           (v.utterances < v.turns || v.replies_ended < v.expected || speech_pending(&v))) {
        run_for(&v, PLAYBACK_FRAMES * 1000L / v.opt.rate);
        if (v.opt.fast) sleep_ms(2);
    }
    reply_done(&v);
    if (ok && (v.utterances < v.turns || v.replies_ended < v.expected)) {
        fprintf(stderr, "%d of %d replies did not arrive\n", v.expected - v.replies_ended,
                v.expected);
        ok = 0;
    }
    printf("(heard %d utterance%s, wrote %d repl%s)\n", v.utterances, v.utterances == 1 ? "" : "s",
           v.replies_written, v.replies_written == 1 ? "y" : "ies");
    iw_playback_free(v.playback);
    iw_audio_input_free(v.mic);
    iw_session_free(v.session);
    iw_client_free(v.client);
    iw_engine_free(v.engine);
    iw_shutdown();
    free(v.buffer);
    return ok && !v.failed ? 0 : 1;
}
