// inworld.hpp: a header-only C++17 wrapper over the C API of inworld.h.
//
// - Handles (Engine, Client, Session, AudioInput, Playback, EchoReference) are
//   move-only RAII types: the destructor frees the C handle exactly once; a
//   moved-from object is empty and every call on it returns an error
//   (IW_E_NULL_POINTER), never undefined behaviour.
// - Every fallible call returns inworld::Result<T> (the value, or the C code and
//   message). No exceptions are needed; Result::value() throws inworld::Exception
//   when exceptions are enabled (and aborts when they are not).
// - Strings go in as std::string_view (copied into a NUL-terminated buffer, as the
//   C API copies its inputs before returning). Packets hand out std::string_view
//   and Span views lent by the library: valid until the next poll/dispatch of the
//   same session (in a callback, until it returns). Copy what you keep.
// - Callbacks take any callable. The wrapper owns it on the heap and the library
//   frees it (through its userdata_free) when it is replaced or the session ends.
//
// Threads: every call is thread-safe unless the C header says otherwise; poll a
// session from one thread at a time. Session::set_callback, set_wakeup,
// set_log_callback and the token provider run on library threads.
//
// Define INWORLD_ENGINE before including (the CMake target and the pkg-config
// file do) to get inworld::Engine, the local engine in-process.
#ifndef INWORLD_HPP
#define INWORLD_HPP

#include "inworld.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS) || defined(_CPPUNWIND)
#define INWORLD_HPP_EXCEPTIONS 1
#include <stdexcept>
#endif

namespace inworld {

// ---------------------------------------------------------------- errors

/// A failed call: the C API's code (IW_E_*) and the message it gave.
struct Error {
    iw_result code = IW_OK;
    std::string message;

    /// The code's name ("IW_E_NOT_FOUND").
    std::string_view name() const { return iw_result_name(code); }
};

#ifdef INWORLD_HPP_EXCEPTIONS
/// Thrown by Result::value() on an error, for code that prefers exceptions.
class Exception : public std::runtime_error {
  public:
    explicit Exception(Error error)
        : std::runtime_error(std::string(error.name()) + ": " + error.message),
          error_(std::move(error)) {}
    const Error& error() const noexcept { return error_; }

  private:
    Error error_;
};
#endif

namespace detail {

/// The calling thread's last failure, as the C API recorded it.
inline Error last_error(iw_result code) {
    Error error;
    error.code = code;
    char buf[512];
    size_t len = 0;
    if (iw_last_error(buf, sizeof buf, &len) == IW_OK) {
        error.message.assign(buf, len);
    } else if (len > 0) {
        // Longer than the stack buffer: ask again with the size it told us.
        std::string big(len + 1, '\0');
        if (iw_last_error(big.data(), big.size(), &len) == IW_OK) error.message.assign(big.data(), len);
    }
    if (error.message.empty()) error.message = iw_result_name(code);
    return error;
}

[[noreturn]] inline void fail(const Error& error) {
#ifdef INWORLD_HPP_EXCEPTIONS
    throw Exception(error);
#else
    (void)error;
    std::abort();
#endif
}

}  // namespace detail

/// The value of a call, or its Error.
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : value_(std::move(value)) {}
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const { return value_.has_value(); }
    explicit operator bool() const { return ok(); }

    /// The value; throws Exception (aborts without exceptions) on an error.
    T& value() & {
        if (!ok()) detail::fail(error_);
        return *value_;
    }
    T&& value() && {
        if (!ok()) detail::fail(error_);
        return std::move(*value_);
    }
    T value_or(T fallback) const { return ok() ? *value_ : std::move(fallback); }
    T* operator->() { return &value(); }
    T& operator*() { return value(); }

    /// The error (code IW_OK when the call succeeded).
    const Error& error() const { return error_; }
    iw_result code() const { return ok() ? IW_OK : error_.code; }

  private:
    std::optional<T> value_;
    Error error_;
};

/// The outcome of a call that returns nothing.
template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    /// Throws Exception (aborts without exceptions) on an error.
    void value() const {
        if (!ok_) detail::fail(error_);
    }
    const Error& error() const { return error_; }
    iw_result code() const { return ok_ ? IW_OK : error_.code; }

  private:
    Error error_;
    bool ok_ = true;
};

using Status = Result<void>;

namespace detail {

inline Status check(iw_result code) {
    if (code == IW_OK) return {};
    return last_error(code);
}

/// A NUL-terminated copy of a view, for the C API's `const char*` inputs.
class CStr {
  public:
    explicit CStr(std::string_view s) : s_(s) {}
    const char* c_str() const { return s_.c_str(); }

  private:
    std::string s_;
};

/// NUL-terminated copies of a list of views and the pointer array the C API takes.
class CStrList {
  public:
    template <class Range>
    explicit CStrList(const Range& items) {
        for (const auto& item : items) strings_.emplace_back(std::string_view(item));
        for (const auto& s : strings_) pointers_.push_back(s.c_str());
    }
    const char* const* data() const { return pointers_.empty() ? nullptr : pointers_.data(); }
    size_t size() const { return pointers_.size(); }

  private:
    std::vector<std::string> strings_;
    std::vector<const char*> pointers_;
};

/// Key/value pairs as the C API takes them.
class CKeyValues {
  public:
    template <class Range>
    explicit CKeyValues(const Range& pairs) {
        for (const auto& kv : pairs) {
            keys_.emplace_back(std::string_view(kv.first));
            values_.emplace_back(std::string_view(kv.second));
        }
        for (size_t i = 0; i < keys_.size(); i++) items_.push_back(iw_key_value{keys_[i].c_str(), values_[i].c_str()});
    }
    const iw_key_value* data() const { return items_.empty() ? nullptr : items_.data(); }
    size_t size() const { return items_.size(); }

  private:
    std::vector<std::string> keys_, values_;
    std::vector<iw_key_value> items_;
};

inline std::string_view view(iw_str s) { return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view(); }

/// Reads a string the C API copies into a caller's buffer (`buf, cap, &len`),
/// growing the buffer once when it was too small.
template <class Call>
Result<std::string> read_string(Call call) {
    char buf[256];
    size_t len = 0;
    iw_result code = call(buf, sizeof buf, &len);
    if (code == IW_OK) return std::string(buf, len);
    if (code != IW_E_BUFFER_TOO_SMALL) return last_error(code);
    std::string big(len + 1, '\0');
    code = call(big.data(), big.size(), &len);
    if (code != IW_OK) return last_error(code);
    big.resize(len);
    return big;
}

/// Frees a heap-held callable; the C API calls it exactly once per registration.
template <class F>
void free_callable(void* userdata) {
    delete static_cast<F*>(userdata);
}

}  // namespace detail

