#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ipvm_fuzz::module_classifier(data));
