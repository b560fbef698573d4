//! `check_frame` (with an arbitrary expected LSN) and every other pure decoder on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| replaylog_fuzz::frame_decoder(data));
