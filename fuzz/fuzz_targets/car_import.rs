#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvm_fuzz::car_import(data));