/// A read-only view of a C array lent by the library.
template <class T>
class Span {
  public:
    Span() = default;
    Span(const T* data, size_t size) : data_(size ? data : nullptr), size_(data ? size : 0) {}
    const T* begin() const { return data_; }
    const T* end() const { return data_ + size_; }
    const T* data() const { return data_; }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    const T& operator[](size_t i) const { return data_[i]; }

  private:
    const T* data_ = nullptr;
    size_t size_ = 0;
};

// ---------------------------------------------------------------- the library

/// The library's version (major << 16 | minor << 8 | patch).
inline uint32_t version() { return iw_version(); }
/// The ABI version the library implements (IW_ABI_VERSION of its header).
inline uint32_t abi_version() { return iw_abi_version(); }
/// Sizes the library's runtime before its first use (0: the default).
inline Status set_worker_threads(uint32_t threads) { return detail::check(iw_runtime_set_worker_threads(threads)); }
/// Stops the library's runtime (after every handle is freed, at exit).
inline Status shutdown() { return detail::check(iw_shutdown()); }
/// The name of a result code.
inline std::string_view result_name(iw_result code) { return iw_result_name(code); }
/// "Joy", "Weak", "AA": the names of packet values.
inline std::string_view emotion_behavior_name(int32_t behavior) { return iw_emotion_behavior_name(behavior); }
inline std::string_view emotion_strength_name(int32_t strength) { return iw_emotion_strength_name(strength); }
inline std::string_view viseme_name(uint32_t viseme) { return iw_viseme_name(viseme); }

/// The library's log lines: (level IW_LOG_*, target, message), on library threads.
using LogCallback = std::function<void(uint32_t level, std::string_view target, std::string_view message)>;

/// Routes the library's log to `callback` (an empty one removes it) up to `max_level`.
/// Runs on any thread, including the game's own while it calls the library.
inline Status set_log_callback(LogCallback callback, uint32_t max_level = IW_LOG_INFO) {
    if (!callback) return detail::check(iw_set_log_callback(nullptr, nullptr, nullptr, max_level));
    auto* held = new LogCallback(std::move(callback));
    return detail::check(iw_set_log_callback(
        [](uint32_t level, const char* target, const char* message, void* userdata) {
            (*static_cast<LogCallback*>(userdata))(level, target ? target : "", message ? message : "");
        },
        held, detail::free_callable<LogCallback>, max_level));
}

// ---------------------------------------------------------------- packets

/// The ids every packet carries (empty when absent).
struct PacketIds {
    std::string_view packet_id, utterance_id, interaction_id, correlation_id, conversation_id;
};

/// Who sent a packet or whom it is for: IW_ACTOR_* and, for a character, its agent id.
struct Actor {
    uint32_t kind = IW_ACTOR_UNKNOWN;
    std::string_view name;
    bool is_player() const { return kind == IW_ACTOR_PLAYER; }
    bool is_character() const { return kind == IW_ACTOR_CHARACTER; }
};

struct Unknown { uint32_t kind; };
struct Text {
    std::string_view text;
    bool is_final;
    uint32_t source;  // IW_TEXT_SOURCE_*
};
/// Speech: decoded 16-bit PCM with its phonemes and visemes.
struct Audio {
    Span<int16_t> samples;  // interleaved, `channels` per frame
    uint32_t sample_rate;
    uint32_t channels;
    int64_t duration_us;
    Span<iw_phoneme> phonemes;
    Span<iw_viseme> visemes;
    Span<uint8_t> undecoded;         // the raw chunk, only when it could not be decoded
    std::string_view decode_error;  // why (empty when decoded)
    size_t frames() const { return channels ? samples.size() / channels : 0; }
};
struct Silence { int64_t duration_ms; };
struct Emotion {
    int32_t behavior;
    int32_t strength;
    std::string_view behavior_name() const { return iw_emotion_behavior_name(behavior); }
    std::string_view strength_name() const { return iw_emotion_strength_name(strength); }
};
/// A trigger or a task: a name with parameters.
struct Custom {
    std::string_view name;
    Span<iw_parameter> parameters;
    /// The value of parameter `key`, if given.
    std::optional<std::string_view> parameter(std::string_view key) const {
        for (const auto& p : parameters)
            if (detail::view(p.name) == key) return detail::view(p.value);
        return std::nullopt;
    }
};
struct Trigger : Custom {};
struct Task : Custom {};
struct Control {
    uint32_t action;  // IW_CONTROL_*
    std::string_view description;
    bool is_interaction_end() const { return action == IW_CONTROL_INTERACTION_END; }
};
struct Conversation {
    uint32_t kind;  // IW_CONVERSATION_*
    Span<iw_actor> participants;
};
struct SceneStatus {
    std::string_view name, description, display_name;
    Span<iw_character> characters;
};
struct NarratedAction { std::string_view content; };
struct CancelResponses {
    std::string_view interaction_id;
    Span<iw_str> utterance_ids;
};
struct Log {
    std::string_view text;
    int32_t level;
    Span<iw_parameter> metadata;
};
struct OperationStatus {
    int32_t code;
    std::string_view message;
};
/// An error from the service or the connection, with Inworld's details.
struct ServiceError {
    const iw_error* raw;  // every field: error_type, reconnect_type, max_retries, ...
    int32_t grpc_code() const { return raw->grpc_code; }
    std::string_view message() const { return detail::view(raw->message); }
    bool will_retry() const { return raw->will_retry != 0; }
    bool has_details() const { return raw->has_details != 0; }
    std::string_view resource_id() const { return detail::view(raw->resource_id); }
};
struct Connection {
    uint32_t state;  // IW_STATE_*
    int64_t retry_in_ms;
    uint32_t resumed;  // IW_RESUMED_*
};
struct Overflow { uint64_t dropped; };
struct SendFailed {
    uint32_t reason;  // IW_SEND_*
    std::string_view message;
};
struct CallResult {
    uint64_t request_id;
    uint32_t call;  // IW_CALL_*
    int32_t grpc_code;
    std::string_view message, name, version;
    Span<uint8_t> data;  // the saved state, for IW_CALL_SESSION_STATE
};
struct SceneMutation {
    uint32_t what;  // IW_MUTATION_*
    std::string_view scene;
    Span<iw_str> names;
};
struct VoiceActivity {
    bool speaking;
    bool cut_short;
    std::string_view audio_session_id;
};

