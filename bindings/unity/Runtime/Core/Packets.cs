using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Inworld.Interop;

namespace Inworld
{
    /// Who sent a packet or whom it is for.
    public enum ActorKind { Unknown = 0, Player = 1, Character = 2, World = 3 }

    public struct Actor
    {
        public ActorKind Kind;
        /// For a character: its agent id.
        public string Name;
        public bool IsPlayer { get { return Kind == ActorKind.Player; } }
        public bool IsCharacter { get { return Kind == ActorKind.Character; } }
    }

    /// A packet from a session, copied out of the library's memory: keep it as
    /// long as you like. Subclasses by kind; kinds this binding does not know
    /// come as UnknownPacket (ignore them: new ones come in minor versions).
    public abstract class InworldPacket
    {
        /// Native.IW_PACKET_*.
        public uint Kind { get; internal set; }
        public string PacketId { get; internal set; }
        public string UtteranceId { get; internal set; }
        public string InteractionId { get; internal set; }
        public string CorrelationId { get; internal set; }
        public string ConversationId { get; internal set; }
        public Actor Source { get; internal set; }
        public Actor Target { get; internal set; }
        public long TimestampMs { get; internal set; }

        internal static unsafe InworldPacket From(IntPtr ptr)
        {
            return From(ref *(iw_packet*)ptr);
        }

        internal static InworldPacket From(ref iw_packet p)
        {
            InworldPacket packet = Body(ref p);
            packet.Kind = p.kind;
            packet.PacketId = Utf8.Decode(p.ids.packet_id);
            packet.UtteranceId = Utf8.Decode(p.ids.utterance_id);
            packet.InteractionId = Utf8.Decode(p.ids.interaction_id);
            packet.CorrelationId = Utf8.Decode(p.ids.correlation_id);
            packet.ConversationId = Utf8.Decode(p.ids.conversation_id);
            packet.Source = new Actor { Kind = (ActorKind)p.source.kind, Name = Utf8.Decode(p.source.name) };
            packet.Target = new Actor { Kind = (ActorKind)p.target.kind, Name = Utf8.Decode(p.target.name) };
            packet.TimestampMs = p.timestamp_ms;
            return packet;
        }

