//! Conversions between the core's types and JS values, and JS errors with a
//! stable `code` that callers can switch on.
//!
//! One file, past 600 lines, on purpose: it is the crate's single
//! conversion module (docs/STYLE: one file per exported class, plus one
//! conversion module), so every JS shape the package reads or writes is
//! decided in one place.

use ipvm_core::run::report::TaskStatus;
use ipvm_core::{CatchNote, CoreError, Event, Handled, Ipld, TaskReport};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// A JS `Error` with `name` "IpvmError" and a stable `code`.
pub(crate) fn error(code: &str, message: &str) -> JsValue {
    debug_assert!(crate::types::ERROR_CODES.contains(&code), "{code}");
    let e = js_sys::Error::new(message);
    e.set_name("IpvmError");
    set(&e, "code", &JsValue::from_str(code));
    e.into()
}

/// The text of a thrown JS value, for a message: an `Error`'s message, a
/// string as it is, anything else as the browser prints it. Never Rust's
/// `JsValue(…)` debug form.
pub(crate) fn js_error_text(e: &JsValue) -> String {
    if let Some(text) = e.as_string() {
        return text;
    }
    let field = |k: &str| {
        Reflect::get(e, &JsValue::from_str(k))
            .ok()
            .and_then(|v| v.as_string())
            .filter(|v| !v.is_empty())
    };
    match (field("name"), field("message")) {
        (Some(name), Some(message)) if name != "Error" && !message.starts_with(&name) => {
            format!("{name}: {message}")
        }
        (_, Some(message)) => message,
        _ => js_string(e),
    }
}

/// `String(value)`, as JS would print it.
pub(crate) fn js_string(v: &JsValue) -> String {
    if v.is_undefined() || v.is_null() {
        return if v.is_null() { "null" } else { "undefined" }.into();
    }
    // Every other value has a `toString` (a symbol's too).
    v.unchecked_ref::<Object>().to_string().into()
}

/// The stable code of a core error: one of [`crate::types::ERROR_CODES`].
pub(crate) fn code(e: &CoreError) -> &'static str {
    match e {
        CoreError::Decode { format: "CAR", .. } => "ERR_CAR_INVALID",
        CoreError::Decode { .. } | CoreError::Shape(_) => "ERR_WORKFLOW_DECODE",
        CoreError::Invalid(_) => "ERR_WORKFLOW_INVALID",
        CoreError::BadCid { .. } => "ERR_BAD_CID",
        CoreError::Encode(_) => "ERR_ENCODE",
        CoreError::HashMismatch { .. } => "ERR_HASH_MISMATCH",
        CoreError::MissingBlock(_) => "ERR_MISSING_BLOCK",
        CoreError::UnixFs { .. } => "ERR_UNIXFS",
        CoreError::TooLarge { .. } => "ERR_TOO_LARGE",
        CoreError::Store(_) => "ERR_STORE",
        CoreError::QuotaExceeded(_) => "ERR_QUOTA_EXCEEDED",
        CoreError::StorageUnavailable(_) => "ERR_STORAGE_UNAVAILABLE",
        CoreError::VersionConflict(_) => "ERR_VERSION_CONFLICT",
        CoreError::Cancelled => "ERR_CANCELLED",
        CoreError::UntrustedInput(_) => "ERR_UNTRUSTED_INPUT",
        CoreError::Fetch { .. } => "ERR_NETWORK",
    }
}

/// The JS error for a core error.
pub(crate) fn core_error(e: &CoreError) -> JsValue {
    let js = error(code(e), &e.to_string());
    if let CoreError::Invalid(v) = e {
        set(&js, "task", &JsValue::from(v.task as u32));
        set(&js, "field", &JsValue::from_str(&v.field));
    }
    js
}

fn set(target: &JsValue, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object or Error cannot fail.
    let _ = Reflect::set(target, &JsValue::from_str(key), value);
}

fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o: JsValue = Object::new().into();
    for (k, v) in fields {
        set(&o, k, v);
    }
    o
}

fn s(v: impl ToString) -> JsValue {
    JsValue::from_str(&v.to_string())
}

