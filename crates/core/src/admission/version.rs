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

/// Where a version may be written, most specific first: (pattern whose group 1 is the version, what it is).
const VERSION_PATTERNS: [(&str, &str); 9] = [
    (r"kube-apiserver(?:-amd64|-arm64)?:(v\d+\.\d+\.\d+[^\s\x22',]*)", "kube-apiserver image tag"),
    (r"\bkubernetesVersion:\s*[\x22']?((?:stable-|latest-)?v?\d+\.\d+(?:\.\d+)?)", "kubernetesVersion"),
    (r"\bkube_version:\s*[\x22']?(v?\d+\.\d+(?:\.\d+)?)", "kubespray kube_version"),
    (r"kindest/node:(v\d+\.\d+\.\d+)", "kind node image tag"),
    (r"\b(v?\d+\.\d+\.\d+\+(?:k3s|rke2r)\d+)", "k3s/RKE2 version string"),
    (r"\b(v?\d+\.\d+\.\d+\+k0s\.\d+)", "k0s version string"),
    (
        r"(?:kubelet|kube-controller-manager|kube-scheduler|kube-proxy|hyperkube)(?:-amd64|-arm64)?:(v\d+\.\d+\.\d+)",
        "Kubernetes component image tag",
    ),
    (r"(?:--channel[= ]|channel:\s*|microk8s\s+\()[\x22']?(\d+\.\d+)(?:/|[\x22'\s)]|$)", "MicroK8s channel"),
    (r"#\s*(v1\.\d+(?:\.\d+)?)\b", "version comment"),
];

/// Finds version strings in free text: image tags (`kube-apiserver:v1.29.3`, `kindest/node:v1.30.0`),
/// `kubernetesVersion:`, kubespray `kube_version:`, k3s/RKE2/k0s versions (`v1.28.5+k3s1`), a
/// MicroK8s channel (`--channel=1.28/stable`) or a `# v1.27` comment (as written beside `ps` output).
/// The most specific kind found wins; within a kind, the first match.
pub fn find_in_text(text: &str) -> Option<StatedVersion> {
    use std::sync::OnceLock;
    static COMPILED: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        VERSION_PATTERNS.iter().filter_map(|(p, from)| regex::Regex::new(p).ok().map(|r| (r, *from))).collect()
    });
    compiled.iter().find_map(|(re, from)| {
        re.captures_iter(text).find_map(|c| {
            let raw = c.get(1)?.as_str().to_string();
            let bare = raw.trim_start_matches("stable-").trim_start_matches("latest-");
            let version = KubeVersion::parse(bare)?;
            let from = match *from {
                "k3s/RKE2 version string" if raw.contains("rke2") => "RKE2 version string",
                "k3s/RKE2 version string" => "k3s version string",
                other => other,
            };
            Some(StatedVersion { version, raw, from: from.to_string() })
        })
    })
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
        for (text, minor, from) in [
            ("kube_version: v1.28.6\n", 28, "kubespray kube_version"),
            ("  image: kindest/node:v1.30.0@sha256:abc\n", 30, "kind node image tag"),
            ("sudo snap install microk8s --classic --channel=1.27/stable\n", 27, "MicroK8s channel"),
            ("$ ps -ef | grep kube-apiserver   # v1.26.3\n", 26, "version comment"),
            ("k0s version v1.30.1+k0s.0\n", 30, "k0s version string"),
            ("    image: ghcr.io/siderolabs/kubelet:v1.31.2\n", 31, "Kubernetes component image tag"),
            ("kubernetesVersion: stable-1.29\n", 29, "kubernetesVersion"),
        ] {
            let v = find_in_text(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!((v.version, v.from.as_str()), (KubeVersion::new(1, minor), from), "{text}");
        }
        // CIS item numbers are no versions
        assert!(find_in_text("--enable-admission-plugins=NodeRestriction # 1.2.14\n").is_none());
    }
}
