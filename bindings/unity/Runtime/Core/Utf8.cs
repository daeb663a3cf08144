using System;
using System.Runtime.InteropServices;
using System.Text;
using Inworld.Interop;

namespace Inworld
{
    /// UTF-8 both ways, explicitly: the C API speaks UTF-8 only, whatever the
    /// platform's ANSI code page is.
    internal static class Utf8
    {
        /// A NUL-terminated UTF-8 copy (null stays null: the C API's NULL).
        public static byte[] Encode(string text)
        {
            if (text == null) return null;
            var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
            Encoding.UTF8.GetBytes(text, 0, text.Length, bytes, 0);
            return bytes;
        }

        /// A NUL-terminated string the library owns or lends ("" for NULL).
        public static unsafe string Decode(IntPtr ptr)
        {
            if (ptr == IntPtr.Zero) return string.Empty;
            var p = (byte*)ptr;
            int len = 0;
            while (p[len] != 0) len++;
            return Encoding.UTF8.GetString(p, len);
        }

        public static unsafe string Decode(iw_str s)
        {
            if (s.ptr == IntPtr.Zero) return string.Empty;
            return Encoding.UTF8.GetString((byte*)s.ptr, checked((int)s.len.ToUInt64()));
        }

        /// A NUL-terminated string in a fixed-size buffer.
        public static unsafe string Decode(byte* buffer, int capacity)
        {
            int len = 0;
            while (len < capacity && buffer[len] != 0) len++;
            return Encoding.UTF8.GetString(buffer, len);
        }

        public static string Decode(byte[] buffer, UIntPtr len)
        {
            return Encoding.UTF8.GetString(buffer, 0, (int)len.ToUInt64());
        }
    }

    /// Native copies of strings and arrays for one call; the C API copies its
    /// inputs before returning, so they are freed right after.
    internal sealed class NativeStrings : IDisposable
    {
        private readonly System.Collections.Generic.List<IntPtr> allocations = new System.Collections.Generic.List<IntPtr>();

        /// A NUL-terminated UTF-8 copy in native memory (IntPtr.Zero for null).
        public IntPtr Add(string text)
        {
            if (text == null) return IntPtr.Zero;
            var bytes = Utf8.Encode(text);
            var ptr = Marshal.AllocHGlobal(bytes.Length);
            Marshal.Copy(bytes, 0, ptr, bytes.Length);
            allocations.Add(ptr);
            return ptr;
        }

        public IntPtr[] AddAll(System.Collections.Generic.IList<string> texts)
        {
            if (texts == null || texts.Count == 0) return null;
            var ptrs = new IntPtr[texts.Count];
            for (int i = 0; i < texts.Count; i++) ptrs[i] = Add(texts[i] ?? string.Empty);
            return ptrs;
        }

        public iw_key_value[] AddPairs(System.Collections.Generic.ICollection<System.Collections.Generic.KeyValuePair<string, string>> pairs)
        {
            if (pairs == null || pairs.Count == 0) return null;
            var items = new iw_key_value[pairs.Count];
            int i = 0;
            foreach (var kv in pairs) items[i++] = new iw_key_value { key = Add(kv.Key ?? string.Empty), value = Add(kv.Value ?? string.Empty) };
            return items;
        }

        public IntPtr AddBytes(byte[] bytes)
        {
            if (bytes == null || bytes.Length == 0) return IntPtr.Zero;
            var ptr = Marshal.AllocHGlobal(bytes.Length);
            Marshal.Copy(bytes, 0, ptr, bytes.Length);
            allocations.Add(ptr);
            return ptr;
        }

        /// Dialog lines (talker Native.IW_TALKER_*, text), as InworldSession.Dialog gives them.
        public iw_dialog_line[] AddDialog(System.Collections.Generic.IList<System.Collections.Generic.KeyValuePair<uint, string>> lines)
        {
            if (lines == null || lines.Count == 0) return null;
            var items = new iw_dialog_line[lines.Count];
            for (int i = 0; i < lines.Count; i++) items[i] = new iw_dialog_line { talker = lines[i].Key, text = Add(lines[i].Value ?? string.Empty) };
            return items;
        }

        /// A native array of structs (freed with the rest).
        public IntPtr AddStructs<T>(T[] items) where T : struct
        {
            if (items == null || items.Length == 0) return IntPtr.Zero;
            int size = Marshal.SizeOf(typeof(T));
            var ptr = Marshal.AllocHGlobal(size * items.Length);
            for (int i = 0; i < items.Length; i++) Marshal.StructureToPtr(items[i], IntPtr.Add(ptr, i * size), false);
            allocations.Add(ptr);
            return ptr;
        }

        public void Dispose()
        {
            foreach (var p in allocations) Marshal.FreeHGlobal(p);
            allocations.Clear();
        }
    }
}
