using System;
using System.Runtime.InteropServices;
using Inworld.Interop;

namespace Inworld
{
    /// The static functions the library calls back, one per kind. Each gets its
    /// managed target through a GCHandle passed as userdata, which the library
    /// gives back to Free exactly once. Static methods (not closures) with
    /// MonoPInvokeCallback, so IL2CPP can call them; the delegates live in
    /// static fields, so the GC never collects one the library holds.
    internal static class Callbacks
    {
        internal static readonly iw_packet_fn Packet = OnPacket;
        internal static readonly iw_packet_fn Dispatch = OnDispatch;
        internal static readonly iw_wakeup_fn Wakeup = OnWakeup;
        internal static readonly iw_log_fn Log = OnLog;
        internal static readonly iw_token_request_fn TokenRequest = OnTokenRequest;
        internal static readonly iw_userdata_free_fn Free = OnFree;

        /// Whether this thread is inside the game's log handler.
        internal static bool InLogCall { get { return logDepth > 0; } }
        [ThreadStatic] private static int logDepth;

        internal static IntPtr Hold(object target)
        {
            return GCHandle.ToIntPtr(GCHandle.Alloc(target));
        }

        private static T Target<T>(IntPtr userdata) where T : class
        {
            return userdata == IntPtr.Zero ? null : GCHandle.FromIntPtr(userdata).Target as T;
        }

        [AOT.MonoPInvokeCallback(typeof(iw_packet_fn))]
        private static void OnPacket(IntPtr session, IntPtr packet, IntPtr userdata)
        {
            try
            {
                var owner = Target<InworldSession>(userdata);
                if (owner != null) owner.RaisePacketReceived(InworldPacket.From(packet));
            }
            catch (Exception e)
            {
                InworldLibrary.ReportCallbackFailure(e);
            }
        }

        [AOT.MonoPInvokeCallback(typeof(iw_packet_fn))]
        private static void OnDispatch(IntPtr session, IntPtr packet, IntPtr userdata)
        {
            try
            {
                var handler = Target<Action<InworldPacket>>(userdata);
                if (handler != null) handler(InworldPacket.From(packet));
            }
            catch (Exception e)
            {
                InworldLibrary.ReportCallbackFailure(e);
            }
        }

        [AOT.MonoPInvokeCallback(typeof(iw_wakeup_fn))]
        private static void OnWakeup(IntPtr session, IntPtr userdata)
        {
            try
            {
                var owner = Target<InworldSession>(userdata);
                if (owner != null) owner.RaiseWakeUp();
            }
            catch (Exception e)
            {
                InworldLibrary.ReportCallbackFailure(e);
            }
        }

        [AOT.MonoPInvokeCallback(typeof(iw_log_fn))]
        private static void OnLog(uint level, IntPtr target, IntPtr message, IntPtr userdata)
        {
            try
            {
                var log = Target<LogHandler>(userdata);
                if (log == null) return;
                logDepth++;
                try
                {
                    log.Handler(level, Utf8.Decode(target), Utf8.Decode(message));
                }
                finally
                {
                    logDepth--;
                }
            }
            catch (Exception e)
            {
                InworldLibrary.ReportCallbackFailure(e);
            }
        }

        [AOT.MonoPInvokeCallback(typeof(iw_token_request_fn))]
        private static void OnTokenRequest(IntPtr client, ulong requestId, IntPtr workspace, IntPtr sessionId, IntPtr userdata)
        {
            try
            {
                var handler = Target<Action<ulong, string, string>>(userdata);
                string session = sessionId == IntPtr.Zero ? null : Utf8.Decode(sessionId);
                if (handler != null) handler(requestId, Utf8.Decode(workspace), session);
            }
            catch (Exception e)
            {
                InworldLibrary.ReportCallbackFailure(e);
            }
        }

        [AOT.MonoPInvokeCallback(typeof(iw_userdata_free_fn))]
        private static void OnFree(IntPtr userdata)
        {
            try
            {
                if (userdata == IntPtr.Zero) return;
                var handle = GCHandle.FromIntPtr(userdata);
                var log = handle.Target as LogHandler;
                handle.Free();
                if (log != null) log.Released.Set();
            }
            catch (Exception e)
            {
                InworldLibrary.ReportCallbackFailure(e);
            }
        }
    }
}
