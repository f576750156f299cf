//! Who a peer is, and where a tab may dial it.
//!
//! A native node's libp2p key is its Ed25519 DID key (`ipvm node`), so its
//! peer id names its DID, and Noise proves the key on every connection: the
//! DID of such a peer needs no further word from it. A peer whose libp2p
//! key is not its DID's (a tab: its WebCrypto key cannot sign Noise's
//! handshake) has no DID here until it shows a signed binding
//! (`ipvm_core::PeerBinding`).

use ipvm_core::Did;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

use crate::TabNetError;

/// The DID whose key is `peer`'s own (an Ed25519 peer id), if it is one.
pub fn did_of_peer(peer: &PeerId) -> Option<Did> {
    let mh = peer.as_ref();
    // An identity multihash holds the key itself; a SHA-256 one only names it.
    if mh.code() != 0 {
        return None;
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    let key = key.try_into_ed25519().ok()?;
    Some(Did::from_public_key(key.to_bytes()))
}

/// A peer's address as a tab dials it: WebSocket (`/ws` or `/wss`, over
/// `/ip4`, `/ip6` or `/dns*`), ending in `/p2p/<peer id>`. `ws://` is for
/// loopback only (a page served over https may not open it anyway);
/// anything else must be `wss://`.
pub fn dial_addr(text: &str) -> Result<(Multiaddr, PeerId), TabNetError> {
    let err = |reason: &str| TabNetError::Address {
        addr: text.to_string(),
        reason: reason.to_string(),
    };
    let addr: Multiaddr = text
        .parse()
        .map_err(|e| err(&format!("not a multiaddr ({e})")))?;
    let parts: Vec<Protocol> = addr.iter().collect();
    let Some(&Protocol::P2p(peer)) = parts.last() else {
        return Err(err(
            "a peer's address ends in /p2p/<peer id> (see `ipvm node --info`)",
        ));
    };
    let loopback = match parts.first() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback(),
        Some(Protocol::Ip6(ip)) => ip.is_loopback(),
        Some(Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h)) => h == "localhost",
        _ => return Err(err("a tab dials /ip4, /ip6 or /dns addresses")),
    };
    if !matches!(parts.get(1), Some(Protocol::Tcp(_))) {
        return Err(err(
            "a tab reaches peers over WebSocket: …/tcp/PORT/ws or …/tcp/PORT/tls/ws",
        ));
    }
    let secure = parts
        .iter()
        .any(|p| matches!(p, Protocol::Wss(_) | Protocol::Tls));
    let ws = parts
        .iter()
        .any(|p| matches!(p, Protocol::Ws(_) | Protocol::Wss(_)));
    if !ws {
        return Err(err(
            "a tab reaches peers over WebSocket: …/tcp/PORT/ws or …/tcp/PORT/tls/ws",
        ));
    }
    if !secure && !loopback {
        return Err(err(
            "ws:// is for loopback only: a remote peer needs wss:// (…/tcp/443/tls/ws)",
        ));
    }
    drop(parts);
    Ok((addr, peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    #[test]
    fn an_ed25519_peer_id_names_its_did_and_a_hashed_one_does_not() {
        let key = libp2p::identity::Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let peer = key.public().to_peer_id();
        let did = did_of_peer(&peer).expect("an Ed25519 peer id");
        let public = key.public().try_into_ed25519().unwrap().to_bytes();
        assert_eq!(did, Did::from_public_key(public));
        // A SHA-256 peer id (an RSA key, say) names no key it holds.
        let hashed =
            PeerId::from_multihash(libp2p::multihash::Multihash::wrap(0x12, &[1u8; 32]).unwrap())
                .unwrap();
        assert_eq!(did_of_peer(&hashed), None);
    }

    #[test]
    fn a_tab_dials_websocket_with_a_peer_id_and_ws_only_to_loopback() {
        for good in [
            format!("/ip4/127.0.0.1/tcp/4001/ws/p2p/{NODE}"),
            format!("/ip6/::1/tcp/4001/ws/p2p/{NODE}"),
            format!("/dns4/localhost/tcp/4001/ws/p2p/{NODE}"),
            format!("/dns4/node.example/tcp/443/tls/ws/p2p/{NODE}"),
            format!("/dns4/node.example/tcp/443/wss/p2p/{NODE}"),
        ] {
            let (_, peer) = dial_addr(&good).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(peer.to_string(), NODE);
        }
        for (bad, why) in [
            ("nonsense".to_string(), "not a multiaddr"),
            ("/ip4/127.0.0.1/tcp/4001/ws".to_string(), "ends in /p2p/"),
            (format!("/ip4/127.0.0.1/tcp/4001/p2p/{NODE}"), "WebSocket"),
            (
                format!("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/{NODE}"),
                "WebSocket",
            ),
            (
                format!("/ip4/192.0.2.1/tcp/4001/ws/p2p/{NODE}"),
                "loopback only",
            ),
            (
                format!("/dns4/node.example/tcp/80/ws/p2p/{NODE}"),
                "loopback only",
            ),
            (format!("/p2p/{NODE}"), "/ip4, /ip6 or /dns"),
        ] {
            let e = dial_addr(&bad).expect_err(&bad).to_string();
            assert!(e.contains(why) && e.contains(&bad), "{bad}: {e}");
        }
    }
}
