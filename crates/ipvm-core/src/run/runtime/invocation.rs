//! UCAN tokens from and for a runtime (docs/spec.md §5c): minting
//! delegations and `/wasm/run` invocations with the runtime's key (the
//! defaults of `sub` and `aud` are here, once), keeping delegations as
//! proofs, and admission: an invocation runs only if the authority admits
//! it and, when it comes from another principal, its claim in the seen-set
//! is the first. A refused invocation runs nothing; if it is authentic and
//! its task is known, it leaves an `unauthorized` receipt.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::auth::identity::{Did, Signer};
use crate::auth::ucan::wasm::{task_of, WASM_RUN};
use crate::auth::ucan::{Delegation, Invocation, Payload, Token, UcanError, UcanErrorKind};
use crate::model::workflow::Workflow;
use crate::run::admission::refuse;
use crate::run::cancel::CancelToken;
use crate::run::coordinate::{Announcer, InstructionLock};
use crate::run::job::Executor;
use crate::run::records::RunRecords;
use crate::run::report::{Event, RunReport};
use crate::run::runtime::Runtime;
use crate::store::record::ReceiptRecord;
use crate::store::seen::SeenInvocations;
use crate::store::settings::Settings;
use crate::store::{BlockStore, ReceiptStore};
use crate::CoreError;

/// A delegation to mint: everything but the issuer (this runtime) and the
/// nonce.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Who receives the authority.
    pub aud: Did,
    /// The command delegated (`/wasm/run`, `/wasm`, `/`).
    pub cmd: String,
    /// Whose authority: this runtime's if `None` (unless `powerline`).
    pub sub: Option<Did>,
    /// Delegates any subject's authority the issuer holds (`sub: null`).
    pub powerline: bool,
    /// The policy (a list of statements).
    pub pol: Ipld,
    /// Expiry and not-before, seconds since the epoch.
    pub exp: Option<i64>,
    /// Not valid before, seconds since the epoch.
    pub nbf: Option<i64>,
}

/// A `/wasm/run` invocation to mint.
#[derive(Debug, Clone)]
pub struct Call {
    /// Who runs it: `sub` if `None`.
    pub aud: Option<Did>,
    /// Whose authority: this runtime's if `None`.
    pub sub: Option<Did>,
    /// The `/wasm/run` arguments (`ucan::wasm::run_args`).
    pub args: BTreeMap<String, Ipld>,
    /// The delegations' CIDs, root first.
    pub prf: Vec<Cid>,
    /// Expiry, seconds since the epoch.
    pub exp: Option<i64>,
}

/// Why an invocation did not run.
#[derive(Debug)]
pub enum InvocationError {
    /// Refused: nothing ran. `receipt` is the `unauthorized` receipt left
    /// for an authentic invocation whose task is known.
    Refused {
        /// Why.
        error: UcanError,
        /// The refusal's receipt, if one was written.
        receipt: Option<Box<ReceiptRecord>>,
    },
    /// The runtime failed (its store, its key).
    Core(CoreError),
}

impl From<CoreError> for InvocationError {
    fn from(e: CoreError) -> Self {
        InvocationError::Core(e)
    }
}

