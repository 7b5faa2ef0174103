//! Content codings a feed is kept in, and compressing a body into each, once per version.

use std::io::Write;

use bytes::Bytes;

use crate::model::Coding;
use crate::zerocopy;

impl Coding {
    /// `body` in this coding. Levels favour size: a version is compressed once and then served
    /// many thousands of times. The identity body, the largest, is made sendable without a
    /// copy (one memfd per cached version); compressed ones are a quarter of the size and stay
    /// on the heap, so the cache holds few file descriptors.
    pub fn encode(self, body: &[u8]) -> Bytes {
        match self {
            Coding::Identity => zerocopy::sendable(body),
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
                    quality: 9,
                    lgwin: 22,
                    ..Default::default()
                };
                brotli::BrotliCompress(&mut &body[..], &mut out, &params)
                    .expect("compressing into a Vec cannot fail");
                Bytes::from(out)
            }
            Coding::Zstd => Bytes::from(
                zstd::bulk::compress(body, 15).expect("compressing into a Vec cannot fail"),
            ),
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
        let gzip = Coding::Gzip.encode(body.as_bytes());
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, body);

        let br = Coding::Brotli.encode(body.as_bytes());
        let mut out = Vec::new();
        brotli::BrotliDecompress(&mut &br[..], &mut out).unwrap();
        assert_eq!(out, body.as_bytes());

        let zstd = Coding::Zstd.encode(body.as_bytes());
        assert_eq!(zstd::decode_all(&zstd[..]).unwrap(), body.as_bytes());
        assert!(gzip.len() < body.len() / 10);
    }
}
