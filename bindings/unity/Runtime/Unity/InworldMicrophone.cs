using UnityEngine;

namespace Inworld.Unity
{
    /// Feeds the default microphone into an InworldCharacter's session: with
    /// hands-free on, the library finds the player's turns itself (voice
    /// detection, echo cancellation); otherwise call StartTalking/StopTalking
    /// (push-to-talk). Unity's Microphone is read in Update on the main thread.
    public class InworldMicrophone : MonoBehaviour
    {
        [SerializeField] private InworldCharacter character;
        [SerializeField] private bool handsFree = true;
        [SerializeField] private int sampleRate = 16000;

        private AudioClip clip;
        private InworldAudioInput input;
        private int readPosition;
        private float[] buffer = new float[0];

        protected virtual void Update()
        {
            if (input == null && character != null && character.IsReady)
            {
                clip = Microphone.Start(null, true, 1, sampleRate);
                input = character.Session.OpenAudioInput(sampleRate, 1);
                if (handsFree) character.Session.SetVoiceDetection(true);
            }
            if (input == null || clip == null) return;
            int position = Microphone.GetPosition(null);
            int available = (position - readPosition + clip.samples) % clip.samples;
            if (available == 0) return;
            if (buffer.Length < available) buffer = new float[clip.samples];
            clip.GetData(buffer, readPosition);
            int first = Mathf.Min(available, clip.samples - readPosition);
            try
            {
                input.Push(buffer, 0, first);
                if (available > first)
                {
                    clip.GetData(buffer, 0);
                    input.Push(buffer, 0, available - first);
                }
            }
            catch (InworldException)
            {
                // No audio session open (push-to-talk, not talking): drop.
            }
            readPosition = position;
        }

        /// Push-to-talk: the player starts speaking.
        public void StartTalking() { if (character != null && character.Session != null) character.Session.StartAudioSession(); }

        /// Push-to-talk: the player stopped; the character answers.
        public void StopTalking() { if (character != null && character.Session != null) character.Session.EndAudioSession(); }

        protected virtual void OnDisable()
        {
            Microphone.End(null);
            if (input != null) input.Dispose();
            input = null;
            clip = null;
        }
    }
}
