//! Which names Steward accepts. Checked at the store boundary so every front end (CLI, HTTP) gets the same rule.
//!
//! - Entity names (experiments, models, datasets): 1–128 characters of `A-Z a-z 0-9 _ . -`, starting with a letter
//!   or digit. They appear in URLs and file names, so nothing that needs escaping.
//! - Aliases: 1–64 characters of `a-z 0-9 _ -`, starting with a letter. Never all digits, so `model@alias` and
//!   `model/3` cannot be confused.
//! - Keys of params, metrics and tags: 1–250 characters of `A-Z a-z 0-9 _ . - /` (MLflow's set without spaces).

use crate::error::{StoreError, StoreResult};

pub const MAX_NAME_LEN: usize = 128;
pub const MAX_ALIAS_LEN: usize = 64;
pub const MAX_KEY_LEN: usize = 250;
pub const MAX_VALUE_LEN: usize = 8000;

fn invalid(kind: &'static str, name: &str, reason: impl Into<String>) -> StoreError {
    StoreError::InvalidName {
        kind,
        name: name.to_string(),
        reason: reason.into(),
    }
}

pub fn validate_name(kind: &'static str, name: &str) -> StoreResult<()> {
    if name.is_empty() {
        return Err(invalid(kind, name, "a name cannot be empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid(
            kind,
            name,
            format!("at most {MAX_NAME_LEN} characters"),
        ));
    }
    let first = name.as_bytes()[0];
    if !first.is_ascii_alphanumeric() {
        return Err(invalid(kind, name, "must start with a letter or a digit"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(invalid(
            kind,
            name,
            format!("character {bad:?} is not allowed; use letters, digits, '_', '.' and '-'"),
        ));
    }
    Ok(())
}

pub fn validate_alias(alias: &str) -> StoreResult<()> {
    const KIND: &str = "alias";
    if alias.is_empty() {
        return Err(invalid(KIND, alias, "an alias cannot be empty"));
    }
    if alias.len() > MAX_ALIAS_LEN {
        return Err(invalid(
            KIND,
            alias,
            format!("at most {MAX_ALIAS_LEN} characters"),
        ));
    }
    if !alias.as_bytes()[0].is_ascii_lowercase() {
        return Err(invalid(KIND, alias, "must start with a lowercase letter"));
    }
    if let Some(bad) = alias
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
    {
        return Err(invalid(
            KIND,
            alias,
            format!("character {bad:?} is not allowed; use a-z, 0-9, '_' and '-'"),
        ));
    }
    Ok(())
}

pub fn validate_key(kind: &'static str, key: &str) -> StoreResult<()> {
    if key.is_empty() {
        return Err(invalid(kind, key, "a key cannot be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid(
            kind,
            key,
            format!("at most {MAX_KEY_LEN} characters"),
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/')))
    {
        return Err(invalid(
            kind,
            key,
            format!("character {bad:?} is not allowed; use letters, digits, '_', '.', '-' and '/'"),
        ));
    }
    Ok(())
}

pub fn validate_value(kind: &'static str, key: &str, value: &str) -> StoreResult<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(StoreError::InvalidArgument(format!(
            "{kind} '{key}' is {} bytes long; the limit is {MAX_VALUE_LEN}",
            value.len()
        )));
    }
    Ok(())
}

pub fn validate_tags<'a>(
    kind: &'static str,
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> StoreResult<()> {
    for (key, value) in tags {
        validate_key(kind, key)?;
        validate_value(kind, key, value)?;
    }
    Ok(())
}

pub fn validate_metric_value(key: &str, value: f64) -> StoreResult<()> {
    validate_key("metric", key)?;
    if !value.is_finite() {
        return Err(StoreError::InvalidArgument(format!(
            "metric '{key}' is {value}; metrics must be finite numbers"
        )));
    }
    Ok(())
}

/// The checks on a deployment that need no database: names, the percent range, versions that exist at all.
/// Whether the model, versions and alias exist is checked by the store in the writing transaction.
pub fn validate_deployment(deployment: &crate::NewDeployment) -> StoreResult<()> {
    validate_name("deployment", &deployment.name)?;
    validate_name("model", &deployment.model)?;
    match &deployment.primary {
        crate::DeploymentTarget::Alias(alias) => validate_alias(alias)?,
        crate::DeploymentTarget::Version(v) if *v < 1 => {
            return Err(StoreError::InvalidArgument(format!(
                "version {v} does not exist: versions are numbered from 1"
            )));
        }
        crate::DeploymentTarget::Version(_) => {}
    }
    if let Some(canary) = &deployment.canary
        && !(canary.percent.is_finite() && (0.0..=100.0).contains(&canary.percent))
    {
        return Err(StoreError::InvalidArgument(format!(
            "canary percent {} is outside 0-100",
            canary.percent
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_charset() {
        for ok in ["iris", "Iris-2.v1", "0model", "a_b"] {
            assert!(validate_name("model", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            ".hidden",
            "a/b",
            "a b",
            "../etc",
            "é",
            &"x".repeat(129),
        ] {
            assert!(validate_name("model", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_cannot_look_like_versions() {
        assert!(validate_alias("production").is_ok());
        assert!(validate_alias("canary-2").is_ok());
        for bad in ["", "3", "Prod", "prod uction", "_x"] {
            assert!(validate_alias(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metric_values_must_be_finite() {
        assert!(validate_metric_value("loss", f64::NAN).is_err());
        assert!(validate_metric_value("loss", f64::INFINITY).is_err());
        assert!(validate_metric_value("loss", -0.5).is_ok());
        assert!(validate_metric_value("bad key", 1.0).is_err());
    }
}
