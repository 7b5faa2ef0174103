//! Content codings a feed is kept in, and compressing a body into each, once per version.

use bytes::Bytes;

use crate::model::Coding;

/// `body` in `coding`. A version is compressed once per coding, when a client first asks for
/// it, so the first answer after a change waits for it: levels are chosen where size stops
/// paying for time. On the 246 KB bench feed (measured 2026-12-02 on the 2-core bench
/// machine): gzip through libdeflate at level 6 ≈ 1.4 ms and 14,451 bytes, where flate2's
/// miniz_oxide at level 9 took ≈ 2.7 ms for 14,356 (libdeflate 9: 2.2 ms, 14,172; 12: 41 ms);
/// brotli 6 ≈ 2–4 ms and 1% larger than brotli 9, which takes ≈ 25 ms; zstd 9 ≈ 1.2 ms and
/// 0.7% larger than zstd 15 (≈ 30 ms). (On a faster machine of the same kind, 2026-12-02:
/// brotli 6 1.3 ms, zstd 9 0.6 ms.) A client that takes several codings as gladly is
/// answered in the cheapest that is made while its best is made in the background
/// (`http::encoding`). (The cache makes the identity body itself, through its `identity_body`
/// option, so that it can be sent without a copy.)
pub fn encode(coding: Coding, body: &[u8]) -> Bytes {
    match coding {
        Coding::Identity => Bytes::copy_from_slice(body),
        Coding::Gzip => GZIP.with_borrow_mut(|compressor| {
            // Zeroed pages from the allocator: only the ones written are touched.
            let mut out = vec![0; compressor.gzip_compress_bound(body.len())];
            let len = compressor
                .gzip_compress(body, &mut out)
                .expect("the bound leaves room for any input");
            // Kept without the room the bound reserved.
            Bytes::copy_from_slice(&out[..len])
        }),
        Coding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 4);
            let params = brotli::enc::BrotliEncoderParams {
                quality: 6,
                lgwin: brotli_window(body.len()),
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params)
                .expect("compressing into a Vec cannot fail");
            // Kept without the room reserved ahead, as gzip's.
            Bytes::copy_from_slice(&out)
        }
        Coding::Zstd => ZSTD.with_borrow_mut(|compressor| {
            let out = compressor
                .compress(body)
                .expect("compressing into a Vec cannot fail");
            // Kept without the room the bound reserved (the whole body's size), as gzip's.
            Bytes::copy_from_slice(&out)
        }),
    }
}

/// The smallest brotli window (log2 of its size, 10 to 22) that holds the whole body: a
/// larger one finds nothing more and costs the encoder tables to clear and fill (on the
/// 246 KB bench feed, a window of 2^18 instead of 2^22 took 1.30 ms instead of 1.52, for the
/// same bytes).
fn brotli_window(len: usize) -> i32 {
    // A window of 2^w holds 2^w − 16 bytes.
    let bits = usize::BITS - (len + 16).saturating_sub(1).leading_zeros();
    i32::try_from(bits).unwrap_or(22).clamp(10, 22)
}

thread_local! {
    /// Each compressing thread's gzip compressor: its state is ~0.5 MB, allocated once.
    static GZIP: std::cell::RefCell<libdeflater::Compressor> = std::cell::RefCell::new(
        libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).expect("a valid level")),
    );
    /// Each compressing thread's zstd context, kept from one body to the next: made afresh,
    /// its match tables were allocated and faulted in for every body (−13% of zstd's time on
    /// the bench feed in a loop, more in the server, where the freed tables go back to the OS).
    static ZSTD: std::cell::RefCell<zstd::bulk::Compressor<'static>> = std::cell::RefCell::new(
        zstd::bulk::Compressor::new(9).expect("zstd accepts level 9"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn every_coding_decodes_back_to_the_body() {
        let body = "<rss>Off the wire: G20 leaders meet in Hangzhou</rss>".repeat(200);
        let gzip = encode(Coding::Gzip, body.as_bytes());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);

        let br = encode(Coding::Brotli, body.as_bytes());
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, body.as_bytes());

        let zstd = encode(Coding::Zstd, body.as_bytes());
        assert_eq!(zstd::decode_all(&zstd[..]).unwrap(), body.as_bytes());
        assert!(gzip.len() < body.len() / 10);
    }

    #[test]
    fn the_brotli_window_is_the_smallest_that_holds_the_body() {
        assert_eq!(brotli_window(1000), 10);
        assert_eq!(brotli_window(10), 10);
        assert_eq!(brotli_window((1 << 18) - 16), 18);
        assert_eq!(brotli_window((1 << 18) - 15), 19);
        assert_eq!(brotli_window(247_610), 18);
        assert_eq!(brotli_window(50 << 20), 22);
    }
}
