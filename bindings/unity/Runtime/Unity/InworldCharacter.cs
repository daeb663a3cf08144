using System;
using System.Collections.Generic;
using UnityEngine;
using UnityEngine.Events;

namespace Inworld.Unity
{
    [Serializable] public class TextEvent : UnityEvent<string, string, bool> { }
    [Serializable] public class EmotionEvent : UnityEvent<string, string> { }
    [Serializable] public class TriggerEvent : UnityEvent<string> { }
    [Serializable] public class NarratedActionEvent : UnityEvent<string> { }
    [Serializable] public class InteractionEndEvent : UnityEvent<string> { }
    [Serializable] public class ErrorEvent : UnityEvent<string> { }

    /// A character of an Inworld scene in a Unity scene. It opens a session
    /// (on the embedded local engine by default), polls it in Update on the
    /// main thread, and raises C# events and UnityEvents there: never from a
    /// library thread.
    public class InworldCharacter : MonoBehaviour
    {
        [Header("Connection")]
        [Tooltip("Run the local engine in the game (offline, the demo tavern)")]
        [SerializeField] private bool useLocalEngine = true;
        [SerializeField] private string host = "";
        [SerializeField] private string apiKey = "";
        [SerializeField] private string apiSecret = "";
        [Tooltip("workspaces/<ws>/scenes/<id>; empty with the local engine: its demo scene")]
        [SerializeField] private string scene = "";
        [SerializeField] private string playerName = "Player";

        [Header("Character")]
        [Tooltip("Display name, agent id or resource name; empty: the scene's first")]
        [SerializeField] private string character = "";

        [Header("Events (main thread)")]
        public TextEvent onText = new TextEvent();
        public EmotionEvent onEmotion = new EmotionEvent();
        public TriggerEvent onTrigger = new TriggerEvent();
        public NarratedActionEvent onNarratedAction = new NarratedActionEvent();
        public InteractionEndEvent onInteractionEnd = new InteractionEndEvent();
        public ErrorEvent onError = new ErrorEvent();

        /// (speaker agent id, text, final).
        public event Action<string, string, bool> TextReceived;
        /// (behavior, strength), e.g. ("JOY", "STRONG").
        public event Action<string, string> EmotionChanged;
        public event Action<TriggerPacket> TriggerReceived;
        /// What the character does ("slides a mug across the bar").
        public event Action<string> NarratedAction;
        public event Action<string> InteractionEnded;
        public event Action<ErrorPacket> ErrorReceived;
        /// Something sent did not go out (its ids are the packet's); onError
        /// gets its message too.
        public event Action<SendFailedPacket> SendFailed;
        /// Every packet, for what the events above do not cover.
        public event Action<InworldPacket> PacketReceived;

        private static InworldEngine sharedEngine;
        private InworldClient client;
        private readonly List<InworldPacket> packets = new List<InworldPacket>(64);
        private bool characterSet;

        public InworldSession Session { get; private set; }
        public bool IsReady { get { return Session != null && Session.IsReady; } }

        protected virtual void OnEnable()
        {
            try
            {
                var config = new InworldClientConfig { UserName = playerName, Scene = scene, Host = host, ApiKey = apiKey, ApiSecret = apiSecret };
                if (useLocalEngine)
                {
                    if (sharedEngine == null) sharedEngine = InworldEngine.Start();
                    config.Host = sharedEngine.Address;
                    if (string.IsNullOrEmpty(config.Scene)) config.Scene = sharedEngine.SceneName(0);
                    config.ApiKey = "test-api-key";
                    config.ApiSecret = "test-api-secret";
                    config.Tls = Interop.Native.IW_TLS_OFF;
                }
                config.Capabilities = Interop.Native.IW_CAP_DEFAULT | Interop.Native.IW_CAP_EMOTIONS | Interop.Native.IW_CAP_PHONEMES
                    | Interop.Native.IW_CAP_NARRATED_ACTIONS;
                client = new InworldClient(config);
                Session = client.OpenSession();
                characterSet = string.IsNullOrEmpty(character);
            }
            catch (InworldException e)
            {
                Debug.LogError("Inworld: " + e.Message);
                onError.Invoke(e.Message);
            }
        }

