//! The opt-in heap snapshot that follows a dump (`options.heapSnapshot`): whether and how
//! it is taken ([`take`]), and the streaming redaction of what V8 wrote ([`redact`]).

pub mod redact;
pub mod take;