/// `{type, task, instruction, receipt?, fuel?, reason?}`.
pub(crate) fn event(e: &Event) -> JsValue {
    match e {
        Event::Queued { task, instruction } => object(&[
            ("type", s("queued")),
            ("task", (*task as u32).into()),
            ("instruction", s(instruction)),
        ]),
        Event::Started { task, instruction } => object(&[
            ("type", s("started")),
            ("task", (*task as u32).into()),
            ("instruction", s(instruction)),
        ]),
        Event::MemoHit {
            task,
            instruction,
            receipt,
        } => object(&[
            ("type", s("memo-hit")),
            ("task", (*task as u32).into()),
            ("instruction", s(instruction)),
            ("receipt", s(receipt)),
        ]),
        Event::Finished {
            task,
            instruction,
            receipt,
            fuel,
        } => object(&[
            ("type", s("finished")),
            ("task", (*task as u32).into()),
            ("instruction", s(instruction)),
            ("receipt", s(receipt)),
            ("fuel", JsValue::from(*fuel as f64)),
        ]),
        Event::Rejected {
            task,
            instruction,
            receipt,
            reason,
        } => object(&[
            ("type", s("rejected")),
            ("task", (*task as u32).into()),
            ("instruction", s(instruction)),
            ("receipt", s(receipt)),
            ("reason", s(reason)),
        ]),
        Event::SpotChecked {
            task,
            instruction,
            receipt,
            verdict,
        } => {
            let (verdict, reason) = verdict_fields(verdict);
            object(&[
                ("type", s("spot-check")),
                ("task", (*task as u32).into()),
                ("instruction", s(instruction)),
                ("receipt", s(receipt)),
                ("verdict", s(verdict)),
                ("reason", reason),
            ])
        }
        Event::Distrusted {
            signer,
            receipt,
            reason,
        } => object(&[
            ("type", s("distrusted")),
            ("signer", s(signer)),
            ("receipt", s(receipt)),
            ("reason", s(reason)),
        ]),
        Event::Fetched { task, cid, outcome } => match outcome {
            Ok(f) => object(&[
                ("type", s("fetched")),
                ("task", (*task as u32).into()),
                ("cid", s(cid)),
                ("blocks", (f.blocks as f64).into()),
                ("fetched", (f.fetched as f64).into()),
                ("bytes", (f.bytes as f64).into()),
            ]),
            Err(reason) => object(&[
                ("type", s("fetch-failed")),
                ("task", (*task as u32).into()),
                ("cid", s(cid)),
                ("reason", s(reason)),
            ]),
        },
        Event::Failed {
            task,
            instruction,
            receipt,
            reason,
        } => object(&[
            ("type", s("failed")),
            ("task", (*task as u32).into()),
            ("instruction", s(instruction)),
            ("receipt", receipt.map_or(JsValue::NULL, s)),
            ("reason", s(reason)),
        ]),
    }
}

/// `{task, instruction, status, receipt, dagJson, ok, fuel, logs, engine,
/// ms, provenance, signers}` or, for a skipped task, `{task, instruction,
/// status: "skipped", reason}`.
pub(crate) fn task_report(t: &TaskReport) -> Result<JsValue, JsValue> {
    parse_json(&report_ipld(t)?)
}

/// Every task's report, built as one JSON text and parsed once: a report
/// made field by field costs a dozen crossings of the JS boundary per task.
pub(crate) fn task_reports(tasks: &[TaskReport]) -> Result<JsValue, JsValue> {
    let list = tasks
        .iter()
        .map(report_ipld)
        .collect::<Result<Vec<_>, _>>()?;
    parse_json(&Ipld::List(list))
}

/// Plain JSON text (no links, no bytes) as a JS value.
fn parse_json(value: &Ipld) -> Result<JsValue, JsValue> {
    let text = ipvm_core::address::to_dag_json(value).map_err(|e| core_error(&e))?;
    js_sys::JSON::parse(&text)
}