impl<S, E, K, N, R, L, A> Runtime<S, E, K, N, R, L, A>
where
    S: BlockStore + ReceiptStore,
    E: Executor,
    K: Settings,
    N: SeenInvocations,
    R: RunRecords,
    L: InstructionLock,
    A: Announcer,
{
    /// Signs a delegation from this runtime with `nonce`, and keeps it as a
    /// block (so that invocations may name it in `prf`).
    pub async fn delegate(&self, grant: Grant, nonce: Vec<u8>) -> Result<Token, CoreError> {
        let id = self.identity().await?;
        let own = id.did().clone();
        let payload = Payload::Delegation(Delegation {
            iss: own.clone(),
            aud: grant.aud,
            sub: match grant.powerline {
                true => None,
                false => Some(grant.sub.unwrap_or(own)),
            },
            cmd: grant.cmd,
            pol: grant.pol,
            nonce,
            exp: grant.exp,
            nbf: grant.nbf,
            meta: None,
        });
        self.sign_and_keep(id.signer(), &payload).await
    }

    /// Signs a `/wasm/run` invocation from this runtime with `nonce`
    /// (`sub` defaults to this runtime, `aud` to `sub`), and keeps it as a
    /// block.
    pub async fn invoke(&self, call: Call, nonce: Vec<u8>) -> Result<Token, CoreError> {
        let id = self.identity().await?;
        let sub = call.sub.unwrap_or_else(|| id.did().clone());
        let payload = Payload::Invocation(Invocation {
            iss: id.did().clone(),
            aud: Some(call.aud.unwrap_or_else(|| sub.clone())),
            sub,
            cmd: WASM_RUN.into(),
            args: call.args,
            prf: call.prf,
            nonce,
            exp: call.exp,
            iat: None,
            meta: None,
            cause: None,
        });
        self.sign_and_keep(id.signer(), &payload).await
    }

    async fn sign_and_keep(
        &self,
        signer: &K::Signer,
        payload: &Payload,
    ) -> Result<Token, CoreError> {
        let token = Token::sign_payload(signer, payload).await?;
        self.store()
            .put_block(token.cid, token.bytes.clone())
            .await?;
        Ok(token)
    }

    /// Keeps a delegation (checked: its form and signature) so that
    /// invocations can name it in `prf`. `Ok(Err(_))` names what is wrong;
    /// an invocation is refused as `Malformed`.
    pub async fn add_proof(&self, token: &Token) -> Result<Result<Cid, UcanError>, CoreError> {
        if let Err(e) = token.verify_signature() {
            return Ok(Err(e));
        }
        if !matches!(token.payload, Payload::Delegation(_)) {
            return Ok(Err(UcanError {
                kind: UcanErrorKind::Malformed,
                detail: "the token is an invocation, not a delegation".into(),
            }));
        }
        self.store()
            .put_block(token.cid, token.bytes.clone())
            .await?;
        Ok(Ok(token.cid))
    }

    /// Runs the task of a signed invocation if this runtime admits it at
    /// `now` (seconds): a valid chain (proofs from `given`, else kept
    /// ones), this runtime as audience, an accepted subject, and, for an
    /// invocation from another principal, a first claim in the seen-set.
    pub async fn run_invocation(
        &self,
        token: &Token,
        given: Vec<Token>,
        now: i64,
        on_event: &mut dyn FnMut(&Event),
        cancel: &CancelToken,
    ) -> Result<RunReport, InvocationError> {
        self.admit_and_run(token, given, now, None, true, on_event, cancel)
            .await
    }

    /// [`Runtime::run_invocation`], accepting `also` as a subject for this
    /// one invocation (a development node's self-issued invocations), and
    /// leaving a receipt of a refusal only if `keep_refusal` (a peer's
    /// offload leaves none: a stranger must not make this runtime write).
    #[allow(
        clippy::too_many_arguments,
        reason = "the invocation, its proofs, the clock, and how to admit, report and cancel"
    )]
    pub(crate) async fn admit_and_run(
        &self,
        token: &Token,
        given: Vec<Token>,
        now: i64,
        also: Option<&Did>,
        keep_refusal: bool,
        on_event: &mut dyn FnMut(&Event),
        cancel: &CancelToken,
    ) -> Result<RunReport, InvocationError> {
        let mut known = given;
        if let Payload::Invocation(inv) = &token.payload {
            for cid in &inv.prf {
                if known.iter().any(|t| t.cid == *cid) {
                    continue;
                }
                if let Some(Ok(t)) = self
                    .store()
                    .get_block(cid)
                    .await?
                    .map(|b| Token::decode(&b))
                {
                    known.push(t);
                }
            }
        }
        let id = self.current_identity().await?;
        let lookup = |c: &Cid| known.iter().find(|t| t.cid == *c).cloned();
        let admitted = match id.authority().admit_also(token, &lookup, now, also) {
            Ok(task) => self.claim(token, now).await?.map(|()| task),
            Err(e) => Err(e),
        };
        match admitted {
            Ok(task) => {
                let workflow = Workflow::new(vec![task]);
                Ok(self.run(&workflow, on_event, cancel).await?)
            }
            Err(error) => {
                let mut receipt = None;
                // Only an authentic invocation leaves a receipt: a forgery
                // must not make this runtime write and sign anything.
                if let (true, Payload::Invocation(inv), Ok(())) =
                    (keep_refusal, &token.payload, token.verify_signature())
                {
                    if let Ok(task) = task_of(inv) {
                        let signer: &dyn Signer = id.signer();
                        receipt = Some(Box::new(
                            refuse(self.store(), Some(signer), &task, &error).await?,
                        ));
                    }
                }
                Err(InvocationError::Refused { error, receipt })
            }
        }
    }

    /// Claims an admitted invocation from another principal (once per
    /// store, across restarts); `Err` if it was claimed before.
    async fn claim(&self, token: &Token, now: i64) -> Result<Result<(), UcanError>, CoreError> {
        let Payload::Invocation(inv) = &token.payload else {
            return Ok(Ok(()));
        };
        let id = self.identity().await?;
        let (true, Some(exp)) = (inv.iss != *id.did(), inv.exp) else {
            return Ok(Ok(()));
        };
        Ok(match self.seen.claim(&token.cid, exp, now).await? {
            true => Ok(()),
            false => Err(UcanError {
                kind: UcanErrorKind::Replay,
                detail: format!("invocation {} was accepted already", token.cid),
            }),
        })
    }
}
