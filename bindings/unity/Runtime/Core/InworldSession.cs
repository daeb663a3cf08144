using System;
using System.Collections.Generic;
using Inworld.Interop;

namespace Inworld
{
    /// A conversation with a scene's characters. Every call returns at once
    /// (none waits on the network) and is thread-safe; poll from one thread at
    /// a time. Failures throw InworldException (the C code and message);
    /// calls after Dispose throw ObjectDisposedException.
    public sealed class InworldSession : IDisposable
    {
        private readonly SessionHandle handle = new SessionHandle();
        private readonly object gate = new object();
        private iw_packet[] buffer = new iw_packet[32];
        private Action<InworldPacket> packetReceived;
        private Action wakeUp;
        // Which poll's packets the library lends now (PacketBatch checks it);
        // written and read by the polling thread.
        private long lentGeneration;

        internal InworldSession(IntPtr raw)
        {
            handle.Set(raw);
            InworldLibrary.Track(this);
        }

        /// Native.IW_STATE_*.
        public uint State
        {
            get
            {
                uint state;
                using (var h = handle.Use()) InworldException.Check(Native.iw_session_state(h.Ptr, out state));
                return state;
            }
        }

        public bool IsReady { get { return State == Native.IW_STATE_READY; } }

        /// The service's session id (throws IW_E_NOT_READY before it is known).
        public string Id
        {
            get
            {
                using (var h = handle.Use())
                    return NativeText.Read((byte[] buf, UIntPtr cap, out UIntPtr len) => Native.iw_session_id(h.Ptr, buf, cap, out len));
            }
        }

        /// The scene's characters (throws IW_E_NOT_READY before the scene loaded).
        public Character[] Characters
        {
            get
            {
                using (var h = handle.Use())
                {
                    UIntPtr count;
                    InworldException.Check(Native.iw_session_character_count(h.Ptr, out count));
                    var result = new Character[(int)count.ToUInt64()];
                    for (int i = 0; i < result.Length; i++)
                    {
                        var c = new iw_character();
                        c.struct_size = (uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(iw_character));
                        InworldException.Check(Native.iw_session_character_at(h.Ptr, (UIntPtr)i, ref c));
                        result[i] = Character.From(ref c);
                    }
                    return result;
                }
            }
        }

        public Character CurrentCharacter
        {
            get
            {
                var c = new iw_character();
                c.struct_size = (uint)System.Runtime.InteropServices.Marshal.SizeOf(typeof(iw_character));
                using (var h = handle.Use()) InworldException.Check(Native.iw_session_current_character(h.Ptr, ref c));
                return Character.From(ref c);
            }
        }

