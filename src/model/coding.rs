//! Content codings (RFC 9110 §8.4.1) a document is kept and sent in. Compressing is the
//! cache's job; this is only the word and its tokens.

/// A content coding (RFC 9110 §8.4.1) wirefeed can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Identity,
    Gzip,
    Brotli,
    Zstd,
}

impl Coding {
    /// Every coding, in the order variants are stored.
    pub const ALL: [Coding; 4] = [Coding::Identity, Coding::Gzip, Coding::Brotli, Coding::Zstd];

    /// The token in Accept-Encoding and Content-Encoding.
    pub fn token(self) -> &'static str {
        match self {
            Coding::Identity => "identity",
            Coding::Gzip => "gzip",
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// The suffix that makes this coding's ETag distinct from the others'.
    pub fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Identity => "",
            Coding::Gzip => "-gzip",
            Coding::Brotli => "-br",
            Coding::Zstd => "-zstd",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}
