using System;
using System.Collections.Generic;
using System.Text;
using Inworld.Interop;

namespace Inworld
{
    /// Packets polled without garbage: InworldSession.Poll(PacketBatch) fills
    /// the same batch every frame, and each PacketView reads the library's lent
    /// packet in place. Nothing is copied into new objects: text is decoded into
    /// the game's own char[] or StringBuilder (LentText), samples into its own
    /// arrays, enum names come interned (InworldNames). Once the batch's
    /// decoding buffer has grown to the longest text seen, a poll and the reads
    /// below allocate nothing.
    ///
    /// What a view lends is valid until the next poll or dispatch of its
    /// session (with this batch or any other way) or the session's Dispose:
    /// reading it later throws InvalidOperationException, never reads freed
    /// memory. Use a batch from the thread that polls. ToPacket() makes the
    /// usual copy of one packet, to keep.
    public sealed class PacketBatch
    {
        private static long lastGeneration;

        internal iw_packet[] Raw;
        internal InworldSession Session;
        internal long Generation;
        private int count;
        private char[] scratch;

        /// `capacity`: the most packets one poll takes; `textCapacity`: the
        /// decoding buffer's first size in chars (it grows for longer text).
        public PacketBatch(int capacity = 32, int textCapacity = 1024)
        {
            if (capacity <= 0) throw new ArgumentOutOfRangeException("capacity");
            Raw = new iw_packet[capacity];
            scratch = new char[Math.Max(16, textCapacity)];
        }

        public int Capacity { get { return Raw.Length; } }

        /// Packets of the last poll.
        public int Count { get { return count; } }

        public PacketView this[int index]
        {
            get
            {
                if ((uint)index >= (uint)count) throw new ArgumentOutOfRangeException("index");
                return new PacketView(this, index, Generation);
            }
        }

        /// Called by the session around iw_session_poll.
        internal void Filled(InworldSession session, long generation, int filled)
        {
            Session = session;
            Generation = generation;
            count = filled;
        }

        internal static long NextGeneration()
        {
            return System.Threading.Interlocked.Increment(ref lastGeneration);
        }

        /// Throws when what the library lent for `generation` is gone.
        internal void Check(long generation)
        {
            if (generation != Generation || Session == null || !Session.Lends(generation))
                throw new InvalidOperationException("this packet was lent until the session's next poll, which has happened: copy what you keep (ToPacket, LentText.ToString)");
        }

        /// Decodes lent UTF-8 into the batch's buffer (grown when too small).
        internal unsafe char[] Decode(IntPtr ptr, int length, out int chars)
        {
            if (length == 0) { chars = 0; return scratch; }
            var bytes = (byte*)ptr;
            int needed = Encoding.UTF8.GetCharCount(bytes, length);
            if (needed > scratch.Length) scratch = new char[Math.Max(needed, scratch.Length * 2)];
            fixed (char* c = scratch) chars = Encoding.UTF8.GetChars(bytes, length, c, scratch.Length);
            return scratch;
        }
    }

    /// UTF-8 text the library lends (valid as its PacketView is). Reading it
    /// allocates nothing but ToString(), which makes a string to keep.
    /// default(LentText) is the empty text.
    public struct LentText
    {
        private readonly PacketBatch batch;
        private readonly long generation;
        private readonly IntPtr ptr;
        private readonly int length;

        internal LentText(PacketBatch batch, long generation, iw_str s)
        {
            this.batch = batch;
            this.generation = generation;
            ptr = s.ptr;
            length = s.ptr == IntPtr.Zero ? 0 : checked((int)s.len.ToUInt64());
        }

        public int Utf8Length { get { return length; } }

        public bool IsEmpty { get { return length == 0; } }

        /// Its length in UTF-16 chars (what CopyTo writes).
        public unsafe int CharCount
        {
            get
            {
                Check();
                return length == 0 ? 0 : Encoding.UTF8.GetCharCount((byte*)ptr, length);
            }
        }

        /// Whether it is this text (null is never equal), without making a string.
        public unsafe bool Equals(string text)
        {
            Check();
            if (text == null) return false;
            var bytes = (byte*)ptr;
            bool ascii = true;
            for (int i = 0; i < length; i++) if (bytes[i] >= 0x80) { ascii = false; break; }
            if (ascii)
            {
                if (text.Length != length) return false;
                for (int i = 0; i < length; i++) if (text[i] != bytes[i]) return false;
                return true;
            }
            int chars;
            var decoded = batch.Decode(ptr, length, out chars);
            if (chars != text.Length) return false;
            for (int i = 0; i < chars; i++) if (decoded[i] != text[i]) return false;
            return true;
        }