/// What a packet says, by kind. Kinds this header does not know are Unknown:
/// ignore them (new ones come in minor versions).
using PacketBody = std::variant<Unknown, Text, Audio, Silence, Emotion, Trigger, Task, Control, Conversation,
                                SceneStatus, NarratedAction, CancelResponses, Log, OperationStatus, ServiceError,
                                Connection, Overflow, SendFailed, CallResult, SceneMutation, VoiceActivity>;

/// A packet lent by the library (valid until the next poll/dispatch of its
/// session; in a callback, until it returns).
class Packet {
  public:
    explicit Packet(const iw_packet& packet) : p_(&packet) {}

    uint32_t kind() const { return p_->kind; }
    PacketIds ids() const {
        const auto& i = p_->ids;
        return {detail::view(i.packet_id), detail::view(i.utterance_id), detail::view(i.interaction_id),
                detail::view(i.correlation_id), detail::view(i.conversation_id)};
    }
    Actor source() const { return {p_->source.kind, detail::view(p_->source.name)}; }
    Actor target() const { return {p_->target.kind, detail::view(p_->target.name)}; }
    int64_t timestamp_ms() const { return p_->timestamp_ms; }
    const iw_packet& raw() const { return *p_; }

    /// The typed body: std::visit it, or std::get_if the kinds you handle.
    PacketBody body() const {
        using detail::view;
        const auto& d = p_->data;
        switch (p_->kind) {
        case IW_PACKET_TEXT: return Text{view(d.text.text), d.text.is_final != 0, d.text.source};
        case IW_PACKET_AUDIO: {
            const auto& a = d.audio;
            return Audio{{a.samples, a.sample_count}, a.sample_rate, a.channels, a.duration_us,
                         {a.phonemes, a.phoneme_count}, {a.visemes, a.viseme_count}, {a.data, a.len},
                         view(a.decode_error)};
        }
        case IW_PACKET_SILENCE: return Silence{d.silence.duration_ms};
        case IW_PACKET_EMOTION: return Emotion{d.emotion.behavior, d.emotion.strength};
        case IW_PACKET_TRIGGER: return Trigger{{view(d.custom.name), {d.custom.parameters, d.custom.parameter_count}}};
        case IW_PACKET_TASK: return Task{{view(d.custom.name), {d.custom.parameters, d.custom.parameter_count}}};
        case IW_PACKET_CONTROL: return Control{d.control.action, view(d.control.description)};
        case IW_PACKET_CONVERSATION:
            return Conversation{d.conversation.kind, {d.conversation.participants, d.conversation.participant_count}};
        case IW_PACKET_SCENE_STATUS:
            return SceneStatus{view(d.scene.name), view(d.scene.description), view(d.scene.display_name),
                               {d.scene.characters, d.scene.character_count}};
        case IW_PACKET_NARRATED_ACTION: return NarratedAction{view(d.narrated_action.content)};
        case IW_PACKET_CANCEL_RESPONSES:
            return CancelResponses{view(d.cancel_responses.interaction_id),
                                   {d.cancel_responses.utterance_ids, d.cancel_responses.utterance_id_count}};
        case IW_PACKET_LOG: return Log{view(d.log.text), d.log.level, {d.log.metadata, d.log.metadata_count}};
        case IW_PACKET_OPERATION_STATUS:
            return OperationStatus{d.operation_status.code, view(d.operation_status.message)};
        case IW_PACKET_ERROR: return ServiceError{&d.error};
        case IW_PACKET_CONNECTION:
            return Connection{d.connection.state, d.connection.retry_in_ms, d.connection.resumed};
        case IW_PACKET_OVERFLOW: return Overflow{d.overflow.dropped};
        case IW_PACKET_SEND_FAILED: return SendFailed{d.send_failed.reason, view(d.send_failed.message)};
        case IW_PACKET_CALL_RESULT: {
            const auto& c = d.call_result;
            return CallResult{c.request_id, c.call, c.grpc_code, view(c.message), view(c.name), view(c.version),
                              {c.data, c.data_len}};
        }
        case IW_PACKET_SCENE_MUTATION:
            return SceneMutation{d.scene_mutation.what, view(d.scene_mutation.scene),
                                 {d.scene_mutation.names, d.scene_mutation.name_count}};
        case IW_PACKET_VOICE_ACTIVITY:
            return VoiceActivity{d.voice_activity.speaking != 0, d.voice_activity.cut_short != 0,
                                 view(d.voice_activity.audio_session_id)};
        default: return Unknown{p_->kind};
        }
    }

  private:
    const iw_packet* p_;
};

/// Builds a visitor from lambdas: std::visit(inworld::overloaded{...}, packet.body()).
template <class... Fs>
struct overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// ---------------------------------------------------------------- plain data

/// The ids of a packet the game sent (to match replies and failures).
struct SentIds {
    std::string packet_id, utterance_id, interaction_id, correlation_id, conversation_id;

    static SentIds from(const iw_sent_ids& ids) {
        return {ids.packet_id, ids.utterance_id, ids.interaction_id, ids.correlation_id, ids.conversation_id};
    }
};

/// A character of the scene (an owned copy).
struct Character {
    std::string id, resource_name, display_name;
    std::string avatar_img, avatar_img_original, rpm_model_uri, rpm_image_uri_portrait, rpm_image_uri_posture;

    static Character from(const iw_character& c) {
        using detail::view;
        return {std::string(view(c.id)),
                std::string(view(c.resource_name)),
                std::string(view(c.display_name)),
                std::string(view(c.avatar_img)),
                std::string(view(c.avatar_img_original)),
                std::string(view(c.rpm_model_uri)),
                std::string(view(c.rpm_image_uri_portrait)),
                std::string(view(c.rpm_image_uri_posture))};
    }
};

/// One line of the session's dialog (IW_TALKER_*).
struct DialogLine {
    uint32_t talker = IW_TALKER_PLAYER;
    std::string text;
};

/// An item of the world that characters know about.
struct EntityItem {
    std::string id, display_name, description;
    std::vector<std::pair<std::string, std::string>> properties;
};

/// ARKit blendshape weights (0..1, ARKit's order; `blendshape_name` names each).
using FaceWeights = std::array<float, IW_BLENDSHAPE_COUNT>;

/// The ARKit name of blendshape `index` ("jawOpen"), or empty past the last.
inline std::string_view blendshape_name(size_t index) {
    const char* name = index < IW_BLENDSHAPE_COUNT ? iw_blendshape_name(static_cast<uint32_t>(index)) : nullptr;
    return name ? std::string_view(name) : std::string_view();
}

