//! Placement: where an account of a provider lives, when its provider's accounts each
//! live somewhere of their own (an Azure resource, an AWS region, a Cloudflare account and
//! gateway, a GCP project and location). A request sent on such an account goes to the
//! account's place: the host and/or the path are rewritten from the account's place keys,
//! so two accounts in two places pool like two keys on one host.
//!
//! The host side is a family of hosts the provider owns: by suffix (`*.openai.azure.com`)
//! or by template (`bedrock-runtime.{region}.amazonaws.com`). The path side is a
//! template of literal segments and place keys (`/v1/{account_id}/{gateway_id}/`).

use std::collections::BTreeMap;

/// A key of an account's place, as `[[accounts]]` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlaceKey {
    /// An Azure resource name: `NAME` in `https://NAME.openai.azure.com`.
    Resource,
    /// An AWS region (`us-east-1`).
    Region,
    /// A Cloudflare account id.
    AccountId,
    /// A Cloudflare AI Gateway id.
    GatewayId,
    /// A GCP project id (Vertex AI).
    Project,
    /// A GCP location: a region (`us-east5`) or `global` (Vertex AI).
    Location,
}

impl PlaceKey {
    pub const ALL: [PlaceKey; 6] = [
        PlaceKey::Resource,
        PlaceKey::Region,
        PlaceKey::AccountId,
        PlaceKey::GatewayId,
        PlaceKey::Project,
        PlaceKey::Location,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PlaceKey::Resource => "resource",
            PlaceKey::Region => "region",
            PlaceKey::AccountId => "account_id",
            PlaceKey::GatewayId => "gateway_id",
            PlaceKey::Project => "project",
            PlaceKey::Location => "location",
        }
    }

    /// What to write, for an error's fix.
    pub fn example(self) -> &'static str {
        match self {
            PlaceKey::Resource => "resource = \"<NAME in https://NAME.openai.azure.com>\"",
            PlaceKey::Region => "region = \"us-east-1\"",
            PlaceKey::AccountId => "account_id = \"<your Cloudflare account id>\"",
            PlaceKey::GatewayId => "gateway_id = \"<your AI Gateway's id>\"",
            PlaceKey::Project => "project = \"my-project-123\" (the project ID, not its name)",
            PlaceKey::Location => "location = \"us-east5\" (or \"global\")",
        }
    }

    /// Whether `v` can be this key's value. Every value ends up in a host name or a path
    /// segment, so only the characters those take are allowed, and never a dot or slash
    /// that would move the request somewhere else.
    pub fn check(self, v: &str) -> Result<(), String> {
        let ok = match self {
            // Azure: 2–64 letters, digits and hyphens, not starting or ending with one.
            PlaceKey::Resource => {
                (2..=64).contains(&v.len())
                    && dns_label_chars(v)
                    && !v.starts_with('-')
                    && !v.ends_with('-')
            }
            PlaceKey::Region => is_region(v),
            PlaceKey::AccountId => {
                (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric())
            }
            PlaceKey::GatewayId => {
                (1..=64).contains(&v.len())
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }
            PlaceKey::Project => is_gcp_project(v),
            PlaceKey::Location => v == "global" || is_region(v),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            PlaceKey::Resource => "a resource name is 2 to 64 lower-case letters, digits and \
                hyphens (the NAME in https://NAME.openai.azure.com)"
                .into(),
            PlaceKey::Region => {
                "a region is written like us-east-1 or eu-central-2 (lower case)".into()
            }
            PlaceKey::AccountId => {
                "a Cloudflare account id is letters and digits (32 hex digits)".into()
            }
            PlaceKey::GatewayId => format!(
                "{} is letters, digits, '-' and '_', at most 64",
                self.name()
            ),
            PlaceKey::Project => "a GCP project id is 6 to 30 lower-case letters, digits and \
                hyphens, starting with a letter and not ending with a hyphen"
                .into(),
            PlaceKey::Location => {
                "a location is a GCP region written like us-east5 or europe-west4 (lower \
                 case), or global"
                    .into()
            }
        })
    }
}