        /// Decodes into `destination` from `index`; returns the chars written.
        /// Throws ArgumentException when it does not fit (see CharCount).
        public int CopyTo(char[] destination, int index = 0)
        {
            if (destination == null) throw new ArgumentNullException("destination");
            Check();
            if (length == 0) return 0;
            int chars;
            var decoded = batch.Decode(ptr, length, out chars);
            if (index < 0 || destination.Length - index < chars) throw new ArgumentException("the text needs " + chars + " chars from index " + index);
            Array.Copy(decoded, 0, destination, index, chars);
            return chars;
        }

        /// Appends the text (a StringBuilder with room allocates nothing).
        public void AppendTo(StringBuilder builder)
        {
            if (builder == null) throw new ArgumentNullException("builder");
            Check();
            if (length == 0) return;
            int chars;
            var decoded = batch.Decode(ptr, length, out chars);
            builder.Append(decoded, 0, chars);
        }

        /// A copy, to keep (this allocates).
        public override string ToString()
        {
            Check();
            if (length == 0) return string.Empty;
            return Utf8.Decode(new iw_str { ptr = ptr, len = (UIntPtr)length });
        }

        private void Check()
        {
            if (batch != null) batch.Check(generation);
        }
    }

    /// One packet of a PacketBatch, read in place. The members of one kind
    /// throw InvalidOperationException on a packet of another (the kinds each
    /// takes are named); IsInteractionEnd and the header's members take any.
    public struct PacketView
    {
        private readonly PacketBatch batch;
        private readonly int index;
        private readonly long generation;

        internal PacketView(PacketBatch batch, int index, long generation)
        {
            this.batch = batch;
            this.index = index;
            this.generation = generation;
        }

        // ------------------------------------------------------------ every packet

        /// Native.IW_PACKET_*.
        public uint Kind { get { return Raw.kind; } }
        public long TimestampMs { get { return Raw.timestamp_ms; } }
        public LentText PacketId { get { return Lent(Raw.ids.packet_id); } }
        public LentText UtteranceId { get { return Lent(Raw.ids.utterance_id); } }
        public LentText InteractionId { get { return Lent(Raw.ids.interaction_id); } }
        public LentText CorrelationId { get { return Lent(Raw.ids.correlation_id); } }
        public LentText ConversationId { get { return Lent(Raw.ids.conversation_id); } }
        public ActorKind SourceKind { get { return (ActorKind)Raw.source.kind; } }
        /// For a character: its agent id.
        public LentText SourceName { get { return Lent(Raw.source.name); } }
        public ActorKind TargetKind { get { return (ActorKind)Raw.target.kind; } }
        public LentText TargetName { get { return Lent(Raw.target.name); } }
        public bool FromCharacter { get { return SourceKind == ActorKind.Character; } }
        public bool FromPlayer { get { return SourceKind == ActorKind.Player; } }

        /// The usual copy of this packet (an InworldPacket subclass), to keep.
        public InworldPacket ToPacket()
        {
            batch.Check(generation);
            return InworldPacket.From(ref batch.Raw[index]);
        }

        // ------------------------------------------------------------ by kind

        /// TEXT: what was said (or heard).
        public LentText Text { get { return Lent(Of(Native.IW_PACKET_TEXT).data.text.text); } }
        /// TEXT.
        public bool IsFinal { get { return Of(Native.IW_PACKET_TEXT).data.text.is_final != 0; } }
        /// TEXT: Native.IW_TEXT_SOURCE_*.
        public uint TextSource { get { return Of(Native.IW_PACKET_TEXT).data.text.source; } }

        /// NARRATED_ACTION.
        public LentText NarratedAction { get { return Lent(Of(Native.IW_PACKET_NARRATED_ACTION).data.narrated_action.content); } }

        /// EMOTION.
        public int Behavior { get { return Of(Native.IW_PACKET_EMOTION).data.emotion.behavior; } }
        public int Strength { get { return Of(Native.IW_PACKET_EMOTION).data.emotion.strength; } }
        /// EMOTION: "JOY", "NEUTRAL", ... (interned: the same string every time).
        public string BehaviorName { get { return InworldNames.EmotionBehavior(Behavior); } }
        /// EMOTION: "WEAK", "NORMAL", "STRONG", ... (interned).
        public string StrengthName { get { return InworldNames.EmotionStrength(Strength); } }

