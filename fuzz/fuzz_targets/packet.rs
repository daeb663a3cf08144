//! Packet conversion: any bytes that decode as an InworldPacket convert to
//! the game's packet model without panicking.
#![no_main]

use inworld::protocol::ai::inworld::packets::InworldPacket;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = InworldPacket::decode(data) else {
        return;
    };
    let _ = inworld::packet::convert::scene_status_of(&packet);
    let _ = inworld::packet::convert::from_wire(packet);
});
