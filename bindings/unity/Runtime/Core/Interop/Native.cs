// The C API of inworld.h, declared for P/Invoke: every constant, struct and
// function of the header under its C name, so that the two read alike.
// tests/unity_core.rs fails when the header gains one this file lacks, and
// checks every struct's size and field offsets against the C compiler's.
//
// Strings cross as NUL-terminated UTF-8 byte arrays (Utf8.Encode) and come
// back as pointers read with Utf8.Decode: never the platform's ANSI marshaller.
// Handles are IntPtr here; the SafeHandles of the core own them.
// iw_engine_* exist only in libraries built with the local engine.
using System;
using System.Runtime.InteropServices;

namespace Inworld.Interop
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void iw_token_request_fn(IntPtr client, ulong request_id, IntPtr workspace, IntPtr session_id, IntPtr userdata);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void iw_userdata_free_fn(IntPtr userdata);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void iw_packet_fn(IntPtr session, IntPtr packet, IntPtr userdata);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void iw_wakeup_fn(IntPtr session, IntPtr userdata);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate void iw_log_fn(uint level, IntPtr target, IntPtr message, IntPtr userdata);

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_key_value
    {
        public IntPtr key;
        public IntPtr value;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_dialog_line
    {
        public uint talker;
        public IntPtr text;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_client_config
    {
        public uint struct_size;
        public uint tls;
        public IntPtr host;
        public IntPtr root_cert_pem;
        public IntPtr api_key;
        public IntPtr api_secret;
        public IntPtr session_token;
        public IntPtr session_token_type;
        public IntPtr session_id;
        public long session_token_expires_ms;
        public IntPtr scene;
        public IntPtr user_name;
        public IntPtr profile_fields;
        public UIntPtr profile_field_count;
        public IntPtr client_id;
        public IntPtr game_session_id;
        public uint capabilities;
        public uint scene_timeout_ms;
        public uint queue_capacity;
        public uint reconnect_max_attempts;
        public IntPtr continuation_state;
        public UIntPtr continuation_state_len;
        public IntPtr dialog_history;
        public UIntPtr dialog_history_count;
        public uint connect_timeout_ms;
        public uint handshake_timeout_ms;
        public uint stall_timeout_ms;
        public uint keepalive_interval_ms;
        public uint keepalive_timeout_ms;
        public uint max_pending_sends;
        public uint max_receive_message_bytes;
        public IntPtr token_provider;
        public IntPtr token_provider_userdata;
        public IntPtr token_provider_userdata_free;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_str
    {
        public IntPtr ptr;
        public UIntPtr len;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_character
    {
        public uint struct_size;
        public iw_str id;
        public iw_str resource_name;
        public iw_str display_name;
        public iw_str avatar_img;
        public iw_str avatar_img_original;
        public iw_str rpm_model_uri;
        public iw_str rpm_image_uri_portrait;
        public iw_str rpm_image_uri_posture;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_scene_change
    {
        public uint struct_size;
        public uint capabilities;
        public IntPtr game_session_id;
        public IntPtr continuation_state;
        public UIntPtr continuation_state_len;
        public IntPtr dialog_history;
        public UIntPtr dialog_history_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_entity_item
    {
        public IntPtr id;
        public IntPtr display_name;
        public IntPtr description;
        public IntPtr properties;
        public UIntPtr property_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_sent_ids
    {
        public uint struct_size;
        public fixed byte packet_id[37];
        public fixed byte utterance_id[37];
        public fixed byte interaction_id[37];
        public fixed byte correlation_id[37];
        public fixed byte conversation_id[37];
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_packet_ids
    {
        public iw_str packet_id;
        public iw_str utterance_id;
        public iw_str interaction_id;
        public iw_str correlation_id;
        public iw_str conversation_id;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_actor
    {
        public uint kind;
        public iw_str name;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_text
    {
        public iw_str text;
        public uint is_final;
        public uint source;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_phoneme
    {
        public iw_str phoneme;
        public long start_offset_us;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_viseme
    {
        public uint viseme;
        public long start_offset_us;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_audio
    {
        public IntPtr data;
        public UIntPtr len;
        public IntPtr phonemes;
        public UIntPtr phoneme_count;
        public IntPtr samples;
        public UIntPtr sample_count;
        public uint sample_rate;
        public uint channels;
        public long duration_us;
        public IntPtr visemes;
        public UIntPtr viseme_count;
        public iw_str decode_error;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_silence
    {
        public long duration_ms;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_emotion
    {
        public int behavior;
        public int strength;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_parameter
    {
        public iw_str name;
        public iw_str value;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_custom
    {
        public iw_str name;
        public IntPtr parameters;
        public UIntPtr parameter_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_control
    {
        public uint action;
        public iw_str description;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_conversation
    {
        public uint kind;
        public IntPtr participants;
        public UIntPtr participant_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_scene
    {
        public iw_str name;
        public iw_str description;
        public iw_str display_name;
        public IntPtr characters;
        public UIntPtr character_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_narrated_action
    {
        public iw_str content;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_cancel_responses
    {
        public iw_str interaction_id;
        public IntPtr utterance_ids;
        public UIntPtr utterance_id_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_log
    {
        public iw_str text;
        public int level;
        public IntPtr metadata;
        public UIntPtr metadata_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_operation_status
    {
        public int code;
        public iw_str message;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_error
    {
        public int grpc_code;
        public iw_str message;
        public uint has_details;
        public int error_type;
        public uint reconnect_type;
        public long reconnect_time_ms;
        public int max_retries;
        public uint will_retry;
        public iw_str resource_id;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_connection
    {
        public uint state;
        public long retry_in_ms;
        public uint resumed;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_overflow
    {
        public ulong dropped;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_send_failed
    {
        public uint reason;
        public iw_str message;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_call_result
    {
        public ulong request_id;
        public uint call;
        public int grpc_code;
        public iw_str message;
        public iw_str name;
        public IntPtr data;
        public UIntPtr data_len;
        public iw_str version;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_scene_mutation
    {
        public uint what;
        public iw_str scene;
        public IntPtr names;
        public UIntPtr name_count;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_voice_activity
    {
        public uint speaking;
        public uint cut_short;
        public iw_str audio_session_id;
    }

    [StructLayout(LayoutKind.Explicit)]
    public unsafe struct iw_packet_data
    {
        [FieldOffset(0)] public iw_text text;
        [FieldOffset(0)] public iw_audio audio;
        [FieldOffset(0)] public iw_silence silence;
        [FieldOffset(0)] public iw_emotion emotion;
        [FieldOffset(0)] public iw_custom custom;
        [FieldOffset(0)] public iw_control control;
        [FieldOffset(0)] public iw_conversation conversation;
        [FieldOffset(0)] public iw_scene scene;
        [FieldOffset(0)] public iw_narrated_action narrated_action;
        [FieldOffset(0)] public iw_cancel_responses cancel_responses;
        [FieldOffset(0)] public iw_log log;
        [FieldOffset(0)] public iw_operation_status operation_status;
        [FieldOffset(0)] public iw_error error;
        [FieldOffset(0)] public iw_connection connection;
        [FieldOffset(0)] public iw_overflow overflow;
        [FieldOffset(0)] public iw_send_failed send_failed;
        [FieldOffset(0)] public iw_call_result call_result;
        [FieldOffset(0)] public iw_scene_mutation scene_mutation;
        [FieldOffset(0)] public iw_voice_activity voice_activity;
        [FieldOffset(0)] public fixed ulong reserved[16];
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_packet
    {
        public uint struct_size;
        public uint kind;
        public iw_packet_ids ids;
        public iw_actor source;
        public iw_actor target;
        public long timestamp_ms;
        public iw_packet_data data;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_now_playing
    {
        public uint playing;
        public uint viseme;
        public ulong position_frames;
        public ulong position_us;
        public fixed byte character[Native.IW_NOW_PLAYING_ID_SIZE];
        public fixed byte interaction_id[Native.IW_NOW_PLAYING_ID_SIZE];
        public fixed byte utterance_id[Native.IW_NOW_PLAYING_ID_SIZE];
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_voice_detection
    {
        public uint struct_size;
        public uint end_silence_ms;
        public int understanding;
        public uint echo_cancellation;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_engine_config
    {
        public uint struct_size;
        public uint pacing;
        public IntPtr listen;
        public IntPtr scene;
        public IntPtr api_key;
        public IntPtr api_secret;
        public uint brain;
        public IntPtr llm_url;
        public IntPtr llm_model;
        public IntPtr llm_api_key;
        public uint synthesizer;
        public uint recognizer;
        public IntPtr whisper_model;
    }

    [StructLayout(LayoutKind.Sequential)]
    public unsafe struct iw_engine_token
    {
        public uint struct_size;
        public fixed byte token[256];
        public fixed byte token_type[32];
        public fixed byte session_id[128];
        public long expires_ms;
    }

    public static class Native
    {
#if UNITY_IOS && !UNITY_EDITOR
        public const string Lib = "__Internal";
#else
        public const string Lib = "inworld";
#endif

        public const int IW_OK = 0;
        public const int IW_E_INVALID_ARGUMENT = -1;
        public const int IW_E_NULL_POINTER = -2;
        public const int IW_E_INVALID_UTF8 = -3;
        public const int IW_E_INVALID_HANDLE = -4;
        public const int IW_E_ABI_VERSION = -5;
        public const int IW_E_BUSY = -6;
        public const int IW_E_SHUTDOWN = -7;
        public const int IW_E_NOT_READY = -8;
        public const int IW_E_CLOSED = -9;
        public const int IW_E_PANIC = -10;
        public const int IW_E_BUFFER_TOO_SMALL = -11;
        public const int IW_E_RUNTIME = -12;
        public const int IW_E_NOT_FOUND = -13;
        public const int IW_E_ALREADY_STARTED = -14;
        public const int IW_E_QUEUE_FULL = -15;
        public const int IW_E_IO = -16;
        public const int IW_E_SCENE = -17;
        public const int IW_E_SERVICE = -18;
        public const int IW_E_UNSUPPORTED = -19;
        public const uint IW_ABI_VERSION = 131076u;
        public const uint IW_ABI_VERSION_MAJOR = 2u;
        public const int IW_TLS_AUTO = 0;
        public const int IW_TLS_ON = 1;
        public const int IW_TLS_OFF = 2;
        public const uint IW_CAP_AUDIO = 1u;
        public const uint IW_CAP_INTERRUPTIONS = 2u;
        public const uint IW_CAP_EMOTIONS = 4u;
        public const uint IW_CAP_PHONEMES = 8u;
        public const uint IW_CAP_SILENCE = 16u;
        public const uint IW_CAP_NARRATED_ACTIONS = 32u;
        public const uint IW_CAP_DEBUG_INFO = 64u;
        public const uint IW_CAP_PING_PONG_REPORT = 128u;
        public const uint IW_CAP_PERCEIVED_LATENCY_REPORT = 256u;
        public const uint IW_CAP_MULTI_MODAL_ACTION_PLANNING = 512u;
        public const uint IW_CAP_LOGS_WARNING = 1024u;
        public const uint IW_CAP_LOGS_INFO = 2048u;
        public const uint IW_CAP_LOGS_DEBUG = 4096u;
        public const uint IW_CAP_LOGS_INTERNAL = 8192u;
        public const uint IW_CAP_ALL = 16383u;
        public const uint IW_CAP_DEFAULT = 3201u;
        public const int IW_TALKER_PLAYER = 1;
        public const int IW_TALKER_CHARACTER = 2;
        public const uint IW_CAP_KEEP = 4294967295u;
        public const int IW_ITEMS_ADD = 1;
        public const int IW_ITEMS_REMOVE = 2;
        public const int IW_ITEMS_REPLACE = 3;
        public const int IW_CONVERSATION_ID_SIZE = 37;
        public const int IW_DISLIKE_IRRELEVANT = 1;
        public const int IW_DISLIKE_UNSAFE = 2;
        public const int IW_DISLIKE_UNTRUE = 3;
        public const int IW_DISLIKE_INCORRECT_USE_OF_KNOWLEDGE = 4;
        public const int IW_DISLIKE_UNEXPECTED_ACTION = 5;
        public const int IW_DISLIKE_UNEXPECTED_GOAL_BEHAVIOR = 6;
        public const int IW_DISLIKE_REPETITION = 7;
        public const int IW_DISLIKE_OUT_OF_CHARACTER = 8;
        public const int IW_DISLIKE_TOO_LONG = 9;
        public const int IW_MIC_OPEN_MIC = 1;
        public const int IW_MIC_PUSH_TO_TALK = 2;
        public const int IW_UNDERSTANDING_FULL = 1;
        public const int IW_UNDERSTANDING_SPEECH_RECOGNITION_ONLY = 2;
        public const int IW_NOW_PLAYING_ID_SIZE = 64;
        public const int IW_BLENDSHAPE_COUNT = 52;
        public const int IW_ACTOR_UNKNOWN = 0;
        public const int IW_ACTOR_PLAYER = 1;
        public const int IW_ACTOR_CHARACTER = 2;
        public const int IW_ACTOR_WORLD = 3;
        public const int IW_VISEME_SIL = 0;
        public const int IW_VISEME_PP = 1;
        public const int IW_VISEME_FF = 2;
        public const int IW_VISEME_TH = 3;
        public const int IW_VISEME_DD = 4;
        public const int IW_VISEME_KK = 5;
        public const int IW_VISEME_CH = 6;
        public const int IW_VISEME_SS = 7;
        public const int IW_VISEME_NN = 8;
        public const int IW_VISEME_RR = 9;
        public const int IW_VISEME_AA = 10;
        public const int IW_VISEME_E = 11;
        public const int IW_VISEME_IH = 12;
        public const int IW_VISEME_OH = 13;
        public const int IW_VISEME_OU = 14;
        public const int IW_PACKET_UNKNOWN = 0;
        public const int IW_PACKET_TEXT = 1;
        public const int IW_PACKET_AUDIO = 2;
        public const int IW_PACKET_SILENCE = 3;
        public const int IW_PACKET_EMOTION = 4;
        public const int IW_PACKET_TRIGGER = 5;
        public const int IW_PACKET_TASK = 6;
        public const int IW_PACKET_CONTROL = 7;
        public const int IW_PACKET_CONVERSATION = 8;
        public const int IW_PACKET_SCENE_STATUS = 9;
        public const int IW_PACKET_NARRATED_ACTION = 10;
        public const int IW_PACKET_CANCEL_RESPONSES = 11;
        public const int IW_PACKET_LOG = 12;
        public const int IW_PACKET_OPERATION_STATUS = 13;
        public const int IW_PACKET_ERROR = 14;
        public const int IW_PACKET_CONNECTION = 15;
        public const int IW_PACKET_OVERFLOW = 16;
        public const int IW_PACKET_SEND_FAILED = 17;
        public const int IW_PACKET_CALL_RESULT = 18;
        public const int IW_PACKET_SCENE_MUTATION = 19;
        public const int IW_PACKET_VOICE_ACTIVITY = 20;
        public const int IW_TEXT_SOURCE_UNKNOWN = 0;
        public const int IW_TEXT_SOURCE_SPEECH_TO_TEXT = 1;
        public const int IW_TEXT_SOURCE_TYPED_IN = 2;
        public const int IW_TEXT_SOURCE_GENERATED = 3;
        public const int IW_TEXT_SOURCE_FILLER = 4;
        public const int IW_CONTROL_UNKNOWN = 0;
        public const int IW_CONTROL_AUDIO_SESSION_START = 1;
        public const int IW_CONTROL_AUDIO_SESSION_END = 2;
        public const int IW_CONTROL_INTERACTION_END = 3;
        public const int IW_CONTROL_TTS_PLAYBACK_START = 4;
        public const int IW_CONTROL_TTS_PLAYBACK_END = 5;
        public const int IW_CONTROL_TTS_PLAYBACK_MUTE = 6;
        public const int IW_CONTROL_TTS_PLAYBACK_UNMUTE = 7;
        public const int IW_CONTROL_WARNING = 8;
        public const int IW_CONTROL_SESSION_END = 9;
        public const int IW_CONVERSATION_UNKNOWN = 0;
        public const int IW_CONVERSATION_STARTED = 1;
        public const int IW_CONVERSATION_UPDATED = 2;
        public const int IW_CONVERSATION_EVICTED = 3;
        public const int IW_STATE_CONNECTING = 1;
        public const int IW_STATE_READY = 2;
        public const int IW_STATE_RECONNECTING = 3;
        public const int IW_STATE_CLOSED = 4;
        public const int IW_STATE_STALLED = 5;
        public const int IW_RESUMED_NO = 0;
        public const int IW_RESUMED_SAME_SESSION = 1;
        public const int IW_RESUMED_NEW_SESSION = 2;
        public const int IW_SEND_NOT_SENT = 1;
        public const int IW_SEND_MAYBE_SENT = 2;
        public const int IW_SEND_REFUSED = 3;
        public const int IW_RECONNECT_UNDEFINED = 0;
        public const int IW_RECONNECT_NO_RETRY = 1;
        public const int IW_RECONNECT_IMMEDIATE = 2;
        public const int IW_RECONNECT_TIMEOUT = 3;
        public const int IW_MUTATION_LOAD_SCENE = 1;
        public const int IW_MUTATION_ADD_CHARACTERS = 2;
        public const int IW_MUTATION_REMOVE_CHARACTERS = 3;
        public const int IW_CALL_LIKE = 1;
        public const int IW_CALL_DISLIKE = 2;
        public const int IW_CALL_UNDO_FEEDBACK = 3;
        public const int IW_CALL_SESSION_STATE = 4;
        public const int IW_LOG_ERROR = 1;
        public const int IW_LOG_WARN = 2;
        public const int IW_LOG_INFO = 3;
        public const int IW_LOG_DEBUG = 4;
        public const int IW_LOG_TRACE = 5;
        public const int IW_PACING_INSTANT = 0;
        public const int IW_PACING_HUMAN = 1;
        public const int IW_BRAIN_SCRIPTED = 0;
        public const int IW_BRAIN_LLM = 1;
        public const int IW_SYNTHESIZER_DEFAULT = 0;
        public const int IW_SYNTHESIZER_TONES = 1;
        public const int IW_SYNTHESIZER_ESPEAK = 2;
        public const int IW_RECOGNIZER_DEFAULT = 0;
        public const int IW_RECOGNIZER_SCRIPTED = 1;
        public const int IW_RECOGNIZER_POCKETSPHINX = 2;
        public const int IW_RECOGNIZER_WHISPER = 3;

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern IntPtr iw_result_name(int result);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_last_error(byte[] buf, UIntPtr cap, out UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern uint iw_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern uint iw_abi_version();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_runtime_set_worker_threads(uint threads);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_shutdown();

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_client_config_init(ref iw_client_config config);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_client_new(uint abi_version, ref iw_client_config config, out IntPtr @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_client_free(IntPtr client);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_client_provide_token(IntPtr client, ulong request_id, byte[] token, byte[] token_type, byte[] session_id, long expires_ms);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_client_token_failed(IntPtr client, ulong request_id, byte[] message);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_open(IntPtr client, out IntPtr @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_close(IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_free(IntPtr session);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_state(IntPtr session, out uint state);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_id(IntPtr session, byte[] buf, UIntPtr cap, out UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_character_count(IntPtr session, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_character_at(IntPtr session, UIntPtr index, ref iw_character @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_current_character(IntPtr session, ref iw_character @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_set_character(IntPtr session, byte[] who);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_add_characters(IntPtr session, IntPtr[] names, UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_remove_characters(IntPtr session, IntPtr[] names, UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_scene_change_init(ref iw_scene_change change);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_change_scene(IntPtr session, byte[] scene, ref iw_scene_change change);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_create_or_update_items(IntPtr session, iw_entity_item[] items, UIntPtr count, IntPtr[] entities, UIntPtr entity_count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_remove_items(IntPtr session, IntPtr[] item_ids, UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_items_in_entities(IntPtr session, uint how, IntPtr[] item_ids, UIntPtr item_count, IntPtr[] entity_names, UIntPtr entity_count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_sent_ids_init(ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_send_text(IntPtr session, byte[] text, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_send_trigger(IntPtr session, byte[] name, iw_key_value[] parameters, UIntPtr parameter_count, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_send_narrated_action(IntPtr session, byte[] text, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_mute_speech(IntPtr session, uint muted, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_cancel_responses(IntPtr session, byte[] interaction_id, IntPtr[] utterance_ids, UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_start_conversation(IntPtr session, IntPtr[] characters, UIntPtr count, uint with_player, byte[] id, UIntPtr cap, out UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_send_text_in(IntPtr session, byte[] conversation_id, byte[] text, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_send_trigger_in(IntPtr session, byte[] conversation_id, byte[] name, iw_key_value[] parameters, UIntPtr parameter_count, byte[] character, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_next_turn(IntPtr session, byte[] conversation_id, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_send_narrated_action_in(IntPtr session, byte[] conversation_id, byte[] text, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_update_conversation(IntPtr session, byte[] conversation_id, IntPtr[] characters, UIntPtr count, uint with_player);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_end_conversation(IntPtr session, byte[] conversation_id);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_like(IntPtr session, byte[] interaction_id, byte[] correlation_id, out ulong request_id);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_dislike(IntPtr session, byte[] interaction_id, byte[] correlation_id, uint[] types, UIntPtr type_count, byte[] comment, out ulong request_id);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_undo_feedback(IntPtr session, byte[] name, out ulong request_id);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_request_state(IntPtr session, out ulong request_id);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_dialog_count(IntPtr session, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_dialog_line_at(IntPtr session, UIntPtr index, ref iw_dialog_line @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_poll(IntPtr session, [Out] iw_packet[] @out, UIntPtr cap, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_dispatch(IntPtr session, iw_packet_fn callback, IntPtr userdata, UIntPtr max, out UIntPtr count);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_set_callback(IntPtr session, iw_packet_fn callback, IntPtr userdata, iw_userdata_free_fn userdata_free);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_set_wakeup(IntPtr session, iw_wakeup_fn callback, IntPtr userdata, iw_userdata_free_fn userdata_free);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_start_audio_session(IntPtr session, int mode, int understanding, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_start_audio_session_in(IntPtr session, byte[] conversation_id, int mode, int understanding, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_end_audio_session(IntPtr session, ref iw_sent_ids ids);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_audio_input_open(IntPtr session, uint rate, uint channels, out IntPtr @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_audio_input_push_i16(IntPtr input, short* frames, UIntPtr frame_count, out UIntPtr accepted);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_audio_input_push_f32(IntPtr input, float* frames, UIntPtr frame_count, out UIntPtr accepted);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_audio_input_dropped(IntPtr input, out ulong frames);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_audio_input_free(IntPtr input);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_open_playback(IntPtr session, uint rate, uint channels, byte[] character, out IntPtr @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_playback_read_f32(IntPtr playback, float* frames, UIntPtr frame_count, out UIntPtr speech_frames);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_playback_read_i16(IntPtr playback, short* frames, UIntPtr frame_count, out UIntPtr speech_frames);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_playback_now_playing(IntPtr playback, ref iw_now_playing now);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_playback_pending(IntPtr playback, out ulong frames);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_playback_free(IntPtr playback);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_playback_face(IntPtr playback, float* weights);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern IntPtr iw_blendshape_name(uint index);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_playback_show_emotion(IntPtr playback, int behavior, int strength);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_playback_set_blinks(IntPtr playback, uint enabled, ulong seed);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_voice_detection_init(ref iw_voice_detection config);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_set_voice_detection(IntPtr session, ref iw_voice_detection config);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_echo_reference_open(IntPtr session, uint rate, uint channels, out IntPtr @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_echo_reference_push_i16(IntPtr reference, short* frames, UIntPtr frame_count, out UIntPtr accepted);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern unsafe int iw_echo_reference_push_f32(IntPtr reference, float* frames, UIntPtr frame_count, out UIntPtr accepted);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_echo_reference_dropped(IntPtr reference, out ulong frames);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_echo_reference_free(IntPtr reference);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_set_log_callback(iw_log_fn callback, IntPtr userdata, iw_userdata_free_fn userdata_free, uint max_level);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern IntPtr iw_emotion_behavior_name(int behavior);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern IntPtr iw_emotion_strength_name(int strength);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern IntPtr iw_viseme_name(uint viseme);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_config_init(ref iw_engine_config config);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_start(ref iw_engine_config config, out IntPtr @out);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_address(IntPtr engine, byte[] buf, UIntPtr cap, out UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_scene_name(IntPtr engine, UIntPtr index, byte[] buf, UIntPtr cap, out UIntPtr len);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_stop(IntPtr engine);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_free(IntPtr engine);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_token_init(ref iw_engine_token token);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_engine_mint_token(IntPtr engine, ref iw_engine_token token);
        // NULL turns voice detection off.
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl, ExactSpelling = true)]
        public static extern int iw_session_set_voice_detection(IntPtr session, IntPtr config);
    }
}
