//! Salesforce OAuth 2.0: the token requests of the JWT bearer and refresh
//! token flows, and the answer's access token and instance URL.
//!
//! JWT bearer: a form POST of
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` and
//! `assertion={header}.{claims}.{signature}`, base64url without padding,
//! where the header is `{"alg":"RS256"}` and the claims are `iss` (the
//! consumer key), `sub` (the user name), `aud` (the login host) and `exp`
//! (three minutes from now, the longest Salesforce accepts), signed with
//! RSASSA-PKCS1-v1_5 SHA-256. Refresh token: `grant_type=refresh_token`,
//! `client_id`, `client_secret` when set, `refresh_token`.
//!
//! The answer holds `access_token` and `instance_url`, where every other
//! request goes. A refusal is `{"error": ..., "error_description": ...}`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use ring::rand::SystemRandom;
use ring::signature::RSA_PKCS1_SHA256;

use super::config::Grant;
use crate::connectors::secrets::SecretValue;

/// The grant type of the JWT bearer flow.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Seconds an assertion is valid.
pub const ASSERTION_LIFETIME: i64 = 180;

/// A signed JWT bearer assertion for `grant` at `now` (Unix seconds), or
/// why it cannot be signed.
pub fn assertion(grant: &Grant, now: i64) -> Result<SecretValue, String> {
    let Grant::JwtBearer {
        client_id,
        subject,
        audience,
        key,
        ..
    } = grant
    else {
        return Err("not a JWT bearer grant".to_owned());
    };
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
    let claims = serde_json::json!({
        "iss": client_id.expose(),
        "sub": subject,
        "aud": audience,
        "exp": now + ASSERTION_LIFETIME,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "the private key could not sign the assertion".to_owned())?;
    Ok(SecretValue::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    )))
}

/// The form body of a token request for `grant`.
pub fn token_form(grant: &Grant, now: i64) -> Result<SecretValue, String> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    match grant {
        Grant::JwtBearer { .. } => {
            let assertion = assertion(grant, now)?;
            form.append_pair("grant_type", JWT_BEARER);
            form.append_pair("assertion", assertion.expose());
        }
        Grant::RefreshToken {
            client_id,
            client_secret,
            refresh_token,
        } => {
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("client_id", client_id.expose());
            if let Some(secret) = client_secret {
                form.append_pair("client_secret", secret.expose());
            }
            form.append_pair("refresh_token", refresh_token.expose());
        }
    }
    Ok(SecretValue::new(form.finish()))
}

/// An issued session.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The access token.
    pub access_token: SecretValue,
    /// Where the org's API is.
    pub instance_url: Url,
}

/// Reads a token response: the access token and instance URL, or what the
/// token endpoint said.
pub fn parse_token_response(body: &[u8]) -> Result<Issued, String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        access_token: Option<String>,
        instance_url: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let answer: Answer = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not a JSON token response ({e})"))?;
    if let Some(error) = answer.error {
        return Err(format!(
            "{error}: {}",
            answer.error_description.unwrap_or_default()
        ));
    }
    let access_token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    let instance = answer
        .instance_url
        .ok_or("the answer has no instance_url")?;
    let instance_url = Url::parse(&instance)
        .map_err(|e| format!("the answer's instance_url {instance:?} is not a URL ({e})"))?;
    Ok(Issued {
        access_token: SecretValue::new(access_token),
        instance_url,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn token_errors_carry_salesforce_words() {
        let e = parse_token_response(
            br#"{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}"#,
        )
        .unwrap_err();
        assert_eq!(e, "invalid_grant: user hasn't approved this consumer");
        let ok = parse_token_response(
            br#"{"access_token":"00D!x","instance_url":"https://acme.my.salesforce.com","token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(ok.instance_url.as_str(), "https://acme.my.salesforce.com/");
        assert!(parse_token_response(br#"{"access_token":"x"}"#).is_err());
    }
}
