//! One version of one document, ready to send: its bytes in every coding, validators and
//! headers prebuilt, so a hit hands out `Bytes` and `HeaderValue`s without formatting.
//!
//! **Last-Modified** has one-second resolution, but the wire can change several times within a
//! second, so it cannot be the second of the last change: a client holding that date would be
//! told 304 after a second change in the same second. The rule here: a document's
//! Last-Modified is the end of the second in which its newest change was committed (the next
//! whole second), and it is handed out — and If-Modified-Since honoured — only once this
//! process has read the store's change sequence (the change bus caught up) at a moment later
//! than that date plus [`CLOCK_SKEW`]. A change committed in the same second as the document's
//! newest one was committed before that read began, so the read saw it and the document was
//! already dropped; any change committed after that moment gets a date at least one second
//! later, so no date handed out can match a later version. The store stamps changes
//! monotonically (never earlier than the previous change), and again as they commit when
//! they were stamped more than half a second before (a long import, a commit that reached the
//! database late), so a change becomes visible soon after its time; `CLOCK_SKEW` covers that
//! and writers whose clocks are behind this one's. Until then the response carries only
//! the ETag, which never lies.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::HeaderValue;

use crate::model::{ArticleId, Coding, FeedDef, FeedFormat};

/// How far apart the clocks of the replicas writing and serving one store may be.
pub const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// The validator of one coding of one version: known as soon as the version is rendered,
/// before (and whether or not) that coding is ever made.
#[derive(Debug, Clone)]
pub struct Tag {
    pub etag: HeaderValue,
    /// Parsed once, for precondition checks.
    pub typed_etag: headers::ETag,
}

/// What identifies an entry's version, for RFC 3229 deltas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryStamp {
    pub id: ArticleId,
    pub updated: DateTime<Utc>,
}

/// One version of one document in one format.
#[derive(Debug)]
pub struct Rendered {
    pub def: FeedDef,
    pub format: FeedFormat,
    /// The store's change sequence before the stories were read.
    pub built_at_seq: u64,
    /// The content hash that every coding's ETag starts with.
    pub tag: String,
    /// Each coding's ETag, indexed by [`Coding::index`].
    pub tags: [Tag; 4],
    /// The body as rendered: on the heap at first, replaced by a copy that can be sent without
    /// copying once one has been made off the request path (when the cache is set up so).
    pub(super) identity: RwLock<Bytes>,
    pub(super) identity_len: usize,
    /// Whether a sendable copy of the identity body has been asked for.
    pub(super) sendable_claimed: AtomicBool,
    /// Compressed bodies, made once each, when a client first asks for that coding
    /// (indexed by [`Coding::index`] − 1).
    pub(super) compressed: [tokio::sync::OnceCell<Bytes>; 3],
    /// Codings (bits by [`Coding::index`]) a client was answered without, as it was not made.
    pub(super) wanted: AtomicU8,
    /// Codings (bits by [`Coding::index`]) being made in the background.
    pub(super) warming: AtomicU8,
    /// Whether a client has been handed this version: only such a version's successor is made
    /// as soon as a change drops it (see [`FeedCache::remake_after_changes`]).
    ///
    /// [`FeedCache::remake_after_changes`]: super::FeedCache::remake_after_changes
    pub(super) read: AtomicBool,
    /// When the document's newest change (or its definition's) was committed.
    pub changed_at: DateTime<Utc>,
    /// The Last-Modified date: the end of the second of `changed_at`.
    pub modified_at: SystemTime,
    pub last_modified: HeaderValue,
    /// From when `last_modified` may be handed out and If-Modified-Since honoured.
    pub dated_from: SystemTime,
    pub content_type: HeaderValue,
    pub link: HeaderValue,
    /// Every entry's id and `updated`, withdrawal notices included.
    pub stamps: Arc<[EntryStamp]>,
    /// Each serving thread's own copies of the header values above, and Cache-Control (see
    /// [`Heads`]).
    pub(super) heads: [OnceLock<Box<Heads>>; HEAD_COPIES],
}

/// Sets of header values a version keeps, one per serving thread, at most.
const HEAD_COPIES: usize = 8;
/// Bytes a version's [`Heads`] take on the two or three threads that answer it, with a 304's
/// and a 200's field templates each: what [`Rendered::weight`] counts for them.
const HEAD_ROOM: usize = 12 * 1024;

static NEXT_HEAD_COPY: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The set of [`Rendered::heads`] this thread takes: each new thread the next one, so the
    /// serving threads, started together, take one each.
    static HEAD_COPY: usize = NEXT_HEAD_COPY.fetch_add(1, Ordering::Relaxed) % HEAD_COPIES;
}

/// A version's header values, as one serving thread hands them out. A `HeaderValue` shares its
/// bytes by a reference count that every response clones and drops; were one value shared by
/// every thread, the cores answering a hot feed's polls would pass that count's cache line
/// back and forth on every response. Copies of their own keep each thread's counts on its
/// core.
#[derive(Debug)]
pub struct Heads {
    /// Each coding's ETag, indexed by [`Coding::index`].
    pub etags: [HeaderValue; 4],
    pub last_modified: HeaderValue,
    pub cache_control: HeaderValue,
    pub content_type: HeaderValue,
    pub link: HeaderValue,
    /// The header fields of this version's 304s, by coding and whether dated (see
    /// [`Heads::template`]), each made by the HTTP layer on this thread's first such 304 and
    /// cloned for each after it: cheaper than inserting them field by field.
    pub not_modified: [OnceLock<http::HeaderMap>; 8],
    /// The header fields of this version's responses with a body, made and cloned likewise.
    pub whole: [OnceLock<http::HeaderMap>; 8],
}

