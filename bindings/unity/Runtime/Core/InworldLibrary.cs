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
        /// The log handler the library holds, if any.
        private static LogHandler currentLog;
        /// How long a goodbye waits for a log call already running to return.
        private static readonly TimeSpan LogCallWait = TimeSpan.FromSeconds(10);

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
                    currentLog = null;
                    return;
                }
                var log = new LogHandler(handler);
                var userdata = Callbacks.Hold(log);
                // On failure the library frees the userdata at once.
                InworldException.Check(Native.iw_set_log_callback(Callbacks.Log, userdata, Callbacks.Free, maxLevel));
                currentLog = log;
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
            LogHandler log;
            lock (Gate)
            {
                log = currentLog;
                currentLog = null;
            }
            Native.iw_set_log_callback(null, IntPtr.Zero, null, 0);
            // A log call already running on a library thread may still be in
            // the handler: the library releases the handler (Callbacks.Free)
            // when that call returns. Wait for it, unless this goodbye is
            // itself inside a log call (its release follows this return).
            if (log != null && !Callbacks.InLogCall) log.Released.Wait(LogCallWait);
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

    /// The game's log handler as the library holds it, told when the library
    /// lets go of it (after any log call running with it has returned).
    internal sealed class LogHandler
    {
        internal readonly Action<uint, string, string> Handler;
        internal readonly System.Threading.ManualResetEventSlim Released = new System.Threading.ManualResetEventSlim(false);

        internal LogHandler(Action<uint, string, string> handler)
        {
            Handler = handler;
        }
    }
}
