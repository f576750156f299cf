//! The exported `Runtime` class: a store, an executor and a scheduler, with
//! the browser's lock and announcer, and the runtime's identity (a WebCrypto
//! key) and trust policy. It translates; the rules (the memo, the checks on
//! stored rows, coordination, trust) are `ipvm_core`'s.

use std::cell::RefCell;
use std::rc::Rc;

use ipvm_core::memo::{self, Checked, Quarantine, Rejection};
use ipvm_core::run::admission::refuse;
use ipvm_core::store::add_file;
use ipvm_core::ucan::wasm::{task_of, Authority};
use ipvm_core::ucan::{Delegation, Invocation, Payload, Token};
use ipvm_core::{
    parse_cid, trust, BlockStore, CoreError, Did, MemoryStore, ReceiptStore, Scheduler, Signer,
    Trust, Workflow,
};
use ipvm_exec::{WasmExecutor, WasmiEngine};
use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::convert;
use crate::coordinate::{ChannelAnnouncer, WebLock, Yielding};
use crate::identity::{TrustState, WebSigner};
use crate::indexeddb::IndexedDbStore;
use crate::pacer::YieldingPacer;
use crate::pool::{AnyExecutor, PoolExecutor};
use crate::runlog::RunLog;
use crate::store::AnyStore;

struct Inner {
    store: Rc<AnyStore>,
    executor: Yielding<AnyExecutor>,
    lock: WebLock,
    announcer: ChannelAnnouncer,
    /// Stored rows found not to be what they claim: each is reported once.
    quarantine: Quarantine,
    /// Hears each rejected row once (`setRejectedListener`).
    on_rejected: RefCell<Option<Function>>,
    /// What `Runtime.open({trust})` said.
    trust_options: TrustOptions,
    /// The key and the trust policy, made or loaded on first use.
    identity: RefCell<Option<Rc<Identity>>>,
}

/// The trust options given at open: signers to trust, the spot-check rate.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustOptions {
    pub(crate) signers: Vec<Did>,
    pub(crate) verify_rate: f64,
    /// DIDs whose authority tasks may run under (besides this runtime's).
    pub(crate) authorities: Vec<Did>,
}

/// The runtime's key and trust policy.
struct Identity {
    signer: WebSigner,
    trust: Trust,
    /// Who may have this runtime run a task, and the invocations seen.
    authority: Authority,
}

impl Identity {
    /// The policy's state to keep across reloads.
    fn state(&self) -> TrustState {
        let distrusted = self.trust.distrusted();
        TrustState {
            applied: self
                .trust
                .signers()
                .into_iter()
                .filter(|d| !distrusted.contains_key(d))
                .collect(),
            distrusted,
        }
    }
}

/// A seed for the spot-check draws, from the platform's generator.
fn random_seed() -> Result<u64, CoreError> {
    crate::identity::random_bytes::<8>().map(u64::from_le_bytes)
}

impl Inner {
    /// The key (loaded from the store, or made) and the trust policy. On
    /// first use the stored trust state is read back, and if the trusted
    /// set differs from the one the rows were decided for, the rows of the
    /// signers concerned are decided again.
    async fn identity(&self) -> Result<Rc<Identity>, CoreError> {
        if let Some(id) = self.identity.borrow().clone() {
            return Ok(id);
        }
        let db = match &*self.store {
            AnyStore::IndexedDb(db) => Some(db),
            AnyStore::Memory(_) => None,
        };
        let signer = WebSigner::load_or_create(db).await?;
        let saved = match db {
            Some(db) => TrustState::load(db).await?,
            None => TrustState::default(),
        };
        let trust = Trust::new(signer.did().clone())
            .with_signers(self.trust_options.signers.iter().cloned())
            .with_spot_checks(self.trust_options.verify_rate, random_seed()?)
            .with_distrusted(saved.distrusted.clone());
        let authority = Authority::new(signer.did().clone())
            .with_authorities(self.trust_options.authorities.iter().cloned());
        let id = Identity {
            signer,
            trust,
            authority,
        };
        let now = id.state();
        let changed: Vec<Did> = now
            .applied
            .iter()
            .filter(|d| !saved.applied.contains(d))
            .chain(saved.applied.iter().filter(|d| !now.applied.contains(d)))
            .cloned()
            .collect();
        if !changed.is_empty() {
            trust::reconsider(&*self.store, &id.trust, &changed).await?;
        }
        if let (Some(db), true) = (db, now != saved) {
            now.save(db).await?;
        }
        // Another call may have finished first: keep one.
        let mut slot = self.identity.borrow_mut();
        Ok(slot.get_or_insert_with(|| Rc::new(id)).clone())
    }

