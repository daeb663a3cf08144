using System;
using System.Collections.Generic;
using Inworld.Interop;

namespace Inworld
{
    /// Library-wide calls, and the goodbye that keeps native threads from
    /// calling into a managed world that is going away (a domain reload in the
    /// editor, the end of the process).
    public static class InworldLibrary
    {
        private static readonly object Gate = new object();
        private static readonly List<WeakReference> Live = new List<WeakReference>();
        private static bool hooked;

        /// The library's version (major << 16 | minor << 8 | patch).
        public static uint Version { get { return Native.iw_version(); } }

        /// The ABI version of the library loaded (the binding needs its major).
        public static uint AbiVersion { get { return Native.iw_abi_version(); } }

        /// Thrown by a callback of the game (an event handler) on a library
        /// thread: caught there (an exception must not unwind into native code)
        /// and reported here.
        public static event Action<Exception> CallbackFailed;

        /// The library's log (level Native.IW_LOG_*, target, message), on any
        /// thread. Null removes it.
        public static void SetLogHandler(Action<uint, string, string> handler, uint maxLevel = Native.IW_LOG_INFO)
        {
            lock (Gate)
            {
                if (handler == null)
                {
                    InworldException.Check(Native.iw_set_log_callback(null, IntPtr.Zero, null, maxLevel));
                    return;
                }
                var userdata = Callbacks.Hold(handler);
                // On failure the library frees the userdata at once.
                InworldException.Check(Native.iw_set_log_callback(Callbacks.Log, userdata, Callbacks.Free, maxLevel));
                HookUnload();
            }
        }

        /// Closes every live session and removes the log handler: after it
        /// returns, the library calls no managed code. The core calls it when
        /// the domain unloads; Unity's layer also calls it before an assembly
        /// reload. Sessions are unusable afterwards.
        public static void Goodbye()
        {
            List<IDisposable> alive = new List<IDisposable>();
            lock (Gate)
            {
                foreach (var weak in Live)
                {
                    var target = weak.Target as IDisposable;
                    if (target != null) alive.Add(target);
                }
                Live.Clear();
            }
            foreach (var d in alive) d.Dispose();
            Native.iw_set_log_callback(null, IntPtr.Zero, null, 0);
        }

        /// Stops the library's runtime (after every handle is gone), at exit.
        public static void Shutdown()
        {
            InworldException.Check(Native.iw_shutdown());
        }

        internal static void Track(IDisposable owner)
        {
            lock (Gate)
            {
                Live.RemoveAll(w => !w.IsAlive);
                Live.Add(new WeakReference(owner));
                HookUnload();
            }
        }

        internal static void ReportCallbackFailure(Exception e)
        {
            try
            {
                var handler = CallbackFailed;
                if (handler != null) handler(e);
                else Console.Error.WriteLine("inworld: a callback threw: " + e);
            }
            catch
            {
                // Nothing may unwind into the library's thread.
            }
        }

        private static void HookUnload()
        {
            if (hooked) return;
            hooked = true;
            AppDomain.CurrentDomain.DomainUnload += (s, e) => Goodbye();
            // At the process's end the runtime's threads stop too: mono waits
            // for the threads that ever called into managed code.
            AppDomain.CurrentDomain.ProcessExit += (s, e) => { Goodbye(); Native.iw_shutdown(); };
        }
    }
}
