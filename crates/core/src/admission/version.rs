//! Kubernetes minor versions as the knowledge base uses them ("1.25"), parsed from whatever a
//! user or a cluster states ("v1.29.3", "1.28", "v1.28.5+k3s1", "v1.30.2-eks-1a2b3c").

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Kubernetes release line. Patch levels are kept for display only: admission-plugin
/// registration changes between minors, never within one (as far as the KB records).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl KubeVersion {
    pub const fn new(major: u32, minor: u32) -> Self {
        KubeVersion { major, minor }
    }

    /// Parses "1.25", "v1.25.3", "v1.28.5+k3s1", "1.30.2-eks-abc", "v1.27.3+rke2r1".
    pub fn parse(s: &str) -> Option<KubeVersion> {
        let s = s.trim();
        let s = s.strip_prefix('v').or_else(|| s.strip_prefix('V')).unwrap_or(s);
        let mut parts = s.splitn(3, '.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor_part = parts.next()?;
        // minor may carry a suffix when there is no patch ("1.28+", "1.28-eks")
        let digits: String = minor_part.chars().take_while(|c| c.is_ascii_digit()).collect();
        let minor: u32 = digits.parse().ok()?;
        if major != 1 {
            return None;
        }
        Some(KubeVersion { major, minor })
    }

    /// The next minor release.
    pub fn next(self) -> KubeVersion {
        KubeVersion::new(self.major, self.minor + 1)
    }
}

impl PartialOrd for KubeVersion {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KubeVersion {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.major, self.minor).cmp(&(other.major, other.minor))
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for KubeVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        KubeVersion::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("not a Kubernetes version: {s:?}")))
    }
}

/// A version as stated by an input, with the text it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatedVersion {
    pub version: KubeVersion,
    /// The text as written ("v1.29.3", "v1.28.5+k3s1").
    pub raw: String,
    /// Where it was found ("image tag", "kubernetesVersion", ...).
    pub from: String,
}

/// Finds version strings such as image tags `kube-apiserver:v1.29.3` or k3s/RKE2 versions
/// `v1.28.5+k3s1` in free text. Image tags win over distribution version strings; the first match is used.
pub fn find_in_text(text: &str) -> Option<StatedVersion> {
    use std::sync::OnceLock;
    static IMAGE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    static DISTRO: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let image = IMAGE
        .get_or_init(|| regex::Regex::new(r"kube-apiserver(?:-amd64|-arm64)?:(v\d+\.\d+\.\d+[^\s\x22',]*)").ok())
        .as_ref()?;
    if let Some(c) = image.captures(text) {
        let raw = c.get(1)?.as_str().to_string();
        return KubeVersion::parse(&raw).map(|version| StatedVersion {
            version,
            raw,
            from: "kube-apiserver image tag".into(),
        });
    }
    let distro = DISTRO.get_or_init(|| regex::Regex::new(r"\b(v?\d+\.\d+\.\d+\+(?:k3s|rke2r)\d+)").ok()).as_ref()?;
    let c = distro.captures(text)?;
    let raw = c.get(1)?.as_str().to_string();
    let from = if raw.contains("rke2") { "RKE2 version string" } else { "k3s version string" };
    KubeVersion::parse(&raw).map(|version| StatedVersion { version, raw, from: from.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        for (s, minor) in [
            ("1.25", 25),
            ("v1.29.3", 29),
            ("v1.28.5+k3s1", 28),
            ("1.30.2-eks-1a2b3c", 30),
            ("v1.27.3+rke2r1", 27),
            ("1.31+", 31),
            (" v1.9.0 ", 9),
        ] {
            assert_eq!(KubeVersion::parse(s), Some(KubeVersion::new(1, minor)), "{s}");
        }
        for s in ["", "latest", "2.1", "v1", "1.x"] {
            assert_eq!(KubeVersion::parse(s), None, "{s}");
        }
    }

    #[test]
    fn orders_numerically() {
        assert!(KubeVersion::new(1, 9) < KubeVersion::new(1, 10));
        assert_eq!(KubeVersion::new(1, 24).next(), KubeVersion::new(1, 25));
    }

    #[test]
    fn finds_versions_in_text() {
        let v = find_in_text("image: registry.k8s.io/kube-apiserver:v1.29.3\n").unwrap();
        assert_eq!(v.version, KubeVersion::new(1, 29));
        assert_eq!(v.raw, "v1.29.3");
        let v = find_in_text("INSTALL_K3S_VERSION=v1.28.5+k3s1 sh -").unwrap();
        assert_eq!(v.version, KubeVersion::new(1, 28));
        assert_eq!(v.from, "k3s version string");
        let v = find_in_text("rke2 version v1.27.3+rke2r1").unwrap();
        assert_eq!(v.from, "RKE2 version string");
        assert!(find_in_text("kube-apiserver --enable-admission-plugins=NodeRestriction").is_none());
    }
}