/// `us-east-1`, `ap-southeast-7`, `us-gov-west-1`, `europe-west4` (GCP): lower-case words
/// joined by hyphens, the last one ending in a number.
fn is_region(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    v.len() <= 32
        && parts.len() >= 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts
            .last()
            .is_some_and(|p| p.ends_with(|c: char| c.is_ascii_digit()))
}

/// Google's rule for project ids (the ID, not the display name): 6–30 lower-case letters,
/// digits and hyphens, a letter first, no hyphen last. Old domain-scoped ids
/// (`example.com:proj`) hold a dot and a colon, which no path segment may carry.
fn is_gcp_project(v: &str) -> bool {
    (6..=30).contains(&v.len())
        && dns_label_chars(v)
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && !v.ends_with('-')
}

/// Lower-case letters, digits and hyphens: what a DNS label of an API host holds.
fn dns_label_chars(v: &str) -> bool {
    v.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A DNS label: 1–63 letters, digits and hyphens, neither first nor last a hyphen.
fn is_label(l: &str) -> bool {
    (1..=63).contains(&l.len()) && dns_label_chars(l) && !l.starts_with('-') && !l.ends_with('-')
}

/// One pattern of a host family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPattern {
    /// Any name below this domain: `openai.azure.com` owns `x.openai.azure.com` and
    /// `a.b.openai.azure.com` (still Microsoft's), never `openai.azure.com.evil.com`.
    /// The account's value replaces everything before it.
    Suffix(&'static str),
    /// `{before}{value}{after}` where the value is one label or part of one:
    /// `bedrock-runtime.` + `us-east-1` + `.amazonaws.com`.
    Template {
        before: &'static str,
        after: &'static str,
    },
}

impl HostPattern {
    /// Whether `host` (lower case, no trailing dot) is in this pattern, its labels checked.
    pub fn matches(&self, host: &str) -> bool {
        if host.len() > 253 {
            return false;
        }
        match self {
            HostPattern::Suffix(domain) => host
                .strip_suffix(domain)
                .and_then(|rest| rest.strip_suffix('.'))
                .is_some_and(|rest| rest.split('.').all(is_label)),
            HostPattern::Template { before, after } => host
                .strip_prefix(before)
                .and_then(|rest| rest.strip_suffix(after))
                .is_some_and(|value| {
                    !value.contains('.') && !value.is_empty() && dns_label_chars(value)
                }),
        }
    }

    /// The host for an account whose place key is `value`.
    pub fn fill(&self, value: &str) -> String {
        match self {
            HostPattern::Suffix(domain) => format!("{value}.{domain}"),
            HostPattern::Template { before, after } => format!("{before}{value}{after}"),
        }
    }

    /// The DNS names a CA's name constraints need for this pattern: a suffix is one
    /// subtree (a `dNSName` constraint admits every name below it); a template cannot
    /// be a subtree without taking in its whole parent domain (`amazonaws.com` is all of
    /// AWS), so each known value is listed instead.
    pub fn constraint_names(&self, known: &[&str]) -> Vec<String> {
        match self {
            HostPattern::Suffix(domain) => vec![domain.to_string()],
            HostPattern::Template { .. } => known.iter().map(|v| self.fill(v)).collect(),
        }
    }
}

/// The hosts a provider owns by family, and the place key that picks one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFamily {
    pub key: PlaceKey,
    pub patterns: &'static [HostPattern],
    /// The values the CA is made for (the regions where the service exists); an
    /// account's own value is added to them (see `Registry::note_place_hosts`).
    pub known: &'static [&'static str],
    /// Values whose host is a name of its own rather than a pattern's: Vertex's `global`
    /// lives on `aiplatform.googleapis.com`, not `global-aiplatform.googleapis.com`.
    pub named: &'static [(&'static str, &'static str)],
}

/// Which member of a family a host is.
#[derive(Debug, Clone, Copy)]
enum Member<'a> {
    Pattern(&'a HostPattern),
    Named,
}

