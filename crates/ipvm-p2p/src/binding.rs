//! The binding exchange ([`BINDING_PROTOCOL`], request-response) over
//! rust-ipfs, both ends: [`present`] sends this side's binding to a peer
//! and reads the DID the peer's answer binds it to; [`serve`] answers
//! every binding a peer sends. What is accepted is the core's
//! ([`answer_binding`], [`read_answer`]): each binding is checked against
//! the peer id the connection was authenticated as, so a binding replayed
//! by another peer, forged, or expired binds nothing.
//!
//! Requests are answered one at a time, in the order they came: a peer
//! that floods the protocol delays its own answers, and each request is at
//! most [`MAX_BINDING_BYTES`] (rust-ipfs refuses a larger one unread).

use std::future::Future;
use std::time::Duration;

use futures::StreamExt as _;
use ipvm_core::peer_binding::{answer_binding, read_answer, BindingAnswer};
use ipvm_core::peer_binding::{BINDING_PROTOCOL, MAX_BINDING_BYTES};
use ipvm_core::{Did, PeerBinding};
use libp2p::PeerId;
use rust_ipfs::{Ipfs, RequestResponseConfig};

use crate::P2pError;

/// How long an exchange may take before it is given up.
pub const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// The protocol's request-response configuration: both messages capped at
/// [`MAX_BINDING_BYTES`], [`EXCHANGE_TIMEOUT`].
pub fn protocol() -> RequestResponseConfig {
    RequestResponseConfig {
        protocol: BINDING_PROTOCOL.into(),
        max_request_size: MAX_BINDING_BYTES,
        max_response_size: MAX_BINDING_BYTES,
        timeout: Some(EXCHANGE_TIMEOUT),
        ..Default::default()
    }
}

/// Sends `own` (this side's binding, for its own peer id) to `peer`, and
/// reads the answer at time `now`: the DID `peer` speaks for, or why not (a
/// refusal of `own`, an answer that does not bind `peer`, no answer).
pub async fn present(
    ipfs: &Ipfs,
    peer: PeerId,
    own: &PeerBinding,
    now: impl Fn() -> u64,
) -> Result<Did, P2pError> {
    let request = own
        .to_dag_cbor()
        .map_err(|e| P2pError::Own(e.to_string()))?;
    let answer = ipfs
        .send_request(peer, (BINDING_PROTOCOL, request))
        .await
        .map_err(|e| P2pError::Exchange {
            peer: peer.to_string(),
            reason: format!("{e:#}"),
        })?;
    Ok(read_answer(&answer, &peer.to_string(), now())?)
}

/// Answers every binding request until the host stops. `own()` gives this
/// side's current binding (signed anew or kept; an error is answered as a
/// refusal), `now()` the time in seconds since the epoch, and `bound` hears
/// each sender's outcome: the DID it speaks for, or why not.
pub async fn serve<Own, Fut>(
    ipfs: Ipfs,
    own: Own,
    now: impl Fn() -> u64,
    mut bound: impl FnMut(PeerId, Result<Did, P2pError>),
) -> Result<(), P2pError>
where
    Own: Fn() -> Fut,
    Fut: Future<Output = Result<PeerBinding, String>>,
{
    let mut requests = ipfs
        .requests_subscribe(BINDING_PROTOCOL)
        .await
        .map_err(|e| P2pError::Exchange {
            peer: "any peer".into(),
            reason: format!("cannot serve {BINDING_PROTOCOL}: {e:#}"),
        })?;
    while let Some((peer, id, bytes)) = requests.next().await {
        let (outcome, answer) = match own().await {
            Ok(own) => {
                let (checked, answer) = answer_binding(&bytes, &peer.to_string(), now(), own);
                (checked.map_err(P2pError::from), answer)
            }
            Err(e) => (
                Err(P2pError::Own(e.clone())),
                BindingAnswer::Refused(format!("this peer cannot sign its binding: {e}")),
            ),
        };
        // The outcome first: by the time the sender reads the answer, it is
        // known here.
        bound(peer, outcome);
        match answer.to_dag_cbor() {
            // The sender may have gone: nothing to tell it.
            Ok(bytes) => {
                let _ = ipfs
                    .send_response(peer, id, (BINDING_PROTOCOL, bytes))
                    .await;
            }
            Err(e) => bound(peer, Err(P2pError::Own(e.to_string()))),
        }
    }
    Ok(())
}
