//! Bitswap over the core's store, the parts that do not depend on which
//! store: the hashes bitswap may check blocks with (SHA2-256 and SHA3-256,
//! computed by the core: files are SHA2-256, receipts SHA3-256), and the
//! conversions a bitswap block store needs.

use cid::CidGeneric;
use ipvm_core::address::{cid_of, RAW, SHA2_256, SHA3_256};
use ipvm_core::Cid;
use multihash::Multihash;

/// A CID of any multihash size as the core's CID (64-byte multihashes).
pub fn to_core<const S: usize>(cid: &CidGeneric<S>) -> Result<Cid, blockstore::Error> {
    Cid::try_from(cid.to_bytes()).map_err(|_| blockstore::Error::CidTooLarge)
}

/// A store's error as bitswap's.
pub fn store_error(e: ipvm_core::CoreError) -> blockstore::Error {
    blockstore::Error::StoredDataError(e.to_string())
}

/// SHA2-256 and SHA3-256, the two hashes the core accepts, for bitswap's
/// check of every block it receives; any other is refused.
pub struct CoreHashes;

impl<const S: usize> beetswap::multihasher::Multihasher<S> for CoreHashes {
    async fn hash(
        &self,
        multihash_code: u64,
        input: &[u8],
    ) -> Result<Multihash<S>, beetswap::multihasher::MultihasherError> {
        use beetswap::multihasher::MultihasherError;
        if multihash_code != SHA2_256 && multihash_code != SHA3_256 {
            return Err(MultihasherError::UnknownMultihashCode);
        }
        let cid = cid_of(RAW, multihash_code, input);
        Multihash::<S>::wrap(cid.hash().code(), cid.hash().digest())
            .map_err(|_| MultihasherError::InvalidMultihashSize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beetswap::multihasher::{Multihasher, MultihasherError};
    use futures::executor::block_on;

    #[test]
    fn the_core_hashes_are_computed_and_no_other() {
        let data = b"a block";
        for code in [SHA2_256, SHA3_256] {
            let mh: Multihash<64> = block_on(CoreHashes.hash(code, data)).unwrap();
            assert_eq!(mh.code(), code);
            assert_eq!(mh.digest(), cid_of(RAW, code, data).hash().digest());
        }
        let blake3 = 0x1e;
        let refused: Result<Multihash<64>, _> = block_on(CoreHashes.hash(blake3, data));
        assert!(matches!(
            refused,
            Err(MultihasherError::UnknownMultihashCode)
        ));
        // A digest larger than the multihash's room is refused, not cut.
        let small: Result<Multihash<16>, _> = block_on(CoreHashes.hash(SHA2_256, data));
        assert!(matches!(small, Err(MultihasherError::InvalidMultihashSize)));
    }

    #[test]
    fn a_cid_converts_to_the_cores_whole() {
        let cid = cid_of(RAW, SHA2_256, b"x");
        let wide = CidGeneric::<64>::try_from(cid.to_bytes()).unwrap();
        assert_eq!(to_core(&wide).unwrap(), cid);
    }
}
