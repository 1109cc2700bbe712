//! The queue record: how the disk spool and Redis store one [`QueuedMessage`].
//!
//! A record is a fixed 14-byte header (magic `SQML`, a u16 format version, the u32 body
//! length, the body's u32 CRC-32, all little-endian) and then the body, the message in
//! bincode. A reader checks the header, the length limit and the CRC before it trusts a
//! byte of the body, so a torn or foreign file is reported, never half-read.

use std::fs::File;
use std::io::{self, Read, Write};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

const MAGIC: &[u8; 4] = b"SQML";
const VERSION: u16 = 1;
const HEADER_LEN: usize = 14;
/// The largest record body accepted: 64 MiB, far above any mail server's size limit.
pub(crate) const MAX_RECORD_BYTES: usize = 64 << 20;

/// Why a spool record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The file is shorter than its header says.
    #[error("truncated: {have} bytes, the header says {want}")]
    Truncated {
        /// Bytes present.
        have: u64,
        /// Bytes the header promises.
        want: u64,
    },
    /// The file does not start with `SQML`.
    #[error("bad magic {0:02x?}: not a squall spool record")]
    BadMagic([u8; 4]),
    /// A format version this build does not know.
    #[error("unknown record format version {0} (this build reads version {VERSION})")]
    UnknownVersion(u16),
    /// The length field exceeds the limit of 64 MiB.
    #[error("length field {0} exceeds the limit of {MAX_RECORD_BYTES} bytes")]
    TooLarge(u64),
    /// The body's CRC-32 does not match the header.
    #[error("CRC mismatch: header {expected:08x}, body {actual:08x}")]
    BadCrc {
        /// From the header.
        expected: u32,
        /// Computed over the body.
        actual: u32,
    },
    /// The body is not a valid bincode message.
    #[error("body does not decode: {0}")]
    Decode(String),
    /// Bytes follow the body.
    #[error("{0} unexpected bytes after the record")]
    TrailingBytes(u64),
    /// The message encodes to more than the 64 MiB a record may hold.
    #[error("the message encodes to {0} bytes, over the limit of {MAX_RECORD_BYTES}")]
    BodyTooLarge(usize),
    /// The message could not be encoded at all.
    #[error("the message does not encode: {0}")]
    Encode(String),
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// The header of a record whose body is `len` bytes with CRC-32 `crc`.
fn header(len: usize, crc: u32) -> Result<[u8; HEADER_LEN], RecordError> {
    let len = u32::try_from(len)
        .ok()
        .filter(|n| *n as usize <= MAX_RECORD_BYTES)
        .ok_or(RecordError::BodyTooLarge(len))?;
    let mut out = [0u8; HEADER_LEN];
    out[..4].copy_from_slice(MAGIC);
    out[4..6].copy_from_slice(&VERSION.to_le_bytes());
    out[6..10].copy_from_slice(&len.to_le_bytes());
    out[10..].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Encodes a value as one queue record: header and body.
pub(crate) fn encode_record<T: Serialize>(value: &T) -> Result<Vec<u8>, RecordError> {
    let body = bincode::serde::encode_to_vec(value, bincode_config())
        .map_err(|e| RecordError::Encode(e.to_string()))?;
    let header = header(body.len(), crc32fast::hash(&body))?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    Ok(out)
}

/// Counts and hashes what is written to it, and keeps nothing.
#[derive(Default)]
struct Summing {
    len: usize,
    crc: crc32fast::Hasher,
}

impl Write for Summing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len();
        self.crc.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A record written straight into a file, never held whole: a first encoding pass that
/// keeps nothing sizes and hashes the body for the header, and
/// [`write_to`](Self::write_to) encodes the body again into the file. For a large message
/// this saves holding its encoding beside the message itself.
pub(crate) struct RecordWriter<'a, T> {
    value: &'a T,
    header: [u8; HEADER_LEN],
}

impl<'a, T: Serialize> RecordWriter<'a, T> {
    /// Sizes and hashes the record of `value`: an error when it cannot be one.
    pub(crate) fn new(value: &'a T) -> Result<Self, RecordError> {
        let mut sum = Summing::default();
        bincode::serde::encode_into_std_write(value, &mut sum, bincode_config())
            .map_err(|e| RecordError::Encode(e.to_string()))?;
        let header = header(sum.len, sum.crc.finalize())?;
        Ok(RecordWriter { value, header })
    }

    /// Writes the record, the same bytes [`encode_record`] makes, into `out`.
    pub(crate) fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        let mut out = io::BufWriter::new(out);
        out.write_all(&self.header)?;
        bincode::serde::encode_into_std_write(self.value, &mut out, bincode_config()).map_err(
            |e| match e {
                bincode::error::EncodeError::Io { inner, .. } => inner,
                other => io::Error::other(other.to_string()),
            },
        )?;
        out.flush()
    }
}

/// Checks a record header against the file size; returns the body length and CRC.
fn check_header(header: &[u8; HEADER_LEN], size: u64) -> Result<(usize, u32), RecordError> {
    let magic = [header[0], header[1], header[2], header[3]];
    if &magic != MAGIC {
        return Err(RecordError::BadMagic(magic));
    }
    let version = u16::from_le_bytes([header[4], header[5]]);
    if version != VERSION {
        return Err(RecordError::UnknownVersion(version));
    }
    let len = u64::from(u32::from_le_bytes([
        header[6], header[7], header[8], header[9],
    ]));
    let crc = u32::from_le_bytes([header[10], header[11], header[12], header[13]]);
    if len > MAX_RECORD_BYTES as u64 {
        return Err(RecordError::TooLarge(len));
    }
    let want = HEADER_LEN as u64 + len;
    if size < want {
        return Err(RecordError::Truncated { have: size, want });
    }
    if size > want {
        return Err(RecordError::TrailingBytes(size - want));
    }
    Ok((len as usize, crc))
}