fn report_ipld(t: &TaskReport) -> Result<Ipld, JsValue> {
    let text = |v: &dyn ToString| Ipld::String(v.to_string());
    let mut m = std::collections::BTreeMap::from([
        ("task".to_string(), Ipld::Integer(t.task as i128)),
        ("instruction".to_string(), text(&t.instruction)),
    ]);
    let (status, rec) = match &t.status {
        TaskStatus::Ran(r) => ("ran", r),
        TaskStatus::Reused(r) => ("reused", r),
        TaskStatus::Skipped(reason) => {
            m.insert("status".into(), text(&"skipped"));
            m.insert("reason".into(), text(reason));
            return Ok(Ipld::Map(m));
        }
    };
    let logs = match rec.receipt.meta.get("logs") {
        Some(Ipld::List(lines)) => lines
            .iter()
            .filter(|l| matches!(l, Ipld::String(_)))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    let fields = [
        ("logs", Ipld::List(logs)),
        ("status", text(&status)),
        ("receipt", text(&rec.cid)),
        ("ok", Ipld::Bool(rec.receipt.out.is_ok())),
        ("fuel", Ipld::Integer(rec.receipt.fuel() as i128)),
        (
            "dagJson",
            Ipld::String(rec.receipt.to_dag_json().map_err(|e| core_error(&e))?),
        ),
        ("provenance", text(&rec.provenance.as_str())),
        ("engine", t.engine.clone().map_or(Ipld::Null, Ipld::String)),
        (
            "ms",
            t.micros
                .map_or(Ipld::Null, |m| Ipld::Float(m as f64 / 1000.0)),
        ),
        (
            "signers",
            Ipld::List(rec.envelopes.iter().map(|e| text(&e.signer)).collect()),
        ),
        (
            "spotCheck",
            t.spot_check.clone().map_or(Ipld::Null, Ipld::String),
        ),
        (
            "handlerOf",
            match &t.catch {
                Some(CatchNote::Handler { of }) => Ipld::Integer(*of as i128),
                _ => Ipld::Null,
            },
        ),
        ("caught", caught_ipld(t.catch.as_ref())),
        ("peers", peers_ipld(t.peers.as_ref())),
    ];
    m.extend(fields.into_iter().map(|(k, v)| (k.to_string(), v)));
    Ok(Ipld::Map(m))
}

/// What the peers asked for a task said: `{from, ranOn, unused}` (the peer
/// whose receipt was taken, the peer that ran it, and `"<peer>: <reason>"`
/// for each receipt or answer not used), or null when no peer was asked.
fn peers_ipld(note: Option<&ipvm_core::peer::PeerNote>) -> Ipld {
    let Some(note) = note else {
        return Ipld::Null;
    };
    let peer = |p: &Option<String>| p.clone().map_or(Ipld::Null, Ipld::String);
    Ipld::Map(std::collections::BTreeMap::from([
        ("from".to_string(), peer(&note.from)),
        ("ranOn".to_string(), peer(&note.ran_on)),
        (
            "unused".to_string(),
            Ipld::List(note.unused.iter().cloned().map(Ipld::String).collect()),
        ),
    ]))
}

/// A handled task's `caught`: `{by, as, detail}` (`as`: ok, rewire, msg,
/// failed; `detail`: the task rewired to, the message, or why the handler
/// failed), or null.
fn caught_ipld(note: Option<&CatchNote>) -> Ipld {
    let Some(CatchNote::Handled { by, how }) = note else {
        return Ipld::Null;
    };
    let (as_, detail) = match how {
        Handled::Ok => ("ok", Ipld::Null),
        Handled::Rewire { to } => ("rewire", Ipld::Integer(*to as i128)),
        Handled::Msg(m) => ("msg", Ipld::String(m.clone())),
        Handled::Failed(why) => ("failed", Ipld::String(why.clone())),
    };
    Ipld::Map(std::collections::BTreeMap::from([
        ("by".to_string(), Ipld::Integer(*by as i128)),
        ("as".to_string(), Ipld::String(as_.into())),
        ("detail".to_string(), detail),
    ]))
}

/// `{cid, instruction, inputs, provenance, reusable, ok, fuel, dagJson}` for a stored receipt.
pub(crate) fn record(r: &ipvm_core::ReceiptRecord) -> Result<JsValue, JsValue> {
    let inputs = Array::new();
    for c in &r.inputs {
        inputs.push(&s(c));
    }
    let why = r.receipt.not_reusable_because();
    Ok(object(&[
        ("cid", s(r.cid)),
        ("instruction", s(r.instruction)),
        ("inputs", inputs.into()),
        ("provenance", s(r.provenance.as_str())),
        ("trusted", r.is_trusted().into()),
        ("vouched", r.vouched.into()),
        (
            "signers",
            r.envelopes
                .iter()
                .map(|e| s(&e.signer))
                .collect::<Array>()
                .into(),
        ),
        (
            "envelopes",
            r.envelopes
                .iter()
                .map(|e| JsValue::from(js_sys::Uint8Array::from(&e.bytes[..])))
                .collect::<Array>()
                .into(),
        ),
        ("reusable", why.is_none().into()),
        ("notReusableBecause", why.map_or(JsValue::NULL, s)),
        ("ok", r.receipt.out.is_ok().into()),
        ("fuel", JsValue::from(r.receipt.fuel() as f64)),
        (
            "dagJson",
            s(r.receipt.to_dag_json().map_err(|e| core_error(&e))?),
        ),
    ]))
}

fn outcome_json(o: &ipvm_core::Outcome) -> Result<JsValue, JsValue> {
    ipvm_core::address::to_dag_json(&o.to_ipld())
        .map(s)
        .map_err(|e| core_error(&e))
}

/// A JS array of stored receipts.
pub(crate) fn records(rs: &[ipvm_core::ReceiptRecord]) -> Result<JsValue, JsValue> {
    let out = Array::new();
    for r in rs {
        out.push(&record(r)?);
    }
    Ok(out.into())
}

/// `{receipt, reason}`: a stored row that was skipped.
pub(crate) fn rejection(r: &ipvm_core::Rejection) -> JsValue {
    object(&[("receipt", s(&r.receipt)), ("reason", s(&r.reason))])
}

/// `{blocks, receipts, known}`.
pub(crate) fn imported(n: &ipvm_core::car::Imported) -> JsValue {
    object(&[
        ("blocks", (n.blocks as u32).into()),
        ("receipts", (n.receipts as u32).into()),
        ("known", (n.known as u32).into()),
        ("listed", n.listed.iter().map(s).collect::<Array>().into()),
        ("envelopes", (n.envelopes as u32).into()),
        ("vouched", n.vouched.iter().map(s).collect::<Array>().into()),
        (
            "refused",
            n.refused
                .iter()
                .map(|(cid, why)| {
                    object(&[
                        ("envelope", s(cid)),
                        ("reason", s(why.code())),
                        ("message", s(why)),
                    ])
                })
                .collect::<Array>()
                .into(),
        ),
    ])
}

/// `{valid, receipt, signer, reason, message, envelopes}`.
pub(crate) fn receipt_check(c: &ipvm_core::envelope::ReceiptCheck) -> JsValue {
    let (signer, reason, message) = match &c.verdict {
        Ok(did) => (s(did), JsValue::NULL, JsValue::NULL),
        Err(why) => (JsValue::NULL, s(why.code()), s(why)),
    };
    let envelopes: Array = c
        .envelopes
        .iter()
        .map(|e| match e {
            Ok(did) => object(&[("valid", true.into()), ("signer", s(did))]),
            Err(why) => object(&[
                ("valid", false.into()),
                ("reason", s(why.code())),
                ("message", s(why)),
            ]),
        })
        .collect();
    object(&[
        ("valid", c.verdict.is_ok().into()),
        ("receipt", c.receipt.map_or(JsValue::NULL, s)),
        ("signer", signer),
        ("reason", reason),
        ("message", message),
        ("envelopes", envelopes.into()),
    ])
}

/// `{self, signers, distrusted, verifyRate}`.
pub(crate) fn trust_report(t: &ipvm_core::Trust) -> JsValue {
    object(&[
        ("self", s(t.own())),
        (
            "signers",
            t.signers().iter().map(s).collect::<Array>().into(),
        ),
        (
            "distrusted",
            t.distrusted()
                .iter()
                .map(|(did, why)| object(&[("signer", s(did)), ("reason", s(why))]))
                .collect::<Array>()
                .into(),
        ),
        ("verifyRate", t.verify_rate().into()),
    ])
}

/// `{receipt, instruction, verdict, reason, matches, provenance, promoted,
/// nondeterministic, expected, actual, expectedFuel, actualFuel}`.
/// A verdict's name and reason (null unless incomparable).
fn verdict_fields(v: &ipvm_core::Verdict) -> (&'static str, JsValue) {
    match v {
        ipvm_core::Verdict::Match => ("match", JsValue::NULL),
        ipvm_core::Verdict::Mismatch => ("mismatch", JsValue::NULL),
        ipvm_core::Verdict::Incomparable(why) => ("incomparable", s(why)),
    }
}

pub(crate) fn verification(v: &ipvm_core::Verification) -> Result<JsValue, JsValue> {
    let (verdict, reason) = verdict_fields(&v.verdict);
    Ok(object(&[
        ("receipt", s(v.receipt)),
        ("instruction", s(v.instruction)),
        ("verdict", s(verdict)),
        ("reason", reason),
        ("matches", v.matches().into()),
        ("provenance", s(v.provenance.as_str())),
        ("promoted", v.promoted.into()),
        ("attested", v.attested.into()),
        (
            "distrusted",
            v.distrusted.iter().map(s).collect::<Array>().into(),
        ),
        ("nondeterministic", v.nondeterministic.into()),
        ("expected", outcome_json(&v.expected)?),
        ("actual", outcome_json(&v.actual)?),
        ("expectedFuel", JsValue::from(v.expected_fuel as f64)),
        ("actualFuel", JsValue::from(v.actual_fuel as f64)),
        (
            "engine",
            v.engine.as_deref().map_or(JsValue::NULL, JsValue::from_str),
        ),
    ]))
}

/// `{blocks, receipts}`.
pub(crate) fn counts(blocks: u32, receipts: u32) -> JsValue {
    object(&[("blocks", blocks.into()), ("receipts", receipts.into())])
}

/// A cancel token that fires when the AbortSignal `signal` aborts (or never,
/// if `signal` is not an object).
pub(crate) fn cancel_token(signal: &JsValue) -> ipvm_core::CancelToken {
    let token = ipvm_core::CancelToken::new();
    if !signal.is_object() {
        return token;
    }
    if Reflect::get(signal, &JsValue::from_str("aborted"))
        .map(|v| v.is_truthy())
        .unwrap_or(false)
    {
        token.cancel();
        return token;
    }
    let on_abort = token.clone();
    let callback = wasm_bindgen::closure::Closure::once_into_js(move || on_abort.cancel());
    let add = Reflect::get(signal, &JsValue::from_str("addEventListener"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    if let Some(add) = add {
        let _ = add.call2(signal, &JsValue::from_str("abort"), &callback);
    }
    token
}

/// Reads `{signers?: string[], verifyRate?: number}` (the `trust` option);
/// each mistake is an `ERR_ARGUMENT` naming the field.
/// The spot-check seed is left 0: the runtime draws it from the platform.
pub(crate) fn trust_options(v: &JsValue) -> Result<ipvm_core::TrustOptions, JsValue> {
    let bad = |field: &str, why: &str| error("ERR_ARGUMENT", &format!("trust.{field}: {why}"));
    let mut out = ipvm_core::TrustOptions::default();
    if v.is_undefined() || v.is_null() {
        return Ok(out);
    }
    if !v.is_object() {
        return Err(error(
            "ERR_ARGUMENT",
            "trust: expected {signers?: string[], verifyRate?: number}",
        ));
    }
    for key in Object::keys(v.unchecked_ref::<Object>()).iter() {
        let key = key.as_string().unwrap_or_default();
        if !["signers", "verifyRate", "authorities"].contains(&key.as_str()) {
            return Err(bad(
                &key,
                "unknown option (known: signers, verifyRate, authorities)",
            ));
        }
    }
    // Each field through serde-wasm-bindgen, so that a mistake names its field.
    let field = |k: &str| Reflect::get(v, &JsValue::from_str(k)).unwrap_or_default();
    let signers: Option<Vec<String>> =
        serde_wasm_bindgen::from_value(field("signers")).map_err(|e| {
            bad(
                "signers",
                &format!("expected a list of DIDs (did:key:z6Mk…): {e}"),
            )
        })?;
    for (i, text) in signers.unwrap_or_default().iter().enumerate() {
        let did = ipvm_core::Did::parse(text)
            .map_err(|e| bad(&format!("signers[{i}]"), &e.to_string()))?;
        out.signers.push(did);
    }
    let authorities: Option<Vec<String>> = serde_wasm_bindgen::from_value(field("authorities"))
        .map_err(|e| {
            bad(
                "authorities",
                &format!("expected a list of DIDs (did:key:z6Mk…): {e}"),
            )
        })?;
    for (i, text) in authorities.unwrap_or_default().iter().enumerate() {
        let did = ipvm_core::Did::parse(text)
            .map_err(|e| bad(&format!("authorities[{i}]"), &e.to_string()))?;
        out.authorities.push(did);
    }
    let rate: Option<f64> = serde_wasm_bindgen::from_value(field("verifyRate"))
        .map_err(|e| bad("verifyRate", &format!("expected a number from 0 to 1: {e}")))?;
    if let Some(rate) = rate {
        if !(0.0..=1.0).contains(&rate) {
            return Err(bad(
                "verifyRate",
                &format!("expected a number from 0 to 1, got {rate}"),
            ));
        }
        out.verify_rate = rate;
    }
    Ok(out)
}

/// A receipt to check with [`crate::runtime::Runtime::verify_receipt`].
pub(crate) enum SignedReceipt {
    /// A stored receipt, by CID: checked with its stored envelopes.
    Stored(ipvm_core::Cid),
    /// Bytes given: the receipt and its envelopes (DAG-CBOR).
    Given {
        receipt: Vec<u8>,
        envelopes: Vec<Vec<u8>>,
    },
}

/// Reads a CID string or `{receipt: Uint8Array, envelopes: Uint8Array[]}`.
pub(crate) fn signed_receipt(v: &JsValue) -> Result<SignedReceipt, JsValue> {
    if let Some(text) = v.as_string() {
        return ipvm_core::parse_cid(&text)
            .map(SignedReceipt::Stored)
            .map_err(|e| core_error(&e));
    }
    let bad = |why: &str| error("ERR_ARGUMENT", &format!("verifyReceipt: {why}"));
    let bytes = |x: JsValue, what: &str| {
        x.dyn_into::<js_sys::Uint8Array>()
            .map(|a| a.to_vec())
            .map_err(|_| bad(&format!("`{what}` is not a Uint8Array")))
    };
    if !v.is_object() {
        return Err(bad(
            "expected a receipt CID, or {receipt: Uint8Array, envelopes: Uint8Array[]}",
        ));
    }
    let receipt = bytes(
        Reflect::get(v, &JsValue::from_str("receipt")).unwrap_or_default(),
        "receipt",
    )?;
    let list = Reflect::get(v, &JsValue::from_str("envelopes")).unwrap_or_default();
    let envelopes = match list {
        l if l.is_undefined() => Vec::new(),
        l if Array::is_array(&l) => Array::from(&l)
            .iter()
            .enumerate()
            .map(|(i, e)| bytes(e, &format!("envelopes[{i}]")))
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("`envelopes` is not a list of Uint8Array")),
    };
    Ok(SignedReceipt::Given { receipt, envelopes })
}

/// The options of `Runtime.delegate`, read with serde-wasm-bindgen.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegateJs {
    aud: String,
    cmd: String,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    powerline: bool,
    #[serde(default)]
    pol: Option<Ipld>,
    #[serde(default)]
    exp: Option<i64>,
    #[serde(default)]
    nbf: Option<i64>,
}

fn did_field(what: &str, field: &str, text: &str) -> Result<ipvm_core::Did, JsValue> {
    ipvm_core::Did::parse(text)
        .map_err(|e| error("ERR_ARGUMENT", &format!("{what}: `{field}`: {e}")))
}

/// A checked `Runtime.delegate` request, as the core's grant.
pub(crate) fn delegate_options(v: &JsValue) -> Result<ipvm_core::run::runtime::Grant, JsValue> {
    let o: DelegateJs = serde_wasm_bindgen::from_value(v.clone())
        .map_err(|e| error("ERR_ARGUMENT", &format!("delegate: {e}")))?;
    Ok(ipvm_core::run::runtime::Grant {
        aud: did_field("delegate", "aud", &o.aud)?,
        sub: o
            .sub
            .as_deref()
            .map(|s| did_field("delegate", "sub", s))
            .transpose()?,
        cmd: o.cmd,
        powerline: o.powerline,
        pol: o.pol.unwrap_or(Ipld::List(Vec::new())),
        exp: o.exp,
        nbf: o.nbf,
    })
}

/// The options of `Runtime.invoke`, read with serde-wasm-bindgen.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InvokeJs {
    module: String,
    func: String,
    #[serde(default)]
    args: Option<Vec<Ipld>>,
    #[serde(default)]
    fuel: Option<u64>,
    #[serde(default)]
    memory: Option<u64>,
    #[serde(default)]
    time: Option<u64>,
    #[serde(default)]
    nnc: Option<String>,
    #[serde(default)]
    aud: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    prf: Option<Vec<String>>,
    #[serde(default)]
    exp: Option<i64>,
}