    /// The identity, with the distrust other tabs of the store kept since
    /// (a spot-check in one tab holds in every tab). Read before the
    /// writes that decide `vouched` (an import, a verify); a run needs no
    /// fresh read: the rows another tab's distrust concerns are no longer
    /// vouched, and a run never marks a row vouched for another signer.
    async fn current_identity(&self) -> Result<Rc<Identity>, CoreError> {
        let id = self.identity().await?;
        if let AnyStore::IndexedDb(db) = &*self.store {
            let known = id.trust.distrusted();
            for (did, why) in TrustState::load(db).await?.distrusted {
                if !known.contains_key(&did) {
                    id.trust.distrust(&did, why);
                }
            }
        }
        Ok(id)
    }

    /// Keeps the trust state (after a spot-check, a verify or a clear),
    /// merged with what other tabs of the store kept: their distrust stays,
    /// except of the signers this call `cleared`.
    async fn save_trust(&self, id: &Identity, cleared: &[Did]) -> Result<(), CoreError> {
        if let AnyStore::IndexedDb(db) = &*self.store {
            let mut state = id.state();
            let stored = TrustState::load(db).await?;
            for (did, why) in stored.distrusted {
                if !cleared.contains(&did) {
                    state.distrusted.entry(did).or_insert(why);
                }
            }
            state.save(db).await?;
        }
        Ok(())
    }

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
}

