using System;
using System.Runtime.InteropServices;
using Inworld.Interop;

namespace Inworld
{
    /// A handle of the C API, freed exactly once: by Dispose or, if the game
    /// forgot, by the finalizer. The C API refuses a stale handle with an error
    /// code, never a crash, so a late call after Dispose is only an exception.
    public abstract class InworldHandle : SafeHandle
    {
        protected InworldHandle() : base(IntPtr.Zero, true) { }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        internal void Set(IntPtr value) { SetHandle(value); }

        /// The raw pointer for one call, with a reference held so that a
        /// concurrent Dispose waits for the call (SafeHandle's ref count).
        internal Lease Use()
        {
            if (IsClosed) throw new ObjectDisposedException(GetType().Name);
            bool added = false;
            DangerousAddRef(ref added);
            return new Lease(this, added);
        }

        internal struct Lease : IDisposable
        {
            private readonly InworldHandle owner;
            private readonly bool added;
            internal Lease(InworldHandle owner, bool added) { this.owner = owner; this.added = added; }
            public IntPtr Ptr { get { return owner.DangerousGetHandle(); } }
            public void Dispose() { if (added) owner.DangerousRelease(); }
        }
    }

    public sealed class EngineHandle : InworldHandle
    {
        protected override bool ReleaseHandle() { return Native.iw_engine_free(handle) == Native.IW_OK; }
    }

    public sealed class ClientHandle : InworldHandle
    {
        protected override bool ReleaseHandle() { return Native.iw_client_free(handle) == Native.IW_OK; }
    }

    public sealed class SessionHandle : InworldHandle
    {
        protected override bool ReleaseHandle() { return Native.iw_session_free(handle) == Native.IW_OK; }
    }

    public sealed class AudioInputHandle : InworldHandle
    {
        protected override bool ReleaseHandle() { return Native.iw_audio_input_free(handle) == Native.IW_OK; }
    }

    public sealed class PlaybackHandle : InworldHandle
    {
        protected override bool ReleaseHandle() { return Native.iw_playback_free(handle) == Native.IW_OK; }
    }

    public sealed class EchoReferenceHandle : InworldHandle
    {
        protected override bool ReleaseHandle() { return Native.iw_echo_reference_free(handle) == Native.IW_OK; }
    }
}