        /// CONTROL: Native.IW_CONTROL_*.
        public uint ControlAction { get { return Of(Native.IW_PACKET_CONTROL).data.control.action; } }
        /// Any kind: whether this is the end of an interaction's replies.
        public bool IsInteractionEnd
        {
            get { return Raw.kind == Native.IW_PACKET_CONTROL && Raw.data.control.action == Native.IW_CONTROL_INTERACTION_END; }
        }

        /// TRIGGER or TASK: its name.
        public LentText Name { get { return Lent(Custom().name); } }
        /// TRIGGER or TASK.
        public int ParameterCount { get { return InworldPacket.Count(Custom().parameter_count); } }
        public LentText ParameterName(int i) { return Lent(Parameter(i).name); }
        public LentText ParameterValue(int i) { return Lent(Parameter(i).value); }

        /// TRIGGER or TASK: the value of the parameter called `name`.
        public bool TryGetParameter(string name, out LentText value)
        {
            int n = ParameterCount;
            for (int i = 0; i < n; i++)
            {
                if (ParameterName(i).Equals(name))
                {
                    value = ParameterValue(i);
                    return true;
                }
            }
            value = default(LentText);
            return false;
        }

        /// AUDIO: 16-bit PCM samples (interleaved) of the chunk.
        public int SampleCount { get { return InworldPacket.Count(Audio().sample_count); } }
        public int SampleRate { get { return (int)Audio().sample_rate; } }
        public int Channels { get { return (int)Audio().channels; } }
        public long DurationUs { get { return Audio().duration_us; } }
        /// AUDIO: empty unless the chunk could not be decoded.
        public LentText DecodeError { get { return Lent(Audio().decode_error); } }

        /// AUDIO: copies the samples into `destination` from `index`; returns
        /// how many. Throws ArgumentException when they do not fit (SampleCount).
        public unsafe int CopySamples(short[] destination, int index = 0)
        {
            int n = SampleCount;
            Fits(destination, index, n);
            var from = (short*)Audio().samples;
            for (int i = 0; i < n; i++) destination[index + i] = from[i];
            return n;
        }

        /// AUDIO: the samples as floats in [-1, 1) (Unity's AudioClip format).
        public unsafe int CopySamples(float[] destination, int index = 0)
        {
            int n = SampleCount;
            Fits(destination, index, n);
            var from = (short*)Audio().samples;
            for (int i = 0; i < n; i++) destination[index + i] = from[i] / 32768f;
            return n;
        }

        /// AUDIO: mouth shapes (Viseme.Name is interned).
        public int VisemeCount { get { return InworldPacket.Count(Audio().viseme_count); } }

        public unsafe Viseme VisemeAt(int i)
        {
            var a = Audio();
            Within(i, a.viseme_count);
            var v = ((iw_viseme*)a.visemes)[i];
            return new Viseme { Shape = v.viseme, StartOffsetUs = v.start_offset_us };
        }

        /// AUDIO: phonemes.
        public int PhonemeCount { get { return InworldPacket.Count(Audio().phoneme_count); } }

        public unsafe LentText PhonemeName(int i)
        {
            var a = Audio();
            Within(i, a.phoneme_count);
            return Lent(((iw_phoneme*)a.phonemes)[i].phoneme);
        }

        public unsafe long PhonemeStartUs(int i)
        {
            var a = Audio();
            Within(i, a.phoneme_count);
            return ((iw_phoneme*)a.phonemes)[i].start_offset_us;
        }

        /// SILENCE.
        public long SilenceMs { get { return Of(Native.IW_PACKET_SILENCE).data.silence.duration_ms; } }

        /// CONNECTION: Native.IW_STATE_*.
        public uint State { get { return Of(Native.IW_PACKET_CONNECTION).data.connection.state; } }
        public long RetryInMs { get { return Of(Native.IW_PACKET_CONNECTION).data.connection.retry_in_ms; } }

        /// OVERFLOW: packets dropped before this one.
        public ulong Dropped { get { return Of(Native.IW_PACKET_OVERFLOW).data.overflow.dropped; } }

