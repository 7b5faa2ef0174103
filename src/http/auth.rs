//! Bearer-token authentication for the ingest API (RFC 6750). Tokens are compared in constant
//! time, every configured token on every request, and are never logged: only a token's name is.

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

pub struct Tokens {
    named: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No token is configured: the ingest API is off.
    Disabled,
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that matches none configured.
    Invalid,
}

impl Tokens {
    pub fn new(named: Vec<(String, String)>) -> Self {
        Self {
            named: named
                .into_iter()
                .map(|(name, token)| (name, token.into_bytes()))
                .collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.named.is_empty()
    }

    /// The name of the token the request carries.
    pub fn check(&self, headers: &HeaderMap) -> Result<&str, AuthError> {
        if !self.enabled() {
            return Err(AuthError::Disabled);
        }
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(AuthError::Missing)?;
        let mut found = None;
        for (name, token) in &self.named {
            // No early exit: the time taken does not say which token came close.
            if bool::from(token.as_slice().ct_eq(presented.as_bytes())) {
                found = Some(name.as_str());
            }
        }
        found.ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn with(auth: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        headers
    }

    #[test]
    fn either_of_two_named_tokens_works_during_a_rotation() {
        let tokens = Tokens::new(vec![
            ("old".into(), "s3cret-old".into()),
            ("new".into(), "s3cret-new".into()),
        ]);
        assert_eq!(tokens.check(&with("Bearer s3cret-old")), Ok("old"));
        assert_eq!(tokens.check(&with("bearer s3cret-new")), Ok("new"));
        assert_eq!(
            tokens.check(&with("Bearer s3cret")),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            tokens.check(&with("Basic czNjcmV0")),
            Err(AuthError::Missing)
        );
        assert_eq!(tokens.check(&HeaderMap::new()), Err(AuthError::Missing));
    }

    #[test]
    fn no_tokens_means_the_api_is_off() {
        assert_eq!(
            Tokens::new(vec![]).check(&with("Bearer x")),
            Err(AuthError::Disabled)
        );
    }
}
