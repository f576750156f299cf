//! The exported `Runtime` class: wasm-bindgen translation of the core's
//! [`ipvm_core::Runtime`], built from the browser's capabilities: a store
//! (memory or IndexedDB), an executor (this thread or a worker pool), the
//! tab's settings ([`TabSettings`]: a WebCrypto key and the kept trust
//! state), seen-set ([`TabSeen`]) and run records ([`TabRuns`]), a Web Lock
//! per instruction and a BroadcastChannel. The rules (identity and trust,
//! admission, the memo, verification, coordination) are the core's; this
//! file reads arguments, calls the core and converts its answers.
//!
//! One file, past 600 lines, on purpose: it is one exported class (one file
//! per class), and most of it is its methods' doc comments, which are the
//! package's API documentation (they land in the `.d.ts`).

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::memo::{Checked, Rejection};
use ipvm_core::run::runtime::InvocationError;
use ipvm_core::ucan::{Payload, Token, UcanErrorKind};
use ipvm_core::{
    parse_cid, CoreError, Did, Event, MemoryStore, ReceiptStore, TrustOptions, Workflow,
};
use ipvm_exec::{WasmExecutor, WasmiEngine};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::coordinate::{ChannelAnnouncer, WebLock, Yielding};
use crate::indexeddb::IndexedDbStore;
use crate::pacer::YieldingPacer;
use crate::pool::{AnyExecutor, PoolExecutor};
use crate::runs::TabRuns;
use crate::seen::TabSeen;
use crate::settings::TabSettings;
use crate::store::AnyStore;

/// The core's runtime over the browser's capabilities.
type Core = ipvm_core::Runtime<
    Rc<AnyStore>,
    Yielding<AnyExecutor>,
    TabSettings,
    TabSeen,
    TabRuns,
    WebLock,
    ChannelAnnouncer,
>;

pub(crate) struct Inner {
    pub(crate) core: Core,
    /// Hears each rejected row once (`setRejectedListener`).
    on_rejected: RefCell<Option<Function>>,
    /// The tab's libp2p host, once `startNetwork` has started it (the
    /// network build only).
    #[cfg(feature = "net")]
    pub(crate) net: RefCell<Option<ipvm_tab_net::TabNet>>,
}

impl Inner {
    /// Passes rows skipped by a read to the listener, and returns the value.
    fn report<T>(&self, checked: Checked<T>) -> T {
        self.rejected(&checked.rejected);
        checked.value
    }

    fn rejected(&self, rejections: &[Rejection]) {
        if let Some(f) = &*self.on_rejected.borrow() {
            for r in rejections {
                // A throwing listener must not break the read.
                let _ = f.call1(&JsValue::NULL, &convert::rejection(r));
            }
        }
    }

    /// Translates an event for the page: rejected rows to the listener, a
    /// distrust to the console, the event to `on_event`.
    fn emit(&self, e: &Event, on_event: Option<&Function>) {
        if let Event::Rejected {
            receipt, reason, ..
        } = e
        {
            self.rejected(&[Rejection {
                receipt: receipt.clone(),
                reason: reason.clone(),
            }]);
        }
        if let Event::Distrusted { signer, reason, .. } = e {
            web_sys_warn(&format!("[ipvm] distrusted {signer}: {reason}"));
        }
        if let Some(f) = on_event {
            // A throwing listener must not abort the run.
            let _ = f.call1(&JsValue::NULL, &convert::event(e));
        }
    }
}

fn core_error(e: CoreError) -> JsValue {
    convert::core_error(&e)
}

/// An IPVM runtime: stores modules and receipts, and runs workflows.
#[wasm_bindgen]
pub struct Runtime {
    pub(crate) inner: Rc<Inner>,
}

fn cid_arg(text: &str) -> Result<ipvm_core::Cid, JsValue> {
    parse_cid(text).map_err(|e| convert::core_error(&e))
}

