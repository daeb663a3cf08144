using System;
using System.Collections.Generic;
using UnityEngine;

namespace Inworld.Unity
{
    /// Puts the speaking character's face on a SkinnedMeshRenderer: each
    /// frame, the 52 ARKit blendshape weights of what the InworldVoice's
    /// stream plays now (in step with the audio heard, smooth at any frame
    /// rate), with the character's emotions and optional blinks. Blendshapes
    /// are found by ARKit name ("jawOpen"), whatever their case and common
    /// prefixes ("blendShape1.jawOpen", "ARKit_JawOpen", "jaw_open"); others
    /// are named in `renames` ("jawOpen=Mouth_Open"). Without a renderer,
    /// Weights and FaceUpdated drive whatever the game animates.
    public class InworldFace : MonoBehaviour
    {
        [Tooltip("Empty: the InworldVoice on this GameObject")]
        [SerializeField] private InworldVoice voice;
        [Tooltip("The face mesh; empty: only Weights and FaceUpdated")]
        [SerializeField] private SkinnedMeshRenderer face;
        [Tooltip("arkitName=meshName, for blendshapes named otherwise")]
        [SerializeField] private string[] renames = new string[0];
        [Tooltip("Show the character's emotions (brows, eyes, cheeks, mouth corners)")]
        [SerializeField] private bool emotions = true;
        [SerializeField] private bool blinks = false;
        [SerializeField] private int blinkSeed = 1;

        private readonly float[] weights = new float[Interop.Native.IW_BLENDSHAPE_COUNT];
        /// Mesh blendshape index of each ARKit index (-1: the mesh lacks it).
        private int[] meshIndex;
        private InworldPlayback playback;
        private InworldCharacter character;

        /// The weights shown this frame (0..1, ARKit's order; do not keep a reference).
        public float[] Weights { get { return weights; } }
        /// After each frame's weights are read (before they are put on the mesh).
        public event Action<float[]> FaceUpdated;

        protected virtual void Update()
        {
            if (voice == null) voice = GetComponent<InworldVoice>();
            if (voice == null) return;
            if (playback != voice.Playback)
            {
                playback = voice.Playback;
                if (playback != null) playback.SetBlinks(blinks, (ulong)blinkSeed);
                Follow(emotions ? GetComponent<InworldCharacter>() : null);
            }
            if (playback == null) return;
            playback.ReadFace(weights);
            if (FaceUpdated != null) FaceUpdated(weights);
            if (face == null || face.sharedMesh == null) return;
            if (meshIndex == null) meshIndex = MapBlendshapes(face.sharedMesh, renames);
            for (int i = 0; i < meshIndex.Length; i++)
                if (meshIndex[i] >= 0) face.SetBlendShapeWeight(meshIndex[i], weights[i] * 100f);
        }

        private void Follow(InworldCharacter next)
        {
            if (character != null) character.PacketReceived -= OnPacket;
            character = next;
            if (character != null) character.PacketReceived += OnPacket;
        }

        private void OnPacket(InworldPacket packet)
        {
            var emotion = packet as EmotionPacket;
            var stream = playback;
            if (emotion != null && stream != null) stream.ShowEmotion(emotion.Behavior, emotion.Strength);
        }

        protected virtual void OnDisable()
        {
            Follow(null);
            playback = null;
        }

        /// For each ARKit blendshape, its index in `mesh` (-1 if none).
        public static int[] MapBlendshapes(Mesh mesh, string[] renames)
        {
            var byKey = new Dictionary<string, int>();
            for (int j = 0; j < mesh.blendShapeCount; j++)
            {
                var key = Key(mesh.GetBlendShapeName(j));
                if (!byKey.ContainsKey(key)) byKey[key] = j;
            }
            var renamed = new Dictionary<string, string>();
            foreach (var pair in renames ?? new string[0])
            {
                int eq = pair.IndexOf('=');
                if (eq > 0) renamed[Key(pair.Substring(0, eq))] = Key(pair.Substring(eq + 1));
            }
            var map = new int[Interop.Native.IW_BLENDSHAPE_COUNT];
            for (int i = 0; i < map.Length; i++)
            {
                var key = Key(InworldPlayback.BlendshapeName(i));
                string other;
                if (renamed.TryGetValue(key, out other)) key = other;
                int j;
                map[i] = byKey.TryGetValue(key, out j) ? j : -1;
            }
            return map;
        }

        /// A name as compared: after the last '.', without the usual
        /// prefixes, separators and case.
        public static string Key(string name)
        {
            var s = name.Substring(name.LastIndexOf('.') + 1).ToLowerInvariant();
            foreach (var prefix in new[] { "arkit", "blendshape", "bs" })
                if (s.StartsWith(prefix) && s.Length > prefix.Length + 3) { s = s.Substring(prefix.Length); break; }
            return s.Replace("_", "").Replace("-", "").Replace(" ", "");
        }
    }
}