        private static InworldPacket Body(ref iw_packet p)
        {
            var d = p.data;
            switch (p.kind)
            {
                case Native.IW_PACKET_TEXT:
                    return new TextPacket { Text = Utf8.Decode(d.text.text), IsFinal = d.text.is_final != 0, TextSource = d.text.source };
                case Native.IW_PACKET_AUDIO: return AudioPacket.From(ref d.audio);
                case Native.IW_PACKET_SILENCE: return new SilencePacket { DurationMs = d.silence.duration_ms };
                case Native.IW_PACKET_EMOTION: return new EmotionPacket { Behavior = d.emotion.behavior, Strength = d.emotion.strength };
                case Native.IW_PACKET_TRIGGER:
                    return new TriggerPacket { Name = Utf8.Decode(d.custom.name), Parameters = Pairs(d.custom.parameters, d.custom.parameter_count) };
                case Native.IW_PACKET_TASK:
                    return new TaskPacket { Name = Utf8.Decode(d.custom.name), Parameters = Pairs(d.custom.parameters, d.custom.parameter_count) };
                case Native.IW_PACKET_CONTROL:
                    return new ControlPacket { Action = d.control.action, Description = Utf8.Decode(d.control.description) };
                case Native.IW_PACKET_CONVERSATION:
                    return new ConversationPacket { Event = d.conversation.kind, Participants = Actors(d.conversation.participants, d.conversation.participant_count) };
                case Native.IW_PACKET_SCENE_STATUS:
                    return new SceneStatusPacket
                    {
                        Name = Utf8.Decode(d.scene.name),
                        Description = Utf8.Decode(d.scene.description),
                        DisplayName = Utf8.Decode(d.scene.display_name),
                        Characters = Characters(d.scene.characters, d.scene.character_count),
                    };
                case Native.IW_PACKET_NARRATED_ACTION: return new NarratedActionPacket { Content = Utf8.Decode(d.narrated_action.content) };
                case Native.IW_PACKET_CANCEL_RESPONSES:
                    return new CancelResponsesPacket
                    {
                        CancelledInteractionId = Utf8.Decode(d.cancel_responses.interaction_id),
                        UtteranceIds = Strings(d.cancel_responses.utterance_ids, d.cancel_responses.utterance_id_count),
                    };
                case Native.IW_PACKET_LOG:
                    return new LogPacket { Text = Utf8.Decode(d.log.text), Level = d.log.level, Metadata = Pairs(d.log.metadata, d.log.metadata_count) };
                case Native.IW_PACKET_OPERATION_STATUS:
                    return new OperationStatusPacket { Code = d.operation_status.code, Message = Utf8.Decode(d.operation_status.message) };
                case Native.IW_PACKET_ERROR:
                    return new ErrorPacket
                    {
                        GrpcCode = d.error.grpc_code,
                        Message = Utf8.Decode(d.error.message),
                        HasDetails = d.error.has_details != 0,
                        ErrorType = d.error.error_type,
                        ReconnectType = d.error.reconnect_type,
                        ReconnectTimeMs = d.error.reconnect_time_ms,
                        MaxRetries = d.error.max_retries,
                        WillRetry = d.error.will_retry != 0,
                        ResourceId = Utf8.Decode(d.error.resource_id),
                    };
                case Native.IW_PACKET_CONNECTION:
                    return new ConnectionPacket { State = d.connection.state, RetryInMs = d.connection.retry_in_ms, Resumed = d.connection.resumed };
                case Native.IW_PACKET_OVERFLOW: return new OverflowPacket { Dropped = d.overflow.dropped };
                case Native.IW_PACKET_SEND_FAILED:
                    return new SendFailedPacket { Reason = d.send_failed.reason, Message = Utf8.Decode(d.send_failed.message) };
                case Native.IW_PACKET_CALL_RESULT:
                    return new CallResultPacket
                    {
                        RequestId = d.call_result.request_id,
                        Call = d.call_result.call,
                        GrpcCode = d.call_result.grpc_code,
                        Message = Utf8.Decode(d.call_result.message),
                        Name = Utf8.Decode(d.call_result.name),
                        Data = Bytes(d.call_result.data, d.call_result.data_len),
                        Version = Utf8.Decode(d.call_result.version),
                    };
                case Native.IW_PACKET_SCENE_MUTATION:
                    return new SceneMutationPacket
                    {
                        What = d.scene_mutation.what,
                        Scene = Utf8.Decode(d.scene_mutation.scene),
                        Names = Strings(d.scene_mutation.names, d.scene_mutation.name_count),
                    };
                case Native.IW_PACKET_VOICE_ACTIVITY:
                    return new VoiceActivityPacket
                    {
                        Speaking = d.voice_activity.speaking != 0,
                        CutShort = d.voice_activity.cut_short != 0,
                        AudioSessionId = Utf8.Decode(d.voice_activity.audio_session_id),
                    };
                default: return new UnknownPacket();
            }
        }

        internal static int Count(UIntPtr count) { return checked((int)count.ToUInt64()); }

        internal static unsafe T[] Array<T>(IntPtr items, UIntPtr count) where T : struct
        {
            int n = Count(count);
            var result = new T[n];
            int size = Marshal.SizeOf(typeof(T));
            for (int i = 0; i < n; i++) result[i] = (T)Marshal.PtrToStructure(IntPtr.Add(items, i * size), typeof(T));
            return result;
        }

        private static Dictionary<string, string> Pairs(IntPtr items, UIntPtr count)
        {
            var result = new Dictionary<string, string>();
            foreach (var p in Array<iw_parameter>(items, count)) result[Utf8.Decode(p.name)] = Utf8.Decode(p.value);
            return result;
        }

        private static string[] Strings(IntPtr items, UIntPtr count)
        {
            var raw = Array<iw_str>(items, count);
            var result = new string[raw.Length];
            for (int i = 0; i < raw.Length; i++) result[i] = Utf8.Decode(raw[i]);
            return result;
        }

        private static Actor[] Actors(IntPtr items, UIntPtr count)
        {
            var raw = Array<iw_actor>(items, count);
            var result = new Actor[raw.Length];
            for (int i = 0; i < raw.Length; i++) result[i] = new Actor { Kind = (ActorKind)raw[i].kind, Name = Utf8.Decode(raw[i].name) };
            return result;
        }