#[wasm_bindgen]
impl Runtime {
    /// A runtime with an in-memory store (nothing survives the page, its
    /// key included). `trust`: `{signers?: string[], verifyRate?: number}`.
    #[wasm_bindgen(constructor)]
    pub fn js_new(
        #[wasm_bindgen(unchecked_param_type = "TrustOptions | undefined")] trust: JsValue,
    ) -> Result<Runtime, JsValue> {
        let trust = seeded(convert::trust_options(&trust)?).map_err(core_error)?;
        Ok(Self::with_store(
            AnyStore::Memory(Box::new(MemoryStore::new())),
            None,
            None,
            None,
            trust,
        ))
    }

    /// `scope` names the locks shared with other runtimes on the same store;
    /// `dispatch` sends jobs to a worker pool (else they run in this thread);
    /// `channel` is the BroadcastChannel receipts are announced on.
    fn with_store(
        store: AnyStore,
        scope: Option<String>,
        dispatch: Option<Function>,
        channel: Option<JsValue>,
        trust_options: TrustOptions,
    ) -> Runtime {
        let store = Rc::new(store);
        let runner = match dispatch {
            Some(f) => AnyExecutor::Pool(PoolExecutor::new(f)),
            None => AnyExecutor::Local(WasmExecutor::with_pacer(
                store.clone(),
                WasmiEngine::default(),
                YieldingPacer::for_page(),
            )),
        };
        let parallelism = runner.parallelism();
        let core = ipvm_core::Runtime::new(
            store.clone(),
            Yielding(runner),
            TabSettings::new(store.clone()),
        )
        .with_seen(TabSeen::new(store.clone()))
        .with_runs(TabRuns::new(store))
        .with_coordination(WebLock::new(scope), ChannelAnnouncer::new(channel))
        .with_trust(trust_options)
        .with_parallelism(parallelism);
        Runtime {
            inner: Rc::new(Inner {
                core,
                on_rejected: RefCell::new(None),
                #[cfg(feature = "net")]
                net: RefCell::new(None),
            }),
        }
    }

