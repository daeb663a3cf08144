using System;
using Inworld.Interop;

namespace Inworld
{
    /// The microphone into a session. Push is for the audio thread: wait-free,
    /// no allocation; what does not fit is dropped and counted.
    public sealed class InworldAudioInput : IDisposable
    {
        private readonly AudioInputHandle handle;

        internal InworldAudioInput(AudioInputHandle handle, int channels)
        {
            this.handle = handle;
            Channels = channels;
        }

        /// The channels it was opened with: a frame is this many samples.
        public int Channels { get; private set; }

        /// Pushes `frames` interleaved frames (Channels samples each) from
        /// `samples[offset..]`; returns the frames accepted.
        public unsafe int Push(float[] samples, int offset, int frames)
        {
            CheckRange(samples.Length, offset, frames, Channels);
            UIntPtr accepted;
            fixed (float* p = samples)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_audio_input_push_f32(h.Ptr, p + offset, (UIntPtr)frames, out accepted));
            return (int)accepted.ToUInt64();
        }

        public unsafe int Push(short[] samples, int offset, int frames)
        {
            CheckRange(samples.Length, offset, frames, Channels);
            UIntPtr accepted;
            fixed (short* p = samples)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_audio_input_push_i16(h.Ptr, p + offset, (UIntPtr)frames, out accepted));
            return (int)accepted.ToUInt64();
        }

        /// Frames dropped so far.
        public ulong Dropped
        {
            get
            {
                ulong frames;
                using (var h = handle.Use()) InworldException.Check(Native.iw_audio_input_dropped(h.Ptr, out frames));
                return frames;
            }
        }

        public void Dispose() { handle.Dispose(); }

        internal static void CheckRange(int length, int offset, int frames, int channels)
        {
            if (offset < 0 || frames < 0 || channels <= 0 || (long)offset + (long)frames * channels > length)
                throw new ArgumentOutOfRangeException("frames", "offset + frames * Channels exceeds the buffer");
        }
    }

    /// What playback is playing now (Playing false: silence).
    public struct NowPlaying
    {
        public bool Playing;
        /// Native.IW_VISEME_*.
        public uint Viseme;
        public ulong PositionFrames;
        public ulong PositionUs;
        public string Character;
        public string InteractionId;
        public string UtteranceId;
    }

    /// The characters' speech for the audio thread (OnAudioFilterRead): Read
    /// never blocks nor allocates and fills silence when nothing is queued.
    public sealed class InworldPlayback : IDisposable
    {
        private readonly PlaybackHandle handle;

        internal InworldPlayback(PlaybackHandle handle, int channels)
        {
            this.handle = handle;
            Channels = channels;
        }

        /// The channels it was opened with: a frame is this many samples.
        public int Channels { get; private set; }

        /// Fills `frames` interleaved frames (Channels samples each) of
        /// `samples` from `offset`; returns how many were speech (the rest is
        /// silence).
        public unsafe int Read(float[] samples, int offset, int frames)
        {
            InworldAudioInput.CheckRange(samples.Length, offset, frames, Channels);
            UIntPtr speech;
            fixed (float* p = samples)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_playback_read_f32(h.Ptr, p + offset, (UIntPtr)frames, out speech));
            return (int)speech.ToUInt64();
        }

        public unsafe int Read(short[] samples, int offset, int frames)
        {
            InworldAudioInput.CheckRange(samples.Length, offset, frames, Channels);
            UIntPtr speech;
            fixed (short* p = samples)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_playback_read_i16(h.Ptr, p + offset, (UIntPtr)frames, out speech));
            return (int)speech.ToUInt64();
        }

        /// Who speaks, where, and the mouth shape there (any thread; no lock).
        public unsafe NowPlaying NowPlaying
        {
            get
            {
                var now = new iw_now_playing();
                using (var h = handle.Use()) InworldException.Check(Native.iw_playback_now_playing(h.Ptr, ref now));
                return new NowPlaying
                {
                    Playing = now.playing != 0,
                    Viseme = now.viseme,
                    PositionFrames = now.position_frames,
                    PositionUs = now.position_us,
                    Character = Utf8.Decode(now.character, Native.IW_NOW_PLAYING_ID_SIZE),
                    InteractionId = Utf8.Decode(now.interaction_id, Native.IW_NOW_PLAYING_ID_SIZE),
                    UtteranceId = Utf8.Decode(now.utterance_id, Native.IW_NOW_PLAYING_ID_SIZE),
                };
            }
        }

        /// Frames queued, not yet read.
        public ulong Pending
        {
            get
            {
                ulong frames;
                using (var h = handle.Use()) InworldException.Check(Native.iw_playback_pending(h.Ptr, out frames));
                return frames;
            }
        }

        /// Writes the face to show now into `weights` (at least
        /// Native.IW_BLENDSHAPE_COUNT floats, 0..1, in ARKit's order; see
        /// BlendshapeName): the speech heard, moving on smoothly between
        /// audio reads, with the emotion shown and blinks. Call it every
        /// frame, from any thread: no lock, no allocation.
        public unsafe void ReadFace(float[] weights)
        {
            if (weights == null) throw new ArgumentNullException("weights");
            if (weights.Length < Native.IW_BLENDSHAPE_COUNT)
                throw new ArgumentOutOfRangeException("weights", "needs " + Native.IW_BLENDSHAPE_COUNT + " floats");
            fixed (float* p = weights)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_playback_face(h.Ptr, p));
        }

        /// Shows an emotion (an EmotionPacket's Behavior and Strength) on
        /// the face: brows, eyes, cheeks, the mouth's corners; fades in.
        public void ShowEmotion(int behavior, int strength)
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_playback_show_emotion(h.Ptr, behavior, strength));
        }

        /// Seeded blinks at natural intervals, or none (the default).
        public void SetBlinks(bool enabled, ulong seed)
        {
            using (var h = handle.Use()) InworldException.Check(Native.iw_playback_set_blinks(h.Ptr, enabled ? 1u : 0u, seed));
        }

        /// The ARKit name of blendshape `index` ("jawOpen"), or null past the last.
        public static string BlendshapeName(int index)
        {
            if (index < 0 || index >= Native.IW_BLENDSHAPE_COUNT) return null;
            return Utf8.Decode(Native.iw_blendshape_name((uint)index));
        }

        public void Dispose() { handle.Dispose(); }
    }

    /// What the game played, for echo cancellation (audio thread: wait-free).
    public sealed class InworldEchoReference : IDisposable
    {
        private readonly EchoReferenceHandle handle;

        internal InworldEchoReference(EchoReferenceHandle handle, int channels)
        {
            this.handle = handle;
            Channels = channels;
        }

        /// The channels it was opened with: a frame is this many samples.
        public int Channels { get; private set; }

        public unsafe int Push(float[] samples, int offset, int frames)
        {
            InworldAudioInput.CheckRange(samples.Length, offset, frames, Channels);
            UIntPtr accepted;
            fixed (float* p = samples)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_echo_reference_push_f32(h.Ptr, p + offset, (UIntPtr)frames, out accepted));
            return (int)accepted.ToUInt64();
        }

        public unsafe int Push(short[] samples, int offset, int frames)
        {
            InworldAudioInput.CheckRange(samples.Length, offset, frames, Channels);
            UIntPtr accepted;
            fixed (short* p = samples)
            using (var h = handle.Use())
                InworldException.Check(Native.iw_echo_reference_push_i16(h.Ptr, p + offset, (UIntPtr)frames, out accepted));
            return (int)accepted.ToUInt64();
        }

        public ulong Dropped
        {
            get
            {
                ulong frames;
                using (var h = handle.Use()) InworldException.Check(Native.iw_echo_reference_dropped(h.Ptr, out frames));
                return frames;
            }
        }

        public void Dispose() { handle.Dispose(); }
    }
}
