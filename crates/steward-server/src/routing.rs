//! What a route name resolves to, and which arm of a deployment answers a request.
//!
//! A canary's share is decided per request from a bucket in 0..10,000: the hash of the client's routing key
//! (header `x-steward-routing-key`) when it sends one, so the same key always reaches the same arm on every
//! replica, else a mix of the request counter, which spreads requests evenly without a random-number call.

use std::sync::Arc;

use steward_store::{ModelVersion, PredictionRole};

/// Header a client sets to stay on one arm of a canary deployment.
pub const ROUTING_KEY_HEADER: &str = "x-steward-routing-key";
const BUCKETS: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct Route {
    /// Set when the route is a deployment (then its name), so captured predictions name it.
    pub deployment: Option<String>,
    pub primary: Arc<ModelVersion>,
    pub canary: Option<(Arc<ModelVersion>, f64)>,
    pub shadow: Option<Arc<ModelVersion>>,
}

impl Route {
    pub fn direct(version: ModelVersion) -> Route {
        Route {
            deployment: None,
            primary: Arc::new(version),
            canary: None,
            shadow: None,
        }
    }

    /// The versions this route may load, for keeping their predictors cached.
    pub fn versions(&self) -> impl Iterator<Item = &Arc<ModelVersion>> {
        std::iter::once(&self.primary)
            .chain(self.canary.as_ref().map(|(v, _)| v))
            .chain(self.shadow.as_ref())
    }

    /// The arm that answers: the canary for its share of the buckets, else the primary.
    pub fn pick(
        &self,
        routing_key: Option<&[u8]>,
        request_number: u64,
    ) -> (&Arc<ModelVersion>, PredictionRole) {
        if let Some((canary, percent)) = &self.canary {
            let bucket = match routing_key {
                Some(key) => fnv1a(key),
                None => splitmix(request_number),
            } % BUCKETS;
            let threshold = (percent * (BUCKETS as f64 / 100.0)).round() as u64;
            if bucket < threshold {
                return (canary, PredictionRole::Canary);
            }
        }
        (&self.primary, PredictionRole::Primary)
    }
}

/// FNV-1a: stable across processes and releases (unlike std's hasher), so replicas agree on a key's arm.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// SplitMix64's finaliser: consecutive counters land in unrelated buckets.
fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(v: i64) -> Arc<ModelVersion> {
        Arc::new(ModelVersion {
            model: "iris".into(),
            version: v,
            artifact_uri: String::new(),
            artifact_hash: String::new(),
            signature: None,
            metrics: Default::default(),
            source_run: None,
            dataset: None,
            parent_version: None,
            description: None,
            tags: Default::default(),
            created_at: 0,
        })
    }

    fn canary_route(percent: f64) -> Route {
        Route {
            deployment: Some("iris".into()),
            primary: version(1),
            canary: Some((version(2), percent)),
            shadow: None,
        }
    }

    #[test]
    fn the_canary_gets_its_share_of_unkeyed_requests() {
        for percent in [0.0, 1.0, 10.0, 33.3, 50.0, 100.0] {
            let route = canary_route(percent);
            let n = 100_000;
            let canary = (0..n)
                .filter(|&i| route.pick(None, i).1 == PredictionRole::Canary)
                .count();
            let share = canary as f64 / n as f64 * 100.0;
            assert!(
                (share - percent).abs() < 0.5,
                "{percent}% canary got {share}%"
            );
        }
    }

    #[test]
    fn a_routing_key_always_reaches_the_same_arm() {
        let route = canary_route(30.0);
        let mut canary_keys = 0;
        for user in 0..2_000 {
            let key = format!("user-{user}");
            let first = route.pick(Some(key.as_bytes()), 0).1;
            for request in 1..20 {
                assert_eq!(route.pick(Some(key.as_bytes()), request).1, first);
            }
            canary_keys += usize::from(first == PredictionRole::Canary);
        }
        // Keys spread like requests do.
        assert!(
            (500..700).contains(&canary_keys),
            "{canary_keys} of 2000 keys"
        );
        // The hash is fixed, so other replicas (and releases) agree: FNV-1a 64 of "user-1", computed in Python.
        assert_eq!(fnv1a(b"user-1"), 0xf84b_a2aa_754a_4bd4);
    }

    #[test]
    fn without_a_canary_the_primary_answers() {
        let route = Route::direct((*version(4)).clone());
        assert_eq!(route.pick(Some(b"x"), 7).0.version, 4);
        assert_eq!(route.versions().count(), 1);
    }
}
