//! `check_slot` on arbitrary slot bytes under a small geometry taken from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| replaylog_fuzz::slot_decoder(data));
