//! Bearer-token authentication for the ingest API (RFC 6750), and for the operator's page also
//! Basic authentication (RFC 7617) with a token as the password, so a browser can sign in.
//! Tokens are compared in constant time, every configured token on every request, and are
//! never logged: only a token's name is.

use headers::HeaderMapExt;
use headers::authorization::{Authorization, Basic};
use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;
use subtle::ConstantTimeEq;

pub(crate) struct Tokens {
    named: Vec<(String, Vec<u8>)>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No token is configured: the ingest API is off.
    Disabled,
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token that matches none configured.
    Invalid,
}

impl Tokens {
    pub(crate) fn new(named: Vec<(String, String)>) -> Self {
        Self {
            named: named
                .into_iter()
                .map(|(name, token)| (name, token.into_bytes()))
                .collect(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.named.is_empty()
    }

    /// The name of the token the request carries.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<&str, AuthError> {
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
        self.matching(presented)
    }

    /// Like [`Tokens::check`], and also accepts a token as the password of `Authorization:
    /// Basic` with any user name: what a browser sends for the operator's page.
    pub(crate) fn check_operator(&self, headers: &HeaderMap) -> Result<&str, AuthError> {
        if !self.enabled() {
            return Err(AuthError::Disabled);
        }
        match headers.typed_get::<Authorization<Basic>>() {
            Some(basic) => self.matching(basic.password()),
            None => self.check(headers),
        }
    }

    fn matching(&self, presented: &str) -> Result<&str, AuthError> {
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
    fn the_operators_page_also_takes_a_token_as_a_basic_password() {
        let tokens = Tokens::new(vec![("desk".into(), "s3cret".into())]);
        // "editor:s3cret" and "editor:wrong".
        assert_eq!(
            tokens.check_operator(&with("Basic ZWRpdG9yOnMzY3JldA==")),
            Ok("desk")
        );
        assert_eq!(
            tokens.check_operator(&with("Basic ZWRpdG9yOndyb25n")),
            Err(AuthError::Invalid)
        );
        assert_eq!(tokens.check_operator(&with("Bearer s3cret")), Ok("desk"));
        assert_eq!(
            tokens.check_operator(&HeaderMap::new()),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn no_tokens_means_the_api_is_off() {
        assert_eq!(
            Tokens::new(vec![]).check(&with("Bearer x")),
            Err(AuthError::Disabled)
        );
    }
}