/// What playback is playing (NowPlaying::playing false: silence).
struct NowPlaying {
    bool playing = false;
    uint32_t viseme = IW_VISEME_SIL;
    uint64_t position_frames = 0;
    uint64_t position_us = 0;
    std::string character, interaction_id, utterance_id;
};

/// Hands-free turns: voice detection with optional echo cancellation.
struct VoiceDetection {
    uint32_t end_silence_ms = 0;  // 0: the library's default
    int32_t understanding = IW_UNDERSTANDING_FULL;
    bool echo_cancellation = false;
};

/// How a scene change keeps or starts the session's state.
struct SceneChange {
    std::optional<uint32_t> capabilities;  // IW_CAP_*; unset keeps the current ones
    std::string game_session_id;
    std::vector<uint8_t> continuation_state;
    std::vector<DialogLine> dialog_history;
};

/// Parameters of a trigger: {{"key", "value"}, ...} (views: copied by the call).
using Parameters = std::vector<std::pair<std::string_view, std::string_view>>;

/// The token request callback: answer with Client::provide_token or
/// Client::token_failed (now or later, from any thread). Runs on a library thread.
using TokenProvider = std::function<void(uint64_t request_id, std::string_view workspace,
                                         std::optional<std::string_view> session_id)>;

/// How a Client connects. Empty strings and unset optionals take the SDK's defaults.
struct ClientConfig {
    std::string host;   // "host:port"
    std::string scene;  // "workspaces/<ws>/scenes/<id>" or a character's resource name
    std::string api_key, api_secret;
    std::string session_token, session_token_type, session_id;
    int64_t session_token_expires_ms = 0;
    std::string user_name;
    std::vector<std::pair<std::string, std::string>> profile_fields;
    std::string client_id, game_session_id, root_cert_pem;
    std::optional<uint32_t> tls;           // IW_TLS_*
    std::optional<uint32_t> capabilities;  // IW_CAP_*
    std::optional<uint32_t> queue_capacity, scene_timeout_ms, reconnect_max_attempts, connect_timeout_ms,
        handshake_timeout_ms, stall_timeout_ms, keepalive_interval_ms, keepalive_timeout_ms, max_pending_sends,
        max_receive_message_bytes;
    std::vector<uint8_t> continuation_state;
    std::vector<DialogLine> dialog_history;
    TokenProvider token_provider;  // instead of api_key/secret: tokens from your backend
};

class Session;

// ---------------------------------------------------------------- audio handles

namespace detail {
struct FreeAudioInput { void operator()(iw_audio_input* h) const { iw_audio_input_free(h); } };
struct FreePlayback { void operator()(iw_playback* h) const { iw_playback_free(h); } };
struct FreeEchoReference { void operator()(iw_echo_reference* h) const { iw_echo_reference_free(h); } };
struct FreeSession { void operator()(iw_session* h) const { iw_session_free(h); } };
struct FreeClient { void operator()(iw_client* h) const { iw_client_free(h); } };
}  // namespace detail

/// The microphone into a session. push() is for the audio thread: wait-free, no allocation.
class AudioInput {
  public:
    AudioInput() = default;
    explicit AudioInput(iw_audio_input* h) : h_(h) {}

    /// Pushes interleaved frames; returns how many were accepted (the rest did not fit).
    Result<size_t> push(const int16_t* frames, size_t frame_count) {
        size_t accepted = 0;
        iw_result r = iw_audio_input_push_i16(h_.get(), frames, frame_count, &accepted);
        if (r != IW_OK) return detail::last_error(r);
        return accepted;
    }
    Result<size_t> push(const float* frames, size_t frame_count) {
        size_t accepted = 0;
        iw_result r = iw_audio_input_push_f32(h_.get(), frames, frame_count, &accepted);
        if (r != IW_OK) return detail::last_error(r);
        return accepted;
    }
    /// Frames dropped so far (the ring was full).
    Result<uint64_t> dropped() const {
        uint64_t frames = 0;
        iw_result r = iw_audio_input_dropped(h_.get(), &frames);
        if (r != IW_OK) return detail::last_error(r);
        return frames;
    }
    explicit operator bool() const { return h_ != nullptr; }
    iw_audio_input* raw() const { return h_.get(); }

  private:
    std::unique_ptr<iw_audio_input, detail::FreeAudioInput> h_;
};

/// The characters' speech, pulled by the audio thread: read() never blocks nor
/// allocates and gives silence when nothing is queued.
class Playback {
  public:
    Playback() = default;
    explicit Playback(iw_playback* h) : h_(h) {}

    /// Fills `frame_count` interleaved frames; returns how many were speech.
    Result<size_t> read(float* frames, size_t frame_count) {
        size_t speech = 0;
        iw_result r = iw_playback_read_f32(h_.get(), frames, frame_count, &speech);
        if (r != IW_OK) return detail::last_error(r);
        return speech;
    }
    Result<size_t> read(int16_t* frames, size_t frame_count) {
        size_t speech = 0;
        iw_result r = iw_playback_read_i16(h_.get(), frames, frame_count, &speech);
        if (r != IW_OK) return detail::last_error(r);
        return speech;
    }
    /// Who is speaking, where, and the viseme there (for lip-sync; any thread).
    Result<NowPlaying> now_playing() const {
        iw_now_playing now{};
        iw_result r = iw_playback_now_playing(h_.get(), &now);
        if (r != IW_OK) return detail::last_error(r);
        return NowPlaying{now.playing != 0, now.viseme,     now.position_frames, now.position_us,
                          now.character,    now.interaction_id, now.utterance_id};
    }
    /// Frames queued and not yet read.
    Result<uint64_t> pending() const {
        uint64_t frames = 0;
        iw_result r = iw_playback_pending(h_.get(), &frames);
        if (r != IW_OK) return detail::last_error(r);
        return frames;
    }
    /// The face to show now (call each rendered frame; any thread, no lock).
    Result<FaceWeights> face() const {
        FaceWeights weights{};
        iw_result r = iw_playback_face(h_.get(), weights.data());
        if (r != IW_OK) return detail::last_error(r);
        return weights;
    }
    /// Shows an emotion packet's behavior and strength on the face.
    Status show_emotion(int32_t behavior, int32_t strength) {
        return detail::check(iw_playback_show_emotion(h_.get(), behavior, strength));
    }
    /// Seeded blinks on (`enabled`) or off.
    Status set_blinks(bool enabled, uint64_t seed = 0) {
        return detail::check(iw_playback_set_blinks(h_.get(), enabled ? 1u : 0u, seed));
    }
    explicit operator bool() const { return h_ != nullptr; }
    iw_playback* raw() const { return h_.get(); }

