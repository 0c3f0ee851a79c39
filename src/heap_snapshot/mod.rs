//! The opt-in heap snapshot that follows a dump (`options.heapSnapshot`): whether it may
//! be taken ([`decide`], with [`disk`]), the file V8 writes it into ([`raw_file`]), the
//! peak it cost ([`sampler`]), its landing after the dump ([`take`]) and the streaming
//! redaction of what V8 wrote ([`redact`]).

pub mod decide;
pub mod disk;
pub mod raw_file;
pub mod redact;
pub mod sampler;
pub mod take;