impl HostFamily {
    /// The member `host` (lower case) is. A template's value must also be a value of the
    /// family's key (`us-east5`, not `x-y`), and never one of the named values, whose
    /// pattern form is no host of the provider's.
    fn member_of(&self, host: &str) -> Option<Member<'_>> {
        if self.named.iter().any(|(_, h)| *h == host) {
            return Some(Member::Named);
        }
        self.patterns
            .iter()
            .find(|p| {
                p.matches(host)
                    && match p {
                        HostPattern::Suffix(_) => true,
                        HostPattern::Template { before, after } => {
                            let value = &host[before.len()..host.len() - after.len()];
                            self.key.check(value).is_ok()
                                && !self.named.iter().any(|(v, _)| *v == value)
                        }
                    }
            })
            .map(Member::Pattern)
    }

    /// The host of `value` in the client's member's pattern (the client's
    /// `cognitiveservices` stays `cognitiveservices`); from a named host, the first
    /// pattern.
    fn host_for(&self, member: Option<Member<'_>>, value: &str) -> Option<String> {
        if let Some((_, h)) = self.named.iter().find(|(v, _)| *v == value) {
            return Some(h.to_string());
        }
        let pattern = match member {
            Some(Member::Pattern(p)) => p,
            _ => self.patterns.first()?,
        };
        Some(pattern.fill(value))
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    Lit(&'static str),
    /// The account's own value for this key.
    Key(PlaceKey),
    /// The client's value, mapped through the account's `deployments` table; a value the
    /// table lacks means the account cannot serve the request.
    Deployment,
    /// One of these literals, kept as the client sent it (`v1` or `v1beta1`).
    OneOf(&'static [&'static str]),
}

/// `/seg/seg/…/`: a prefix of the paths it matches, each segment literal or the
/// account's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathTemplate(pub &'static [Seg]);

impl PathTemplate {
    /// The segments of `path` the template covers, and the rest after them; `None` when
    /// `path` is not below the template.
    fn split<'a>(&self, path: &'a str) -> Option<(Vec<&'a str>, &'a str)> {
        let mut rest = path.strip_prefix('/')?;
        let mut got = Vec::with_capacity(self.0.len());
        for seg in self.0 {
            let (s, r) = rest.split_once('/')?;
            let fits = match seg {
                Seg::Lit(l) => s == *l,
                Seg::OneOf(ls) => ls.contains(&s),
                Seg::Key(_) | Seg::Deployment => !s.is_empty(),
            };
            if !fits {
                return None;
            }
            got.push(s);
            rest = r;
        }
        Some((got, rest))
    }

    pub fn matches(&self, path: &str) -> bool {
        self.split(path).is_some()
    }

    /// What follows the template in `path`.
    pub fn rest<'a>(&self, path: &'a str) -> Option<&'a str> {
        self.split(path).map(|(_, rest)| rest)
    }

    fn keys(&self) -> impl Iterator<Item = PlaceKey> + '_ {
        self.0.iter().filter_map(|s| match s {
            Seg::Key(k) => Some(*k),
            _ => None,
        })
    }
}

/// Where a provider's accounts each live: a named capability of the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub host: Option<HostFamily>,
    /// Segments of the paths keys travel to that are the account's; the provider's
    /// `Scope::Placed` sends keys only below it, and its logins' tokens go only below it.
    pub path: Option<PathTemplate>,
    /// Keys an account may leave out: its requests then keep the client's value there
    /// (and, for the host family's key, the client's host).
    pub optional: &'static [PlaceKey],
}

/// An account's place: the values of its place keys, checked at load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub values: BTreeMap<PlaceKey, String>,
    /// The client's deployment name → this account's (Azure's legacy
    /// `/openai/deployments/{dep}/…`). `None`: the account's deployments carry the
    /// client's names.
    pub deployments: Option<BTreeMap<String, String>>,
}

impl Place {
    pub fn get(&self, k: PlaceKey) -> Option<&str> {
        self.values.get(&k).map(String::as_str)
    }
}

/// Why an account cannot take a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unplaced;

impl Placement {
    pub const NONE: Placement = Placement {
        host: None,
        path: None,
        optional: &[],
    };

    /// The keys an account of this provider may have.
    pub fn keys(&self) -> Vec<PlaceKey> {
        let mut keys: Vec<PlaceKey> = self.host.iter().map(|h| h.key).collect();
        keys.extend(self.path.iter().flat_map(|p| p.keys()));
        keys.sort();
        keys.dedup();
        keys
    }

