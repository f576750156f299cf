//! Guest functions: the Wasm module that the tests and the playground run.
//! Built from this source to wasm32 by `scripts/build-guests.sh`, with
//! wit-bindgen, so its exports follow the WIT world in `wit/guests.wit`.

wit_bindgen::generate!({ world: "guests", path: "wit" });

struct Guests;

impl Guest for Guests {
    fn add_one(a: i32) -> i32 {
        a.wrapping_add(1)
    }
}

export!(Guests);