  private:
    std::unique_ptr<iw_playback, detail::FreePlayback> h_;
};

/// What the game played, for echo cancellation. push() is for the audio thread.
class EchoReference {
  public:
    EchoReference() = default;
    explicit EchoReference(iw_echo_reference* h) : h_(h) {}

    Result<size_t> push(const int16_t* frames, size_t frame_count) {
        size_t accepted = 0;
        iw_result r = iw_echo_reference_push_i16(h_.get(), frames, frame_count, &accepted);
        if (r != IW_OK) return detail::last_error(r);
        return accepted;
    }
    Result<size_t> push(const float* frames, size_t frame_count) {
        size_t accepted = 0;
        iw_result r = iw_echo_reference_push_f32(h_.get(), frames, frame_count, &accepted);
        if (r != IW_OK) return detail::last_error(r);
        return accepted;
    }
    Result<uint64_t> dropped() const {
        uint64_t frames = 0;
        iw_result r = iw_echo_reference_dropped(h_.get(), &frames);
        if (r != IW_OK) return detail::last_error(r);
        return frames;
    }
    explicit operator bool() const { return h_ != nullptr; }
    iw_echo_reference* raw() const { return h_.get(); }

  private:
    std::unique_ptr<iw_echo_reference, detail::FreeEchoReference> h_;
};

// ---------------------------------------------------------------- session

/// A conversation with the scene's characters. Its calls never wait on the network.
class Session {
  public:
    using PacketCallback = std::function<void(const Packet&)>;
    using WakeupCallback = std::function<void()>;

    Session() = default;
    explicit Session(iw_session* h) : h_(h) {}

    /// IW_STATE_*: whether the session is ready, reconnecting, ...
    Result<uint32_t> state() const {
        uint32_t state = 0;
        iw_result r = iw_session_state(h_.get(), &state);
        if (r != IW_OK) return detail::last_error(r);
        return state;
    }
    /// The service's session id (IW_E_NOT_READY before it is known).
    Result<std::string> id() const {
        return detail::read_string([&](char* b, size_t c, size_t* l) { return iw_session_id(h_.get(), b, c, l); });
    }
    /// The scene's characters (IW_E_NOT_READY before the scene is loaded).
    Result<std::vector<Character>> characters() const {
        size_t count = 0;
        iw_result r = iw_session_character_count(h_.get(), &count);
        if (r != IW_OK) return detail::last_error(r);
        std::vector<Character> out;
        for (size_t i = 0; i < count; i++) {
            iw_character c{};
            c.struct_size = sizeof c;
            r = iw_session_character_at(h_.get(), i, &c);
            if (r != IW_OK) return detail::last_error(r);
            out.push_back(Character::from(c));
        }
        return out;
    }
    Result<Character> current_character() const {
        iw_character c{};
        c.struct_size = sizeof c;
        iw_result r = iw_session_current_character(h_.get(), &c);
        if (r != IW_OK) return detail::last_error(r);
        return Character::from(c);
    }
    /// Talks to another character: display name, a word of it, agent id or resource name.
    Status set_character(std::string_view who) {
        return detail::check(iw_session_set_character(h_.get(), detail::CStr(who).c_str()));
    }
    Status add_characters(const std::vector<std::string_view>& names) {
        detail::CStrList list(names);
        return detail::check(iw_session_add_characters(h_.get(), list.data(), list.size()));
    }
    Status remove_characters(const std::vector<std::string_view>& names) {
        detail::CStrList list(names);
        return detail::check(iw_session_remove_characters(h_.get(), list.data(), list.size()));
    }
    /// Loads another scene in the same session.
    Status change_scene(std::string_view scene, const SceneChange& change = {}) {
        iw_scene_change c;
        iw_scene_change_init(&c);
        if (change.capabilities) c.capabilities = *change.capabilities;
        std::vector<iw_dialog_line> lines;
        for (const auto& l : change.dialog_history) lines.push_back(iw_dialog_line{l.talker, l.text.c_str()});
        if (!change.game_session_id.empty()) c.game_session_id = change.game_session_id.c_str();
        if (!change.continuation_state.empty()) {
            c.continuation_state = change.continuation_state.data();
            c.continuation_state_len = change.continuation_state.size();
        }
        if (!lines.empty()) {
            c.dialog_history = lines.data();
            c.dialog_history_count = lines.size();
        }
        return detail::check(iw_session_change_scene(h_.get(), detail::CStr(scene).c_str(), &c));
    }

    // Items of the world (for the characters' knowledge).
    Status create_or_update_items(const std::vector<EntityItem>& items,
                                  const std::vector<std::string_view>& entities = {}) {
        std::vector<detail::CKeyValues> props;
        props.reserve(items.size());
        std::vector<iw_entity_item> c;
        for (const auto& item : items) {
            props.emplace_back(item.properties);
            c.push_back(iw_entity_item{item.id.c_str(), item.display_name.c_str(), item.description.c_str(),
                                       props.back().data(), props.back().size()});
        }
        detail::CStrList ents(entities);
        return detail::check(
            iw_session_create_or_update_items(h_.get(), c.data(), c.size(), ents.data(), ents.size()));
    }
    Status remove_items(const std::vector<std::string_view>& item_ids) {
        detail::CStrList ids(item_ids);
        return detail::check(iw_session_remove_items(h_.get(), ids.data(), ids.size()));
    }
    /// `how`: IW_ITEMS_ADD, IW_ITEMS_REMOVE or IW_ITEMS_REPLACE.
    Status items_in_entities(uint32_t how, const std::vector<std::string_view>& item_ids,
                             const std::vector<std::string_view>& entity_names) {
        detail::CStrList ids(item_ids), ents(entity_names);
        return detail::check(
            iw_session_items_in_entities(h_.get(), how, ids.data(), ids.size(), ents.data(), ents.size()));
    }