    /// The keys an account of this provider must have.
    pub fn required(&self) -> Vec<PlaceKey> {
        let mut keys = self.keys();
        keys.retain(|k| !self.optional.contains(k));
        keys
    }

    /// `place` with `key` filled from what the account's login names (a Vertex key
    /// file's `project_id`) where the config is silent; a value the key could not take
    /// is left out, so the client's stays.
    pub fn fill_from_login<'a>(
        &self,
        place: &'a Place,
        key: PlaceKey,
        value: Option<&str>,
    ) -> std::borrow::Cow<'a, Place> {
        match value {
            Some(v)
                if place.get(key).is_none()
                    && self.keys().contains(&key)
                    && key.check(v).is_ok() =>
            {
                let mut filled = place.clone();
                filled.values.insert(key, v.to_string());
                std::borrow::Cow::Owned(filled)
            }
            _ => std::borrow::Cow::Borrowed(place),
        }
    }

    /// Whether accounts may map deployment names.
    pub fn takes_deployments(&self) -> bool {
        self.path.is_some_and(|p| p.0.contains(&Seg::Deployment))
    }

    /// Whether the provider owns `host` by family.
    pub fn owns_host(&self, host: &str) -> bool {
        self.host
            .as_ref()
            .is_some_and(|f| f.member_of(host).is_some())
    }

    /// The account's host for a request the client sent to `host`: the same pattern
    /// (the client's `cognitiveservices` stays `cognitiveservices`), the account's value.
    /// `None` keeps the client's host (a provider without a host family, a host of its
    /// plain list, or an account without the family's key).
    pub fn rehost(&self, host: &str, place: &Place) -> Option<String> {
        let family = self.host.as_ref()?;
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let member = family.member_of(&host)?;
        family.host_for(Some(member), place.get(family.key)?)
    }

    /// `path` with the template's segments made the account's; `Ok(None)` when the path
    /// is not below the template (it goes as sent), `Err` when the account cannot serve
    /// it (no deployment of that name).
    pub fn repath(&self, path: &str, place: &Place) -> Result<Option<String>, Unplaced> {
        let Some(template) = &self.path else {
            return Ok(None);
        };
        let Some((got, rest)) = template.split(path) else {
            return Ok(None);
        };
        let mut out = String::with_capacity(path.len() + 32);
        for (seg, sent) in template.0.iter().zip(got) {
            out.push('/');
            match seg {
                Seg::Lit(l) => out.push_str(l),
                Seg::OneOf(_) => out.push_str(sent),
                Seg::Key(k) => match place.get(*k) {
                    Some(v) => out.push_str(v),
                    None if self.optional.contains(k) => out.push_str(sent),
                    None => return Err(Unplaced),
                },
                Seg::Deployment => match &place.deployments {
                    None => out.push_str(sent),
                    Some(map) => out.push_str(map.get(sent).ok_or(Unplaced)?),
                },
            }
        }
        out.push('/');
        out.push_str(rest);
        Ok(Some(out))
    }

    /// Whether an account at `place` can take a request to `path`.
    pub fn serves(&self, path: &str, place: &Place) -> bool {
        self.repath(path, place).is_ok()
    }

    /// The names a CA needs to sign for every host of the family.
    pub fn constraint_names(&self) -> Vec<String> {
        self.host
            .iter()
            .flat_map(|f| {
                let named = f.named.iter().map(|(_, h)| h.to_string());
                let known = f
                    .known
                    .iter()
                    .filter(|v| !f.named.iter().any(|(n, _)| n == *v));
                let known: Vec<&str> = known.copied().collect();
                (f.patterns.iter())
                    .flat_map(move |p| p.constraint_names(&known))
                    .chain(named)
            })
            .collect()
    }

    /// The hosts of the family for one account's value (for the CA).
    pub fn hosts_for(&self, place: &Place) -> Vec<String> {
        let Some(f) = &self.host else {
            return Vec::new();
        };
        let Some(v) = place.get(f.key) else {
            return Vec::new();
        };
        if let Some((_, h)) = f.named.iter().find(|(n, _)| *n == v) {
            return vec![h.to_string()];
        }
        f.patterns.iter().map(|p| p.fill(v)).collect()
    }
}

#[cfg(test)]
mod tests;