impl Heads {
    /// Where in [`Heads::not_modified`] and [`Heads::whole`] the fields for `coding`, dated or
    /// not, are kept.
    pub fn template(coding: Coding, dated: bool) -> usize {
        coding.index() * 2 + usize::from(dated)
    }
}

/// A copy of `value` with bytes of its own.
fn own(value: &HeaderValue) -> HeaderValue {
    let mut copy = HeaderValue::from_bytes(value.as_bytes()).expect("copied from a valid value");
    copy.set_sensitive(value.is_sensitive());
    copy
}

impl Rendered {
    pub fn tag(&self, coding: Coding) -> &Tag {
        &self.tags[coding.index()]
    }

    /// This thread's copies of the version's header values (made on its first answer of this
    /// version), with Cache-Control as `cache_control` (the HTTP layer's policy) makes it.
    pub fn heads(&self, cache_control: impl FnOnce() -> HeaderValue) -> &Heads {
        let copy = HEAD_COPY.with(|copy| *copy);
        self.heads[copy].get_or_init(|| {
            Box::new(Heads {
                etags: self.tags.each_ref().map(|tag| own(&tag.etag)),
                last_modified: own(&self.last_modified),
                cache_control: cache_control(),
                content_type: own(&self.content_type),
                link: own(&self.link),
                not_modified: Default::default(),
                whole: Default::default(),
            })
        })
    }

    /// The body in `coding`, if it has been made (the identity body always has).
    pub fn ready(&self, coding: Coding) -> Option<Bytes> {
        match coding {
            Coding::Identity => Some(self.identity()),
            _ => self.compressed[coding.index() - 1].get().cloned(),
        }
    }

    /// The body as rendered.
    pub fn identity(&self) -> Bytes {
        self.identity
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether the body in `coding` is made (the identity body always is).
    pub fn is_made(&self, coding: Coding) -> bool {
        coding == Coding::Identity || self.compressed[coding.index() - 1].initialized()
    }

    /// `true` from the second time a client is answered without `coding` for want of it: a
    /// version read once (a feed nobody else polls before it changes again) is not worth a
    /// costlier body in the background; one read twice is being polled.
    pub(super) fn wanted_again(&self, coding: Coding) -> bool {
        let bit = 1 << coding.index();
        self.wanted.fetch_or(bit, Ordering::Relaxed) & bit != 0
    }

    /// `true` the first time it is called for `coding`: the caller is to make that body in the
    /// background.
    pub(super) fn claim_warming(&self, coding: Coding) -> bool {
        let bit = 1 << coding.index();
        self.warming.load(Ordering::Relaxed) & bit == 0
            && self.warming.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// The length of the body as rendered.
    pub fn identity_len(&self) -> usize {
        self.identity_len
    }

    /// Notes that a client was handed this version: a load, and a store only the first time,
    /// so the hot path does not write a line every core reads.
    pub(super) fn mark_read(&self) {
        if !self.read.load(Ordering::Relaxed) {
            self.read.store(true, Ordering::Relaxed);
        }
    }

    /// Whether a client was handed this version.
    pub(super) fn was_read(&self) -> bool {
        self.read.load(Ordering::Relaxed)
    }

    /// `true` the first time it is called: the caller is to make the sendable copy.
    pub(super) fn claim_sendable(&self) -> bool {
        !self.sendable_claimed.load(Ordering::Relaxed)
            && !self.sendable_claimed.swap(true, Ordering::Relaxed)
    }

    /// Replaces the identity body with `sendable`'s copy of it (same bytes). Blocking work: a
    /// copy of the whole body.
    pub(super) fn make_sendable(&self, sendable: fn(&[u8]) -> Bytes) {
        let copy = sendable(&self.identity());
        debug_assert_eq!(copy.len(), self.identity_len);
        *self
            .identity
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = copy;
    }

    /// Weighed once, at insertion: the identity body plus room for the compressed codings
    /// (together about a quarter of it for news XML, at the levels used), and for the header
    /// values and field templates of the threads that answer it ([`HEAD_ROOM`]).
    pub(super) fn weight(&self) -> u32 {
        let bytes = self.identity_len + self.identity_len / 4;
        u32::try_from(bytes + 1024 + HEAD_ROOM + self.stamps.len() * 64).unwrap_or(u32::MAX)
    }
}

/// The Last-Modified date of a document whose newest change was at `changed`: the next whole
/// second after it, and the moment from which that date may be handed out.
pub fn modified_dates(changed: DateTime<Utc>) -> (SystemTime, SystemTime) {
    let second = u64::try_from(changed.timestamp()).unwrap_or(0);
    let modified_at = SystemTime::UNIX_EPOCH + Duration::from_secs(second + 1);
    (modified_at, modified_at + CLOCK_SKEW)
}

/// An IMF-fixdate (RFC 9110 §5.6.7).
pub fn httpdate(t: SystemTime) -> String {
    DateTime::<Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn two_changes_in_one_second_never_share_a_date_that_was_handed_out() {
        let first = at("2026-11-25T10:30:08.100Z");
        let second = at("2026-11-25T10:30:08.900Z");
        let (date, handed_out_from) = modified_dates(first);
        // The first date is not handed out before the second change can happen...
        assert!(SystemTime::from(second) < handed_out_from);
        // ...and a change after it was handed out gets a later date.
        let later = DateTime::<Utc>::from(handed_out_from) + chrono::Duration::nanoseconds(1);
        assert!(modified_dates(later).0 > date);
    }

    #[test]
    fn the_date_is_the_end_of_the_changes_second() {
        let (date, from) = modified_dates(at("2026-11-25T10:30:08.250Z"));
        assert_eq!(httpdate(date), "Wed, 25 Nov 2026 10:30:09 GMT");
        assert_eq!(httpdate(from), "Wed, 25 Nov 2026 10:30:11 GMT");
    }
}
