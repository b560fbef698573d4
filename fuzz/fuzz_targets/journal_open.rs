//! `validate`, `ReadOnlyJournal` and `Journal::open` on a simulated journal directory whose one or
//! two segment files come from the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| replaylog_fuzz::journal_open(data));