/// A checked `Runtime.invoke` request, as the core's call: the task's args
/// map, and the rest.
pub(crate) fn invoke_options(v: &JsValue) -> Result<ipvm_core::run::runtime::Call, JsValue> {
    let o: InvokeJs = serde_wasm_bindgen::from_value(v.clone())
        .map_err(|e| error("ERR_ARGUMENT", &format!("invoke: {e}")))?;
    let module = ipvm_core::parse_cid(&o.module)
        .map_err(|e| error("ERR_ARGUMENT", &format!("invoke: `module`: {e}")))?;
    let args = ipvm_core::ucan::wasm::run_args(
        &module,
        &o.func,
        o.args.unwrap_or_default(),
        ipvm_core::Limits {
            fuel: o.fuel,
            memory: o.memory,
            time: o.time,
        },
        o.nnc,
    );
    let prf = o
        .prf
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            ipvm_core::parse_cid(c)
                .map_err(|e| error("ERR_ARGUMENT", &format!("invoke: `prf[{i}]`: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(ipvm_core::run::runtime::Call {
        args,
        aud: o
            .aud
            .as_deref()
            .map(|s| did_field("invoke", "aud", s))
            .transpose()?,
        sub: o
            .sub
            .as_deref()
            .map(|s| did_field("invoke", "sub", s))
            .transpose()?,
        prf,
        exp: o.exp,
    })
}

/// `{cid, bytes}` of a token.
pub(crate) fn ucan_token(t: &ipvm_core::ucan::Token) -> JsValue {
    object(&[
        ("cid", s(t.cid)),
        ("bytes", js_sys::Uint8Array::from(&t.bytes[..]).into()),
    ])
}

/// `ERR_UNAUTHORIZED`, with `reason` (the refusal's name) and `receipt`
/// (the unauthorized receipt's CID, or null).
pub(crate) fn ucan_error(
    e: &ipvm_core::ucan::UcanError,
    receipt: Option<ipvm_core::Cid>,
) -> JsValue {
    let err = error("ERR_UNAUTHORIZED", &e.to_string());
    set(&err, "reason", &s(e.kind.name()));
    set(&err, "receipt", &receipt.map_or(JsValue::NULL, s));
    err
}

/// A JS list of `Uint8Array`s (or undefined: none).
pub(crate) fn byte_list(v: &JsValue, what: &str) -> Result<Vec<Vec<u8>>, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Vec::new());
    }
    if !Array::is_array(v) {
        return Err(error(
            "ERR_ARGUMENT",
            &format!("{what} must be a list of Uint8Array"),
        ));
    }
    Array::from(v)
        .iter()
        .enumerate()
        .map(|(i, b)| {
            b.dyn_into::<js_sys::Uint8Array>()
                .map(|a| a.to_vec())
                .map_err(|_| error("ERR_ARGUMENT", &format!("{what}[{i}] is not a Uint8Array")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ERROR_CODES;

    #[test]
    fn every_code_is_in_the_published_list() {
        let cid = ipvm_core::address::raw_cid(b"x");
        let errors = [
            CoreError::Decode {
                format: "x",
                reason: String::new(),
            },
            CoreError::Decode {
                format: "CAR",
                reason: String::new(),
            },
            CoreError::Shape(String::new()),
            CoreError::BadCid {
                input: String::new(),
                reason: String::new(),
            },
            CoreError::Encode(String::new()),
            CoreError::HashMismatch {
                cid: Box::new(cid),
                actual: Box::new(cid),
            },
            CoreError::MissingBlock(Box::new(cid)),
            CoreError::UnixFs {
                cid: Box::new(cid),
                reason: String::new(),
            },
            CoreError::TooLarge {
                cid: Box::new(cid),
                limit: 0,
            },
            CoreError::Store(String::new()),
            CoreError::QuotaExceeded(String::new()),
            CoreError::StorageUnavailable(String::new()),
            CoreError::VersionConflict(String::new()),
            CoreError::Cancelled,
            CoreError::Fetch {
                cid: Box::new(cid),
                reason: String::new(),
            },
        ];
        for e in &errors {
            assert!(ERROR_CODES.contains(&code(e)), "{}", code(e));
        }
    }
}

/// A connected peer for the page (the network build).
#[cfg(feature = "net")]
pub(crate) fn peer_info(p: &ipvm_tab_net::PeerInfo) -> JsValue {
    let o: JsValue = Object::new().into();
    set(&o, "peerId", &JsValue::from_str(&p.peer_id));
    set(
        &o,
        "did",
        &p.did.as_deref().map_or(JsValue::NULL, JsValue::from_str),
    );
    set(&o, "bound", &JsValue::from_bool(p.bound));
    set(&o, "transport", &JsValue::from_str(p.transport));
    set(&o, "address", &JsValue::from_str(&p.address));
    o
}

/// A peer event for the page (the network build).
#[cfg(feature = "net")]
pub(crate) fn peer_event(e: &ipvm_tab_net::PeerEvent) -> JsValue {
    use ipvm_tab_net::PeerEvent;
    let o: JsValue = Object::new().into();
    let text = |v: &str| JsValue::from_str(v);
    match e {
        PeerEvent::Connected(p) => {
            set(&o, "type", &text("peer-connected"));
            set(&o, "peer", &peer_info(p));
        }
        PeerEvent::Disconnected { peer_id, reason } => {
            set(&o, "type", &text("peer-disconnected"));
            set(&o, "peerId", &text(peer_id));
            set(&o, "reason", &text(reason));
        }
        PeerEvent::Bound { peer_id, did } => {
            set(&o, "type", &text("peer-bound"));
            set(&o, "peerId", &text(peer_id));
            set(&o, "did", &text(did));
        }
        PeerEvent::BindingFailed { peer_id, reason } => {
            set(&o, "type", &text("peer-binding-failed"));
            set(&o, "peerId", &text(peer_id));
            set(&o, "reason", &text(reason));
        }
        PeerEvent::DialFailed {
            address,
            reason,
            retry_in,
        } => {
            set(&o, "type", &text("peer-dial-failed"));
            set(&o, "address", &text(address));
            set(&o, "reason", &text(reason));
            set(
                &o,
                "retryInMs",
                &JsValue::from_f64(retry_in.as_millis() as f64),
            );
        }
    }
    o
}