        /// ERROR, SEND_FAILED, OPERATION_STATUS or CALL_RESULT: what went wrong (or right).
        public LentText Message
        {
            get
            {
                var p = Raw;
                switch (p.kind)
                {
                    case Native.IW_PACKET_ERROR: return Lent(p.data.error.message);
                    case Native.IW_PACKET_SEND_FAILED: return Lent(p.data.send_failed.message);
                    case Native.IW_PACKET_OPERATION_STATUS: return Lent(p.data.operation_status.message);
                    case Native.IW_PACKET_CALL_RESULT: return Lent(p.data.call_result.message);
                    default: throw WrongKind("ERROR, SEND_FAILED, OPERATION_STATUS or CALL_RESULT");
                }
            }
        }

        /// ERROR: the library reconnects by itself.
        public bool WillRetry { get { return Of(Native.IW_PACKET_ERROR).data.error.will_retry != 0; } }

        /// SEND_FAILED: Native.IW_SEND_* (the packet's ids are what was not sent).
        public uint SendFailedReason { get { return Of(Native.IW_PACKET_SEND_FAILED).data.send_failed.reason; } }

        /// CALL_RESULT: the request id a call returned, and its gRPC code.
        public ulong RequestId { get { return Of(Native.IW_PACKET_CALL_RESULT).data.call_result.request_id; } }
        public int CallCode { get { return Of(Native.IW_PACKET_CALL_RESULT).data.call_result.grpc_code; } }

        // ------------------------------------------------------------ reading

        /// The packet, after checking the library still lends it (a copy of
        /// the struct: its pointers, not what they point to).
        private iw_packet Raw
        {
            get
            {
                batch.Check(generation);
                return batch.Raw[index];
            }
        }

        private iw_packet Of(uint kind)
        {
            var p = Raw;
            if (p.kind != kind) throw WrongKind("kind " + kind);
            return p;
        }

        private iw_custom Custom()
        {
            var p = Raw;
            if (p.kind != Native.IW_PACKET_TRIGGER && p.kind != Native.IW_PACKET_TASK) throw WrongKind("TRIGGER or TASK");
            return p.data.custom;
        }

        private unsafe iw_parameter Parameter(int i)
        {
            var c = Custom();
            Within(i, c.parameter_count);
            return ((iw_parameter*)c.parameters)[i];
        }

        private iw_audio Audio() { return Of(Native.IW_PACKET_AUDIO).data.audio; }

        private LentText Lent(iw_str s) { return new LentText(batch, generation, s); }

        private InvalidOperationException WrongKind(string wanted)
        {
            return new InvalidOperationException("this member is for " + wanted + " packets; this one is of kind " + Raw.kind);
        }

        private static void Within(int i, UIntPtr count)
        {
            if (i < 0 || i >= InworldPacket.Count(count)) throw new ArgumentOutOfRangeException("i");
        }

        private static void Fits<T>(T[] destination, int index, int n)
        {
            if (destination == null) throw new ArgumentNullException("destination");
            if (index < 0 || destination.Length - index < n) throw new ArgumentException("the chunk has " + n + " samples, more than fit from index " + index);
        }
    }

    /// The names of the C API's enum values, made once and reused: reading one
    /// in a frame makes no garbage.
    public static class InworldNames
    {
        private static readonly object gate = new object();
        private static readonly Dictionary<int, string> behaviors = new Dictionary<int, string>();
        private static readonly Dictionary<int, string> strengths = new Dictionary<int, string>();
        private static readonly Dictionary<uint, string> visemes = new Dictionary<uint, string>();

        /// "JOY", "NEUTRAL", ...
        public static string EmotionBehavior(int behavior)
        {
            lock (gate)
            {
                string name;
                if (!behaviors.TryGetValue(behavior, out name)) behaviors[behavior] = name = Utf8.Decode(Native.iw_emotion_behavior_name(behavior));
                return name;
            }
        }

        /// "WEAK", "NORMAL", "STRONG", ...
        public static string EmotionStrength(int strength)
        {
            lock (gate)
            {
                string name;
                if (!strengths.TryGetValue(strength, out name)) strengths[strength] = name = Utf8.Decode(Native.iw_emotion_strength_name(strength));
                return name;
            }
        }

        /// A viseme's name ("sil", "PP", "aa", ...).
        public static string Viseme(uint shape)
        {
            lock (gate)
            {
                string name;
                if (!visemes.TryGetValue(shape, out name)) visemes[shape] = name = Utf8.Decode(Native.iw_viseme_name(shape));
                return name;
            }
        }
    }
}
