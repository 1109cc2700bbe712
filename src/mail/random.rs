//! Random bits for queue ids, Message-IDs and retry jitter: from the OS, with the clock
//! as the fallback when there is no entropy source at all.

use std::time::{SystemTime, UNIX_EPOCH};

/// `N` random bytes; without an entropy source, the clock's nanoseconds (still enough to
/// tell values of one process apart and to spread retries).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    if getrandom::fill(&mut out).is_err() {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            .to_le_bytes();
        for (byte, nano) in out.iter_mut().zip(nanos.iter().cycle()) {
            *byte = *nano;
        }
    }
    out
}

/// A random `u64`; see [`random_bytes`].
pub(crate) fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
        assert_ne!(random_u64(), random_u64());
    }
}
