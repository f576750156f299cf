//! The network build's methods of the exported `Runtime` (feature `net`):
//! start the tab's libp2p host over the runtime's own store, list its
//! peers, stop it. The host and its rules are `ipvm_tab_net`'s; this file
//! translates.

use std::rc::Rc;
use std::time::Duration;

use ipvm_tab_net::TabNet;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::runtime::Runtime;

fn error(e: impl std::fmt::Display) -> JsValue {
    convert::error("ERR_NETWORK", &e.to_string())
}

#[wasm_bindgen]
impl Runtime {
    /// Starts the tab's libp2p host over this runtime's store and keeps it
    /// connected to `peers` (WebSocket multiaddrs ending in `/p2p/<peer id>`;
    /// `ws://` to loopback only), redialling with backoff, and presents the
    /// runtime's binding (its DID to the host's peer id, signed with its
    /// key) on each new connection. `onEvent` hears `peer-connected`,
    /// `peer-bound`, `peer-binding-failed`, `peer-disconnected` and
    /// `peer-dial-failed`. Resolves to the tab's own libp2p peer id. A bad
    /// address rejects and starts nothing.
    #[wasm_bindgen(js_name = startNetwork, unchecked_return_type = "Promise<string>")]
    pub fn start_network(
        &self,
        peers: Vec<String>,
        #[wasm_bindgen(unchecked_param_type = "((event: PeerEvent) => void) | undefined")]
        on_event: Option<Function>,
    ) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            if inner.net.borrow().is_some() {
                return Err(error("the network is already started"));
            }
            let store = inner.core.store().clone();
            // Held by the host's tasks: a weak handle, so that the runtime
            // is not kept alive by its own network.
            let weak = Rc::downgrade(&inner);
            let sign: ipvm_tab_net::SignBinding = Rc::new(move |peer: String, exp: u64| {
                let weak = weak.clone();
                Box::pin(async move {
                    let inner = weak.upgrade().ok_or("the runtime is closed")?;
                    let binding = inner.core.peer_binding(&peer, exp).await;
                    binding.map_err(|e| e.to_string())
                })
            });
            let net = TabNet::start(store, &peers, sign, move |e| {
                if let Some(f) = &on_event {
                    // A throwing listener must not stop the host.
                    let _ = f.call1(&JsValue::NULL, &convert::peer_event(&e));
                }
            })
            .await
            .map_err(error)?;
            let id = net.peer_id();
            // What runs and addModule need and the store lacks comes from
            // the peers now, and runs ask them for receipts.
            inner.core.set_block_source(Some(Rc::new(net.clone())));
            inner.core.set_peers(Some(Rc::new(net.clone())));
            *inner.net.borrow_mut() = Some(net);
            Ok(JsValue::from_str(&id))
        })
    }

    /// The peers connected now: `{peerId, did, bound, transport, address}`
    /// each (`did` is the peer's bound DID once its binding checked, else
    /// the DID its peer id names, or `null`). Empty before `startNetwork`.
    #[wasm_bindgen(unchecked_return_type = "PeerInfo[]")]
    pub fn peers(&self) -> Array {
        let list = Array::new();
        if let Some(net) = &*self.inner.net.borrow() {
            for p in net.peers() {
                list.push(&convert::peer_info(&p));
            }
        }
        list
    }

    /// The tab's own libp2p peer id (not its DID), or `undefined` before
    /// `startNetwork`.
    #[wasm_bindgen(js_name = peerId)]
    pub fn peer_id(&self) -> Option<String> {
        self.inner.net.borrow().as_ref().map(TabNet::peer_id)
    }

    /// The block `cid` from the store, else from a connected peer over
    /// bitswap (verified against its CID, then stored), within `timeoutMs`.
    #[wasm_bindgen(js_name = fetchBlock, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn fetch_block(&self, cid: String, timeout_ms: f64) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let cid = ipvm_core::parse_cid(&cid).map_err(|e| convert::core_error(&e))?;
            let net =
                inner.net.borrow().clone().ok_or_else(|| {
                    error("the network is not started (open the runtime with peers)")
                })?;
            let bytes = net
                .block(cid, Duration::from_millis(timeout_ms.max(0.0) as u64))
                .await
                .map_err(error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Stops the tab's libp2p host (a runtime that is closed stops it too).
    #[wasm_bindgen(js_name = stopNetwork, unchecked_return_type = "Promise<void>")]
    pub fn stop_network(&self) -> Promise {
        let net = self.inner.net.borrow_mut().take();
        self.inner.core.set_block_source(None);
        self.inner.core.set_peers(None);
        future_to_promise(async move {
            if let Some(net) = net {
                net.stop().await;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}
