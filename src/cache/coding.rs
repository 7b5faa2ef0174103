//! Content codings a feed is kept in, and compressing a body into each, once per version.

use std::io::Write;

use bytes::Bytes;

use crate::model::Coding;

/// `body` in `coding`. A version is compressed once per coding, when a client first asks for
/// it, so the first answer after a change waits for it: levels are chosen where size stops
/// paying for time. On a 246 KB feed (see `cargo bench --bench render`): gzip 9 ≈ 2 ms; brotli
/// 6 ≈ 2 ms and 1% larger than brotli 9, which takes ≈ 25 ms; zstd 9 ≈ 1 ms and 0.7% larger
/// than zstd 15 (≈ 30 ms). (The cache makes the identity body itself, through its
/// `identity_body` option, so that it can be sent without a copy.)
pub fn encode(coding: Coding, body: &[u8]) -> Bytes {
    match coding {
        Coding::Identity => Bytes::copy_from_slice(body),
        Coding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::best(),
            );
            encoder
                .write_all(body)
                .expect("writing to a Vec cannot fail");
            Bytes::from(encoder.finish().expect("writing to a Vec cannot fail"))
        }
        Coding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 4);
            let params = brotli::enc::BrotliEncoderParams {
                quality: 6,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params)
                .expect("compressing into a Vec cannot fail");
            Bytes::from(out)
        }
        Coding::Zstd => {
            Bytes::from(zstd::bulk::compress(body, 9).expect("compressing into a Vec cannot fail"))
        }
    }
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
}