    // Talking to the current character.
    Result<SentIds> send_text(std::string_view text) {
        return sent([&](iw_sent_ids* ids) { return iw_session_send_text(h_.get(), detail::CStr(text).c_str(), ids); });
    }
    Result<SentIds> send_trigger(std::string_view name, const Parameters& parameters = {}) {
        detail::CKeyValues params(parameters);
        return sent([&](iw_sent_ids* ids) {
            return iw_session_send_trigger(h_.get(), detail::CStr(name).c_str(), params.data(), params.size(), ids);
        });
    }
    Result<SentIds> send_narrated_action(std::string_view text) {
        return sent([&](iw_sent_ids* ids) {
            return iw_session_send_narrated_action(h_.get(), detail::CStr(text).c_str(), ids);
        });
    }
    Result<SentIds> mute_speech(bool muted) {
        return sent([&](iw_sent_ids* ids) { return iw_session_mute_speech(h_.get(), muted ? 1u : 0u, ids); });
    }
    /// Cancels an interaction's replies (all of them, or the utterances given).
    Status cancel_responses(std::string_view interaction_id, const std::vector<std::string_view>& utterance_ids = {}) {
        detail::CStrList ids(utterance_ids);
        return detail::check(
            iw_session_cancel_responses(h_.get(), detail::CStr(interaction_id).c_str(), ids.data(), ids.size()));
    }

    // Group conversations.
    /// Starts one with these characters; returns its id.
    Result<std::string> start_conversation(const std::vector<std::string_view>& characters, bool with_player = true) {
        detail::CStrList list(characters);
        return detail::read_string([&](char* b, size_t c, size_t* l) {
            return iw_session_start_conversation(h_.get(), list.data(), list.size(), with_player ? 1u : 0u, b, c, l);
        });
    }
    Result<SentIds> send_text_in(std::string_view conversation_id, std::string_view text) {
        return sent([&](iw_sent_ids* ids) {
            return iw_session_send_text_in(h_.get(), detail::CStr(conversation_id).c_str(), detail::CStr(text).c_str(),
                                           ids);
        });
    }
    /// `character` empty: the scene's turn-taking picks who answers.
    Result<SentIds> send_trigger_in(std::string_view conversation_id, std::string_view name,
                                    const Parameters& parameters = {}, std::string_view character = {}) {
        detail::CKeyValues params(parameters);
        detail::CStr who(character);
        return sent([&](iw_sent_ids* ids) {
            return iw_session_send_trigger_in(h_.get(), detail::CStr(conversation_id).c_str(),
                                              detail::CStr(name).c_str(), params.data(), params.size(),
                                              character.empty() ? nullptr : who.c_str(), ids);
        });
    }
    /// The next character speaks (characters talking among themselves).
    Result<SentIds> next_turn(std::string_view conversation_id) {
        return sent([&](iw_sent_ids* ids) {
            return iw_session_next_turn(h_.get(), detail::CStr(conversation_id).c_str(), ids);
        });
    }
    Result<SentIds> send_narrated_action_in(std::string_view conversation_id, std::string_view text) {
        return sent([&](iw_sent_ids* ids) {
            return iw_session_send_narrated_action_in(h_.get(), detail::CStr(conversation_id).c_str(),
                                                      detail::CStr(text).c_str(), ids);
        });
    }
    Status update_conversation(std::string_view conversation_id, const std::vector<std::string_view>& characters,
                               bool with_player = true) {
        detail::CStrList list(characters);
        return detail::check(iw_session_update_conversation(h_.get(), detail::CStr(conversation_id).c_str(),
                                                            list.data(), list.size(), with_player ? 1u : 0u));
    }
    Status end_conversation(std::string_view conversation_id) {
        return detail::check(iw_session_end_conversation(h_.get(), detail::CStr(conversation_id).c_str()));
    }

    // Feedback and saved state: each returns a request id; the answer comes as a CallResult packet.
    Result<uint64_t> like(std::string_view interaction_id, std::string_view correlation_id = {}) {
        detail::CStr corr(correlation_id);
        return request([&](uint64_t* id) {
            return iw_session_like(h_.get(), detail::CStr(interaction_id).c_str(),
                                   correlation_id.empty() ? nullptr : corr.c_str(), id);
        });
    }
    /// `types`: IW_DISLIKE_* reasons.
    Result<uint64_t> dislike(std::string_view interaction_id, const std::vector<uint32_t>& types = {},
                             std::string_view comment = {}, std::string_view correlation_id = {}) {
        detail::CStr corr(correlation_id), text(comment);
        return request([&](uint64_t* id) {
            return iw_session_dislike(h_.get(), detail::CStr(interaction_id).c_str(),
                                      correlation_id.empty() ? nullptr : corr.c_str(),
                                      types.empty() ? nullptr : types.data(), types.size(),
                                      comment.empty() ? nullptr : text.c_str(), id);
        });
    }
    Result<uint64_t> undo_feedback(std::string_view name) {
        return request([&](uint64_t* id) { return iw_session_undo_feedback(h_.get(), detail::CStr(name).c_str(), id); });
    }
    /// Asks for the session's saved state (to continue it later: ClientConfig::continuation_state).
    Result<uint64_t> request_state() {
        return request([&](uint64_t* id) { return iw_session_request_state(h_.get(), id); });
    }
    /// The dialog so far (an owned copy).
    Result<std::vector<DialogLine>> dialog() const {
        size_t count = 0;
        iw_result r = iw_session_dialog_count(h_.get(), &count);
        if (r != IW_OK) return detail::last_error(r);
        std::vector<DialogLine> out;
        for (size_t i = 0; i < count; i++) {
            iw_dialog_line line{};
            r = iw_session_dialog_line_at(h_.get(), i, &line);
            if (r != IW_OK) return detail::last_error(r);
            out.push_back(DialogLine{line.talker, line.text ? line.text : ""});
        }
        return out;
    }