        /// Talks to another character: display name, a word of it, agent id or resource name.
        public void SetCharacter(string who)
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_set_character(h.Ptr, Utf8.Encode(who)));
        }

        public void AddCharacters(params string[] names)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var list = strings.AddAll(names);
                InworldException.Check(Native.iw_session_add_characters(h.Ptr, list, Length(list)));
            }
        }

        public void RemoveCharacters(params string[] names)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var list = strings.AddAll(names);
                InworldException.Check(Native.iw_session_remove_characters(h.Ptr, list, Length(list)));
            }
        }

        /// Loads another scene in the same session (capabilities kept unless
        /// given), optionally with a saved state or a dialog to continue and a
        /// new game session id.
        public void ChangeScene(string scene, uint? capabilities = null, byte[] continuationState = null,
            KeyValuePair<uint, string>[] dialogHistory = null, string gameSessionId = null)
        {
            var change = new iw_scene_change();
            InworldException.Check(Native.iw_scene_change_init(ref change));
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                if (capabilities.HasValue) change.capabilities = capabilities.Value;
                change.game_session_id = strings.Add(gameSessionId);
                change.continuation_state = strings.AddBytes(continuationState);
                change.continuation_state_len = (UIntPtr)(continuationState == null ? 0 : continuationState.Length);
                var dialog = strings.AddDialog(dialogHistory);
                change.dialog_history = strings.AddStructs(dialog);
                change.dialog_history_count = (UIntPtr)(dialog == null ? 0 : dialog.Length);
                InworldException.Check(Native.iw_session_change_scene(h.Ptr, Utf8.Encode(scene), ref change));
            }
        }

        // ------------------------------------------------------------ talking

        public SentIds SendText(string text)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_send_text(s, Utf8.Encode(text), ref ids));
        }

        public SentIds SendTrigger(string name, IDictionary<string, string> parameters = null)
        {
            using (var strings = new NativeStrings())
            {
                var items = strings.AddPairs(parameters);
                return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_send_trigger(s, Utf8.Encode(name), items, Length(items), ref ids));
            }
        }

        public SentIds SendNarratedAction(string text)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_send_narrated_action(s, Utf8.Encode(text), ref ids));
        }

        public SentIds MuteSpeech(bool muted)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_mute_speech(s, muted ? 1u : 0u, ref ids));
        }

        /// Cancels an interaction's replies (all, or the utterances given).
        public void CancelResponses(string interactionId, params string[] utteranceIds)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var list = strings.AddAll(utteranceIds);
                InworldException.Check(Native.iw_session_cancel_responses(h.Ptr, Utf8.Encode(interactionId), list, Length(list)));
            }
        }

        // ------------------------------------------------------------ group conversations

        /// Starts a conversation with these characters; returns its id.
        public string StartConversation(string[] characters, bool withPlayer = true)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var list = strings.AddAll(characters);
                return NativeText.Read((byte[] buf, UIntPtr cap, out UIntPtr len) =>
                    Native.iw_session_start_conversation(h.Ptr, list, Length(list), withPlayer ? 1u : 0u, buf, cap, out len));
            }
        }

        public SentIds SendTextIn(string conversationId, string text)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_send_text_in(s, Utf8.Encode(conversationId), Utf8.Encode(text), ref ids));
        }

        /// `character` null: the scene's turn-taking picks who answers.
        public SentIds SendTriggerIn(string conversationId, string name, IDictionary<string, string> parameters = null, string character = null)
        {
            using (var strings = new NativeStrings())
            {
                var items = strings.AddPairs(parameters);
                return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_send_trigger_in(
                    s, Utf8.Encode(conversationId), Utf8.Encode(name), items, Length(items), Utf8.Encode(character), ref ids));
            }
        }

        public SentIds NextTurn(string conversationId)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_next_turn(s, Utf8.Encode(conversationId), ref ids));
        }

        public SentIds SendNarratedActionIn(string conversationId, string text)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_send_narrated_action_in(s, Utf8.Encode(conversationId), Utf8.Encode(text), ref ids));
        }

        public void UpdateConversation(string conversationId, string[] characters, bool withPlayer = true)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var list = strings.AddAll(characters);
                InworldException.Check(Native.iw_session_update_conversation(h.Ptr, Utf8.Encode(conversationId), list, Length(list), withPlayer ? 1u : 0u));
            }
        }

        public void EndConversation(string conversationId)
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_end_conversation(h.Ptr, Utf8.Encode(conversationId)));
        }

        // ------------------------------------------------------------ world items

        /// Items of the world the characters know about: (id, display name,
        /// description, properties), in the entities named.
        public void CreateOrUpdateItem(string id, string displayName, string description, IDictionary<string, string> properties = null, params string[] entities)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var props = strings.AddPairs(properties);
                var item = new iw_entity_item
                {
                    id = strings.Add(id),
                    display_name = strings.Add(displayName ?? string.Empty),
                    description = strings.Add(description ?? string.Empty),
                    properties = strings.AddStructs(props),
                    property_count = Length(props),
                };
                var list = strings.AddAll(entities);
                InworldException.Check(Native.iw_session_create_or_update_items(h.Ptr, new[] { item }, (UIntPtr)1, list, Length(list)));
            }
        }

        public void RemoveItems(params string[] itemIds)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var list = strings.AddAll(itemIds);
                InworldException.Check(Native.iw_session_remove_items(h.Ptr, list, Length(list)));
            }
        }

        /// `how`: Native.IW_ITEMS_ADD, _REMOVE or _REPLACE.
        public void ItemsInEntities(uint how, string[] itemIds, string[] entityNames)
        {
            using (var strings = new NativeStrings())
            using (var h = handle.Use())
            {
                var items = strings.AddAll(itemIds);
                var entities = strings.AddAll(entityNames);
                InworldException.Check(Native.iw_session_items_in_entities(h.Ptr, how, items, Length(items), entities, Length(entities)));
            }
        }

        // ------------------------------------------------------------ feedback and state

        /// Each returns a request id; the answer comes as a CallResultPacket.
        public ulong Like(string interactionId, string correlationId = null)
        {
            ulong id;
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_like(h.Ptr, Utf8.Encode(interactionId), Utf8.Encode(correlationId), out id));
            return id;
        }

        /// `reasons`: Native.IW_DISLIKE_*.
        public ulong Dislike(string interactionId, uint[] reasons = null, string comment = null, string correlationId = null)
        {
            ulong id;
            using (var h = handle.Use())
                InworldException.Check(Native.iw_session_dislike(h.Ptr, Utf8.Encode(interactionId), Utf8.Encode(correlationId), reasons,
                    (UIntPtr)(reasons == null ? 0 : reasons.Length), Utf8.Encode(comment), out id));
            return id;
        }

        public ulong UndoFeedback(string name)
        {
            ulong id;
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_undo_feedback(h.Ptr, Utf8.Encode(name), out id));
            return id;
        }

        /// Asks for the saved state (CallResultPacket.Data; continue it with
        /// InworldClientConfig.ContinuationState).
        public ulong RequestState()
        {
            ulong id;
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_request_state(h.Ptr, out id));
            return id;
        }

        /// The dialog so far: (talker Native.IW_TALKER_*, text).
        public KeyValuePair<uint, string>[] Dialog()
        {
            using (var h = handle.Use())
            {
                UIntPtr count;
                InworldException.Check(Native.iw_session_dialog_count(h.Ptr, out count));
                var lines = new KeyValuePair<uint, string>[(int)count.ToUInt64()];
                for (int i = 0; i < lines.Length; i++)
                {
                    var line = new iw_dialog_line();
                    InworldException.Check(Native.iw_session_dialog_line_at(h.Ptr, (UIntPtr)i, ref line));
                    lines[i] = new KeyValuePair<uint, string>(line.talker, Utf8.Decode(line.text));
                }
                return lines;
            }
        }

        // ------------------------------------------------------------ receiving

        /// Moves up to `max` queued packets into `into` (copies: keep them) and
        /// returns how many. Never blocks. Call it once per frame.
        public int Poll(List<InworldPacket> into, int max = 32)
        {
            if (into == null) throw new ArgumentNullException("into");
            if (buffer.Length < max) buffer = new iw_packet[max];
            lentGeneration = PacketBatch.NextGeneration();
            UIntPtr count;
            using (var h = handle.Use())
            {
                InworldException.Check(Native.iw_session_poll(h.Ptr, buffer, (UIntPtr)max, out count));
                int n = (int)count.ToUInt64();
                for (int i = 0; i < n; i++) into.Add(InworldPacket.From(ref buffer[i]));
                return n;
            }
        }

        /// Fills `batch` with up to its capacity of queued packets, read in
        /// place (PacketView); returns how many. Never blocks, and allocates
        /// nothing once the batch is warm: the path for games that count their
        /// garbage. What the batch lends is valid until this session's next
        /// poll or dispatch (with any batch or list) or its Dispose.
        public int Poll(PacketBatch batch)
        {
            if (batch == null) throw new ArgumentNullException("batch");
            UIntPtr count;
            using (var h = handle.Use())
            {
                long generation = PacketBatch.NextGeneration();
                lentGeneration = generation;
                batch.Filled(this, generation, 0);
                InworldException.Check(Native.iw_session_poll(h.Ptr, batch.Raw, (UIntPtr)batch.Capacity, out count));
                int n = (int)count.ToUInt64();
                batch.Filled(this, generation, n);
                return n;
            }
        }

        /// Whether the packets of the poll `generation` are still lent.
        internal bool Lends(long generation)
        {
            return generation == lentGeneration && !handle.IsClosed;
        }

        /// Calls `handler` on this thread for up to `max` queued packets.
        public int Dispatch(Action<InworldPacket> handler, int max = 32)
        {
            if (handler == null) throw new ArgumentNullException("handler");
            lentGeneration = PacketBatch.NextGeneration();
            var userdata = System.Runtime.InteropServices.GCHandle.Alloc(handler);
            try
            {
                UIntPtr count;
                using (var h = handle.Use())
                    InworldException.Check(Native.iw_session_dispatch(h.Ptr, Callbacks.Dispatch,
                        System.Runtime.InteropServices.GCHandle.ToIntPtr(userdata), (UIntPtr)max, out count));
                return (int)count.ToUInt64();
            }
            finally
            {
                userdata.Free();
            }
        }

        /// Every packet, on a library thread, instead of the queue (packets
        /// already queued stay pollable). Subscribing turns it on; removing the
        /// last handler goes back to polling. Marshal to your main thread.
        public event Action<InworldPacket> PacketReceived
        {
            add { lock (gate) { bool first = packetReceived == null; packetReceived += value; if (first) Register(true); } }
            remove { lock (gate) { packetReceived -= value; if (packetReceived == null) Register(false); } }
        }

        /// Raised on a library thread when the queue goes from empty to
        /// non-empty: schedule a Poll on your thread.
        public event Action WakeUp
        {
            add { lock (gate) { bool first = wakeUp == null; wakeUp += value; if (first) RegisterWakeUp(true); } }
            remove { lock (gate) { wakeUp -= value; if (wakeUp == null) RegisterWakeUp(false); } }
        }

        internal void RaisePacketReceived(InworldPacket packet)
        {
            var handler = packetReceived;
            if (handler != null) handler(packet);
        }

        internal void RaiseWakeUp()
        {
            var handler = wakeUp;
            if (handler != null) handler();
        }

        private void Register(bool on)
        {
            if (handle.IsClosed) return;
            using (var h = handle.Use())
            {
                // The library frees the GCHandle through Callbacks.Free exactly
                // once: when replaced or removed, at free, or at once on failure.
                int result = on
                    ? Native.iw_session_set_callback(h.Ptr, Callbacks.Packet, Callbacks.Hold(this), Callbacks.Free)
                    : Native.iw_session_set_callback(h.Ptr, null, IntPtr.Zero, null);
                InworldException.Check(result);
            }
        }

        private void RegisterWakeUp(bool on)
        {
            if (handle.IsClosed) return;
            using (var h = handle.Use())
            {
                int result = on
                    ? Native.iw_session_set_wakeup(h.Ptr, Callbacks.Wakeup, Callbacks.Hold(this), Callbacks.Free)
                    : Native.iw_session_set_wakeup(h.Ptr, null, IntPtr.Zero, null);
                InworldException.Check(result);
            }
        }

        // ------------------------------------------------------------ voice

        /// `mode`: Native.IW_MIC_OPEN_MIC or IW_MIC_PUSH_TO_TALK.
        public SentIds StartAudioSession(int mode = Native.IW_MIC_PUSH_TO_TALK, int understanding = Native.IW_UNDERSTANDING_FULL)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_start_audio_session(s, mode, understanding, ref ids));
        }

        public SentIds StartAudioSessionIn(string conversationId, int mode = Native.IW_MIC_PUSH_TO_TALK, int understanding = Native.IW_UNDERSTANDING_FULL)
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_start_audio_session_in(s, Utf8.Encode(conversationId), mode, understanding, ref ids));
        }

        public SentIds EndAudioSession()
        {
            return Sent((IntPtr s, ref iw_sent_ids ids) => Native.iw_session_end_audio_session(s, ref ids));
        }

        /// The microphone, in the game's own format (any rate, mono or stereo).
        public InworldAudioInput OpenAudioInput(int rate, int channels)
        {
            var input = new AudioInputHandle();
            IntPtr raw;
            using (var h = handle.Use()) InworldException.Check(Native.iw_audio_input_open(h.Ptr, (uint)rate, (uint)channels, out raw));
            input.Set(raw);
            return new InworldAudioInput(input, channels);
        }

        /// A pull stream of every character's speech (`character` null) or one's,
        /// at the audio device's rate and channels.
        public InworldPlayback OpenPlayback(int rate, int channels, string character = null)
        {
            var playback = new PlaybackHandle();
            IntPtr raw;
            using (var h = handle.Use())
                InworldException.Check(Native.iw_session_open_playback(h.Ptr, (uint)rate, (uint)channels, Utf8.Encode(character), out raw));
            playback.Set(raw);
            return new InworldPlayback(playback, channels);
        }

        /// Hands-free turns: on with these settings, or off (null end silence).
        public void SetVoiceDetection(bool on, uint endSilenceMs = 0, bool echoCancellation = false, int understanding = Native.IW_UNDERSTANDING_FULL)
        {
            using (var h = handle.Use())
            {
                if (!on)
                {
                    InworldException.Check(Native.iw_session_set_voice_detection(h.Ptr, IntPtr.Zero));
                    return;
                }
                var config = new iw_voice_detection();
                InworldException.Check(Native.iw_voice_detection_init(ref config));
                if (endSilenceMs > 0) config.end_silence_ms = endSilenceMs;
                config.echo_cancellation = echoCancellation ? 1u : 0u;
                config.understanding = understanding;
                InworldException.Check(Native.iw_session_set_voice_detection(h.Ptr, ref config));
            }
        }

        /// What the game played, for echo cancellation.
        public InworldEchoReference OpenEchoReference(int rate, int channels)
        {
            var reference = new EchoReferenceHandle();
            IntPtr raw;
            using (var h = handle.Use()) InworldException.Check(Native.iw_echo_reference_open(h.Ptr, (uint)rate, (uint)channels, out raw));
            reference.Set(raw);
            return new InworldEchoReference(reference, channels);
        }

        /// Ends the conversation; queued packets stay pollable until Dispose.
        /// After it returns, no callback of this session runs.
        public void Close()
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_session_close(h.Ptr));
        }

        /// Frees the session (its callbacks never run again once it returns).
        public void Dispose() { handle.Dispose(); }

        private delegate int SendCall(IntPtr session, ref iw_sent_ids ids);

        private SentIds Sent(SendCall call)
        {
            var ids = new iw_sent_ids();
            InworldException.Check(Native.iw_sent_ids_init(ref ids));
            using (var h = handle.Use()) InworldException.Check(call(h.Ptr, ref ids));
            return SentIds.From(ref ids);
        }

        private static UIntPtr Length<T>(T[] items)
        {
            return (UIntPtr)(items == null ? 0 : items.Length);
        }
    }
}
