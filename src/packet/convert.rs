//! Wire → model: turns a server `InworldPacket` into a [`super::Packet`]
//! (classification as the SDK does it, PROTOCOL.md 4.8).