    /// Sets the function that hears each stored receipt row found not to be
    /// what it claims (damaged, or written by another version): `{receipt,
    /// reason}`, once per row. Such rows are skipped; they never fail a run.
    #[wasm_bindgen(js_name = setRejectedListener)]
    pub fn set_rejected_listener(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "((rejection: {receipt: string, reason: string}) => void) | undefined"
        )]
        listener: Option<Function>,
    ) {
        *self.inner.on_rejected.borrow_mut() = listener;
    }

    /// A runtime whose modules and receipts live in the IndexedDB database
    /// `name`: they survive reloads and are shared by the tabs of the origin.
    #[wasm_bindgen(js_name = openIndexedDb, unchecked_return_type = "Promise<Runtime>")]
    pub fn open_indexed_db(
        name: String,
        #[wasm_bindgen(
            unchecked_param_type = "((job: string, timeMs: number) => Promise<string>) | undefined"
        )]
        dispatch: Option<Function>,
        #[wasm_bindgen(unchecked_param_type = "BroadcastChannel | undefined")] channel: JsValue,
        #[wasm_bindgen(unchecked_param_type = "TrustOptions | undefined")] trust: JsValue,
    ) -> Promise {
        let trust = convert::trust_options(&trust);
        future_to_promise(async move {
            let trust = seeded(trust?).map_err(core_error)?;
            let store = IndexedDbStore::open(&name)
                .await
                .map_err(|e| convert::core_error(&e))?;
            let channel = Some(channel);
            let rt = Self::with_store(
                AnyStore::IndexedDb(store),
                Some(name),
                dispatch,
                channel,
                trust,
            );
            // The key and the trust state now, so that a browser without
            // Ed25519 says so at open, not at the first run.
            rt.inner.core.identity().await.map_err(core_error)?;
            Ok(rt.into())
        })
    }

    /// This runtime's DID (`did:key:z6Mk…`): the signer of every receipt it
    /// computes. Its private key is a non-extractable WebCrypto key kept in
    /// the store (a memory runtime's lives as long as the runtime).
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn identity(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let did = inner.core.did().await.map_err(core_error)?;
            Ok(JsValue::from_str(did.as_str()))
        })
    }

    /// The trust policy: this runtime's DID, the signers it trusts, the
    /// signers spot-checks caught, and the spot-check rate.
    #[wasm_bindgen(unchecked_return_type = "Promise<TrustReport>")]
    pub fn trust(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let id = inner.core.identity().await.map_err(core_error)?;
            Ok(convert::trust_report(id.trust()))
        })
    }

    /// Clears a spot-check's distrust of `signer` (the user's decision):
    /// its receipts are decided again. Resolves to whether it was distrusted.
    #[wasm_bindgen(js_name = clearDistrust, unchecked_return_type = "Promise<boolean>")]
    pub fn clear_distrust(&self, signer: &str) -> Promise {
        let inner = self.inner.clone();
        let did = Did::parse(signer).map_err(|e| convert::error("ERR_ARGUMENT", &e.to_string()));
        future_to_promise(async move {
            let was = inner.core.clear_distrust(&did?).await.map_err(core_error)?;
            Ok(JsValue::from_bool(was))
        })
    }

    /// Checks a receipt with its envelopes: a stored receipt by CID, or
    /// `{receipt: Uint8Array, envelopes: Uint8Array[]}` (DAG-CBOR). Valid if
    /// an envelope from a trusted signer verifies; otherwise one precise
    /// reason. Stores nothing.
    #[wasm_bindgen(js_name = verifyReceipt, unchecked_return_type = "Promise<ReceiptCheck>")]
    pub fn verify_receipt(
        &self,
        #[wasm_bindgen(
            unchecked_param_type = "Cid | { receipt: Uint8Array; envelopes: Uint8Array[] }"
        )]
        receipt: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let given = convert::signed_receipt(&receipt);
        future_to_promise(async move {
            let (bytes, envelopes) = match given? {
                convert::SignedReceipt::Stored(cid) => {
                    let row = match inner
                        .core
                        .store()
                        .row(&cid)
                        .await
                        .map_err(|e| convert::core_error(&e))?
                    {
                        Some(Ok(row)) => row,
                        Some(Err(bad)) => {
                            return Err(convert::error(
                                "ERR_STORE",
                                &format!("receipt {cid}: its row cannot be read: {}", bad.reason),
                            ))
                        }
                        None => {
                            return Err(convert::error(
                                "ERR_MISSING_BLOCK",
                                &format!("receipt {cid} is not in the store"),
                            ))
                        }
                    };
                    (row.bytes, row.envelopes)
                }
                convert::SignedReceipt::Given { receipt, envelopes } => (receipt, envelopes),
            };
            let check = inner
                .core
                .check_receipt(&bytes, &envelopes)
                .await
                .map_err(core_error)?;
            Ok(convert::receipt_check(&check))
        })
    }

    /// Stores a module (or any file) and resolves to its CID, the one
    /// `ipfs add --cid-version 1` gives.
    #[wasm_bindgen(js_name = addModule, unchecked_return_type = "Promise<string>")]
    pub fn add_module(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let cid = inner.core.add_file(&bytes).await.map_err(core_error)?;
            Ok(JsValue::from_str(&cid.to_string()))
        })
    }

    /// Runs a workflow given as DAG-JSON text. Resolves to one report per
    /// task, in workflow order. `onEvent` receives progress events.
    #[wasm_bindgen(unchecked_return_type = "Promise<RawTaskReport[]>")]
    pub fn run(
        &self,
        workflow: &str,
        #[wasm_bindgen(js_name = onEvent)] on_event: Option<Function>,
        #[wasm_bindgen(unchecked_param_type = "AbortSignal | undefined")] signal: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let parsed = Workflow::from_dag_json(workflow.as_bytes());
        let cancel = convert::cancel_token(&signal);
        future_to_promise(async move {
            let workflow = parsed.map_err(|e| convert::core_error(&e))?;
            let mut emit = |e: &Event| inner.emit(e, on_event.as_ref());
            let report = inner
                .core
                .run(&workflow, &mut emit, &cancel)
                .await
                .map_err(core_error)?;
            convert::task_reports(&report.tasks)
        })
    }

    /// Signs a UCAN 1.0 delegation from this runtime: `{aud, cmd, sub?,
    /// powerline?, pol?, exp?, nbf?}` (times in seconds since the epoch;
    /// `sub` defaults to this runtime). Resolves to `{cid, bytes}`; the
    /// token is kept in the store as a block, so it can be named as a proof.
    #[wasm_bindgen(unchecked_return_type = "Promise<UcanToken>")]
    pub fn delegate(
        &self,
        #[wasm_bindgen(unchecked_param_type = "DelegateOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = convert::delegate_options(&options);
        future_to_promise(async move {
            let token = inner
                .core
                .delegate(options?, random_nonce()?)
                .await
                .map_err(core_error)?;
            Ok(convert::ucan_token(&token))
        })
    }

    /// Signs a UCAN 1.0 `/wasm/run` invocation from this runtime: `{module,
    /// func, args?, fuel?, memory?, time?, nnc?, aud?, sub?, prf?, exp?}`
    /// (`prf`: delegation CIDs, root first; `sub` defaults to this runtime,
    /// `aud` to `sub`). Resolves to `{cid, bytes}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<UcanToken>")]
    pub fn invoke(
        &self,
        #[wasm_bindgen(unchecked_param_type = "InvokeOptions")] options: JsValue,
    ) -> Promise {
        let inner = self.inner.clone();
        let options = convert::invoke_options(&options);
        future_to_promise(async move {
            let token = inner
                .core
                .invoke(options?, random_nonce()?)
                .await
                .map_err(core_error)?;
            Ok(convert::ucan_token(&token))
        })
    }

    /// Stores a delegation (its DAG-CBOR bytes) after checking its form and
    /// signature, so that invocations can name it in `prf`. Resolves to its
    /// CID; rejects with `ERR_UNAUTHORIZED` naming what is wrong.
    #[wasm_bindgen(js_name = addProof, unchecked_return_type = "Promise<string>")]
    pub fn add_proof(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let token = Token::decode(&bytes).map_err(|e| convert::ucan_error(&e, None))?;
            match inner.core.add_proof(&token).await.map_err(core_error)? {
                Ok(cid) => Ok(JsValue::from_str(&cid.to_string())),
                // Not a delegation: a mistake in the argument.
                Err(e)
                    if e.kind == UcanErrorKind::Malformed
                        && !matches!(token.payload, Payload::Delegation(_)) =>
                {
                    Err(convert::error(
                        "ERR_ARGUMENT",
                        &format!("addProof: {}", e.detail),
                    ))
                }
                Err(e) => Err(convert::ucan_error(&e, None)),
            }
        })
    }

    /// Runs a task that arrives as a signed UCAN 1.0 invocation (its
    /// DAG-CBOR bytes), with `proofs` (delegations' bytes; proofs added
    /// with `addProof` are found too). It runs only if this runtime admits
    /// it: a valid chain rooted at the subject, this runtime as audience,
    /// the subject this runtime or a `trust.authorities` DID, and no replay
    /// (an invocation from another must carry `exp`, and runs once).
    /// Resolves to the task's report; a refusal runs nothing, leaves an
    /// `unauthorized` receipt, and rejects with `ERR_UNAUTHORIZED` (`reason`:
    /// the refusal's name, `receipt`: that receipt's CID).
    #[wasm_bindgen(js_name = runInvocation, unchecked_return_type = "Promise<RawTaskReport>")]
    pub fn run_invocation(
        &self,
        token: Vec<u8>,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array[] | undefined")] proofs: JsValue,
        #[wasm_bindgen(js_name = onEvent)] on_event: Option<Function>,
    ) -> Promise {
        let inner = self.inner.clone();
        let given = convert::byte_list(&proofs, "proofs");
        future_to_promise(async move {
            let given = given?;
            // A chain holds at most MAX_PROOFS delegations: more is not a chain, and each
            // would be decoded for nothing.
            let most = ipvm_core::ucan::limits::MAX_PROOFS;
            if given.len() > most {
                return Err(convert::error(
                    "ERR_ARGUMENT",
                    &format!(
                        "proofs: {} given, more than the {most} delegations a chain may hold",
                        given.len()
                    ),
                ));
            }
            let token = Token::decode(&token).map_err(|e| convert::ucan_error(&e, None))?;
            let mut known = Vec::new();
            for bytes in given {
                known.push(Token::decode(&bytes).map_err(|e| convert::ucan_error(&e, None))?);
            }
            let now = (js_sys::Date::now() / 1000.0) as i64;
            let mut emit = |e: &Event| inner.emit(e, on_event.as_ref());
            let cancel = ipvm_core::CancelToken::new();
            match inner
                .core
                .run_invocation(&token, known, now, &mut emit, &cancel)
                .await
            {
                Ok(report) => match report.tasks.first() {
                    Some(task) => convert::task_report(task),
                    None => Err(convert::error(
                        "ERR_STORE",
                        "the invocation's run reported no task",
                    )),
                },
                Err(InvocationError::Refused { error, receipt }) => {
                    Err(convert::ucan_error(&error, receipt.map(|r| r.cid)))
                }
                Err(InvocationError::Core(e)) => Err(core_error(e)),
            }
        })
    }

    /// The receipt with this CID, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let rec = inner.core.receipt(&cid?).await.map_err(core_error)?;
            inner
                .report(rec)
                .map_or(Ok(JsValue::NULL), |r| convert::record(&r))
        })
    }

    /// The receipt that answers an instruction (the memo lookup: a receipt
    /// this runtime computed or verified), or `null`.
    #[wasm_bindgen(js_name = receiptFor, unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt_for(&self, instruction: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(instruction));
        future_to_promise(async move {
            let rec = inner.core.receipt_for(&cid?).await.map_err(core_error)?;
            inner
                .report(rec)
                .map_or(Ok(JsValue::NULL), |r| convert::record(&r))
        })
    }

    /// Every stored receipt of an instruction, whatever its provenance or
    /// class (imported ones, failures of the environment, older versions).
    #[wasm_bindgen(js_name = receiptsFor, unchecked_return_type = "Promise<StoredReceipt[]>")]
    pub fn receipts_for(&self, instruction: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(instruction));
        future_to_promise(async move {
            let recs = inner.core.receipts_for(&cid?).await.map_err(core_error)?;
            convert::records(&inner.report(recs))
        })
    }

    /// Every receipt computed from `input` (a module or a data CID).
    #[wasm_bindgen(js_name = receiptsUsing, unchecked_return_type = "Promise<StoredReceipt[]>")]
    pub fn receipts_using(&self, input: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(input));
        future_to_promise(async move {
            let recs = inner.core.receipts_using(&cid?).await.map_err(core_error)?;
            convert::records(&inner.report(recs))
        })
    }

    /// Re-runs the task of a stored receipt and compares the receipt it
    /// writes with the stored one; a matching receipt from elsewhere is
    /// promoted to `verified` and answers memo lookups from then on.
    /// `engine` (`fast` or `wasmi`) asks for the re-run on that engine: a
    /// receipt computed on one and matched on the other is checked more
    /// strongly than by a re-run on the same engine.
    #[wasm_bindgen(unchecked_return_type = "Promise<Verification>")]
    pub fn verify(&self, receipt: &str, engine: Option<String>) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(receipt));
        future_to_promise(async move {
            if let Some(e) = engine
                .as_deref()
                .filter(|e| !matches!(*e, "fast" | "wasmi"))
            {
                return Err(convert::error(
                    "ERR_ARGUMENT",
                    &format!("engine must be \"fast\" or \"wasmi\", not {e:?}"),
                ));
            }
            let v = inner
                .core
                .verify(&cid?, engine.as_deref())
                .await
                .map_err(core_error)?;
            convert::verification(&v)
        })
    }

    /// The records of runs on this store (IndexedDB only): `{id, state,
    /// started, updated, tasks: [{instruction, status}]}`. A run whose state
    /// is still `running` after a reload was interrupted.
    #[wasm_bindgen(unchecked_return_type = "Promise<RunRecord[]>")]
    pub fn runs(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let out = js_sys::Array::new();
            if let AnyStore::IndexedDb(db) = &**inner.core.store() {
                for r in db.runs().await.map_err(|e| convert::core_error(&e))? {
                    out.push(&r);
                }
            }
            Ok(out.into())
        })
    }

    /// Counts of stored blocks and receipts: `{blocks, receipts}`.
    #[wasm_bindgen(unchecked_return_type = "Promise<{blocks: number, receipts: number}>")]
    pub fn counts(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let (blocks, receipts) = match &**inner.core.store() {
                AnyStore::IndexedDb(s) => s.counts().await.map_err(|e| convert::core_error(&e))?,
                AnyStore::Memory(s) => (s.block_count() as u32, s.receipt_count() as u32),
            };
            Ok(convert::counts(blocks, receipts))
        })
    }

    /// A CARv1 archive of `roots`: receipts (with their envelopes,
    /// invocations and modules) or blocks (with their DAGs), to import
    /// elsewhere.
    #[wasm_bindgen(js_name = exportCar, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn export_car(&self, roots: Vec<String>) -> Promise {
        let inner = self.inner.clone();
        let roots: Result<Vec<_>, _> = roots.iter().map(|r| cid_arg(r)).collect();
        future_to_promise(async move {
            let bytes = inner.core.export_car(&roots?).await.map_err(core_error)?;
            Ok(js_sys::Uint8Array::from(&bytes[..]).into())
        })
    }

    /// Imports a CARv1 archive, all or nothing: verifies every block, and
    /// stores the blocks and the receipts (provenance `imported`: listed and
    /// verifiable; memo hits if a trusted signer's envelope in the archive
    /// vouches for them, else once verified here). Each envelope is checked;
    /// refused ones are reported with their reason and not kept.
    #[wasm_bindgen(js_name = importCar, unchecked_return_type = "Promise<ImportReport>")]
    pub fn import_car(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let n = inner.core.import_car(&bytes).await.map_err(core_error)?;
            Ok(convert::imported(&n))
        })
    }

    /// Resolves to `cid` if the file (a module) it names is in the store,
    /// complete and intact, and no larger than a module may be; with the
    /// network started, what the store lacks is fetched from the peers
    /// first, every block checked. Rejects with `ERR_BAD_CID`,
    /// `ERR_MISSING_BLOCK`, `ERR_NETWORK` (no peer gave a block in time),
    /// `ERR_HASH_MISMATCH` or `ERR_TOO_LARGE` (a small DAG that describes a
    /// huge file stops at the module bound, not at what it claims).
    #[wasm_bindgen(js_name = storedModule, unchecked_return_type = "Promise<string>")]
    pub fn stored_module(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let cid = cid?;
            match inner.core.file_here(&cid, ipvm_exec::MAX_MODULE_BYTES).await {
                Ok(_) => Ok(JsValue::from_str(&cid.to_string())),
                Err(ipvm_core::CoreError::MissingBlock(_)) => Err(convert::error(
                    "ERR_MISSING_BLOCK",
                    &format!("module {cid} is not in the store (add its bytes first, or import a CAR that holds it)"),
                )),
                Err(e) => Err(convert::core_error(&e)),
            }
        })
    }

    /// The bytes of a stored file (a module, a picture, any data added with
    /// `addModule` or imported), read and checked block by block, at most
    /// `max_bytes` of them (a file whose blocks say it is larger is
    /// `ERR_TOO_LARGE` before anything is read past them); rejects with
    /// `ERR_MISSING_BLOCK` if it is not (all) in the store.
    #[wasm_bindgen(js_name = readFile, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn read_file(&self, cid: &str, max_bytes: f64) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            // The facade checked it is a positive integer; a float past 2^64 saturates.
            let limit = max_bytes as u64;
            let bytes = inner
                .core
                .read_file(&cid?, limit)
                .await
                .map_err(core_error)?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Closes the store. The runtime must not be used afterwards.
    pub fn close(&self) {
        if let AnyStore::IndexedDb(s) = &**self.inner.core.store() {
            s.close();
        }
    }
}