/// An IPVM runtime: stores modules and receipts, and runs workflows.
#[wasm_bindgen]
pub struct Runtime {
    inner: Rc<Inner>,
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
        Ok(Self::with_store(
            AnyStore::Memory(Box::new(MemoryStore::new())),
            None,
            None,
            None,
            convert::trust_options(&trust)?,
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
        Runtime {
            inner: Rc::new(Inner {
                store,
                executor: Yielding(runner),
                lock: WebLock::new(scope),
                announcer: ChannelAnnouncer::new(channel),
                quarantine: Quarantine::new(),
                on_rejected: RefCell::new(None),
                trust_options,
                identity: RefCell::new(None),
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
            let trust = trust?;
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
            rt.inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
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
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(JsValue::from_str(id.signer.did().as_str()))
        })
    }

    /// The trust policy: this runtime's DID, the signers it trusts, the
    /// signers spot-checks caught, and the spot-check rate.
    #[wasm_bindgen(unchecked_return_type = "Promise<TrustReport>")]
    pub fn trust(&self) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(convert::trust_report(&id.trust))
        })
    }

    /// Clears a spot-check's distrust of `signer` (the user's decision):
    /// its receipts are decided again. Resolves to whether it was distrusted.
    #[wasm_bindgen(js_name = clearDistrust, unchecked_return_type = "Promise<boolean>")]
    pub fn clear_distrust(&self, signer: &str) -> Promise {
        let inner = self.inner.clone();
        let did = Did::parse(signer).map_err(|e| convert::error("ERR_ARGUMENT", &e.to_string()));
        future_to_promise(async move {
            let did = did?;
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let was = id.trust.forgive(&did);
            if was {
                // The decision is kept first, then the rows follow it.
                inner
                    .save_trust(&id, std::slice::from_ref(&did))
                    .await
                    .map_err(|e| convert::core_error(&e))?;
                trust::reconsider(&*inner.store, &id.trust, std::slice::from_ref(&did))
                    .await
                    .map_err(|e| convert::core_error(&e))?;
            }
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
                        .store
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
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let check =
                ipvm_core::envelope::check_receipt(&bytes, &envelopes, &|d| id.trust.trusts(d));
            Ok(convert::receipt_check(&check))
        })
    }

    /// Stores a module (or any file) and resolves to its CID, the one
    /// `ipfs add --cid-version 1` gives.
    #[wasm_bindgen(js_name = addModule, unchecked_return_type = "Promise<string>")]
    pub fn add_module(&self, bytes: Vec<u8>) -> Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let cid = add_file(&*inner.store, &bytes)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(JsValue::from_str(&cid.to_string()))
        })
    }

    /// Runs a workflow given as DAG-JSON text. Resolves to one report per
    /// task, in workflow order. `onEvent` receives progress events.
    #[wasm_bindgen(unchecked_return_type = "Promise<TaskReport[]>")]
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
            let tasks = execute(&inner, &workflow, on_event.as_ref(), &cancel).await?;
            convert::task_reports(&tasks)
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
            let o = options?;
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let payload = Payload::Delegation(Delegation {
                iss: id.signer.did().clone(),
                aud: o.aud,
                sub: match o.powerline {
                    true => None,
                    false => Some(o.sub.unwrap_or_else(|| id.signer.did().clone())),
                },
                cmd: o.cmd,
                pol: o.pol,
                nonce: random_nonce()?,
                exp: o.exp,
                nbf: o.nbf,
                meta: None,
            });
            sign_and_keep(&inner, &id, &payload).await
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
            let o = options?;
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let sub = o.sub.unwrap_or_else(|| id.signer.did().clone());
            let payload = Payload::Invocation(Invocation {
                iss: id.signer.did().clone(),
                aud: Some(o.aud.unwrap_or_else(|| sub.clone())),
                sub,
                cmd: ipvm_core::ucan::wasm::WASM_RUN.into(),
                args: o.args,
                prf: o.prf,
                nonce: random_nonce()?,
                exp: o.exp,
                iat: None,
                meta: None,
                cause: None,
            });
            sign_and_keep(&inner, &id, &payload).await
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
            token
                .verify_signature()
                .map_err(|e| convert::ucan_error(&e, None))?;
            if !matches!(token.payload, Payload::Delegation(_)) {
                return Err(convert::error(
                    "ERR_ARGUMENT",
                    "addProof: the token is an invocation, not a delegation",
                ));
            }
            inner
                .store
                .put_block(token.cid, token.bytes.clone())
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(JsValue::from_str(&token.cid.to_string()))
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
    #[wasm_bindgen(js_name = runInvocation, unchecked_return_type = "Promise<TaskReport>")]
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
            if let Payload::Invocation(inv) = &token.payload {
                for cid in &inv.prf {
                    if known.iter().any(|t| t.cid == *cid) {
                        continue;
                    }
                    let stored = inner
                        .store
                        .get_block(cid)
                        .await
                        .map_err(|e| convert::core_error(&e))?;
                    if let Some(Ok(t)) = stored.map(|b| Token::decode(&b)) {
                        known.push(t);
                    }
                }
            }
            let id = inner
                .current_identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let now = (js_sys::Date::now() / 1000.0) as i64;
            let lookup = |c: &ipvm_core::Cid| known.iter().find(|t| t.cid == *c).cloned();
            match id.authority.admit(&token, &lookup, now) {
                Ok(task) => {
                    // Once per store, across tabs and reloads, for others' invocations.
                    if let (AnyStore::IndexedDb(db), Payload::Invocation(inv)) =
                        (&*inner.store, &token.payload)
                    {
                        if let (true, Some(exp)) = (inv.iss != *id.signer.did(), inv.exp) {
                            let first = db
                                .claim_invocation(&token.cid, exp, now)
                                .await
                                .map_err(|e| convert::core_error(&e))?;
                            if !first {
                                let replay = ipvm_core::ucan::UcanError {
                                    kind: ipvm_core::ucan::UcanErrorKind::Replay,
                                    detail: format!(
                                        "invocation {} was accepted already",
                                        token.cid
                                    ),
                                };
                                return Err(convert::ucan_error(&replay, None));
                            }
                        }
                    }
                    let workflow = Workflow { tasks: vec![task] };
                    let cancel = ipvm_core::CancelToken::new();
                    let tasks = execute(&inner, &workflow, on_event.as_ref(), &cancel).await?;
                    convert::task_report(&tasks[0])
                }
                Err(refusal) => {
                    let mut receipt = None;
                    // Only an authentic invocation leaves a receipt: a forgery
                    // must not make this runtime write and sign anything.
                    if let (Payload::Invocation(inv), Ok(())) =
                        (&token.payload, token.verify_signature())
                    {
                        if let Ok(task) = task_of(inv) {
                            let signer: &dyn Signer = &id.signer;
                            let rec = refuse(&*inner.store, Some(signer), &task, &refusal)
                                .await
                                .map_err(|e| convert::core_error(&e))?;
                            receipt = Some(rec.cid);
                        }
                    }
                    Err(convert::ucan_error(&refusal, receipt))
                }
            }
        })
    }

    /// The receipt with this CID, or `null`.
    #[wasm_bindgen(unchecked_return_type = "Promise<StoredReceipt | null>")]
    pub fn receipt(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let rec = memo::receipt(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
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
            let id = inner
                .identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let rec = memo::lookup(&*inner.store, &inner.quarantine, Some(&id.trust), &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
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
            let recs = memo::receipts_for(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
            convert::records(&inner.report(recs))
        })
    }

    /// Every receipt computed from `input` (a module or a data CID).
    #[wasm_bindgen(js_name = receiptsUsing, unchecked_return_type = "Promise<StoredReceipt[]>")]
    pub fn receipts_using(&self, input: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(input));
        future_to_promise(async move {
            let recs = memo::receipts_using(&*inner.store, &inner.quarantine, &cid?)
                .await
                .map_err(|e| convert::core_error(&e))?;
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
            let id = inner
                .current_identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            if let Some(e) = engine
                .as_deref()
                .filter(|e| !matches!(*e, "fast" | "wasmi"))
            {
                return Err(convert::error(
                    "ERR_ARGUMENT",
                    &format!("engine must be \"fast\" or \"wasmi\", not {e:?}"),
                ));
            }
            let v = ipvm_core::verify_on(
                &inner.executor.0,
                &*inner.store,
                &inner.quarantine,
                Some((&id.signer, &id.trust)),
                &cid?,
                engine.as_deref(),
            )
            .await
            .map_err(|e| convert::core_error(&e))?;
            if !v.distrusted.is_empty() {
                inner
                    .save_trust(&id, &[])
                    .await
                    .map_err(|e| convert::core_error(&e))?;
            }
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
            if let AnyStore::IndexedDb(db) = &*inner.store {
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
            let (blocks, receipts) = match &*inner.store {
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
            let bytes = ipvm_core::car::export(&*inner.store, &roots?)
                .await
                .map_err(|e| convert::core_error(&e))?;
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
            let id = inner
                .current_identity()
                .await
                .map_err(|e| convert::core_error(&e))?;
            let n = ipvm_core::car::import(&*inner.store, &id.trust, &bytes)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(convert::imported(&n))
        })
    }

    /// Resolves to `cid` if the file (a module) it names is in the store,
    /// complete and intact, and no larger than a module may be; rejects with
    /// `ERR_BAD_CID`, `ERR_MISSING_BLOCK` or `ERR_TOO_LARGE` (a small DAG that
    /// describes a huge file stops at the module bound, not at what it claims).
    #[wasm_bindgen(js_name = storedModule, unchecked_return_type = "Promise<string>")]
    pub fn stored_module(&self, cid: &str) -> Promise {
        let (inner, cid) = (self.inner.clone(), cid_arg(cid));
        future_to_promise(async move {
            let cid = cid?;
            match ipvm_core::store::read_file_within(
                &*inner.store,
                &cid,
                ipvm_exec::MAX_MODULE_BYTES,
            )
            .await
            {
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
            let bytes = ipvm_core::store::read_file_within(&*inner.store, &cid?, limit)
                .await
                .map_err(|e| convert::core_error(&e))?;
            Ok(js_sys::Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// Closes the store. The runtime must not be used afterwards.
    pub fn close(&self) {
        if let AnyStore::IndexedDb(s) = &*self.inner.store {
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

/// Runs a workflow with this runtime's lock, announcer, quarantine and
/// identity, writing its run record; the task reports.
async fn execute(
    inner: &Rc<Inner>,
    workflow: &Workflow,
    on_event: Option<&Function>,
    cancel: &ipvm_core::CancelToken,
) -> Result<Vec<ipvm_core::TaskReport>, JsValue> {
    let id = inner
        .identity()
        .await
        .map_err(|e| convert::core_error(&e))?;
    let scheduler = Scheduler::new(&inner.executor, &*inner.store)
        .with_parallelism(inner.executor.0.parallelism())
        .with_coordination(&inner.lock, &inner.announcer)
        .with_quarantine(&inner.quarantine)
        .with_identity(&id.signer, &id.trust);
    let mut distrusted = false;
    let log = RunLog::start(inner.store.clone(), workflow);
    let mut emit = |e: &ipvm_core::Event| {
        if let ipvm_core::Event::Rejected {
            receipt, reason, ..
        } = e
        {
            inner.rejected(&[Rejection {
                receipt: receipt.clone(),
                reason: reason.clone(),
            }]);
        }
        if let ipvm_core::Event::Distrusted { signer, reason, .. } = e {
            web_sys_warn(&format!("[ipvm] distrusted {signer}: {reason}"));
            distrusted = true;
        }
        if let Some(log) = &log {
            log.event(e);
        }
        if let Some(f) = on_event {
            // A throwing listener must not abort the run.
            let _ = f.call1(&JsValue::NULL, &convert::event(e));
        }
    };
    let report = scheduler.run(workflow, &mut emit, cancel).await;
    if let Some(log) = &log {
        log.end(&report).await;
    }
    if distrusted {
        inner
            .save_trust(&id, &[])
            .await
            .map_err(|e| convert::core_error(&e))?;
    }
    Ok(report.map_err(|e| convert::core_error(&e))?.tasks)
}

/// Twelve random bytes (a token's nonce), from the platform's generator.
fn random_nonce() -> Result<Vec<u8>, JsValue> {
    crate::identity::random_bytes::<12>()
        .map(|b| b.to_vec())
        .map_err(|e| convert::core_error(&e))
}

/// Signs a token payload with the runtime's key, keeps it as a block, and
/// gives `{cid, bytes}`.
async fn sign_and_keep(
    inner: &Rc<Inner>,
    id: &Identity,
    payload: &Payload,
) -> Result<JsValue, JsValue> {
    let token = Token::sign_payload(&id.signer, payload)
        .await
        .map_err(|e| convert::core_error(&e))?;
    inner
        .store
        .put_block(token.cid, token.bytes.clone())
        .await
        .map_err(|e| convert::core_error(&e))?;
    Ok(convert::ucan_token(&token))
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