/// A value a record body decodes to. It is handed the whole body, checked against its
/// CRC, so it can keep slices of it (`Bytes::slice_ref`) rather than copies.
pub(crate) trait FromBody: Sized {
    /// Decodes `body`, a checked record body.
    fn from_body(body: Bytes) -> Result<Self, RecordError>;
}

/// Decodes a record body in bincode, borrowing from it what the type borrows.
pub(crate) fn decode_body<'de, T: Deserialize<'de>>(body: &'de [u8]) -> Result<T, RecordError> {
    bincode::serde::borrow_decode_from_slice::<T, _>(body, bincode_config())
        .map(|(value, _)| value)
        .map_err(|e| RecordError::Decode(e.to_string()))
}

fn checked_body<T: FromBody>(body: Bytes, expected: u32) -> Result<T, RecordError> {
    let actual = crc32fast::hash(&body);
    if actual != expected {
        return Err(RecordError::BadCrc { expected, actual });
    }
    T::from_body(body)
}

/// Decodes one whole record (header and body) held in `record`, which the value may keep
/// slices of.
pub(crate) fn decode_record<T: FromBody>(record: Bytes) -> Result<T, RecordError> {
    let header: &[u8; HEADER_LEN] = record
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(RecordError::Truncated {
            have: record.len() as u64,
            want: HEADER_LEN as u64,
        })?;
    let (_, crc) = check_header(header, record.len() as u64)?;
    checked_body(record.slice(HEADER_LEN..), crc)
}

/// Reads one record from `file`, checking the header before allocating for the body. The
/// body is read into one buffer, which the value keeps slices of: a message's bytes are
/// never copied out of it.
pub(crate) fn read_record<T: FromBody>(
    file: &mut File,
) -> Result<Result<T, RecordError>, io::Error> {
    let size = file.metadata()?.len();
    let mut header = [0u8; HEADER_LEN];
    if read_up_to(file, &mut header)? < HEADER_LEN {
        return Ok(Err(RecordError::Truncated {
            have: size,
            want: HEADER_LEN as u64,
        }));
    }
    let (len, crc) = match check_header(&header, size) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    let mut body = vec![0u8; len];
    if read_up_to(file, &mut body)? < len {
        return Ok(Err(RecordError::Truncated {
            have: size,
            want: (HEADER_LEN + len) as u64,
        }));
    }
    Ok(checked_body(Bytes::from(body), crc))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{Email, QueuedMessage};

    fn message() -> QueuedMessage {
        let email = Email::builder()
            .from("a@example.com")
            .to("b@example.com")
            .subject("s")
            .text("t")
            .build()
            .unwrap();
        QueuedMessage::new(&email.render().unwrap())
    }

    fn decode(bytes: &[u8]) -> Result<QueuedMessage, RecordError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        std::fs::write(&path, bytes).unwrap();
        read_record(&mut File::open(&path).unwrap()).unwrap()
    }

    #[test]
    fn record_round_trip_and_each_corruption() {
        let m = message();
        let bytes = encode_record(&m).unwrap();
        assert_eq!(decode(&bytes).unwrap(), m);
        let mut written = Vec::new();
        RecordWriter::new(&m)
            .unwrap()
            .write_to(&mut written)
            .unwrap();
        assert_eq!(written, bytes, "written straight, the record is the same");

        assert!(matches!(
            decode(&bytes[..bytes.len() - 3]),
            Err(RecordError::Truncated { .. })
        ));
        assert!(matches!(
            decode(&bytes[..5]),
            Err(RecordError::Truncated { .. })
        ));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(matches!(decode(&bad), Err(RecordError::BadMagic(_))));
        let mut bad = bytes.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(RecordError::UnknownVersion(9)));
        let mut bad = bytes.clone();
        bad[6..10].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            decode(&bad),
            Err(RecordError::TooLarge(u64::from(u32::MAX)))
        );
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(decode(&bad), Err(RecordError::BadCrc { .. })));
        let mut bad = bytes.clone();
        bad.push(0);
        assert_eq!(decode(&bad), Err(RecordError::TrailingBytes(1)));
    }

    /// A record written by the first release (bodies were `Vec<u8>` then): it must still
    /// decode, and the same message must encode to the very same bytes.
    #[test]
    fn records_of_the_first_release_decode_and_encode_byte_for_byte() {
        let fixture = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mail/record_v1.bin"
        ));
        let message: QueuedMessage = decode_record(Bytes::from_static(fixture)).unwrap();
        let body: Vec<u8> = (0..=255u8)
            .chain(b"Subject: fixture\r\n\r\nbody\r\n".iter().copied())
            .collect();
        assert_eq!(
            message,
            QueuedMessage {
                id: "1700000000000-4242-00000000abcd".into(),
                created_unix_ms: 1_700_000_000_000,
                attempts: 3,
                next_attempt_unix_ms: 1_700_000_060_000,
                last_error: Some("451 4.3.0 try again later".into()),
                from: "site@example.com".into(),
                recipients: vec!["a@example.com".into(), "b@example.com".into()],
                message_id: "<fixture@example.com>".into(),
                bytes: body.into(),
            }
        );
        assert_eq!(encode_record(&message).unwrap(), fixture);
    }
}
