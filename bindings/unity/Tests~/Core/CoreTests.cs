// The Unity package's core under mono, against the real library and the local
// engine in-process (its "test" scene: Alice and Bob, who answer what was
// said). A small runner: every public static void method of CoreTests is a
// test; the exit code is the number of failures. Waits are on conditions; the
// limit only catches a hang.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Threading;
using Inworld;
using Inworld.Interop;

public static partial class CoreTests
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(2);
    static InworldEngine engine;

    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "--layout") return Layout.Print();
        engine = InworldEngine.Start("test");
        int failures = 0;
        var tests = typeof(CoreTests).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.Name != "Main" && m.ReturnType == typeof(void) && m.GetParameters().Length == 0)
            .Where(m => args.Length == 0 || args.Contains(m.Name))
            .OrderBy(m => m.Name);
        foreach (var test in tests)
        {
            try
            {
                test.Invoke(null, null);
                Console.WriteLine("ok   " + test.Name);
            }
            catch (TargetInvocationException e)
            {
                failures++;
                Console.WriteLine("FAIL " + test.Name + ": " + e.InnerException);
            }
        }
        engine.Dispose();
        Console.WriteLine(failures == 0 ? "unity core: OK" : "unity core: " + failures + " FAILED");
        return failures;
    }

    // ------------------------------------------------------------ helpers

    static void Expect(bool condition, string what)
    {
        if (!condition) throw new Exception("expected: " + what);
    }

    static void WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Limit;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Exception("never happened: " + what);
            Thread.Sleep(2);
        }
    }

    static InworldClientConfig Config()
    {
        return new InworldClientConfig
        {
            Host = engine.Address,
            Scene = engine.SceneName(0),
            ApiKey = "test-api-key",
            ApiSecret = "test-api-secret",
            UserName = "Tester",
            Tls = Native.IW_TLS_OFF,
            Capabilities = Native.IW_CAP_DEFAULT | Native.IW_CAP_EMOTIONS | Native.IW_CAP_PHONEMES,
            SceneTimeoutMs = 120000,
            ConnectTimeoutMs = 60000,
            HandshakeTimeoutMs = 60000,
        };
    }

    /// A session that is ready, has greeted the player (a character's first
    /// reply greets; later ones answer what was said) and has an empty queue.
    static InworldSession ReadySession(InworldClient client)
    {
        var session = client.OpenSession();
        WaitFor(() => session.IsReady, "the session is ready");
        Expect(Said(Reply(session, session.SendText("hello"))).Contains("Tester"), "the greeting names the player");
        var rest = new List<InworldPacket>();
        while (session.Poll(rest) > 0) { }
        return session;
    }

    /// Polls until the reply to `ids` ends; returns its packets.
    static List<InworldPacket> Reply(InworldSession session, SentIds ids)
    {
        var mine = new List<InworldPacket>();
        var polled = new List<InworldPacket>();
        WaitFor(() =>
        {
            polled.Clear();
            session.Poll(polled);
            foreach (var p in polled)
            {
                if (p is ErrorPacket) throw new Exception("error packet: " + ((ErrorPacket)p).Message);
                if (p.InteractionId == ids.InteractionId) mine.Add(p);
            }
            return mine.OfType<ControlPacket>().Any(c => c.IsInteractionEnd);
        }, "the interaction end of " + ids.InteractionId);
        return mine;
    }

    static string Said(IEnumerable<InworldPacket> packets)
    {
        return string.Join(" ", packets.OfType<TextPacket>().Where(t => t.Source.IsCharacter).Select(t => t.Text));
    }

    // ------------------------------------------------------------ tests

    public static void Library_reports_its_versions()
    {
        Expect(InworldLibrary.AbiVersion >> 16 == Native.IW_ABI_VERSION_MAJOR, "the ABI's major matches the declarations'");
        Expect(InworldLibrary.Version > 0, "a version");
    }

    public static void Session_opens_talks_and_lists_characters()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            Expect(session.Id.Contains(":"), "a <workspace>:<uuid> session id: " + session.Id);
            var characters = session.Characters;
            Expect(characters.Length == 2, "two characters");
            Expect(characters[0].DisplayName == "Alice" && characters[0].ResourceName.Contains("characters/"), "Alice first");
            Expect(session.CurrentCharacter.DisplayName == "Alice", "Alice is current");

            var ids = session.SendText("hello there");
            Expect(ids.InteractionId.Length == 36 && ids.PacketId.Length == 36, "ids");
            var reply = Reply(session, ids);
            Expect(Said(reply).Contains("hello there"), "the answer: " + Said(reply));
            var audio = reply.OfType<AudioPacket>().ToList();
            Expect(audio.Count > 0, "speech");
            Expect(audio.All(a => a.SampleRate > 0 && a.Channels > 0 && a.Samples.Length > 0 && a.DecodeError == ""), "decoded speech");
            Expect(audio.Any(a => a.Visemes.Length > 0 && a.Phonemes.Length > 0), "visemes and phonemes");
            Expect(reply.OfType<TextPacket>().First(t => t.Source.IsCharacter).Source.Name == characters[0].Id, "Alice speaks");

            reply = Reply(session, session.SendText("héllo ünïcode ✓"));
            Expect(Said(reply).Contains("héllo ünïcode ✓"), "UTF-8 both ways: " + Said(reply));
        }
    }

    public static void Triggers_carry_parameters_both_ways()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            var reply = Reply(session, session.SendTrigger("greet", new Dictionary<string, string> { { "mood", "sunny" } }));
            Expect(Said(reply).Contains("sunny"), "the parameter is used: " + Said(reply));
            Expect(reply.OfType<TriggerPacket>().Any(t => t.Name == "greeted"), "the character's trigger");
            Expect(reply.OfType<EmotionPacket>().Any(e => e.BehaviorName == "JOY"), "an emotion");
            reply = Reply(session, session.SendNarratedAction("waves at everyone"));
            Expect(Said(reply).Length > 0, "an answer to the action");
        }
    }

    public static void Characters_switch_and_errors_carry_code_and_message()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            session.SetCharacter("Bob");
            Expect(session.CurrentCharacter.DisplayName == "Bob", "Bob is current");
            var reply = Reply(session, session.SendText("hi bob"));
            Expect(reply.OfType<TextPacket>().First(t => t.Source.IsCharacter).Source.Name == session.Characters[1].Id, "Bob speaks");

            var e = Throws<InworldException>(() => session.SetCharacter("Nobody-At-All"));
            Expect(e.Code == Native.IW_E_NOT_FOUND && e.CodeName == "IW_E_NOT_FOUND", "IW_E_NOT_FOUND: " + e.Code);
            Expect(e.Message.Contains("Nobody-At-All"), "the message names it: " + e.Message);
            e = Throws<InworldException>(() => session.OpenPlayback(1, 1));
            Expect(e.Code == Native.IW_E_INVALID_ARGUMENT, "a bad rate: " + e.Message);
            e = Throws<InworldException>(() => new InworldClient(new InworldClientConfig { Host = "127.0.0.1:1" }));
            Expect(e.Code == Native.IW_E_NULL_POINTER && e.Message.Contains("scene"), "no scene: " + e.Message);
        }
    }

    public static void Disposed_handles_throw_instead_of_crashing()
    {
        var client = new InworldClient(Config());
        var session = client.OpenSession();
        session.Dispose();
        session.Dispose(); // twice is fine
        Throws<ObjectDisposedException>(() => session.SendText("anyone?"));
        Throws<ObjectDisposedException>(() => { var s = session.State; });
        client.Dispose();
        Throws<ObjectDisposedException>(() => client.OpenSession());
    }

    public static void Closed_session_refuses_sends()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            session.Close();
            WaitFor(() => session.State == Native.IW_STATE_CLOSED, "closed");
            var e = Throws<InworldException>(() => session.SendText("anyone?"));
            Expect(e.Code == Native.IW_E_CLOSED, "IW_E_CLOSED: " + e.Message);
        }
    }

    public static void Packets_arrive_on_a_library_thread_through_the_event()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            var received = new List<InworldPacket>();
            int mainThread = Thread.CurrentThread.ManagedThreadId;
            int callbackThread = -1;
            Action<InworldPacket> handler = p =>
            {
                lock (received)
                {
                    received.Add(p);
                    callbackThread = Thread.CurrentThread.ManagedThreadId;
                }
            };
            session.PacketReceived += handler;
            var ids = session.SendText("callback please");
            WaitFor(() => { lock (received) return received.OfType<ControlPacket>().Any(c => c.IsInteractionEnd && c.InteractionId == ids.InteractionId); }, "the callback's interaction end");
            lock (received)
            {
                Expect(Said(received.Where(p => p.InteractionId == ids.InteractionId)).Contains("callback please"), "the reply by callback");
                Expect(callbackThread != mainThread, "a library thread");
            }
            session.PacketReceived -= handler; // back to polling
            Reply(session, session.SendText("polled again"));

            // A handler that throws is reported, never unwound into the library.
            Exception reported = null;
            Action<Exception> onFailure = e => { lock (received) reported = e; };
            InworldLibrary.CallbackFailed += onFailure;
            Action<InworldPacket> thrower = p => { throw new InvalidOperationException("game bug"); };
            session.PacketReceived += thrower;
            session.SendText("throw please");
            WaitFor(() => { lock (received) return reported != null; }, "the thrown exception reported");
            session.PacketReceived -= thrower;
            InworldLibrary.CallbackFailed -= onFailure;
            Expect(reported is InvalidOperationException, "the game's exception: " + reported);
        }
    }

    public static void Wake_up_and_dispatch()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            int wakeups = 0;
            Action onWake = () => Interlocked.Increment(ref wakeups);
            session.WakeUp += onWake;
            var ids = session.SendText("dispatch please");
            WaitFor(() => Volatile.Read(ref wakeups) > 0, "a wake-up");
            var mine = new List<InworldPacket>();
            int thread = Thread.CurrentThread.ManagedThreadId;
            bool sameThread = true;
            WaitFor(() =>
            {
                session.Dispatch(p =>
                {
                    sameThread &= Thread.CurrentThread.ManagedThreadId == thread;
                    if (p.InteractionId == ids.InteractionId) mine.Add(p);
                });
                return mine.OfType<ControlPacket>().Any(c => c.IsInteractionEnd);
            }, "dispatched interaction end");
            session.WakeUp -= onWake;
            Expect(sameThread, "dispatch calls on the calling thread");
            Expect(Said(mine).Contains("dispatch please"), "dispatched reply: " + Said(mine));
        }
    }

    public static void Audio_playback_microphone_and_echo_reference()
    {
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        using (var playback = session.OpenPlayback(48000, 2))
        using (var mic = session.OpenAudioInput(16000, 1))
        using (var echo = session.OpenEchoReference(48000, 2))
        {
            var ids = session.SendText("hello there");
            Reply(session, ids);
            // The reply's speech plays through the stream at 48 kHz stereo.
            var buffer = new float[1024 * 2];
            int speech = 0;
            WaitFor(() => { speech += playback.Read(buffer, 0, 1024); return speech > 0 && playback.NowPlaying.Playing; }, "speech in the stream");
            var now = playback.NowPlaying;
            Expect(now.InteractionId == ids.InteractionId, "now playing the reply: " + now.InteractionId);
            Expect(now.Character.Length > 0 && now.Viseme <= Native.IW_VISEME_OU, "who and which mouth shape");
            Expect(buffer.Any(s => s != 0f), "sound, not silence");
            Throws<ArgumentOutOfRangeException>(() => playback.Read(buffer, 0, 2048));
            // A frame is as many samples as the stream was opened with: 1,024
            // stereo frames do not fit in 1,024 floats.
            Expect(playback.Channels == 2 && mic.Channels == 1 && echo.Channels == 2, "channels as opened");
            Throws<ArgumentOutOfRangeException>(() => playback.Read(new float[1024], 0, 1024));
            // The face: 52 ARKit weights in 0..1; the mouth moves as the reply plays.
            var face = new float[Native.IW_BLENDSHAPE_COUNT];
            Expect(InworldPlayback.BlendshapeName(17) == "jawOpen" && InworldPlayback.BlendshapeName(52) == null, "ARKit names");
            playback.ShowEmotion(18, 2);
            playback.SetBlinks(true, 7);
            float mouth = 0f;
            WaitFor(() =>
            {
                playback.Read(buffer, 0, 1024);
                playback.ReadFace(face);
                Expect(face.All(w => w >= 0f && w <= 1f), "weights in 0..1");
                mouth = Math.Max(mouth, face[17]);
                return mouth > 0.1f || playback.Pending == 0;
            }, "the mouth moving");
            Expect(mouth > 0.1f, "jawOpen while speaking: " + mouth);
            Throws<ArgumentOutOfRangeException>(() => playback.ReadFace(new float[51]));
            Throws<ArgumentOutOfRangeException>(() => echo.Push(new short[960], 0, 960));

            var e = Throws<InworldException>(() => mic.Push(new short[320], 0, 320));
            Expect(e.Code == Native.IW_E_NOT_READY, "no audio session yet: " + e.Message);
            session.StartAudioSession(Native.IW_MIC_PUSH_TO_TALK);
            Expect(mic.Push(new short[320], 0, 320) == 320, "frames accepted");
            Expect(mic.Dropped == 0, "none dropped");
            session.EndAudioSession();
            Expect(echo.Push(new float[960], 0, 480) == 480, "the echo reference takes what was played");
            session.SetVoiceDetection(true, 500, true);
            session.SetVoiceDetection(false);
        }
    }

    public static void Group_conversation_and_the_whole_session()
    {
        const string TestScene = "workspaces/test-ws/scenes/test-scene";
        const string OtherScene = "workspaces/test-ws/scenes/other-scene";
        const string Carol = "workspaces/test-ws/characters/carol";
        const string Bob = "workspaces/test-ws/characters/bob";
        var seen = new List<InworldPacket>();
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
        {
            // Three characters take turns; Carol joins by her resource name.
            var id = session.StartConversation(new[] { "Alice", "Bob", Carol });
            Expect(id.Length == 36, "a conversation id: " + id);
            var ids = session.SendTextIn(id, "hello everyone");
            Expect(ids.ConversationId == id, "the send carries the conversation's id");
            var speakers = new List<string>();
            var reply = Reply(session, ids);
            for (int turn = 0; ; turn++)
            {
                var texts = reply.OfType<TextPacket>().Where(t => t.Source.IsCharacter).ToList();
                Expect(texts.Count > 0 && texts.All(t => t.ConversationId == id), "turn " + turn + " is the conversation's");
                speakers.Add(texts[0].Source.Name);
                if (turn == 2) break;
                reply = Reply(session, session.NextTurn(id));
            }
            Expect(speakers.Distinct().Count() == 3, "three turns, three characters: " + string.Join(", ", speakers));
            Expect(session.Characters.Length == 3, "Carol is in the scene");

            // Alice alone (by display name): a trigger to her, a narrated action; the end.
            session.UpdateConversation(id, new[] { "alice" });
            var alice = session.Characters.First(c => c.DisplayName == "Alice").Id;
            reply = Reply(session, session.SendTriggerIn(id, "greet", new Dictionary<string, string> { { "mood", "cheerful" } }, "Alice"));
            Expect(Said(reply).Contains("You look cheerful today."), "the trigger's parameter: " + Said(reply));
            Expect(reply.OfType<TextPacket>().First(t => t.Source.IsCharacter).Source.Name == alice, "Alice answers");
            reply = Reply(session, session.SendNarratedActionIn(id, "waves"));
            Expect(Said(reply).Contains("Waves back."), "the action's answer: " + Said(reply));
            session.EndConversation(id);
            var e = Throws<InworldException>(() => session.SendTextIn(id, "anyone?"));
            Expect(e.Code == Native.IW_E_NOT_FOUND, "the conversation is over: " + e.Message);

            // Bob leaves at once and comes back with the next scene status.
            session.RemoveCharacters("Bob");
            Expect(session.Characters.Length == 2, "Bob left");
            Expect(Throws<InworldException>(() => session.SetCharacter("Bob")).Code == Native.IW_E_NOT_FOUND, "no Bob");
            session.AddCharacters(Bob);
            PollFor<SceneStatusPacket>(session, seen, st => st.Name == TestScene && st.Characters.Length == 3, "Bob back in the scene");
            Expect(seen.OfType<SceneMutationPacket>().Any(m => m.What == Native.IW_MUTATION_ADD_CHARACTERS && m.Names.Contains(Bob)),
                "the addition went out as a scene mutation");
            session.SetCharacter("Bob");
            session.SetCharacter("Alice");

            // Items of the world.
            session.CreateOrUpdateItem("sword-1", "Sword", "Sharp.", new Dictionary<string, string> { { "damage", "7" } }, "loot");
            session.ItemsInEntities(Native.IW_ITEMS_ADD, new[] { "sword-1" }, new[] { "loot" });
            session.ItemsInEntities(Native.IW_ITEMS_REPLACE, null, new[] { "loot" });
            session.RemoveItems("sword-1");

            // Feedback: a like (named), its undo, a dislike with reasons.
            var like = Call(session, session.Like(ids.InteractionId), seen);
            Expect(like.Call == Native.IW_CALL_LIKE && like.GrpcCode == 0 && like.Name.Contains("/feedbacks/"), "a like: " + like.Name);
            var undo = Call(session, session.UndoFeedback(like.Name), seen);
            Expect(undo.Call == Native.IW_CALL_UNDO_FEEDBACK && undo.GrpcCode == 0, "its undo: " + undo.Message);
            var dislike = Call(session, session.Dislike(ids.InteractionId,
                new uint[] { Native.IW_DISLIKE_IRRELEVANT, Native.IW_DISLIKE_TOO_LONG }, "too chatty"), seen);
            Expect(dislike.Call == Native.IW_CALL_DISLIKE && dislike.GrpcCode == 0 && dislike.Name.Length > 0, "a dislike: " + dislike.Message);

            // The saved state and the dialog so far: each continues in a new session.
            Reply(session, session.SendText("the password is walnut"));
            var state = Call(session, session.RequestState(), seen);
            Expect(state.Call == Native.IW_CALL_SESSION_STATE && state.GrpcCode == 0 && state.Data.Length > 0, "a saved state");
            var fromState = Config();
            fromState.ContinuationState = state.Data;
            Remembers(fromState, "the password is walnut");
            var dialog = session.Dialog();
            Expect(dialog.Any(l => l.Key == Native.IW_TALKER_PLAYER && l.Value == "the password is walnut"), "the dialog has the player's line");
            Expect(dialog.Last().Key == Native.IW_TALKER_CHARACTER && dialog.Last().Value.Contains("walnut"), "and the answer");
            var fromDialog = Config();
            fromDialog.DialogHistory = dialog;
            Remembers(fromDialog, "the password is walnut");

            // Another scene in the same session; Alice stays current.
            session.ChangeScene(OtherScene, gameSessionId: "game-session-2");
            PollFor<SceneStatusPacket>(session, seen, st => st.Name == OtherScene && st.Characters.Length == 2, "the other scene");
            Expect(session.CurrentCharacter.DisplayName == "Alice", "Alice stays current");
            Expect(Said(Reply(session, session.SendText("where are we?"))).Contains("Alice"), "Alice answers there");
        }
    }

    public static void Every_setting_reaches_the_library()
    {
        // Each setting is carried: the library refuses what it refuses.
        var config = Config();
        config.KeepaliveTimeoutMs = 0;
        var e = Throws<InworldException>(() => new InworldClient(config));
        Expect(e.Code == Native.IW_E_INVALID_ARGUMENT && e.Message.Contains("keepalive"), "keepalive timeout: " + e.Message);
        config.KeepaliveIntervalMs = 0; // keepalive off: the timeout does not matter
        new InworldClient(config).Dispose();
        config = Config();
        config.MaxReceiveMessageBytes = 10;
        e = Throws<InworldException>(() => new InworldClient(config));
        Expect(e.Message.Contains("receive"), "largest message: " + e.Message);

        // An engine on a port of our choosing.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var own = InworldEngine.Start("test", listen: "127.0.0.1:" + port);
        Expect(own.Address == "127.0.0.1:" + port, "listening where asked: " + own.Address);

        // Sends beyond MaxPendingSends are refused while the session cannot send.
        config = Config();
        config.Host = own.Address;
        config.MaxPendingSends = 2;
        config.ReconnectMaxAttempts = 100;
        using (var client = new InworldClient(config))
        using (var session = client.OpenSession())
        {
            WaitFor(() => session.IsReady, "the session is ready");
            own.Dispose();
            var seen = new List<InworldPacket>();
            PollFor<ConnectionPacket>(session, seen, c => c.State == Native.IW_STATE_RECONNECTING, "reconnecting");
            session.SendText("while away");
            session.SendText("while away, again");
            e = Throws<InworldException>(() => session.SendText("one too many"));
            Expect(e.Code == Native.IW_E_QUEUE_FULL, "the third waits for nothing: " + e.Message);
        }
    }

    public static void Engine_speech_parts_reach_the_library()
    {
        // Each choice is carried: the library refuses what it refuses (the
        // same whatever parts it was built with).
        var e = Throws<InworldException>(() => InworldEngine.Start("test", synthesizer: 77));
        Expect(e.Code == Native.IW_E_INVALID_ARGUMENT && e.Message.Contains("synthesizer is 77"), "synthesizer: " + e.Message);
        e = Throws<InworldException>(() => InworldEngine.Start("test", recognizer: (uint)Native.IW_RECOGNIZER_WHISPER));
        Expect(e.Code == Native.IW_E_INVALID_ARGUMENT && e.Message.Contains("whisper_model is NULL"), "recognizer: " + e.Message);
        e = Throws<InworldException>(() => InworldEngine.Start("test", recognizer: (uint)Native.IW_RECOGNIZER_SCRIPTED,
            whisperModel: "/models/ggml-tiny.en.bin"));
        Expect(e.Code == Native.IW_E_INVALID_ARGUMENT && e.Message.Contains("whisper_model is for"), "whisper model: " + e.Message);
        InworldEngine.Start("test", synthesizer: (uint)Native.IW_SYNTHESIZER_TONES,
            recognizer: (uint)Native.IW_RECOGNIZER_SCRIPTED).Dispose();
    }

    public static void Two_clients_at_once()
    {
        using (var a = new InworldClient(Config()))
        using (var b = new InworldClient(Config()))
        using (var sa = ReadySession(a))
        using (var sb = ReadySession(b))
        {
            var ra = sa.SendText("hello from a");
            var rb = sb.SendText("hello from b");
            Expect(Said(Reply(sb, rb)).Contains("hello from b"), "b's reply");
            Expect(Said(Reply(sa, ra)).Contains("hello from a"), "a's reply");
            Expect(sa.Id != sb.Id, "two sessions");
        }
    }

    public static void Finalizers_free_what_the_game_forgot()
    {
        // Sessions with callbacks registered, dropped without Dispose: the
        // finalizers free them (and the library frees the GCHandles).
        for (int i = 0; i < 3; i++) Forget();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
            Expect(Said(Reply(session, session.SendText("still here"))).Length > 0, "the library goes on");
    }

    static void Forget()
    {
        var client = new InworldClient(Config());
        var session = client.OpenSession();
        session.PacketReceived += p => { };
        session.WakeUp += () => { };
        session.SendText("forgotten");
    }

    public static void Log_handler_receives_lines_and_goodbye_removes_it()
    {
        int lines = 0;
        InworldLibrary.SetLogHandler((level, target, message) => Interlocked.Increment(ref lines), Native.IW_LOG_DEBUG);
        using (var client = new InworldClient(Config()))
        using (var session = ReadySession(client))
            Reply(session, session.SendText("log something"));
        WaitFor(() => Volatile.Read(ref lines) > 0, "log lines");
        // Goodbye: live sessions closed, the log handler removed; nothing
        // managed is called afterwards.
        var client2 = new InworldClient(Config());
        var session2 = client2.OpenSession();
        session2.PacketReceived += p => { };
        InworldLibrary.Goodbye();
        Throws<ObjectDisposedException>(() => session2.SendText("after goodbye"));
        int after = Volatile.Read(ref lines);
        using (var client3 = new InworldClient(Config()))
        using (var session3 = ReadySession(client3))
            Reply(session3, session3.SendText("quiet now"));
        Expect(Volatile.Read(ref lines) == after, "no log call after goodbye");
    }

    /// Polls (keeping every packet in `seen`) until `done` holds for one polled.
    static T PollFor<T>(InworldSession session, List<InworldPacket> seen, Func<T, bool> done, string what) where T : InworldPacket
    {
        T found = null;
        var polled = new List<InworldPacket>();
        WaitFor(() =>
        {
            polled.Clear();
            session.Poll(polled);
            seen.AddRange(polled);
            found = found ?? polled.OfType<T>().FirstOrDefault(done);
            return found != null;
        }, what);
        return found;
    }

    static CallResultPacket Call(InworldSession session, ulong requestId, List<InworldPacket> seen)
    {
        return PollFor<CallResultPacket>(session, seen, c => c.RequestId == requestId, "the result of request " + requestId);
    }

    /// A new client from `config` opens a session that remembers `said`.
    static void Remembers(InworldClientConfig config, string said)
    {
        using (var client = new InworldClient(config))
        using (var session = client.OpenSession())
        {
            WaitFor(() => session.IsReady, "the continued session is ready");
            var answer = Said(Reply(session, session.SendText("do you remember?")));
            Expect(answer.Contains("I remember. You said: " + said), "it remembers: " + answer);
        }
    }

    static T Throws<T>(Action action) where T : Exception
    {
        try
        {
            action();
        }
        catch (T e)
        {
            return e;
        }
        throw new Exception("expected " + typeof(T).Name);
    }
}

/// Prints every native struct's size and field offsets as the CLR lays them
/// out, and every constant's value; the Rust test compares them with the C
/// compiler's.
static class Layout
{
    public static int Print()
    {
        foreach (var type in typeof(Native).Assembly.GetTypes().Where(t => t.Namespace == "Inworld.Interop" && t.IsValueType && t.Name.StartsWith("iw_")).OrderBy(t => t.Name))
        {
            Console.WriteLine(type.Name + " " + Marshal.SizeOf(type));
            foreach (var field in type.GetFields(BindingFlags.Public | BindingFlags.Instance))
                Console.WriteLine(type.Name + "." + field.Name + " " + Marshal.OffsetOf(type, field.Name));
        }
        foreach (var constant in typeof(Native).GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral && f.Name.StartsWith("IW_")))
            Console.WriteLine(constant.Name + " " + Convert.ToInt64(constant.GetRawConstantValue()));
        return 0;
    }
}