    // Receiving.
    /// Calls `on_packet(const Packet&)` for each queued packet (up to `max`) on
    /// this thread and returns how many. Never blocks; the buffer is kept, so
    /// steady-state polling does not allocate. Packets are lent until the next poll.
    template <class F>
    Result<size_t> poll(F&& on_packet, size_t max = 64) {
        if (buffer_.size() < max) buffer_.resize(max);
        size_t count = 0;
        iw_result r = iw_session_poll(h_.get(), buffer_.data(), max, &count);
        if (r != IW_OK) return detail::last_error(r);
        for (size_t i = 0; i < count; i++) on_packet(Packet(buffer_[i]));
        return count;
    }
    /// Like poll(), through the C API's dispatch (no packet buffer at all).
    template <class F>
    Result<size_t> dispatch(F&& on_packet, size_t max = 64) {
        using Fn = std::remove_reference_t<F>;
        size_t count = 0;
        iw_result r = iw_session_dispatch(
            h_.get(),
            [](iw_session*, const iw_packet* p, void* userdata) { (*static_cast<Fn*>(userdata))(Packet(*p)); },
            const_cast<void*>(static_cast<const void*>(std::addressof(on_packet))), max, &count);
        if (r != IW_OK) return detail::last_error(r);
        return count;
    }
    /// Receives every packet on a library thread instead of polling (an empty
    /// callback goes back to polling). The callable is freed by the library.
    Status set_callback(PacketCallback callback) {
        if (!callback) return detail::check(iw_session_set_callback(h_.get(), nullptr, nullptr, nullptr));
        auto* held = new PacketCallback(std::move(callback));
        iw_result r = iw_session_set_callback(
            h_.get(),
            [](iw_session*, const iw_packet* p, void* userdata) { (*static_cast<PacketCallback*>(userdata))(Packet(*p)); },
            held, detail::free_callable<PacketCallback>);
        return detail::check(r);  // a refused registration's callable is freed by the library
    }
    /// Called on a library thread when the queue goes from empty to non-empty.
    Status set_wakeup(WakeupCallback callback) {
        if (!callback) return detail::check(iw_session_set_wakeup(h_.get(), nullptr, nullptr, nullptr));
        auto* held = new WakeupCallback(std::move(callback));
        iw_result r = iw_session_set_wakeup(
            h_.get(), [](iw_session*, void* userdata) { (*static_cast<WakeupCallback*>(userdata))(); }, held,
            detail::free_callable<WakeupCallback>);
        return detail::check(r);  // a refused registration's callable is freed by the library
    }

    // Voice.
    /// `mode`: IW_MIC_OPEN_MIC or IW_MIC_PUSH_TO_TALK; `understanding`: IW_UNDERSTANDING_*.
    Result<SentIds> start_audio_session(int32_t mode = IW_MIC_PUSH_TO_TALK,
                                        int32_t understanding = IW_UNDERSTANDING_FULL) {
        return sent([&](iw_sent_ids* ids) { return iw_session_start_audio_session(h_.get(), mode, understanding, ids); });
    }
    Result<SentIds> start_audio_session_in(std::string_view conversation_id, int32_t mode = IW_MIC_PUSH_TO_TALK,
                                           int32_t understanding = IW_UNDERSTANDING_FULL) {
        return sent([&](iw_sent_ids* ids) {
            return iw_session_start_audio_session_in(h_.get(), detail::CStr(conversation_id).c_str(), mode,
                                                     understanding, ids);
        });
    }
    Result<SentIds> end_audio_session() {
        return sent([&](iw_sent_ids* ids) { return iw_session_end_audio_session(h_.get(), ids); });
    }
    /// The microphone's input, in the game's own format.
    Result<AudioInput> open_audio_input(uint32_t rate, uint32_t channels) {
        iw_audio_input* h = nullptr;
        iw_result r = iw_audio_input_open(h_.get(), rate, channels, &h);
        if (r != IW_OK) return detail::last_error(r);
        return AudioInput(h);
    }
    /// A playback stream of every character's speech (`character` empty) or one's.
    Result<Playback> open_playback(uint32_t rate, uint32_t channels, std::string_view character = {}) {
        detail::CStr who(character);
        iw_playback* h = nullptr;
        iw_result r = iw_session_open_playback(h_.get(), rate, channels, character.empty() ? nullptr : who.c_str(), &h);
        if (r != IW_OK) return detail::last_error(r);
        return Playback(h);
    }
    /// Hands-free turns on (a config) or off (std::nullopt).
    Status set_voice_detection(const std::optional<VoiceDetection>& config) {
        if (!config) return detail::check(iw_session_set_voice_detection(h_.get(), nullptr));
        iw_voice_detection c;
        iw_voice_detection_init(&c);
        if (config->end_silence_ms) c.end_silence_ms = config->end_silence_ms;
        c.understanding = config->understanding;
        c.echo_cancellation = config->echo_cancellation ? 1u : 0u;
        return detail::check(iw_session_set_voice_detection(h_.get(), &c));
    }
    Result<EchoReference> open_echo_reference(uint32_t rate, uint32_t channels) {
        iw_echo_reference* h = nullptr;
        iw_result r = iw_echo_reference_open(h_.get(), rate, channels, &h);
        if (r != IW_OK) return detail::last_error(r);
        return EchoReference(h);
    }

    /// Ends the conversation (the handle stays valid until destroyed; queued
    /// packets can still be polled).
    Status close() { return detail::check(iw_session_close(h_.get())); }

    explicit operator bool() const { return h_ != nullptr; }
    iw_session* raw() const { return h_.get(); }

  private:
    template <class Call>
    static Result<SentIds> sent(Call call) {
        iw_sent_ids ids;
        iw_sent_ids_init(&ids);
        iw_result r = call(&ids);
        if (r != IW_OK) return detail::last_error(r);
        return SentIds::from(ids);
    }
    template <class Call>
    static Result<uint64_t> request(Call call) {
        uint64_t id = 0;
        iw_result r = call(&id);
        if (r != IW_OK) return detail::last_error(r);
        return id;
    }
    std::unique_ptr<iw_session, detail::FreeSession> h_;
    std::vector<iw_packet> buffer_;
};

// ---------------------------------------------------------------- client

/// A connection configuration shared by the sessions it opens (one HTTP/2
/// connection pool). Creating it does no I/O.
class Client {
  public:
    Client() = default;

