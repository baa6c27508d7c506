//! `ScrapeFailed`: a target whose pprof endpoint could not be read, with the collector's typed reason.

use crate::finding::{CheckId, Finding, Severity, TargetRef};
use crate::scrape_error::ScrapeError;

pub fn scrape_failed(target: &TargetRef, err: &ScrapeError) -> Finding {
    let todo = match err {
        ScrapeError::NoEndpoint(_) => {
            "Name a container port `pprof`, set spec.pprof.port, or add profiles.grafana.com/goroutine.port annotations."
        }
        ScrapeError::Timeout(_) => {
            "The target did not answer in time: check it is not overloaded, or raise spec.pprof.timeout."
        }
        ScrapeError::ConnectionRefused | ScrapeError::Connect(_) => {
            "Nothing accepts connections on the pprof port: check the port and that the program imports net/http/pprof and serves it."
        }
        ScrapeError::HttpStatus(401 | 403) | ScrapeError::Auth(_) => {
            "The endpoint needs credentials: set spec.pprof.auth (bearer token Secret or the ServiceAccount token)."
        }
        ScrapeError::HttpStatus(404) => {
            "The path does not serve pprof: check spec.pprof.path or the profiles.grafana.com/*.path annotation."
        }
        ScrapeError::HttpStatus(_) | ScrapeError::Transfer(_) => {
            "The endpoint answered with an error: check the target's logs."
        }
        ScrapeError::BodyTooLarge(_) | ScrapeError::DecompressedTooLarge(_) => {
            "The response exceeded the size cap (spec.pprof.maxBodyBytes); raise it only if the target is trusted."
        }
        ScrapeError::NotAProfile(_) => {
            "The port answered, but not with a Go profile (a login page or another service?): check the port and path."
        }
        ScrapeError::ProfileTooComplex(_) => {
            "The profile is over the parser's bounds (samples, stack frames, strings or label sets): a broken or hostile target; compare with `go tool pprof` on the same endpoint."
        }
        ScrapeError::TlsError(_) => {
            "TLS failed: set spec.pprof.tls.caSecret, or the scheme to http if the endpoint is plain."
        }
        ScrapeError::TargetRefused(_) => {
            "This audit may not reach that address (docs/security.md): a namespaced audit scrapes only its own pods' IPs on declared container ports, never host-network pods, node or apiserver addresses."
        }
        ScrapeError::CredentialsOverPlainHttp(_) => {
            "A bearer token is only sent over https: set spec.pprof.scheme (or the pod's scheme annotation) to https."
        }
    };
    let severity = match err {
        ScrapeError::NoEndpoint(_) => Severity::Info,
        _ => Severity::Warning,
    };
    let mut f =
        Finding::new(CheckId::ScrapeFailed, severity, format!("Could not read the pprof endpoint: {err}. {todo}"))
            .with_target(target.clone())
            .with_evidence("reason", err.reason())
            .with_evidence("error", err.to_string());
    if let ScrapeError::HttpStatus(code) = err {
        f.evidence.insert("httpStatus".into(), code.to_string());
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_in_evidence_and_key() {
        let t = TargetRef { namespace: "n".into(), pod: "p".into(), container: None };
        let f = scrape_failed(&t, &ScrapeError::Timeout(10_000));
        assert_eq!(f.check, CheckId::ScrapeFailed);
        assert_eq!(f.evidence["reason"], "Timeout");
        assert!(f.message.contains("timed out after 10000 ms"));
        assert_eq!(f.key(), "ScrapeFailed|n/p|Timeout");
        let g = scrape_failed(&t, &ScrapeError::HttpStatus(403));
        assert_eq!(g.evidence["httpStatus"], "403");
        assert!(g.message.contains("spec.pprof.auth"));
        assert_eq!(scrape_failed(&t, &ScrapeError::NoEndpoint("x".into())).severity, Severity::Info);
    }
}