        protected virtual void OnDisable()
        {
            if (Session != null) Session.Dispose();
            if (client != null) client.Dispose();
            Session = null;
            client = null;
        }

        /// Says something to the character. False (with an error event) when
        /// it could not be sent.
        public bool Say(string text) { return Send(() => Session.SendText(text)); }

        public bool Trigger(string name, Dictionary<string, string> parameters = null)
        {
            return Send(() => Session.SendTrigger(name, parameters));
        }

        public bool Narrate(string action) { return Send(() => Session.SendNarratedAction(action)); }

        private bool Send(Func<SentIds> send)
        {
            if (Session == null) return false;
            try
            {
                send();
                return true;
            }
            catch (InworldException e)
            {
                Debug.LogWarning("Inworld: " + e.Message);
                onError.Invoke(e.Message);
                return false;
            }
        }

        protected virtual void Update()
        {
            if (Session == null) return;
            packets.Clear();
            try
            {
                if (!characterSet && Session.IsReady)
                {
                    Session.SetCharacter(character);
                    characterSet = true;
                }
                Session.Poll(packets, 64);
            }
            catch (InworldException e)
            {
                Debug.LogError("Inworld: " + e.Message);
                onError.Invoke(e.Message);
                return;
            }
            foreach (var packet in packets) Raise(packet);
        }

        private void Raise(InworldPacket packet)
        {
            if (PacketReceived != null) PacketReceived(packet);
            var text = packet as TextPacket;
            if (text != null && packet.Source.IsCharacter)
            {
                if (TextReceived != null) TextReceived(packet.Source.Name, text.Text, text.IsFinal);
                onText.Invoke(packet.Source.Name, text.Text, text.IsFinal);
            }
            var emotion = packet as EmotionPacket;
            if (emotion != null)
            {
                if (EmotionChanged != null) EmotionChanged(emotion.BehaviorName, emotion.StrengthName);
                onEmotion.Invoke(emotion.BehaviorName, emotion.StrengthName);
            }
            var trigger = packet as TriggerPacket;
            if (trigger != null && packet.Source.IsCharacter)
            {
                if (TriggerReceived != null) TriggerReceived(trigger);
                onTrigger.Invoke(trigger.Name);
            }
            var action = packet as NarratedActionPacket;
            if (action != null && packet.Source.IsCharacter)
            {
                if (NarratedAction != null) NarratedAction(action.Content);
                onNarratedAction.Invoke(action.Content);
            }
            var control = packet as ControlPacket;
            if (control != null && control.IsInteractionEnd)
            {
                if (InteractionEnded != null) InteractionEnded(packet.InteractionId);
                onInteractionEnd.Invoke(packet.InteractionId);
            }
            var error = packet as ErrorPacket;
            if (error != null)
            {
                if (ErrorReceived != null) ErrorReceived(error);
                onError.Invoke(error.Message);
            }
            // Nothing is lost silently: what did not go out, and what the
            // queue dropped because nobody polled, are said.
            var failed = packet as SendFailedPacket;
            if (failed != null)
            {
                if (SendFailed != null) SendFailed(failed);
                onError.Invoke("not sent (interaction " + packet.InteractionId + "): " + failed.Message);
            }
            var overflow = packet as OverflowPacket;
            if (overflow != null) Debug.LogWarning("Inworld: " + overflow.Dropped + " packets dropped (poll every frame)");
        }

        /// Nothing of the library may call managed code across a domain
        /// reload (entering play mode, recompiling) or after quitting.
        [RuntimeInitializeOnLoadMethod]
        private static void HookLifetime()
        {
            Application.quitting += InworldLibrary.Goodbye;
#if UNITY_EDITOR
            UnityEditor.AssemblyReloadEvents.beforeAssemblyReload += InworldLibrary.Goodbye;
#endif
        }
    }
}
