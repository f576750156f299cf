//! Guest functions: the Wasm module that the tests, the benchmarks and the
//! playground run. Built from this source to wasm32 by
//! `scripts/build-guests.sh`, with wit-bindgen, so its exports, imports and
//! embedded WIT world follow `wit/guests.wit`.

wit_bindgen::generate!({ world: "guests", path: "wit", generate_all });

use std::io::Cursor;

use homestar::host::helpers;
use image::{DynamicImage, ImageFormat, RgbaImage};
use sha2::{Digest, Sha256};
use wasi::logging::logging::{log, Level};

struct Guests;

fn decode(png: &[u8]) -> DynamicImage {
    image::load_from_memory_with_format(png, ImageFormat::Png).expect("input is not a PNG")
}

fn encode(img: &DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("PNG encoding failed");
    out.into_inner()
}

impl Guest for Guests {
    fn add_one(a: i32) -> i32 {
        a.wrapping_add(1)
    }
    fn append_string(a: String) -> String {
        a + "\nworld"
    }
    fn join_strings(a: String, b: String) -> String {
        a + &b
    }
    fn transpose(m: Vec<Vec<u16>>) -> Vec<Vec<u16>> {
        let cols = m.first().map_or(0, Vec::len);
        (0..cols).map(|c| m.iter().map(|row| row[c]).collect()).collect()
    }
    fn crop(png: Vec<u8>, x: u32, y: u32, w: u32, h: u32) -> Vec<u8> {
        encode(&decode(&png).crop_imm(x, y, w, h))
    }
    fn rotate90(png: Vec<u8>) -> Vec<u8> {
        encode(&decode(&png).rotate90())
    }
    fn grayscale(png: Vec<u8>) -> Vec<u8> {
        encode(&decode(&png).grayscale())
    }
    fn blur(png: Vec<u8>, sigma: f32) -> Vec<u8> {
        encode(&decode(&png).blur(sigma))
    }
    fn hash(s: String) -> Vec<u8> {
        Sha256::digest(s.as_bytes()).to_vec()
    }
    fn pop(mut a: Vec<i32>) -> Option<i32> {
        a.pop()
    }
    fn binary_search(xs: Vec<i32>, x: i32) -> Result<i32, ()> {
        xs.binary_search(&x).map(|i| i as i32).map_err(|_| ())
    }
    fn num_to_kv(n: Result<u32, String>) -> NumKeys {
        match n {
            Ok(v) => NumKeys { name: "number".into(), val: Some(v) },
            Err(e) => NumKeys { name: e, val: None },
        }
    }

    fn log_and_double(a: i32) -> i32 {
        log(Level::Info, "log-and-double", &format!("doubling {a}"));
        a.wrapping_mul(2)
    }
    fn now_seconds() -> u64 {
        helpers::get_current_time().seconds
    }

    fn xorshift(n: u32) -> u32 {
        let mut x: u32 = 1;
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
        }
        x
    }
    fn fib(n: u32) -> u64 {
        fn f(n: u32) -> u64 {
            if n < 2 { n as u64 } else { f(n - 1) + f(n - 2) }
        }
        f(n)
    }
    fn sha256_rounds(n: u32) -> Vec<u8> {
        let mut digest = [0u8; 32];
        for _ in 0..n {
            digest = Sha256::digest(digest).into();
        }
        digest.to_vec()
    }
    fn make_png(w: u32, h: u32) -> Vec<u8> {
        let img = RgbaImage::from_fn(w, h, |x, y| {
            let v = x.wrapping_mul(7) ^ y.wrapping_mul(13) ^ (x * y);
            image::Rgba([(v & 0xff) as u8, (x & 0xff) as u8, (y & 0xff) as u8, 255])
        });
        encode(&DynamicImage::ImageRgba8(img))
    }

    fn echo_bool(v: bool) -> bool { v }
    fn echo_s8(v: i8) -> i8 { v }
    fn echo_u8(v: u8) -> u8 { v }
    fn echo_s16(v: i16) -> i16 { v }
    fn echo_u16(v: u16) -> u16 { v }
    fn echo_u32(v: u32) -> u32 { v }
    fn echo_s64(v: i64) -> i64 { v }
    fn echo_u64(v: u64) -> u64 { v }
    fn echo_f32(v: f32) -> f32 { v }
    fn echo_f64(v: f64) -> f64 { v }
    fn echo_char(v: char) -> char { v }
    fn echo_string(v: String) -> String { v }
    fn echo_bytes(v: Vec<u8>) -> Vec<u8> { v }
    fn echo_list(v: Vec<i32>) -> Vec<i32> { v }
    fn echo_tuple(v: (String, u32)) -> (String, u32) { v }
    fn echo_record(v: Point) -> Point { v }

    fn catch_with(failure: Failure, how: String, value: String) -> Handle {
        match how.as_str() {
            "ok" => Handle::Ok(value.parse().expect("`ok` takes an integer")),
            "rewire" => Handle::Rewire(value),
            "msg" => Handle::Msg(format!("{value} ({})", failure.error.message)),
            "spin" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            _ => panic!("the handler was told to fail: {how}"),
        }
    }
    fn echo_enum(v: Color) -> Color { v }
    fn echo_flags(v: Permissions) -> Permissions { v }
    fn echo_variant(v: Shape) -> Shape { v }
    fn echo_option(v: Option<String>) -> Option<String> { v }
    fn echo_result(v: Result<String, u32>) -> Result<String, u32> { v }
    fn echo_map(v: Vec<(String, u32)>) -> Vec<(String, u32)> { v }
    #[allow(clippy::too_many_arguments)]
    fn sum_many(a: u32, b: u64, c: f32, d: f64, e: u32, f: u64, g: f32, h: f64,
                i: u32, j: u64, k: f32, l: f64, m: u32, n: u64, o: f32, p: f64, q: u32) -> f64 {
        [a as f64, b as f64, c as f64, d, e as f64, f as f64, g as f64, h,
         i as f64, j as f64, k as f64, l, m as f64, n as f64, o as f64, p, q as f64].iter().sum()
    }
}

export!(Guests);
