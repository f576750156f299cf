//! The asking end of receipt lookup (`/ipvm/lookup/0.1.0`), for the node's
//! client and the tab alike: the request-response configuration, one
//! peer's answer read under the protocol's caps, and the receipts an answer
//! names `too_large`, fetched by bitswap (each block checked against its
//! CID, the receipt bounded in depth before it is decoded). Whether a
//! receipt is then used is the core's decision (`ipvm_core::peer`); the
//! timers and the tasks are the caller's.

use std::future::Future;
use std::time::Duration;

use ipvm_core::address::{decode_dag_cbor, verify_block, MAX_DOCUMENT_DEPTH};
use ipvm_core::peer::messages::{
    Delivery, LookupAnswer, LookupEntry, LOOKUP_PROTOCOL, MAX_LOOKUP_ANSWER_BYTES,
    MAX_LOOKUP_REQUEST_BYTES,
};
use ipvm_core::peer::wire::{scan_within, WireError};
use ipvm_core::{Cid, Receipt};
use rust_ipfs::RequestResponseConfig;

/// How long an asker waits for a peer's lookup answer.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The most receipts named `too_large` in one lookup answer that an asker
/// fetches by bitswap; the others stay unused, said so.
pub const MAX_FETCHED_PER_ANSWER: usize = 16;

/// The protocol's request-response configuration, with its caps.
pub fn protocol() -> RequestResponseConfig {
    RequestResponseConfig {
        protocol: LOOKUP_PROTOCOL.into(),
        max_request_size: MAX_LOOKUP_REQUEST_BYTES,
        max_response_size: MAX_LOOKUP_ANSWER_BYTES,
        timeout: Some(LOOKUP_TIMEOUT),
        ..Default::default()
    }
}

/// One peer's answer to a lookup of `asked` instructions, or why it is not
/// one (`busy`, or refused with the wire's code and reason).
pub fn read_answer(bytes: &[u8], asked: usize) -> Result<LookupAnswer, String> {
    match LookupAnswer::decode(bytes, asked) {
        Ok(a) => Ok(a),
        Err(WireError::Busy) => Err("busy".into()),
        Err(e) => Err(format!("its answer is refused: {}: {e}", e.code())),
    }
}

/// `answer` with the receipts it names `too_large` fetched by `fetch` (the
/// first of each entry, at most [`MAX_FETCHED_PER_ANSWER`] in all: a peer
/// may name up to 4 for each of 256 instructions) and given as found, with
/// the envelopes the answer gave; one that cannot be fetched stays named
/// (the core then says it was not fetched).
pub async fn fetch_too_large<F, Fut>(mut answer: LookupAnswer, fetch: F) -> LookupAnswer
where
    F: Fn(Cid) -> Fut,
    Fut: Future<Output = Result<(Vec<u8>, Vec<u8>), String>>,
{
    let mut budget = MAX_FETCHED_PER_ANSWER;
    for entry in &mut answer.entries {
        let LookupEntry::TooLarge(named) = entry else {
            continue;
        };
        let mut found = Vec::new();
        for o in named.iter().take(1) {
            if budget == 0 {
                break;
            }
            budget -= 1;
            if let Ok((receipt, invocation)) = fetch(o.receipt).await {
                found.push(Delivery {
                    receipt,
                    invocation,
                    envelopes: o.envelopes.clone(),
                });
            }
        }
        if !found.is_empty() {
            *entry = LookupEntry::Found(found);
        }
    }
    answer
}

/// A receipt too large for an answer, and the invocation it names, by
/// `block` (a block from the peers, within the caller's deadline): each
/// checked against its CID, the receipt bounded in depth before it is
/// decoded (a peer chose its bytes; `accept` judges them whole later).
pub async fn fetch_receipt<B, Fut>(receipt: Cid, block: B) -> Result<(Vec<u8>, Vec<u8>), String>
where
    B: Fn(Cid) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, String>>,
{
    let checked = |cid: Cid, got: Result<Vec<u8>, String>| {
        let bytes = got.map_err(|e| format!("block {cid}: {e}"))?;
        verify_block(&cid, &bytes).map_err(|e| format!("block {cid}: {e}"))?;
        Ok::<_, String>(bytes)
    };
    let bytes = checked(receipt, block(receipt).await)?;
    scan_within(&bytes, MAX_DOCUMENT_DEPTH, usize::MAX)
        .map_err(|e| format!("receipt {receipt}: {}: {e}", e.code()))?;
    let ran = match decode_dag_cbor(&bytes) {
        Ok(v) => Receipt::from_ipld(&v)
            .map(|r| r.ran)
            .map_err(|e| format!("receipt {receipt}: {e}"))?,
        Err(e) => return Err(format!("receipt {receipt}: {e}")),
    };
    let invocation = checked(ran, block(ran).await)?;
    Ok((bytes, invocation))
}
