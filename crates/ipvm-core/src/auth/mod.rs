//! Identity and authority: Ed25519 identities (`did:key`), signed receipt
//! envelopes, the trust policy (which signers a runtime believes), and UCAN
//! 1.0 tokens with their policies. Imports only the data model.

pub mod envelope;
pub mod identity;
pub mod trust;
pub mod ucan;
