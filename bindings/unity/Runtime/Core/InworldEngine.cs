using System;
using Inworld.Interop;

namespace Inworld
{
    /// The local engine inside the game: scripted characters and synthesized
    /// speech, offline. Only in libraries built with it (the default).
    public sealed class InworldEngine : IDisposable
    {
        private readonly EngineHandle handle = new EngineHandle();

        /// Starts serving on a free loopback port (or `listen`, "host:port").
        /// `scene`: "default" (the demo tavern), "test", or a scene file's path.
        /// With `llmUrl` and `llmModel` a language model behind that
        /// OpenAI-compatible endpoint plays the characters (`llmApiKey` if it
        /// needs one); without, the scene's scripted lines answer, offline.
        /// `synthesizer` and `recognizer` choose the speech parts
        /// (`Native.IW_SYNTHESIZER_*`, `Native.IW_RECOGNIZER_*`; default: the
        /// best the native library was built with); `whisperModel` is a
        /// whisper.cpp ggml model file's path. One the library lacks throws
        /// (IW_E_UNSUPPORTED), it is never replaced.
        public static InworldEngine Start(string scene = "default", bool humanPacing = false, string listen = null,
            string llmUrl = null, string llmModel = null, string llmApiKey = null,
            uint synthesizer = (uint)Native.IW_SYNTHESIZER_DEFAULT, uint recognizer = (uint)Native.IW_RECOGNIZER_DEFAULT,
            string whisperModel = null)
        {
            var config = new iw_engine_config();
            InworldException.Check(Native.iw_engine_config_init(ref config));
            var engine = new InworldEngine();
            using (var strings = new NativeStrings())
            {
                config.scene = strings.Add(scene);
                if (listen != null) config.listen = strings.Add(listen);
                config.pacing = humanPacing ? (uint)Native.IW_PACING_HUMAN : (uint)Native.IW_PACING_INSTANT;
                config.brain = llmUrl != null ? (uint)Native.IW_BRAIN_LLM : (uint)Native.IW_BRAIN_SCRIPTED;
                if (llmUrl != null) config.llm_url = strings.Add(llmUrl);
                if (llmModel != null) config.llm_model = strings.Add(llmModel);
                if (llmApiKey != null) config.llm_api_key = strings.Add(llmApiKey);
                config.synthesizer = synthesizer;
                config.recognizer = recognizer;
                if (whisperModel != null) config.whisper_model = strings.Add(whisperModel);
                IntPtr raw;
                InworldException.Check(Native.iw_engine_start(ref config, out raw));
                engine.handle.Set(raw);
            }
            return engine;
        }

        /// "127.0.0.1:PORT": the host for InworldClientConfig.
        public string Address
        {
            get
            {
                using (var h = handle.Use())
                    return NativeText.Read((byte[] buf, UIntPtr cap, out UIntPtr len) => Native.iw_engine_address(h.Ptr, buf, cap, out len));
            }
        }

        /// The resource name of scene `index` (the client's Scene).
        public string SceneName(int index = 0)
        {
            using (var h = handle.Use())
                return NativeText.Read((byte[] buf, UIntPtr cap, out UIntPtr len) => Native.iw_engine_scene_name(h.Ptr, (UIntPtr)index, buf, cap, out len));
        }

        /// A session token, as a game's backend would mint one.
        public unsafe string MintToken(out string tokenType, out string sessionId, out long expiresMs)
        {
            var token = new iw_engine_token();
            InworldException.Check(Native.iw_engine_token_init(ref token));
            using (var h = handle.Use()) InworldException.Check(Native.iw_engine_mint_token(h.Ptr, ref token));
            tokenType = Utf8.Decode(token.token_type, 32);
            sessionId = Utf8.Decode(token.session_id, 128);
            expiresMs = token.expires_ms;
            return Utf8.Decode(token.token, 256);
        }

        /// Stops serving; Dispose frees it.
        public void Stop()
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_engine_stop(h.Ptr));
        }

        public void Dispose() { handle.Dispose(); }
    }

    /// Strings the C API copies into a caller's buffer (buf, cap, &len).
    internal static class NativeText
    {
        internal delegate int Reader(byte[] buffer, UIntPtr capacity, out UIntPtr length);

        internal static string Read(Reader read)
        {
            var buffer = new byte[256];
            UIntPtr len;
            int result = read(buffer, (UIntPtr)buffer.Length, out len);
            if (result == Native.IW_E_BUFFER_TOO_SMALL)
            {
                buffer = new byte[(int)len.ToUInt64() + 1];
                result = read(buffer, (UIntPtr)buffer.Length, out len);
            }
            InworldException.Check(result);
            return Utf8.Decode(buffer, len);
        }
    }
}
