// The C++ wrapper against the in-process local engine (its "test" scene: Alice
// and Bob, who answer what was said). Every wait is on a condition; the limit
// only catches a hang (valgrind on a busy machine is slow).
#define INWORLD_ENGINE 1
#include "inworld.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr auto kWait = std::chrono::seconds(120);
int failures = 0;

#define EXPECT(cond)                                                          \
    do {                                                                      \
        if (!(cond)) {                                                        \
            std::fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

// The call must succeed; its value.
template <class T>
T must(inworld::Result<T> result, const char* what) {
    if (!result) {
        std::fprintf(stderr, "FAILED: %s -> %s: %s\n", what, std::string(result.error().name()).c_str(),
                     result.error().message.c_str());
        std::exit(1);
    }
    return std::move(result).value();
}
void must(const inworld::Status& status, const char* what) {
    if (!status) {
        std::fprintf(stderr, "FAILED: %s -> %s: %s\n", what, std::string(status.error().name()).c_str(),
                     status.error().message.c_str());
        std::exit(1);
    }
}
#define MUST(call) must((call), #call)

bool contains(std::string_view haystack, std::string_view needle) {
    return haystack.find(needle) != std::string_view::npos;
}

/// What one reply (one interaction) consisted of.
struct Reply {
    std::string interaction_id;
    std::string text, speaker, trigger, emotion;
    int audio_chunks = 0;
    size_t samples = 0;
    bool ended = false;

    /// Adds a packet of this reply; copies what it keeps (packets are lent).
    void add(const inworld::Packet& packet) {
        if (packet.ids().interaction_id != interaction_id) return;
        std::visit(inworld::overloaded{
                       [&](const inworld::Text& t) {
                           if (packet.source().is_character()) {
                               text += std::string(t.text) + " ";
                               speaker = std::string(packet.source().name);
                           }
                       },
                       [&](const inworld::Audio& a) {
                           audio_chunks++;
                           samples += a.samples.size();
                           EXPECT(a.sample_rate > 0 && a.channels > 0);
                           EXPECT(a.frames() * a.channels == a.samples.size());
                           EXPECT(a.decode_error.empty());
                       },
                       [&](const inworld::Trigger& t) { trigger = std::string(t.name); },
                       [&](const inworld::Emotion& e) { emotion = std::string(e.behavior_name()); },
                       [&](const inworld::Control& c) { ended = ended || c.is_interaction_end(); },
                       [&](const inworld::ServiceError& e) {
                           std::fprintf(stderr, "error packet: %s\n", std::string(e.message()).c_str());
                           failures++;
                       },
                       [](const auto&) {},
                   },
                   packet.body());
    }
};

template <class Done>
bool wait_until(Done done) {
    auto deadline = std::chrono::steady_clock::now() + kWait;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

/// Polls until the reply to `ids` has ended.
Reply poll_reply(inworld::Session& session, const inworld::SentIds& ids) {
    Reply reply;
    reply.interaction_id = ids.interaction_id;
    bool ok = wait_until([&] {
        MUST(session.poll([&](const inworld::Packet& p) { reply.add(p); }, 16));
        return reply.ended;
    });
    if (!ok) {
        std::fprintf(stderr, "FAILED: no interaction end for %s\n", ids.interaction_id.c_str());
        std::exit(1);
    }
    return reply;
}

inworld::ClientConfig config_for(const inworld::Engine& engine) {
    inworld::ClientConfig config;
    config.host = MUST(engine.address());
    config.scene = MUST(engine.scene_name(0));
    config.api_key = "test-api-key";
    config.api_secret = "test-api-secret";
    config.user_name = "Tester";
    config.capabilities = IW_CAP_DEFAULT | IW_CAP_EMOTIONS | IW_CAP_PHONEMES;
    config.tls = IW_TLS_OFF;
    // Only catch a hang: under valgrind the first connection is slow.
    config.scene_timeout_ms = 120000;
    config.connect_timeout_ms = 60000;
    config.handshake_timeout_ms = 60000;
    return config;
}

void wait_ready(const inworld::Session& session) {
    bool ready = wait_until([&] { return session.state().value_or(0) == IW_STATE_READY; });
    if (!ready) {
        std::fprintf(stderr, "FAILED: the session never became ready\n");
        std::exit(1);
    }
}

void conversation(inworld::Engine& engine) {
    auto client = MUST(inworld::Client::create(config_for(engine)));
    auto session = MUST(client.open_session());
    wait_ready(session);

    auto id = MUST(session.id());
    EXPECT(contains(id, ":"));  // <workspace>:<uuid>
    auto characters = MUST(session.characters());
    EXPECT(characters.size() == 2);
    EXPECT(characters.at(0).display_name == "Alice");
    EXPECT(contains(characters.at(0).resource_name, "characters/"));
    EXPECT(MUST(session.current_character()).display_name == "Alice");

    // Text: the first reply greets the player by name, with speech.
    auto ids = MUST(session.send_text("hello there"));
    EXPECT(ids.interaction_id.size() == 36 && ids.packet_id.size() == 36);
    auto reply = poll_reply(session, ids);
    std::printf("reply (%s): %s [%d audio chunks]\n", reply.speaker.c_str(), reply.text.c_str(), reply.audio_chunks);
    EXPECT(contains(reply.text, "Tester"));
    EXPECT(reply.audio_chunks > 0 && reply.samples > 0);
    EXPECT(reply.speaker == characters.at(0).id);

    reply = poll_reply(session, MUST(session.send_text("hello again")));
    EXPECT(contains(reply.text, "hello again"));

    // A trigger with a parameter: text with it, an emotion and a trigger back.
    reply = poll_reply(session, MUST(session.send_trigger("greet", {{"mood", "sunny"}})));
    std::printf("trigger reply: %s [emotion %s, trigger %s]\n", reply.text.c_str(), reply.emotion.c_str(),
                reply.trigger.c_str());
    EXPECT(contains(reply.text, "sunny"));
    EXPECT(reply.emotion == "JOY");
    EXPECT(reply.trigger == "greeted");

    reply = poll_reply(session, MUST(session.send_narrated_action("waves at everyone")));
    EXPECT(!reply.text.empty());

    // Dispatch: the callable is called on this thread, no buffer.
    {
        auto sent = MUST(session.send_text("dispatch please"));
        Reply r;
        r.interaction_id = sent.interaction_id;
        const auto caller = std::this_thread::get_id();
        bool same_thread = true;
        EXPECT(wait_until([&] {
            MUST(session.dispatch([&](const inworld::Packet& p) {
                same_thread = same_thread && std::this_thread::get_id() == caller;
                r.add(p);
            }));
            return r.ended;
        }));
        EXPECT(same_thread);
        EXPECT(contains(r.text, "dispatch please"));
    }

    // Another character, by display name.
    MUST(session.set_character("Bob"));
    EXPECT(MUST(session.current_character()).display_name == "Bob");
    reply = poll_reply(session, MUST(session.send_text("hi bob")));
    EXPECT(reply.speaker == characters.at(1).id);

    // Errors carry the C API's code and message.
    auto unknown = session.set_character("Nobody-At-All");
    EXPECT(!unknown && unknown.code() == IW_E_NOT_FOUND);
    EXPECT(contains(unknown.error().message, "Nobody-At-All"));
    EXPECT(unknown.error().name() == "IW_E_NOT_FOUND");
    auto bad_rate = session.open_playback(1, 1);
    EXPECT(!bad_rate && bad_rate.code() == IW_E_INVALID_ARGUMENT);
#ifdef INWORLD_HPP_EXCEPTIONS
    bool thrown = false;
    try {
        (void)session.set_character("Nobody-At-All").value();
    } catch (const inworld::Exception& e) {
        thrown = e.error().code == IW_E_NOT_FOUND && contains(e.what(), "IW_E_NOT_FOUND");
    }
    EXPECT(thrown);
#endif

    // A lambda on a library thread receives the packets; the wrapper frees it
    // (valgrind sees no leak) when it is replaced and when the session goes.
    {
        struct Shared {
            std::mutex lock;
            std::condition_variable changed;
            Reply reply;
            std::thread::id thread;
        };
        auto shared = std::make_shared<Shared>();
        MUST(session.set_callback([shared](const inworld::Packet& p) {
            std::lock_guard<std::mutex> hold(shared->lock);
            shared->thread = std::this_thread::get_id();
            shared->reply.add(p);
            shared->changed.notify_all();
        }));
        auto sent = MUST(session.send_text("callback please"));
        {
            std::unique_lock<std::mutex> hold(shared->lock);
            shared->reply.interaction_id = sent.interaction_id;
            EXPECT(shared->changed.wait_for(hold, kWait, [&] { return shared->reply.ended; }));
            EXPECT(contains(shared->reply.text, "callback please"));
            EXPECT(shared->thread != std::this_thread::get_id());
        }
        MUST(session.set_callback(nullptr));  // back to polling; the lambda is freed
        EXPECT(shared.use_count() == 1);
    }

    // The wake-up says when to poll.
    {
        std::atomic<int> wakeups{0};
        MUST(session.set_wakeup([&wakeups] { wakeups++; }));
        auto sent = MUST(session.send_text("wake me"));
        EXPECT(wait_until([&] { return wakeups.load() > 0; }));
        (void)poll_reply(session, sent);
        MUST(session.set_wakeup(nullptr));
    }

    // Audio: a playback stream reads (silence or speech), a microphone takes frames.
    {
        auto playback = MUST(session.open_playback(48000, 2));
        std::vector<float> buffer(480 * 2);
        size_t speech = MUST(playback.read(buffer.data(), 480));
        EXPECT(speech <= 480);
        (void)MUST(playback.pending());
        auto now = MUST(playback.now_playing());
        EXPECT(now.viseme <= IW_VISEME_OU);
        // The face: 52 weights in 0..1, named by ARKit.
        MUST(playback.show_emotion(18 /* JOY */, 2 /* STRONG */));
        MUST(playback.set_blinks(true, 7));
        inworld::FaceWeights face = MUST(playback.face());
        for (float w : face) EXPECT(w >= 0.0f && w <= 1.0f);
        EXPECT(inworld::blendshape_name(17) == "jawOpen");
        EXPECT(inworld::blendshape_name(52).empty());

        auto mic = MUST(session.open_audio_input(16000, 1));
        std::vector<int16_t> frames(320, 0);
        auto no_audio_session = mic.push(frames.data(), frames.size());
        EXPECT(!no_audio_session && no_audio_session.code() == IW_E_NOT_READY);
        auto started = MUST(session.start_audio_session(IW_MIC_PUSH_TO_TALK));
        EXPECT(!started.packet_id.empty());
        EXPECT(MUST(mic.push(frames.data(), frames.size())) == frames.size());
        EXPECT(MUST(mic.dropped()) == 0);
        (void)MUST(session.end_audio_session());
        auto echo = MUST(session.open_echo_reference(48000, 1));
        std::vector<float> played(480, 0.0f);
        EXPECT(MUST(echo.push(played.data(), played.size())) == played.size());
    }

    // The dialog so far, as lines.
    auto dialog = MUST(session.dialog());
    EXPECT(dialog.size() >= 2);
    EXPECT(dialog.at(0).talker == IW_TALKER_PLAYER && dialog.at(0).text == "hello there");

    // A second session on the same client, at the same time.
    auto second = MUST(client.open_session());
    wait_ready(second);
    reply = poll_reply(second, MUST(second.send_text("hello from two")));
    EXPECT(contains(reply.text, "Tester"));
    EXPECT(MUST(second.id()) != id);

    MUST(session.close());
    EXPECT(wait_until([&] { return session.state().value_or(0) == IW_STATE_CLOSED; }));
    auto after_close = session.send_text("anyone?");
    EXPECT(!after_close && after_close.code() == IW_E_CLOSED);
}

void moves_and_empty_handles(inworld::Engine& engine) {
    auto client = MUST(inworld::Client::create(config_for(engine)));
    auto session = MUST(client.open_session());
    inworld::Session moved = std::move(session);
    EXPECT(moved && !session);  // NOLINT(bugprone-use-after-move): the point of the test
    auto on_empty = session.send_text("hello");
    EXPECT(!on_empty && on_empty.code() == IW_E_NULL_POINTER);
    EXPECT(!session.state() && session.state().code() == IW_E_NULL_POINTER);
    EXPECT(session.set_callback([](const inworld::Packet&) {}).code() == IW_E_NULL_POINTER);

    inworld::Session assigned;
    assigned = std::move(moved);
    EXPECT(assigned && !moved);
    wait_ready(assigned);

    inworld::Client other = std::move(client);
    EXPECT(other && !client);
    EXPECT(client.open_session().code() == IW_E_NULL_POINTER);

    // A configuration without a scene is refused with a message, not a crash.
    inworld::ClientConfig bad;
    bad.host = "127.0.0.1:1";
    auto refused = inworld::Client::create(bad);
    EXPECT(!refused && refused.code() == IW_E_NULL_POINTER && contains(refused.error().message, "scene"));
}

}  // namespace

int main() {
    std::atomic<int> log_lines{0};
    MUST(inworld::set_log_callback([&log_lines](uint32_t, std::string_view, std::string_view) { log_lines++; },
                                   IW_LOG_DEBUG));
    EXPECT(inworld::abi_version() >> 16 == IW_ABI_VERSION_MAJOR);
    EXPECT(inworld::viseme_name(IW_VISEME_AA) == "aa");
    {
        // The brain and the speech parts reach the library: a language
        // model without its endpoint is refused, parts every build has start.
        inworld::EngineConfig no_endpoint;
        no_endpoint.brain = IW_BRAIN_LLM;
        auto refused = inworld::Engine::start(no_endpoint);
        EXPECT(!refused && refused.code() == IW_E_INVALID_ARGUMENT);
        inworld::EngineConfig config;
        config.scene = "test";
        config.brain = IW_BRAIN_SCRIPTED;
        config.synthesizer = IW_SYNTHESIZER_TONES;
        config.recognizer = IW_RECOGNIZER_SCRIPTED;
        auto engine = MUST(inworld::Engine::start(config));
        auto token = MUST(engine.mint_token());
        EXPECT(!token.token.empty() && token.expires_ms > 0);
        conversation(engine);
        moves_and_empty_handles(engine);
        MUST(engine.stop());
    }
    EXPECT(log_lines.load() > 0);
    MUST(inworld::shutdown());
    if (failures) {
        std::printf("wrapper_test: %d FAILED\n", failures);
        return 1;
    }
    std::printf("wrapper_test: OK\n");
    return 0;
}
