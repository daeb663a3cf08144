// The few UnityEngine types the package's Unity layer and sample use, with
// Unity's signatures and no behaviour (but a Mesh's blend shape names, for
// InworldFace's tests): enough for mcs to compile them outside Unity. Not
// shipped (folders ending in ~ are not imported by Unity).
using System;

namespace UnityEngine
{
    public class Object { }
    public class Component : Object
    {
        public GameObject gameObject { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }
    public class Behaviour : Component { public bool enabled { get; set; } }
    public class MonoBehaviour : Behaviour { }
    public sealed class GameObject : Object
    {
        public T AddComponent<T>() where T : Component { return null; }
        public void SetActive(bool value) { }
    }
    public sealed class AudioSource : Behaviour
    {
        public bool isPlaying { get { return false; } }
        public void Play() { }
    }
    public sealed class Mesh : Object
    {
        /// Not Unity's: the names a test gives the stub's blend shapes.
        public string[] blendShapeNames = new string[0];
        public int blendShapeCount { get { return blendShapeNames.Length; } }
        public string GetBlendShapeName(int index) { return blendShapeNames[index]; }
    }
    public sealed class SkinnedMeshRenderer : Component
    {
        public Mesh sharedMesh { get { return null; } }
        public void SetBlendShapeWeight(int index, float value) { }
    }
    public enum AudioSpeakerMode { Mono = 1, Stereo = 2 }
    public sealed class AudioSettings
    {
        public static int outputSampleRate { get { return 48000; } }
        public static AudioSpeakerMode speakerMode { get { return AudioSpeakerMode.Stereo; } }
    }
    public sealed class AudioClip : Object
    {
        public int samples { get { return 0; } }
        public bool GetData(float[] data, int offsetSamples) { return true; }
    }
    public sealed class Microphone
    {
        public static AudioClip Start(string deviceName, bool loop, int lengthSec, int frequency) { return null; }
        public static int GetPosition(string deviceName) { return 0; }
        public static void End(string deviceName) { }
    }
    public struct Mathf { public static int Min(int a, int b) { return a < b ? a : b; } }
    public static class Debug
    {
        public static void Log(object message) { }
        public static void LogWarning(object message) { }
        public static void LogError(object message) { }
    }
    public static class Application { public static event Action quitting; internal static void Quit() { if (quitting != null) quitting(); } }
    public static class GUILayout
    {
        public static void Label(string text) { }
        public static string TextField(string text) { return text; }
        public static bool Button(string text) { return false; }
    }
    [AttributeUsage(AttributeTargets.Field)] public sealed class SerializeField : Attribute { }
    [AttributeUsage(AttributeTargets.Field)] public sealed class HeaderAttribute : Attribute { public HeaderAttribute(string header) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string tooltip) { } }
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)] public sealed class RequireComponent : Attribute { public RequireComponent(Type type) { } }
    [AttributeUsage(AttributeTargets.Method)] public sealed class RuntimeInitializeOnLoadMethodAttribute : Attribute { }
}

namespace UnityEngine.Events
{
    public class UnityEvent<T0> { public void AddListener(Action<T0> call) { } public void Invoke(T0 a) { } }
    public class UnityEvent<T0, T1> { public void AddListener(Action<T0, T1> call) { } public void Invoke(T0 a, T1 b) { } }
    public class UnityEvent<T0, T1, T2> { public void AddListener(Action<T0, T1, T2> call) { } public void Invoke(T0 a, T1 b, T2 c) { } }
}