        private static Character[] Characters(IntPtr items, UIntPtr count)
        {
            var raw = Array<iw_character>(items, count);
            var result = new Character[raw.Length];
            for (int i = 0; i < raw.Length; i++) result[i] = Character.From(ref raw[i]);
            return result;
        }

        private static byte[] Bytes(IntPtr data, UIntPtr len)
        {
            var result = new byte[Count(len)];
            if (result.Length > 0) Marshal.Copy(data, result, 0, result.Length);
            return result;
        }
    }

    public sealed class UnknownPacket : InworldPacket { }

    public sealed class TextPacket : InworldPacket
    {
        public string Text;
        public bool IsFinal;
        /// Native.IW_TEXT_SOURCE_*.
        public uint TextSource;
    }

    public struct Phoneme
    {
        public string Name;
        public long StartOffsetUs;
    }

    public struct Viseme
    {
        /// Native.IW_VISEME_*.
        public uint Shape;
        public long StartOffsetUs;
        /// Interned: the same string every time.
        public string Name { get { return InworldNames.Viseme(Shape); } }
    }

    /// Speech: 16-bit PCM (interleaved), its phonemes and mouth shapes.
    public sealed class AudioPacket : InworldPacket
    {
        public short[] Samples;
        public int SampleRate;
        public int Channels;
        public long DurationUs;
        public Phoneme[] Phonemes;
        public Viseme[] Visemes;
        /// The chunk as the service sent it, only when it could not be decoded.
        public byte[] Undecoded;
        public string DecodeError;

        internal static AudioPacket From(ref iw_audio a)
        {
            var packet = new AudioPacket
            {
                Samples = new short[Count(a.sample_count)],
                SampleRate = (int)a.sample_rate,
                Channels = (int)a.channels,
                DurationUs = a.duration_us,
                DecodeError = Utf8.Decode(a.decode_error),
                Undecoded = new byte[Count(a.len)],
            };
            if (packet.Samples.Length > 0) Marshal.Copy(a.samples, packet.Samples, 0, packet.Samples.Length);
            if (packet.Undecoded.Length > 0) Marshal.Copy(a.data, packet.Undecoded, 0, packet.Undecoded.Length);
            var phonemes = Array<iw_phoneme>(a.phonemes, a.phoneme_count);
            packet.Phonemes = new Phoneme[phonemes.Length];
            for (int i = 0; i < phonemes.Length; i++)
                packet.Phonemes[i] = new Phoneme { Name = Utf8.Decode(phonemes[i].phoneme), StartOffsetUs = phonemes[i].start_offset_us };
            var visemes = Array<iw_viseme>(a.visemes, a.viseme_count);
            packet.Visemes = new Viseme[visemes.Length];
            for (int i = 0; i < visemes.Length; i++)
                packet.Visemes[i] = new Viseme { Shape = visemes[i].viseme, StartOffsetUs = visemes[i].start_offset_us };
            return packet;
        }
    }

    public sealed class SilencePacket : InworldPacket { public long DurationMs; }

    public sealed class EmotionPacket : InworldPacket
    {
        public int Behavior;
        public int Strength;
        /// "JOY", "NEUTRAL", ...
        public string BehaviorName { get { return InworldNames.EmotionBehavior(Behavior); } }
        /// "WEAK", "NORMAL", "STRONG", ...
        public string StrengthName { get { return InworldNames.EmotionStrength(Strength); } }
    }

    /// A trigger the character emitted (or the player's own, echoed).
    public sealed class TriggerPacket : InworldPacket
    {
        public string Name;
        public Dictionary<string, string> Parameters;
    }

    public sealed class TaskPacket : InworldPacket
    {
        public string Name;
        public Dictionary<string, string> Parameters;
    }

    public sealed class ControlPacket : InworldPacket
    {
        /// Native.IW_CONTROL_*.
        public uint Action;
        public string Description;
        public bool IsInteractionEnd { get { return Action == Native.IW_CONTROL_INTERACTION_END; } }
    }

