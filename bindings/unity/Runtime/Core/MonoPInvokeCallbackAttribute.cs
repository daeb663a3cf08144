using System;

namespace AOT
{
    /// Marks a static method the native library calls back, so that IL2CPP
    /// (iOS, consoles) generates a native entry point for it. Unity's own
    /// attribute has this name and namespace; IL2CPP goes by the name, so this
    /// internal one serves inside Unity and stands in outside it.
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type delegateType)
        {
            DelegateType = delegateType;
        }

        public Type DelegateType { get; private set; }
    }
}