    static Result<Client> create(const ClientConfig& config) {
        iw_client_config c;
        iw_client_config_init(&c);
        auto opt = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
        c.host = opt(config.host);
        c.scene = opt(config.scene);
        c.api_key = opt(config.api_key);
        c.api_secret = opt(config.api_secret);
        c.session_token = opt(config.session_token);
        c.session_token_type = opt(config.session_token_type);
        c.session_id = opt(config.session_id);
        c.session_token_expires_ms = config.session_token_expires_ms;
        c.user_name = opt(config.user_name);
        c.client_id = opt(config.client_id);
        c.game_session_id = opt(config.game_session_id);
        c.root_cert_pem = opt(config.root_cert_pem);
        detail::CKeyValues profile(config.profile_fields);
        c.profile_fields = profile.data();
        c.profile_field_count = profile.size();
        if (config.tls) c.tls = *config.tls;
        if (config.capabilities) c.capabilities = *config.capabilities;
        auto set = [](uint32_t& field, const std::optional<uint32_t>& value) {
            if (value) field = *value;
        };
        set(c.queue_capacity, config.queue_capacity);
        set(c.scene_timeout_ms, config.scene_timeout_ms);
        set(c.reconnect_max_attempts, config.reconnect_max_attempts);
        set(c.connect_timeout_ms, config.connect_timeout_ms);
        set(c.handshake_timeout_ms, config.handshake_timeout_ms);
        set(c.stall_timeout_ms, config.stall_timeout_ms);
        set(c.keepalive_interval_ms, config.keepalive_interval_ms);
        set(c.keepalive_timeout_ms, config.keepalive_timeout_ms);
        set(c.max_pending_sends, config.max_pending_sends);
        set(c.max_receive_message_bytes, config.max_receive_message_bytes);
        if (!config.continuation_state.empty()) {
            c.continuation_state = config.continuation_state.data();
            c.continuation_state_len = config.continuation_state.size();
        }
        std::vector<iw_dialog_line> lines;
        for (const auto& l : config.dialog_history) lines.push_back(iw_dialog_line{l.talker, l.text.c_str()});
        if (!lines.empty()) {
            c.dialog_history = lines.data();
            c.dialog_history_count = lines.size();
        }
        if (config.token_provider) {
            c.token_provider = [](iw_client*, uint64_t request_id, const char* workspace, const char* session_id,
                                  void* userdata) {
                std::optional<std::string_view> session;
                if (session_id) session = session_id;
                (*static_cast<TokenProvider*>(userdata))(request_id, workspace ? workspace : "", session);
            };
            c.token_provider_userdata = new TokenProvider(config.token_provider);
            c.token_provider_userdata_free = detail::free_callable<TokenProvider>;
        }
        iw_client* h = nullptr;
        iw_result r = iw_client_new(IW_ABI_VERSION, &c, &h);
        if (r != IW_OK) return detail::last_error(r);
        Client client;
        client.h_.reset(h);
        return client;
    }

    /// Opens a session; never waits on the network (its state says when it is ready).
    Result<Session> open_session() const {
        iw_session* h = nullptr;
        iw_result r = iw_session_open(h_.get(), &h);
        if (r != IW_OK) return detail::last_error(r);
        return Session(h);
    }
    /// Answers a token request (from any thread).
    Status provide_token(uint64_t request_id, std::string_view token, std::string_view token_type,
                         std::string_view session_id, int64_t expires_ms) const {
        return detail::check(iw_client_provide_token(h_.get(), request_id, detail::CStr(token).c_str(),
                                                     detail::CStr(token_type).c_str(),
                                                     detail::CStr(session_id).c_str(), expires_ms));
    }
    /// Says a token request failed: the sessions waiting on it report the error.
    Status token_failed(uint64_t request_id, std::string_view message) const {
        return detail::check(iw_client_token_failed(h_.get(), request_id, detail::CStr(message).c_str()));
    }

    explicit operator bool() const { return h_ != nullptr; }
    iw_client* raw() const { return h_.get(); }

  private:
    std::unique_ptr<iw_client, detail::FreeClient> h_;
};

// ---------------------------------------------------------------- local engine

#if defined(INWORLD_ENGINE)

/// A token minted by the local engine (what a game's backend would hand out).
struct EngineToken {
    std::string token, token_type, session_id;
    int64_t expires_ms = 0;
};

/// How the local engine runs. Empty strings take the defaults (a free loopback
/// port, the demo scene, the test key and secret).
struct EngineConfig {
    std::string listen;  // "127.0.0.1:0"
    std::string scene;   // "default" (the demo tavern), "test", or a scene file's path
    std::string api_key, api_secret;
    std::optional<uint32_t> pacing;  // IW_PACING_*
    std::optional<uint32_t> brain;   // IW_BRAIN_* (default IW_BRAIN_SCRIPTED)
    // With IW_BRAIN_LLM: an OpenAI-compatible endpoint's API base, model and key.
    std::string llm_url, llm_model, llm_api_key;
    std::optional<uint32_t> synthesizer;  // IW_SYNTHESIZER_* (default: the best the build has)
    std::optional<uint32_t> recognizer;   // IW_RECOGNIZER_* (default: the best the build has)
    std::string whisper_model;            // a whisper.cpp model file (IW_RECOGNIZER_WHISPER)
};

namespace detail {
struct FreeEngine { void operator()(iw_engine* h) const { iw_engine_free(h); } };
}  // namespace detail

/// The local engine, in this process.
class Engine {
  public:
    Engine() = default;

    static Result<Engine> start(const EngineConfig& config = {}) {
        iw_engine_config c;
        iw_engine_config_init(&c);
        auto opt = [](const std::string& s) { return s.empty() ? nullptr : s.c_str(); };
        c.listen = opt(config.listen);
        c.scene = opt(config.scene);
        c.api_key = opt(config.api_key);
        c.api_secret = opt(config.api_secret);
        if (config.pacing) c.pacing = *config.pacing;
        if (config.brain) c.brain = *config.brain;
        c.llm_url = opt(config.llm_url);
        c.llm_model = opt(config.llm_model);
        c.llm_api_key = opt(config.llm_api_key);
        if (config.synthesizer) c.synthesizer = *config.synthesizer;
        if (config.recognizer) c.recognizer = *config.recognizer;
        c.whisper_model = opt(config.whisper_model);
        iw_engine* h = nullptr;
        iw_result r = iw_engine_start(&c, &h);
        if (r != IW_OK) return detail::last_error(r);
        Engine engine;
        engine.h_.reset(h);
        return engine;
    }
    /// "127.0.0.1:PORT": the host for ClientConfig.
    Result<std::string> address() const {
        return detail::read_string([&](char* b, size_t c, size_t* l) { return iw_engine_address(h_.get(), b, c, l); });
    }
    /// The resource name of the engine's scene `index` (IW_E_NOT_FOUND past the last).
    Result<std::string> scene_name(size_t index = 0) const {
        return detail::read_string(
            [&](char* b, size_t c, size_t* l) { return iw_engine_scene_name(h_.get(), index, b, c, l); });
    }
    /// A session token, as a backend would mint one.
    Result<EngineToken> mint_token() const {
        iw_engine_token t;
        iw_engine_token_init(&t);
        iw_result r = iw_engine_mint_token(h_.get(), &t);
        if (r != IW_OK) return detail::last_error(r);
        return EngineToken{t.token, t.token_type, t.session_id, t.expires_ms};
    }
    /// Stops serving (sessions see the connection end); the destructor frees it.
    Status stop() { return detail::check(iw_engine_stop(h_.get())); }

    explicit operator bool() const { return h_ != nullptr; }
    iw_engine* raw() const { return h_.get(); }

  private:
    std::unique_ptr<iw_engine, detail::FreeEngine> h_;
};

#endif  // INWORLD_ENGINE

}  // namespace inworld

#endif  // INWORLD_HPP
