//! Asking peers before executing: the instructions a ready set's memo
//! lookup missed go to the [`Peers`] in one request per
//! [`MAX_LOOKUP_BATCH`]; every receipt offered is checked and stored under
//! this runtime's trust policy ([`crate::peer::deliver::accept`]), all in
//! one write, and each instruction gets a [`PeerNote`] saying which peer
//! answered it and why any other offer was not used. The memo is then read
//! again, so a receipt from a peer answers by the same rule as any other.

use std::collections::BTreeMap;

use cid::Cid;

use crate::auth::trust::Trust;
use crate::peer::deliver::{accept, store_received};
use crate::peer::messages::{LookupEntry, LookupRequest, MAX_LOOKUP_BATCH};
use crate::peer::{PeerNote, Peers};
use crate::store::ReceiptStore;
use crate::CoreError;

/// Asks `peers` about `instructions`, stores what this runtime takes, and
/// notes per instruction what came of it (an instruction no peer had is
/// absent). `Err` only if the store fails.
pub async fn ask<S: ReceiptStore + ?Sized>(
    store: &S,
    trust: &Trust,
    peers: &dyn Peers,
    instructions: &[Cid],
) -> Result<BTreeMap<Cid, PeerNote>, CoreError> {
    let mut notes: BTreeMap<Cid, PeerNote> = BTreeMap::new();
    for chunk in instructions.chunks(MAX_LOOKUP_BATCH) {
        let request = LookupRequest {
            instructions: chunk.to_vec(),
        };
        let mut rows = Vec::new();
        for answer in peers.lookup(request).await {
            let entries = match answer.answer {
                Ok(a) if a.entries.len() == chunk.len() => a.entries,
                Ok(a) => {
                    // A carrier that let a wrong-sized answer through: no entry can be matched.
                    let why = format!(
                        "{}: {} entries for {} instructions asked",
                        answer.peer,
                        a.entries.len(),
                        chunk.len()
                    );
                    for cid in chunk {
                        notes.entry(*cid).or_default().unused.push(why.clone());
                    }
                    continue;
                }
                Err(why) => {
                    let why = format!("{}: {why}", answer.peer);
                    for cid in chunk {
                        notes.entry(*cid).or_default().unused.push(why.clone());
                    }
                    continue;
                }
            };
            for (instruction, entry) in chunk.iter().zip(entries) {
                match entry {
                    LookupEntry::None => {}
                    LookupEntry::TooLarge(receipts) => {
                        // A carrier that can fetch them (bitswap) sends them as found.
                        let note = notes.entry(*instruction).or_default();
                        for r in receipts {
                            note.unused.push(format!(
                                "{}: receipt {} is too large to travel in an answer, and was not fetched",
                                answer.peer, r.receipt
                            ));
                        }
                    }
                    LookupEntry::Found(deliveries) => {
                        for delivery in deliveries {
                            let taken = notes.get(instruction).is_some_and(|n| n.from.is_some());
                            if taken {
                                break;
                            }
                            let note = notes.entry(*instruction).or_default();
                            match accept(store, trust, instruction, &delivery).await? {
                                Ok(row) => {
                                    note.from = Some(answer.peer.clone());
                                    rows.push(row);
                                }
                                Err(unused) => {
                                    note.unused.push(format!("{}: {unused}", answer.peer))
                                }
                            }
                        }
                    }
                }
            }
        }
        if !rows.is_empty() {
            store_received(store, rows).await?;
        }
    }
    Ok(notes)
}
