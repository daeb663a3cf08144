using System;
using Inworld.Interop;

namespace Inworld
{
    /// A call the library refused: its code (Native.IW_E_*) and message.
    public class InworldException : Exception
    {
        public int Code { get; private set; }

        /// The code's name ("IW_E_NOT_FOUND").
        public string CodeName { get { return Utf8.Decode(Native.iw_result_name(Code)); } }

        public InworldException(int code, string message) : base(message)
        {
            Code = code;
        }

        /// Throws for a failed result, with the calling thread's last error message.
        internal static void Check(int result)
        {
            if (result != Native.IW_OK) throw FromLastError(result);
        }

        internal static InworldException FromLastError(int result)
        {
            var buffer = new byte[1024];
            UIntPtr len;
            string message = Native.iw_last_error(buffer, (UIntPtr)buffer.Length, out len) == Native.IW_OK
                ? Utf8.Decode(buffer, len)
                : string.Empty;
            string name = Utf8.Decode(Native.iw_result_name(result));
            return new InworldException(result, string.IsNullOrEmpty(message) ? name : name + ": " + message);
        }
    }
}