impl Runtime {
    /// A memory runtime that trusts only itself, for Rust callers.
    pub fn new() -> Runtime {
        Self::with_store(
            AnyStore::Memory(Box::new(MemoryStore::new())),
            None,
            None,
            None,
            TrustOptions::default(),
        )
    }

    /// [`Runtime::open_indexed_db`] with a worker pool's `dispatch`, for Rust callers.
    pub async fn open_with_dispatch(
        name: &str,
        dispatch: Function,
    ) -> Result<Runtime, ipvm_core::CoreError> {
        let store = IndexedDbStore::open(name).await?;
        let scope = Some(name.to_string());
        Ok(Self::with_store(
            AnyStore::IndexedDb(store),
            scope,
            Some(dispatch),
            None,
            TrustOptions::default(),
        ))
    }

    /// [`Runtime::open_indexed_db`] for Rust callers.
    pub async fn open(name: &str) -> Result<Runtime, ipvm_core::CoreError> {
        let store = IndexedDbStore::open(name).await?;
        Ok(Self::with_store(
            AnyStore::IndexedDb(store),
            Some(name.to_string()),
            None,
            None,
            TrustOptions::default(),
        ))
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

/// `options` with a seed for the spot-check draws, from the platform's
/// generator.
fn seeded(options: TrustOptions) -> Result<TrustOptions, CoreError> {
    let seed = crate::identity::random_bytes::<8>().map(u64::from_le_bytes)?;
    Ok(TrustOptions { seed, ..options })
}

/// Twelve random bytes (a token's nonce), from the platform's generator.
fn random_nonce() -> Result<Vec<u8>, JsValue> {
    crate::identity::random_bytes::<12>()
        .map(|b| b.to_vec())
        .map_err(|e| convert::core_error(&e))
}

fn web_sys_warn(message: &str) {
    let console = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("console"))
        .unwrap_or(JsValue::UNDEFINED);
    if let Ok(warn) = js_sys::Reflect::get(&console, &JsValue::from_str("warn")) {
        if let Some(f) = warn.dyn_ref::<Function>() {
            let _ = f.call1(&console, &JsValue::from_str(message));
        }
    }
}

/// The CID of an instruction given as DAG-JSON text
/// `{"rsc", "op", "input": {"func", "args"}, "nnc"}`: the key under which its
/// receipt is memoized, and what `{"await/ok": {"/": cid}}` refers to.
#[wasm_bindgen(js_name = instructionCid)]
pub fn instruction_cid(instruction: &str) -> Result<String, JsValue> {
    ipvm_core::workflow::instruction_cid_from_dag_json(instruction.as_bytes())
        .map(|c| c.to_string())
        .map_err(|e| convert::core_error(&e))
}

/// Whether `text` is a CID (optionally `ipfs://`-prefixed): how the facade
/// tells a stored module's CID from a URL.
#[wasm_bindgen(js_name = isCid)]
pub fn is_cid(text: &str) -> bool {
    parse_cid(text).is_ok()
}
