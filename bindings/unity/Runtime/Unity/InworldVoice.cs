using UnityEngine;

namespace Inworld.Unity
{
    /// Plays an InworldCharacter's speech through this GameObject's
    /// AudioSource: OnAudioFilterRead (the audio thread) pulls it from the
    /// library's playback stream, which never blocks nor allocates. The
    /// mouth shape for lip-sync is read on the main thread (CurrentViseme).
    [RequireComponent(typeof(AudioSource))]
    public class InworldVoice : MonoBehaviour
    {
        [Tooltip("Empty: the InworldCharacter on this GameObject")]
        [SerializeField] private InworldCharacter character;
        [Tooltip("Only this character's speech (display name or id); empty: everyone's")]
        [SerializeField] private string only = "";

        private InworldPlayback playback;
        private int channels;

        /// Native.IW_VISEME_* of what plays now (updated in Update).
        public uint CurrentViseme { get; private set; }
        public bool IsSpeaking { get; private set; }
        /// The stream it plays (null until the character is ready): for
        /// InworldFace and anything else that follows what is heard.
        public InworldPlayback Playback { get { return playback; } }

        protected virtual void Update()
        {
            if (character == null) character = GetComponent<InworldCharacter>();
            if (playback == null && character != null && character.IsReady)
            {
                channels = AudioSettings.speakerMode == AudioSpeakerMode.Mono ? 1 : 2;
                playback = character.Session.OpenPlayback(AudioSettings.outputSampleRate, channels, string.IsNullOrEmpty(only) ? null : only);
                var source = GetComponent<AudioSource>();
                if (!source.isPlaying) source.Play();
            }
            if (playback != null)
            {
                var now = playback.NowPlaying;
                IsSpeaking = now.Playing;
                CurrentViseme = now.Viseme;
            }
        }

        // The audio thread. The stream gives silence when nothing is queued.
        protected virtual void OnAudioFilterRead(float[] data, int dataChannels)
        {
            var stream = playback;
            if (stream == null || dataChannels != channels) return;
            stream.Read(data, 0, data.Length / dataChannels);
        }

        protected virtual void OnDisable()
        {
            var stream = playback;
            playback = null;
            if (stream != null) stream.Dispose();
        }
    }
}
