using System;
using System.Collections.Generic;
using Inworld.Interop;

namespace Inworld
{
    /// How a client connects. Null strings and unset numbers take the SDK's defaults.
    public sealed class InworldClientConfig
    {
        /// "host:port".
        public string Host;
        /// "workspaces/<ws>/scenes/<id>", or a character's resource name.
        public string Scene;
        public string ApiKey;
        public string ApiSecret;
        /// A session token from the game's backend, instead of the key and secret.
        public string SessionToken;
        public string SessionTokenType;
        public string SessionId;
        public long SessionTokenExpiresMs;
        public string UserName;
        public Dictionary<string, string> ProfileFields = new Dictionary<string, string>();
        public string ClientId;
        public string GameSessionId;
        public string RootCertPem;
        /// Native.IW_TLS_*.
        public uint? Tls;
        /// Native.IW_CAP_*.
        public uint? Capabilities;
        public uint? QueueCapacity;
        public uint? SceneTimeoutMs;
        public uint? ReconnectMaxAttempts;
        public uint? ConnectTimeoutMs;
        public uint? HandshakeTimeoutMs;
        public uint? StallTimeoutMs;
        /// An HTTP/2 PING after this long without hearing from the service (0: none).
        public uint? KeepaliveIntervalMs;
        /// A PING unanswered this long means the connection is dead (its sessions reconnect).
        public uint? KeepaliveTimeoutMs;
        /// Sends a session holds while it cannot send yet; beyond, IW_E_QUEUE_FULL.
        public uint? MaxPendingSends;
        /// Largest message accepted from the service, bytes.
        public uint? MaxReceiveMessageBytes;
        /// A saved session (CallResultPacket.Data of RequestState) to continue.
        public byte[] ContinuationState;
        /// Or the dialog so far (InworldSession.Dialog of an earlier session) to continue.
        public KeyValuePair<uint, string>[] DialogHistory;
        /// Asked for a token (request id, workspace, session id to keep or
        /// null) on a library thread: answer with InworldClient.ProvideToken or
        /// TokenFailed, from any thread.
        public Action<ulong, string, string> TokenProvider;
    }

    /// A connection configuration shared by the sessions it opens (one
    /// connection pool). Creating it does no I/O. Thread-safe.
    public sealed class InworldClient : IDisposable
    {
        private readonly ClientHandle handle = new ClientHandle();

        public InworldClient(InworldClientConfig config)
        {
            if (config == null) throw new ArgumentNullException("config");
            var c = new iw_client_config();
            InworldException.Check(Native.iw_client_config_init(ref c));
            using (var strings = new NativeStrings())
            {
                c.host = strings.Add(config.Host);
                c.scene = strings.Add(config.Scene);
                c.api_key = strings.Add(config.ApiKey);
                c.api_secret = strings.Add(config.ApiSecret);
                c.session_token = strings.Add(config.SessionToken);
                c.session_token_type = strings.Add(config.SessionTokenType);
                c.session_id = strings.Add(config.SessionId);
                c.session_token_expires_ms = config.SessionTokenExpiresMs;
                c.user_name = strings.Add(config.UserName);
                c.client_id = strings.Add(config.ClientId);
                c.game_session_id = strings.Add(config.GameSessionId);
                c.root_cert_pem = strings.Add(config.RootCertPem);
                var profile = strings.AddPairs(config.ProfileFields);
                c.profile_fields = strings.AddStructs(profile);
                c.profile_field_count = (UIntPtr)(profile == null ? 0 : profile.Length);
                if (config.Tls.HasValue) c.tls = config.Tls.Value;
                if (config.Capabilities.HasValue) c.capabilities = config.Capabilities.Value;
                if (config.QueueCapacity.HasValue) c.queue_capacity = config.QueueCapacity.Value;
                if (config.SceneTimeoutMs.HasValue) c.scene_timeout_ms = config.SceneTimeoutMs.Value;
                if (config.ReconnectMaxAttempts.HasValue) c.reconnect_max_attempts = config.ReconnectMaxAttempts.Value;
                if (config.ConnectTimeoutMs.HasValue) c.connect_timeout_ms = config.ConnectTimeoutMs.Value;
                if (config.HandshakeTimeoutMs.HasValue) c.handshake_timeout_ms = config.HandshakeTimeoutMs.Value;
                if (config.StallTimeoutMs.HasValue) c.stall_timeout_ms = config.StallTimeoutMs.Value;
                if (config.KeepaliveIntervalMs.HasValue) c.keepalive_interval_ms = config.KeepaliveIntervalMs.Value;
                if (config.KeepaliveTimeoutMs.HasValue) c.keepalive_timeout_ms = config.KeepaliveTimeoutMs.Value;
                if (config.MaxPendingSends.HasValue) c.max_pending_sends = config.MaxPendingSends.Value;
                if (config.MaxReceiveMessageBytes.HasValue) c.max_receive_message_bytes = config.MaxReceiveMessageBytes.Value;
                c.continuation_state = strings.AddBytes(config.ContinuationState);
                c.continuation_state_len = (UIntPtr)(config.ContinuationState == null ? 0 : config.ContinuationState.Length);
                var dialog = strings.AddDialog(config.DialogHistory);
                c.dialog_history = strings.AddStructs(dialog);
                c.dialog_history_count = (UIntPtr)(dialog == null ? 0 : dialog.Length);
                if (config.TokenProvider != null)
                {
                    // Freed by the library exactly once (also when this fails).
                    c.token_provider = System.Runtime.InteropServices.Marshal.GetFunctionPointerForDelegate(Callbacks.TokenRequest);
                    c.token_provider_userdata = Callbacks.Hold(config.TokenProvider);
                    c.token_provider_userdata_free = System.Runtime.InteropServices.Marshal.GetFunctionPointerForDelegate(Callbacks.Free);
                }
                IntPtr raw;
                InworldException.Check(Native.iw_client_new(Native.IW_ABI_VERSION, ref c, out raw));
                handle.Set(raw);
            }
            InworldLibrary.Track(this);
        }

        /// Opens a session; never waits on the network (its State says when it is ready).
        public InworldSession OpenSession()
        {
            IntPtr raw;
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_open(h.Ptr, out raw));
            return new InworldSession(raw);
        }

        public void ProvideToken(ulong requestId, string token, string tokenType, string sessionId, long expiresMs)
        {
            using (var h = handle.Use())
                InworldException.Check(Native.iw_client_provide_token(h.Ptr, requestId, Utf8.Encode(token), Utf8.Encode(tokenType), Utf8.Encode(sessionId), expiresMs));
        }

        public void TokenFailed(ulong requestId, string message)
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_client_token_failed(h.Ptr, requestId, Utf8.Encode(message)));
        }

        public void Dispose() { handle.Dispose(); }
    }
}