    public sealed class ConversationPacket : InworldPacket
    {
        /// Native.IW_CONVERSATION_*.
        public uint Event;
        public Actor[] Participants;
    }

    public sealed class SceneStatusPacket : InworldPacket
    {
        public string Name;
        public string Description;
        public string DisplayName;
        public Character[] Characters;
    }

    public sealed class NarratedActionPacket : InworldPacket { public string Content; }

    public sealed class CancelResponsesPacket : InworldPacket
    {
        public string CancelledInteractionId;
        public string[] UtteranceIds;
    }

    public sealed class LogPacket : InworldPacket
    {
        public string Text;
        public int Level;
        public Dictionary<string, string> Metadata;
    }

    public sealed class OperationStatusPacket : InworldPacket
    {
        public int Code;
        public string Message;
    }

    /// An error of the service or the connection, with Inworld's details.
    public sealed class ErrorPacket : InworldPacket
    {
        public int GrpcCode;
        public string Message;
        public bool HasDetails;
        public int ErrorType;
        /// Native.IW_RECONNECT_*.
        public uint ReconnectType;
        public long ReconnectTimeMs;
        public int MaxRetries;
        /// The library reconnects by itself.
        public bool WillRetry;
        public string ResourceId;
    }

    public sealed class ConnectionPacket : InworldPacket
    {
        /// Native.IW_STATE_*.
        public uint State;
        public long RetryInMs;
        /// Native.IW_RESUMED_*.
        public uint Resumed;
    }

    /// The queue was full: this many packets were dropped before this one.
    public sealed class OverflowPacket : InworldPacket { public ulong Dropped; }

    /// Something the game sent did not go out (its ids are the packet's).
    public sealed class SendFailedPacket : InworldPacket
    {
        /// Native.IW_SEND_*.
        public uint Reason;
        public string Message;
    }

    public sealed class CallResultPacket : InworldPacket
    {
        public ulong RequestId;
        /// Native.IW_CALL_*.
        public uint Call;
        public int GrpcCode;
        public string Message;
        public string Name;
        public byte[] Data;
        public string Version;
    }

    public sealed class SceneMutationPacket : InworldPacket
    {
        /// Native.IW_MUTATION_*.
        public uint What;
        public string Scene;
        public string[] Names;
    }

    public sealed class VoiceActivityPacket : InworldPacket
    {
        public bool Speaking;
        public bool CutShort;
        public string AudioSessionId;
    }

    /// A character of the scene.
    public sealed class Character
    {
        public string Id;
        public string ResourceName;
        public string DisplayName;
        public string AvatarImg;
        public string AvatarImgOriginal;
        public string RpmModelUri;
        public string RpmImageUriPortrait;
        public string RpmImageUriPosture;

        internal static Character From(ref iw_character c)
        {
            return new Character
            {
                Id = Utf8.Decode(c.id),
                ResourceName = Utf8.Decode(c.resource_name),
                DisplayName = Utf8.Decode(c.display_name),
                AvatarImg = Utf8.Decode(c.avatar_img),
                AvatarImgOriginal = Utf8.Decode(c.avatar_img_original),
                RpmModelUri = Utf8.Decode(c.rpm_model_uri),
                RpmImageUriPortrait = Utf8.Decode(c.rpm_image_uri_portrait),
                RpmImageUriPosture = Utf8.Decode(c.rpm_image_uri_posture),
            };
        }

        public override string ToString() { return DisplayName + " (" + ResourceName + ")"; }
    }

    /// The ids of what the game sent, to match replies and failures.
    public struct SentIds
    {
        public string PacketId;
        public string UtteranceId;
        public string InteractionId;
        public string CorrelationId;
        public string ConversationId;

        internal static unsafe SentIds From(ref iw_sent_ids ids)
        {
            fixed (iw_sent_ids* p = &ids)
            {
                return new SentIds
                {
                    PacketId = Utf8.Decode(p->packet_id, 37),
                    UtteranceId = Utf8.Decode(p->utterance_id, 37),
                    InteractionId = Utf8.Decode(p->interaction_id, 37),
                    CorrelationId = Utf8.Decode(p->correlation_id, 37),
                    ConversationId = Utf8.Decode(p->conversation_id, 37),
                };
            }
        }
    }
}
